-- piwheels schema version 4: what CloudGazer last read of the upstream index, so that a
-- restarted master asks only for what changed. One row per project it has applied (keyed
-- by canonical name, as CloudGazer keys its state): the project's last serial and ETag,
-- the spelling of its name last recorded, and a fingerprint of the versions its page
-- refused (so the same ones are not reported again). A row is written only after the
-- project's changes are applied. The upstream serial stays in configuration.
CREATE TABLE upstream_projects (
    package TEXT NOT NULL PRIMARY KEY CHECK (length(package) BETWEEN 1 AND 200),
    name    TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    serial  {BIGINT} NULL,
    etag    TEXT NULL CHECK (length(etag) BETWEEN 1 AND 1000),
    refused {BIGINT} NOT NULL DEFAULT 0
){WITHOUT_ROWID};

-- The project list's ETag, written only once every page the list named was read.
CREATE TABLE upstream_list (
    id   {BIGINT} NOT NULL PRIMARY KEY CHECK (id = 1),
    etag TEXT NULL CHECK (length(etag) BETWEEN 1 AND 1000)
);
INSERT INTO upstream_list (id, etag) VALUES (1, NULL);
