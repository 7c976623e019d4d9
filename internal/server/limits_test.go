package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/faultnet"
)

// safety bounds every wait of these tests: reaching it is a failure (the
// server kept a connection it should have cut), never a pass.
const safety = 60 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// protocols lists the ways clients talk to the server.
var protocols = []string{"http1", "h2c"}

func client(proto string) *http.Client {
	var p http.Protocols
	if proto == "h2c" {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	return &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: safety}
}

// serveLimited serves h behind limitBodies(l) on loopback, HTTP/1.1 and
// h2c, as the server does.
func serveLimited(t *testing.T, l Limits, h http.Handler) string {
	t.Helper()
	l.defaults()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: limitBodies(h, l), ReadHeaderTimeout: l.ReadHeaderTimeout, Protocols: &p}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// pacedBody sends prefix, then n chunks of size bytes "x", one every
// interval, then suffix.
func pacedBody(prefix, suffix string, n, size int, interval time.Duration) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		if _, err := io.WriteString(pw, prefix); err != nil {
			return
		}
		for i := range n {
			if i > 0 {
				<-tick.C
			}
			if _, err := pw.Write([]byte(strings.Repeat("x", size))); err != nil {
				return
			}
		}
		io.WriteString(pw, suffix)
		pw.Close()
	}()
	return pr
}

// TestBodyDeadlineClasses: what limitBodies bounds and what it leaves
// alone, over HTTP/1.1 and h2c: a dripping body is cut with
// apierr.ErrBodyTimeout; a body arriving steadily outlasts BodyTimeout; a
// request without a body, and one whose body is read, may keep its
// handler running (a stream) far past the deadline without its context
// being cancelled.
func TestBodyDeadlineClasses(t *testing.T) {
	const T = 300 * time.Millisecond
	l := Limits{BodyTimeout: T, MinBodyRate: 1024}
	url := serveLimited(t, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			w.WriteHeader(apierr.Map(err).Status)
			fmt.Fprintf(w, "read %d: %v", n, err)
			return
		}
		if r.URL.Query().Get("stream") != "" {
			// A long handler after the body: a stream, a slow commit.
			select {
			case <-r.Context().Done():
				http.Error(w, "context cancelled while the handler ran", http.StatusInternalServerError)
				return
			case <-time.After(4 * T):
			}
		}
		fmt.Fprintf(w, "read %d", n)
	}))
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			c := client(proto)
			do := func(method, path string, body io.ReadCloser, length int64) (int, string) {
				t.Helper()
				req, err := http.NewRequest(method, url+path, body)
				if err != nil {
					t.Fatal(err)
				}
				req.ContentLength = length
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.ProtoMajor != map[string]int{"http1": 1, "h2c": 2}[proto] {
					t.Errorf("%s %s answered over %s", method, path, resp.Proto)
				}
				return resp.StatusCode, string(b)
			}
			// A byte every T/2 (never a pause of T, but far below the rate):
			// cut after about T, long before its 10,000 bytes.
			if code, body := do("PUT", "/", pacedBody("", "", 10000, 1, T/2), 10000); code != http.StatusRequestTimeout || !strings.Contains(body, "request body not received in time") {
				t.Errorf("dripping body: %d %s, want 408", code, body)
			}
			// A body that stops: cut after a pause of T.
			pr, pw := io.Pipe()
			go func() { pw.Write(make([]byte, 100)) }() // then nothing, until the test ends
			t.Cleanup(func() { pw.Close() })
			if code, body := do("POST", "/", pr, 1000); code != http.StatusRequestTimeout {
				t.Errorf("stalled body: %d %s, want 408", code, body)
			}
			// 10 KiB in 1 KiB chunks every T/3: more than 3 T in all, and
			// at a rate above the minimum.
			if code, body := do("PUT", "/", pacedBody("", "", 10, 1024, T/3), 10240); code != 200 || body != "read 10240" {
				t.Errorf("steady body: %d %s, want all of it", code, body)
			}
			// Without a body, and with one read to its end, a handler may
			// run past the deadline.
			if code, body := do("GET", "/?stream=1", nil, 0); code != 200 {
				t.Errorf("long GET: %d %s", code, body)
			}
			if code, body := do("POST", "/?stream=1", io.NopCloser(strings.NewReader("hello")), 5); code != 200 || body != "read 5" {
				t.Errorf("long handler after its body: %d %s", code, body)
			}
			if code, body := do("POST", "/?stream=1", pacedBody("", "", 3, 10, T/3), -1); code != 200 || body != "read 30" {
				t.Errorf("long handler after a chunked body: %d %s", code, body)
			}
		})
	}
}

