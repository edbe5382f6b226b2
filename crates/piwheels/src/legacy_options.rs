//! Every option of the original piwheels 0.23 tools (spec §8.2), and what ours make of it.
//!
//! An operator moving a farm from the original keeps their `piwheels.conf` files, systemd
//! units and scripts. [`TOOLS`] lists, per tool, each 0.23 option with its [`Fate`]:
//!
//! - [`Fate::Same`]: ours take it unchanged, on the command line and as a configuration
//!   key, with the same short and long names and the same meaning.
//! - [`Fate::Changed`]: ours take it, but it does not do all it did; a warning says what
//!   differs whenever it is given.
//! - [`Fate::Ignored`]: ours have nothing it could set, and ignoring it changes nothing
//!   the operator can see; a warning says so. Only the master's internal queues
//!   (`--web-queue`, `--builds-queue`, `--db-queue`, `--fs-queue`, `--stats-queue`) are
//!   ignored: they named `inproc://` sockets between the original's threads, which no other
//!   process could reach, and ours pass those messages inside the process.
//! - [`Fate::Refused`]: ours do it another way; ignoring it would silently do something
//!   else than asked (check less, or write no report file), so the command line is refused
//!   (exit 2) with a message naming the replacement.
//!
//! A configuration file is different: the original's files are shared by every tool (their
//! `[section]` headers are cosmetic), so a dropped key never stops a tool. Each dropped key
//! a tool does not know is reported once, as a warning naming its replacement; keys the
//! original never had are ignored silently, as before. [`crate::config::try_parse_reporting`]
//! applies all of this, by the tool's command name.
//!
//! Three tools of the original have no counterpart ([`Tool::replaced_by`]): `piw-sense`,
//! `piw-audit-packages` and `piw-audit-logs`. Their options are listed too, so that their
//! keys in a shared configuration file are reported with what replaces them.
//!
//! Differences that are not options: `piw-master`, `piw-initdb` and `piw-audit` default to
//! the SQLite database `sqlite:/var/lib/piwheels/piwheels.db` where the original defaulted
//! to `postgres:///piwheels` (set `dsn` as the original's documentation does); the admin
//! tools' and `piw-logger`'s wait for the master is `--master-timeout` (`--timeout` on the
//! command line still works), because the original's slaves read `timeout` (a build
//! timeout such as `3h`) from the same files; `piw-master --debug` patterns match our task
//! names (the original's without `master.`), and `master.seraph` and
//! `master.the_oracle_*` match nothing (ours have no database-worker threads);
//! `piw-logger --format` takes `combined` (and `nginx`): `common`, `common_vhost` and
//! LogFormat strings are refused at start, since they carry no User-Agent to classify
//! downloads by.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// What ours make of one 0.23 option (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Taken unchanged.
    Same,
    /// Taken, but it differs as the text says; warned about whenever it is given.
    Changed(&'static str),
    /// Ignored with a warning: the text says why that is harmless.
    Ignored(&'static str),
    /// Refused on the command line; in a configuration file, warned about. The text names
    /// the replacement.
    Refused(&'static str),
}

/// One option of a 0.23 tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyOption {
    /// The long name, without dashes (also the configuration key).
    pub long: &'static str,
    /// The short name, if it had one.
    pub short: Option<char>,
    /// Whether it takes a value (else it is a flag).
    pub takes_value: bool,
    /// The environment variable it is also read from, if any.
    pub env: Option<&'static str>,
    /// What ours make of it.
    pub fate: Fate,
}

/// Which of the original's common options a tool had (spec §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Common {
    /// `-c/--configuration`, `-q/--quiet`, `-v/--verbose`, `-l/--log-file`.
    Logging,
    /// Only `-c/--configuration` (`piw-monitor`, `piw-sense`).
    ConfigurationOnly,
}

/// One tool of piwheels 0.23.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// Its command name (`piw-master`).
    pub name: &'static str,
    /// `None` when ours has a tool of that name; else what replaces it.
    pub replaced_by: Option<&'static str>,
    /// Which common options it had.
    pub common: Common,
    /// Its own options (positional arguments are not listed).
    pub options: &'static [LegacyOption],
}

const fn same(long: &'static str, short: Option<char>, takes_value: bool) -> LegacyOption {
    LegacyOption {
        long,
        short,
        takes_value,
        env: None,
        fate: Fate::Same,
    }
}

