package sqlstore

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
)

// TestGateOrder: with the one slot taken, an urgent waiter that comes
// after ordinary ones is served first, then the ordinary ones in order; a
// waiter whose context ends leaves the queue and loses nothing for others.
func TestGateOrder(t *testing.T) {
	g := newGate(1)
	ctx := context.Background()
	if err := g.acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	queued := func(n int) { // waits until n waiters are queued
		for {
			g.mu.Lock()
			l := len(g.urgent) + len(g.rest)
			g.mu.Unlock()
			if l == n {
				return
			}
			runtime.Gosched()
		}
	}
	wait := func(name string, urgent bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.acquire(ctx, urgent); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			g.release()
		}()
	}
	wait("a", false)
	queued(1)
	wait("b", false)
	queued(2)
	gone, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	go func() { errc <- g.acquire(gone, false) }()
	queued(3)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled waiter: %v", err)
	}
	wait("urgent", true)
	queued(3)
	g.release()
	wg.Wait()
	if want := []string{"urgent", "a", "b"}; len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Errorf("served %v, want %v", order, want)
	}
	// Everything returned: the slot is free again.
	if g.free != 1 || len(g.urgent)+len(g.rest) != 0 {
		t.Errorf("free %d, waiters %d/%d", g.free, len(g.urgent), len(g.rest))
	}
}

// TestGateCapacity: a gate lets capacity holders in at once, and a
// released slot goes to the urgent waiter.
func TestGateCapacity(t *testing.T) {
	g := newGate(2)
	ctx := context.Background()
	for range 2 {
		if err := g.acquire(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan struct{})
	go func() {
		if g.acquire(ctx, true) == nil {
			close(got)
		}
	}()
	for {
		g.mu.Lock()
		n := len(g.urgent)
		g.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	g.release()
	<-got
	if g.free != 0 {
		t.Errorf("free %d after handing the slot over", g.free)
	}
}
