package rest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/rest"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// protocols are the ways clients reach the server: HTTP/1.1 (where the log
// is sent with sendfile) and unencrypted HTTP/2 (h2c, copied in flushed
// writes), each with a client for it.
func protocols(t testing.TB, e *env) map[string]struct {
	url    string
	client *http.Client
} {
	h2 := &http.Transport{Protocols: new(http.Protocols),
		// a bounded receive window, so the clients' buffers do not weigh on
		// the memory the tests measure
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerStream: 256 << 10, MaxReceiveBufferPerConnection: 1 << 20}}
	h2.Protocols.SetUnencryptedHTTP2(true)
	h1 := &http.Transport{MaxIdleConnsPerHost: 100}
	t.Cleanup(h1.CloseIdleConnections)
	t.Cleanup(h2.CloseIdleConnections)
	return map[string]struct {
		url    string
		client *http.Client
	}{
		"http1": {e.srv.URL, &http.Client{Transport: h1}},
		"h2c":   {h2cServer(t, e), &http.Client{Transport: h2}},
	}
}

// TestJobLogs: GET /jobs/{id}/logs answers exactly the bytes of the lines
// asked for, each record on its line (the format of the in-memory reader
// before streaming, app.JobLog plus newlines), with Content-Length and
// X-Total-Lines, over HTTP/1.1 and h2c; the incomplete last line is left
// out; an invisible job is not found.
func TestJobLogs(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	size, lines := fillLog(t, e.Logs, e.pubJob, 0, 1000)
	if _, err := e.Logs.Append(context.Background(), e.pubJob, size, []byte(`{"dt":"2026-01-02T03:04:05Z","lvl":"tar`)); err != nil {
		t.Fatal(err)
	}
	admin := e.Principal(admin)
	for proto, c := range protocols(t, e) {
		for _, q := range []struct {
			query      string
			start, end int
		}{
			{"", 0, lines},
			{"?start=0&end=1", 0, 1},
			{"?start=10&end=20", 10, 20},
			{"?start=995", 995, lines},
			{"?start=990&end=5000", 990, lines},
			{"?start=1000", lines, lines},
			{"?start=2000&end=3000", lines, lines},
			{"?end=0", 0, 0},
			{"?start=20&end=10", 20, 20},
		} {
			url := fmt.Sprintf("%s%s/jobs/%d/logs%s", c.url, rest.Prefix, e.pubJob, q.query)
			resp, err := c.client.Get(url)
			must(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			must(t, err)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" ||
				resp.Header.Get("X-Total-Lines") != strconv.Itoa(lines) ||
				resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Fatalf("%s %s: status %d, headers %v", proto, q.query, resp.StatusCode, resp.Header)
			}
			checkLogBody(t, body, q.start, q.end)
			ref, total, err := e.App.JobLog(context.Background(), admin, e.pubJob, q.start, q.end, 0)
			must(t, err)
			var want strings.Builder
			for _, l := range ref {
				want.Write(l)
				want.WriteByte('\n')
			}
			if string(body) != want.String() || total != lines {
				t.Fatalf("%s %s: the body differs from the lines app.JobLog reads", proto, q.query)
			}
		}
	}
	// HEAD: the headers of the whole log, no body.
	resp, err := http.Head(fmt.Sprintf("%s%s/jobs/%d/logs", e.srv.URL, rest.Prefix, e.pubJob))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != size || resp.Header.Get("X-Total-Lines") != strconv.Itoa(lines) {
		t.Fatalf("HEAD: status %d, length %d, headers %v; want 200, %d", resp.StatusCode, resp.ContentLength, resp.Header, size)
	}
	if status, _ := e.do(anon, "GET", fmt.Sprintf("/jobs/%d/logs", e.privJob), ""); status != 404 {
		t.Fatalf("a personal job's log as anonymous: %d, want 404", status)
	}
	if status, _ := e.do(alice, "GET", "/jobs/999999/logs", ""); status != 404 {
		t.Fatalf("a missing job's log: %d, want 404", status)
	}
}

// TestJobLogsWait: ?wait= long-polls for lines at start of a job that is
// not finished, and answers them with the new total once they come.
func TestJobLogsWait(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	size, lines := fillLog(t, e.Logs, e.pubJob, 0, 10)
	got := make(chan []byte, 1)
	hdr := make(chan http.Header, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("%s%s/jobs/%d/logs?start=%d&wait=60s", e.srv.URL, rest.Prefix, e.pubJob, lines))
		if err != nil {
			got <- []byte(err.Error())
			hdr <- nil
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- b
		hdr <- resp.Header
	}()
	// Whether the append comes before or during the wait, the answer holds
	// the new lines; without them it would come after 60 s, empty.
	time.Sleep(50 * time.Millisecond)
	more := append(logRecord(append(logRecord(nil, lines), '\n'), lines+1), '\n')
	if _, err := e.Logs.Append(context.Background(), e.pubJob, size, more); err != nil {
		t.Fatal(err)
	}
	if b := <-got; string(b) != string(more) {
		t.Fatalf("long poll answered %q, want %q", b, more)
	}
	if h := <-hdr; h.Get("X-Total-Lines") != strconv.Itoa(lines+2) {
		t.Fatalf("X-Total-Lines %q, want %d", h.Get("X-Total-Lines"), lines+2)
	}
}

// TestLogReadMemoryBound: 20 clients reading a public 64 MiB log at once,
// over HTTP/1.1 and then h2c, leave the Go heap in use at most 64 MiB
// above where it was (sampled every 20 ms; a server holding the log per
// reader needs 20 × 64 MiB and more) and allocate less than 256 MiB in all
// (counted exactly, so no peak can be missed; the server that held the
// log allocated over 2 GiB). Both figures count the clients too, and the
// bounds are generous: streaming, the server needs a few MiB.
func TestLogReadMemoryBound(t *testing.T) {
	const (
		logSize = 64 << 20
		readers = 20
		bound   = 64 << 20  // heap in use
		allocs  = 256 << 20 // allocated
	)
	e := newEnv(t, labtest.Backends()[0])
	size, _ := fillLog(t, e.Logs, e.pubJob, logSize, 0)
	for proto, c := range protocols(t, e) {
		url := fmt.Sprintf("%s%s/jobs/%d/logs", c.url, rest.Prefix, e.pubJob)
		if _, _, err := getLog(c.client, url+"?end=1"); err != nil { // connect, warm up
			t.Fatal(err)
		}
		ms := startMemSampler()
		t0 := time.Now()
		readConcurrently(t, []*http.Client{c.client}, url, readers, size)
		ms.end()
		t.Logf("%s: read in %v", proto, time.Since(t0))
		inuse, allocated := ms.growth()
		t.Logf("%s: %d readers of %d MiB: heap in use grew by at most %.1f MiB, %.1f MiB allocated",
			proto, readers, size>>20, float64(inuse)/(1<<20), float64(allocated)/(1<<20))
		if inuse > bound || allocated > allocs {
			t.Errorf("%s: %d readers of a %d MiB log: heap in use grew by %d MiB, %d MiB allocated; want under %d and %d MiB",
				proto, readers, size>>20, inuse>>20, allocated>>20, bound>>20, allocs>>20)
		}
	}
}