const fn with(
    long: &'static str,
    short: Option<char>,
    takes_value: bool,
    fate: Fate,
) -> LegacyOption {
    LegacyOption {
        long,
        short,
        takes_value,
        env: None,
        fate,
    }
}

/// The common options of every tool but `piw-monitor` and `piw-sense` (`--version` aside).
pub const COMMON: &[LegacyOption] = &[
    same("configuration", Some('c'), true),
    same("quiet", Some('q'), false),
    same("verbose", Some('v'), false),
    same("log-file", Some('l'), true),
];

const INTERNAL_QUEUE: Fate = Fate::Ignored(
    "it named a socket between the original master's threads (inproc://, which no other \
     process could reach); this master passes those messages inside the process, so there \
     is nothing to set",
);

const AUDIT_MISSING: Fate = Fate::Refused(
    "use --check packages,files (missing package folders, pages and wheels); --fix repairs \
     what it can",
);
const AUDIT_EXTRA: Fate = Fate::Refused(
    "use --check packages,files (folders and files the database does not account for); \
     --fix removes them after asking",
);
const AUDIT_BROKEN: Fate = Fate::Refused(
    "use --check links (alias links missing, broken or pointing elsewhere); --fix makes \
     them again",
);
const AUDIT_FILE: Fate = Fate::Refused(
    "piw-audit writes no list files: use --json, which prints every finding with its path, \
     and redirect it to a file",
);
const AUDIT_DELETE: Fate = Fate::Refused(
    "use piw-audit --fix, which removes what the database does not account for (after \
     asking, or with -y)",
);

