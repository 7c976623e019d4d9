package lavacoord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/coordinator"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/store/sqlstore"
)

// want checks an answer against JSON text.
func want(t *testing.T, what string, got map[string]any, text string) {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var w any
	if err := d.Decode(&w); err != nil {
		t.Fatal(err)
	}
	if got == nil && w == nil {
		return
	}
	if !reflect.DeepEqual(any(got), w) {
		t.Errorf("%s: answer %v, want %s", what, got, text)
	}
}

// syncBoth runs lava_sync for both clients at once, each polling until
// its answer, and checks both are ack with the message ID.
func syncBoth(t *testing.T, id string, a, b client) {
	t.Helper()
	var wg sync.WaitGroup
	for _, c := range []client{a, b} {
		wg.Go(func() {
			got := c.poll(coordinator.ReqSync, "messageID", id)
			if got["response"] != "ack" || got["message"] != id {
				t.Errorf("%s lava_sync %s: %v", c.name, id, got)
			}
		})
	}
	wg.Wait()
}

// TestConversation is a whole group's conversation in LAVA's framing,
// from two Go clients speaking as LAVA's MultinodeProtocol does.
func TestConversation(t *testing.T) {
	c := newCoord(t)
	addr, _ := serve(t, c, Options{})
	srv := client{t: t, addr: addr, name: "1001", group: "5f0c-group", role: "server", size: 2}
	cli := srv
	cli.name, cli.role = "1002", "client"

	want(t, "first group_data", srv.call("group_data"), `{"response":"wait"}`)
	roles := `{"response":"group_data","roles":{"1001":"server","1002":"client"}}`
	want(t, "second group_data", cli.call("group_data"), roles)
	want(t, "first group_data again", srv.call("group_data"), roles)

	// lava-start: the client waits for the server's role.
	want(t, "wait_all lava_start", cli.call("lava_wait_all", "messageID", "lava_start", "waitrole", "server"), `{"response":"wait"}`)
	want(t, "send lava_start", srv.call("lava_send", "messageID", "lava_start", "message", map[string]any{}), `{"response":"ack"}`)
	want(t, "wait_all lava_start", cli.call("lava_wait_all", "messageID", "lava_start", "waitrole", "server"),
		`{"response":"ack","message":{"1001":{}}}`)

	// lava-send / lava-wait with data.
	want(t, "wait before send", cli.call("lava_wait", "messageID", "server-ready", "nodeID", "1002"), `{"response":"wait"}`)
	want(t, "send", srv.call("lava_send", "messageID", "server-ready", "message", map[string]any{"ipaddr": "10.0.0.5", "port": "8080"}),
		`{"response":"ack"}`)
	want(t, "wait after send", cli.call("lava_wait", "messageID", "server-ready", "nodeID", "1002"),
		`{"response":"ack","message":{"1001":{"ipaddr":"10.0.0.5","port":"8080"}}}`)

	// lava-wait-all without a role.
	want(t, "wait_all never sent", srv.call("lava_wait_all", "messageID", "done"), `{"response":"nack"}`)
	want(t, "server done", srv.call("lava_send", "messageID", "done", "message", map[string]any{"r": "1"}), `{"response":"ack"}`)
	want(t, "wait_all one sent", srv.call("lava_wait_all", "messageID", "done"), `{"response":"wait"}`)
	want(t, "client done", cli.call("lava_send", "messageID", "done", "message", nil), `{"response":"ack"}`)
	want(t, "wait_all all sent", srv.call("lava_wait_all", "messageID", "done"), `{"response":"ack","message":{"1001":{"r":"1"},"1002":{}}}`)

	// Barriers, twice with the same ID.
	syncBoth(t, "barrier", srv, cli)
	syncBoth(t, "barrier", srv, cli)

	// The end.
	want(t, "complete", srv.call("complete"), `null`)
	want(t, "server clear_group", srv.call("clear_group"), `{"response":"ack"}`)
	want(t, "client after the server left", cli.call("lava_wait", "messageID", "server-ready"),
		`{"response":"ack","message":{"1001":{"ipaddr":"10.0.0.5","port":"8080"}}}`)
	want(t, "client clear_group", cli.call("clear_group"), `{"response":"ack"}`)
	if len(c.Groups()) != 0 {
		t.Errorf("groups left: %v", c.Groups())
	}
	want(t, "a request to the finished group", cli.call("lava_wait", "messageID", "server-ready"), `{"response":"nack"}`)
}

