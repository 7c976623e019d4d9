package auth_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/auth"
)

// fakeClock is a settable time source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newThrottle(cfg auth.ThrottleConfig) (*auth.LoginThrottle, *fakeClock) {
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg.Now = clk.Now
	return auth.NewLoginThrottle(cfg), clk
}

// fail makes one failed attempt; it reports whether the attempt was let
// through at all.
func fail(t *testing.T, th *auth.LoginThrottle, user, addr string) (*auth.Throttled, bool) {
	t.Helper()
	att, refused := th.Begin(user, addr)
	if refused != nil {
		if att != nil {
			t.Fatalf("Begin(%q, %q) returned both an attempt and a refusal", user, addr)
		}
		if refused.RetryAfter <= 0 {
			t.Fatalf("refusal of %q without a retry time: %+v", user, refused)
		}
		return refused, false
	}
	att.Failed()
	return nil, true
}

func TestThrottleUser(t *testing.T) {
	th, clk := newThrottle(auth.ThrottleConfig{})
	let, first := 0, 0
	var last *auth.Throttled
	for range 200 {
		r, ok := fail(t, th, "alice", "192.0.2.1")
		if ok {
			let++
			continue
		}
		last = r
		if r.First {
			first++
		}
		if r.By != "user" {
			t.Fatalf("refused by %q, want user", r.By)
		}
	}
	if let != 5 {
		t.Errorf("200 wrong passwords in an instant: %d checked, want the budget of 5", let)
	}
	if first != 1 {
		t.Errorf("%d refusals reported as first of their window, want 1", first)
	}
	if last == nil || last.RetryAfter != time.Second || last.Failures != 5 {
		t.Fatalf("last refusal %+v, want 1 s after 5 failures", last)
	}

	// Another user, from another address, is unaffected; from the same
	// address too (the address budget is higher).
	for _, addr := range []string{"192.0.2.2", "192.0.2.1"} {
		att, r := th.Begin("bob", addr)
		if r != nil {
			t.Fatalf("bob from %s refused: %+v", addr, r)
		}
		att.Succeeded()
	}

	// Each failure after a window doubles the next one, up to 15 minutes;
	// every window ends.
	want := []time.Duration{2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900}
	for i, w := range want {
		clk.Add(last.RetryAfter)
		if _, ok := fail(t, th, "alice", "192.0.2.1"); !ok {
			t.Fatalf("window %d: the attempt after the window was refused", i)
		}
		r, ok := fail(t, th, "alice", "192.0.2.1")
		if ok || r.RetryAfter != w*time.Second {
			t.Fatalf("window %d: refusal %+v, want %v", i, r, w*time.Second)
		}
		if !r.First {
			t.Errorf("window %d: the first refusal is not reported as first", i)
		}
		last = r
	}

	// The right password after the window works and starts the count
	// afresh: five more failures before a lock.
	clk.Add(last.RetryAfter)
	att, r := th.Begin("alice", "192.0.2.1")
	if r != nil {
		t.Fatalf("right password after the window refused: %+v", r)
	}
	att.Succeeded()
	for i := range 5 {
		if _, ok := fail(t, th, "alice", "192.0.2.9"); !ok {
			t.Fatalf("failure %d after a success refused", i+1)
		}
	}
	if _, ok := fail(t, th, "alice", "192.0.2.9"); ok {
		t.Fatal("sixth failure after a success not throttled")
	}
}

func TestThrottleForgets(t *testing.T) {
	th, clk := newThrottle(auth.ThrottleConfig{ForgetAfter: time.Hour})
	for range 5 {
		fail(t, th, "alice", "192.0.2.1")
	}
	clk.Add(time.Hour)
	for i := range 5 {
		if _, ok := fail(t, th, "alice", "192.0.2.1"); !ok {
			t.Fatalf("failure %d an hour later refused: the old failures were not forgotten", i+1)
		}
	}
}

