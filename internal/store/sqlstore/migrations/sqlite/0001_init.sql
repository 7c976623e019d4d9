-- Basalt schema, version 1, SQLite dialect.
-- Enumerations are stored as LAVA's integers. Times are INTEGER microseconds
-- since the Unix epoch, UTC (NULL = zero time). Booleans are 0/1.
-- Keep in step with ../postgres/0001_init.sql.

CREATE TABLE device_types (
    name                 TEXT    NOT NULL PRIMARY KEY,
    description          TEXT    NOT NULL DEFAULT '',
    health_frequency     INTEGER NOT NULL DEFAULT 24,
    health_denominator   INTEGER NOT NULL DEFAULT 0 CHECK (health_denominator IN (0, 1)),
    disable_health_check INTEGER NOT NULL DEFAULT 0 CHECK (disable_health_check IN (0, 1)),
    health_check         TEXT    NOT NULL DEFAULT '',
    display              INTEGER NOT NULL DEFAULT 1 CHECK (display IN (0, 1))
) STRICT;

CREATE TABLE aliases (
    name        TEXT NOT NULL PRIMARY KEY,
    device_type TEXT NOT NULL REFERENCES device_types (name) ON DELETE CASCADE
) STRICT;

CREATE TABLE tags (
    name        TEXT NOT NULL PRIMARY KEY,
    description TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE workers (
    name           TEXT    NOT NULL PRIMARY KEY,
    description    TEXT    NOT NULL DEFAULT '',
    state          INTEGER NOT NULL DEFAULT 1 CHECK (state IN (0, 1)),
    health         INTEGER NOT NULL DEFAULT 0 CHECK (health BETWEEN 0 AND 2),
    job_limit      INTEGER NOT NULL DEFAULT 0 CHECK (job_limit >= 0),
    last_heartbeat INTEGER,
    version        TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE worker_transitions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    worker     TEXT    NOT NULL REFERENCES workers (name) ON DELETE CASCADE,
    time       INTEGER NOT NULL,
    actor      TEXT    NOT NULL DEFAULT '',
    reason     TEXT    NOT NULL DEFAULT '',
    old_state  INTEGER NOT NULL,
    new_state  INTEGER NOT NULL,
    old_health INTEGER NOT NULL,
    new_health INTEGER NOT NULL
) STRICT;
CREATE INDEX worker_transitions_worker ON worker_transitions (worker, id);

CREATE TABLE devices (
    hostname               TEXT    NOT NULL PRIMARY KEY,
    device_type            TEXT    NOT NULL REFERENCES device_types (name),
    worker                 TEXT    REFERENCES workers (name),
    description            TEXT    NOT NULL DEFAULT '',
    state                  INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 2),
    health                 INTEGER NOT NULL DEFAULT 4 CHECK (health BETWEEN 0 AND 5),
    current_job            INTEGER REFERENCES jobs (id),
    last_health_report_job INTEGER REFERENCES jobs (id),
    dictionary             TEXT    NOT NULL DEFAULT '',
    CHECK ((state = 0) = (current_job IS NULL))
) STRICT;
CREATE INDEX devices_device_type ON devices (device_type);
CREATE INDEX devices_worker ON devices (worker);
-- A job is held by at most one device.
CREATE UNIQUE INDEX devices_current_job ON devices (current_job) WHERE current_job IS NOT NULL;

CREATE TABLE device_tags (
    device TEXT NOT NULL REFERENCES devices (hostname) ON DELETE CASCADE,
    tag    TEXT NOT NULL REFERENCES tags (name) ON DELETE CASCADE,
    PRIMARY KEY (device, tag)
) STRICT;
CREATE INDEX device_tags_tag ON device_tags (tag);

