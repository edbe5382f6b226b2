//! Shared libraries: what an ELF file needs (`DT_NEEDED`, `DT_RPATH`, `DT_RUNPATH`), and
//! where the system's dynamic loader would find each of those libraries.
//!
//! This takes the place of the original's `ldd` (which runs the dynamic loader on files
//! from an untrusted wheel, and reports the whole transitive closure). Here the ELF is
//! parsed in memory with `goblin`, only the direct dependencies are listed, and each soname
//! is looked up as `ld.so` would: `DT_RPATH` (when there is no `DT_RUNPATH`),
//! `LD_LIBRARY_PATH` is ignored (the slave's own environment says nothing about where the
//! wheel will run), `DT_RUNPATH`, `/etc/ld.so.cache`, then the default directories. A
//! candidate counts only if it is an ELF file of the same class and machine, so a 32-bit
//! library never stands in for a 64-bit one.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use goblin::elf::Elf;

/// What a shared object needs from the dynamic loader.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DynamicInfo {
    /// ELF class: `true` for 64-bit.
    pub is_64: bool,
    /// `e_machine`.
    pub machine: u16,
    /// `DT_NEEDED` entries, in file order.
    pub needed: Vec<String>,
    /// `DT_RPATH` directories (split on `:`).
    pub rpath: Vec<String>,
    /// `DT_RUNPATH` directories (split on `:`).
    pub runpath: Vec<String>,
}

/// Why an ELF file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ElfError(String);

/// The ELF magic number.
pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// Whether `data` starts like an ELF file.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(ELF_MAGIC)
}

