package logstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// generous bounds a wait that must end; it is never an assertion on speed.
const generous = 30 * time.Second

// TestConcurrentAppendsOneJob has many uploaders send random, overlapping,
// sometimes premature chunks of one journal to one job; the store must end
// byte-identical to the journal.
func TestConcurrentAppendsOneJob(t *testing.T) {
	s, dir := openStore(t)
	const id = 4
	src := journal(rand.New(rand.NewPCG(1, 2)), 200_000, 120)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 99))
			var known int64 // last stored size this uploader saw
			for known < int64(len(src)) {
				// Mostly resume near what is stored; sometimes jump ahead
				// (a gap) or resend old bytes.
				off := known - int64(rng.IntN(2000))
				if rng.IntN(8) == 0 {
					off = known + 1 + int64(rng.IntN(500))
				}
				off = min(max(off, 0), int64(len(src)))
				end := min(off+1+int64(rng.IntN(8000)), int64(len(src)))
				stored, err := s.Append(bg, id, off, src[off:end])
				if err != nil && !errors.Is(err, ErrGap) {
					t.Errorf("Append(%d, [%d,%d)): %v", id, off, end, err)
					return
				}
				if stored < known {
					t.Errorf("stored went back from %d to %d", known, stored)
					return
				}
				known = stored
			}
		}()
	}
	wg.Wait()
	checkJob(t, s, dir, id, src)
}

