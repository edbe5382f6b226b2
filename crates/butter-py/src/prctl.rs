//! Raw calls for `butter.prctl`: `prctl(option, arg2, arg3, arg4, arg5)` with the C
//! contract, the thread-name calls, and the `PR_*` constants.
//!
//! The arguments are integers, as in C, with one difference that keeps Python's memory
//! safe: where the kernel would *write* through `arg2` (`PR_GET_PDEATHSIG`,
//! `PR_GET_CHILD_SUBREAPER`, `PR_GET_TID_ADDRESS`, …) the call passes a pointer to a
//! local of its own and returns the value written; the options known to take integers
//! only are passed through; every other option (those taking pointers: `PR_SET_MM`,
//! `PR_SET_VMA`, `PR_SCHED_CORE`, `PR_GET_AUXV`, a seccomp filter, …, and options newer
//! than this list) is refused with `ValueError` rather than letting a Python integer be
//! used as an address. `PR_GET_NAME`/`PR_SET_NAME` have calls of their own.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errno;

type Ulong = libc::c_ulong;

/// The options that take and return integers only (Linux 6.x's `prctl.h`), passed
/// through as they are. The others either write through `arg2` (answered by the call) or
/// take pointers (refused).
const INTEGER_OPTIONS: &[i32] = &[
    1,  // PR_SET_PDEATHSIG
    3,  // PR_GET_DUMPABLE
    4,  // PR_SET_DUMPABLE
    6,  // PR_SET_UNALIGN
    7,  // PR_GET_KEEPCAPS
    8,  // PR_SET_KEEPCAPS
    10, // PR_SET_FPEMU
    12, // PR_SET_FPEXC
    13, // PR_GET_TIMING
    14, // PR_SET_TIMING
    20, // PR_SET_ENDIAN
    21, // PR_GET_SECCOMP
    22, // PR_SET_SECCOMP (strict mode only: checked before)
    23, // PR_CAPBSET_READ
    24, // PR_CAPBSET_DROP
    26, // PR_SET_TSC
    27, // PR_GET_SECUREBITS
    28, // PR_SET_SECUREBITS
    29, // PR_SET_TIMERSLACK
    30, // PR_GET_TIMERSLACK
    31, // PR_TASK_PERF_EVENTS_DISABLE
    32, // PR_TASK_PERF_EVENTS_ENABLE
    33, // PR_MCE_KILL
    34, // PR_MCE_KILL_GET
    36, // PR_SET_CHILD_SUBREAPER
    38, // PR_SET_NO_NEW_PRIVS
    39, // PR_GET_NO_NEW_PRIVS
    41, // PR_SET_THP_DISABLE
    42, // PR_GET_THP_DISABLE
    43, // PR_MPX_ENABLE_MANAGEMENT (obsolete)
    44, // PR_MPX_DISABLE_MANAGEMENT (obsolete)
    45, // PR_SET_FP_MODE
    46, // PR_GET_FP_MODE
    47, // PR_CAP_AMBIENT
    50, // PR_SVE_SET_VL
    51, // PR_SVE_GET_VL
    52, // PR_GET_SPECULATION_CTRL
    53, // PR_SET_SPECULATION_CTRL
    54, // PR_PAC_RESET_KEYS
    55, // PR_SET_TAGGED_ADDR_CTRL
    56, // PR_GET_TAGGED_ADDR_CTRL
    57, // PR_SET_IO_FLUSHER
    58, // PR_GET_IO_FLUSHER
    60, // PR_PAC_SET_ENABLED_KEYS
    61, // PR_PAC_GET_ENABLED_KEYS
    63, // PR_SME_SET_VL
    64, // PR_SME_GET_VL
    65, // PR_SET_MDWE
    66, // PR_GET_MDWE
    67, // PR_SET_MEMORY_MERGE
    68, // PR_GET_MEMORY_MERGE
    69, // PR_RISCV_V_SET_CONTROL
    70, // PR_RISCV_V_GET_CONTROL
    libc::PR_SET_PTRACER,
];

