//! Build targets, and which wheels satisfy them.
//!
//! A [`Target`] is an (ABI, platform) pair such as `cp311` on `linux_aarch64`: what a build
//! slave builds for. Targets are ordered with ABIs as Python versions (`cp39` < `cp310` <
//! `cp311` < `cp313`), unlike the original's string order, which put `cp310` before `cp39`.
//!
//! A wheel satisfies a target when pip on that target would install it
//! ([`satisfies`]): its platform is the target's, `any`, a `manylinux` tag of the same
//! architecture, or one that a [`PlatformAliases`] entry copies to the target's platform;
//! and its ABI is the target's, `none` (with a `py*` tag or the target's own `cp` tag), or
//! `abi3` from a minimum CPython version at or below the target's.

use std::cmp::Ordering;
use std::fmt;

/// What a build slave builds for: an ABI and a platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The wheel ABI tag the slave's interpreter produces, such as `cp311`.
    pub abi: String,
    /// The wheel platform tag, such as `linux_armv7l`.
    pub platform: String,
}

impl Target {
    /// A target from its two tags.
    pub fn new(abi: impl Into<String>, platform: impl Into<String>) -> Self {
        Self {
            abi: abi.into(),
            platform: platform.into(),
        }
    }

    /// The ABI as an orderable Python version.
    pub fn abi_key(&self) -> AbiKey {
        AbiKey::parse(&self.abi)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.abi, self.platform)
    }
}

impl Ord for Target {
    fn cmp(&self, other: &Self) -> Ordering {
        self.abi_key()
            .cmp(&other.abi_key())
            .then_with(|| self.platform.cmp(&other.platform))
    }
}

impl PartialOrd for Target {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An ABI tag ordered as a Python version: CPython tags (`cp39`, `cp311`, `cp37m`,
/// `cp313t`) by major, minor and flags, then any other tag by its text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AbiKey {
    /// `cp<major><minor><flags>`.
    CPython {
        /// The major version (3).
        major: u32,
        /// The minor version (11 for `cp311`).
        minor: u32,
        /// What follows the digits (`m` for the old pymalloc ABIs, `t` for free-threaded).
        flags: String,
    },
    /// Anything else (`pypy73_pp73`, `graalpy311`, ...), ordered after CPython by text.
    Other(String),
}

impl AbiKey {
    /// Reads an ABI tag.
    pub fn parse(tag: &str) -> Self {
        match cpython_version(tag) {
            Some((major, minor, flags)) => AbiKey::CPython {
                major,
                minor,
                flags: flags.to_owned(),
            },
            None => AbiKey::Other(tag.to_owned()),
        }
    }
}

/// `cp311` → (3, 11, ""), `cp37m` → (3, 7, "m"). The first digit is the major version; the
/// rest the minor (as CPython's tags are written).
fn cpython_version(tag: &str) -> Option<(u32, u32, &str)> {
    let rest = tag.strip_prefix("cp")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits < 2 {
        return None;
    }
    let major = u32::from(rest.as_bytes()[0] - b'0');
    let minor = rest[1..digits].parse().ok()?;
    Some((major, minor, &rest[digits..]))
}

/// Platforms whose wheels are also published under another platform's name, as piwheels
/// publishes every `linux_armv7l` wheel as `linux_armv6l` too (the same file: both run on a
/// Raspberry Pi's 32-bit OS). The default has exactly that entry; an empty list turns it off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformAliases(Vec<(String, String)>);

impl Default for PlatformAliases {
    fn default() -> Self {
        Self(vec![("linux_armv7l".into(), "linux_armv6l".into())])
    }
}

impl PlatformAliases {
    /// No aliases.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Aliases from (platform, alias) pairs: wheels of `platform` are also published as
    /// `alias`.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    /// The (platform, alias) pairs.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The aliases of a platform.
    pub fn aliases_of<'a>(&'a self, platform: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(p, _)| p == platform)
            .map(|(_, a)| a.as_str())
    }

    /// The name of the copy of `filename` (a wheel of platform `platform`) under `alias`:
    /// the platform tag at the end of the name replaced. `None` if the name does not end in
    /// `-<platform>.whl`.
    pub fn twin_name(filename: &str, platform: &str, alias: &str) -> Option<String> {
        let stem = filename.strip_suffix(".whl")?.strip_suffix(platform)?;
        stem.ends_with('-').then(|| format!("{stem}{alias}.whl"))
    }
}

/// A wheel's compatibility tags (from its file name).
#[derive(Debug, Clone, Copy)]
pub struct WheelTags<'a> {
    /// The Python tag (`py3`, `cp311`, `cp37.cp38`).
    pub py: &'a str,
    /// The ABI tag (`none`, `abi3`, `cp311`).
    pub abi: &'a str,
    /// The platform tag (`any`, `linux_armv7l`, `manylinux_2_17_aarch64.manylinux2014_aarch64`).
    pub platform: &'a str,
}

/// Whether pip on `target` would install a wheel with these tags (see the module docs).
pub fn satisfies(wheel: WheelTags<'_>, target: &Target, aliases: &PlatformAliases) -> bool {
    platform_ok(wheel.platform, &target.platform, aliases) && abi_ok(wheel, &target.abi)
}

fn platform_ok(tags: &str, target: &str, aliases: &PlatformAliases) -> bool {
    tags.split('.').any(|p| {
        p == "any"
            || p == target
            || aliases.aliases_of(p).any(|a| a == target)
            || manylinux_arch(p).is_some_and(|arch| target.strip_prefix("linux_") == Some(arch))
    })
}

