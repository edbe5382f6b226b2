from butter._native import sendfile  # noqa: F401
