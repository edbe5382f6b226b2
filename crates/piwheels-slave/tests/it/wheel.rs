//! Wheel analysis on wheels made here: tags, hash, METADATA, pip dependencies, and the
//! Debian packages a real shared library (compiled with `cc`) needs.

use crate::common;

use std::path::Path;

use piwheels_slave::WheelAnalyser;
use piwheels_slave::elf::{LibraryResolver, parse_dynamic};
use piwheels_slave::wheel::{WheelError, analyse_dir};
use sha2::{Digest, Sha256};

const METADATA: &str = "Metadata-Version: 2.1\nName: Foo.Bar\nVersion: 1.0\nRequires-Python: >=3.9\n\
Requires-Dist: Numpy>=1.20\nRequires-Dist: six\nRequires-Dist: pytest ; extra == \"test\"\n\
Requires-Dist: six ; python_version < \"4\"\n\nDescription text.\n";

fn so_source() -> &'static str {
    "#include <zlib.h>\nconst char *piw_version(void) { return zlibVersion(); }\n"
}

#[test]
fn pure_wheel() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::make_wheel(
        dir.path(),
        "Foo.Bar-1.0-py3-none-any.whl",
        &[
            ("foo/__init__.py", b"x = 1\n"),
            ("Foo.Bar-1.0.dist-info/METADATA", METADATA.as_bytes()),
        ],
    );
    let state = WheelAnalyser::system().analyse(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(state.filename, "Foo.Bar-1.0-py3-none-any.whl");
    assert_eq!(state.filesize, bytes.len() as i64);
    assert_eq!(state.filehash, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(
        (
            state.package_tag.as_str(),
            state.package_version_tag.as_str(),
            state.py_version_tag.as_str(),
            state.abi_tag.as_str(),
            state.platform_tag.as_str()
        ),
        ("Foo.Bar", "1.0", "py3", "none", "any")
    );
    assert_eq!(state.requires_python.as_deref(), Some(">=3.9"));
    assert_eq!(state.location, "/simple");
    let keys: Vec<&str> = state.dependencies.keys().map(String::as_str).collect();
    assert_eq!(keys, ["apt", "pip"]);
    assert!(state.dependencies["apt"].is_empty());
    assert_eq!(state.dependencies["pip"], ["numpy", "six"]);
}

#[test]
fn canonical_dist_info_and_noabi_and_build_tag() {
    let dir = tempfile::tempdir().unwrap();
    // The dist-info directory uses the canonical (normalised) name.
    let path = common::make_wheel(
        dir.path(),
        "Foo.Bar-1.0-1-cp311-noabi-linux_x86_64.whl",
        &[(
            "foo_bar-1.0.dist-info/METADATA",
            b"Name: foo-bar\nVersion: 1.0\n",
        )],
    );
    let state = WheelAnalyser::system().analyse(&path).unwrap();
    assert_eq!(state.abi_tag, "none");
    assert_eq!(state.py_version_tag, "cp311");
    assert_eq!(state.requires_python, None);
}

#[test]
fn malformed_wheels_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let analyser = WheelAnalyser::system();
    let no_meta = common::make_wheel(
        dir.path(),
        "foo-1.0-py3-none-any.whl",
        &[("foo/__init__.py", b"")],
    );
    let e = analyser.analyse(&no_meta).unwrap_err();
    assert!(matches!(e, WheelError::NoMetadata { .. }), "{e}");
    assert!(e.to_string().starts_with("BadWheel:"), "{e}");
    assert!(e.to_string().contains("foo-1.0.dist-info/METADATA"), "{e}");

    let not_zip = dir.path().join("bar-1.0-py3-none-any.whl");
    std::fs::write(&not_zip, b"this is no zip archive").unwrap();
    let e = analyser.analyse(&not_zip).unwrap_err();
    assert!(matches!(e, WheelError::Zip { .. }), "{e}");

    let bad_name = common::make_wheel(dir.path(), "nonsense.whl", &[]);
    assert!(matches!(
        analyser.analyse(&bad_name).unwrap_err(),
        WheelError::Name(_)
    ));

    // An ELF header with garbage after it, named like a library.
    let mut bad_elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
    bad_elf.resize(200, 0xee);
    let w = common::make_wheel(
        dir.path(),
        "baz-1.0-cp311-cp311-linux_x86_64.whl",
        &[
            ("baz-1.0.dist-info/METADATA", b"Name: baz\n"),
            ("baz/_c.cpython-311-x86_64-linux-gnu.so", &bad_elf),
        ],
    );
    let e = analyser.analyse(&w).unwrap_err();
    assert!(matches!(e, WheelError::Member { .. }), "{e}");
    assert!(e.to_string().contains("corrupt ELF"), "{e}");

    // A text file with a library's name is not a library, and not an error.
    let w = common::make_wheel(
        dir.path(),
        "qux-1.0-py3-none-any.whl",
        &[
            ("qux-1.0.dist-info/METADATA", b"Name: qux\n"),
            ("qux/libfoo.so", b"/* GNU ld script */ INPUT(libfoo.so.1)\n"),
        ],
    );
    assert!(analyser.analyse(&w).is_ok());

    // A directory of wheels stops at the first bad one, by name.
    let e = analyse_dir(&analyser, dir.path()).unwrap_err();
    assert!(e.to_string().contains("BadWheel"), "{e}");
}