/// The architecture of a `manylinux1_x86_64`, `manylinux2014_aarch64` or
/// `manylinux_2_17_armv7l` tag.
fn manylinux_arch(tag: &str) -> Option<&str> {
    let rest = tag.strip_prefix("manylinux")?;
    let rest = match rest.strip_prefix('_') {
        // manylinux_X_Y_arch
        Some(r) => {
            let mut parts = r.splitn(3, '_');
            let (x, y, arch) = (parts.next()?, parts.next()?, parts.next()?);
            (x.parse::<u32>().is_ok() && y.parse::<u32>().is_ok()).then_some(arch)?
        }
        // manylinux1_arch, manylinux2010_arch, manylinux2014_arch
        None => {
            rest.split_once('_')
                .filter(|(n, _)| n.parse::<u32>().is_ok())?
                .1
        }
    };
    (!rest.is_empty()).then_some(rest)
}

fn abi_ok(wheel: WheelTags<'_>, target_abi: &str) -> bool {
    let target = cpython_version(target_abi);
    wheel.abi.split('.').any(|abi| match abi {
        _ if abi == target_abi => true,
        "none" => wheel.py.split('.').any(|py| {
            py.starts_with("py")
                || matches!((cpython_version(py), target), (Some((a, b, _)), Some((c, d, _))) if (a, b) == (c, d))
        }),
        "abi3" => match target {
            // The stable ABI is not offered by free-threaded builds.
            Some((major, minor, flags)) if !flags.contains('t') => wheel
                .py
                .split('.')
                .filter_map(cpython_version)
                .any(|(a, b, _)| a == major && b <= minor),
            _ => false,
        },
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(abi: &str, platform: &str) -> Target {
        Target::new(abi, platform)
    }

    fn w<'a>(py: &'a str, abi: &'a str, platform: &'a str) -> WheelTags<'a> {
        WheelTags { py, abi, platform }
    }

    #[test]
    fn abis_order_as_python_versions() {
        let mut abis = vec![
            "cp313", "cp39", "cp311", "cp310", "cp37m", "cp34m", "pp73", "cp313t",
        ];
        abis.sort_by_key(|a| AbiKey::parse(a));
        assert_eq!(
            abis,
            [
                "cp34m", "cp37m", "cp39", "cp310", "cp311", "cp313", "cp313t", "pp73"
            ]
        );
        assert!(t("cp39", "linux_x86_64") < t("cp310", "linux_aarch64"));
        assert!(t("cp311", "linux_aarch64") < t("cp311", "linux_armv7l"));
    }

    #[test]
    fn which_wheels_satisfy_which_targets() {
        let none = PlatformAliases::none();
        let armv7 = t("cp311", "linux_armv7l");
        // Pure wheels satisfy everything.
        assert!(satisfies(w("py3", "none", "any"), &armv7, &none));
        assert!(satisfies(
            w("py2.py3", "none", "any"),
            &t("cp39", "linux_aarch64"),
            &none
        ));
        // A CPython-specific "none" wheel only its own version.
        assert!(satisfies(w("cp311", "none", "any"), &armv7, &none));
        assert!(!satisfies(
            w("cp311", "none", "any"),
            &t("cp313", "linux_armv7l"),
            &none
        ));
        // Compiled wheels: same ABI and platform.
        assert!(satisfies(
            w("cp311", "cp311", "linux_armv7l"),
            &armv7,
            &none
        ));
        assert!(!satisfies(
            w("cp311", "cp311", "linux_aarch64"),
            &armv7,
            &none
        ));
        assert!(!satisfies(w("cp39", "cp39", "linux_armv7l"), &armv7, &none));
        // abi3 from its minimum version upwards, on its platform.
        assert!(satisfies(w("cp37", "abi3", "linux_armv7l"), &armv7, &none));
        assert!(satisfies(w("cp311", "abi3", "linux_armv7l"), &armv7, &none));
        assert!(!satisfies(
            w("cp312", "abi3", "linux_armv7l"),
            &armv7,
            &none
        ));
        assert!(!satisfies(
            w("cp37", "abi3", "linux_aarch64"),
            &armv7,
            &none
        ));
        assert!(!satisfies(
            w("cp37", "abi3", "linux_armv7l"),
            &t("cp313t", "linux_armv7l"),
            &none
        ));
        // manylinux runs on linux of the same architecture.
        let arm64 = t("cp311", "linux_aarch64");
        assert!(satisfies(
            w(
                "cp311",
                "cp311",
                "manylinux_2_17_aarch64.manylinux2014_aarch64"
            ),
            &arm64,
            &none
        ));
        assert!(!satisfies(
            w("cp311", "cp311", "manylinux_2_17_x86_64"),
            &arm64,
            &none
        ));
        assert!(!satisfies(
            w("cp311", "cp311", "musllinux_1_1_aarch64"),
            &arm64,
            &none
        ));
        // Aliases carry armv7l wheels to armv6l.
        let armv6 = t("cp311", "linux_armv6l");
        assert!(!satisfies(
            w("cp311", "cp311", "linux_armv7l"),
            &armv6,
            &none
        ));
        assert!(satisfies(
            w("cp311", "cp311", "linux_armv7l"),
            &armv6,
            &PlatformAliases::default()
        ));
    }

    #[test]
    fn twin_names() {
        assert_eq!(
            PlatformAliases::twin_name(
                "foo-1.0-cp311-cp311-linux_armv7l.whl",
                "linux_armv7l",
                "linux_armv6l"
            )
            .as_deref(),
            Some("foo-1.0-cp311-cp311-linux_armv6l.whl")
        );
        assert_eq!(
            PlatformAliases::twin_name("foo-1.0-py3-none-any.whl", "linux_armv7l", "linux_armv6l"),
            None
        );
        assert_eq!(
            PlatformAliases::twin_name(
                "foo-1.0-cp311-cp311-xlinux_armv7l.whl",
                "linux_armv7l",
                "x"
            ),
            None
        );
    }
}
