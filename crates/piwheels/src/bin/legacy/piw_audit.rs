//! piw-audit takes piwheels 0.23's options and `piwheels.conf` (see
//! `piwheels::legacy_options`).

use super::*;
use clap::CommandFactory;
use piwheels::config::{try_parse_from, try_parse_reporting};
use piwheels::legacy_options::mismatches;
use piwheels::legacy_options::{Fate, tool};

#[test]
fn every_0_23_option_carries_over() {
    assert_eq!(mismatches(&Opts::command()), Vec::<String>::new());
    let o: Opts = try_parse_from(
        [
            "piw-audit",
            "-c",
            "/dev/null",
            "-v",
            "-l",
            "/tmp/a.log",
            "-d",
            "postgres://h/db",
            "-o",
            "/srv/www",
        ],
        &[],
    )
    .unwrap();
    assert!(o.common.verbose);
    assert_eq!(
        (o.dsn.as_str(), o.output_path.as_path()),
        ("postgres://h/db", std::path::Path::new("/srv/www"))
    );
}

/// Each of the original's report options is refused on the command line (a usage error)
/// with its replacement named, by its long name and its short one; in a configuration
/// file it is reported and the audit goes on.
#[test]
fn the_originals_report_options_name_their_replacements() {
    let audit = tool("piw-audit").unwrap();
    let mut refused = 0;
    for option in audit.options {
        let Fate::Refused(replacement) = option.fate else {
            continue;
        };
        let mut spellings = vec![format!("--{}", option.long)];
        spellings.extend(option.short.map(|c| format!("-{c}")));
        for spelling in spellings {
            let mut args = vec!["piw-audit".to_owned(), spelling.clone()];
            if option.takes_value {
                args.push("/tmp/report.txt".to_owned());
            }
            let err = try_parse_from::<Opts, _>(&args, &[]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{spelling}");
            let text = err.to_string();
            assert!(
                text.contains(&format!("--{}", option.long)) && text.contains(replacement),
                "{spelling}: {text}"
            );
            refused += 1;
        }
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("piwheels.conf");
        let value = if option.takes_value {
            "/tmp/report.txt"
        } else {
            "true"
        };
        std::fs::write(&conf, format!("{} = {value}\n", option.long)).unwrap();
        let p = try_parse_reporting::<Opts, _>(["piw-audit"], &[conf]).unwrap();
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains(replacement), "{:?}", p.warnings);
    }
    assert_eq!(refused, 9);
    // Clusters of short flags too.
    let err = try_parse_from::<Opts, _>(["piw-audit", "-me"], &[]).unwrap_err();
    assert!(err.to_string().contains("--missing"), "{err}");
}

/// The keys of piw-audit-packages and piw-audit-logs (not provided) in a shared file are
/// reported with what replaces them.
#[test]
fn the_missing_audit_tools_keys_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("piwheels.conf");
    std::fs::write(
        &conf,
        "hashes = true\narchive-dir = /mnt/archive\ndelete_extras = yes\n",
    )
    .unwrap();
    let p = try_parse_reporting::<Opts, _>(["piw-audit"], &[conf]).unwrap();
    assert_eq!(p.warnings.len(), 3, "{:?}", p.warnings);
    assert!(
        p.warnings[0].contains("archive-dir")
            && p.warnings[0].contains("piw-audit-packages is not provided"),
        "{:?}",
        p.warnings
    );
    assert!(
        p.warnings[1].contains("delete-extras") && p.warnings[1].contains("--fix"),
        "{:?}",
        p.warnings
    );
    assert!(
        p.warnings[2].contains("hashes") && p.warnings[2].contains("--check hashes"),
        "{:?}",
        p.warnings
    );
}
