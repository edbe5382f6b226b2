//! seccomp: system-call filters, built from syscall names.
