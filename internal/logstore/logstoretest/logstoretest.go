// Package logstoretest is the conformance suite of logstore.Logs: every
// store of job logs (the file store in internal/logstore, the SQL store
// in internal/store/sqlstore) runs it, and must behave identically.
package logstoretest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
)

// Run runs the whole suite; open returns a new, empty store for one test
// (closed by the caller's t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) logstore.Logs) {
	tests := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) logstore.Logs)
	}{
		{"Empty", testEmpty},
		{"Append", testAppend},
		{"Invalid", testInvalid},
		{"IncompleteLine", testIncompleteLine},
		{"Windows", testWindows},
		{"RandomUploads", testRandomUploads},
		{"SHA256", testSHA256},
		{"WaitLines", testWaitLines},
		{"Remove", testRemove},
		{"JobsApart", testJobsApart},
		{"ConcurrentAppenders", testConcurrentAppenders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open) })
	}
}

// Log is the reference of a stored journal: its bytes, computed in the
// test, against which a store is compared.
type Log []byte

// Lines are the complete lines of the log, without their newlines.
func (r Log) Lines() [][]byte {
	var out [][]byte
	b := []byte(r)
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return out
		}
		out = append(out, b[:i])
		b = b[i+1:]
	}
}

// Next is the offset where the next (incomplete) line starts.
func (r Log) Next() int64 { return int64(bytes.LastIndexByte(r, '\n') + 1) }

// Window is the bytes of complete lines [start, end), clamped, each with
// its newline.
func (r Log) Window(start, end int) []byte {
	lines := r.Lines()
	start, end = max(start, 0), min(end, len(lines))
	var b []byte
	for i := start; i < end; i++ {
		b = append(b, lines[i]...)
		b = append(b, '\n')
	}
	return b
}

// Check compares everything a store says of job id with ref: size, lines,
// tail, checksum and every line (read whole and through OpenLines).
func Check(t testing.TB, s logstore.Logs, id int64, ref Log) {
	t.Helper()
	ctx := context.Background()
	size, err := s.Size(ctx, id)
	if err != nil || size != int64(len(ref)) {
		t.Fatalf("job %d: Size = %d, %v; want %d", id, size, err, len(ref))
	}
	want := ref.Lines()
	n, err := s.Lines(ctx, id)
	if err != nil || n != len(want) {
		t.Fatalf("job %d: Lines = %d, %v; want %d", id, n, err, len(want))
	}
	n, next, err := s.Tail(ctx, id)
	if err != nil || n != len(want) || next != ref.Next() {
		t.Fatalf("job %d: Tail = %d, %d, %v; want %d, %d", id, n, next, err, len(want), ref.Next())
	}
	sum, err := s.SHA256(ctx, id)
	if h := sha256.Sum256(ref); err != nil || sum != hex.EncodeToString(h[:]) {
		t.Fatalf("job %d: SHA256 = %s, %v; want %x", id, sum, err, h)
	}
	got, err := s.ReadLines(ctx, id, 0, math.MaxInt)
	if err != nil {
		t.Fatalf("job %d: ReadLines: %v", id, err)
	}
	if len(got) != len(want) {
		t.Fatalf("job %d: ReadLines gave %d lines, want %d", id, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("job %d: line %d = %.80q, want %.80q", id, i, got[i], want[i])
		}
	}
	checkOpen(t, s, id, ref, 0, math.MaxInt)
}

