-- Notifications of jobs' notify blocks (LAVA's Notification,
-- NotificationRecipient and NotificationCallback): one delivery per
-- callback call or recipient, queued in the transaction that moves the job
-- to Running or Finished, and the log of every attempt to send it. Any
-- server process on the database may send: it claims due deliveries with
-- a conditional update (claim, claimed_until), so that one process at a
-- time tries a delivery and it is marked done once. Deleting a job deletes
-- its deliveries.
-- Keep in step with ../postgres/0005_notifications.sql.

CREATE TABLE notification_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id        INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL CHECK (kind IN ('callback', 'email', 'irc')),
    -- The callback URL as written, the e-mail address, the IRC handle.
    target        TEXT    NOT NULL,
    -- The job's state and health at the transition that queued it.
    job_state     INTEGER NOT NULL CHECK (job_state BETWEEN 0 AND 5),
    job_health    INTEGER NOT NULL CHECK (job_health BETWEEN 0 AND 3),
    -- The rest of what sending needs, as JSON the app owns.
    spec          TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'not_sent')),
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created       INTEGER NOT NULL,
    -- When a pending delivery is due; NULL once it is done.
    next_attempt  INTEGER,
    done          INTEGER,
    last_error    TEXT    NOT NULL DEFAULT '',
    -- The sender trying it, until when (NULL: nobody).
    claim         TEXT,
    claimed_until INTEGER,
    CHECK ((status = 'pending') = (next_attempt IS NOT NULL))
) STRICT;
-- A job's deliveries (its page, its API).
CREATE INDEX notification_deliveries_job ON notification_deliveries (job_id, id);
-- The queue: pending deliveries by due time.
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt, id) WHERE status = 'pending';

CREATE TABLE notification_attempts (
    delivery_id INTEGER NOT NULL REFERENCES notification_deliveries (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    at          INTEGER NOT NULL,
    duration_us INTEGER NOT NULL DEFAULT 0 CHECK (duration_us >= 0),
    -- HTTP status or SMTP reply code; 0: none (a network error).
    status_code INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, attempt)
) STRICT;
