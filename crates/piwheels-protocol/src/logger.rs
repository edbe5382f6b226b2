//! `piw-logger` → Lumberjack (IPC `/tmp/piw-logger`; PUSH → PULL; no replies; piwheels.md §3.5).

use chrono::{DateTime, Utc};

use crate::message::{NoMessage, Protocol};
use crate::{messages, wire_struct};

wire_struct! {
    /// A wheel download (`LOGDOWNLOAD`), with what pip's User-Agent told about the client.
    pub struct DownloadState {
        /// The wheel's file name.
        pub filename: String,
        /// Client IP address, as text.
        pub host: String,
        /// When.
        pub timestamp: DateTime<Utc>,
        /// CPU architecture.
        pub arch: Option<String>,
        /// Distribution name.
        pub distro_name: Option<String>,
        /// Distribution version.
        pub distro_version: Option<String>,
        /// OS name.
        pub os_name: Option<String>,
        /// OS version.
        pub os_version: Option<String>,
        /// Python implementation.
        pub py_name: Option<String>,
        /// Python version.
        pub py_version: Option<String>,
        /// Installer name (pip, uv, ...).
        pub installer_name: Option<String>,
        /// Installer version.
        pub installer_version: Option<String>,
        /// setuptools version.
        pub setuptools_version: Option<String>,
    }
}

wire_struct! {
    /// A pip index lookup (`LOGSEARCH`): same shape as a download, for a package.
    pub struct SearchState {
        /// The package looked up (canonicalised).
        pub package: String,
        /// Client IP address, as text.
        pub host: String,
        /// When.
        pub timestamp: DateTime<Utc>,
        /// CPU architecture.
        pub arch: Option<String>,
        /// Distribution name.
        pub distro_name: Option<String>,
        /// Distribution version.
        pub distro_version: Option<String>,
        /// OS name.
        pub os_name: Option<String>,
        /// OS version.
        pub os_version: Option<String>,
        /// Python implementation.
        pub py_name: Option<String>,
        /// Python version.
        pub py_version: Option<String>,
        /// Installer name.
        pub installer_name: Option<String>,
        /// Installer version.
        pub installer_version: Option<String>,
        /// setuptools version.
        pub setuptools_version: Option<String>,
    }
}

wire_struct! {
    /// A project page or project JSON hit (`LOGPROJECT`, `LOGJSON`).
    pub struct ProjectHit {
        /// The package.
        pub package: String,
        /// Client IP address, as text.
        pub host: String,
        /// When.
        pub timestamp: DateTime<Utc>,
        /// The User-Agent's product token.
        pub user_agent: String,
    }
}

wire_struct! {
    /// A hit on another page (`LOGPAGE`), e.g. `home`, `faq`.
    pub struct PageHit {
        /// The page name.
        pub page: String,
        /// Client IP address, as text.
        pub host: String,
        /// When.
        pub timestamp: DateTime<Utc>,
        /// The User-Agent's product token.
        pub user_agent: String,
    }
}

messages! {
    /// What `piw-logger` pushes to Lumberjack.
    pub enum LogMessage {
        data {
            /// A wheel download.
            "LOGDOWNLOAD" => Download(DownloadState),
            /// A pip index lookup.
            "LOGSEARCH" => Search(SearchState),
            /// A project page hit.
            "LOGPROJECT" => Project(ProjectHit),
            /// A project JSON hit.
            "LOGJSON" => Json(ProjectHit),
            /// Another page's hit.
            "LOGPAGE" => Page(PageHit),
        }
        bare {}
    }
}

/// The log socket: `piw-logger` pushes [`LogMessage`]s; nothing comes back.
#[derive(Debug, Clone, Copy)]
pub struct LoggerProtocol;

impl Protocol for LoggerProtocol {
    type ToMaster = LogMessage;
    type FromMaster = NoMessage;
}