// checkOpen compares OpenLines(start, end) with the reference.
func checkOpen(t testing.TB, s logstore.Logs, id int64, ref Log, start, end int) {
	t.Helper()
	r, size, total, err := s.OpenLines(context.Background(), id, start, end)
	if err != nil {
		t.Fatalf("job %d: OpenLines(%d, %d): %v", id, start, end, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("job %d: OpenLines(%d, %d): read: %v", id, start, end, err)
	}
	want := ref.Window(start, end)
	if !bytes.Equal(b, want) || size != int64(len(want)) || total != len(ref.Lines()) {
		t.Fatalf("job %d: OpenLines(%d, %d) = %d bytes (%.60q…), size %d, total %d; want %d bytes (%.60q…), total %d",
			id, start, end, len(b), b, size, total, len(want), want, len(ref.Lines()))
	}
}

// checkReadLines compares ReadLines(start, end) with the reference.
func checkReadLines(t testing.TB, s logstore.Logs, id int64, ref Log, start, end int) {
	t.Helper()
	got, err := s.ReadLines(context.Background(), id, start, end)
	if err != nil {
		t.Fatalf("job %d: ReadLines(%d, %d): %v", id, start, end, err)
	}
	lines := ref.Lines()
	s0, e0 := max(start, 0), min(end, len(lines))
	var want [][]byte
	if s0 < e0 {
		want = lines[s0:e0]
	}
	if len(got) != len(want) {
		t.Fatalf("job %d: ReadLines(%d, %d) gave %d lines, want %d", id, start, end, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("job %d: ReadLines(%d, %d): line %d = %.80q, want %.80q", id, start, end, s0+i, got[i], want[i])
		}
	}
}

func testEmpty(t *testing.T, open func(t *testing.T) logstore.Logs) {
	s := open(t)
	Check(t, s, 1, nil)
	for _, r := range [][2]int{{0, 0}, {0, 10}, {-3, 3}, {5, 2}} {
		checkReadLines(t, s, 7, nil, r[0], r[1])
		checkOpen(t, s, 7, nil, r[0], r[1])
	}
	// An empty append at 0 is no error and stores nothing.
	if n, err := s.Append(t.Context(), 2, 0, nil); err != nil || n != 0 {
		t.Fatalf("empty Append = %d, %v", n, err)
	}
	Check(t, s, 2, nil)
}

// step is one Append and what it must give.
type step struct {
	off     int64
	data    string
	stored  int64
	wantErr error // nil, logstore.ErrGap, logstore.ErrMismatch or lab.ErrInvalid
}

func testAppend(t *testing.T, open func(t *testing.T) logstore.Logs) {
	const j = "a\nbb\nccc\n" // the journal every case uploads parts of
	tests := []struct {
		name    string
		uploads []step
		want    string // stored afterwards
	}{
		{"in order", []step{{0, "a\n", 2, nil}, {2, "bb\n", 5, nil}, {5, "ccc\n", 9, nil}}, j},
		{"all at once", []step{{0, j, 9, nil}}, j},
		{"old resend", []step{{0, j, 9, nil}, {2, "bb\n", 9, nil}, {0, "a", 9, nil}}, j},
		{"exact resend", []step{{0, "a\nbb", 4, nil}, {0, "a\nbb", 4, nil}}, "a\nbb"},
		{"overlapping resend", []step{{0, "a\nb", 3, nil}, {1, "\nbb\nc", 6, nil}, {4, "\nccc\n", 9, nil}}, j},
		{"empty at the end", []step{{0, "a\n", 2, nil}, {2, "", 2, nil}}, "a\n"},
		{"gap", []step{{0, "a\n", 2, nil}, {3, "b\nccc\n", 2, logstore.ErrGap}}, "a\n"},
		{"gap on a new log", []step{{1, "\n", 0, logstore.ErrGap}}, ""},
		{"empty beyond the end", []step{{0, "a\n", 2, nil}, {5, "", 2, logstore.ErrGap}}, "a\n"},
		{"mismatch in old bytes", []step{{0, j, 9, nil}, {2, "bX\n", 9, logstore.ErrMismatch}}, j},
		{"mismatch in the overlap", []step{{0, "a\nbb", 4, nil}, {2, "bc\nccc\n", 4, logstore.ErrMismatch}}, "a\nbb"},
		{"mismatch in the first byte", []step{{0, "a", 1, nil}, {0, "b\n", 1, logstore.ErrMismatch}}, "a"},
		{"NUL", []step{{0, "a\n", 2, nil}, {2, "b\x00\n", 0, lab.ErrInvalid}}, "a\n"},
		{"negative offset", []step{{-1, "a\n", 0, lab.ErrInvalid}}, ""},
		{"lines only a newline", []step{{0, "\n\n", 2, nil}, {2, "\n", 3, nil}}, "\n\n\n"},
	}
	s := open(t) // one store, a job per case
	for c, tc := range tests {
		id := int64(c + 1)
		t.Run(tc.name, func(t *testing.T) {
			for i, u := range tc.uploads {
				n, err := s.Append(t.Context(), id, u.off, []byte(u.data))
				switch {
				case u.wantErr == nil && err != nil:
					t.Fatalf("upload %d: Append(%d, %q): %v", i, u.off, u.data, err)
				case u.wantErr != nil && !errors.Is(err, u.wantErr):
					t.Fatalf("upload %d: Append(%d, %q) = %d, %v; want an error wrapping %v", i, u.off, u.data, n, err, u.wantErr)
				case u.wantErr != nil && u.wantErr != lab.ErrInvalid && !errors.Is(err, lab.ErrConflict):
					t.Fatalf("upload %d: %v does not wrap lab.ErrConflict", i, err)
				case n != u.stored:
					t.Fatalf("upload %d: Append(%d, %q) = %d, %v; want %d", i, u.off, u.data, n, err, u.stored)
				}
			}
			Check(t, s, id, Log(tc.want))
		})
	}
}

func testInvalid(t *testing.T, open func(t *testing.T) logstore.Logs) {
	s := open(t)
	ctx := t.Context()
	for _, id := range []int64{0, -1, math.MinInt64} {
		if _, err := s.Append(ctx, id, 0, []byte("a\n")); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("Append to job %d: %v, want lab.ErrInvalid", id, err)
		}
		if _, err := s.Size(ctx, id); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("Size of job %d: %v, want lab.ErrInvalid", id, err)
		}
		if _, err := s.ReadLines(ctx, id, 0, 1); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("ReadLines of job %d: %v, want lab.ErrInvalid", id, err)
		}
	}
	for _, data := range []string{"\x00", "a\n\x00", "abc\x00def\n"} {
		if _, err := s.Append(ctx, 1, 0, []byte(data)); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("Append(%q): %v, want lab.ErrInvalid", data, err)
		}
	}
	Check(t, s, 1, nil)
}