// TestManyJobsInParallel runs 50 jobs' uploads at once through a store
// that keeps only 8 idle jobs open, with readers alongside.
func TestManyJobsInParallel(t *testing.T) {
	const jobs, maxOpen = 50, 8
	s, dir := openStore(t, WithMaxOpen(maxOpen))
	srcs := make([][]byte, jobs)
	for i := range srcs {
		srcs[i] = journal(rand.New(rand.NewPCG(uint64(i), 7)), 30_000+i*100, 200)
	}
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(2)
		id := int64(1000 + i)
		go func() { // uploader
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 8))
			src := srcs[i]
			for off := 0; off < len(src); {
				end := min(off+1+rng.IntN(3000), len(src))
				stored, err := s.Append(bg, id, int64(off), src[off:end])
				if err != nil {
					t.Errorf("job %d: %v", id, err)
					return
				}
				off = int(stored)
			}
		}()
		go func() { // reader: every line it sees is a line of the journal
			defer wg.Done()
			want := naiveLines(srcs[i])
			for range 20 {
				n, err := s.Lines(bg, id)
				if err != nil {
					t.Errorf("job %d: Lines: %v", id, err)
					return
				}
				got, err := s.ReadLines(bg, id, max(n-5, 0), n)
				if err != nil {
					t.Errorf("job %d: ReadLines: %v", id, err)
					return
				}
				for k, l := range got {
					if string(l) != string(want[max(n-5, 0)+k]) {
						t.Errorf("job %d: line %d = %q", id, max(n-5, 0)+k, l)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for i := range jobs {
		checkJob(t, s, dir, int64(1000+i), srcs[i])
	}
	s.mu.Lock()
	nopen, idle, entries := s.nopen, s.idle.Len(), len(s.jobs)
	s.mu.Unlock()
	if nopen > maxOpen || idle != nopen || entries != nopen {
		t.Fatalf("after the uploads: %d jobs open, %d idle, %d entries; want at most %d, all idle, no others", nopen, idle, entries, maxOpen)
	}
}

// TestEvictionLRU checks that the least recently used idle job is closed
// first and that a closed job reopens transparently.
func TestEvictionLRU(t *testing.T) {
	s, dir := openStore(t, WithMaxOpen(2))
	for id := int64(1); id <= 3; id++ {
		if _, err := s.Append(bg, id, 0, []byte("x\n")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Size(bg, 2); err != nil { // 2 is now more recent than 3
		t.Fatal(err)
	}
	openJobs := func() map[int64]bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		m := map[int64]bool{}
		for id, j := range s.jobs {
			m[id] = j.open
		}
		return m
	}
	if got := openJobs(); len(got) != 2 || !got[2] || !got[3] {
		t.Fatalf("open jobs = %v, want 2 and 3", got)
	}
	if _, err := s.Size(bg, 1); err != nil { // reopens 1, closes 3
		t.Fatal(err)
	}
	if got := openJobs(); len(got) != 2 || !got[1] || !got[2] {
		t.Fatalf("open jobs = %v, want 1 and 2", got)
	}
	if _, err := s.Append(bg, 3, 2, []byte("y\n")); err != nil {
		t.Fatal(err)
	}
	checkJob(t, s, dir, 3, []byte("x\ny\n"))
}

func TestWaitWakesOnAppend(t *testing.T) {
	s, _ := openStore(t, WithMaxOpen(1))
	const id = 8
	if _, err := s.Append(bg, id, 0, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		n, err := s.Wait(context.Background(), id, 4)
		got <- result{n, err}
	}()
	waitWatched(t, s, id)
	// Evicting the watched job's files must not lose the wake-up.
	if _, err := s.Append(bg, id+1, 0, []byte("other\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(bg, id, 4, []byte("two\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil || r.n != 8 {
			t.Fatalf("Wait = %d, %v; want 8", r.n, r.err)
		}
	case <-time.After(generous):
		t.Fatal("Wait was not woken by the Append")
	}
	// A size already exceeded returns at once.
	if n, err := s.Wait(context.Background(), id, 0); err != nil || n != 8 {
		t.Fatalf("Wait(0) = %d, %v", n, err)
	}
}

func TestWaitLinesIgnoresPartialLines(t *testing.T) {
	s, _ := openStore(t)
	const id = 6
	got := make(chan int, 1)
	go func() {
		n, err := s.WaitLines(context.Background(), id, 0)
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	waitWatched(t, s, id)
	if _, err := s.Append(bg, id, 0, []byte("partial")); err != nil { // wakes, no line yet
		t.Fatal(err)
	}
	if _, err := s.Append(bg, id, 7, []byte(" line\nnext")); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != 1 {
			t.Fatalf("WaitLines = %d, want 1", n)
		}
	case <-time.After(generous):
		t.Fatal("WaitLines was not woken")
	}
}

func TestWaitEnds(t *testing.T) {
	s, _ := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 2)
	go func() { _, err := s.Wait(ctx, 1, 0); errc <- err }()
	waitWatched(t, s, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel = %v", err)
	}
	go func() { _, err := s.Wait(context.Background(), 2, 0); errc <- err }()
	waitWatched(t, s, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close = %v", err)
	}
	// The watcher entries are gone once the waits ended.
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.jobs) != 0 {
		t.Fatalf("%d job entries left", len(s.jobs))
	}
}

func TestWaitAcrossRemove(t *testing.T) {
	s, _ := openStore(t)
	const id = 10
	if _, err := s.Append(bg, id, 0, []byte("old\n")); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 1)
	go func() {
		n, err := s.Wait(context.Background(), id, 4)
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	waitWatched(t, s, id)
	if err := s.Remove(bg, id); err != nil { // wakes the waiter; 0 bytes is not > 4
		t.Fatal(err)
	}
	if _, err := s.Append(bg, id, 0, []byte("new log\n")); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != 8 {
		t.Fatalf("Wait = %d, want 8", n)
	}
}

// waitWatched waits until a Wait call is registered on the job, so the
// test's next Append is sure to happen after it started waiting.
func waitWatched(t *testing.T, s *Store, id int64) {
	t.Helper()
	deadline := time.Now().Add(generous)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		j := s.jobs[id]
		ok := j != nil && j.watchers > 0
		s.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no waiter registered")
}

// TestEvictedJobsReopenWithoutReconcile: a job whose files were closed to
// stay under maxOpen comes back with its state as it was, without
// reconciliation (no scan, no fsync), and appends and reads go on exactly.
func TestEvictedJobsReopenWithoutReconcile(t *testing.T) {
	s, _ := openStore(t, WithMaxOpen(1))
	logs := map[int64]string{}
	appendLine := func(id int64, line string) {
		t.Helper()
		size, err := s.Size(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(bg, id, size, []byte(line)); err != nil {
			t.Fatal(err)
		}
		logs[id] += line
	}
	appendLine(1, "one\npart")
	appendLine(2, "two\n") // closes job 1's files
	before := reconciles.Load()
	for round := range 5 {
		for _, id := range []int64{1, 2, 3} {
			appendLine(id, fmt.Sprintf("round %d\n", round)) // each closes another's files
		}
	}
	if n := reconciles.Load() - before; n != 0 {
		t.Errorf("%d reconciliations of jobs this process closed, want 0", n)
	}
	for id, want := range logs {
		n, next, err := s.Tail(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		if n != strings.Count(want, "\n") || next != int64(strings.LastIndexByte(want, '\n')+1) {
			t.Errorf("job %d: Tail = %d, %d for %q", id, n, next, want)
		}
		lines, err := s.ReadLines(bg, id, 0, n)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(bytes.Join(lines, []byte("\n"))) + "\n"; got != want[:next] {
			t.Errorf("job %d: lines %q, want %q", id, got, want[:next])
		}
	}
	// Removing a job forgets what was known of it.
	if err := s.Remove(bg, 1); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Lines(bg, 1); err != nil || n != 0 {
		t.Errorf("removed job: %d lines, %v", n, err)
	}
}

// TestDefaultMaxOpenFitsTheFileLimit: idle jobs keep at most half the
// process's file budget open (two files each), and some files always.
func TestDefaultMaxOpenFitsTheFileLimit(t *testing.T) {
	for _, c := range []struct{ budget, want int }{
		{0, DefaultMaxOpen}, {1 << 20, DefaultMaxOpen}, {4096, 1024}, {1024, 256}, {256, 64}, {20, 16},
	} {
		if got := defaultMaxOpen(c.budget); got != c.want {
			t.Errorf("defaultMaxOpen(%d) = %d, want %d", c.budget, got, c.want)
		}
	}
}
