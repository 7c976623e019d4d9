package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
)

// scanBlock is how much of a file reconciliation reads at a time.
const scanBlock = 1 << 20

// reconciles counts the reconciliations of this process (for tests: a job
// reopened after an eviction needs none).
var reconciles atomic.Int64

// loadLocked opens the job's files, reconciles them and publishes the
// result. Called with j.wmu and a ref held; a no-op when already loaded.
func (s *Store) loadLocked(j *job) error {
	j.smu.RLock()
	loaded := j.loaded
	j.smu.RUnlock()
	if loaded {
		return nil
	}
	// Close takes every job's wmu after marking the store closed, so a
	// load that passes this check is undone by Close, and later ones stop.
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if _, err := os.Stat(j.dir); errors.Is(err, fs.ErrNotExist) {
		j.publishLocked(0, 0, 0) // no log yet: empty, nothing open
		return nil
	} else if err != nil {
		return fmt.Errorf("open log of job %d: %w", j.id, err)
	}
	logf, idxf, err := openFiles(j.dir)
	if err != nil {
		return fmt.Errorf("open log of job %d: %w", j.id, err)
	}
	if k, ok := s.takeKnown(j.id); ok {
		// Closed by this process while sound: trust its state when the
		// file agrees on the size (a cheap check), else reconcile.
		if st, err := logf.Stat(); err == nil && st.Size() == k.size {
			j.smu.Lock()
			j.log, j.idx = logf, idxf
			j.smu.Unlock()
			s.setOpen(j, true)
			j.publishLocked(k.size, k.lines, k.next)
			return nil
		}
	}
	size, lines, next, err := reconcile(logf, idxf)
	if err != nil {
		_ = logf.Close()
		_ = idxf.Close()
		return fmt.Errorf("recover log of job %d: %w", j.id, err)
	}
	j.smu.Lock()
	j.log, j.idx = logf, idxf
	j.smu.Unlock()
	s.setOpen(j, true)
	j.publishLocked(size, int(lines), next)
	return nil
}

// takeKnown returns and forgets the state this process kept of job id when
// it closed its files (Store.known).
func (s *Store) takeKnown(id int64) (knownState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.known[id]
	delete(s.known, id)
	return k, ok
}