func TestThrottleAddress(t *testing.T) {
	th, clk := newThrottle(auth.ThrottleConfig{AddrFailures: 20})
	// Password spraying: one guess at each of many users from one address.
	for i := range 20 {
		if _, ok := fail(t, th, fmt.Sprintf("user%d", i), "2001:db8::1"); !ok {
			t.Fatalf("guess %d refused within the address budget", i)
		}
	}
	r, ok := fail(t, th, "user99", "2001:db8::2") // same /64
	if ok || r.By != "address" {
		t.Fatalf("guess past the address budget: refusal %+v, want by address", r)
	}
	// Another address is unaffected, and the address's window ends.
	if _, ok := fail(t, th, "user100", "198.51.100.7"); !ok {
		t.Fatal("another address refused")
	}
	clk.Add(r.RetryAfter)
	att, r2 := th.Begin("user0", "2001:db8::1")
	if r2 != nil {
		t.Fatalf("address refused after its window: %+v", r2)
	}
	att.Succeeded()
}

func TestThrottleParallelGuesses(t *testing.T) {
	th, _ := newThrottle(auth.ThrottleConfig{})
	begin := func(user string, n int) []*auth.LoginAttempt {
		var atts []*auth.LoginAttempt
		for range n {
			if att, r := th.Begin(user, "192.0.2.1"); r == nil {
				atts = append(atts, att)
			} else if r.RetryAfter != time.Second {
				t.Fatalf("parallel attempt refused for %v, want 1 s", r.RetryAfter)
			}
		}
		return atts
	}
	// Parallel logins of a user without failures (a script's jobs) are
	// checked, up to four times the budget at once.
	atts := begin("ci", 10)
	if len(atts) != 10 {
		t.Fatalf("10 parallel logins: %d let through", len(atts))
	}
	for _, a := range atts {
		a.Succeeded()
	}
	if atts = begin("ci", 50); len(atts) != 20 {
		t.Fatalf("a volley of 50: %d let through, want 20", len(atts))
	}
	for _, a := range atts {
		a.Failed()
	}
	if _, ok := fail(t, th, "ci", "192.0.2.1"); ok {
		t.Fatal("not locked after a volley of 20 failures")
	}

	// Once the user has failed, the attempts in flight count against the
	// budget.
	fail(t, th, "alice", "192.0.2.1")
	atts = begin("alice", 50)
	if len(atts) != 4 {
		t.Fatalf("50 parallel guesses after a failure: %d let through, want the 4 left of the budget", len(atts))
	}
	atts[0].Aborted() // a cancelled request does not count, and frees its place
	att, r := th.Begin("alice", "192.0.2.1")
	if r != nil {
		t.Fatalf("refused after an aborted attempt: %+v", r)
	}
	atts[0] = att
	for _, a := range atts {
		a.Failed()
		a.Failed() // a second report is ignored
	}
	if _, ok := fail(t, th, "alice", "192.0.2.1"); ok {
		t.Fatal("not locked after 5 failures")
	}
}

func TestThrottleBoundedMemory(t *testing.T) {
	th, _ := newThrottle(auth.ThrottleConfig{MaxKeys: 1000, AddrFailures: 1 << 30})
	long := strings.Repeat("x", 64<<10)
	for i := range 20000 {
		user := fmt.Sprint("user", i)
		if i%100 == 0 {
			user = long + user
		}
		if _, ok := fail(t, th, user, fmt.Sprintf("10.0.%d.%d", i/256%256, i%256)); !ok {
			t.Fatalf("attempt %d refused", i)
		}
		if n := th.Len(); n > 1000 {
			t.Fatalf("%d keys tracked, want at most 1000", n)
		}
	}
	// The newest keys are still tracked: a fresh lockout works.
	for range 5 {
		fail(t, th, "victim", "10.9.9.9")
	}
	if _, ok := fail(t, th, "victim", "10.9.9.9"); ok {
		t.Fatal("not locked after 5 failures")
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":                "192.0.2.1",
		"192.0.2.1:5555":           "192.0.2.1",
		"::ffff:192.0.2.1":         "192.0.2.1",
		"[::ffff:192.0.2.1]:80":    "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":     "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:443":    "2001:db8:1:2::/64",
		"fe80::1%eth0":             "fe80::/64",
		"::1":                      "::/64",
		"":                         "",
		"not an address":           "not an address",
		strings.Repeat("a", 200):   "#",
		"[2001:db8:1:2::9%lo]:443": "2001:db8:1:2::/64",
	} {
		got := auth.ClientKey(in)
		if want == "#" {
			if !strings.HasPrefix(got, "#") || len(got) != 65 {
				t.Errorf("ClientKey(long) = %q, want a hash", got)
			}
			continue
		}
		if got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
