package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/server"
)

// lavaCall sends one request in LAVA's coordinator framing (8 upper-case
// hex digits of length, then the JSON) and returns the decoded answer.
func lavaCall(t *testing.T, addr string, req map[string]any) map[string]any {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	b, _ := json.Marshal(req)
	if _, err := fmt.Fprintf(c, "%08X%s", len(b), b); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	head := make([]byte, 8)
	if _, err := io.ReadFull(c, head); err != nil {
		t.Fatalf("%s: no answer: %v", req["request"], err)
	}
	n, err := strconv.ParseUint(string(head), 16, 32)
	if err != nil {
		t.Fatalf("answer header %q: %v", head, err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return out
}

// TestCoordinatorListener: with --coordinator-listen the server speaks
// LAVA's coordinator protocol to stock dispatchers, and a group survives a
// server restart in its middle: who registered, and the messages sent.
func TestCoordinatorListener(t *testing.T) {
	dir := t.TempDir()
	start := func() (addr string, stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		srv, err := server.Open(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: dir, CoordinatorListen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx) }()
		return srv.CoordinatorAddr(), func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	base := func(client, role string) map[string]any {
		return map[string]any{"client_name": client, "group_name": "5c0ffee0-group", "role": role, "hostname": "lab-" + client,
			"group_size": 2, "port": 3079, "blocksize": 4096, "poll_delay": 3, "host": "basalt"}
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	addr, stop := start()
	if addr == "" {
		t.Fatal("no coordinator address")
	}
	if r := lavaCall(t, addr, with(base("101", "server"), "request", "group_data")); r["response"] != "wait" {
		t.Errorf("group_data of the first: %v", r)
	}
	if r := lavaCall(t, addr, with(base("102", "client"), "request", "group_data")); r["response"] != "group_data" {
		t.Errorf("group_data of the second: %v", r)
	}
	if r := lavaCall(t, addr, with(base("101", "server"), "request", "lava_send", "messageID", "ready",
		"message", map[string]any{"ipaddr": "10.0.0.1"})); r["response"] != "ack" {
		t.Errorf("lava_send: %v", r)
	}
	if r := lavaCall(t, addr, with(base("101", "server"), "request", "lava_sync", "messageID", "done")); r["response"] != "wait" {
		t.Errorf("first lava_sync: %v", r)
	}
	stop()

	addr, stop = start()
	defer stop()
	r := lavaCall(t, addr, with(base("101", "server"), "request", "group_data"))
	if r["response"] != "group_data" || fmt.Sprint(r["roles"]) != "map[101:server 102:client]" {
		t.Errorf("group_data after the restart: %v", r)
	}
	r = lavaCall(t, addr, with(base("102", "client"), "request", "lava_wait", "messageID", "ready", "nodeID", "102"))
	if r["response"] != "ack" || fmt.Sprint(r["message"]) != "map[101:map[ipaddr:10.0.0.1]]" {
		t.Errorf("lava_wait after the restart: %v", r)
	}
	// The barrier the server entered before the restart completes: the
	// last to arrive is told to wait, and every poll after that passes
	// (LAVA's coordinator).
	if r := lavaCall(t, addr, with(base("102", "client"), "request", "lava_sync", "messageID", "done")); r["response"] != "wait" {
		t.Errorf("second lava_sync: %v", r)
	}
	if r := lavaCall(t, addr, with(base("102", "client"), "request", "lava_sync", "messageID", "done")); r["response"] != "ack" {
		t.Errorf("second's next poll of the barrier: %v", r)
	}
	if r := lavaCall(t, addr, with(base("101", "server"), "request", "lava_sync", "messageID", "done")); r["response"] != "ack" {
		t.Errorf("the first's next poll of the barrier: %v", r)
	}
	// Bad input gets a nack, and the listener goes on.
	if r := lavaCall(t, addr, map[string]any{"request": "lava_send", "client_name": "x"}); r["response"] != "nack" {
		t.Errorf("a request without group, role and hostname: %v", r)
	}
	if r := lavaCall(t, addr, with(base("101", "server"), "request", "group_data")); r["response"] != "group_data" {
		t.Errorf("after a bad request: %v", r)
	}
}
