//! Argument conversions shared by the raw calls.

use std::ffi::CString;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A path argument as the raw calls take it: `bytes` (the Python layer applies
/// `os.fsencode`), without NUL bytes.
pub fn path(b: &Bound<'_, PyBytes>) -> PyResult<CString> {
    CString::new(b.as_bytes()).map_err(|_| PyValueError::new_err("embedded null byte"))
}
