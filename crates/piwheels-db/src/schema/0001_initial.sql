-- piwheels schema version 1, for both backends. The words in braces are the types that
-- differ (see render() in mod.rs): on PostgreSQL, TIMESTAMP (UTC), BOOLEAN, BIGINT and
-- INET; on SQLite, integers (times in microseconds since the epoch) and text. Durations are
-- integer microseconds on both. Lengths are CHECKed so both backends refuse the same values.

CREATE TABLE configuration (
    id              {BIGINT} NOT NULL PRIMARY KEY CHECK (id = 1),
    software        TEXT NOT NULL CHECK (software = 'piwheels-rs'),
    version         {BIGINT} NOT NULL,
    upstream_serial {BIGINT} NOT NULL DEFAULT 0
);
INSERT INTO configuration (id, software, version, upstream_serial) VALUES (1, 'piwheels-rs', 1, 0);

-- Packages by canonical (PEP 503) name.
CREATE TABLE packages (
    package     TEXT NOT NULL PRIMARY KEY CHECK (length(package) BETWEEN 1 AND 200),
    skip        TEXT NOT NULL DEFAULT '' CHECK (length(skip) <= 100),
    description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 200)
){WITHOUT_ROWID};

-- Every spelling of a package's name seen upstream; the most recently seen is the display
-- name.
CREATE TABLE package_names (
    name    TEXT NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 200),
    package TEXT NOT NULL REFERENCES packages (package) ON DELETE CASCADE,
    seen    {TIMESTAMP} NOT NULL
){WITHOUT_ROWID};
CREATE INDEX package_names_package ON package_names (package, seen);

CREATE TABLE versions (
    package  TEXT NOT NULL REFERENCES packages (package) ON DELETE CASCADE,
    version  TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 200),
    released {TIMESTAMP} NOT NULL,
    skip     TEXT NOT NULL DEFAULT '' CHECK (length(skip) <= 100),
    yanked   {BOOLEAN} NOT NULL DEFAULT {FALSE},
    PRIMARY KEY (package, version)
){WITHOUT_ROWID};
CREATE INDEX versions_released ON versions (released);

-- What the farm builds for: (ABI, platform) pairs.
CREATE TABLE build_targets (
    abi_tag      TEXT NOT NULL CHECK (length(abi_tag) BETWEEN 1 AND 100 AND abi_tag NOT IN ('none', 'abi3')),
    platform_tag TEXT NOT NULL CHECK (length(platform_tag) BETWEEN 1 AND 100 AND platform_tag <> 'any'),
    skip         TEXT NOT NULL DEFAULT '' CHECK (length(skip) <= 100),
    PRIMARY KEY (abi_tag, platform_tag)
){WITHOUT_ROWID};

-- A build id is never reused (build logs are files named after it).
CREATE TABLE builds (
    build_id     {BUILD_ID},
    package      TEXT NOT NULL,
    version      TEXT NOT NULL,
    built_by     {BIGINT} NOT NULL CHECK (built_by >= 0),
    built_at     {TIMESTAMP} NOT NULL,
    duration_us  {BIGINT} NOT NULL CHECK (duration_us >= 0),
    status       {BOOLEAN} NOT NULL,
    abi_tag      TEXT NOT NULL CHECK (length(abi_tag) BETWEEN 1 AND 100),
    platform_tag TEXT NOT NULL CHECK (length(platform_tag) BETWEEN 1 AND 100),
    FOREIGN KEY (package, version) REFERENCES versions (package, version) ON DELETE CASCADE
);
CREATE INDEX builds_version ON builds (package, version);
CREATE INDEX builds_built_at ON builds (built_at);

CREATE TABLE files (
    filename            TEXT NOT NULL PRIMARY KEY CHECK (length(filename) BETWEEN 1 AND 255),
    build_id            {BIGINT} NOT NULL REFERENCES builds (build_id) ON DELETE CASCADE,
    filesize            {BIGINT} NOT NULL CHECK (filesize >= 0),
    filehash            TEXT NOT NULL CHECK (length(filehash) = 64),
    package_tag         TEXT NOT NULL CHECK (length(package_tag) BETWEEN 1 AND 200),
    package_version_tag TEXT NOT NULL CHECK (length(package_version_tag) BETWEEN 1 AND 200),
    py_version_tag      TEXT NOT NULL CHECK (length(py_version_tag) BETWEEN 1 AND 100),
    abi_tag             TEXT NOT NULL CHECK (length(abi_tag) BETWEEN 1 AND 100),
    platform_tag        TEXT NOT NULL CHECK (length(platform_tag) BETWEEN 1 AND 100),
    requires_python     TEXT NULL CHECK (length(requires_python) <= 200),
    location            TEXT NOT NULL DEFAULT '/simple' CHECK (length(location) BETWEEN 1 AND 100),
    twin_of             TEXT NULL REFERENCES files (filename) ON DELETE CASCADE
){WITHOUT_ROWID};
CREATE INDEX files_build ON files (build_id);
CREATE INDEX files_twin ON files (twin_of) WHERE twin_of IS NOT NULL;