// TestConcurrentGroups: many groups talk at once, each to the end.
func TestConcurrentGroups(t *testing.T) {
	c := newCoord(t)
	addr, _ := serve(t, c, Options{})
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			a := client{t: t, addr: addr, name: fmt.Sprint(2*g + 1), group: fmt.Sprint("group-", g), role: "a", size: 2}
			b := a
			b.name, b.role = fmt.Sprint(2*g+2), "b"
			var inner sync.WaitGroup
			for _, cl := range []client{a, b} {
				inner.Go(func() {
					if got := cl.poll("group_data"); got["response"] != "group_data" {
						t.Errorf("%s group_data: %v", cl.name, got)
					}
				})
			}
			inner.Wait()
			syncBoth(t, "x", a, b)
			a.call("clear_group")
			b.call("clear_group")
		})
	}
	wg.Wait()
	if len(c.Groups()) != 0 {
		t.Errorf("groups left: %v", c.Groups())
	}
}

// silent opens n connections that send nothing (or half a header) and
// closes them when the test ends.
func silent(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for i := range n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			if _, err := conn.Write([]byte("0000")); err != nil {
				t.Fatal(err)
			}
		}
		conns = append(conns, conn)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}

// TestSilentClients: clients that connect and say nothing hold their own
// connection only. Beyond MaxConns a connection is closed at once (LAVA's
// client reads "wait" and polls again); once one silent client goes, the
// others still holding theirs, a client polling again is served.
func TestSilentClients(t *testing.T) {
	const maxConns = 16
	c := newCoord(t)
	addr, _ := serve(t, c, Options{MaxConns: maxConns, Timeout: time.Hour})
	a := client{t: t, addr: addr, name: "1", group: "g", role: "r", size: 1}

	hold := silent(t, addr, maxConns) // every connection is taken
	if got := a.call("group_data"); got != nil {
		t.Errorf("beyond MaxConns: answer %v, want the connection closed", got)
	}
	hold[0].Close()
	// The listener sees it go; a client polling again is served beside
	// the other silent clients.
	for {
		if got := a.call("group_data"); got != nil {
			want(t, "beside silent clients", got, `{"response":"group_data","roles":{"1":"r"}}`)
			break
		}
	}
}

// TestTimeout: the listener closes a connection that does not send its
// request within Timeout, without an answer.
func TestTimeout(t *testing.T) {
	c := newCoord(t)
	addr, _ := serve(t, c, Options{Timeout: 50 * time.Millisecond})
	for _, raw := range []string{"", "0000", "00000010{\"req"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
		out, err := io.ReadAll(conn)
		conn.Close()
		if len(out) != 0 || err != nil {
			t.Errorf("silent after %q: read %q, %v; want the connection closed", raw, out, err)
		}
	}
}

