-- Join tokens: one-time credentials a new worker exchanges for its own token.
-- SQLite cannot change a CHECK constraint in place: rebuild the table.
CREATE TABLE tokens_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL CHECK (kind IN ('user', 'worker', 'job', 'join')),
    owner       TEXT    NOT NULL DEFAULT '',
    job_id      INTEGER REFERENCES jobs (id) ON DELETE CASCADE,
    description TEXT    NOT NULL DEFAULT '',
    hash        BLOB    NOT NULL,
    created     INTEGER,
    last_used   INTEGER,
    expires     INTEGER
) STRICT;
INSERT INTO tokens_new (id, kind, owner, job_id, description, hash, created, last_used, expires)
    SELECT id, kind, owner, job_id, description, hash, created, last_used, expires FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
CREATE UNIQUE INDEX tokens_hash ON tokens (hash);
CREATE INDEX tokens_owner ON tokens (kind, owner);
