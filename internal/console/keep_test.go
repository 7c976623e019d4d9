package console

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// dialScript is a dial function the test feeds: each dial takes the next
// result from the channel (or waits for the context).
type dialScript struct {
	results chan dialResult
	mu      sync.Mutex
	dials   int
}

type dialResult struct {
	c   io.ReadWriteCloser
	err error
}

func newDialScript() *dialScript { return &dialScript{results: make(chan dialResult, 8)} }

func (d *dialScript) dial(ctx context.Context) (io.ReadWriteCloser, error) {
	d.mu.Lock()
	d.dials++
	d.mu.Unlock()
	select {
	case r := <-d.results:
		return r.c, r.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// pipe queues a new connection and returns the server's end.
func (d *dialScript) pipe() net.Conn {
	c, s := net.Pipe()
	d.results <- dialResult{c: c}
	return s
}

// checkGoroutines fails the test if goroutines started during it are
// still running at its end (after a grace period for them to return).
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines left running (%d before):\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestKeepReconnects(t *testing.T) {
	checkGoroutines(t)
	d := newDialScript()
	s1 := d.pipe()
	type lostEv struct {
		cause error
	}
	var (
		mu       sync.Mutex
		lost     []lostEv
		failures []int
	)
	backc := make(chan Gap, 1)
	lostc := make(chan struct{}, 1)
	r, err := Keep(context.Background(), d.dial, KeepOptions{
		MinBackoff: time.Millisecond,
		MaxBackoff: 4 * time.Millisecond,
		OnLost: func(at time.Time, cause error) {
			mu.Lock()
			lost = append(lost, lostEv{cause})
			mu.Unlock()
			lostc <- struct{}{}
		},
		OnBack:      func(g Gap) { backc <- g },
		OnDialError: func(n int, err error) { mu.Lock(); failures = append(failures, n); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	reads := make(chan string, 8)
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := r.Read(buf)
			if err != nil {
				readErr <- err
				return
			}
			reads <- string(buf[:n])
		}
	}()
	go s1.Write([]byte("one"))
	if got := <-reads; got != "one" {
		t.Fatalf("read %q", got)
	}

	// The connection ends (the reader sees it); two dials fail, the
	// third succeeds.
	s1.Close()
	<-lostc
	d.results <- dialResult{err: errors.New("connection refused")}
	d.results <- dialResult{err: errors.New("connection refused")}
	// A write during the gap waits for the new connection.
	wrote := make(chan error, 1)
	go func() {
		_, err := r.Write([]byte("typed"))
		wrote <- err
	}()
	s2 := d.pipe()
	got := make([]byte, 5)
	if _, err := io.ReadFull(s2, got); err != nil || string(got) != "typed" {
		t.Fatalf("the new connection got %q, %v", got, err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	g := <-backc
	go s2.Write([]byte("two"))
	if got := <-reads; got != "two" {
		t.Fatalf("read %q", got)
	}
	mu.Lock()
	if len(lost) != 1 || lost[0].cause != io.EOF {
		t.Errorf("losses %v, want one with io.EOF", lost)
	}
	if len(failures) != 2 || failures[0] != 1 || failures[1] != 2 {
		t.Errorf("failed attempts %v, want [1 2]", failures)
	}
	mu.Unlock()
	if g.Attempts != 3 || g.Cause != io.EOF || g.Down <= 0 || g.Down != g.Back.Sub(g.Lost) {
		t.Errorf("gap %+v", g)
	}
	if gaps, fails := r.Stats(); gaps != 1 || fails != 2 {
		t.Errorf("Stats() = %d, %d; want 1, 2", gaps, fails)
	}
	select {
	case err := <-readErr:
		t.Fatalf("Read ended during the gap: %v", err)
	default:
	}
	r.Close()
	if err := <-readErr; err != io.EOF {
		t.Fatalf("Read after Close: %v, want io.EOF", err)
	}
	s2.Close()
}

func TestKeepCloseDuringGap(t *testing.T) {
	checkGoroutines(t)
	d := newDialScript()
	s1 := d.pipe()
	lostc := make(chan struct{}, 1)
	r, err := Keep(context.Background(), d.dial, KeepOptions{OnLost: func(time.Time, error) { lostc <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 8))
		readErr <- err
	}()
	s1.Close() // the dial that follows waits for its context
	<-lostc
	writeErr := make(chan error, 1)
	go func() {
		_, err := r.Write([]byte("x"))
		writeErr <- err
	}()
	ctx, cancel := context.WithCancel(context.Background())
	ctxErr := make(chan error, 1)
	go func() {
		_, err := r.WriteContext(ctx, []byte("y"))
		ctxErr <- err
	}()
	cancel()
	if err := <-ctxErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteContext after cancel: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; err != io.EOF {
		t.Fatalf("Read: %v, want io.EOF", err)
	}
	if err := <-writeErr; !errors.Is(err, ErrConsoleClosed) {
		t.Fatalf("Write: %v, want ErrConsoleClosed", err)
	}
	if _, err := r.Write([]byte("z")); !errors.Is(err, ErrConsoleClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestKeepContextEnds(t *testing.T) {
	checkGoroutines(t)
	d := newDialScript()
	s1 := d.pipe()
	defer s1.Close()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := Keep(ctx, d.dial, KeepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 8))
		readErr <- err
	}()
	cancel()
	if err := <-readErr; err != io.EOF {
		t.Fatalf("Read after the context ended: %v, want io.EOF", err)
	}
	r.Close()
}

func TestKeepFirstDialFails(t *testing.T) {
	checkGoroutines(t)
	d := newDialScript()
	d.results <- dialResult{err: errors.New("no route")}
	_, err := Keep(context.Background(), d.dial, KeepOptions{})
	if err == nil || !strings.Contains(err.Error(), "no route") {
		t.Fatalf("Keep: %v", err)
	}
}

func TestKeepWriteErrorRetries(t *testing.T) {
	checkGoroutines(t)
	d := newDialScript()
	bad := &failingConn{}
	d.results <- dialResult{c: bad}
	r, err := Keep(context.Background(), d.dial, KeepOptions{MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s2 := d.pipe()
	go func() {
		if _, err := r.Write([]byte("hello")); err != nil {
			t.Error(err)
		}
	}()
	// The first connection took "he" and failed: the rest goes to the
	// new one.
	got := make([]byte, 3)
	if _, err := io.ReadFull(s2, got); err != nil || string(got) != "llo" {
		t.Fatalf("the new connection got %q, %v", got, err)
	}
	s2.Close()
}

// failingConn accepts two bytes of a write and then fails.
type failingConn struct{}

func (f *failingConn) Read(b []byte) (int, error) { select {} }
func (f *failingConn) Write(b []byte) (int, error) {
	return min(2, len(b)), errors.New("connection reset by peer")
}
func (f *failingConn) Close() error { return nil }

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 5*time.Second
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
	for i, w := range want {
		if got := backoff(lo, hi, i+1); got != w*time.Millisecond {
			t.Errorf("backoff(attempt %d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	r := &Reconnecting{opts: KeepOptions{Jitter: 0.2}}
	for range 1000 {
		if d := r.jitter(time.Second); d < 800*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("jitter(1s) = %v, outside ±20%%", d)
		}
	}
}
