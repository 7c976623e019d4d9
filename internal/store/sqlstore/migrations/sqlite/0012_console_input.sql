-- Console sessions of reservations (issue 15): the input typed into a
-- session (or a power action asked for there), numbered per job in the
-- order the server received it, so that the server replica holding the
-- worker's call can hand it over whichever replica received it, and the
-- job process applies each input once, in order. Removed with the job
-- (and when its session ends: the inputs are in its log by then).
-- Keep in step with ../postgres/0012_console_input.sql.

CREATE TABLE console_input (
    job_id   INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL CHECK (seq > 0),
    received INTEGER NOT NULL,
    username TEXT    NOT NULL,
    data     BLOB    NOT NULL,
    power    TEXT    NOT NULL CHECK (power IN ('', 'on', 'off', 'reset')),
    PRIMARY KEY (job_id, seq)
) STRICT;
