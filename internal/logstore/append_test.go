package logstore

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
)

// upload is one Append call and its expected outcome.
type upload struct {
	offset int64
	data   string
	stored int64 // expected return
	err    error // expected errors.Is target, nil for success
}

func TestAppend(t *testing.T) {
	const src = "{\"a\":1}\n{\"b\":22}\n{\"c\":333}\n"
	tests := []struct {
		name    string
		uploads []upload
		want    string // final log
	}{
		{"first write", []upload{{0, src, 27, nil}}, src},
		{"empty first write creates nothing", []upload{{0, "", 0, nil}}, ""},
		{"exact resend", []upload{{0, src, 27, nil}, {0, src, 27, nil}}, src},
		{"old resend inside", []upload{{0, src, 27, nil}, {8, "{\"b\":22}\n", 27, nil}}, src},
		{"empty upload at end", []upload{{0, src[:8], 8, nil}, {8, "", 8, nil}}, src[:8]},
		{"partial overlap", []upload{{0, src[:12], 12, nil}, {8, src[8:20], 20, nil}}, src[:20]},
		{"overlap reaching end exactly", []upload{{0, src[:12], 12, nil}, {4, src[4:12], 12, nil}}, src[:12]},
		{"contiguous chunks", []upload{{0, src[:8], 8, nil}, {8, src[8:17], 17, nil}, {17, src[17:], 27, nil}}, src},
		{"chunk boundary inside a line", []upload{{0, src[:3], 3, nil}, {3, src[3:10], 10, nil}, {10, src[10:], 27, nil}}, src},
		{"chunk boundaries at line ends", []upload{{0, src[:8], 8, nil}, {8, src[8:17], 17, nil}, {17, src[17:27], 27, nil}}, src},
		{"chunk boundary just before a newline", []upload{{0, src[:7], 7, nil}, {7, src[7:16], 16, nil}, {16, src[16:], 27, nil}}, src},
		{"single bytes", func() []upload {
			var u []upload
			for i := range len(src) {
				u = append(u, upload{int64(i), src[i : i+1], int64(i + 1), nil})
			}
			return u
		}(), src},
		{"gap on empty log", []upload{{5, "x", 0, ErrGap}}, ""},
		{"gap", []upload{{0, src[:8], 8, nil}, {9, src[9:], 8, ErrGap}}, src[:8]},
		{"gap then resume", []upload{{0, src[:8], 8, nil}, {17, src[17:], 8, ErrGap}, {8, src[8:], 27, nil}}, src},
		{"mismatch in old resend", []upload{{0, src, 27, nil}, {0, "{\"a\":2}\n", 27, ErrMismatch}}, src},
		{"mismatch in overlap refuses the new tail", []upload{{0, src[:12], 12, nil}, {8, "{\"B\":22}\n{\"c", 12, ErrMismatch}}, src[:12]},
		{"mismatch at the last stored byte", []upload{{0, src[:12], 12, nil}, {11, "X" + src[12:], 12, ErrMismatch}}, src[:12]},
		{"NUL refused", []upload{{0, "a\x00b\n", 0, lab.ErrInvalid}}, ""},
		{"negative offset refused", []upload{{-1, "a", 0, lab.ErrInvalid}}, ""},
		{"no trailing newline", []upload{{0, "abc", 3, nil}, {3, "def", 6, nil}}, "abcdef"},
		{"only newlines", []upload{{0, "\n\n", 2, nil}, {1, "\n\n\n", 4, nil}}, "\n\n\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := openStore(t)
			const id = 1042
			for i, u := range tt.uploads {
				stored, err := s.Append(bg, id, u.offset, []byte(u.data))
				if stored != u.stored {
					t.Errorf("upload %d: stored = %d, want %d", i, stored, u.stored)
				}
				if u.err == nil && err != nil {
					t.Fatalf("upload %d: %v", i, err)
				}
				if u.err != nil && !errors.Is(err, u.err) {
					t.Fatalf("upload %d: err = %v, want %v", i, err, u.err)
				}
				if errors.Is(u.err, ErrGap) || errors.Is(u.err, ErrMismatch) {
					if !errors.Is(err, lab.ErrConflict) {
						t.Fatalf("upload %d: %v does not wrap lab.ErrConflict", i, err)
					}
				}
			}
			checkJob(t, s, dir, id, []byte(tt.want))
			// The same state survives a reopen.
			s = reopen(t, s, dir)
			checkJob(t, s, dir, id, []byte(tt.want))
		})
	}
}

