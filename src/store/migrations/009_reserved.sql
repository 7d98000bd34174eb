-- GPU Mesh indexer schema, version 9: reserved for the time-travel migration being written on another branch. This
-- branch needs a 009 for 010 to run (migrations run in sequence, a gap fails loudly). It changes nothing; when the two
-- branches merge, delete this file and keep theirs (a database migrated past this placeholder must be indexed anew).
SELECT 1;
