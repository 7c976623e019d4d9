package sqlstore

import (
	"context"
	"sync"
)

// gate hands the database's write transactions out in priority order: a
// transaction of an urgent context (store.Urgent: the worker link's
// heartbeats, log appends, job starts and finishes) goes before every
// ordinary one waiting, so that a burst of API writes cannot make a worker
// wait behind it. Among equals, first come first served. Its capacity is
// the number of write transactions that may run at once: one on SQLite,
// whose single writer connection would otherwise queue them in
// database/sql in no particular order.
type gate struct {
	mu           sync.Mutex
	free         int
	urgent, rest []chan struct{} // waiters, oldest first
}

func newGate(capacity int) *gate { return &gate{free: capacity} }

// acquire waits for a slot; it fails only when ctx ends first.
func (g *gate) acquire(ctx context.Context, urgent bool) error {
	g.mu.Lock()
	if g.free > 0 && (urgent || len(g.urgent) == 0) {
		g.free--
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if urgent {
		g.urgent = append(g.urgent, ch)
	} else {
		g.rest = append(g.rest, ch)
	}
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.remove(ch) {
			return ctx.Err()
		}
		// The slot was handed over meanwhile: pass it on.
		g.releaseLocked()
		return ctx.Err()
	}
}

// release returns a slot, to the oldest urgent waiter if any.
func (g *gate) release() {
	g.mu.Lock()
	g.releaseLocked()
	g.mu.Unlock()
}

func (g *gate) releaseLocked() {
	switch {
	case len(g.urgent) > 0:
		close(g.urgent[0])
		g.urgent = g.urgent[1:]
	case len(g.rest) > 0:
		close(g.rest[0])
		g.rest = g.rest[1:]
	default:
		g.free++
	}
}

// remove drops a waiter that gave up; false when it was handed a slot.
func (g *gate) remove(ch chan struct{}) bool {
	for _, q := range []*[]chan struct{}{&g.urgent, &g.rest} {
		for i, c := range *q {
			if c == ch {
				*q = append((*q)[:i], (*q)[i+1:]...)
				return true
			}
		}
	}
	return false
}