// startServer opens and serves a real server on loopback (SQLite) with
// limits l; it stops at cleanup.
func startServer(t *testing.T, l Limits) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Open(ctx, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Limits: l, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

// slowLoris opens a connection to addr, sends the request head (with the
// start of its body) and then one byte "x" every interval. It returns what the server
// answered once the server closed the connection; it fails the test if the
// connection is still open after the safety bound.
func slowLoris(t *testing.T, addr, head string, interval time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	defer faultnet.Drip(c, interval)()
	c.SetReadDeadline(time.Now().Add(safety))
	got, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%q: the connection is still open after %s of one byte every %s; answered so far: %q", strings.SplitN(head, "\r\n", 2)[0], safety, interval, got)
	}
	return string(got)
}

// TestSlowLoris: a client sending its body a byte a second is cut, on the
// REST API, the web login form and the worker's log upload alike.
func TestSlowLoris(t *testing.T) {
	s := startServer(t, Limits{BodyTimeout: time.Second, MinBodyRate: 1024})
	// The handlers read on (a JSON string that never ends, a form value),
	// or refuse at once and leave the server draining the body.
	for _, c := range []struct{ method, path, ctype, start, want string }{
		{"POST", "/api/v1/jobs/validate", "application/json", `{"definition": "`, "HTTP/1.1 408 "},
		{"POST", "/api/v1/token", "application/json", `{"username": "`, "HTTP/1.1 408 "},
		{"POST", "/login", "application/x-www-form-urlencoded", "username=", "HTTP/1.1 408 "},          // read before the page handles it
		{"PUT", "/api/worker/v1/jobs/1/log?offset=0", "application/octet-stream", "", "HTTP/1.1 409 "}, // refused at once, its body drained
	} {
		head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: 100000\r\n\r\n%s", c.method, c.path, s.Addr(), c.ctype, c.start)
		if got := slowLoris(t, s.Addr(), head, time.Second); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s %s: cut, but answered %q, want %q", c.method, c.path, strings.SplitN(got, "\r\n", 2)[0], c.want)
		}
	}
	// A slow-loris on the headers is cut by ReadHeaderTimeout.
	s2 := startServer(t, Limits{ReadHeaderTimeout: time.Second})
	slowLoris(t, s2.Addr(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", time.Second/2)
}

// TestSlowLorisH2C: over h2c the dripping stream is answered 408, or
// reset, instead of being held.
func TestSlowLorisH2C(t *testing.T) {
	s := startServer(t, Limits{BodyTimeout: time.Second, MinBodyRate: 1024})
	// The handler reads on: a JSON string that never ends.
	req, err := http.NewRequest("POST", s.URL()+"/api/v1/jobs/validate", pacedBody(`{"definition": "`, "", 100000, 1, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 100000
	req.Header.Set("Content-Type", "application/json")
	resp, err := client("h2c").Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
			t.Fatalf("dripping h2c body still read after %s: %v", safety, err)
		}
		return // reset: cut
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode < 400 {
		t.Errorf("dripping h2c body: %s %d %s, want a 4xx over HTTP/2", resp.Proto, resp.StatusCode, body)
	}
}

// get sends GET /healthz on c and reads the answer's status line.
func get(c net.Conn, r *bufio.Reader) (string, error) {
	c.SetDeadline(time.Now().Add(safety))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.Status, nil
}

// TestConnsPerClient: connections of one address past the cap are closed
// at once; closing one makes room again.
func TestConnsPerClient(t *testing.T) {
	const max = 4
	s := startServer(t, Limits{MaxConnsPerClient: max})
	var conns []net.Conn
	for i := range max {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if st, err := get(c, bufio.NewReader(c)); err != nil || st != "200 OK" {
			t.Fatalf("connection %d within the cap: %q %v", i+1, st, err)
		}
		conns = append(conns, c)
	}
	for i := range 3 {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			continue // refused outright: fine too
		}
		st, err := get(c, bufio.NewReader(c))
		c.Close()
		if err == nil {
			t.Fatalf("connection %d over the cap of %d answered %q", max+i+1, max, st)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("connection %d over the cap of %d left open for %s", max+i+1, max, safety)
		}
	}
	// The connections within the cap still work; closing one frees a place.
	if st, err := get(conns[1], bufio.NewReader(conns[1])); err != nil || st != "200 OK" {
		t.Fatalf("connection within the cap after refusals: %q %v", st, err)
	}
	conns[0].Close()
	deadline := time.Now().Add(safety)
	for {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		st, err := get(c, bufio.NewReader(c))
		c.Close()
		if err == nil && st == "200 OK" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place freed %s after a connection closed", safety)
		}
		time.Sleep(10 * time.Millisecond) // the server sees the close a moment later
	}
}