/// Every 0.23 tool, in the order of spec §8.2.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "piw-master",
        replaced_by: None,
        common: Common::Logging,
        options: &[
            same("dsn", Some('d'), true),
            same("output-path", Some('o'), true),
            with(
                "dev-mode",
                None,
                false,
                Fate::Changed(
                    "--dev-mode holds page rewrites for 3 s and logs debug messages, but no \
                     longer skips every new package; to build only some projects, use \
                     --follow PROJECT",
                ),
            ),
            same("debug", None, true),
            same("pypi-xmlrpc", None, true),
            same("pypi-simple", None, true),
            same("pypi-json", None, true),
            same("status-queue", None, true),
            same("control-queue", None, true),
            same("import-queue", None, true),
            same("log-queue", None, true),
            same("slave-queue", None, true),
            same("file-queue", None, true),
            with("web-queue", None, true, INTERNAL_QUEUE),
            with("builds-queue", None, true, INTERNAL_QUEUE),
            with("db-queue", None, true, INTERNAL_QUEUE),
            with("fs-queue", None, true, INTERNAL_QUEUE),
            with("stats-queue", None, true, INTERNAL_QUEUE),
        ],
    },
    Tool {
        name: "piw-slave",
        replaced_by: None,
        common: Common::Logging,
        options: &[
            LegacyOption {
                env: Some("PIW_MASTER"),
                ..same("master", Some('m'), true)
            },
            LegacyOption {
                env: Some("PIW_TIMEOUT"),
                ..same("timeout", Some('t'), true)
            },
            same("dir", Some('d'), true),
            same("label", Some('L'), true),
            same("debug", None, false),
        ],
    },
    Tool {
        name: "piw-initdb",
        replaced_by: None,
        common: Common::Logging,
        options: &[
            same("dsn", Some('d'), true),
            same("user", Some('u'), true),
            same("yes", Some('y'), false),
            same("debug", None, false),
        ],
    },
    Tool {
        name: "piw-import",
        replaced_by: None,
        common: Common::Logging,
        options: &[
            same("package", None, true),
            same("package-version", None, true),
            same("abi", None, true),
            same("duration", None, true),
            same("output", None, true),
            same("dependencies", None, true),
            same("yes", Some('y'), false),
            same("delete", Some('d'), false),
            same("import-queue", None, true),
        ],
    },
    Tool {
        name: "piw-add",
        replaced_by: None,
        common: Common::Logging,
        options: &[
            same("yes", Some('y'), false),
            same("skip", Some('s'), true),
            same("unskip", None, false),
            same("description", Some('d'), true),
            same("alias", Some('a'), true),
            same("released", Some('r'), true),
            same("yank", None, false),
            same("unyank", None, false),
            same("import-queue", None, true),
        ],
    },
    Tool {
        name: "piw-remove",
        replaced_by: None,
        common: Common::Logging,
        options: &[
            same("yes", Some('y'), false),
            same("builds", Some('b'), false),
            same("skip", Some('s'), true),
            same("yank", None, false),
            same("import-queue", None, true),
        ],
    },
    Tool {
        name: "piw-rebuild",
        replaced_by: None,
        common: Common::Logging,
        options: &[
            same("yes", Some('y'), false),
            same("import-queue", None, true),
        ],
    },
    Tool {
        name: "piw-monitor",
        replaced_by: None,
        common: Common::ConfigurationOnly,
        options: &[
            same("status-queue", None, true),
            same("control-queue", None, true),
        ],
    },
    Tool {
        name: "piw-sense",
        replaced_by: Some(
            "there is no Sense HAT interface: watch and steer the master with piw-monitor \
             (its --watch prints one line per change, for a log or a small display)",
        ),
        common: Common::ConfigurationOnly,
        options: &[
            same("status-queue", None, true),
            same("control-queue", None, true),
            with(
                "rotate",
                Some('r'),
                true,
                Fate::Refused("piw-sense is not provided; piw-monitor has no display to rotate"),
            ),
        ],
    },
    Tool {
        name: "piw-logger",
        replaced_by: None,
        common: Common::Logging,
        options: &[
            same("format", None, true),
            same("log-queue", None, true),
            same("drop", None, false),
        ],
    },
    Tool {
        name: "piw-audit",
        replaced_by: None,
        common: Common::Logging,
        options: &[
            same("dsn", Some('d'), true),
            same("output-path", Some('o'), true),
            with("missing", Some('m'), false, AUDIT_MISSING),
            with("missing-file", None, true, AUDIT_FILE),
            with("extra", Some('e'), false, AUDIT_EXTRA),
            with("extra-file", None, true, AUDIT_FILE),
            with("broken-symlinks", Some('b'), false, AUDIT_BROKEN),
            with("broken-file", None, true, AUDIT_FILE),
        ],
    },
    Tool {
        name: "piw-audit-packages",
        replaced_by: Some(
            "use piw-audit: --check packages,files,hashes,links compares the packages' \
             folders, wheels and hashes with the database, and --fix repairs them",
        ),
        common: Common::Logging,
        options: &[
            same("dsn", Some('d'), true),
            same("output-path", Some('o'), true),
            with(
                "hashes",
                None,
                false,
                Fate::Refused("use piw-audit --check hashes"),
            ),
            with("extra-file", None, true, AUDIT_FILE),
            with("missing-file", None, true, AUDIT_FILE),
            with("broken-file", None, true, AUDIT_FILE),
            with(
                "ensure-project-symlinks",
                None,
                false,
                Fate::Refused("use piw-audit --check links --fix, which makes missing alias links"),
            ),
            with("delete-extras", None, false, AUDIT_DELETE),
            with(
                "archive-dir",
                None,
                true,
                Fate::Refused(
                    "no longer needed: every wheel lives under the output path (files the \
                     original kept on an archive server must be copied there)",
                ),
            ),
        ],
    },
    Tool {
        name: "piw-audit-logs",
        replaced_by: Some(
            "use piw-audit --check logs: build logs missing or extra, and --fix to remove the \
             extra ones",
        ),
        common: Common::Logging,
        options: &[
            same("dsn", Some('d'), true),
            same("output-path", Some('o'), true),
            with("extra-file", None, true, AUDIT_FILE),
            with(
                "missing",
                Some('m'),
                true,
                Fate::Refused("use piw-audit --check logs --json, redirected to a file"),
            ),
            with("missing-file", None, true, AUDIT_FILE),
            with("delete-extras", None, false, AUDIT_DELETE),
        ],
    },
];

/// The 0.23 tool of this name, if there was one.
pub fn tool(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

impl Tool {
    /// Its common options and its own, in that order.
    pub fn all_options(&self) -> impl Iterator<Item = &'static LegacyOption> + use<> {
        let common: &'static [LegacyOption] = match self.common {
            Common::Logging => COMMON,
            Common::ConfigurationOnly => &COMMON[..1],
        };
        common.iter().chain(self.options.iter())
    }
}

/// The message for `option` of `tool` whose fate is not [`Fate::Same`].
fn message(tool: &str, option: &LegacyOption) -> Option<String> {
    let (what, text) = match option.fate {
        Fate::Same => return None,
        Fate::Changed(text) => return Some(format!("{tool}: {text}")),
        Fate::Ignored(text) => ("is ignored", text),
        Fate::Refused(text) => ("is no longer taken", text),
    };
    let short = option.short.map(|c| format!("-{c}/")).unwrap_or_default();
    Some(format!(
        "{tool}: piwheels 0.23's {short}--{} {what}: {text}",
        option.long
    ))
}

