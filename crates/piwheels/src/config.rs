//! Options from the command line, the environment and `piwheels.conf`, as every `piw-*`
//! tool of the original takes them.
//!
//! Any long option can also be given in a configuration file as `key = value` (or
//! `key: value`), the key being the option's long name without dashes (`dsn`,
//! `output-path`, or as the original's files spell it, `output_path`). Lines starting with `#` or `;` are comments, and `[section]` headers are
//! ignored (every tool sees every key), as are keys a tool does not know (a key piwheels
//! 0.23 took that ours dropped is reported once as a warning naming what replaces it: see
//! [`crate::legacy_options`]). A flag is set by
//! `true`, `yes`, `on` or `1`; a repeatable option takes several values separated by
//! commas or spaces.
//!
//! Files are read in order, later ones overriding earlier ones: `/etc/piwheels.conf`,
//! `/usr/local/etc/piwheels.conf`, `~/.config/piwheels/piwheels.conf`, then the one given
//! with `-c/--configuration`. The command line overrides the environment, which overrides
//! the files, which override the defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches};

use crate::legacy_options;

/// The configuration files read before any given with `-c`.
pub fn default_files() -> Vec<PathBuf> {
    let mut files = vec![
        PathBuf::from("/etc/piwheels.conf"),
        PathBuf::from("/usr/local/etc/piwheels.conf"),
    ];
    if let Some(home) = std::env::var_os("HOME") {
        files.push(Path::new(&home).join(".config/piwheels/piwheels.conf"));
    }
    files
}

/// Reads `key = value` lines (see the module docs). Later keys override earlier ones.
pub fn parse_file(text: &str, into: &mut BTreeMap<String, String>) {
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || line.starts_with('[')
        {
            continue;
        }
        let split = match (line.find('='), line.find(':')) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = split {
            // The original's files spell keys with `_` or `-` alike (`pypi_json`).
            let key = line[..at].trim().trim_start_matches("--").replace('_', "-");
            let value = line[at + 1..].trim();
            if !key.is_empty() {
                into.insert(key, value.to_owned());
            }
        }
    }
}

