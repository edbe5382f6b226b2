//! The audit's reports: text (one line a finding, then a summary) and JSON (one
//! document).
//!
//! The JSON document:
//!
//! ```text
//! {
//!   "output_path": "/var/www",
//!   "checks": ["packages", "files", "hashes", "links", "metadata", "logs"],
//!   "counts": {"packages": 2, "files": 3, "bytes_read": 123456, "builds": 3},
//!   "findings": [
//!     {"check": "hashes", "kind": "hash-mismatch", "path": "simple/foo/foo-1.0-py3-none-any.whl",
//!      "package": "foo", "build_id": 7, "detail": "SHA-256 …", "fixable": true,
//!      "outcome": "repaired", "outcome_detail": "build 7 deleted …"}
//!   ],
//!   "summary": {"findings": 1, "fixable": 1, "by_kind": {"hash-mismatch": 1}},
//!   "fix": null
//! }
//! ```
//!
//! `path` is relative to the output folder, escaped as [`escape`](super::escape) says;
//! `package` and `build_id` are there when a finding is about one. `outcome` (`repaired`,
//! `not-repairable` or `failed`) and `outcome_detail` are there only with `--fix`, and
//! `fix` is then `{"repaired": n, "failed": n, "not_repairable": n, "builds_deleted":
//! [ids], "rewrites_owed": [packages], "master": {"told": bool, "detail": text}}`.

use serde::Serialize;
use serde_json::{Value, json};

use super::{FixReport, Outcome, Report};

/// Whether a running master was told to write the owed pages again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MasterNote {
    /// It was told (and answered).
    pub told: bool,
    /// What happened, in words.
    pub detail: String,
}

/// The JSON document (see the module docs).
pub fn json(report: &Report, fixed: Option<(&FixReport, &MasterNote)>) -> String {
    let mut findings = Vec::with_capacity(report.findings.len());
    for (i, f) in report.findings.iter().enumerate() {
        let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
        if let (Some((fix, _)), Value::Object(map)) = (fixed, &mut v)
            && let Some(outcome) = fix.outcomes.get(i)
        {
            let (name, detail) = outcome_parts(outcome);
            map.insert("outcome".into(), name.into());
            map.insert("outcome_detail".into(), detail.into());
        }
        findings.push(v);
    }
    let fix = fixed.map(|(fix, master)| {
        json!({
            "repaired": fix.repaired(),
            "failed": fix.failed(),
            "not_repairable": fix.outcomes.iter().filter(|o| matches!(o, Outcome::NotRepairable(_))).count(),
            "builds_deleted": fix.builds_deleted,
            "rewrites_owed": fix.rewrites_owed,
            "master": master,
        })
    });
    let doc = json!({
        "output_path": report.output_path,
        "checks": report.checks,
        "counts": report.counts,
        "findings": findings,
        "summary": {
            "findings": report.findings.len(),
            "fixable": report.fixable(),
            "by_kind": report.by_kind(),
        },
        "fix": fix,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn outcome_parts(o: &Outcome) -> (&'static str, &str) {
    match o {
        Outcome::Repaired(d) => ("repaired", d),
        Outcome::NotRepairable(d) => ("not-repairable", d),
        Outcome::Failed(d) => ("failed", d),
    }
}

/// The text report: one line a finding (with its outcome after `--fix`), then a summary.
pub fn text(report: &Report, fixed: Option<(&FixReport, &MasterNote)>) -> String {
    let mut out = String::new();
    for (i, f) in report.findings.iter().enumerate() {
        out.push_str(&f.to_string());
        if let Some((fix, _)) = fixed
            && let Some(o) = fix.outcomes.get(i)
        {
            let (name, detail) = outcome_parts(o);
            out.push_str(&format!(" [{name}: {detail}]"));
        }
        out.push('\n');
    }
    let c = &report.counts;
    let looked = format!(
        "{} packages, {} files, {} builds; {} bytes of wheels read",
        c.packages, c.files, c.builds, c.bytes_read
    );
    if report.clean() {
        out.push_str(&format!("clean: nothing wrong ({looked})\n"));
    } else {
        let kinds: Vec<String> = report
            .by_kind()
            .into_iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        out.push_str(&format!(
            "{} findings, {} repairable ({}) in {looked}\n",
            report.findings.len(),
            report.fixable(),
            kinds.join(", ")
        ));
    }
    if let Some((fix, master)) = fixed {
        out.push_str(&format!(
            "fixed: {} repaired, {} failed; {} builds deleted (built again); pages owed for {} packages\n",
            fix.repaired(),
            fix.failed(),
            fix.builds_deleted.len(),
            fix.rewrites_owed.len()
        ));
        out.push_str(&format!("master: {}\n", master.detail));
    }
    out
}