/// `PR_GET_SHADOW_STACK_STATUS` (Linux 6.6): writes an `unsigned long` through `arg2`.
const PR_GET_SHADOW_STACK_STATUS: i32 = 74;

/// `prctl(option, arg2, arg3, arg4, arg5)`: the call's result (for the options that
/// answer through an `int *` in `arg2`, the value written there), or `-1` with the errno.
#[pyfunction]
#[pyo3(signature = (option, arg2=0, arg3=0, arg4=0, arg5=0))]
pub fn prctl(option: i32, arg2: Ulong, arg3: Ulong, arg4: Ulong, arg5: Ulong) -> PyResult<i64> {
    match option {
        libc::PR_GET_PDEATHSIG
        | libc::PR_GET_CHILD_SUBREAPER
        | libc::PR_GET_ENDIAN
        | libc::PR_GET_FPEXC
        | libc::PR_GET_FPEMU
        | libc::PR_GET_UNALIGN
        | libc::PR_GET_TSC => {
            let mut out: libc::c_int = 0;
            // SAFETY: the kernel writes one int through arg2, which points at `out`.
            let r = unsafe {
                libc::prctl(
                    option,
                    &mut out as *mut libc::c_int,
                    0 as Ulong,
                    0 as Ulong,
                    0 as Ulong,
                )
            };
            Ok(if r < 0 {
                errno::ret_libc(r.into())
            } else {
                out.into()
            })
        }
        libc::PR_GET_TID_ADDRESS | PR_GET_SHADOW_STACK_STATUS => {
            let mut out: *mut libc::c_void = std::ptr::null_mut();
            // SAFETY: the kernel writes one pointer-sized word through arg2, which points at
            // `out`.
            let r = unsafe {
                libc::prctl(
                    option,
                    &mut out as *mut *mut libc::c_void,
                    0 as Ulong,
                    0 as Ulong,
                    0 as Ulong,
                )
            };
            Ok(if r < 0 {
                errno::ret_libc(r.into())
            } else {
                out as i64
            })
        }
        libc::PR_GET_NAME | libc::PR_SET_NAME => Err(PyValueError::new_err(
            "PR_GET_NAME/PR_SET_NAME take a buffer: use get_name()/set_name()",
        )),
        libc::PR_SET_SECCOMP if arg2 != libc::SECCOMP_MODE_STRICT as Ulong => {
            Err(PyValueError::new_err(
                "PR_SET_SECCOMP with a filter takes a pointer: use butter.seccomp",
            ))
        }
        o if INTEGER_OPTIONS.contains(&o) => {
            // SAFETY: these options take and return integers only: the kernel reads no
            // user memory through the arguments and writes none.
            let r = unsafe { libc::prctl(option, arg2, arg3, arg4, arg5) };
            Ok(errno::ret_libc(r.into()))
        }
        _ => Err(PyValueError::new_err(format!(
            "prctl option {option} is not one known to take integers only (an option \
             taking a pointer cannot safely be given a Python integer)"
        ))),
    }
}

/// The calling thread's name (`PR_GET_NAME`) as `bytes`, or `-1` with the errno.
#[pyfunction]
pub fn prctl_get_name(py: Python<'_>) -> Py<PyAny> {
    match rustix::thread::name() {
        Ok(name) => PyBytes::new(py, name.as_bytes()).into_any().unbind(),
        Err(e) => {
            errno::set(e.raw_os_error());
            (-1i64).into_pyobject(py).unwrap().into_any().unbind()
        }
    }
}

/// Sets the calling thread's name (`PR_SET_NAME`; the kernel keeps 15 bytes): `0`, or `-1`
/// with the errno (`EINVAL` for a name with a NUL byte).
#[pyfunction]
pub fn prctl_set_name(name: &Bound<'_, PyBytes>) -> i64 {
    match std::ffi::CString::new(name.as_bytes()) {
        Ok(name) => errno::ret(rustix::thread::set_name(&name).map(|()| 0i64)),
        Err(_) => {
            errno::set(libc::EINVAL);
            -1
        }
    }
}

