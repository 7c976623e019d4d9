package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
)

// ---- job logs (migration 0010) ----

// maxLogChunk is the most bytes one log_chunks row holds: a larger upload
// is stored as several rows. Finding a line reads the chunk that holds
// its start, so the smaller the chunks, the cheaper a window of a few
// lines; the larger, the fewer rows a log takes.
const maxLogChunk = 256 << 10

// logReadBatch is how many bytes of chunks a reader asks for at a time
// (it gets up to one chunk more: the batch ends with a whole chunk).
const logReadBatch = 1 << 20

// LogStore keeps job logs in the database (tables job_logs and
// log_chunks), so that every server replica on one PostgreSQL can append
// to and serve any job's log. It implements logstore.Logs with the file
// store's contract (see internal/logstore): appends idempotent by offset,
// ErrGap and ErrMismatch, NUL refused, the returned size durable (it is
// committed), complete lines counted and found through an index. It is
// safe for concurrent use, by any number of Stores on one database.
type LogStore struct {
	s *Store
	q *queries

	mu      sync.Mutex
	watches map[int64]*logWatch
}

var _ logstore.Logs = (*LogStore)(nil)

// logWatch is the broadcast of one job's appends to the WaitLines calls
// of this LogStore: ch is closed, and replaced, on every change.
type logWatch struct {
	ch      chan struct{}
	waiters int
}

// Logs returns the store's job logs; every call returns the same
// LogStore. Its WaitLines hears the appends and removals made through it,
// not those of other Stores (other server replicas) on the same database.
func (s *Store) Logs() *LogStore {
	s.logsOnce.Do(func() {
		s.logs = &LogStore{s: s, q: s.queries, watches: map[int64]*logWatch{}}
	})
	return s.logs
}

// logState is a job_logs row: a job's size, its number of complete lines
// and the offset where its next line starts. A job never written has the
// zero state.
type logState struct {
	size, lines, next int64
}

func checkLogID(jobID int64) error {
	if jobID <= 0 {
		return fmt.Errorf("job id %d: %w", jobID, lab.ErrInvalid)
	}
	return nil
}

// state reads a job's row.
func (l *LogStore) state(ctx context.Context, c conn, jobID int64) (logState, error) {
	var st logState
	err := l.q.row(ctx, c, "SELECT size, lines, next_start FROM job_logs WHERE job_id = ?", jobID).Scan(&st.size, &st.lines, &st.next)
	if errors.Is(err, sql.ErrNoRows) {
		return logState{}, nil
	}
	return st, err
}

// Append stores data at byte offset of the job's journal and returns the
// size stored afterwards, as logstore.Store.Append does: an upload
// starting beyond the stored size is ErrGap (returning the size), bytes
// overlapping stored ones must equal them (ErrMismatch otherwise, nothing
// written), only the bytes beyond the stored size are added. A NUL byte,
// a negative offset or a job ID below 1 is lab.ErrInvalid.
//
// It is one transaction: the job's row is created if missing and locked
// (SELECT … FOR UPDATE on PostgreSQL; SQLite has one writer), the
// overlap is compared with the chunks it covers, the new bytes are
// inserted as chunks of at most 256 KiB and the row updated. The size
// returned is committed, hence durable; appends racing from several
// replicas are serialised by the row lock.
func (l *LogStore) Append(ctx context.Context, jobID, offset int64, data []byte) (int64, error) {
	if offset < 0 {
		return 0, fmt.Errorf("append to log of job %d: offset %d: %w", jobID, offset, lab.ErrInvalid)
	}
	if z := bytes.IndexByte(data, 0); z >= 0 {
		return 0, fmt.Errorf("append to log of job %d: NUL byte at journal offset %d: %w", jobID, offset+int64(z), lab.ErrInvalid)
	}
	if err := checkLogID(jobID); err != nil {
		return 0, fmt.Errorf("append to log of job %d: %w", jobID, err)
	}
	if len(data) == 0 { // nothing to write: no transaction, no row
		st, err := l.state(ctx, l.q.r(), jobID)
		switch {
		case err != nil:
			return 0, classify(fmt.Errorf("append to log of job %d: %w", jobID, err))
		case offset > st.size:
			return st.size, fmt.Errorf("append to log of job %d at offset %d: %d bytes stored: %w", jobID, offset, st.size, logstore.ErrGap)
		}
		return st.size, nil
	}
	var have, stored int64
	var grew bool
	err := l.s.runTx(ctx, func(c conn) error {
		have, stored, grew = 0, 0, false
		st, err := l.lockRow(ctx, c, jobID)
		if err != nil {
			return fmt.Errorf("append to log of job %d: %w", jobID, err)
		}
		have, stored = st.size, st.size
		if offset > have {
			return fmt.Errorf("append to log of job %d at offset %d: %d bytes stored: %w", jobID, offset, have, logstore.ErrGap)
		}
		end := offset + int64(len(data))
		if overlap := min(end, have) - offset; overlap > 0 {
			if err := l.compare(ctx, c, jobID, offset, data[:overlap]); err != nil {
				return fmt.Errorf("append to log of job %d at offset %d: %w", jobID, offset, err)
			}
		}
		if end <= have {
			return nil
		}
		if err := l.insert(ctx, c, jobID, &st, data[have-offset:]); err != nil {
			return fmt.Errorf("append to log of job %d at offset %d: %w", jobID, have, err)
		}
		stored, grew = end, true
		return nil
	})
	if grew && err == nil {
		l.broadcast(jobID)
	}
	if err != nil {
		return have, err // classified by runTx
	}
	return stored, nil
}