func testIncompleteLine(t *testing.T, open func(t *testing.T) logstore.Logs) {
	s := open(t)
	ref := Log(nil)
	for _, part := range []string{"a\nb", "b", "b\n", "c", "\n", "dd"} {
		n, err := s.Append(t.Context(), 3, int64(len(ref)), []byte(part))
		ref = append(ref, part...)
		if err != nil || n != int64(len(ref)) {
			t.Fatalf("Append(%q) = %d, %v", part, n, err)
		}
		Check(t, s, 3, ref)
	}
	checkReadLines(t, s, 3, ref, 1, 10) // "bbb", "c": the incomplete "dd" is no line yet
}

// journal returns a journal of n lines, line i being made by line(i),
// and (ends) the offset where each line ends (one past its newline).
func journal(n int, line func(i int) string) (Log, []int64) {
	var b []byte
	ends := make([]int64, n)
	for i := range n {
		b = append(b, line(i)...)
		b = append(b, '\n')
		ends[i] = int64(len(b))
	}
	return b, ends
}

// appendAll uploads ref to job id in consecutive uploads of the given
// sizes (the last one takes the rest).
func appendAll(t testing.TB, s logstore.Logs, id int64, ref Log, sizes ...int) {
	t.Helper()
	off := 0
	for i := 0; off < len(ref); i++ {
		n := len(ref) - off
		if i < len(sizes) {
			n = min(n, sizes[i])
		}
		got, err := s.Append(context.Background(), id, int64(off), ref[off:off+n])
		if err != nil || got != int64(off+n) {
			t.Fatalf("Append(%d, %d bytes) = %d, %v", off, n, got, err)
		}
		off += n
	}
}

func testWindows(t *testing.T, open func(t *testing.T) logstore.Logs) {
	s := open(t)
	// 3000 short lines, then lines of over a megabyte (several chunks in
	// the database), then short lines again, uploaded in sizes that split
	// lines everywhere, and one upload of 5 MiB.
	ref, _ := journal(6000, func(i int) string {
		switch {
		case i == 3000:
			return strings.Repeat("L", 1<<20+17)
		case i == 3001:
			return strings.Repeat("M", 2<<20+5)
		case i == 3002:
			return ""
		}
		return fmt.Sprintf(`{"dt":"2026-01-01T00:00:00","lvl":"target","msg":"line %d %s"}`, i, strings.Repeat("x", i%97))
	})
	appendAll(t, s, 1, ref, 1, 7, 4096, 100_000, 5<<20, 333, 65536)
	Check(t, s, 1, ref)
	n := len(ref.Lines())
	for _, r := range [][2]int{
		{0, 0}, {0, 1}, {0, 100}, {-10, 5}, {5, 5}, {10, 5}, {n - 3, n + 10}, {n, n + 1}, {n + 5, n + 10},
		{1500, 1600}, {2999, 3001}, {3000, 3001}, {3001, 3002}, {3000, 3003}, {2990, 3010}, {3002, 3003},
		{4444, 4544}, {math.MinInt, math.MaxInt},
	} {
		checkReadLines(t, s, 1, ref, r[0], r[1])
		checkOpen(t, s, 1, ref, r[0], r[1])
	}
}

