package logstore

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenLines: OpenLines streams exactly the bytes of the lines ReadLines
// returns, each with its newline, whatever the range; the total and the
// range are taken at one instant and later appends do not change them.
func TestOpenLines(t *testing.T) {
	s, _ := openStore(t)
	const id = 5
	if _, err := s.Append(bg, id, 0, []byte("zero\none\ntwo\nthr")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		start, end int
		want       string
	}{
		{0, 3, "zero\none\ntwo\n"},
		{0, 1 << 62, "zero\none\ntwo\n"}, // the whole log: the incomplete line is left out
		{1, 2, "one\n"},
		{2, 100, "two\n"},
		{-5, 1, "zero\n"},
		{3, 4, ""},
		{2, 1, ""},
		{0, 0, ""},
		{50, 60, ""},
	} {
		for _, how := range []string{"Read", "WriteTo"} {
			r, size, total, err := s.OpenLines(bg, id, tt.start, tt.end)
			if err != nil {
				t.Fatalf("OpenLines(%d, %d): %v", tt.start, tt.end, err)
			}
			var buf bytes.Buffer
			if how == "Read" {
				_, err = io.Copy(&buf, struct{ io.Reader }{r}) // Read only
			} else {
				_, err = r.(io.WriterTo).WriteTo(&buf)
			}
			if err != nil {
				t.Fatalf("OpenLines(%d, %d).%s: %v", tt.start, tt.end, how, err)
			}
			if buf.String() != tt.want || size != int64(len(tt.want)) || total != 3 {
				t.Errorf("OpenLines(%d, %d).%s = %q (size %d, total %d), want %q (size %d, total 3)",
					tt.start, tt.end, how, buf.String(), size, total, tt.want, len(tt.want))
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			// The same bytes as ReadLines, newlines added.
			lines, err := s.ReadLines(bg, id, tt.start, tt.end)
			if err != nil {
				t.Fatal(err)
			}
			var joined strings.Builder
			for _, l := range lines {
				joined.Write(l)
				joined.WriteByte('\n')
			}
			if joined.String() != buf.String() {
				t.Errorf("OpenLines(%d, %d) = %q, ReadLines gives %q", tt.start, tt.end, buf.String(), joined.String())
			}
		}
	}

	// A snapshot: lines appended after OpenLines are not read, even though
	// the last line completes.
	r, size, total, err := s.OpenLines(bg, id, 1, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := s.Append(bg, id, 16, []byte("ee\nfour\n")); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "one\ntwo\n" || size != 8 || total != 3 {
		t.Fatalf("snapshot read %q (size %d, total %d), %v; want %q, 8, 3", b, size, total, err, "one\ntwo\n")
	}
	if r2, _, total, _ := s.OpenLines(bg, id, 3, 10); total != 5 {
		t.Fatalf("after the append: total %d, want 5", total)
	} else if b, _ := io.ReadAll(r2); string(b) != "three\nfour\n" {
		t.Fatalf("after the append: read %q", b)
	} else {
		r2.Close()
	}
}

// TestOpenLinesEmpty: a job never written, and an empty range, read as
// nothing; a bad id is an error.
func TestOpenLinesEmpty(t *testing.T) {
	s, dir := openStore(t)
	r, size, total, err := s.OpenLines(bg, 77, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 || size != 0 || total != 0 {
		t.Fatalf("unknown job: %q, size %d, total %d, %v", b, size, total, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "077")); err == nil {
		t.Fatal("reading an unknown job created its directory")
	}
	if _, _, _, err := s.OpenLines(bg, 0, 0, 1); err == nil {
		t.Fatal("OpenLines of job 0 succeeded")
	}
}

// TestOpenLinesDamagedIndex: an index entry that does not start a line (a
// store damaged under a running server) is an error, never bytes cut in
// the middle of a line.
func TestOpenLinesDamagedIndex(t *testing.T) {
	s, dir := openStore(t)
	const id = 6
	if _, err := s.Append(bg, id, 0, []byte("zero\none\ntwo\n")); err != nil {
		t.Fatal(err)
	}
	// Entry 1 should be 5 ("one" starts there); make it 6.
	f, err := os.OpenFile(filepath.Join(dir, "006", "6", idxName), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{6}, entrySize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if r, _, _, err := s.OpenLines(bg, id, 1, 3); err == nil {
		b, _ := io.ReadAll(r)
		r.Close()
		t.Fatalf("OpenLines over a damaged entry read %q, want an error", b)
	}
}