// nextEvent reads Server-Sent Events from r up to the next named event,
// skipping keep-alive comments, and returns its name.
func nextEvent(r *bufio.Reader) (string, error) {
	name := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case line == "" && name != "":
			return name, nil
		}
	}
}

// TestStreamsOutliveBodyTimeout: on a real server whose body deadline is
// short, a Server-Sent Events stream stays open and keeps delivering while
// far more than the deadline passes, and a body arriving steadily for
// longer than the deadline is read whole, over HTTP/1.1 and h2c.
func TestStreamsOutliveBodyTimeout(t *testing.T) {
	const T = 300 * time.Millisecond
	s := startServer(t, Limits{BodyTimeout: T, MinBodyRate: 1024})
	ctx := context.Background()
	u, err := s.App().CreateSuperuser(ctx, "admin", "", "")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := auth.UserPrincipal(u)
	if err != nil {
		t.Fatal(err)
	}
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			c := client(proto)
			resp, err := c.Get(s.URL() + "/overview/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			events := bufio.NewReader(resp.Body)
			if ev, err := nextEvent(events); err != nil || ev != "lab" {
				t.Fatalf("overview stream over %s: first event %q, %v", resp.Proto, ev, err)
			}
			// A definition sent 1 KiB every T/3 for 4 T.
			req, err := http.NewRequest("POST", s.URL()+"/api/v1/jobs/validate", pacedBody(`{"definition": "`, `"}`, 12, 1024, T/3))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			vr, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(vr.Body)
			vr.Body.Close()
			if vr.StatusCode != 200 {
				t.Errorf("steady upload for 4× the body timeout: %d %s", vr.StatusCode, body)
			}
			// The stream, open all this time, still delivers.
			if _, err := s.App().CreateWorker(ctx, admin, lab.Worker{Name: "w-" + proto}); err != nil {
				t.Fatal(err)
			}
			maint := lab.WorkerMaintenance
			if _, err := s.App().UpdateWorker(ctx, admin, "w-"+proto, app.WorkerUpdate{Health: &maint, Reason: "test"}); err != nil {
				t.Fatal(err) // an event: the stream pushes at once
			}
			if ev, err := nextEvent(events); err != nil || ev != "lab" {
				t.Fatalf("overview stream after 4× the body timeout: %q, %v", ev, err)
			}
		})
	}
}
