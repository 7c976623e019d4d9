package logstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// copyBlock is how much of a log Copy uploads at a time.
const copyBlock = 1 << 20

// Jobs returns the IDs of the jobs whose logs the store holds, ascending
// (for copying a lab's logs elsewhere). It reads the directory, not the
// logs.
func (s *Store) Jobs() ([]int64, error) {
	shards, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list logs: %w", err)
	}
	var ids []int64
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 3 {
			continue
		}
		jobs, err := os.ReadDir(filepath.Join(s.dir, sh.Name()))
		if err != nil {
			return nil, fmt.Errorf("list logs: %w", err)
		}
		for _, j := range jobs {
			id, err := strconv.ParseInt(j.Name(), 10, 64)
			if err != nil || id <= 0 || !j.IsDir() || s.jobDir(id) != filepath.Join(s.dir, sh.Name(), j.Name()) {
				continue
			}
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Copy uploads job jobID's whole stored log from s to dst, as a worker
// uploads its journal: in blocks, by offset. It is idempotent (a log dst
// already holds, wholly or in part, is completed, not duplicated), and it
// checks that dst then holds the same bytes (size and SHA-256). It returns
// the log's size. A log that differs from what dst holds is ErrMismatch.
func Copy(ctx context.Context, dst Logs, s *Store, jobID int64) (int64, error) {
	snap, err := s.Reader(jobID)
	if err != nil {
		return 0, err
	}
	defer snap.Close()
	size := snap.Size()
	buf := make([]byte, copyBlock)
	for off := int64(0); off < size; {
		n, err := snap.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
			return 0, fmt.Errorf("copy log of job %d: read at %d: %w", jobID, off, err)
		}
		stored, err := dst.Append(ctx, jobID, off, buf[:n])
		if err != nil {
			return 0, fmt.Errorf("copy log of job %d: %w", jobID, err)
		}
		off = max(off+int64(n), min(stored, size))
	}
	want, err := s.SHA256(ctx, jobID)
	if err != nil {
		return 0, err
	}
	gotSize, err := dst.Size(ctx, jobID)
	if err != nil {
		return 0, fmt.Errorf("copy log of job %d: %w", jobID, err)
	}
	got, err := dst.SHA256(ctx, jobID)
	if err != nil {
		return 0, fmt.Errorf("copy log of job %d: %w", jobID, err)
	}
	if gotSize != size || got != want {
		return 0, fmt.Errorf("copy log of job %d: the copy has %d bytes (SHA-256 %s), the log %d (%s): %w", jobID, gotSize, got, size, want, ErrMismatch)
	}
	return size, nil
}