// lockRow creates the job's row if it is missing, locks it and returns
// it. On PostgreSQL a Remove may delete the row between the two
// statements (the lock then finds nothing): it is created again.
func (l *LogStore) lockRow(ctx context.Context, c conn, jobID int64) (logState, error) {
	for range 3 {
		if _, err := l.q.exec(ctx, c, `INSERT INTO job_logs (job_id, size, lines, next_start) VALUES (?, 0, 0, 0)
			ON CONFLICT (job_id) DO NOTHING`, jobID); err != nil {
			return logState{}, err
		}
		var st logState
		err := l.q.row(ctx, c, "SELECT size, lines, next_start FROM job_logs WHERE job_id = ?"+l.q.d.forUpdate,
			jobID).Scan(&st.size, &st.lines, &st.next)
		if !errors.Is(err, sql.ErrNoRows) {
			return st, err
		}
	}
	return logState{}, fmt.Errorf("the log is being removed: %w", lab.ErrConflict)
}

// compare checks that want equals the stored bytes at offset (all of
// which are stored), reading only the chunks that hold them.
func (l *LogStore) compare(ctx context.Context, c conn, jobID, offset int64, want []byte) error {
	pos := offset
	_, err := l.chunks(ctx, c, jobID, offset, offset+int64(len(want)), offset+int64(len(want)), func(b []byte) error {
		w := want[pos-offset:]
		for i := range b {
			if b[i] != w[i] {
				return fmt.Errorf("byte %d differs from the stored log: %w", pos+int64(i), logstore.ErrMismatch)
			}
		}
		pos += int64(len(b))
		return nil
	})
	return err
}

// insert appends tail after the stored bytes of st, in chunks of at most
// maxLogChunk, and updates the job's row and st.
func (l *LogStore) insert(ctx context.Context, c conn, jobID int64, st *logState, tail []byte) error {
	for len(tail) > 0 {
		part := tail[:min(len(tail), maxLogChunk)]
		tail = tail[len(part):]
		nl := bytes.Count(part, []byte{'\n'})
		if _, err := l.q.exec(ctx, c, `INSERT INTO log_chunks (job_id, start_offset, lines_before, newlines, data)
			VALUES (?, ?, ?, ?, ?)`, jobID, st.size, st.lines, nl, part); err != nil {
			return fmt.Errorf("insert chunk at %d: %w", st.size, err)
		}
		if last := bytes.LastIndexByte(part, '\n'); last >= 0 {
			st.next = st.size + int64(last) + 1
		}
		st.size += int64(len(part))
		st.lines += int64(nl)
	}
	_, err := l.q.exec(ctx, c, "UPDATE job_logs SET size = ?, lines = ?, next_start = ? WHERE job_id = ?",
		st.size, st.lines, st.next, jobID)
	if err != nil {
		return fmt.Errorf("update log size: %w", err)
	}
	return nil
}