// randomJournal returns a journal of random lines, some empty, some long,
// possibly ending in an incomplete line.
func randomJournal(rng *rand.Rand, size int) Log {
	b := make([]byte, 0, size+1000)
	for len(b) < size {
		var n int
		switch rng.IntN(20) {
		case 0:
			n = 0
		case 1:
			n = rng.IntN(300_000)
		default:
			n = rng.IntN(200)
		}
		for range n {
			b = append(b, byte('!'+rng.IntN(94)))
		}
		b = append(b, '\n')
	}
	if rng.IntN(2) == 0 {
		b = append(b, "incomplete"...)
	}
	return b
}

// Upload uploads ref to job id in random pieces, resending random old and
// overlapping ranges on the way, as a worker that reconnects does, and
// checks each answer: the stored size is exactly what the uploads made.
func Upload(t testing.TB, s logstore.Logs, id int64, ref Log, rng *rand.Rand) {
	t.Helper()
	if err := upload(s, id, ref, rng, true); err != nil {
		t.Fatal(err)
	}
}

// upload is Upload; with exact false, others may be uploading the same
// journal at the same time, so the stored size may run ahead.
func upload(s logstore.Logs, id int64, ref Log, rng *rand.Rand, exact bool) error {
	ctx := context.Background()
	have := int64(0)
	for have < int64(len(ref)) {
		from := have
		if rng.IntN(4) == 0 {
			from = rng.Int64N(have + 1) // a resend from earlier
		}
		limit := int64(1 << 10)
		if rng.IntN(10) == 0 {
			limit = 3 << 20
		}
		to := min(int64(len(ref)), from+1+rng.Int64N(limit))
		got, err := s.Append(ctx, id, from, ref[from:to])
		want := max(have, to)
		if err != nil || got < want || got > int64(len(ref)) || (exact && got != want) {
			return fmt.Errorf("job %d: Append(%d, %d bytes) with %d stored = %d, %v; want %d", id, from, to-from, have, got, err, want)
		}
		have = got
	}
	return nil
}

func testRandomUploads(t *testing.T, open func(t *testing.T) logstore.Logs) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	s := open(t)
	for id := int64(1); id <= 3; id++ {
		ref := randomJournal(rng, []int{1000, 200_000, 3 << 20}[id-1])
		Upload(t, s, id, ref, rng)
		Check(t, s, id, ref)
		n := len(ref.Lines())
		for range 30 {
			a := rng.IntN(n+4) - 2
			b := a + rng.IntN(200) - 10
			checkReadLines(t, s, id, ref, a, b)
			checkOpen(t, s, id, ref, a, b)
		}
	}
}

func testSHA256(t *testing.T, open func(t *testing.T) logstore.Logs) {
	s := open(t)
	ref, _ := journal(50_000, func(i int) string { return fmt.Sprintf("line %d", i) })
	ref = append(ref, "tail without newline"...)
	for _, cut := range []int{1, 1000, len(ref) / 2, len(ref)} { // checksums of growing prefixes
		have, _ := s.Size(t.Context(), 1)
		if _, err := s.Append(t.Context(), 1, have, ref[have:cut]); err != nil {
			t.Fatal(err)
		}
		sum, err := s.SHA256(t.Context(), 1)
		if h := sha256.Sum256(ref[:cut]); err != nil || sum != hex.EncodeToString(h[:]) {
			t.Fatalf("SHA256 of %d bytes = %s, %v; want %x", cut, sum, err, h)
		}
	}
}

