// Package sqlstore implements store.Store on SQLite (modernc.org/sqlite,
// pure Go) and PostgreSQL (pgx through database/sql). Only the server
// imports it, through Open; everything else talks to store.Store.
//
// # One query layer, two databases
//
// Queries are written once, in the SQL both databases accept, with ?
// placeholders. A small dialect value holds every difference: $N
// placeholders for PostgreSQL (rebound outside quotes and comments, cached
// per query text), the time encoding, FOR UPDATE, LIKE versus ILIKE, the
// options of read snapshots and the classification of driver errors
// (unique → lab.ErrConflict, foreign key and check → lab.ErrInvalid,
// 40001/40P01 → retry). The schemas live in migrations/sqlite and
// migrations/postgres, one file per version, kept in step by hand.
//
// # Conditions of the database
//
// Every error leaving the Store outside a transaction (type classified)
// and every transaction's (runTx) is classified: a full disk (SQLite's
// SQLITE_FULL "database or disk is full", PostgreSQL's 53100 disk_full)
// wraps lab.ErrStorageFull; a database that does not answer (connection
// refused or lost, 08xxx, 57P01-57P03 while PostgreSQL stops or starts,
// 53xxx insufficient resources) wraps lab.ErrDatabaseUnavailable. The
// server answers them 507 and 503 and recovers by itself: database/sql
// and pgx drop dead connections and dial new ones once PostgreSQL is back.
// Ping reads through a connection of its own (a third pool of one, on
// either database), so a health check never queues behind requests or
// SQLite's writer.
//
// Stored values: enumerations as LAVA's integers; times in UTC with
// microsecond precision on both (SQLite: INTEGER microseconds since the
// epoch; PostgreSQL: TIMESTAMPTZ, truncated in Go because PostgreSQL would
// round), the zero time as NULL; empty references (worker, requested
// device, …) as NULL; metadata as JSON text; tags and viewing groups in
// their own tables, read back sorted, empty as nil.
//
// # Migrations
//
// Open applies the embedded migrations that the database lacks, each in its
// own transaction together with its schema_migrations row (version, name,
// applied_at). Concurrent openers are serialized by a PostgreSQL advisory
// lock, or by SQLite's write lock, and each migration is re-checked inside
// its transaction. A database whose version is above the binary's fails
// with ErrSchemaTooNew rather than being used with a schema the binary does
// not know.
//
// # Concurrency design
//
// The invariants that matter are LAVA's: a job is assigned to at most one
// device, and a device holds at most one unfinished job, even when several
// servers share one database.
//
// SQLite allows one writing transaction at a time, and a deferred
// transaction that reads before it writes can fail with SQLITE_BUSY however
// long busy_timeout is. So the store opens the file twice: one writer pool
// of exactly one connection, whose transactions begin IMMEDIATE, and a
// read-only pool (query_only) of several connections. WAL mode lets readers
// run beside the writer; synchronous=NORMAL is durable across process
// crashes (a power cut may lose the last transactions, never corrupt).
// Writers queue on the Go side for the single connection instead of racing
// for SQLite's lock, so writes never fail with "database is locked". Every
// method outside InTx is one transaction; reads of several statements use a
// read transaction on the reader pool, so they see one snapshot; reads
// inside InTx run in its transaction and see its writes. Statements are
// prepared once per connection (stmtCache), since parsing is about half the
// cost of a small write with the pure-Go driver.
//
// PostgreSQL has many writers. Transactions run at READ COMMITTED, and
// every state change that guards an invariant is a conditional UPDATE whose
// WHERE clause states the precondition, checked through its row count:
//
//	UPDATE jobs SET state = ?, actual_device = ? WHERE id = ? AND state IN (…)
//	UPDATE devices SET state = 1, current_job = ? WHERE hostname = ? AND state = 0 AND current_job IS NULL
//
// When two transactions race for one row, the second waits for the first's
// row lock, then re-evaluates its WHERE clause on the committed row, finds
// it false and changes nothing: the store reports lab.ErrConflict. Rows a
// transaction reads in order to update them are read FOR UPDATE. Behind
// these, the schema holds the invariants on its own: a partial unique index
// on jobs(actual_device) WHERE state < 5 (at most one unfinished job per
// device, as LAVA has) and a partial unique index on devices(current_job);
// a write that slipped past the guards fails there, again as ErrConflict.
// Serialization failures and deadlocks (40001, 40P01) make InTx run the
// whole function again, up to five times, so InTx functions must have no
// effects outside the Queries they are given.
//
// # Job logs
//
// LogStore (Store.Logs) keeps job logs in the database, so that every
// server replica on one PostgreSQL can append to and serve any job's log;
// it implements logstore.Logs with the file store's contract
// (internal/logstore: idempotent by offset, ErrGap and ErrMismatch, NUL
// refused, the returned size durable, complete lines indexed). Migration
// 0010 adds two tables:
//
//	job_logs(job_id PK, size, lines, next_start)
//	log_chunks(job_id, start_offset, lines_before, newlines, data, PK (job_id, start_offset))
//	index log_chunks_lines(job_id, lines_before, start_offset)
//
// A job_logs row per job written holds its size, its number of complete
// lines and next_start, the offset where its next, incomplete line
// starts. The bytes are in chunks of at most 256 KiB (a larger upload
// makes several), written once and never changed: a chunk holds bytes
// [start_offset, start_offset+len(data)), with lines_before newlines
// before it and newlines in it. Line N ≥ 1 starts after the N-th newline,
// which lies in the last chunk with lines_before < N: one lookup in
// log_chunks_lines and a scan of that chunk; the bytes of a range are a
// range query on the primary key, from the chunk that holds its first
// byte. Nothing reads a whole log but SHA256 and a whole download, and
// those page through it, about 1 MiB at a time.
//
// An Append is one transaction: INSERT … ON CONFLICT DO NOTHING of the
// job's row, SELECT … FOR UPDATE of it (on PostgreSQL the row lock
// serialises appends to one job from any replica; SQLite has one
// writer), an upload beyond the size refused (ErrGap), the part that
// overlaps stored bytes compared with the chunks that hold it
// (ErrMismatch), the rest inserted as new chunks, the row updated,
// commit: the size returned is committed. Reads of several statements
// (ReadLines, OpenLines) run in one read snapshot; a reader of a long
// range fetches later batches outside it, which is safe because chunks
// never change (a Remove meanwhile is reported as lab.ErrNotFound).
// WaitLines is woken by the appends of its own LogStore only (a channel
// per job, closed on change); the server wakes followers of other
// replicas' appends from its events. Errors are classified as the
// Store's are (a lost PostgreSQL: lab.ErrDatabaseUnavailable).
//
// The conformance suite (internal/store/storetest) checks all of this on
// both databases, including goroutines racing to assign one job to many
// devices and many jobs to one device through two Stores opened on the same
// PostgreSQL database, as two servers would.
package sqlstore
