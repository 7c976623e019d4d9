package logstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Reads see only durable bytes: the published size, which Append raises
// after fsync. A job that was never written reads as an empty log; reads
// never create files.

// Size returns the number of bytes stored durably for the job.
func (s *Store) Size(_ context.Context, jobID int64) (int64, error) {
	var size int64
	err := s.with(jobID, func(_ *job, v view) error { size = v.size; return nil })
	if err != nil {
		return 0, fmt.Errorf("log size of job %d: %w", jobID, err)
	}
	return size, nil
}

// Lines returns the number of complete (newline-terminated) lines stored.
func (s *Store) Lines(_ context.Context, jobID int64) (int, error) {
	var n int
	err := s.with(jobID, func(_ *job, v view) error { n = v.lines; return nil })
	if err != nil {
		return 0, fmt.Errorf("log lines of job %d: %w", jobID, err)
	}
	return n, nil
}

// Tail returns the number of complete lines stored and the byte offset
// where the next line starts: the size when the log ends with a newline,
// else the start of its incomplete last line. Both are read at once.
func (s *Store) Tail(_ context.Context, jobID int64) (lines int, next int64, err error) {
	err = s.with(jobID, func(_ *job, v view) error { lines, next = v.lines, v.next; return nil })
	if err != nil {
		return 0, 0, fmt.Errorf("log tail of job %d: %w", jobID, err)
	}
	return lines, next, nil
}

