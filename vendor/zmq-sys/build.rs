//! Links the system's libzmq (4.3 or later, with CURVE), found through pkg-config.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Err(e) = pkg_config::Config::new()
        .atleast_version("4.3")
        .probe("libzmq")
    {
        panic!(
            "libzmq 4.3 or later was not found through pkg-config: {}\n\
             On Debian, install libzmq3-dev (./scripts/sys-deps does, as root).",
            e
        );
    }
}
