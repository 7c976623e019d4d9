package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/server"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

// TestShedsAPILoadNotTheWorkerLink: with every API slot taken, the REST
// APIs and the web UI answer 503 with Retry-After at once (code
// "overloaded"), while the worker link, /healthz and REST v0.2's version
// probe are served as usual;
// once the slot is free, the API answers again.
func TestShedsAPILoadNotTheWorkerLink(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := server.Open(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), MaxRequests: 1, QueueWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	a := srv.App()
	admin, err := a.CreateSuperuser(ctx, "admin", "", "")
	if err != nil {
		t.Fatal(err)
	}
	ap, err := auth.UserPrincipal(admin)
	if err != nil {
		t.Fatal(err)
	}
	wtoken, err := a.CreateWorker(ctx, ap, lab.Worker{Name: "w1"})
	if err != nil {
		t.Fatal(err)
	}

	// Take the only slot. (A client sending its body slowly would not:
	// bodies are read before a request asks for one.)
	release, err := srv.Admission().Admit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST %s/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", wire.Prefix)

	get := func(path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL()+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	var resp *http.Response
	var body string
	for {
		resp, body = get(wire.Prefix + "/system/version")
		if resp.StatusCode == http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var e wire.ErrorResponse
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "overloaded" {
		t.Fatalf("REST with no slot: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, body := get("/"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, "limit") {
		t.Errorf("web page with no slot: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, body := get("/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with no slot: %d %s", resp.StatusCode, body)
	}
	// LAVA's REST API v0.2 shares the slots, but its version probe
	// (KernelCI's liveness check) is never shed.
	if resp, body := get("/api/v0.2/devices/"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!strings.HasPrefix(body, `{"detail":`) {
		t.Errorf("REST v0.2 with no slot: %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, body := get("/api/v0.2/system/version/"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, `{"version":`) {
		t.Errorf("REST v0.2 version with no slot: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("POST", srv.URL()+wp.Prefix+wp.PathHeartbeat, strings.NewReader(`{"name":"w1","version":"t","jobs":[]}`))
	req.Header.Set(wp.VersionHeader, fmt.Sprint(wp.Version))
	req.Header.Set("Authorization", "Token "+wtoken)
	hb, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hb.Body.Close()
	if hb.StatusCode != http.StatusOK {
		t.Errorf("heartbeat with no API slot: %d", hb.StatusCode)
	}

	release()
	deadline = time.Now().Add(10 * time.Second)
	for {
		if resp, _ := get(wire.Prefix + "/system/version"); resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the API did not recover after the slot was freed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
