package logstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/basalt-lab/basalt/internal/lab"
)

// compareBlock is how much stored log an overlap check reads at a time.
const compareBlock = 64 << 10

var comparePool = sync.Pool{New: func() any { b := make([]byte, compareBlock); return &b }}

// Append stores the journal bytes data, which the uploader says start at
// byte offset of the job's journal, and returns the number of bytes stored
// durably afterwards ("have" below is the size before the call):
//
//   - offset > have: nothing is written; the error wraps ErrGap (and
//     lab.ErrConflict) and stored is have, where the uploader must resume.
//   - offset+len(data) <= have: an old resend; nothing is written and
//     stored is have, provided data equals the stored bytes it overlaps.
//   - otherwise data[have-offset:] is appended, the index gets an entry for
//     every line the append completes, and log and index are fsynced before
//     Append returns the new size.
//
// In the last two cases the overlapping part of data must equal what is
// stored; when it does not, nothing is written and the error wraps
// ErrMismatch (and lab.ErrConflict). Data containing a NUL byte is refused
// with lab.ErrInvalid: journal lines are JSON, which never contains one,
// and crash recovery relies on it. A negative offset or a job ID below 1
// is lab.ErrInvalid too.
//
// Appends to one job are serialised; Appends to different jobs run in
// parallel. On an I/O error the job is trimmed back to have and reopened
// (and reconciled) by the next call; stored is then have. A write refused
// because the disk is full (or over quota) wraps lab.ErrStorageFull too:
// nothing is acknowledged, and the same upload succeeds once space is
// freed.
func (s *Store) Append(_ context.Context, jobID, offset int64, data []byte) (stored int64, err error) {
	defer func() { err = storageFull(err) }()
	if offset < 0 {
		return 0, fmt.Errorf("append to log of job %d: offset %d: %w", jobID, offset, lab.ErrInvalid)
	}
	if z := bytes.IndexByte(data, 0); z >= 0 {
		return 0, fmt.Errorf("append to log of job %d: NUL byte at journal offset %d: %w", jobID, offset+int64(z), lab.ErrInvalid)
	}
	j, err := s.acquire(jobID, false)
	if err != nil {
		return 0, fmt.Errorf("append to log of job %d: %w", jobID, err)
	}
	defer s.release(j)
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if err := s.loadLocked(j); err != nil {
		return 0, fmt.Errorf("append to log of job %d: %w", jobID, err)
	}
	// Under wmu the published state is ours: only wmu holders change it.
	have, lines, next := j.size, j.lines, j.next
	if offset > have {
		return have, fmt.Errorf("append to log of job %d at offset %d: %d bytes stored: %w", jobID, offset, have, ErrGap)
	}
	end := offset + int64(len(data))
	if overlap := min(end, have) - offset; overlap > 0 {
		if err := compareStored(j, offset, data[:overlap]); err != nil {
			return have, fmt.Errorf("append to log of job %d at offset %d: %w", jobID, offset, err)
		}
	}
	if end <= have {
		return have, nil
	}
	if j.log == nil {
		if err := s.createLocked(j); err != nil {
			return have, fmt.Errorf("append to log of job %d: %w", jobID, err)
		}
	}
	tail := data[have-offset:]
	entries, newNext := indexTail(tail, have, next)
	if err := j.write(tail, have, entries, lines); err != nil {
		s.failLocked(j, have, lines)
		return have, fmt.Errorf("append to log of job %d at offset %d: %w", jobID, have, err)
	}
	j.publishLocked(end, lines+len(entries)/entrySize, newNext)
	return end, nil
}

// write appends tail at have and entries after the first lines index
// entries, in the order reconcile relies on: log written and fsynced before
// the index entries are written and fsynced.
func (j *job) write(tail []byte, have int64, entries []byte, lines int) error {
	if _, err := j.log.WriteAt(tail, have); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	if err := j.log.Sync(); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := j.idx.WriteAt(entries, int64(lines)*entrySize); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := j.idx.Sync(); err != nil {
		return fmt.Errorf("sync index: %w", err)
	}
	return nil
}

// failLocked trims the job back to its last published (durable) state
// after a failed write and closes it, so the next operation reopens and
// reconciles it. After a failed fsync the page cache cannot be trusted, so
// the unacknowledged bytes are dropped rather than kept; the uploader
// resends them.
func (s *Store) failLocked(j *job, have int64, lines int) {
	_ = j.log.Truncate(have)
	_ = j.idx.Truncate(int64(lines) * entrySize)
	_ = j.closeFiles()
	s.setOpen(j, false)
}

// indexTail returns the index entries for the lines completed by tail,
// which starts at byte offset at; next is the start of the line tail
// continues. It also returns the new start of the unfinished line.
func indexTail(tail []byte, at, next int64) (entries []byte, newNext int64) {
	n := bytes.Count(tail, []byte{'\n'})
	if n == 0 {
		return nil, next
	}
	entries = make([]byte, 0, n*entrySize)
	for i := 0; ; {
		k := bytes.IndexByte(tail[i:], '\n')
		if k < 0 {
			break
		}
		entries = binary.LittleEndian.AppendUint64(entries, uint64(next))
		i += k + 1
		next = at + int64(i)
	}
	return entries, next
}

// compareStored checks that data equals the stored bytes at offset.
func compareStored(j *job, offset int64, data []byte) error {
	bp := comparePool.Get().(*[]byte)
	defer comparePool.Put(bp)
	buf := *bp
	for len(data) > 0 {
		b := buf[:min(len(buf), len(data))]
		if _, err := j.log.ReadAt(b, offset); err != nil {
			return fmt.Errorf("read stored log at %d: %w", offset, err)
		}
		if !bytes.Equal(b, data[:len(b)]) {
			i := 0
			for b[i] == data[i] {
				i++
			}
			return fmt.Errorf("byte %d differs from the stored log: %w", offset+int64(i), ErrMismatch)
		}
		data = data[len(b):]
		offset += int64(len(b))
	}
	return nil
}
