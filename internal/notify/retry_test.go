package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/notify"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// attempts is a delivery's attempt log in short: status codes, or the
// error of an attempt without one.
func attempts(d lab.Delivery) string {
	var out []string
	for _, a := range d.Log {
		if a.StatusCode != 0 {
			out = append(out, strconv.Itoa(a.StatusCode))
		} else {
			out = append(out, "error")
		}
	}
	return strings.Join(out, ",")
}

// TestCallbackRetries: a server error or no answer is tried again with
// back-off up to the bound; a refusal (4xx) or a redirect ends it; every
// attempt is recorded.
func TestCallbackRetries(t *testing.T) {
	st := labtest.Backends()[0].Open(t)
	e := newEnv(t, st, loopback, filepath.Join(t.TempDir(), "logs"))
	var mu sync.Mutex
	perPath := map[string]int{}
	rc := listen(t, "127.0.0.1:0", func(r *http.Request, _ int) int {
		mu.Lock()
		defer mu.Unlock()
		perPath[r.URL.Path]++
		n := perPath[r.URL.Path]
		switch r.URL.Path {
		case "/flaky": // two failures, then accepted
			return map[bool]int{true: 503, false: 201}[n <= 2]
		case "/busy":
			return map[bool]int{true: 429, false: 200}[n <= 1]
		case "/down":
			return 500
		case "/gone":
			return 404
		case "/moved":
			return 302
		}
		return 200
	})
	stop := run(t, e.sender(notify.Config{MaxAttempts: 4}))
	defer stop()
	type want struct {
		path, status, log, err string
	}
	wants := []want{
		{"/flaky", "delivered", "503,503,201", ""},
		{"/busy", "delivered", "429,200", ""},
		{"/down", "failed", "500,500,500,500", "HTTP 500 Internal Server Error: status 500 (gave up after 4 attempts)"},
		{"/gone", "failed", "404", "HTTP 404 Not Found: status 404"},
		{"/moved", "failed", "302", "HTTP 302: redirects are not followed (to )"},
	}
	for _, w := range wants {
		t.Run(w.path, func(t *testing.T) {
			id := e.submit(job("retry", callbackBlock("finished", rc.url(w.path), ""), ""))
			e.runJob(id, "", app.JobOutcome{})
			waitFor(t, "the delivery", func() bool { return e.done(id) })
			d := e.deliveries(id)[0]
			if string(d.Status) != w.status || attempts(d) != w.log || d.LastError != w.err || d.Attempts != len(d.Log) {
				t.Errorf("%s after %d attempts (%s): %q", d.Status, d.Attempts, attempts(d), d.LastError)
			}
			for i, a := range d.Log {
				if a.Attempt != i+1 || a.At.IsZero() || a.Duration <= 0 || (a.StatusCode >= 300) != (a.Error != "") {
					t.Errorf("attempt %d: %+v", i+1, a)
				}
			}
		})
	}
	t.Run("no answer", func(t *testing.T) {
		rc := listen(t, "127.0.0.1:0", nil)
		addr := rc.addr()
		rc.stop() // nobody listens there now
		id := e.submit(job("retry", callbackBlock("finished", "http://"+addr+"/x", ""), ""))
		e.runJob(id, "", app.JobOutcome{})
		waitFor(t, "the delivery", func() bool { return e.done(id) })
		d := e.deliveries(id)[0]
		if d.Status != lab.DeliveryFailed || attempts(d) != "error,error,error,error" || !strings.Contains(d.LastError, "connection refused") {
			t.Errorf("%s (%s): %q", d.Status, attempts(d), d.LastError)
		}
	})
}