// TestSlowClient: a request sent one byte at a time is answered; so is one
// whose client never half-closes (the listener reads the length it was
// told, no more).
func TestSlowClient(t *testing.T) {
	c := newCoord(t)
	addr, _ := serve(t, c, Options{})
	payload := `{"request": "group_data", "client_name": "1", "group_name": "g", "role": "r", "hostname": "h", "group_size": 1}`
	raw := fmt.Sprintf("%08X%s", len(payload), payload)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	for i := range len(raw) {
		if _, err := conn.Write([]byte{raw[i]}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	// No half-close: the answer comes all the same.
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	want(t, "byte by byte", parseFrame(t, out).(map[string]any), `{"response":"group_data","roles":{"1":"r"}}`)
}

// TestMalformed: bad framing or JSON is answered nack (or, when nothing
// usable came, the connection is closed), and the listener goes on.
func TestMalformed(t *testing.T) {
	c := newCoord(t)
	addr, _ := serve(t, c, Options{MaxPayload: 4096})
	frame := func(s string) string { return fmt.Sprintf("%08X%s", len(s), s) }
	ok := `{"request":"group_data","client_name":"1","group_name":"g","role":"r","hostname":"h","group_size":2}`
	cases := []struct {
		name, raw string
		answer    string // "" = closed without an answer
	}{
		{"nothing", "", ""},
		{"short header", "0000", ""},
		{"not hexadecimal", "ZZZZZZZZ{}", `{"response":"nack"}`},
		{"negative", "-0000001{}", `{"response":"nack"}`},
		{"beyond MaxPayload", "00001001" + strings.Repeat("x", 100), `{"response":"nack"}`},
		{"beyond 32 bits", "FFFFFFFF", `{"response":"nack"}`},
		{"not JSON", frame("hello"), `{"response":"nack"}`},
		{"empty payload", "00000000", `{"response":"nack"}`},
		{"JSON array", frame(`["request","group_data"]`), `{"response":"nack"}`},
		{"JSON null", frame(`null`), `{"response":"nack"}`},
		{"JSON string", frame(`"group_data"`), `{"response":"nack"}`},
		{"trailing data", frame(ok + ` {}`), `{"response":"nack"}`},
		{"request not a string", frame(`{"request":1,"client_name":"1","group_name":"g","role":"r","hostname":"h"}`), `{"response":"nack"}`},
		{"group_size not a number", frame(`{"request":"group_data","client_name":"1","group_name":"g","role":"r","hostname":"h","group_size":"two"}`), `{"response":"nack"}`},
		{"group_size true", frame(`{"request":"group_data","client_name":"1","group_name":"g","role":"r","hostname":"h","group_size":true}`), `{"response":"nack"}`},
		{"message not an object", frame(`{"request":"lava_send","client_name":"1","group_name":"g","role":"r","hostname":"h","group_size":2,"messageID":"m","message":"hi"}`), `{"response":"nack"}`},
		{"no request", frame(`{"client_name":"1","group_name":"g","role":"r","hostname":"h"}`), `{"response":"nack"}`},
		{"no group_name", frame(`{"request":"group_data","client_name":"1","role":"r","hostname":"h","group_size":2}`), `{"response":"nack"}`},
		{"no role", frame(`{"request":"group_data","client_name":"1","group_name":"g","hostname":"h","group_size":2}`), `{"response":"nack"}`},
		{"no hostname", frame(`{"request":"group_data","client_name":"1","group_name":"g","role":"r","group_size":2}`), `{"response":"nack"}`},
		{"null fields", frame(`{"request":"group_data","client_name":null,"group_name":"g","role":"r","hostname":"h","group_size":2}`), `{"response":"nack"}`},
		// What LAVA's daemon also takes.
		{"lower-case header", strings.ToLower(frame(ok)), `{"response":"wait"}`},
		{"group_size as a string", frame(strings.Replace(ok, `"group_size":2`, `"group_size":"2"`, 1)), `{"response":"wait"}`},
		{"shorter than its header says", fmt.Sprintf("%08X%s", len(ok)+50, ok), `{"response":"wait"}`},
		{"longer than its header says", frame(ok) + "garbage", `{"response":"wait"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := exchange(t, addr, []byte(tc.raw), true)
			if tc.answer == "" {
				if len(out) != 0 {
					t.Errorf("answer %q, want none", out)
				}
				return
			}
			if len(out) == 0 {
				t.Fatalf("no answer, want %s", tc.answer)
			}
			want(t, tc.name, parseFrame(t, out).(map[string]any), tc.answer)
		})
	}
	// The listener still works.
	cl := client{t: t, addr: addr, name: "2", group: "g", role: "r", size: 2}
	want(t, "after the bad requests", cl.call("group_data"), `{"response":"group_data","roles":{"1":"r","2":"r"}}`)
}

// TestHugeLengthNoHang: a client announcing 4 GiB and sending it is
// answered nack and cut off; nothing is read into memory.
func TestHugeLengthNoHang(t *testing.T) {
	c := newCoord(t)
	addr, _ := serve(t, c, Options{})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := conn.Write([]byte("FFFFFFFF")); err != nil {
		t.Fatal(err)
	}
	// Keep sending while reading: the listener answers, then stops
	// reading after a bounded amount.
	go func() {
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for range 64 {
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	head := make([]byte, HeaderLen)
	if _, err := io.ReadFull(conn, head); err != nil {
		t.Fatalf("no answer to a 4 GiB request: %v", err)
	}
	rest := make([]byte, 64)
	n, _ := io.ReadAtLeast(conn, rest, 1)
	want(t, "4 GiB", parseFrame(t, append(head, rest[:n]...)).(map[string]any), `{"response":"nack"}`)
}

// TestNonASCII: payloads beyond ASCII reach the other client whole; the
// answer escapes them, so its length in bytes is its length in
// characters, as LAVA's clients count.
func TestNonASCII(t *testing.T) {
	c := newCoord(t)
	addr, _ := serve(t, c, Options{})
	a := client{t: t, addr: addr, name: "1", group: "g", role: "r", size: 2}
	b := a
	b.name = "2"
	a.call("group_data")
	b.call("group_data")
	text := "café ✓ 𝄞 \"quoted\" <tag> & \u2028"
	want(t, "send", a.call("lava_send", "messageID", "m", "message", map[string]any{"t": text}), `{"response":"ack"}`)
	got := b.call("lava_wait", "messageID", "m")
	if got["response"] != "ack" || got["message"].(map[string]any)["1"].(map[string]any)["t"] != text {
		t.Errorf("lava_wait: %v", got)
	}
}

// TestRestart stops the listener, its coordinator and its store (a SQLite
// file) in the middle of a group's conversation, then starts new ones on
// the same file: the group goes on with nothing lost (members, messages,
// a client already at a barrier).
func TestRestart(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "basalt.db")
	start := func() (client, client, func()) {
		st, err := sqlstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		c, err := coordinator.New(ctx, store.CoordinatorGroups{Q: st}, coordinator.Options{Logger: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		addr, stop := serve(t, c, Options{})
		a := client{t: t, addr: addr, name: "1001", group: "g-restart", role: "server", size: 2}
		b := a
		b.name, b.role = "1002", "client"
		return a, b, func() {
			stop()
			if err := st.Close(); err != nil {
				t.Error(err)
			}
		}
	}
	a, b, stop := start()
	want(t, "a group_data", a.call("group_data"), `{"response":"wait"}`)
	want(t, "b group_data", b.call("group_data"), `{"response":"group_data","roles":{"1001":"server","1002":"client"}}`)
	want(t, "send", a.call("lava_send", "messageID", "ready", "message", map[string]any{"ip": "10.0.0.9"}), `{"response":"ack"}`)
	want(t, "a at the barrier", a.call("lava_sync", "messageID", "b1"), `{"response":"wait"}`)
	want(t, "b sent", b.call("lava_send", "messageID", "all", "message", nil), `{"response":"ack"}`)
	stop()

	a, b, stop = start()
	defer stop()
	want(t, "group_data after the restart", a.call("group_data"), `{"response":"group_data","roles":{"1001":"server","1002":"client"}}`)
	want(t, "wait after the restart", b.call("lava_wait", "messageID", "ready"), `{"response":"ack","message":{"1001":{"ip":"10.0.0.9"}}}`)
	want(t, "b at the barrier", b.call("lava_sync", "messageID", "b1"), `{"response":"wait"}`)
	want(t, "a passes the barrier", a.call("lava_sync", "messageID", "b1"), `{"response":"ack","message":"b1"}`)
	want(t, "b passes the barrier", b.call("lava_sync", "messageID", "b1"), `{"response":"ack","message":"b1"}`)
	want(t, "a sent", a.call("lava_send", "messageID", "all", "message", map[string]any{"k": "v"}), `{"response":"ack"}`)
	want(t, "wait_all", b.call("lava_wait_all", "messageID", "all"), `{"response":"ack","message":{"1001":{"k":"v"},"1002":{}}}`)
	want(t, "a clear", a.call("clear_group"), `{"response":"ack"}`)
	want(t, "b clear", b.call("clear_group"), `{"response":"ack"}`)
	stop()

	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if gs, err := st.ListCoordinatorGroups(ctx); err != nil || len(gs) != 0 {
		t.Errorf("groups left in the store: %v, %v", gs, err)
	}
}

// TestServeStops: Serve returns nil when its context ends, closing the
// connections it holds.
func TestServeStops(t *testing.T) {
	c := newCoord(t)
	addr, stop := serve(t, c, Options{Timeout: time.Hour})
	conns := silent(t, addr, 3)
	// Make sure the listener holds them: a request after them is served.
	cl := client{t: t, addr: addr, name: "1", group: "g", role: "r", size: 1}
	cl.call("group_data")
	stop() // returns only once every connection's goroutine ended
	for _, conn := range conns {
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
		if out, err := io.ReadAll(conn); len(out) != 0 || err != nil {
			t.Errorf("held connection after the stop: %q, %v", out, err)
		}
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("the listener still accepts")
	}
}
