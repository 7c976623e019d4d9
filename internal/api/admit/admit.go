// Package admit sheds excess API load explicitly. A Limiter lets a bounded
// number of requests run at once; a request that finds no free slot within
// a short wait is refused at once with lab.ErrOverloaded (503 with
// Retry-After on the wire) instead of queueing for seconds behind the
// others. The REST APIs (/api/v1, /api/v0.2) and the web UI share one
// Limiter; the worker link, /healthz and v0.2's version probe never go
// through it, so heartbeats, log uploads and health probes keep their
// latency whatever the API load.
package admit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Buffer reads r's body, at most limit bytes, into memory and puts it back
// as r.Body. Call it before Admit (Enter does both): a client sending its
// body slowly then waits on its own connection (bounded by the server's
// body deadline), not in one of the slots, so slow clients cannot hold the
// API. A body over the limit is an *http.MaxBytesError (413).
func Buffer(w http.ResponseWriter, r *http.Request, limit int64) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return fmt.Errorf("read the request body: %w", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return nil
}

// Enter is how a request comes in: its body buffered first (Buffer, at
// most limit bytes), then a slot taken (Admit), so that a client sending
// its body slowly never holds a slot. It returns the function that gives
// the slot back; on an error no slot is held.
func (l *Limiter) Enter(w http.ResponseWriter, r *http.Request, limit int64) (release func(), err error) {
	if err := Buffer(w, r, limit); err != nil {
		return nil, err
	}
	return l.Admit(r.Context())
}

// Defaults: enough requests at once to keep two cores and the database
// busy, and a wait short enough that a refused client hears it at once.
const (
	DefaultMax  = 64
	DefaultWait = 250 * time.Millisecond
)

// Limiter bounds the requests running at once. A nil *Limiter admits
// everything.
type Limiter struct {
	slots chan struct{}
	wait  time.Duration
}

// New returns a Limiter of max concurrent requests (DefaultMax when 0) that
// lets a request wait at most wait for a slot (DefaultWait when 0).
func New(max int, wait time.Duration) *Limiter {
	if max <= 0 {
		max = DefaultMax
	}
	if wait <= 0 {
		wait = DefaultWait
	}
	return &Limiter{slots: make(chan struct{}, max), wait: wait}
}

// Admit takes a slot for one request and returns the function that gives it
// back. It fails with lab.ErrOverloaded when no slot frees up within the
// wait, or with ctx's error when the client went away first.
func (l *Limiter) Admit(ctx context.Context) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	case <-t.C:
		return nil, fmt.Errorf("%w: the server is at its limit of %d requests at once; retry in a moment", lab.ErrOverloaded, cap(l.slots))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *Limiter) release() { <-l.slots }

// InFlight is the number of requests admitted and not yet finished.
func (l *Limiter) InFlight() int {
	if l == nil {
		return 0
	}
	return len(l.slots)
}
