package events

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// workerEvent is the n-th event of a synthetic stream: worker events need
// no read of the store, so they measure the stream alone.
func workerEvent(n int) app.Event {
	return app.Event{Kind: "worker", Worker: fmt.Sprintf("w%d", n), State: lab.WorkerOnline.String(), Health: lab.WorkerActive.String()}
}

// TestSlowListener: a listener that reads nothing does not hold up the
// others: they get every event, in order, while its queue fills and it is
// disconnected with 1008 — which it reads, after the events it had, once
// it reads again. On SQLite and PostgreSQL.
func TestSlowListener(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			const queue, batch = 64, 32
			e := newEnv(t, b, Config{QueueLen: queue})
			slow := e.dial(anon)
			fast := e.dial(bob)
			n := 0
			// Publish in batches the fast listener keeps up with (the test
			// waits for each batch), until the slow one, whose socket
			// buffers fill and then its queue, is dropped.
			for e.ev.Overflows() == 0 {
				if n > 1_000_000 {
					t.Fatal("a million events and the listener that reads nothing is still connected")
				}
				for range batch {
					e.ev.onEvent(workerEvent(n))
					n++
				}
				for i := n - batch; i < n; i++ {
					m := fast.next()
					if m.closed || m.fields["hostname"] != fmt.Sprintf("w%d", i) {
						t.Fatalf("fast listener: event %d is %+v", i, m)
					}
				}
			}
			// The slow listener reads what it was sent, in order, then the close.
			for i := 0; ; i++ {
				m := slow.next()
				if m.closed {
					if m.closeCode != websocket.StatusPolicyViolation || m.closeReason != "events not read fast enough" {
						t.Errorf("slow listener closed with %d %q", m.closeCode, m.closeReason)
					}
					if i >= n {
						t.Errorf("slow listener got all %d events", n)
					}
					break
				}
				if m.fields["hostname"] != fmt.Sprintf("w%d", i) {
					t.Fatalf("slow listener: event %d is %s", i, m.raw)
				}
			}
			t.Logf("the listener that reads nothing was dropped after %d events", n)
			// The fast one is still there.
			e.ev.onEvent(workerEvent(n))
			if m := fast.next(); m.fields["hostname"] != fmt.Sprintf("w%d", n) {
				t.Errorf("fast listener after the drop: %+v", m)
			}
			if got := e.ev.Overflows(); got != 1 {
				t.Errorf("%d overflows, want 1", got)
			}
		})
	}
}

// TestConnectionLimit: connections beyond MaxConns are refused with 503
// and Retry-After, and accepted again once one has closed.
func TestConnectionLimit(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0], Config{MaxConns: 2})
	first := e.dial(anon)
	e.dial(alice)
	_, err := e.dialHeader(http.Header{})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a third connection: %v, want HTTP 503", err)
	}
	resp, err := http.Get(strings.Replace(e.wsURL(), "ws://", "http://", 1))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the limit: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	must(t, first.c.Close(websocket.StatusNormalClosure, "bye"))
	// The server counts the connection until its handler returns, just
	// after the close handshake: wait for that, then connect again.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for e.ev.conns.Load() >= 2 {
		select {
		case <-ctx.Done():
			t.Fatal("the closed connection is still counted")
		case <-time.After(5 * time.Millisecond):
		}
	}
	e.dial(bob)
}

// TestShutdown: Close disconnects listeners with LAVA's 1001 "Server
// shutdown" and refuses new ones.
func TestShutdown(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0], Config{})
	c := e.dial(alice)
	e.ev.Close()
	if m := c.next(); !m.closed || m.closeCode != websocket.StatusGoingAway || m.closeReason != "Server shutdown" {
		t.Errorf("got %+v, want a close 1001 Server shutdown", m)
	}
	if _, err := e.dialHeader(http.Header{}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("after Close: %v, want 503", err)
	}
}