CREATE TABLE device_transitions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    device     TEXT    NOT NULL REFERENCES devices (hostname) ON DELETE CASCADE,
    time       INTEGER NOT NULL,
    actor      TEXT    NOT NULL DEFAULT '',
    reason     TEXT    NOT NULL DEFAULT '',
    old_health INTEGER NOT NULL,
    new_health INTEGER NOT NULL,
    old_state  INTEGER NOT NULL,
    new_state  INTEGER NOT NULL,
    job        INTEGER REFERENCES jobs (id) ON DELETE SET NULL
) STRICT;
CREATE INDEX device_transitions_device ON device_transitions (device, id);

CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    description         TEXT    NOT NULL DEFAULT '',
    submitter           TEXT    NOT NULL,
    visibility          INTEGER NOT NULL DEFAULT 0 CHECK (visibility BETWEEN 0 AND 2),
    state               INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 5),
    health              INTEGER NOT NULL DEFAULT 0 CHECK (health BETWEEN 0 AND 3),
    priority            INTEGER NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
    requested_type      TEXT    REFERENCES device_types (name),
    requested_device    TEXT    REFERENCES devices (hostname),
    requested_worker    TEXT    REFERENCES workers (name),
    actual_device       TEXT    REFERENCES devices (hostname),
    health_check        INTEGER NOT NULL DEFAULT 0 CHECK (health_check IN (0, 1)),
    submit_time         INTEGER NOT NULL,
    start_time          INTEGER,
    end_time            INTEGER,
    queue_timeout_ns    INTEGER,
    failure_comment     TEXT    NOT NULL DEFAULT '',
    error_type          TEXT    NOT NULL DEFAULT '',
    metadata            TEXT,
    definition          TEXT    NOT NULL DEFAULT '',
    original_definition TEXT    NOT NULL DEFAULT ''
) STRICT;
-- The scheduler's queue: Submitted jobs by requested type.
CREATE INDEX jobs_queue ON jobs (state, requested_type, id) WHERE state = 0;
CREATE INDEX jobs_submitter ON jobs (submitter);
CREATE INDEX jobs_actual_device ON jobs (actual_device);
CREATE INDEX jobs_requested_type ON jobs (requested_type);
CREATE INDEX jobs_state ON jobs (state);
-- At most one unfinished job per device, as LAVA does.
CREATE UNIQUE INDEX jobs_one_unfinished_per_device ON jobs (actual_device)
    WHERE state < 5 AND actual_device IS NOT NULL;

CREATE TABLE job_tags (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tag    TEXT    NOT NULL REFERENCES tags (name) ON DELETE CASCADE,
    PRIMARY KEY (job_id, tag)
) STRICT;

-- Group names are not foreign keys: deleting a group must not widen who
-- can see a job, so a job keeps naming a group that no longer exists and
-- nobody is a member of it.
CREATE TABLE job_viewing_groups (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    group_name TEXT    NOT NULL,
    PRIMARY KEY (job_id, group_name)
) STRICT;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL DEFAULT '',
    first_name    TEXT    NOT NULL DEFAULT '',
    last_name     TEXT    NOT NULL DEFAULT '',
    is_superuser  INTEGER NOT NULL DEFAULT 0 CHECK (is_superuser IN (0, 1)),
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    password_hash TEXT    NOT NULL DEFAULT '',
    date_joined   INTEGER
) STRICT;

CREATE TABLE user_groups (
    name TEXT NOT NULL PRIMARY KEY
) STRICT;

CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES user_groups (name) ON DELETE CASCADE,
    username   TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    PRIMARY KEY (group_name, username)
) STRICT;
CREATE INDEX group_members_username ON group_members (username);

CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL CHECK (kind IN ('user', 'worker', 'job')),
    owner       TEXT    NOT NULL DEFAULT '',
    job_id      INTEGER REFERENCES jobs (id) ON DELETE CASCADE,
    description TEXT    NOT NULL DEFAULT '',
    hash        BLOB    NOT NULL,
    created     INTEGER,
    last_used   INTEGER,
    expires     INTEGER
) STRICT;
CREATE UNIQUE INDEX tokens_hash ON tokens (hash);
CREATE INDEX tokens_owner ON tokens (kind, owner);