fn truthy(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

/// Parses a tool's options from `args`, taking what the command line and environment do
/// not give from the configuration `files` (those that exist) and the one named by the
/// tool's `configuration` option. Errors are clap's (usage, `--help`, `--version`), say
/// which configuration file could not be read, or name what replaces a piwheels 0.23
/// option ours no longer take (see [`crate::legacy_options`]). Warnings are dropped: see
/// [`try_parse_reporting`].
pub fn try_parse_from<T, I>(args: I, files: &[PathBuf]) -> Result<T, clap::Error>
where
    T: CommandFactory + FromArgMatches,
    I: IntoIterator,
    I::Item: Into<OsString> + Clone,
{
    try_parse_reporting(args, files).map(|parsed| parsed.opts)
}

/// A tool's options, and the warnings about the piwheels 0.23 options and configuration
/// keys it was given (see [`crate::legacy_options`]).
#[derive(Debug)]
pub struct Parsed<T> {
    /// The options.
    pub opts: T,
    /// One line each, to print as warnings (none with `-q/--quiet`).
    pub warnings: Vec<String>,
}

/// [`try_parse_from`], with the warnings: each piwheels 0.23 option given that ours ignore
/// or take with a difference, and each dropped 0.23 key of the configuration files (once,
/// whichever files hold it), unless `-q/--quiet` is given.
///
/// # Errors
///
/// As [`try_parse_from`].
pub fn try_parse_reporting<T, I>(args: I, files: &[PathBuf]) -> Result<Parsed<T>, clap::Error>
where
    T: CommandFactory + FromArgMatches,
    I: IntoIterator,
    I::Item: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let ours: BTreeSet<String> = T::command()
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    let mut cmd = legacy_options::augment(T::command());
    let first = cmd.try_get_matches_from_mut(&args)?;

    let mut values = BTreeMap::new();
    for file in files {
        if let Ok(text) = std::fs::read_to_string(file) {
            parse_file(&text, &mut values);
        }
    }
    let given = cmd
        .get_arguments()
        .any(|a| a.get_id() == "configuration")
        .then(|| first.get_one::<PathBuf>("configuration").cloned())
        .flatten();
    if let Some(file) = given {
        let text = std::fs::read_to_string(&file).map_err(|e| {
            cmd.error(
                clap::error::ErrorKind::Io,
                format!("cannot read the configuration file {}: {e}", file.display()),
            )
        })?;
        parse_file(&text, &mut values);
    }
    let mut warnings = legacy_options::conf_keys(&cmd, values.keys().map(String::as_str));

    let mut injected: Vec<OsString> = Vec::new();
    let mut bad = None;
    for arg in cmd.get_arguments() {
        if !ours.contains(arg.get_id().as_str()) {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        let Some(value) = values.get(long) else {
            continue;
        };
        let id = arg.get_id().as_str();
        if matches!(
            first.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        match arg.get_action() {
            ArgAction::SetTrue | ArgAction::Count => match truthy(value) {
                Some(true) => injected.push(format!("--{long}").into()),
                Some(false) => {}
                None => {
                    bad = Some(format!(
                        "configuration key {long} = {value}: expected true or false"
                    ))
                }
            },
            ArgAction::Append => {
                for v in value
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|v| !v.is_empty())
                {
                    injected.push(format!("--{long}={v}").into());
                }
            }
            ArgAction::Set => injected.push(format!("--{long}={value}").into()),
            _ => {}
        }
    }
    if let Some(why) = bad {
        return Err(cmd.error(clap::error::ErrorKind::InvalidValue, why));
    }
    let matches = if injected.is_empty() {
        first
    } else {
        let mut full = Vec::with_capacity(args.len() + injected.len());
        full.extend(args.first().cloned());
        full.extend(injected);
        full.extend(args.iter().skip(1).cloned());
        cmd.try_get_matches_from_mut(full)?
    };
    match legacy_options::command_line(&cmd, &matches) {
        Ok(more) => warnings.extend(more),
        Err(refused) => {
            return Err(cmd.error(clap::error::ErrorKind::UnknownArgument, refused));
        }
    }
    if matches!(matches.try_get_one::<bool>("quiet"), Ok(Some(true))) {
        warnings.clear();
    }
    Ok(Parsed {
        opts: T::from_arg_matches(&matches)?,
        warnings,
    })
}

/// [`try_parse_reporting`] on the process's arguments and the [`default_files`]: prints
/// its warnings (`warning: ...` on standard error), or on an error prints it and exits
/// (status 2 for usage errors, 0 for `--help` and `--version`).
pub fn parse<T: CommandFactory + FromArgMatches>() -> T {
    let parsed = try_parse_reporting::<T, _>(std::env::args_os(), &default_files())
        .unwrap_or_else(|e| e.exit());
    for warning in &parsed.warnings {
        eprintln!("warning: {warning}");
    }
    parsed.opts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    struct Opts {
        #[arg(short = 'c', long)]
        configuration: Option<PathBuf>,
        #[arg(short, long, default_value = "postgres:///piwheels")]
        dsn: String,
        #[arg(short, long)]
        yes: bool,
        #[arg(long = "target")]
        targets: Vec<String>,
        #[arg(long, env = "PIW_TEST_CONFIG_TIMEOUT", default_value = "3h")]
        timeout: String,
    }

    fn file(text: &str) -> (tempfile::NamedTempFile, PathBuf) {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        let p = f.path().to_path_buf();
        (f, p)
    }

    #[test]
    fn file_format() {
        let mut m = BTreeMap::new();
        parse_file(
            "# comment\n; comment\n[master]\ndsn = postgres://x/y\noutput-path: /var/www\n  yes=true\nnot a line\n",
            &mut m,
        );
        assert_eq!(m["dsn"], "postgres://x/y");
        assert_eq!(m["output-path"], "/var/www");
        assert_eq!(m["yes"], "true");
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn keys_with_underscores_as_the_original_spells_them() {
        #[derive(clap::Parser, Debug)]
        struct Master {
            #[arg(long = "pypi-json")]
            pypi_json: Option<String>,
            #[arg(long = "pypi-simple")]
            pypi_simple: Option<String>,
        }
        let (_f, conf) =
            file("[master]\npypi_json = http://u/pypi\npypi-simple = http://u/simple\n");
        let o: Master = try_parse_from(["t"], &[conf]).unwrap();
        assert_eq!(o.pypi_json.as_deref(), Some("http://u/pypi"));
        assert_eq!(o.pypi_simple.as_deref(), Some("http://u/simple"));
    }

    #[test]
    fn precedence_command_line_then_environment_then_files_then_defaults() {
        let (_a, first) =
            file("dsn = sqlite:/a.db\nyes = yes\ntarget = cp39/linux_armv7l, cp311/linux_armv7l\n");
        let (_b, second) = file("[slave]\ndsn = sqlite:/b.db\ntimeout = 5h\nunknown = ignored\n");
        let o: Opts = try_parse_from(["t"], &[first.clone(), second.clone()]).unwrap();
        assert_eq!(o.dsn, "sqlite:/b.db");
        assert!(o.yes);
        assert_eq!(o.targets, ["cp39/linux_armv7l", "cp311/linux_armv7l"]);
        assert_eq!(o.timeout, "5h");
        let o: Opts = try_parse_from(
            ["t", "--dsn", "sqlite:/c.db", "--target", "x/y"],
            std::slice::from_ref(&first),
        )
        .unwrap();
        assert_eq!(o.dsn, "sqlite:/c.db");
        assert_eq!(o.targets, ["x/y"]);
        let o: Opts = try_parse_from(["t"], &[]).unwrap();
        assert_eq!(
            (o.dsn.as_str(), o.yes, o.timeout.as_str()),
            ("postgres:///piwheels", false, "3h")
        );
        // -c comes last of the files.
        let (_c, third) = file("dsn = sqlite:/given.db\n");
        let c = third.to_str().unwrap();
        let o: Opts = try_parse_from(["t", "-c", c], &[first]).unwrap();
        assert_eq!(o.dsn, "sqlite:/given.db");
        let err =
            try_parse_from::<Opts, _>(["t", "-c", "/nonexistent/piwheels.conf"], &[]).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/piwheels.conf"),
            "{err}"
        );
        let (_d, bad) = file("yes = perhaps\n");
        assert!(try_parse_from::<Opts, _>(["t"], &[bad]).is_err());
    }
}