/// Adds prctl, the thread-name calls and the `PR_*` constants to `butter._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(prctl, m)?)?;
    m.add_function(wrap_pyfunction!(prctl_get_name, m)?)?;
    m.add_function(wrap_pyfunction!(prctl_set_name, m)?)?;
    macro_rules! consts {
        ($($name:ident),* $(,)?) => { $( m.add(stringify!($name), libc::$name)?; )* };
    }
    consts!(
        PR_SET_PDEATHSIG,
        PR_GET_PDEATHSIG,
        PR_GET_DUMPABLE,
        PR_SET_DUMPABLE,
        PR_GET_UNALIGN,
        PR_SET_UNALIGN,
        PR_UNALIGN_NOPRINT,
        PR_UNALIGN_SIGBUS,
        PR_GET_KEEPCAPS,
        PR_SET_KEEPCAPS,
        PR_GET_FPEMU,
        PR_SET_FPEMU,
        PR_FPEMU_NOPRINT,
        PR_FPEMU_SIGFPE,
        PR_GET_FPEXC,
        PR_SET_FPEXC,
        PR_FP_EXC_SW_ENABLE,
        PR_FP_EXC_DIV,
        PR_FP_EXC_OVF,
        PR_FP_EXC_UND,
        PR_FP_EXC_RES,
        PR_FP_EXC_INV,
        PR_FP_EXC_DISABLED,
        PR_FP_EXC_NONRECOV,
        PR_FP_EXC_ASYNC,
        PR_FP_EXC_PRECISE,
        PR_GET_TIMING,
        PR_SET_TIMING,
        PR_TIMING_STATISTICAL,
        PR_TIMING_TIMESTAMP,
        PR_SET_NAME,
        PR_GET_NAME,
        PR_GET_ENDIAN,
        PR_SET_ENDIAN,
        PR_ENDIAN_BIG,
        PR_ENDIAN_LITTLE,
        PR_ENDIAN_PPC_LITTLE,
        PR_GET_SECCOMP,
        PR_SET_SECCOMP,
        PR_CAPBSET_READ,
        PR_CAPBSET_DROP,
        PR_GET_TSC,
        PR_SET_TSC,
        PR_TSC_ENABLE,
        PR_TSC_SIGSEGV,
        PR_GET_SECUREBITS,
        PR_SET_SECUREBITS,
        PR_SET_TIMERSLACK,
        PR_GET_TIMERSLACK,
        PR_TASK_PERF_EVENTS_DISABLE,
        PR_TASK_PERF_EVENTS_ENABLE,
        PR_MCE_KILL,
        PR_MCE_KILL_CLEAR,
        PR_MCE_KILL_SET,
        PR_MCE_KILL_LATE,
        PR_MCE_KILL_EARLY,
        PR_MCE_KILL_DEFAULT,
        PR_MCE_KILL_GET,
        PR_SET_MM,
        PR_SET_PTRACER,
        PR_SET_PTRACER_ANY,
        PR_SET_CHILD_SUBREAPER,
        PR_GET_CHILD_SUBREAPER,
        PR_SET_NO_NEW_PRIVS,
        PR_GET_NO_NEW_PRIVS,
        PR_GET_TID_ADDRESS,
        PR_SET_THP_DISABLE,
        PR_GET_THP_DISABLE,
        PR_SET_FP_MODE,
        PR_GET_FP_MODE,
        PR_CAP_AMBIENT,
        PR_CAP_AMBIENT_IS_SET,
        PR_CAP_AMBIENT_RAISE,
        PR_CAP_AMBIENT_LOWER,
        PR_CAP_AMBIENT_CLEAR_ALL,
        PR_SET_VMA,
        PR_SCHED_CORE,
        PR_SET_MDWE,
        PR_GET_MDWE,
        PR_SET_MEMORY_MERGE,
        PR_GET_MEMORY_MERGE,
    );
    Ok(())
}
