//! Mounts: mount, umount, pivot_root, and the new mount API.
