-- piwheels schema version 2 on PostgreSQL: the name and version rules of names.rs, kept
-- by the database itself as CHECK constraints (the rules in braces are rendered by
-- render() in mod.rs, from the same expressions the SQLite script uses). Rows that break
-- them were removed before this script runs (see v2.rs), so every constraint is
-- validated against every row. builds and builds_pending name their version through a
-- foreign key to versions, so they need no rule of their own.

ALTER TABLE packages
    ADD CONSTRAINT packages_package_rule CHECK {VALID_PACKAGE(package)};
ALTER TABLE package_names
    ADD CONSTRAINT package_names_name_rule CHECK {VALID_NAME(name)};
ALTER TABLE versions
    ADD CONSTRAINT versions_version_rule CHECK {VALID_VERSION(version)};
ALTER TABLE rewrites_pending
    ADD CONSTRAINT rewrites_pending_package_rule CHECK {VALID_PACKAGE(package)};
