-- Reservations (issue 15): a reservation is a job that names one device
-- and holds it for its submitter, who has the board's console through the
-- server instead of a pipeline. Its job row carries everything a job has
-- (state, priority, requested device, times); this table adds what only a
-- reservation has. duration_ns is how long the device is held once the
-- reservation runs; until_time is when it ends by itself (NULL until it
-- runs, then its start plus duration_ns plus any extensions); ended_by
-- names who ended it early ('' while it runs, and when it expired).
-- device_types.no_health_check_after_reservation lets a type's devices
-- keep their health when a reservation ends (by default they become
-- Unknown, so the type's health check runs before any other job).
-- Additive only. Keep in step with ../sqlite/0011_reservations.sql.

CREATE TABLE reservations (
    job_id      BIGINT  NOT NULL PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    duration_ns BIGINT  NOT NULL CHECK (duration_ns > 0),
    until_time  TIMESTAMPTZ,
    reason      TEXT    NOT NULL DEFAULT '',
    ended_by    TEXT    NOT NULL DEFAULT ''
);

ALTER TABLE device_types ADD COLUMN no_health_check_after_reservation BOOLEAN NOT NULL DEFAULT FALSE;
