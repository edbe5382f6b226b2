-- piwheels schema version 5: the pages' download figures (each package's downloads in the
-- last 30 days and ever, and the most downloaded packages) are counted per file and time.
-- An index on (filename, accessed_at) answers both from the index alone; with the index on
-- filename only, each download row was read from the table for its time (20 times slower
-- on SQLite with a million downloads). It takes the place of the index on filename, a
-- prefix of it.
CREATE INDEX downloads_filename_accessed_at ON downloads (filename, accessed_at);
DROP INDEX downloads_filename;