// chunks calls fn with the stored bytes [from, reached) in order, in
// pieces, where reached ≤ to: it reads the chunk holding from and those
// after it that start before upto (from < upto ≤ to), so a caller bounds
// a read with upto and continues at reached. The pieces alias nothing
// fn may keep. A hole in the chunks (the log was removed, or replaced,
// while it was read) is lab.ErrNotFound.
func (l *LogStore) chunks(ctx context.Context, c conn, jobID, from, to, upto int64, fn func([]byte) error) (reached int64, err error) {
	rows, err := l.q.query(ctx, c, `SELECT start_offset, data FROM log_chunks
		WHERE job_id = ? AND start_offset >= (SELECT start_offset FROM log_chunks
			WHERE job_id = ? AND start_offset <= ? ORDER BY start_offset DESC LIMIT 1)
		AND start_offset < ? ORDER BY start_offset`, jobID, jobID, from, upto)
	if err != nil {
		return from, fmt.Errorf("read log chunks: %w", err)
	}
	defer rows.Close()
	pos := from
	for rows.Next() && pos < to {
		var start int64
		var data []byte
		if err := rows.Scan(&start, &data); err != nil {
			return pos, fmt.Errorf("read log chunks: %w", err)
		}
		if start > pos || start+int64(len(data)) <= pos {
			break // a hole: reported below
		}
		b := data[pos-start : min(int64(len(data)), to-start)]
		if err := fn(b); err != nil {
			return pos, err
		}
		pos += int64(len(b))
	}
	if err := rows.Err(); err != nil {
		return pos, fmt.Errorf("read log chunks: %w", err)
	}
	if pos == from || (pos < to && pos < upto) {
		return pos, fmt.Errorf("log bytes from %d are not stored (log removed while read?): %w", pos, lab.ErrNotFound)
	}
	return pos, nil
}

// logChunk is a log_chunks row: the bytes [start, start+len(data)) of a
// log, with before newlines ahead of them and newlines in them.
type logChunk struct {
	start, before, newlines int64
	data                    []byte
}

// holdsNewline reports whether c holds the n-th newline of the log.
func (c *logChunk) holdsNewline(n int64) bool {
	return c != nil && c.before < n && n <= c.before+c.newlines
}

// lineStart is the byte offset where complete line n starts (n ≤
// st.lines; line st.lines is the incomplete one, at st.next): after the
// n-th newline, which lies in the last chunk with fewer than n newlines
// before it, found by one lookup in log_chunks_lines, or in hint when it
// holds it. It returns the chunk it scanned (nil when it needed none).
func (l *LogStore) lineStart(ctx context.Context, c conn, jobID int64, st logState, n int64, hint *logChunk) (int64, *logChunk, error) {
	switch {
	case n <= 0:
		return 0, nil, nil
	case n >= st.lines:
		return st.next, nil, nil
	}
	ch := hint
	if !ch.holdsNewline(n) {
		ch = &logChunk{}
		err := l.q.row(ctx, c, `SELECT start_offset, lines_before, newlines, data FROM log_chunks
			WHERE job_id = ? AND lines_before < ? ORDER BY lines_before DESC, start_offset DESC LIMIT 1`,
			jobID, n).Scan(&ch.start, &ch.before, &ch.newlines, &ch.data)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil, fmt.Errorf("line %d is not stored (log removed while read?): %w", n, lab.ErrNotFound)
		} else if err != nil {
			return 0, nil, fmt.Errorf("find line %d: %w", n, err)
		}
	}
	at := -1
	for k := n - ch.before; k > 0; k-- {
		i := bytes.IndexByte(ch.data[at+1:], '\n')
		if i < 0 {
			return 0, nil, fmt.Errorf("chunk at %d of the log has fewer newlines than counted", ch.start)
		}
		at += i + 1
	}
	return ch.start + int64(at) + 1, ch, nil
}

// Size returns the number of bytes stored (committed) for the job; 0 for
// a job never written.
func (l *LogStore) Size(ctx context.Context, jobID int64) (int64, error) {
	st, err := l.read(ctx, jobID)
	if err != nil {
		return 0, classify(fmt.Errorf("log size of job %d: %w", jobID, err))
	}
	return st.size, nil
}

// Lines returns the number of complete (newline-terminated) lines stored.
func (l *LogStore) Lines(ctx context.Context, jobID int64) (int, error) {
	st, err := l.read(ctx, jobID)
	if err != nil {
		return 0, classify(fmt.Errorf("log lines of job %d: %w", jobID, err))
	}
	return int(st.lines), nil
}

// Tail returns the number of complete lines stored and the byte offset
// where the next line starts, from one row.
func (l *LogStore) Tail(ctx context.Context, jobID int64) (lines int, next int64, err error) {
	st, err := l.read(ctx, jobID)
	if err != nil {
		return 0, 0, classify(fmt.Errorf("log tail of job %d: %w", jobID, err))
	}
	return int(st.lines), st.next, nil
}

