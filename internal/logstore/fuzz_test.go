package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// cleanSource turns fuzz bytes into a journal: no NUL (Append refuses it),
// bounded length.
func cleanSource(src []byte, limit int) []byte {
	src = bytes.Clone(src[:min(len(src), limit)])
	for i, c := range src {
		if c == 0 {
			src[i] = '\n'
		}
	}
	return src
}

// FuzzAppend uploads random (offset, length) ranges of a random journal,
// some overlapping with a wrong byte, with reopens in between. Whatever the
// order and duplication, the store must hold exactly the prefix of the
// journal it was given contiguously, answer every call as the model says,
// and keep an index that matches a naive line split.
func FuzzAppend(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), []byte{0, 0, 4, 0, 0, 4, 0, 9, 0, 0})
	f.Add([]byte("{\"dt\":1}\n{\"dt\":2}\nno newline"), []byte{0, 0, 3, 0, 2, 5, 0, 30, 0, 1, 2, 0, 40, 0, 0, 0, 0, 50, 0, 3})
	f.Add([]byte("\n\n\n\n"), []byte{1, 0, 1, 0, 0, 0, 0, 2, 0, 0, 2, 0, 2, 0, 1})
	f.Fuzz(func(t *testing.T, rawSrc, ops []byte) {
		src := cleanSource(rawSrc, 4096)
		dir := t.TempDir()
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		const id = 1
		var have int64 // the model: the store holds src[:have]
		reopens := 0
		for i := 0; i+5 <= len(ops) && i < 5*64; i += 5 {
			off := int64(binary.LittleEndian.Uint16(ops[i:])) % int64(len(src)+1)
			n := int64(binary.LittleEndian.Uint16(ops[i+2:])) % (int64(len(src)) - off + 1)
			flags := ops[i+4]
			data := bytes.Clone(src[off : off+n])
			corrupt := flags&1 != 0 && off < have && n > 0
			if corrupt {
				data[0] = data[0] ^ 0x20
				if data[0] == 0 {
					data[0] = 'x'
				}
			}
			stored, err := s.Append(bg, id, off, data)
			wantErr := error(nil)
			switch {
			case off > have:
				wantErr = ErrGap
			case corrupt:
				wantErr = ErrMismatch
			default:
				have = max(have, off+n)
			}
			if stored != have || !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
				t.Fatalf("op %d: Append(%d, %d bytes) = %d, %v; want %d, %v", i/5, off, n, stored, err, have, wantErr)
			}
			if flags&2 != 0 && reopens < 4 {
				reopens++
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if s, err = Open(dir); err != nil {
					t.Fatal(err)
				}
			}
			if flags&4 != 0 {
				checkJob(t, s, dir, id, src[:have])
			}
		}
		checkJob(t, s, dir, id, src[:have])
	})
}

// FuzzRecover damages a consistent job the ways a crash can — the log cut
// anywhere and zero-filled past the cut, the index cut anywhere (even ahead
// of the log), zero-filled, with a partial last entry — and checks that
// opening it repairs both files to the journal's prefix before the cut.
func FuzzRecover(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), uint16(5), uint16(3), uint16(0), uint16(0), uint8(0))
	f.Add([]byte("a\nbb\nccc\n"), uint16(7), uint16(3), uint16(4096), uint16(24), uint8(3))
	f.Add([]byte("no newline at all"), uint16(9), uint16(1), uint16(1), uint16(8), uint8(7))
	f.Fuzz(func(t *testing.T, rawSrc []byte, logCut, idxKeep, logZeros, idxZeros uint16, partial uint8) {
		src := cleanSource(rawSrc, 8192)
		cut := int(logCut) % (len(src) + 1)
		full := naiveIndex(src)
		keep := min(int(idxKeep)*entrySize, len(full))
		log := append(bytes.Clone(src[:cut]), make([]byte, int(logZeros)%5000)...)
		idx := append(bytes.Clone(full[:keep]), make([]byte, int(idxZeros)%4000)...)
		idx = append(idx, bytes.Repeat([]byte{0xff}, int(partial)%entrySize)...)
		dir := t.TempDir()
		const id = 77
		writeJob(t, dir, id, log, idx)
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		checkJob(t, s, dir, id, src[:cut])
		// checkJob reads the files only for non-empty logs.
		if got, _ := os.ReadFile(jobPath(dir, id, idxName)); !bytes.Equal(got, naiveIndex(src[:cut])) {
			t.Fatalf("log.idx = %v, want %v", got, naiveIndex(src[:cut]))
		}
	})
}
