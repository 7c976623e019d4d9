package logstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// bg is the context of the tests' calls: the file store only looks at
// it while waiting.
var bg = context.Background()

// openStore opens a store in a fresh directory and closes it at the end.
func openStore(t testing.TB, opts ...Option) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

// reopen closes s and opens its directory again.
func reopen(t testing.TB, s *Store, dir string, opts ...Option) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	return s2
}

// naiveLines splits b into its complete lines (without newlines), the
// reference the index is checked against.
func naiveLines(b []byte) [][]byte {
	var out [][]byte
	for {
		k := bytes.IndexByte(b, '\n')
		if k < 0 {
			return out
		}
		out = append(out, b[:k])
		b = b[k+1:]
	}
}

// naiveIndex is the expected log.idx for log bytes b.
func naiveIndex(b []byte) []byte {
	var idx []byte
	start := 0
	for i, c := range b {
		if c == '\n' {
			idx = binary.LittleEndian.AppendUint64(idx, uint64(start))
			start = i + 1
		}
	}
	return idx
}

func encodeIndex(offs ...uint64) []byte {
	var b []byte
	for _, o := range offs {
		b = binary.LittleEndian.AppendUint64(b, o)
	}
	return b
}

func jobPath(dir string, id int64, name string) string {
	return filepath.Join(dir, fmt.Sprintf("%03d", id%1000), fmt.Sprint(id), name)
}

// checkJob verifies every view of job id against want: the API (Size,
// Lines, ReadLines, ReadAt, Reader, SHA256) and the files on disk.
func checkJob(t testing.TB, s *Store, dir string, id int64, want []byte) {
	t.Helper()
	size, err := s.Size(bg, id)
	if err != nil || size != int64(len(want)) {
		t.Fatalf("job %d: Size = %d, %v; want %d", id, size, err, len(want))
	}
	lines := naiveLines(want)
	n, err := s.Lines(bg, id)
	if err != nil || n != len(lines) {
		t.Fatalf("job %d: Lines = %d, %v; want %d", id, n, err, len(lines))
	}
	got, err := s.ReadLines(bg, id, 0, n)
	if err != nil {
		t.Fatalf("job %d: ReadLines: %v", id, err)
	}
	if len(got) != len(lines) {
		t.Fatalf("job %d: ReadLines gave %d lines, want %d", id, len(got), len(lines))
	}
	for i := range lines {
		if !bytes.Equal(got[i], lines[i]) {
			t.Fatalf("job %d: line %d = %q, want %q", id, i, got[i], lines[i])
		}
	}
	buf := make([]byte, len(want)+1)
	m, err := s.ReadAt(id, buf, 0)
	if m != len(want) || err != io.EOF || !bytes.Equal(buf[:m], want) {
		t.Fatalf("job %d: ReadAt = %d, %v; want %d bytes and EOF", id, m, err, len(want))
	}
	r, err := s.Reader(id)
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(all, want) {
		t.Fatalf("job %d: Reader gave %d bytes, %v; want %d", id, len(all), err, len(want))
	}
	sum := sha256.Sum256(want)
	if h, err := s.SHA256(bg, id); err != nil || h != hex.EncodeToString(sum[:]) {
		t.Fatalf("job %d: SHA256 = %s, %v; want %x", id, h, err, sum)
	}
	if len(want) == 0 {
		return
	}
	onDisk, err := os.ReadFile(jobPath(dir, id, logName))
	if err != nil || !bytes.Equal(onDisk, want) {
		t.Fatalf("job %d: log.ndjson has %d bytes (%v), want %d", id, len(onDisk), err, len(want))
	}
	idx, err := os.ReadFile(jobPath(dir, id, idxName))
	if err != nil || !bytes.Equal(idx, naiveIndex(want)) {
		t.Fatalf("job %d: log.idx = %v (%v), want %v", id, idx, err, naiveIndex(want))
	}
}

// journal returns n bytes of NDJSON-like text: lines of random length
// (1..maxLine bytes including the newline), without NUL.
func journal(rng *rand.Rand, n, maxLine int) []byte {
	b := make([]byte, 0, n)
	for len(b) < n {
		l := 1 + rng.IntN(maxLine)
		for i := 0; i < l-1 && len(b) < n; i++ {
			b = append(b, byte('a'+rng.IntN(26)))
		}
		if len(b) < n {
			b = append(b, '\n')
		}
	}
	return b
}

func statFile(dir, rel string) (os.FileInfo, error) {
	return os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
}