CREATE TABLE dependencies (
    filename   TEXT NOT NULL REFERENCES files (filename) ON DELETE CASCADE,
    tool       TEXT NOT NULL CHECK (tool IN ('apt', 'pip', '')),
    dependency TEXT NOT NULL CHECK (length(dependency) BETWEEN 1 AND 255),
    PRIMARY KEY (filename, tool, dependency)
){WITHOUT_ROWID};

-- The build queue, kept up to date as versions and builds are logged: the targets each
-- version still waits for, oldest release first.
CREATE TABLE builds_pending (
    abi_tag      TEXT NOT NULL,
    platform_tag TEXT NOT NULL,
    package      TEXT NOT NULL,
    version      TEXT NOT NULL,
    released     {TIMESTAMP} NOT NULL,
    PRIMARY KEY (abi_tag, platform_tag, package, version),
    FOREIGN KEY (abi_tag, platform_tag) REFERENCES build_targets (abi_tag, platform_tag) ON DELETE CASCADE,
    FOREIGN KEY (package, version) REFERENCES versions (package, version) ON DELETE CASCADE
){WITHOUT_ROWID};
CREATE INDEX builds_pending_queue ON builds_pending (abi_tag, platform_tag, released, package, version);
CREATE INDEX builds_pending_version ON builds_pending (package, version);

-- Debian packages preinstalled on the target OS, hidden from dependency lists.
CREATE TABLE preinstalled_apt_packages (
    abi_tag     TEXT NOT NULL CHECK (length(abi_tag) BETWEEN 1 AND 100),
    apt_package TEXT NOT NULL CHECK (length(apt_package) BETWEEN 1 AND 255),
    PRIMARY KEY (abi_tag, apt_package)
){WITHOUT_ROWID};

-- TheSecretary's buffer of page rewrites, kept across restarts.
CREATE TABLE rewrites_pending (
    package  TEXT NOT NULL PRIMARY KEY,
    added_at {TIMESTAMP} NOT NULL,
    command  TEXT NOT NULL CHECK (command IN ('PROJECT', 'BOTH'))
){WITHOUT_ROWID};
CREATE INDEX rewrites_pending_added ON rewrites_pending (added_at);

-- The web server's access log.
CREATE TABLE downloads (
    filename           TEXT NOT NULL,
    accessed_by        {INET} NOT NULL,
    accessed_at        {TIMESTAMP} NOT NULL,
    arch               TEXT NULL,
    distro_name        TEXT NULL,
    distro_version     TEXT NULL,
    os_name            TEXT NULL,
    os_version         TEXT NULL,
    py_name            TEXT NULL,
    py_version         TEXT NULL,
    installer_name     TEXT NULL,
    installer_version  TEXT NULL,
    setuptools_version TEXT NULL
);
CREATE INDEX downloads_filename ON downloads (filename);
CREATE INDEX downloads_accessed_at ON downloads (accessed_at);

CREATE TABLE searches (
    package            TEXT NOT NULL,
    accessed_by        {INET} NOT NULL,
    accessed_at        {TIMESTAMP} NOT NULL,
    arch               TEXT NULL,
    distro_name        TEXT NULL,
    distro_version     TEXT NULL,
    os_name            TEXT NULL,
    os_version         TEXT NULL,
    py_name            TEXT NULL,
    py_version         TEXT NULL,
    installer_name     TEXT NULL,
    installer_version  TEXT NULL,
    setuptools_version TEXT NULL
);
CREATE INDEX searches_package ON searches (package);
CREATE INDEX searches_accessed_at ON searches (accessed_at);

CREATE TABLE project_page_hits (
    package     TEXT NOT NULL,
    accessed_by {INET} NOT NULL,
    accessed_at {TIMESTAMP} NOT NULL,
    user_agent  TEXT NOT NULL,
    bot         {BOOLEAN} NOT NULL DEFAULT {FALSE}
);
CREATE INDEX project_page_hits_package ON project_page_hits (package);
CREATE INDEX project_page_hits_accessed_at ON project_page_hits (accessed_at);

CREATE TABLE project_json_downloads (
    package     TEXT NOT NULL,
    accessed_by {INET} NOT NULL,
    accessed_at {TIMESTAMP} NOT NULL,
    user_agent  TEXT NOT NULL
);
CREATE INDEX project_json_downloads_package ON project_json_downloads (package);
CREATE INDEX project_json_downloads_accessed_at ON project_json_downloads (accessed_at);

CREATE TABLE web_page_hits (
    page        TEXT NOT NULL,
    accessed_by {INET} NOT NULL,
    accessed_at {TIMESTAMP} NOT NULL,
    user_agent  TEXT NOT NULL,
    bot         {BOOLEAN} NOT NULL DEFAULT {FALSE}
);
CREATE INDEX web_page_hits_page ON web_page_hits (page);
CREATE INDEX web_page_hits_accessed_at ON web_page_hits (accessed_at);
