//! Namespaces: unshare, setns, clone, and running a closure in new namespaces.
