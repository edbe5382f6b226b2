//! memfd: anonymous memory files, and sealing them.