// SHA256 returns the lower-case hex SHA-256 of the whole stored log, as the
// worker reports it in its finish message. The digest is kept running per
// job, so repeated calls hash only what was appended in between.
func (s *Store) SHA256(_ context.Context, jobID int64) (string, error) {
	var sum string
	err := s.with(jobID, func(j *job, v view) error {
		j.sumMu.Lock()
		defer j.sumMu.Unlock()
		if j.sum == nil || j.sumAt > v.size {
			j.sum, j.sumAt = sha256.New(), 0
		}
		if v.size > j.sumAt {
			if _, err := io.Copy(j.sum, io.NewSectionReader(v.log, j.sumAt, v.size-j.sumAt)); err != nil {
				j.sum = nil
				return fmt.Errorf("read log: %w", err)
			}
			j.sumAt = v.size
		}
		sum = hex.EncodeToString(j.sum.Sum(nil))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("log checksum of job %d: %w", jobID, err)
	}
	return sum, nil
}

// ReadLines returns the complete lines [start, end) of the log, without
// their newlines. The range is clamped to [0, Lines]; an empty range gives
// no lines and no error. All lines share one buffer sized for the range, so
// callers bound the range (the UI pages through a log).
func (s *Store) ReadLines(_ context.Context, jobID int64, start, end int) ([][]byte, error) {
	var out [][]byte
	err := s.with(jobID, func(_ *job, v view) error {
		start, end = max(start, 0), min(end, v.lines)
		if start >= end {
			return nil
		}
		// Entries start..end-1 give line starts; the end of the last line
		// is entry end, or next when the range reaches the last line.
		n := end - start
		raw := make([]byte, (n+1)*entrySize)
		if end == v.lines {
			raw = raw[:n*entrySize]
		}
		if _, err := v.idx.ReadAt(raw, int64(start)*entrySize); err != nil {
			return fmt.Errorf("read index: %w", err)
		}
		offs := make([]int64, n+1)
		for i := range offs {
			if i*entrySize < len(raw) {
				offs[i] = int64(binary.LittleEndian.Uint64(raw[i*entrySize:]))
			} else {
				offs[i] = v.next
			}
		}
		if offs[n] > v.size || offs[0] > offs[n] {
			return fmt.Errorf("index entries %d..%d out of range", start, end)
		}
		buf := make([]byte, offs[n]-offs[0])
		if _, err := v.log.ReadAt(buf, offs[0]); err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		out = make([][]byte, n)
		for i := range out {
			a, b := offs[i]-offs[0], offs[i+1]-offs[0]-1 // drop the newline
			if a > b || b >= int64(len(buf)) || buf[b] != '\n' {
				return fmt.Errorf("index entry %d does not start a line", start+i)
			}
			out[i] = buf[a:b:b]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read log lines %d..%d of job %d: %w", start, end, jobID, err)
	}
	return out, nil
}

// OpenLines returns a reader of the complete lines [start, end) of the log,
// the range clamped to [0, Lines] as ReadLines does, exactly as stored: the
// NDJSON bytes of those lines, each with its newline, size bytes in all.
// total is the number of complete lines the log had at that instant, taken
// together with the range. The reader has its own file handle (outside the
// store's bound on open files, like Reader) and never holds more than the
// caller's buffer: a download of any size, by any number of readers, costs
// no memory for the log. It implements io.WriterTo through an
// io.LimitedReader over the *os.File, so io.Copy to a TCP connection, or to
// an http.ResponseWriter over one, sends the bytes with sendfile(2). The
// caller closes it.
func (s *Store) OpenLines(_ context.Context, jobID int64, start, end int) (r io.ReadCloser, size int64, total int, err error) {
	var lr *LineReader
	err = s.with(jobID, func(j *job, v view) error {
		total = v.lines
		start, end = max(start, 0), min(end, v.lines)
		if start >= end {
			lr = &LineReader{r: io.LimitedReader{R: emptyReader{}}}
			return nil
		}
		from, err := lineStart(v, start)
		if err != nil {
			return err
		}
		to, err := lineStart(v, end)
		if err != nil {
			return err
		}
		if to > v.size || from >= to {
			return fmt.Errorf("index entries %d and %d out of range", start, end)
		}
		// The range must start and end at line boundaries: the byte before
		// each is a newline (the index is reconciled when a job is loaded,
		// so this only catches a store damaged under a running server).
		for _, at := range []int64{from, to} {
			if at == 0 {
				continue
			}
			var nl [1]byte
			if _, err := v.log.ReadAt(nl[:], at-1); err != nil {
				return fmt.Errorf("read log: %w", err)
			}
			if nl[0] != '\n' {
				return fmt.Errorf("index entry at byte %d does not start a line", at)
			}
		}
		f, err := os.Open(filepath.Join(j.dir, logName))
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("log removed: %w", lab.ErrNotFound)
		} else if err != nil {
			return err
		}
		if _, err := f.Seek(from, io.SeekStart); err != nil {
			f.Close()
			return err
		}
		lr = &LineReader{r: io.LimitedReader{R: f, N: to - from}, f: f}
		size = to - from
		return nil
	})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("open log lines %d..%d of job %d: %w", start, end, jobID, err)
	}
	return lr, size, total, nil
}

// lineStart is the byte offset where line n starts, n ≤ v.lines: index
// entry n, or for n == v.lines the offset past the last complete line.
func lineStart(v view, n int) (int64, error) {
	if n == v.lines {
		return v.next, nil
	}
	var e [entrySize]byte
	if _, err := v.idx.ReadAt(e[:], int64(n)*entrySize); err != nil {
		return 0, fmt.Errorf("read index: %w", err)
	}
	return int64(binary.LittleEndian.Uint64(e[:])), nil
}

// LineReader reads a range of complete log lines (OpenLines). It is not
// safe for concurrent use.
type LineReader struct {
	r io.LimitedReader // over f, positioned at the range's first byte
	f *os.File         // nil for an empty range
}

// Read reads the next bytes of the range.
func (l *LineReader) Read(p []byte) (int, error) { return l.r.Read(p) }

// WriteTo copies the rest of the range to w. It hands w the
// io.LimitedReader over the file itself, so that a writer that can (a TCP
// connection, an http.ResponseWriter over one) copies with sendfile(2)
// instead of through memory.
func (l *LineReader) WriteTo(w io.Writer) (int64, error) {
	if l.r.N <= 0 {
		return 0, nil
	}
	n, err := io.Copy(w, &l.r)
	if err != nil {
		return n, fmt.Errorf("copy log lines: %w", err)
	}
	return n, nil
}

// Close releases the reader's file.
func (l *LineReader) Close() error {
	if l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("close log lines: %w", err)
	}
	return nil
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }

// ReadAt reads stored log bytes at byte offset off into p, with the
// contract of io.ReaderAt over the log's current durable size: fewer than
// len(p) bytes come with io.EOF.
func (s *Store) ReadAt(jobID int64, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read log of job %d at %d: %w", jobID, off, lab.ErrInvalid)
	}
	var n int
	err := s.with(jobID, func(_ *job, v view) error {
		if off >= v.size {
			return io.EOF
		}
		want := p[:min(int64(len(p)), v.size-off)]
		m, err := v.log.ReadAt(want, off)
		n = m
		if err != nil {
			return err
		}
		if len(want) < len(p) {
			return io.EOF
		}
		return nil
	})
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("read log of job %d at %d: %w", jobID, off, err)
	}
	return n, err
}

