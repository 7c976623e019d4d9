package logstore

import (
	"context"
	"io"
)

// Logs is what the server needs of a store of job logs, whatever keeps the
// bytes: Store keeps them in files on one machine's disk; the SQL store
// (internal/store/sqlstore LogStore) keeps them in chunks in the database,
// where every server replica can append to and read them. Both follow the
// contract documented on Store (idempotent by offset, durable before the
// returned size, lines indexed), and both are held to it by the
// conformance suite in internal/logstore/logstoretest.
//
// Every method takes a context: a store that talks to a database gives up
// when it ends; the file store only looks at it while waiting.
type Logs interface {
	// Append stores data at offset of the job's journal and returns the
	// durable size afterwards; an offset beyond the stored size is ErrGap
	// (lab.ErrConflict), returning the stored size; bytes that overlap
	// stored ones and differ are ErrMismatch; a NUL byte, a negative offset
	// or a job ID below 1 is lab.ErrInvalid.
	Append(ctx context.Context, jobID, offset int64, data []byte) (int64, error)
	// Size is the stored (durable) size of a job's log; 0 if never written.
	Size(ctx context.Context, jobID int64) (int64, error)
	// SHA256 is the hex checksum of a job's whole stored log.
	SHA256(ctx context.Context, jobID int64) (string, error)
	// Lines is the number of complete lines stored.
	Lines(ctx context.Context, jobID int64) (int, error)
	// Tail is the number of complete lines stored and the byte offset where
	// the next line starts, read at once.
	Tail(ctx context.Context, jobID int64) (lines int, next int64, err error)
	// ReadLines returns complete lines [start, end), clamped, in memory,
	// without their newlines.
	ReadLines(ctx context.Context, jobID int64, start, end int) ([][]byte, error)
	// OpenLines returns a reader of the complete lines [start, end),
	// clamped, as stored (each with its newline), their size in bytes and
	// the number of complete lines stored, taken at one instant. The
	// caller closes the reader.
	OpenLines(ctx context.Context, jobID int64, start, end int) (r io.ReadCloser, size int64, total int, err error)
	// WaitLines blocks until the log has more than lines complete lines or
	// ctx ends, and returns the line count. It is woken by appends made
	// through this value; appends by other processes wake it only if the
	// store says so (the server also wakes its followers on events from
	// other replicas).
	WaitLines(ctx context.Context, jobID int64, lines int) (int, error)
	// Remove deletes a job's log; removing a log never written is no error.
	Remove(ctx context.Context, jobID int64) error
}

var _ Logs = (*Store)(nil)
