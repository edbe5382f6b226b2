//! Admin tools ↔ MrChase (IPC `/tmp/piw-import`; tool REQ → master ROUTER; piwheels.md §3.4):
//! `piw-import`, `piw-add`, `piw-remove` and `piw-rebuild`.

use chrono::{DateTime, Utc};

use crate::cbor::{Decoder, Encoder, Wire, WireError};
use crate::error::DataError;
use crate::message::Protocol;
use crate::states::BuildState;
use crate::{messages, wire_struct};

wire_struct! {
    /// `ADDPKG` data: add or update a package.
    pub struct AddPackage {
        /// Display name (canonicalised by the master).
        pub package: String,
        /// Description (empty: leave as is).
        pub description: String,
        /// Skip reason to set (empty: none).
        pub skip: String,
        /// Clear the skip reason.
        pub unskip: bool,
        /// Other names of the package.
        pub aliases: Vec<String>,
    }
}

wire_struct! {
    /// `ADDVER` data: add or update a version.
    pub struct AddVersion {
        /// Package name.
        pub package: String,
        /// Version.
        pub version: String,
        /// Skip reason to set (empty: none).
        pub skip: String,
        /// Clear the skip reason.
        pub unskip: bool,
        /// Release time.
        pub released: DateTime<Utc>,
        /// Mark yanked.
        pub yank: bool,
        /// Clear yanked.
        pub unyank: bool,
        /// Other names of the package.
        pub aliases: Vec<String>,
    }
}

wire_struct! {
    /// `REMPKG` data: remove a package, its builds, or skip it.
    pub struct RemovePackage {
        /// Package name.
        pub package: String,
        /// Remove only the builds.
        pub builds: bool,
        /// Skip reason (non-empty: skip instead of removing).
        pub skip: String,
    }
}

wire_struct! {
    /// `REMVER` data: remove a version, its builds, skip or yank it.
    pub struct RemoveVersion {
        /// Package name.
        pub package: String,
        /// Version.
        pub version: String,
        /// Remove only the builds.
        pub builds: bool,
        /// Skip reason (non-empty: skip instead of removing).
        pub skip: String,
        /// Mark yanked instead of removing.
        pub yank: bool,
    }
}

/// `REBUILD` data: which pages to write again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebuildTarget {
    /// `["HOME"]`: the homepage.
    Home,
    /// `["SEARCH"]`: the search index.
    Search,
    /// `["PROJECT", package | None]`: one project page, or all of them.
    Project(Option<String>),
    /// `["BOTH", package | None]`: one package's index and project pages, or all.
    Both(Option<String>),
}

impl Wire for RebuildTarget {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
        match self {
            RebuildTarget::Home | RebuildTarget::Search => {
                enc.array(1);
                enc.text(if *self == RebuildTarget::Home {
                    "HOME"
                } else {
                    "SEARCH"
                });
            }
            RebuildTarget::Project(p) | RebuildTarget::Both(p) => {
                enc.array(2);
                enc.text(if matches!(self, RebuildTarget::Project(_)) {
                    "PROJECT"
                } else {
                    "BOTH"
                });
                p.encode(enc)?;
            }
        }
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        const EXPECTED: &str =
            r#"["HOME"], ["SEARCH"], ["PROJECT", str|None] or ["BOTH", str|None]"#;
        let n = dec.array(EXPECTED)?;
        let mut items = 0;
        let mut next = |dec: &mut Decoder<'_>| -> Result<bool, WireError> {
            let more = match n {
                Some(n) => items < n,
                None => !dec.at_break()?,
            };
            items += 1;
            Ok(more)
        };
        if !next(dec)? {
            return Err(DataError::new(EXPECTED, "an empty sequence").into());
        }
        let what = dec.text().map_err(|e| e.at("[0]"))?;
        let target = match what.as_str() {
            "HOME" => RebuildTarget::Home,
            "SEARCH" => RebuildTarget::Search,
            "PROJECT" | "BOTH" => {
                if !next(dec)? {
                    return Err(DataError::new(EXPECTED, format!("[{what:?}]")).into());
                }
                let p = Option::<String>::decode(dec).map_err(|e| e.at("[1]"))?;
                if what == "PROJECT" {
                    RebuildTarget::Project(p)
                } else {
                    RebuildTarget::Both(p)
                }
            }
            other => {
                return Err(DataError::new(EXPECTED, crate::quote::quote(other))
                    .at("[0]")
                    .into());
            }
        };
        if next(dec)? {
            return Err(DataError::new(EXPECTED, "a longer sequence").into());
        }
        Ok(target)
    }
}

messages! {
    /// What the admin tools send MrChase.
    pub enum ImportRequest {
        data {
            /// Import a build made elsewhere (`piw-import`); files follow via `SEND`.
            "IMPORT" => Import(BuildState),
            /// Add or update a package (`piw-add`).
            "ADDPKG" => AddPackage(AddPackage),
            /// Add or update a version (`piw-add`).
            "ADDVER" => AddVersion(AddVersion),
            /// Remove or skip a package (`piw-remove`).
            "REMPKG" => RemovePackage(RemovePackage),
            /// Remove, skip or yank a version (`piw-remove`).
            "REMVER" => RemoveVersion(RemoveVersion),
            /// Write pages again (`piw-rebuild`).
            "REBUILD" => Rebuild(RebuildTarget),
        }
        bare {
            /// The file named in the last `SEND` has been transferred.
            "SENT" => Sent,
        }
    }
}

messages! {
    /// What MrChase answers.
    pub enum ImportReply {
        data {
            /// Upload this file (to the file-transfer socket, as slave id 0).
            "SEND" => Send(String),
            /// Done; the data says what was done (`IMPORT`, `NEWPKG`, `DELVER`, ...).
            "DONE" => Done(String),
            /// Refused, and why.
            "ERROR" => Error(String),
        }
        bare {}
    }
}

/// The import socket: tools send [`ImportRequest`]s, MrChase answers [`ImportReply`].
#[derive(Debug, Clone, Copy)]
pub struct ImportProtocol;

impl Protocol for ImportProtocol {
    type ToMaster = ImportRequest;
    type FromMaster = ImportReply;
}