// openFiles opens (creating them if missing) a job's log and index.
func openFiles(dir string) (logf, idxf *os.File, err error) {
	logf, err = os.OpenFile(filepath.Join(dir, logName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, err
	}
	idxf, err = os.OpenFile(filepath.Join(dir, idxName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		_ = logf.Close()
		return nil, nil, err
	}
	return logf, idxf, nil
}

// createLocked creates the job's directory and empty files, durably: the
// new directory entries are fsynced, so a crash cannot lose a log whose
// bytes were acknowledged. Called with j.wmu and a ref held.
func (s *Store) createLocked(j *job) error {
	shard := filepath.Dir(j.dir)
	if err := os.MkdirAll(j.dir, 0o750); err != nil {
		return fmt.Errorf("create log of job %d: %w", j.id, err)
	}
	logf, idxf, err := openFiles(j.dir)
	if err != nil {
		return fmt.Errorf("create log of job %d: %w", j.id, err)
	}
	for _, d := range []string{j.dir, shard, s.dir} {
		if err := syncDir(d); err != nil {
			_ = logf.Close()
			_ = idxf.Close()
			return fmt.Errorf("create log of job %d: %w", j.id, err)
		}
	}
	j.smu.Lock()
	j.log, j.idx = logf, idxf
	j.smu.Unlock()
	s.setOpen(j, true)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// reconcile makes a job's index agree with its log after a crash or an
// failed Append, and makes the result durable. It relies on the write
// order of Append (log bytes written and fsynced before their index
// entries are written), so the damage it can meet is confined to the
// tails of both files:
//
//   - index entries past the log's end, entries whose line is no longer
//     complete, a partial last entry, or a zero-filled index tail: dropped,
//     walking back from the end to the last entry that is plausible
//     (below the log size, its line complete, and the line of the entry
//     before it ending exactly one byte before it);
//   - log lines the index does not cover yet: indexed;
//   - a zero-filled log tail (a filesystem that extended the file but lost
//     the data): the log is cut at the first NUL byte past the last indexed
//     line. Journal bytes never contain NUL (Append refuses them), so a NUL
//     is always crash debris, and everything before it is bytes an upload
//     really carried.
//
// It returns the log size, the number of complete lines and the offset just
// past the last complete line.
func reconcile(logf, idxf *os.File) (size, lines, next int64, err error) {
	reconciles.Add(1)
	st, err := logf.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	size = st.Size()
	ist, err := idxf.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	n, next, err := lastGoodEntry(logf, idxf, ist.Size()/entrySize, size)
	if err != nil {
		return 0, 0, 0, err
	}

	// Scan the unindexed tail for NUL debris and for lines to index.
	var entries []byte
	cut := size
	buf := make([]byte, scanBlock)
	for off := next; off < cut; {
		m, err := logf.ReadAt(buf[:min(int64(len(buf)), cut-off)], off)
		if err != nil && !(errors.Is(err, io.EOF) && m > 0) {
			return 0, 0, 0, fmt.Errorf("read log at %d: %w", off, err)
		}
		b := buf[:m]
		if z := bytes.IndexByte(b, 0); z >= 0 {
			b = b[:z]
			cut = off + int64(z)
		}
		for i := 0; ; {
			k := bytes.IndexByte(b[i:], '\n')
			if k < 0 {
				break
			}
			entries = binary.LittleEndian.AppendUint64(entries, uint64(next))
			next = off + int64(i+k) + 1
			i += k + 1
		}
		off += int64(len(b))
	}
	if cut < size {
		if err := logf.Truncate(cut); err != nil {
			return 0, 0, 0, fmt.Errorf("cut log at %d: %w", cut, err)
		}
		size = cut
	}
	if ist.Size() != n*entrySize {
		if err := idxf.Truncate(n * entrySize); err != nil {
			return 0, 0, 0, fmt.Errorf("truncate index to %d entries: %w", n, err)
		}
	}
	if len(entries) > 0 {
		if _, err := idxf.WriteAt(entries, n*entrySize); err != nil {
			return 0, 0, 0, fmt.Errorf("extend index: %w", err)
		}
	}
	// Whatever is in the files now is published as stored: make it durable
	// first (a process crash leaves unsynced bytes in the page cache).
	if err := logf.Sync(); err != nil {
		return 0, 0, 0, fmt.Errorf("sync log: %w", err)
	}
	if err := idxf.Sync(); err != nil {
		return 0, 0, 0, fmt.Errorf("sync index: %w", err)
	}
	return size, n + int64(len(entries))/entrySize, next, nil
}

// lastGoodEntry walks the index back from entry n-1 to the last plausible
// one (see reconcile) and returns how many entries to keep and the offset
// just past the line of the last kept entry.
func lastGoodEntry(logf, idxf *os.File, n, size int64) (keep, next int64, err error) {
	const batch = 4096 // entries read at a time
	buf := make([]byte, (batch+1)*entrySize)
	for n > 0 {
		// Entries [lo, n) plus the one before lo, to check increase.
		lo := max(n-batch, 0)
		first := max(lo-1, 0)
		b := buf[:(n-first)*entrySize]
		if _, err := idxf.ReadAt(b, first*entrySize); err != nil {
			return 0, 0, fmt.Errorf("read index: %w", err)
		}
		entry := func(k int64) int64 { return int64(binary.LittleEndian.Uint64(b[(k-first)*entrySize:])) }
		for ; n > lo; n-- {
			k := n - 1
			e := entry(k)
			if e < 0 || e >= size {
				continue
			}
			if k == 0 {
				if e != 0 {
					continue
				}
			} else if prev := entry(k - 1); e <= prev || prev < 0 {
				continue
			} else if pend, err := lineEnd(logf, prev, e); err != nil {
				return 0, 0, err
			} else if pend != e-1 {
				continue // the previous line does not end just before e
			}
			end, err := lineEnd(logf, e, size)
			if err != nil {
				return 0, 0, err
			}
			if end >= 0 {
				return n, end + 1, nil
			}
		}
	}
	return 0, 0, nil
}

// lineEnd returns the offset of the first newline at or after off, or -1 if
// there is none before size.
func lineEnd(f *os.File, off, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for off < size {
		m, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if err != nil && !(errors.Is(err, io.EOF) && m > 0) {
			return 0, fmt.Errorf("read log at %d: %w", off, err)
		}
		if k := bytes.IndexByte(buf[:m], '\n'); k >= 0 {
			return off + int64(k), nil
		}
		off += int64(m)
	}
	return -1, nil
}