func testWaitLines(t *testing.T, open func(t *testing.T) logstore.Logs) {
	s := open(t)
	ctx := t.Context()
	type result struct {
		n   int
		err error
	}
	wait := func(ctx context.Context, lines int) chan result {
		ch := make(chan result, 1)
		go func() {
			n, err := s.WaitLines(ctx, 1, lines)
			ch <- result{n, err}
		}()
		return ch
	}
	// Woken by the append that completes a line (an incomplete line on
	// the way does not end the wait: the waiter must see a complete one).
	ch := wait(ctx, 0)
	if _, err := s.Append(ctx, 1, 0, []byte("partial")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, 1, 7, []byte(" line\nnext")); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.err != nil || r.n != 1 {
		t.Fatalf("WaitLines(0) = %d, %v; want 1", r.n, r.err)
	}
	// Already beyond: returns at once.
	if n, err := s.WaitLines(ctx, 1, 0); err != nil || n != 1 {
		t.Fatalf("WaitLines(0) with 1 line = %d, %v", n, err)
	}
	// Several waiters on one job, all woken by one append.
	chs := []chan result{wait(ctx, 1), wait(ctx, 1), wait(ctx, 1)}
	if _, err := s.Append(ctx, 1, 17, []byte("\nthird\n")); err != nil {
		t.Fatal(err)
	}
	for i, ch := range chs {
		if r := <-ch; r.err != nil || r.n != 3 {
			t.Fatalf("waiter %d: WaitLines(1) = %d, %v; want 3", i, r.n, r.err)
		}
	}
	// Ends with its context, returning the count (or 0 when a store that
	// reads it from a database had no time to, before the end).
	cctx, cancel := context.WithCancel(ctx)
	ch = wait(cctx, 3)
	cancel()
	if r := <-ch; !errors.Is(r.err, context.Canceled) || (r.n != 3 && r.n != 0) {
		t.Fatalf("cancelled WaitLines(3) = %d, %v; want 3 (or 0), context.Canceled", r.n, r.err)
	}
	// A waiter on a log that is removed and written again hears the new log.
	ch = wait(ctx, 3)
	if err := s.Remove(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, 1, 0, []byte("1\n2\n3\n4\n")); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.err != nil || r.n != 4 {
		t.Fatalf("WaitLines(3) across Remove = %d, %v; want 4", r.n, r.err)
	}
}

func testRemove(t *testing.T, open func(t *testing.T) logstore.Logs) {
	s := open(t)
	ctx := t.Context()
	if err := s.Remove(ctx, 9); err != nil {
		t.Fatalf("Remove of a log never written: %v", err)
	}
	ref, _ := journal(20_000, func(i int) string { return fmt.Sprintf("first %d", i) })
	appendAll(t, s, 1, ref, 1<<20, 1<<20)
	appendAll(t, s, 2, Log("other\n"))
	if err := s.Remove(ctx, 1); err != nil {
		t.Fatal(err)
	}
	Check(t, s, 1, nil)
	Check(t, s, 2, Log("other\n")) // other jobs keep their logs
	if n, err := s.Append(ctx, 1, 5, []byte("x\n")); !errors.Is(err, logstore.ErrGap) || n != 0 {
		t.Fatalf("Append at 5 after Remove = %d, %v; want 0, ErrGap", n, err)
	}
	again := Log("a different log\nafter removal\n")
	appendAll(t, s, 1, again)
	Check(t, s, 1, again)
	if err := s.Remove(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, 1); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	Check(t, s, 1, nil)
}

func testJobsApart(t *testing.T, open func(t *testing.T) logstore.Logs) {
	s := open(t)
	refs := map[int64]Log{}
	for id := int64(1); id <= 5; id++ {
		refs[id], _ = journal(int(100*id), func(i int) string { return fmt.Sprintf("job %d line %d", id, i) })
	}
	var wg sync.WaitGroup
	for id, ref := range refs {
		wg.Go(func() {
			if err := upload(s, id, ref, rand.New(rand.NewPCG(uint64(id), 2)), true); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for id, ref := range refs {
		Check(t, s, id, ref)
	}
}

// Concurrent uploads the same journal to one job from 8 goroutines, each
// with its own random pieces and resends; the result is the journal,
// exactly. stores are used in turn (several replicas of one database).
func Concurrent(t testing.TB, stores []logstore.Logs, id int64, ref Log) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			if err := upload(stores[g%len(stores)], id, ref, rand.New(rand.NewPCG(uint64(g), 3)), false); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, s := range stores {
		Check(t, s, id, ref)
	}
}

func testConcurrentAppenders(t *testing.T, open func(t *testing.T) logstore.Logs) {
	ref := randomJournal(rand.New(rand.NewPCG(7, 7)), 1<<20)
	Concurrent(t, []logstore.Logs{open(t)}, 1, ref)
}
