//! Raw calls for `butter.seccomp`: seccomp filters built from system-call names by
//! `butter::seccomp` (on seccompiler), compiled into a [`SeccompProgram`] and installed
//! under no_new_privs with the C contract.
//!
//! Actions are the kernel's `SECCOMP_RET_*` values (`SECCOMP_RET_ERRNO | errno` for an
//! errno), so Python can hold them as plain integers.

use butter::seccomp::{Action, Cmp, Cond, Filter, Program};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errno;

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ACTION: u32 = 0xffff_0000;
const RET_DATA: u32 = 0x0000_ffff;

/// The comparisons of a condition, as `butter.seccomp`'s `CMP_*` numbers.
const CMP_EQ: u8 = 0;
const CMP_NE: u8 = 1;
const CMP_LT: u8 = 2;
const CMP_LE: u8 = 3;
const CMP_GT: u8 = 4;
const CMP_GE: u8 = 5;
const CMP_MASKED_EQ: u8 = 6;

fn value_error(e: butter::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn action(ret: u32) -> PyResult<Action> {
    Ok(match ret & RET_ACTION {
        RET_KILL_PROCESS => Action::KillProcess,
        RET_KILL_THREAD => Action::KillThread,
        RET_TRAP => Action::Trap,
        RET_ERRNO => Action::Errno((ret & RET_DATA) as i32),
        RET_LOG => Action::Log,
        RET_ALLOW => Action::Allow,
        _ => {
            return Err(PyValueError::new_err(format!(
                "unsupported seccomp action {ret:#x} (ALLOW, ERRNO(n), KILL_PROCESS, \
                 KILL_THREAD, TRAP or LOG)"
            )));
        }
    })
}

fn cond(arg: u8, cmp: u8, value: u64, mask: u64, bits: u8) -> PyResult<Cond> {
    let cmp = match cmp {
        CMP_EQ => Cmp::Eq,
        CMP_NE => Cmp::Ne,
        CMP_LT => Cmp::Lt,
        CMP_LE => Cmp::Le,
        CMP_GT => Cmp::Gt,
        CMP_GE => Cmp::Ge,
        CMP_MASKED_EQ => Cmp::MaskedEq(mask),
        _ => return Err(PyValueError::new_err(format!("unknown comparison {cmp}"))),
    };
    match bits {
        64 => Ok(Cond::new(arg, cmp, value)),
        32 => {
            let v = u32::try_from(value).map_err(|_| {
                PyValueError::new_err("a 32-bit condition's value must fit in 32 bits")
            })?;
            Ok(Cond::new32(arg, cmp, v))
        }
        _ => Err(PyValueError::new_err("a condition compares 32 or 64 bits")),
    }
}

/// A compiled seccomp filter: a BPF program (checking the architecture first), ready to
/// be installed.
#[pyclass(module = "butter._native", name = "SeccompProgram", frozen)]
pub struct SeccompProgram {
    program: Program,
}

#[pymethods]
impl SeccompProgram {
    /// The program as the kernel takes it: `struct sock_filter` records (8 bytes each).
    fn instructions<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let mut out = Vec::with_capacity(self.program.instructions().len() * 8);
        for i in self.program.instructions() {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        PyBytes::new(py, &out)
    }

    fn __len__(&self) -> usize {
        self.program.instructions().len()
    }

    fn __repr__(&self) -> String {
        format!(
            "<SeccompProgram {} instructions>",
            self.program.instructions().len()
        )
    }
}

/// A condition as Python passes it: `(arg, cmp, value, mask, bits)`.
type CondSpec = (u8, u8, u64, u64, u8);

/// Builds and compiles a filter. `allow` false: a deny-list (the calls named get
/// `action`, the others run); true: an allow-list (only those run, the others get
/// `action`). `conds` adds calls matched only when their arguments meet a set of
/// conditions. Unknown names, bad actions or conditions raise `ValueError` naming them.
#[pyfunction]
pub fn seccomp_compile(
    allow: bool,
    names: Vec<String>,
    action: u32,
    conds: Vec<(String, Vec<CondSpec>)>,
) -> PyResult<SeccompProgram> {
    let action = self::action(action)?;
    let mut filter = if allow {
        Filter::allow(&names, action)
    } else {
        Filter::deny(&names, action)
    }
    .map_err(value_error)?;
    for (name, set) in conds {
        let set = set
            .into_iter()
            .map(|(a, c, v, m, b)| cond(a, c, v, m, b))
            .collect::<PyResult<Vec<_>>>()?;
        filter = filter.add_when(&name, set).map_err(value_error)?;
    }
    let program = filter.compile().map_err(value_error)?;
    Ok(SeccompProgram { program })
}

/// Sets no_new_privs and installs `program` on the calling thread (or, with
/// `all_threads`, on every thread: TSYNC): `0`, or `-1` with the errno. For good.
#[pyfunction]
pub fn seccomp_load(program: &SeccompProgram, all_threads: bool) -> i64 {
    let r = if all_threads {
        program.program.install_all_threads()
    } else {
        program.program.install()
    };
    errno::ret_nix(r.map(|()| 0i64).map_err(|e| e.errno()))
}

/// The number of system call `name` on this architecture; `ValueError` if there is none.
#[pyfunction]
pub fn seccomp_syscall_number(name: &str) -> PyResult<i64> {
    butter::seccomp::syscall_number(name).map_err(value_error)
}

/// The name of system call number `nr` here, or `None`.
#[pyfunction]
pub fn seccomp_syscall_name(nr: i64) -> Option<&'static str> {
    butter::seccomp::syscall_name(nr)
}

/// Every system-call name known on this architecture.
#[pyfunction]
pub fn seccomp_syscall_names() -> Vec<&'static str> {
    butter::seccomp::syscall_names().collect()
}

/// Adds the seccomp calls, `SeccompProgram` and the `SECCOMP_*` constants to `butter._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SeccompProgram>()?;
    m.add_function(wrap_pyfunction!(seccomp_compile, m)?)?;
    m.add_function(wrap_pyfunction!(seccomp_load, m)?)?;
    m.add_function(wrap_pyfunction!(seccomp_syscall_number, m)?)?;
    m.add_function(wrap_pyfunction!(seccomp_syscall_name, m)?)?;
    m.add_function(wrap_pyfunction!(seccomp_syscall_names, m)?)?;
    m.add(
        "SECCOMP_SANDBOX_DENY",
        butter::seccomp::SANDBOX_DENY.to_vec(),
    )?;
    m.add("SECCOMP_RET_KILL_PROCESS", RET_KILL_PROCESS)?;
    m.add("SECCOMP_RET_KILL_THREAD", RET_KILL_THREAD)?;
    m.add("SECCOMP_RET_TRAP", RET_TRAP)?;
    m.add("SECCOMP_RET_ERRNO", RET_ERRNO)?;
    m.add("SECCOMP_RET_LOG", RET_LOG)?;
    m.add("SECCOMP_RET_ALLOW", RET_ALLOW)?;
    m.add("SECCOMP_CMP_EQ", CMP_EQ)?;
    m.add("SECCOMP_CMP_NE", CMP_NE)?;
    m.add("SECCOMP_CMP_LT", CMP_LT)?;
    m.add("SECCOMP_CMP_LE", CMP_LE)?;
    m.add("SECCOMP_CMP_GT", CMP_GT)?;
    m.add("SECCOMP_CMP_GE", CMP_GE)?;
    m.add("SECCOMP_CMP_MASKED_EQ", CMP_MASKED_EQ)?;
    Ok(())
}