// TestCallbackPolicy: without an allow-list, callbacks go to public
// addresses only; with one, only to the hosts it lists, at any address.
// Submissions are refused for the others (app's TestSubmissionChecks);
// these jobs were accepted before the policy changed, and the sender
// checks again.
func TestCallbackPolicy(t *testing.T) {
	rc := listen(t, "127.0.0.1:0", nil)
	cases := []struct {
		name   string
		policy app.CallbackPolicy
		url    string
		status lab.DeliveryStatus
		err    string
	}{
		{"loopback without allow-list", app.CallbackPolicy{}, rc.url("/x"), lab.DeliveryNotSent, "callback address 127.0.0.1 is not public"},
		{"localhost without allow-list", app.CallbackPolicy{}, "http://localhost:1/x", lab.DeliveryNotSent, `callback host "localhost" is the server itself`},
		{"not listed", app.CallbackPolicy{Hosts: []string{"*.example.org"}}, rc.url("/x"), lab.DeliveryNotSent, `callback host "127.0.0.1" is not in the server's allowed callback hosts`},
		{"listed by pattern", app.CallbackPolicy{Hosts: []string{"ci.example.org", "127.0.0.[0-9]"}}, rc.url("/x"), lab.DeliveryDelivered, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := labtest.Backends()[0].Open(t)
			e := newEnv(t, st, c.policy, filepath.Join(t.TempDir(), "logs"))
			stop := run(t, e.sender(notify.Config{}))
			defer stop()
			id := e.submitUnchecked(job("policy", callbackBlock("finished", c.url, ""), ""))
			e.runJob(id, "", app.JobOutcome{})
			waitFor(t, "the delivery", func() bool { return e.done(id) })
			d := e.deliveries(id)[0]
			if d.Status != c.status || !strings.Contains(d.LastError, c.err) || (c.status == lab.DeliveryNotSent) != (len(d.Log) == 0) {
				t.Errorf("%s after %d attempts: %q", d.Status, len(d.Log), d.LastError)
			}
		})
	}
}

// TestReceiverAndServerRestart is the test: a callback receiver
// on loopback fails the first attempts, then it and the server are
// stopped; both start again (the server on the same database) and every
// job's callback is accepted exactly once, with every attempt recorded.
func TestReceiverAndServerRestart(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			logDir := filepath.Join(t.TempDir(), "logs")
			rejecting := listen(t, "127.0.0.1:0", func(*http.Request, int) int { return http.StatusServiceUnavailable })
			addr := rejecting.addr()

			// The first server runs three jobs; their callbacks fail.
			st1 := labtest.OpenDSN(t, dsn)
			e1 := newEnv(t, st1, loopback, logDir)
			stop1 := run(t, e1.sender(notify.Config{MaxAttempts: 50}))
			var ids []int64
			for i := range 3 {
				id := e1.submit(job(fmt.Sprintf("job%d", i), callbackBlock("finished", "http://"+addr+"/cb/{ID}",
					"method: POST, content-type: json"), ""))
				e1.runJob(id, jobLog, app.JobOutcome{})
				ids = append(ids, id)
			}
			waitFor(t, "two failed attempts of each callback", func() bool {
				for _, id := range ids {
					if ds := e1.deliveries(id); len(ds) != 1 || ds[0].Attempts < 2 {
						return false
					}
				}
				return true
			})
			// Both go down: the server first, then the receiver.
			stop1()
			must(t, st1.Close())
			must(t, e1.logs.Close())
			rejecting.stop()
			failed := map[string]int{}
			for _, r := range rejecting.requests() {
				failed[r.Path]++
			}

			// Both come back: the receiver on the same address, accepting.
			accepting := listen(t, addr, nil)
			st2 := labtest.OpenDSN(t, dsn)
			e2 := newEnv(t, st2, loopback, logDir)
			stop2 := run(t, e2.sender(notify.Config{MaxAttempts: 50}))
			defer stop2()
			waitFor(t, "every callback delivered", func() bool { return e2.done(ids...) })
			s := e2.sender(notify.Config{})
			if n, err := s.RunOnce(context.Background()); n != 0 || err != nil {
				t.Errorf("after delivery, a sender still finds %d deliveries (%v)", n, err)
			}

			accepted := map[string]int{}
			for _, r := range accepting.requests() {
				if r.Status < 300 {
					accepted[r.Path]++
				}
			}
			for _, id := range ids {
				path := fmt.Sprintf("/cb/%d", id)
				if accepted[path] != 1 {
					t.Errorf("job %d: %d accepted deliveries, want exactly 1", id, accepted[path])
				}
				ds := e2.deliveries(id)
				if len(ds) != 1 {
					t.Fatalf("job %d: %d deliveries", id, len(ds))
				}
				// Every failed attempt is recorded, but for one the stop may
				// have cut short (the receiver answered, the sender no
				// longer listened): its outcome is unknown, so it is not.
				d := ds[0]
				k := d.Attempts - 1
				want := strings.TrimPrefix(strings.Repeat(",503", k)+",200", ",")
				if d.Status != lab.DeliveryDelivered || attempts(d) != want || d.LastError != "" || d.Done.IsZero() {
					t.Errorf("job %d: %s after %d attempts (%s), want %s; last error %q", id, d.Status, d.Attempts, attempts(d), want, d.LastError)
				}
				if k < 2 || failed[path] < k || failed[path] > k+1 {
					t.Errorf("job %d: %d failed attempts recorded, %d answered by the receiver", id, k, failed[path])
				}
			}
		})
	}
}