func TestAppendInvalidJob(t *testing.T) {
	s, _ := openStore(t)
	for _, id := range []int64{0, -7} {
		if _, err := s.Append(bg, id, 0, []byte("x\n")); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("Append(job %d) = %v, want ErrInvalid", id, err)
		}
		if _, err := s.Size(bg, id); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("Size(job %d) = %v, want ErrInvalid", id, err)
		}
	}
}

func TestLayout(t *testing.T) {
	s, dir := openStore(t)
	for _, id := range []int64{7, 1007, 123456} {
		if _, err := s.Append(bg, id, 0, []byte("line\n")); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"007/7/log.ndjson", "007/7/log.idx", "007/1007/log.ndjson", "456/123456/log.idx"} {
		if _, err := statFile(dir, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestReadLinesClamp(t *testing.T) {
	s, _ := openStore(t)
	const id = 5
	if _, err := s.Append(bg, id, 0, []byte("zero\none\ntwo\nthr")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		start, end int
		want       []string
	}{
		{0, 3, []string{"zero", "one", "two"}},
		{1, 2, []string{"one"}},
		{2, 100, []string{"two"}},
		{-5, 1, []string{"zero"}},
		{3, 4, nil}, // the incomplete line is not a line yet
		{2, 1, nil},
		{0, 0, nil},
		{50, 60, nil},
	}
	for _, tt := range tests {
		got, err := s.ReadLines(bg, id, tt.start, tt.end)
		if err != nil {
			t.Fatalf("ReadLines(%d, %d): %v", tt.start, tt.end, err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("ReadLines(%d, %d) = %q, want %q", tt.start, tt.end, got, tt.want)
		}
		for i := range got {
			if string(got[i]) != tt.want[i] {
				t.Fatalf("ReadLines(%d, %d) = %q, want %q", tt.start, tt.end, got, tt.want)
			}
		}
	}
	// Lines do not alias each other: appending to one leaves the next alone.
	got, _ := s.ReadLines(bg, id, 0, 2)
	_ = append(got[0], 'X')
	if string(got[1]) != "one" {
		t.Fatalf("line 1 clobbered: %q", got[1])
	}
}

func TestReadAt(t *testing.T) {
	s, _ := openStore(t)
	const id = 9
	if _, err := s.Append(bg, id, 0, []byte("hello\nworld")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		off  int64
		n    int
		want string
		eof  bool
	}{
		{0, 5, "hello", false},
		{6, 5, "world", false},
		{6, 10, "world", true},
		{11, 1, "", true},
		{50, 1, "", true},
	}
	for _, tt := range tests {
		p := make([]byte, tt.n)
		n, err := s.ReadAt(id, p, tt.off)
		if string(p[:n]) != tt.want || (err != nil) != tt.eof || (tt.eof && !errors.Is(err, io.EOF)) {
			t.Errorf("ReadAt(%d, %d) = %q, %v; want %q, eof %v", tt.off, tt.n, p[:n], err, tt.want, tt.eof)
		}
	}
	if _, err := s.ReadAt(id, make([]byte, 1), -1); !errors.Is(err, lab.ErrInvalid) {
		t.Errorf("ReadAt(-1) = %v, want ErrInvalid", err)
	}
}

func TestReaderIsASnapshot(t *testing.T) {
	s, _ := openStore(t)
	const id = 3
	if _, err := s.Append(bg, id, 0, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	r, err := s.Reader(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := s.Append(bg, id, 4, []byte("two\n")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil || buf.String() != "one\n" || r.Size() != 4 {
		t.Fatalf("snapshot read %q (size %d), %v; want %q", buf.String(), r.Size(), err, "one\n")
	}
}

func TestUnknownJobReadsEmpty(t *testing.T) {
	s, dir := openStore(t)
	checkJob(t, s, dir, 77, nil)
	if _, err := statFile(dir, "077"); err == nil {
		t.Fatal("reading an unknown job created its directory")
	}
}

func TestRemove(t *testing.T) {
	s, dir := openStore(t)
	const id = 12
	if _, err := s.Append(bg, id, 0, []byte("old log\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SHA256(bg, id); err != nil { // prime the running checksum
		t.Fatal(err)
	}
	if err := s.Remove(bg, id); err != nil {
		t.Fatal(err)
	}
	if _, err := statFile(dir, "012/12"); err == nil {
		t.Fatal("job directory still exists")
	}
	checkJob(t, s, dir, id, nil)
	if err := s.Remove(bg, id); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if _, err := s.Append(bg, id, 0, []byte("a brand new log\n")); err != nil {
		t.Fatal(err)
	}
	checkJob(t, s, dir, id, []byte("a brand new log\n"))
}

func TestOpenLocksDirectory(t *testing.T) {
	s, dir := openStore(t)
	if _, err := Open(dir); !errors.Is(err, lab.ErrConflict) {
		t.Fatalf("second Open = %v, want ErrConflict", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = s2.Close()
}

func TestClosed(t *testing.T) {
	s, _ := openStore(t)
	if _, err := s.Append(bg, 1, 0, []byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Append(bg, 1, 2, []byte("y\n")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Size(bg, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Size after Close = %v, want ErrClosed", err)
	}
}

// TestAppendIOError makes a write fail by swapping one of the job's files
// for a read-only handle: Append must report the error with the old size,
// leave no unacknowledged bytes behind, and work again on the next call.
func TestAppendIOError(t *testing.T) {
	for _, name := range []string{logName, idxName} {
		t.Run(name, func(t *testing.T) {
			s, dir := openStore(t)
			const id = 21
			if _, err := s.Append(bg, id, 0, []byte("one\n")); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			j := s.jobs[id]
			s.mu.Unlock()
			ro, err := os.Open(jobPath(dir, id, name))
			if err != nil {
				t.Fatal(err)
			}
			j.wmu.Lock()
			j.smu.Lock()
			if name == logName {
				_ = j.log.Close()
				j.log = ro
			} else {
				_ = j.idx.Close()
				j.idx = ro
			}
			j.smu.Unlock()
			j.wmu.Unlock()

			stored, err := s.Append(bg, id, 4, []byte("two\n"))
			if err == nil || stored != 4 {
				t.Fatalf("Append with a broken file = %d, %v; want 4 and an error", stored, err)
			}
			if got, _ := os.ReadFile(jobPath(dir, id, logName)); string(got) != "one\n" {
				t.Fatalf("log after the failed Append = %q, want the acknowledged bytes only", got)
			}
			checkJob(t, s, dir, id, []byte("one\n"))
			if stored, err := s.Append(bg, id, 4, []byte("two\n")); err != nil || stored != 8 {
				t.Fatalf("resend = %d, %v", stored, err)
			}
			checkJob(t, s, dir, id, []byte("one\ntwo\n"))
		})
	}
}

// TestTail: the line count and where the next line starts, as the log
// grows by whole and partial lines, and after a reopen.
func TestTail(t *testing.T) {
	s, dir := openStore(t)
	const id = 9
	check := func(lines int, next int64) {
		t.Helper()
		n, at, err := s.Tail(bg, id)
		if err != nil || n != lines || at != next {
			t.Fatalf("Tail = %d, %d, %v; want %d, %d", n, at, err, lines, next)
		}
	}
	check(0, 0) // no log yet
	for _, step := range []struct {
		data  string
		lines int
		next  int64
	}{
		{"zero\non", 1, 5},
		{"e\ntw", 2, 9},
		{"o\n", 3, 13},
		{"three\nfour\n", 5, 24},
	} {
		size, err := s.Size(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(bg, id, size, []byte(step.data)); err != nil {
			t.Fatal(err)
		}
		check(step.lines, step.next)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(5, 24)
}
