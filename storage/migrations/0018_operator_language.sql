-- 0018_operator_language: each operator's own language for the screens ('' = the station's, from
-- station.language). A field engineer sees English at a Chinese station. Documented in docs/database.md.
-- The runner wraps this file in BEGIN IMMEDIATE ... COMMIT and sets PRAGMA user_version.

ALTER TABLE operators ADD COLUMN language TEXT NOT NULL DEFAULT ''
    CHECK (language IN ('', 'zh_CN', 'en'));
