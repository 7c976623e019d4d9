package notify

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// TestDialGuard: the client of callbacks from hosts that are not allowed
// refuses to connect to an address that is not public, whatever name the
// URL gave (here the address itself: a name resolving to it is refused
// the same way, at connect time); the client of allowed hosts connects.
func TestDialGuard(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	cfg := Config{Timeout: 5 * time.Second}
	_, err = newClient(cfg, true).Get("http://" + ln.Addr().String() + "/")
	if !errors.Is(err, errNotPublic) {
		t.Errorf("public-only client to loopback: %v", err)
	}
	resp, err := newClient(cfg, false).Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("allowed-host client: %v", err)
	}
	resp.Body.Close()
}

// TestBackoff: doubling from the base, capped.
func TestBackoff(t *testing.T) {
	s := &Sender{cfg: Config{RetryBase: 30 * time.Second, RetryMax: 5 * time.Minute}}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, s.backoff(n))
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("after attempt %d: %v, want %v", i+1, got[i], want[i])
		}
	}
}

// TestExpandURL: LAVA's placeholders, with values percent-encoded.
func TestExpandURL(t *testing.T) {
	j := lab.Job{ID: 42, Description: "boot test", State: lab.JobFinished, Health: lab.JobHealthIncomplete, Submitter: "alice",
		ActualDevice: "qemu01", RequestedType: "qemu", Priority: 50,
		SubmitTime: time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC)}
	cases := []struct{ in, want string }{
		{"https://ci.example.org/cb", "https://ci.example.org/cb"},
		{"https://ci.example.org/{ID}/{STATUS}/{STATUS_STRING}", "https://ci.example.org/42/3/incomplete"},
		{"https://ci.example.org/{ ID }?d={DESCRIPTION}&t={SUBMIT_TIME}", "https://ci.example.org/42?d=boot%20test&t=2026-01-02%2003%3A04%3A05.600000%2B00%3A00"},
		{"https://x/{STATE}-{HEALTH}-{PRIORITY}-{SUBMITTER}-{ACTUAL_DEVICE_ID}-{REQUESTED_DEVICE_TYPE_ID}-{HEALTH_CHECK}-{END_TIME}-{FAILURE_COMMENT}",
			"https://x/5-2-50-alice-qemu01-qemu-False-None-None"},
		{"https://x/{NOPE}/{id}/{}/{ID", "https://x/{NOPE}/{id}/{}/{ID"},
		{"https://x/{{ID}}", "https://x/{42}"},
		{"https://x/{STATUS-STRING}", "https://x/{STATUS-STRING}"},
	}
	for _, c := range cases {
		if got := ExpandURL(c.in, j); got != c.want {
			t.Errorf("ExpandURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzExpandURL: expanding never changes a URL's scheme or host, and
// leaves no text of a value outside percent-encoding.
func FuzzExpandURL(f *testing.F) {
	for _, s := range []string{"https://ci.example.org/{ID}", "http://h/{ DESCRIPTION }?q={STATUS_STRING}#{DEFINITION}", "{", "}{}", "http://h/{ID"} {
		f.Add(s, "a/b?c&d#e f")
	}
	f.Fuzz(func(t *testing.T, raw, desc string) {
		j := lab.Job{ID: 7, Description: desc, Definition: desc, Submitter: desc}
		out := ExpandURL(raw, j)
		in, err := url.Parse(raw)
		if err != nil {
			return
		}
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("ExpandURL(%q) = %q, which does not parse: %v", raw, out, err)
		}
		if u.Scheme != in.Scheme || u.Host != in.Host {
			t.Fatalf("ExpandURL(%q) = %q changed the scheme or host", raw, out)
		}
		if !strings.Contains(raw, "{") && out != raw {
			t.Fatalf("ExpandURL(%q) = %q without placeholders", raw, out)
		}
	})
}