/// Adds to `cmd` (a tool of ours) a hidden argument for each of its 0.23 options that are
/// [ignored](Fate::Ignored) or [refused](Fate::Refused), so that they parse (see
/// [`command_line`]). A name ours use for something else is left to ours.
pub fn augment(mut cmd: Command) -> Command {
    let Some(tool) = tool(cmd.get_name()) else {
        return cmd;
    };
    for option in tool.options {
        if !matches!(option.fate, Fate::Ignored(_) | Fate::Refused(_)) {
            continue;
        }
        let taken = cmd.get_arguments().any(|a| {
            a.get_id() == option.long
                || a.get_long() == Some(option.long)
                || a.get_all_aliases()
                    .is_some_and(|aliases| aliases.contains(&option.long))
                || option.short.is_some() && a.get_short() == option.short
        });
        if taken {
            continue;
        }
        let mut arg =
            Arg::new(option.long)
                .long(option.long)
                .hide(true)
                .action(if option.takes_value {
                    ArgAction::Append
                } else {
                    ArgAction::Count
                });
        if let Some(short) = option.short {
            arg = arg.short(short);
        }
        cmd = cmd.arg(arg);
    }
    cmd
}

/// A 0.23 option given on the command line that ours refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// After parsing with an [`augment`]ed command: the warnings for the 0.23 options given on
/// the command line (or the environment, or injected from a configuration file) that are
/// ignored or changed.
///
/// # Errors
///
/// [`Refused`] for the first refused option given.
pub fn command_line(cmd: &Command, matches: &ArgMatches) -> Result<Vec<String>, Refused> {
    let Some(tool) = tool(cmd.get_name()) else {
        return Ok(Vec::new());
    };
    let mut warnings = Vec::new();
    for option in tool.options {
        let given = |id: &str| {
            matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        };
        match option.fate {
            Fate::Same => {}
            Fate::Changed(_) => {
                let ours = cmd
                    .get_arguments()
                    .find(|a| a.get_long() == Some(option.long));
                if ours.is_some_and(|a| given(a.get_id().as_str())) {
                    warnings.extend(message(tool.name, option));
                }
            }
            Fate::Ignored(_) | Fate::Refused(_) => {
                let hidden = cmd
                    .get_arguments()
                    .any(|a| a.get_id() == option.long && a.is_hide_set());
                if !hidden || !given(option.long) {
                    continue;
                }
                let text = message(tool.name, option).unwrap_or_default();
                if matches!(option.fate, Fate::Refused(_)) {
                    return Err(Refused(text));
                }
                warnings.push(text);
            }
        }
    }
    Ok(warnings)
}

/// The warnings for the keys of a configuration file: one for each key some 0.23 tool took
/// that ours dropped, unless `cmd` (a tool of ours) takes it. Other keys give none.
pub fn conf_keys<'k>(cmd: &Command, keys: impl IntoIterator<Item = &'k str>) -> Vec<String> {
    let mut warnings = Vec::new();
    for key in keys {
        if cmd
            .get_arguments()
            .any(|a| a.get_long() == Some(key) && !a.is_hide_set())
        {
            continue;
        }
        // This tool's own entry first, then the first other tool's.
        let own = tool(cmd.get_name()).into_iter();
        let found = own
            .chain(TOOLS.iter())
            .flat_map(|t| t.options.iter().map(move |o| (t, o)))
            .find(|(_, o)| o.long == key && matches!(o.fate, Fate::Ignored(_) | Fate::Refused(_)));
        if let Some((tool, option)) = found {
            let (Fate::Ignored(text) | Fate::Refused(text)) = option.fate else {
                continue;
            };
            let gone = match tool.replaced_by {
                Some(_) => format!(" ({} is not provided)", tool.name),
                None => String::new(),
            };
            warnings.push(format!(
                "configuration key {key} (piwheels 0.23's {}{gone}) is ignored: {text}",
                tool.name
            ));
        }
    }
    warnings
}

