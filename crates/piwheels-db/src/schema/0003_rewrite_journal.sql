-- piwheels schema version 3: rewrites_pending becomes the journal of page rewrites the web
-- output owes. Every change that alters a package's pages records its rewrite here in the
-- same transaction; the page writer clears a row only at the generation it read before
-- rendering, so a change committed meanwhile is written again.
ALTER TABLE rewrites_pending ADD COLUMN gen {BIGINT} NOT NULL DEFAULT 1;
