// Package logstore is the server's durable, idempotent store of job logs:
// the bytes of each worker's job journal (NDJSON, one
// internal/workerproto.Record per line), stored exactly as uploaded, with a
// line index for O(1) access to line N. It is domain-level storage: it
// imports only the standard library and internal/lab, and knows nothing of
// HTTP or the database.
//
// # On-disk format
//
// Open(dir) owns dir (an exclusive flock on dir/.lock, released when the
// process dies). Job N lives in
//
//	dir/<N % 1000 as %03d>/<N>/log.ndjson
//	dir/<N % 1000 as %03d>/<N>/log.idx
//
// log.ndjson holds bytes [0, size) of the job's journal, byte for byte. Its
// last line may be incomplete (no trailing newline yet). It never contains
// a NUL byte.
//
// log.idx holds one 8-byte little-endian unsigned integer per complete line
// of log.ndjson: entry k is the byte offset at which line k starts, so
// entry 0 is 0 and entry k+1 is one past line k's newline. Line k is the
// bytes [idx[k], idx[k+1]-1) (for the last complete line, up to its
// newline); the number of complete lines is size(log.idx)/8. An incomplete
// last line has no entry until its newline arrives. (LAVA's output.idx has
// the same layout in native byte order.)
//
// Jobs that were never written have no directory and read as empty logs.
// Remove deletes the job's directory.
//
// # Uploads: idempotent by offset
//
// A worker uploads byte ranges [offset, offset+len) of its journal, in any
// order and as often as it likes. Append keeps the stored log a prefix of
// the journal: with have = stored size, an upload starting beyond have is
// refused (ErrGap, wrapping lab.ErrConflict, returning have), an upload
// ending at or before have changes nothing, and otherwise only the bytes
// beyond have are appended. The part of an upload that overlaps stored
// bytes must equal them (ErrMismatch otherwise), which catches a worker
// uploading a different journal, or corruption, instead of silently
// splicing two logs. The returned size is what the server acknowledges
// (workerproto.LogAck.Stored); resending from it is always correct.
//
// # Durability: what an acknowledged size guarantees
//
// Append writes the new bytes to log.ndjson, fsyncs it, then writes the
// index entries of the lines it completed and fsyncs log.idx, and only then
// publishes and returns the new size. So every size the store returns —
// from Append, Size, or as the extent of any read — is durable: after a
// crash of the process or of the machine, log.ndjson holds at least those
// bytes, unchanged. Bytes past the last fsync may be missing, partial or
// (on some filesystems) zero-filled, and the index may lag the log or hold
// a torn or zero-filled tail; the stored size can therefore come back
// larger than the last acknowledged one, never smaller.
//
// When a job is first used after Open (or after an I/O error), it is
// reconciled before anything is published: index entries are dropped from
// the end while they are implausible (beyond the log, starting a line that
// is no longer complete, or not exactly one past the end of the line the
// entry before them starts);
// the log is cut at the first NUL byte after the last indexed line (crash
// debris: a journal never contains NUL); the lines after the last indexed
// one are indexed; and both files are fsynced. Because the index is only
// ever written after the log bytes it points into were fsynced, only the
// tails of the files need checking, and reconciliation reads at most the
// unindexed tail of the log plus the last two indexed lines.
//
// An I/O error during Append trims the job back to the last published size
// (the unacknowledged bytes are dropped, since after a failed fsync the page
// cache cannot be trusted) and closes it; the uploader gets the error and
// resends.
//
// # A full disk
//
// A write refused for want of space (ENOSPC) or quota (EDQUOT) is such an
// I/O error, and its error wraps lab.ErrStorageFull as well: the server
// answers it as a condition (507), not a bug, and the worker resends the
// same bytes later, when they are stored as usual. DiskFree reports the
// space available (statfs, no I/O) and Probe whether a write of one page
// succeeds, for health checks.
//
// # Concurrency and resources
//
// Appends to one job are serialised by a per-job lock; different jobs
// append in parallel. Readers (Size, Lines, ReadLines, OpenLines, ReadAt, SHA256)
// take a snapshot of the published state and never wait for another job's
// fsync, nor for this job's except while it is being opened. Each job in
// use keeps its two files open; when its last operation ends it becomes
// idle, and the least recently used idle jobs beyond WithMaxOpen
// (DefaultMaxOpen) are closed, so 50 running jobs keep their files open
// while thousands of finished jobs do not. Reader returns a Snapshot with
// its own file handle for downloads, and OpenLines a reader of a range of
// complete lines with its own file handle, which io.Copy sends to a socket
// with sendfile: reading a log costs no memory for its bytes. Wait and WaitLines block until a job's
// log grows, woken by a per-job broadcast (a channel closed on every
// change), without polling; they serve live tails.
package logstore