// TestSenderDiedHoldingClaims: a sender that stopped without releasing
// its claims (killed) delays its deliveries by its lease only.
func TestSenderDiedHoldingClaims(t *testing.T) {
	st := labtest.Backends()[0].Open(t)
	e := newEnv(t, st, loopback, filepath.Join(t.TempDir(), "logs"))
	rc := listen(t, "127.0.0.1:0", nil)
	id := e.submit(job("claimed", callbackBlock("finished", rc.url("/x"), ""), ""))
	e.runJob(id, "", app.JobOutcome{})
	held, err := e.a.ClaimNotifications(e.ctx, "killed-sender", 300*time.Millisecond, 10)
	must(t, err)
	if len(held) != 1 {
		t.Fatalf("claimed %d", len(held))
	}
	s := e.sender(notify.Config{})
	if n, err := s.RunOnce(e.ctx); n != 0 || err != nil {
		t.Errorf("a live claim was taken: %d, %v", n, err)
	}
	stop := run(t, s)
	defer stop()
	waitFor(t, "the delivery after the dead claim expired", func() bool { return e.done(id) })
	if d := e.deliveries(id)[0]; d.Status != lab.DeliveryDelivered || len(rc.requests()) != 1 {
		t.Errorf("%s, %d requests", d.Status, len(rc.requests()))
	}
}

// TestTwoSenders: two servers' senders on one database share the queue:
// every delivery is sent once.
func TestTwoSenders(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			rc := listen(t, "127.0.0.1:0", nil)
			e1 := newEnv(t, labtest.OpenDSN(t, dsn), loopback, filepath.Join(t.TempDir(), "logs"))
			e2 := newEnv(t, labtest.OpenDSN(t, dsn), loopback, filepath.Join(t.TempDir(), "logs"))
			var ids []int64
			for i := range 8 {
				id := e1.submit(job(fmt.Sprintf("j%d", i), "  criteria: {status: all}\n  callbacks:\n"+
					"  - {url: '"+rc.url("/a/{ID}")+"'}\n  - {url: '"+rc.url("/b/{ID}")+"', method: POST}", ""))
				e1.runJob(id, "", app.JobOutcome{})
				ids = append(ids, id)
			}
			stop1 := run(t, e1.sender(notify.Config{}))
			stop2 := run(t, e2.sender(notify.Config{}))
			defer stop1()
			defer stop2()
			waitFor(t, "every delivery", func() bool { return e1.done(ids...) })
			per := map[string]int{}
			for _, r := range rc.requests() {
				per[r.Header.Get(notify.DeliveryHeader)]++
			}
			if len(per) != 4*len(ids) {
				t.Errorf("%d deliveries received, want %d", len(per), 4*len(ids))
			}
			for id, n := range per {
				if n != 1 {
					t.Errorf("delivery %s received %d times", id, n)
				}
			}
		})
	}
}