#[test]
fn hostile_member_names_are_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("escaped");
    let names = [
        "../escaped",
        "/tmp/absolute.so",
        "../../../../etc/evil.so.1",
        "a/../../escaped.so",
        "spaces and \u{202e}rtl.so",
    ];
    let mut members: Vec<(&str, &[u8])> = names.iter().map(|n| (*n, &b"not elf"[..])).collect();
    members.push(("hostile-1.0.dist-info/METADATA", b"Name: hostile\n"));
    let w = common::make_wheel(dir.path(), "hostile-1.0-py3-none-any.whl", &members);
    let state = WheelAnalyser::system().analyse(&w).unwrap();
    assert_eq!(state.package_tag, "hostile");
    assert!(!outside.exists());
    assert!(!Path::new("/tmp/absolute.so").exists());
    assert!(!dir.path().join("escaped.so").exists());
}

#[test]
fn shared_library_dependencies_map_to_debian_packages() {
    let test = "shared_library_dependencies_map_to_debian_packages";
    let dir = tempfile::tempdir().unwrap();
    let so = match common::compile_so(dir.path(), "libpiw.so", so_source(), &["z"]) {
        Ok(p) => p,
        Err(why) => return common::skip(test, &why),
    };
    let data = std::fs::read(&so).unwrap();
    let info = parse_dynamic(&data).unwrap();
    assert!(info.needed.iter().any(|n| n == "libz.so.1"), "{info:?}");
    let resolver = LibraryResolver::system();
    let libz = resolver
        .resolve("libz.so.1", &info, None)
        .expect("libz.so.1 is found as the loader finds it");
    let Some(zlib_pkg) = common::dpkg_owner(&libz.to_string_lossy()) else {
        return common::skip(test, "dpkg does not know who owns libz.so.1 here");
    };
    let libc = resolver
        .resolve("libc.so.6", &info, None)
        .expect("libc.so.6 is found");
    let Some(libc_pkg) = common::dpkg_owner(&libc.to_string_lossy()) else {
        return common::skip(test, "dpkg does not know who owns libc.so.6 here");
    };

    // A library the wheel bundles (its own copy, auditwheel style) is not a dependency;
    // a library nobody has is an unresolved ("") one.
    let bundled_src =
        "extern int piw_bundled(void);\nint piw_entry(void) { return piw_bundled(); }\n";
    let helper = common::compile_so(
        dir.path(),
        "libpiwhelper-1a2b3c.so.1",
        "int piw_bundled(void) { return 1; }\n",
        &[],
    )
    .unwrap();
    let user = {
        let c = dir.path().join("user.c");
        std::fs::write(&c, bundled_src).unwrap();
        let out = dir.path().join("user.so");
        let cc = common::process::output_within(
            std::process::Command::new("cc")
                .args(["-shared", "-fPIC", "-Wl,--no-as-needed", "-o"])
                .arg(&out)
                .arg(&c)
                .arg(&helper)
                .arg("-Wl,-rpath,$ORIGIN/../piw.libs"),
            b"",
            std::time::Duration::from_secs(120),
            "cc",
        );
        assert!(
            cc.status.success(),
            "cc: {}",
            String::from_utf8_lossy(&cc.stderr)
        );
        out
    };
    let user_info = parse_dynamic(&std::fs::read(&user).unwrap()).unwrap();
    assert!(
        user_info
            .needed
            .iter()
            .any(|n| n.contains("libpiwhelper-1a2b3c.so.1")),
        "{user_info:?}"
    );
    // Patch the soname of a needed library nobody has: compile against a stub named so.
    let ghost = common::compile_so(
        dir.path(),
        "libpiwghost.so.7",
        "int g(void){return 0;}\n",
        &[],
    )
    .unwrap();
    let ghost_user = {
        let c = dir.path().join("ghostuser.c");
        std::fs::write(&c, "extern int g(void);\nint h(void){return g();}\n").unwrap();
        let out = dir.path().join("ghostuser.so");
        let cc = common::process::output_within(
            std::process::Command::new("cc")
                .args(["-shared", "-fPIC", "-Wl,--no-as-needed", "-o"])
                .arg(&out)
                .arg(&c)
                .arg(&ghost),
            b"",
            std::time::Duration::from_secs(120),
            "cc",
        );
        assert!(
            cc.status.success(),
            "cc: {}",
            String::from_utf8_lossy(&cc.stderr)
        );
        out
    };

    let so_bytes = std::fs::read(&so).unwrap();
    let user_bytes = std::fs::read(&user).unwrap();
    let helper_bytes = std::fs::read(&helper).unwrap();
    let ghost_bytes = std::fs::read(&ghost_user).unwrap();
    let w = common::make_wheel(
        dir.path(),
        "piw-1.0-cp311-cp311-linux_x86_64.whl",
        &[
            ("piw-1.0.dist-info/METADATA", b"Name: piw\nVersion: 1.0\n"),
            ("piw/_zlib.cpython-311-x86_64-linux-gnu.so", &so_bytes),
            ("piw/_user.cpython-311-x86_64-linux-gnu.so", &user_bytes),
            ("piw.libs/libpiwhelper-1a2b3c.so.1", &helper_bytes),
            ("piw/_ghost.so", &ghost_bytes),
        ],
    );
    let state = WheelAnalyser::system().analyse(&w).unwrap();
    let apt = &state.dependencies["apt"];
    assert!(apt.contains(&zlib_pkg), "{apt:?} lacks {zlib_pkg}");
    assert!(apt.contains(&libc_pkg), "{apt:?} lacks {libc_pkg}");
    assert!(
        apt.windows(2).all(|w| w[0] < w[1]),
        "sorted, unique: {apt:?}"
    );
    assert!(apt.iter().all(|p| !p.contains(':')), "no :arch in {apt:?}");
    let orphans = &state.dependencies[""];
    assert!(
        orphans.iter().any(|o| o.contains("libpiwghost.so.7")),
        "{orphans:?}"
    );
    assert!(
        !orphans.iter().any(|o| o.contains("libpiwhelper")),
        "the bundled library is no dependency: {orphans:?}"
    );
    let keys: Vec<&str> = state.dependencies.keys().map(String::as_str).collect();
    assert_eq!(keys, ["apt", "pip", ""]);
}

#[test]
fn resolver_finds_libc_for_this_process() {
    let exe = std::fs::read("/proc/self/exe").unwrap();
    let info = parse_dynamic(&exe).unwrap();
    assert!(info.needed.iter().any(|n| n == "libc.so.6"), "{info:?}");
    let resolver = LibraryResolver::system();
    let libc = resolver.resolve("libc.so.6", &info, None).unwrap();
    assert!(libc.exists());
    // A library of the other class is not taken for it.
    let mut other = info.clone();
    other.machine = other.machine.wrapping_add(1000);
    assert_eq!(resolver.resolve("libc.so.6", &other, None), None);
}
