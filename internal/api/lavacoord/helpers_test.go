package lavacoord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/coordinator"
)

// quietLog discards the listener's logs.
var quietLog = slog.New(slog.DiscardHandler)

// newCoord returns a coordinator over a memory persister.
func newCoord(t testing.TB) *coordinator.Coordinator {
	t.Helper()
	c, err := coordinator.New(context.Background(), &coordinator.MemPersister{}, coordinator.Options{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serve runs Serve on a loopback port until the returned stop is called
// (or the test ends) and returns the address; stop checks that Serve
// returned nil.
func serve(t testing.TB, c *coordinator.Coordinator, opts Options) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = quietLog
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, c, opts) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// client is one LAVA client (a sub-job) of a group, sending what
// MultinodeProtocol sends.
type client struct {
	t                 testing.TB
	addr              string
	name, group, role string
	size              int
}

// base returns the fields every request of the client carries.
func (c client) base() map[string]any {
	return map[string]any{"port": 3079, "blocksize": 4096, "poll_delay": 1, "host": "localhost",
		"hostname": "worker-" + c.name, "client_name": c.name, "group_name": c.group, "role": c.role}
}

// msg returns a request of the client: base fields plus kv pairs.
func (c client) msg(request string, kv ...any) map[string]any {
	m := c.base()
	m["request"] = request
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	if request == coordinator.ReqGroupData || request == coordinator.ReqClearGroup {
		m["group_size"] = c.size
	}
	return m
}

// call sends one request as LAVA's client does and returns the answer.
func (c client) call(request string, kv ...any) map[string]any {
	c.t.Helper()
	return call(c.t, c.addr, c.msg(request, kv...))
}

// poll repeats a request while the answer is "wait", as LAVA's client
// does (without its delay).
func (c client) poll(request string, kv ...any) map[string]any {
	c.t.Helper()
	for {
		a := c.call(request, kv...)
		if a["response"] != coordinator.RespWait {
			return a
		}
	}
}

// call sends m in LAVA's framing on a new connection, half-closes, and
// returns the decoded answer (nil when the listener closed without one).
func call(t testing.TB, addr string, m map[string]any) map[string]any {
	t.Helper()
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := exchange(t, addr, append(fmt.Appendf(nil, "%08X", len(payload)), payload...), true)
	if len(out) == 0 {
		return nil
	}
	a, ok := parseFrame(t, out).(map[string]any)
	if !ok {
		t.Fatalf("answer %q is not a JSON object", out)
	}
	return a
}

// exchange sends raw bytes on a new connection (half-closing after them
// when halfClose) and returns every byte the listener wrote until it
// closed.
func exchange(t testing.TB, addr string, raw []byte, halfClose bool) []byte {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	// A listener that closed the connection at once (it is full) makes
	// the write or the half-close fail: no answer, as for LAVA's client.
	if _, err := conn.Write(raw); err != nil {
		return nil
	}
	if halfClose {
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			return nil
		}
	}
	out, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("read: %v", err)
	}
	return out
}

// isReset reports a connection reset by the peer.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read"
}

// parseFrame checks LAVA's framing of an answer (an upper-case header
// giving the payload's length in bytes, an ASCII payload) and decodes it.
func parseFrame(t testing.TB, b []byte) any {
	t.Helper()
	if len(b) < HeaderLen {
		t.Fatalf("answer %q shorter than a header", b)
	}
	h, payload := string(b[:HeaderLen]), b[HeaderLen:]
	n, err := strconv.ParseUint(h, 16, 32)
	if err != nil || fmt.Sprintf("%08X", n) != h || int(n) != len(payload) {
		t.Fatalf("header %q for a payload of %d bytes", h, len(payload))
	}
	for _, c := range payload {
		if c >= 0x80 {
			t.Fatalf("answer is not ASCII: %q", payload)
		}
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("answer %q: %v", payload, err)
	}
	return v
}