/// How `cmd` (a tool of ours) differs from its 0.23 namesake in the options that should
/// carry over ([`Fate::Same`] and [`Fate::Changed`]): each one missing, or with another
/// short name, or a flag where a value was taken (or the reverse), or not read from its
/// environment variable. Empty when everything carries over; a tool the original did not
/// have has nothing to differ in.
pub fn mismatches(cmd: &Command) -> Vec<String> {
    let Some(tool) = tool(cmd.get_name()) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for option in tool.all_options() {
        if !matches!(option.fate, Fate::Same | Fate::Changed(_)) {
            continue;
        }
        let ours = cmd.get_arguments().find(|a| {
            !a.is_hide_set()
                && (a.get_long() == Some(option.long)
                    || a.get_all_aliases()
                        .is_some_and(|aliases| aliases.contains(&option.long)))
        });
        let Some(ours) = ours else {
            found.push(format!("{}: --{} is missing", tool.name, option.long));
            continue;
        };
        if ours.get_short() != option.short {
            found.push(format!(
                "{}: --{} has the short name {:?}, 0.23's {:?}",
                tool.name,
                option.long,
                ours.get_short(),
                option.short
            ));
        }
        let takes_value = matches!(ours.get_action(), ArgAction::Set | ArgAction::Append);
        if takes_value != option.takes_value {
            found.push(format!(
                "{}: --{} {} a value, 0.23's {}",
                tool.name,
                option.long,
                if takes_value { "takes" } else { "takes no" },
                if option.takes_value { "did" } else { "did not" }
            ));
        }
        let env = ours.get_env().and_then(|e| e.to_str());
        if env != option.env {
            found.push(format!(
                "{}: --{} is read from {env:?}, 0.23's from {:?}",
                tool.name, option.long, option.env
            ));
        }
    }
    found
}

/// For the admin tools' tests: an original `piwheels.conf` shared with a slave holds
/// `timeout = 3h` (the build timeout). That key is not an admin tool's wait for the master
/// (`master-timeout`, which `--timeout` still sets on the command line), so it must change
/// nothing and warn of nothing. `conf` is a file the test may write (in its own temporary
/// folder), `args` the tool's command line without options, `timeout` reads the parsed wait.
///
/// # Panics
///
/// When the tool takes the slave's key, ignores `master-timeout` or `--timeout`, or warns.
#[doc(hidden)]
pub fn assert_slave_timeout_left_to_the_slave<T>(
    conf: &std::path::Path,
    args: &[&str],
    timeout: fn(&T) -> u64,
) where
    T: clap::CommandFactory + clap::FromArgMatches,
{
    use crate::config::{try_parse_from, try_parse_reporting};
    let conf = conf.to_path_buf();
    let write = |text: &str| std::fs::write(&conf, text).expect("the conf file written");
    write("[slave]\nmaster = m\ntimeout = 3h\n");
    let shared = try_parse_reporting::<T, _>(args, std::slice::from_ref(&conf)).unwrap();
    assert_eq!(shared.warnings, Vec::<String>::new());
    let default = try_parse_from::<T, _>(args, &[]).unwrap();
    assert_eq!(timeout(&shared.opts), timeout(&default));
    write("timeout = 3h\nmaster_timeout = 7\n");
    let own = try_parse_from::<T, _>(args, std::slice::from_ref(&conf)).unwrap();
    assert_eq!(timeout(&own), 7);
    let mut line = args.to_vec();
    line.extend(["--timeout", "9"]);
    let given = try_parse_from::<T, _>(line, std::slice::from_ref(&conf)).unwrap();
    assert_eq!(timeout(&given), 9);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_once_and_every_option_once_per_tool() {
        let mut names: Vec<_> = TOOLS.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TOOLS.len());
        for tool in TOOLS {
            let mut longs: Vec<_> = tool.all_options().map(|o| o.long).collect();
            longs.sort_unstable();
            longs.dedup();
            assert_eq!(longs.len(), tool.all_options().count(), "{}", tool.name);
        }
        assert_eq!(TOOLS.iter().filter(|t| t.replaced_by.is_some()).count(), 3);
    }

    #[test]
    fn a_dropped_key_names_its_replacement_and_other_keys_say_nothing() {
        let cmd = Command::new("piw-slave").arg(Arg::new("master").long("master"));
        let warnings = conf_keys(
            &cmd,
            ["web-queue", "master", "rotate", "pypi-simple", "nonsense"],
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("web-queue") && warnings[0].contains("inside the process"));
        assert!(
            warnings[1].contains("piw-sense is not provided"),
            "{warnings:?}"
        );
    }
}
