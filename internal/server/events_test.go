package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/server"
)

// TestEventStreamMounted: the server serves LAVA's event stream on its main
// port — /ws/v1/healthz, and the WebSocket /ws/ delivering an event — and
// its graceful shutdown closes the stream with LAVA's 1001 "Server
// shutdown" rather than waiting for it.
func TestEventStreamMounted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := server.Open(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	resp, err := http.Get(srv.URL() + "/ws/v1/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"health": "good"}` {
		t.Errorf("/ws/v1/healthz: %d %s", resp.StatusCode, b)
	}

	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second) // outlives the server's ctx
	defer wcancel()
	c, _, err := websocket.Dial(wctx, "ws"+strings.TrimPrefix(srv.URL(), "http")+"/ws/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()

	a := srv.App()
	u, err := a.CreateSuperuser(ctx, "admin", "", "")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := auth.UserPrincipal(u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateWorker(ctx, admin, lab.Worker{Name: "w1"}); err != nil {
		t.Fatal(err)
	}
	maint := lab.WorkerMaintenance
	if _, err := a.UpdateWorker(ctx, admin, "w1", app.WorkerUpdate{Health: &maint, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	_, m, err := c.Read(wctx)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	if err := json.Unmarshal(m, &parts); err != nil || len(parts) != 5 || parts[0] != "org.lavasoftware.worker" ||
		parts[4] != `{"hostname": "w1", "health": "Maintenance", "state": "Offline"}` {
		t.Errorf("message %s", m)
	}

	cancel() // a graceful shutdown
	_, _, err = c.Read(wctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != "Server shutdown" {
		t.Errorf("at shutdown: %v, want a close 1001 Server shutdown", err)
	}
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	done <- nil // for the deferred wait
}