/// Parses the dynamic section of an ELF file held in memory.
///
/// # Errors
///
/// A file that is not ELF, or whose headers or dynamic section are corrupt. Never panics:
/// the parser runs under `catch_unwind` as a second line of defence.
pub fn parse_dynamic(data: &[u8]) -> Result<DynamicInfo, ElfError> {
    if !is_elf(data) {
        return Err(ElfError("not an ELF file (no ELF magic number)".into()));
    }
    let parsed = std::panic::catch_unwind(|| -> Result<DynamicInfo, ElfError> {
        let elf = Elf::parse(data).map_err(|e| ElfError(format!("corrupt ELF file: {e}")))?;
        let split = |v: &[&str]| -> Vec<String> {
            v.iter()
                .flat_map(|s| s.split(':'))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Ok(DynamicInfo {
            is_64: elf.is_64,
            machine: elf.header.e_machine,
            needed: elf.libraries.iter().map(|s| (*s).to_owned()).collect(),
            rpath: split(&elf.rpaths),
            runpath: split(&elf.runpaths),
        })
    });
    parsed.unwrap_or_else(|_| Err(ElfError("corrupt ELF file (the parser gave up)".into())))
}

/// Reads an ELF header's class and machine from a file on disk (the first 20 bytes).
fn file_class_machine(path: &Path) -> Option<(bool, u16)> {
    let mut head = [0u8; 20];
    File::open(path).ok()?.read_exact(&mut head).ok()?;
    if !is_elf(&head) {
        return None;
    }
    let is_64 = match head[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let machine = match head[5] {
        1 => u16::from_le_bytes([head[18], head[19]]),
        2 => u16::from_be_bytes([head[18], head[19]]),
        _ => return None,
    };
    Some((is_64, machine))
}

/// One entry of `/etc/ld.so.cache`: a soname and the path it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The library's soname, e.g. `libz.so.1`.
    pub soname: String,
    /// Where it lives, e.g. `/lib/x86_64-linux-gnu/libz.so.1`.
    pub path: PathBuf,
}

const CACHE_MAGIC_NEW: &[u8] = b"glibc-ld.so.cache1.1";
const CACHE_MAGIC_OLD: &[u8] = b"ld.so-1.7.0";

/// Parses the dynamic loader's cache (`/etc/ld.so.cache`), new format (glibc ≥ 2.32
/// writes only that) or old format with the new one appended.
///
/// Returns `None` if the data is in neither format. Entries whose strings point outside
/// the data are skipped.
pub fn parse_ld_cache(data: &[u8]) -> Option<Vec<CacheEntry>> {
    let u32_at = |off: usize| -> Option<u32> {
        let b = data.get(off..off + 4)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let start = if data.starts_with(CACHE_MAGIC_NEW) {
        0
    } else if data.starts_with(CACHE_MAGIC_OLD) {
        // Old header: magic (11 bytes, padded to 12), nlibs, then 12-byte entries;
        // the new-format cache follows, aligned to 8 bytes.
        let nlibs = usize::try_from(u32_at(12)?).ok()?;
        let end = 16usize.checked_add(nlibs.checked_mul(12)?)?;
        let aligned = end.div_ceil(8) * 8;
        if data.get(aligned..)?.starts_with(CACHE_MAGIC_NEW) {
            aligned
        } else if data.get(end..)?.starts_with(CACHE_MAGIC_NEW) {
            end
        } else {
            return None;
        }
    } else {
        return None;
    };
    let nlibs = usize::try_from(u32_at(start + 20)?).ok()?;
    let entries_at = start + 48;
    let mut out = Vec::with_capacity(nlibs.min(100_000));
    let string = |off: u32| -> Option<&[u8]> {
        // String offsets in the new format count from the start of the new header.
        let off = start.checked_add(usize::try_from(off).ok()?)?;
        let rest = data.get(off..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        Some(&rest[..len])
    };
    for i in 0..nlibs {
        let Some(at) = i.checked_mul(24).and_then(|n| n.checked_add(entries_at)) else {
            break;
        };
        let (Some(key), Some(value)) = (u32_at(at + 4), u32_at(at + 8)) else {
            break;
        };
        let (Some(key), Some(value)) = (string(key), string(value)) else {
            continue;
        };
        let (Ok(key), Ok(value)) = (std::str::from_utf8(key), std::str::from_utf8(value)) else {
            continue;
        };
        out.push(CacheEntry {
            soname: key.to_owned(),
            path: PathBuf::from(value),
        });
    }
    Some(out)
}

/// Reads `ld.so.conf`-style files: one directory per line, `#` comments, `include GLOB`
/// lines (globs of the form `dir/*.conf` or `dir/*`), relative includes against the file's
/// directory. Nested includes are followed to a depth of 8.
pub fn read_ld_conf(path: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    read_ld_conf_into(path, &mut dirs, 0);
    dirs
}

fn read_ld_conf_into(path: &Path, dirs: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let base = path.parent().unwrap_or(Path::new("/"));
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(pattern) = line.strip_prefix("include") {
            let pattern = pattern.trim();
            let pattern = if pattern.starts_with('/') {
                PathBuf::from(pattern)
            } else {
                base.join(pattern)
            };
            for file in glob_simple(&pattern) {
                read_ld_conf_into(&file, dirs, depth + 1);
            }
        } else if line.starts_with('/') {
            dirs.push(PathBuf::from(line));
        }
    }
}

/// A tiny glob: `*` in the last path component only (as ld.so.conf includes use), files in
/// sorted order.
fn glob_simple(pattern: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    let Some((prefix, suffix)) = name.split_once('*') else {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.len() >= prefix.len() + suffix.len() && n.starts_with(prefix) && n.ends_with(suffix)
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Finds shared libraries the way the system's dynamic loader does.
#[derive(Debug, Clone, Default)]
pub struct LibraryResolver {
    cache: Vec<CacheEntry>,
    default_dirs: Vec<PathBuf>,
}

impl LibraryResolver {
    /// The system's resolver: `/etc/ld.so.cache` if it can be read, else the directories
    /// of `/etc/ld.so.conf` (and its includes); then `/lib`, `/usr/lib` and their
    /// multiarch and `64` variants.
    pub fn system() -> Self {
        let cache = std::fs::read("/etc/ld.so.cache")
            .ok()
            .and_then(|d| parse_ld_cache(&d))
            .unwrap_or_default();
        let mut dirs = if cache.is_empty() {
            read_ld_conf(Path::new("/etc/ld.so.conf"))
        } else {
            Vec::new()
        };
        let multiarch = multiarch_triplet();
        for base in ["/lib", "/usr/lib"] {
            if let Some(triplet) = &multiarch {
                dirs.push(Path::new(base).join(triplet));
            }
            dirs.push(PathBuf::from(format!("{base}64")));
            dirs.push(PathBuf::from(base));
        }
        Self::new(cache, dirs)
    }

    /// A resolver from a parsed cache and the directories searched after it.
    pub fn new(cache: Vec<CacheEntry>, default_dirs: Vec<PathBuf>) -> Self {
        let mut seen = BTreeSet::new();
        let default_dirs = default_dirs
            .into_iter()
            .filter(|d| seen.insert(d.clone()))
            .collect();
        LibraryResolver {
            cache,
            default_dirs,
        }
    }

    /// How many entries the loader cache had.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Where `soname`, needed by a library described by `info` that lives at `origin`
    /// (its directory on the system, if it is on the system; `None` for a file inside a
    /// wheel, whose `$ORIGIN` paths are resolved inside the wheel by the caller), would be
    /// loaded from. `None` if nowhere.
    pub fn resolve(
        &self,
        soname: &str,
        info: &DynamicInfo,
        origin: Option<&Path>,
    ) -> Option<PathBuf> {
        let fits = |p: &Path| file_class_machine(p) == Some((info.is_64, info.machine));
        if soname.contains('/') {
            // A path, not a soname: the loader uses it as it is.
            let p = Path::new(soname);
            return (p.is_absolute() && fits(p)).then(|| p.to_path_buf());
        }
        let expand = |dir: &str| -> Option<PathBuf> {
            if dir.contains("$ORIGIN") || dir.contains("${ORIGIN}") {
                let origin = origin?.to_string_lossy().into_owned();
                Some(PathBuf::from(
                    dir.replace("${ORIGIN}", &origin)
                        .replace("$ORIGIN", &origin),
                ))
            } else if dir.starts_with('/') {
                Some(PathBuf::from(dir))
            } else {
                None
            }
        };
        let search = |dirs: &[String]| -> Option<PathBuf> {
            dirs.iter()
                .filter_map(|d| expand(d))
                .map(|d| d.join(soname))
                .find(|p| fits(p))
        };
        if info.runpath.is_empty()
            && let Some(p) = search(&info.rpath)
        {
            return Some(p);
        }
        if let Some(p) = search(&info.runpath) {
            return Some(p);
        }
        if let Some(p) = self
            .cache
            .iter()
            .filter(|e| e.soname == soname)
            .map(|e| e.path.clone())
            .find(|p| fits(p))
        {
            return Some(p);
        }
        self.default_dirs
            .iter()
            .map(|d| d.join(soname))
            .find(|p| fits(p))
    }
}

/// The Debian multiarch triplet of this machine (`x86_64-linux-gnu`, `aarch64-linux-gnu`,
/// `arm-linux-gnueabihf` …), if known.
pub fn multiarch_triplet() -> Option<String> {
    let t = match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "x86" => "i386-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "riscv64" => "riscv64-linux-gnu",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        _ => return None,
    };
    Some(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_elf_and_truncated() {
        assert!(parse_dynamic(b"hello").is_err());
        assert!(parse_dynamic(b"\x7fELF\x02\x01\x01").is_err());
        let mut junk = b"\x7fELF\x02\x01\x01\x00".to_vec();
        junk.resize(4096, 0xff);
        assert!(parse_dynamic(&junk).is_err());
    }

    #[test]
    fn ld_cache_garbage_is_none_or_empty() {
        assert!(parse_ld_cache(b"nonsense").is_none());
        let mut d = CACHE_MAGIC_NEW.to_vec();
        d.extend_from_slice(&u32::MAX.to_ne_bytes());
        // nlibs is huge but the data ends: no panic, no entries.
        assert_eq!(parse_ld_cache(&d).map(|v| v.len()), Some(0));
    }

    #[test]
    fn ld_cache_built_by_hand() {
        let mut d = CACHE_MAGIC_NEW.to_vec();
        d.extend_from_slice(&1u32.to_ne_bytes()); // nlibs
        d.extend_from_slice(&0u32.to_ne_bytes()); // len_strings
        d.resize(48, 0);
        let strings = 48 + 24;
        let key = strings as u32;
        let value = (strings + "libq.so.1\0".len()) as u32;
        d.extend_from_slice(&0x0303i32.to_ne_bytes());
        d.extend_from_slice(&key.to_ne_bytes());
        d.extend_from_slice(&value.to_ne_bytes());
        d.extend_from_slice(&[0; 12]);
        d.extend_from_slice(b"libq.so.1\0/opt/q/libq.so.1\0");
        let entries = parse_ld_cache(&d).unwrap();
        assert_eq!(
            entries,
            [CacheEntry {
                soname: "libq.so.1".into(),
                path: "/opt/q/libq.so.1".into()
            }]
        );
    }

    #[test]
    fn system_cache_knows_libc() {
        let Ok(data) = std::fs::read("/etc/ld.so.cache") else {
            eprintln!("SKIPPED system_cache_knows_libc: no /etc/ld.so.cache");
            return;
        };
        let entries = parse_ld_cache(&data).expect("this machine's cache parses");
        assert!(
            entries.iter().any(|e| e.soname == "libc.so.6"),
            "{entries:?}"
        );
    }
}
