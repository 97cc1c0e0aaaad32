-- Issue 20: entry ids are compared as bytes (COLLATE "C"), not by the database's locale. An id has
-- no language, and a unique index under a locale collation calls the C library's strcoll for every
-- comparison (no abbreviated keys): about a third of PostgreSQL's work in a million-entry import
-- (its unique index and the import's lookups of each id). Equality is the same under both (both
-- are deterministic), so which ids are equal, and the unique constraint, do not change; only the
-- index's order does, and it is rebuilt here.
ALTER TABLE entries ALTER COLUMN entry_id TYPE text COLLATE "C";
