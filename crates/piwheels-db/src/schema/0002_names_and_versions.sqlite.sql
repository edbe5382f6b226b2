-- piwheels schema version 2 on SQLite: the name and version rules of names.rs, kept by
-- the database itself. SQLite cannot add a CHECK to a table, so BEFORE INSERT and BEFORE
-- UPDATE triggers refuse what a CHECK would (the rules in braces are rendered by
-- render() in mod.rs, from the same expressions the PostgreSQL script uses). Rows that
-- break them were removed before this script runs (see v2.rs). builds and builds_pending
-- name their version through a foreign key to versions, so they need no rule of their own.

CREATE TRIGGER packages_package_rule_insert BEFORE INSERT ON packages
WHEN NOT {VALID_PACKAGE(NEW.package)}
BEGIN
    SELECT RAISE(ABORT, 'packages.package breaks the package name rule');
END;
CREATE TRIGGER packages_package_rule_update BEFORE UPDATE OF package ON packages
WHEN NOT {VALID_PACKAGE(NEW.package)}
BEGIN
    SELECT RAISE(ABORT, 'packages.package breaks the package name rule');
END;

CREATE TRIGGER package_names_name_rule_insert BEFORE INSERT ON package_names
WHEN NOT {VALID_NAME(NEW.name)}
BEGIN
    SELECT RAISE(ABORT, 'package_names.name breaks the package name rule');
END;
CREATE TRIGGER package_names_name_rule_update BEFORE UPDATE OF name ON package_names
WHEN NOT {VALID_NAME(NEW.name)}
BEGIN
    SELECT RAISE(ABORT, 'package_names.name breaks the package name rule');
END;

CREATE TRIGGER versions_version_rule_insert BEFORE INSERT ON versions
WHEN NOT {VALID_VERSION(NEW.version)}
BEGIN
    SELECT RAISE(ABORT, 'versions.version breaks the version rule');
END;
CREATE TRIGGER versions_version_rule_update BEFORE UPDATE OF version ON versions
WHEN NOT {VALID_VERSION(NEW.version)}
BEGIN
    SELECT RAISE(ABORT, 'versions.version breaks the version rule');
END;

CREATE TRIGGER rewrites_pending_package_rule_insert BEFORE INSERT ON rewrites_pending
WHEN NOT {VALID_PACKAGE(NEW.package)}
BEGIN
    SELECT RAISE(ABORT, 'rewrites_pending.package breaks the package name rule');
END;
CREATE TRIGGER rewrites_pending_package_rule_update BEFORE UPDATE OF package ON rewrites_pending
WHEN NOT {VALID_PACKAGE(NEW.package)}
BEGIN
    SELECT RAISE(ABORT, 'rewrites_pending.package breaks the package name rule');
END;
