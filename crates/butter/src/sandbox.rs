//! A sandbox that runs a command isolated: namespaces, a bind-mounted root, seccomp, limits.
