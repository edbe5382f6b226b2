//! Download figures as people read them on the pages.

/// A count with thousands separators: `1,234,567` (`-` first for a negative one, which
/// no count should be).
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One row of the homepage's most downloaded projects: the canonical name and its
/// downloads in the last 30 days, formatted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopProject {
    /// The canonical name (the link is `/project/<name>/`).
    pub name: String,
    /// Its downloads in the last 30 days, with thousands separators.
    pub downloads: String,
}

impl TopProject {
    /// A row from the database's `(package, downloads)`.
    pub fn new((name, downloads): (String, i64)) -> TopProject {
        TopProject {
            name,
            downloads: thousands(downloads),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(123_456), "123,456");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1234), "-1,234");
        assert_eq!(thousands(i64::MIN), "-9,223,372,036,854,775,808");
    }
}
