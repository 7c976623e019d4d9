package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCopy: Jobs lists the logs held; Copy moves each one whole into
// another store (here another file store standing for the database),
// blocks and an unfinished last line included, again without change, and
// refuses a destination holding other bytes.
func TestCopy(t *testing.T) {
	src, dir := openStore(t)
	dst, _ := openStore(t)
	var big bytes.Buffer
	for i := 0; big.Len() < 3*copyBlock+123; i++ {
		fmt.Fprintf(&big, `{"dt":"2026-12-06T00:00:00Z","lvl":"target","msg":"line %d"}`+"\n", i)
	}
	logs := map[int64][]byte{
		7:    []byte("{\"a\":1}\n{\"b\":2}\n{\"unfinished"),
		1007: big.Bytes(),
		42:   []byte("{\"one\":1}\n"),
	}
	for id, b := range logs {
		if _, err := src.Append(bg, id, 0, b); err != nil {
			t.Fatal(err)
		}
	}
	// debris in the directory is not a job
	if err := os.MkdirAll(filepath.Join(dir, "abc", "12"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "001", "2"), 0o750); err != nil { // not where job 2 lives
		t.Fatal(err)
	}
	ids, err := src.Jobs()
	if err != nil || !slices.Equal(ids, []int64{7, 42, 1007}) {
		t.Fatalf("Jobs: %v, %v", ids, err)
	}
	// job 42 is already partly in the destination
	if _, err := dst.Append(bg, 42, 0, []byte("{\"one\"")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time changes nothing
		for _, id := range ids {
			n, err := Copy(bg, dst, src, id)
			if err != nil || n != int64(len(logs[id])) {
				t.Fatalf("copy job %d: %d, %v", id, n, err)
			}
			got := readAll(t, dst, id)
			if !bytes.Equal(got, logs[id]) {
				t.Errorf("job %d copied: %d bytes, want %d", id, len(got), len(logs[id]))
			}
		}
	}
	if _, err := dst.Append(bg, 99, 0, []byte("{\"other\":1}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Append(bg, 99, 0, []byte("{\"mine\":1}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(bg, dst, src, 99); !errors.Is(err, ErrMismatch) {
		t.Errorf("copy onto other bytes: %v, want ErrMismatch", err)
	}
}

// readAll returns a job's whole stored log.
func readAll(t testing.TB, s *Store, id int64) []byte {
	t.Helper()
	snap, err := s.Reader(id)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	b := make([]byte, snap.Size())
	if _, err := snap.ReadAt(b, 0); err != nil && len(b) > 0 {
		t.Fatal(err)
	}
	return b
}
