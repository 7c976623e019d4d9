package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/tinyfs"
)

// paddedLines returns n journal lines of about 100 bytes each.
func paddedLines(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"dt":"2026-01-02T03:04:05Z","lvl":"target","msg":"line %06d of a log that fills a disk, padded to a hundred"}`+"\n", i)
	}
	return b.Bytes()
}

// TestAppendOnFullDisk: on a real full filesystem (a small tmpfs) an
// append is refused with an error wrapping lab.ErrStorageFull, the stored
// log keeps exactly its acknowledged bytes, Probe and DiskFree say the
// disk is full; once space is freed the same upload is stored, and the log
// is the journal byte for byte.
func TestAppendOnFullDisk(t *testing.T) {
	dir := tinyfs.Mount(t, 1<<20)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	data := paddedLines(300) // 30 KB: several pages
	half := int64(len(data) / 2)
	if n, err := s.Append(bg, 1, 0, data[:half]); err != nil || n != half {
		t.Fatalf("append before the disk is full: %d, %v", n, err)
	}
	filler := tinyfs.Fill(t, dir)

	for _, job := range []int64{1, 2} { // a log that grows, a new one
		off := int64(0)
		if job == 1 {
			off = half
		}
		stored, err := s.Append(bg, job, off, data[off:])
		if !errors.Is(err, lab.ErrStorageFull) {
			t.Fatalf("job %d: append on a full disk: %v, want an error wrapping lab.ErrStorageFull", job, err)
		}
		if stored != off {
			t.Errorf("job %d: append on a full disk acknowledged %d bytes, want %d", job, stored, off)
		}
		if size, err := s.Size(bg, job); err != nil || size != off {
			t.Errorf("job %d: size %d, %v after a refused append, want %d", job, size, err, off)
		}
	}
	if err := s.Probe(); !errors.Is(err, lab.ErrStorageFull) {
		t.Errorf("Probe on a full disk: %v, want lab.ErrStorageFull", err)
	}
	if free, err := s.DiskFree(); err != nil || free >= probeSize {
		t.Errorf("DiskFree on a full disk: %d, %v", free, err)
	}

	tinyfs.Free(t, filler)
	if err := s.Probe(); err != nil {
		t.Errorf("Probe after space was freed: %v", err)
	}
	if free, err := s.DiskFree(); err != nil || free < 512<<10 {
		t.Errorf("DiskFree after space was freed: %d, %v", free, err)
	}
	for _, job := range []int64{1, 2} {
		off := int64(0)
		if job == 1 {
			off = half
		}
		if n, err := s.Append(bg, job, off, data[off:]); err != nil || n != int64(len(data)) {
			t.Fatalf("job %d: the same upload after space was freed: %d, %v", job, n, err)
		}
		checkJob(t, s, dir, job, data)
	}
	// and the same after a restart (reconciliation of what the failed
	// appends left)
	s2 := reopen(t, s, dir)
	for _, job := range []int64{1, 2} {
		checkJob(t, s2, dir, job, data)
	}
}