// Snapshot is a read-only view of a job's log as durably stored when Reader
// was called: later Appends do not change its Size. It implements
// io.Reader, io.ReaderAt and io.Seeker (for http.ServeContent) and must be
// closed.
type Snapshot struct {
	*io.SectionReader
	f *os.File
}

// Close releases the snapshot's file.
func (r *Snapshot) Close() error {
	if r.f == nil {
		return nil
	}
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("close log snapshot: %w", err)
	}
	return nil
}

// Reader returns a Snapshot of the job's log for a download. It has its own
// file handle, outside the store's bound on open files, so a slow download
// neither holds the job nor counts against other jobs.
func (s *Store) Reader(jobID int64) (*Snapshot, error) {
	var snap *Snapshot
	err := s.with(jobID, func(j *job, v view) error {
		if v.size == 0 {
			snap = &Snapshot{SectionReader: io.NewSectionReader(emptyReaderAt{}, 0, 0)}
			return nil
		}
		f, err := os.Open(filepath.Join(j.dir, logName))
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("log removed: %w", lab.ErrNotFound)
		} else if err != nil {
			return err
		}
		snap = &Snapshot{SectionReader: io.NewSectionReader(f, 0, v.size), f: f}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open log of job %d: %w", jobID, err)
	}
	return snap, nil
}

type emptyReaderAt struct{}

func (emptyReaderAt) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }

// Wait blocks until the job's stored size exceeds size and returns the new
// size. It is woken by the Append (or Remove) that changes the log, with no
// polling. It returns the current size and an error wrapping ctx.Err() when
// ctx ends first, or ErrClosed when the store closes.
func (s *Store) Wait(ctx context.Context, jobID, size int64) (int64, error) {
	var cur int64
	err := s.wait(ctx, jobID, func(v view) bool { cur = v.size; return cur > size })
	if err != nil {
		return cur, fmt.Errorf("wait for log of job %d beyond %d bytes: %w", jobID, size, err)
	}
	return cur, nil
}

// WaitLines blocks until the job's log has more than lines complete lines
// and returns the new count, like Wait. Live tails call it with the number
// of lines they have shown.
func (s *Store) WaitLines(ctx context.Context, jobID int64, lines int) (int, error) {
	var cur int
	err := s.wait(ctx, jobID, func(v view) bool { cur = v.lines; return cur > lines })
	if err != nil {
		return cur, fmt.Errorf("wait for log of job %d beyond %d lines: %w", jobID, lines, err)
	}
	return cur, nil
}

// wait watches the job (keeping its entry, hence its growth channel, alive)
// and re-checks done after every change.
func (s *Store) wait(ctx context.Context, jobID int64, done func(view) bool) error {
	j, err := s.acquire(jobID, true)
	if err != nil {
		return err
	}
	defer s.unwatch(j)
	for {
		if err := s.ref(j); err != nil {
			return err
		}
		v, err := s.view(j)
		s.release(j)
		if err != nil {
			return err
		}
		if done(v) {
			return nil
		}
		select {
		case <-v.grow:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		}
	}
}

// Remove deletes the job's log and index (retention). It is idempotent; a
// later Append at offset 0 starts a new log. Waiters are woken and keep
// waiting for the new log to grow; reads racing with Remove may fail.
func (s *Store) Remove(_ context.Context, jobID int64) error {
	j, err := s.acquire(jobID, false)
	if err != nil {
		return fmt.Errorf("remove log of job %d: %w", jobID, err)
	}
	defer s.release(j)
	j.wmu.Lock()
	defer j.wmu.Unlock()
	cerr := j.closeFiles()
	s.setOpen(j, false)
	s.takeKnown(jobID)
	if err := os.RemoveAll(j.dir); err != nil {
		return fmt.Errorf("remove log of job %d: %w", jobID, err)
	}
	j.sumMu.Lock()
	j.sum, j.sumAt = nil, 0
	j.sumMu.Unlock()
	j.publishLocked(0, 0, 0)
	if err := syncDir(filepath.Dir(j.dir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove log of job %d: %w", jobID, err)
	}
	if cerr != nil {
		return fmt.Errorf("remove log of job %d: %w", jobID, cerr)
	}
	return nil
}