func (l *LogStore) read(ctx context.Context, jobID int64) (logState, error) {
	if err := checkLogID(jobID); err != nil {
		return logState{}, err
	}
	return l.state(ctx, l.q.r(), jobID)
}

// SHA256 returns the lower-case hex SHA-256 of the whole stored log,
// streaming its chunks in order, a batch at a time.
func (l *LogStore) SHA256(ctx context.Context, jobID int64) (string, error) {
	st, err := l.read(ctx, jobID)
	if err != nil {
		return "", classify(fmt.Errorf("log checksum of job %d: %w", jobID, err))
	}
	h := sha256.New()
	r := &chunkReader{ctx: ctx, l: l, jobID: jobID, pos: 0, to: st.size}
	if _, err := io.Copy(h, r); err != nil {
		return "", classify(fmt.Errorf("log checksum of job %d: %w", jobID, err))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// lineRange is the state of a job and the clamped range of complete
// lines [start, end) with its bytes [from, to), read in one snapshot;
// bytes holds them when they lie in one chunk that was read to find them
// (a window of a few lines usually does), else nil.
type lineRange struct {
	st       logState
	from, to int64
	bytes    []byte
}

func (l *LogStore) lineRange(ctx context.Context, c conn, jobID int64, start, end int) (lineRange, error) {
	st, err := l.state(ctx, c, jobID)
	if err != nil {
		return lineRange{}, err
	}
	s, e := max(int64(start), 0), min(int64(end), st.lines)
	if s >= e {
		return lineRange{st: st}, nil
	}
	from, c1, err := l.lineStart(ctx, c, jobID, st, s, nil)
	if err != nil {
		return lineRange{}, err
	}
	to, c2, err := l.lineStart(ctx, c, jobID, st, e, c1)
	if err != nil {
		return lineRange{}, err
	}
	if from >= to || to > st.size {
		return lineRange{}, fmt.Errorf("lines %d..%d: bytes %d..%d out of range", s, e, from, to)
	}
	lr := lineRange{st: st, from: from, to: to}
	for _, ch := range []*logChunk{c1, c2} {
		if ch != nil && ch.start <= from && to <= ch.start+int64(len(ch.data)) {
			lr.bytes = ch.data[from-ch.start : to-ch.start]
			break
		}
	}
	return lr, nil
}

// ReadLines returns the complete lines [start, end) of the log, without
// their newlines, the range clamped to [0, Lines]; an empty range gives
// no lines. It reads one snapshot: the job's row, two index lookups and
// the chunks of the range. All lines share one buffer sized for the
// range, so callers bound the range.
func (l *LogStore) ReadLines(ctx context.Context, jobID int64, start, end int) ([][]byte, error) {
	var out [][]byte
	err := checkLogID(jobID)
	if err == nil {
		err = l.q.view(ctx, func(c conn) error {
			out = nil
			lr, err := l.lineRange(ctx, c, jobID, start, end)
			if err != nil || lr.from == lr.to {
				return err
			}
			buf := lr.bytes
			if buf == nil {
				buf = make([]byte, 0, lr.to-lr.from)
				if _, err := l.chunks(ctx, c, jobID, lr.from, lr.to, lr.to, func(b []byte) error {
					buf = append(buf, b...)
					return nil
				}); err != nil {
					return err
				}
			}
			for len(buf) > 0 {
				i := bytes.IndexByte(buf, '\n')
				if i < 0 {
					return fmt.Errorf("bytes %d..%d do not end with a newline", lr.from, lr.to)
				}
				out = append(out, buf[:i:i])
				buf = buf[i+1:]
			}
			return nil
		})
	}
	if err != nil {
		return nil, classify(fmt.Errorf("read log lines %d..%d of job %d: %w", start, end, jobID, err))
	}
	return out, nil
}

// OpenLines returns a reader of the complete lines [start, end) of the
// log, clamped as ReadLines does, exactly as stored (each line with its
// newline), their size in bytes and the number of complete lines stored,
// all from one snapshot. A range within one chunk is read with the
// snapshot; the reader of a longer one fetches its chunks a batch of
// about 1 MiB at a time, with ctx, so a download of any size
// costs a bounded amount of memory; it fails with lab.ErrNotFound if the
// log is removed meanwhile. The caller closes it.
func (l *LogStore) OpenLines(ctx context.Context, jobID int64, start, end int) (r io.ReadCloser, size int64, total int, err error) {
	var lr lineRange
	err = checkLogID(jobID)
	if err == nil {
		err = l.q.view(ctx, func(c conn) error {
			var err error
			lr, err = l.lineRange(ctx, c, jobID, start, end)
			return err
		})
	}
	if err != nil {
		return nil, 0, 0, classify(fmt.Errorf("open log lines %d..%d of job %d: %w", start, end, jobID, err))
	}
	r = &chunkReader{ctx: ctx, l: l, jobID: jobID, pos: lr.from, to: lr.to}
	if lr.bytes != nil { // read already, with the range
		r = &chunkReader{buf: lr.bytes}
	}
	return r, lr.to - lr.from, int(lr.st.lines), nil
}

// chunkReader reads the stored bytes [pos, to) of a job's log, a batch
// of chunks at a time.
type chunkReader struct {
	ctx     context.Context
	l       *LogStore
	jobID   int64
	pos, to int64  // next byte to fetch, end
	buf     []byte // fetched, not yet read
	err     error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.pos >= r.to {
			return 0, io.EOF
		}
		r.buf = r.buf[:0]
		reached, err := r.l.chunks(r.ctx, r.l.q.r(), r.jobID, r.pos, r.to, min(r.to, r.pos+logReadBatch), func(b []byte) error {
			r.buf = append(r.buf, b...)
			return nil
		})
		if err != nil {
			r.err = classify(fmt.Errorf("read log of job %d at %d: %w", r.jobID, r.pos, err))
			r.buf = nil
			return 0, r.err
		}
		r.pos = reached
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Close releases the reader's buffer.
func (r *chunkReader) Close() error {
	r.buf, r.err = nil, errors.New("read of a closed log reader")
	return nil
}

// WaitLines blocks until the job's log has more than lines complete lines
// and returns the new count; it returns the count and an error wrapping
// ctx.Err() when ctx ends first. It is woken, without polling, by the
// appends and removals made through this LogStore (a channel per job,
// closed on every change); appends made through another Store are seen
// only when something else wakes it, or at its next call.
func (l *LogStore) WaitLines(ctx context.Context, jobID int64, lines int) (int, error) {
	if err := checkLogID(jobID); err != nil {
		return 0, fmt.Errorf("wait for log of job %d beyond %d lines: %w", jobID, lines, err)
	}
	w := l.watch(jobID)
	defer l.unwatch(jobID, w)
	for {
		l.mu.Lock()
		ch := w.ch
		l.mu.Unlock()
		n, err := l.Lines(ctx, jobID)
		if err != nil {
			return n, fmt.Errorf("wait for log of job %d beyond %d lines: %w", jobID, lines, err)
		}
		if n > lines {
			return n, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return n, fmt.Errorf("wait for log of job %d beyond %d lines: %w", jobID, lines, ctx.Err())
		}
	}
}

func (l *LogStore) watch(jobID int64) *logWatch {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.watches[jobID]
	if w == nil {
		w = &logWatch{ch: make(chan struct{})}
		l.watches[jobID] = w
	}
	w.waiters++
	return w
}

func (l *LogStore) unwatch(jobID int64, w *logWatch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.waiters--; w.waiters == 0 {
		delete(l.watches, jobID)
	}
}

// broadcast wakes the job's waiters.
func (l *LogStore) broadcast(jobID int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.watches[jobID]; w != nil {
		close(w.ch)
		w.ch = make(chan struct{})
	}
}

// Remove deletes the job's log (its row and chunks) in one transaction;
// removing a log never written is no error, and a later Append at offset
// 0 starts a new log. Reads racing with it may fail with lab.ErrNotFound.
func (l *LogStore) Remove(ctx context.Context, jobID int64) error {
	if err := checkLogID(jobID); err != nil {
		return fmt.Errorf("remove log of job %d: %w", jobID, err)
	}
	err := l.s.runTx(ctx, func(c conn) error {
		if _, err := l.q.exec(ctx, c, "DELETE FROM log_chunks WHERE job_id = ?", jobID); err != nil {
			return err
		}
		_, err := l.q.exec(ctx, c, "DELETE FROM job_logs WHERE job_id = ?", jobID)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove log of job %d: %w", jobID, err)
	}
	l.broadcast(jobID)
	return nil
}
