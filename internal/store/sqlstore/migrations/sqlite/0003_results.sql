-- Test results in LAVA's model (TestSuite, TestSet, TestCase), stored as
-- the results records of a job's log are ingested, and the per-job
-- ingestion watermark. Line numbers are 0-based log lines (LAVA's
-- start_log_line/end_log_line convention). Deleting a job deletes its
-- results.
-- Keep in step with ../postgres/0003_results.sql.

CREATE TABLE test_suites (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name   TEXT    NOT NULL,
    UNIQUE (job_id, name)
) STRICT;
-- Suites of one name across jobs (trends).
CREATE INDEX test_suites_name ON test_suites (name);

CREATE TABLE test_sets (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    suite_id INTEGER NOT NULL REFERENCES test_suites (id) ON DELETE CASCADE,
    name     TEXT    NOT NULL,
    UNIQUE (suite_id, name)
) STRICT;

CREATE TABLE test_cases (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id           INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    suite_id         INTEGER NOT NULL REFERENCES test_suites (id) ON DELETE CASCADE,
    set_id           INTEGER REFERENCES test_sets (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    result           INTEGER NOT NULL CHECK (result BETWEEN 0 AND 3),
    -- The value for numeric queries (NULL: none, or not a finite decimal);
    -- measurement_text keeps it exactly as reported.
    measurement      REAL,
    measurement_text TEXT    NOT NULL DEFAULT '',
    units            TEXT    NOT NULL DEFAULT '',
    metadata         TEXT    NOT NULL DEFAULT '',
    log_line         INTEGER NOT NULL CHECK (log_line >= 0),
    start_log_line   INTEGER NOT NULL CHECK (start_log_line >= 0),
    end_log_line     INTEGER NOT NULL CHECK (end_log_line >= 0),
    logged           INTEGER NOT NULL,
    level            TEXT    NOT NULL DEFAULT '',
    duration         TEXT    NOT NULL DEFAULT '',
    error_type       TEXT    NOT NULL DEFAULT '',
    error_msg        TEXT    NOT NULL DEFAULT ''
) STRICT;
-- One case per results record: ingestion is idempotent by (job, line).
-- Also a job's cases in log order.
CREATE UNIQUE INDEX test_cases_job_line ON test_cases (job_id, log_line);
-- A suite's cases in log order (job + suite), and one case of a suite (job +
-- suite + case; across jobs through test_suites_name).
CREATE INDEX test_cases_suite_line ON test_cases (suite_id, log_line);
CREATE INDEX test_cases_suite_name ON test_cases (suite_id, name, log_line);
-- For the cascade from test_sets.
CREATE INDEX test_cases_set ON test_cases (set_id) WHERE set_id IS NOT NULL;

-- How many lines of each job's log have been ingested: every results
-- record on lines [0, lines) is in test_cases. Raised in the transaction
-- that stores the cases of those lines.
CREATE TABLE result_ingestion (
    job_id INTEGER NOT NULL PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    lines  INTEGER NOT NULL CHECK (lines >= 0)
) STRICT;
