//! The nine statistics a slave sends with `IDLE` and `BUSY` (piwheels.md §3.1): the build
//! directory's filesystem, memory and swap, the 1-minute load and the CPU temperature.

use std::path::Path;

use chrono::Utc;
use piwheels_protocol::slave::SlaveStats;

/// Takes a sample now. Anything that cannot be read counts as 0 (and the temperature as
/// 0.0 where the machine has no thermal zone).
pub fn sample(build_dir: &Path) -> SlaveStats {
    let (disk_size, disk_free) = disk(build_dir).unwrap_or((0, 0));
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| meminfo_field(&mem, name).unwrap_or(0);
    SlaveStats {
        timestamp: Utc::now(),
        disk_size,
        disk_free,
        mem_size: field("MemTotal"),
        mem_free: field("MemAvailable"),
        swap_size: field("SwapTotal"),
        swap_free: field("SwapFree"),
        load_average: load_average().unwrap_or(0.0),
        cpu_temp: cpu_temperature().unwrap_or(0.0),
    }
}

fn disk(dir: &Path) -> Option<(i64, i64)> {
    let st = rustix::fs::statvfs(dir).ok()?;
    let frsize = st.f_frsize;
    let size = st.f_blocks.checked_mul(frsize)?;
    let free = st.f_bavail.checked_mul(frsize)?;
    Some((i64::try_from(size).ok()?, i64::try_from(free).ok()?))
}

/// A `/proc/meminfo` field in bytes (the file gives kB).
pub fn meminfo_field(text: &str, name: &str) -> Option<i64> {
    text.lines().find_map(|line| {
        let (key, rest) = line.split_once(':')?;
        if key.trim() != name {
            return None;
        }
        let mut parts = rest.split_whitespace();
        let n: i64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") => n.checked_mul(1024),
            None => Some(n),
            Some(_) => None,
        }
    })
}

/// The 1-minute load average, from `/proc/loadavg`.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The CPU's temperature in °C: the first thermal zone whose type names the CPU (`cpu`,
/// `x86_pkg_temp`, `soc`), else the first zone; `None` if there is none.
pub fn cpu_temperature() -> Option<f64> {
    let mut zones: Vec<_> = std::fs::read_dir("/sys/class/thermal")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("thermal_zone"))
        })
        .collect();
    zones.sort();
    let read = |p: &Path| -> Option<f64> {
        let milli: f64 = std::fs::read_to_string(p.join("temp"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(milli / 1000.0)
    };
    let cpu_like = zones.iter().find(|z| {
        std::fs::read_to_string(z.join("type")).is_ok_and(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("cpu") || t.contains("x86_pkg") || t.contains("soc")
        })
    });
    cpu_like
        .and_then(|z| read(z))
        .or_else(|| zones.iter().find_map(|z| read(z)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let t = "MemTotal:       16384 kB\nMemAvailable:    1024 kB\nHugePages_Total: 0\n";
        assert_eq!(meminfo_field(t, "MemTotal"), Some(16384 * 1024));
        assert_eq!(meminfo_field(t, "MemAvailable"), Some(1024 * 1024));
        assert_eq!(meminfo_field(t, "HugePages_Total"), Some(0));
        assert_eq!(meminfo_field(t, "Mem"), None);
    }

    #[test]
    fn a_real_sample() {
        let s = sample(Path::new("/"));
        assert!(s.disk_size > 0 && s.disk_free <= s.disk_size);
        assert!(s.mem_size > 0 && s.mem_free <= s.mem_size);
        assert!(s.swap_free <= s.swap_size);
        assert!(s.load_average >= 0.0);
    }
}
