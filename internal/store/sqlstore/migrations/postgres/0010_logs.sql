-- Job logs: the bytes of each job's journal (NDJSON, as the worker
-- uploads it), kept in the database so that every server replica can
-- append to and serve any job's log (LogStore, logs.go). One job_logs
-- row per job written: its size, its number of complete lines and
-- next_start, the byte offset where its next (incomplete) line starts.
-- The bytes are in log_chunks rows of at most 256 KiB, written once
-- and never changed: chunk (job_id, start_offset) holds bytes
-- [start_offset, start_offset + length(data)), lines_before is the
-- number of newlines before start_offset and newlines the number in
-- data. Line N (0-based, N >= 1) starts after the newline that ends
-- line N-1, which lies in the last chunk with lines_before <= N-1: one
-- lookup in log_chunks_lines. No reference to jobs: a log is written
-- by whoever holds its job ID, and removed with LogStore.Remove.
-- Keep in step with ../sqlite/0010_logs.sql.

CREATE TABLE job_logs (
    job_id     BIGINT NOT NULL PRIMARY KEY CHECK (job_id > 0),
    size       BIGINT NOT NULL CHECK (size >= 0),
    lines      BIGINT NOT NULL CHECK (lines >= 0),
    next_start BIGINT NOT NULL CHECK (next_start >= 0 AND next_start <= size)
);

CREATE TABLE log_chunks (
    job_id       BIGINT  NOT NULL REFERENCES job_logs (job_id) ON DELETE CASCADE,
    start_offset BIGINT  NOT NULL CHECK (start_offset >= 0),
    lines_before BIGINT  NOT NULL CHECK (lines_before >= 0),
    newlines     INTEGER NOT NULL CHECK (newlines >= 0),
    data         BYTEA   NOT NULL CHECK (length(data) > 0),
    PRIMARY KEY (job_id, start_offset)
);

CREATE INDEX log_chunks_lines ON log_chunks (job_id, lines_before, start_offset);
