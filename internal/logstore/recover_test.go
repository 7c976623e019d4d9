package logstore

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// writeJob writes a job's files by hand, as a crash may have left them. A
// nil idx leaves the index file out.
func writeJob(t testing.TB, dir string, id int64, log, idx []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(jobPath(dir, id, logName)), 0o750); err != nil {
		t.Fatal(err)
	}
	if log != nil {
		if err := os.WriteFile(jobPath(dir, id, logName), log, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if idx != nil {
		if err := os.WriteFile(jobPath(dir, id, idxName), idx, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecovery(t *testing.T) {
	const full = "a\nbb\nccc\n" // lines at 0, 2, 5
	zeros := func(n int) []byte { return make([]byte, n) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	tests := []struct {
		name string
		log  []byte // nil: no log file
		idx  []byte // nil: no index file
		want string // log after recovery; the index must be naiveIndex(want)
	}{
		{"consistent", []byte(full), encodeIndex(0, 2, 5), full},
		{"index lags the log", []byte(full), encodeIndex(0), full},
		{"empty index", []byte(full), []byte{}, full},
		{"missing index", []byte(full), nil, full},
		{"missing log", nil, encodeIndex(0, 2), ""},
		{"both empty", []byte{}, []byte{}, ""},
		{"torn tail, unindexed", []byte("a\nbb\ncc"), encodeIndex(0, 2), "a\nbb\ncc"},
		{"torn tail, index ahead", []byte("a\nbb\ncc"), encodeIndex(0, 2, 5), "a\nbb\ncc"},
		{"log torn inside an indexed line", []byte("a\nb"), encodeIndex(0, 2, 5), "a\nb"},
		{"log torn to nothing", []byte{}, encodeIndex(0, 2, 5), ""},
		{"partial index entry", []byte(full), cat(encodeIndex(0, 2), []byte{5, 0, 0}), full},
		{"zero-filled index tail", []byte(full), cat(encodeIndex(0, 2), zeros(24)), full},
		{"all-zero index", []byte(full), zeros(32), full},
		{"index entry not after a newline", []byte(full), encodeIndex(0, 3), full},
		{"index not increasing", []byte(full), encodeIndex(0, 5, 2), full},
		{"first entry not zero", []byte(full), encodeIndex(1), full},
		{"zero-filled log tail", cat([]byte(full), zeros(4096)), encodeIndex(0, 2), full},
		{"zero-filled log after a partial line", cat([]byte("a\nbb\ncc"), zeros(10)), encodeIndex(0, 2, 5), "a\nbb\ncc"},
		{"zero-filled log and index", cat([]byte("a\nbb\n"), zeros(100)), cat(encodeIndex(0, 2), zeros(80)), "a\nbb\n"},
		{"no newline at all", []byte("a"), encodeIndex(0), "a"},
		{"entry skips a line", []byte(full), encodeIndex(0, 5), full},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			const id = 2001
			writeJob(t, dir, id, tt.log, tt.idx)
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			checkJob(t, s, dir, id, []byte(tt.want))
			// The files on disk were repaired, not just the view.
			if got, _ := os.ReadFile(jobPath(dir, id, logName)); !bytes.Equal(got, []byte(tt.want)) {
				t.Fatalf("log.ndjson = %q, want %q", got, tt.want)
			}
			if got, _ := os.ReadFile(jobPath(dir, id, idxName)); !bytes.Equal(got, naiveIndex([]byte(tt.want))) {
				t.Fatalf("log.idx = %v, want %v", got, naiveIndex([]byte(tt.want)))
			}
			// The uploader resumes from what is stored and ends with the
			// full journal.
			src := full + "dddd\n"
			stored, err := s.Size(bg, id)
			if err != nil {
				t.Fatal(err)
			}
			if stored, err = s.Append(bg, id, stored, []byte(src[stored:])); err != nil || stored != int64(len(src)) {
				t.Fatalf("resume: stored %d, %v", stored, err)
			}
			checkJob(t, s, dir, id, []byte(src))
		})
	}
}

// TestRecoveryLargeTail checks reconciliation across its block boundaries:
// an index that lags by more than one read block of entries and a log
// tail longer than one scan block.
func TestRecoveryLargeTail(t *testing.T) {
	dir := t.TempDir()
	const id = 31
	var log []byte
	for i := 0; len(log) < 3*scanBlock; i++ {
		log = append(log, bytes.Repeat([]byte{'x'}, i%50)...)
		log = append(log, '\n')
	}
	full := naiveIndex(log)
	damaged := append(append([]byte{}, full[:len(full)/3]...), make([]byte, 9000*entrySize+3)...)
	writeJob(t, dir, id, append(log, make([]byte, 10000)...), damaged)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	checkJob(t, s, dir, id, log)
}
