package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/web"
)

// BenchmarkHugeLog measures the job page and a log window in the middle of
// a 1,000,000-line log (the target: under 100 ms each).
func BenchmarkHugeLog(b *testing.B) {
	const lines = 1_000_000
	l := labtest.NewLab(b, labtest.Backends()[0], labtest.Config{})
	logs := l.Logs
	id := l.Submit(admin, labtest.Job("huge", "qemu", ""))
	var err error
	var off int64
	for n := 0; n < lines; {
		var buf bytes.Buffer
		for ; n < lines && buf.Len() < 8<<20; n++ {
			fmt.Fprintf(&buf, `{"dt":"2026-01-02T03:04:05Z","lvl":"target","msg":"line %d of a very long boot log, with some text"}`+"\n", n)
		}
		if off, err = logs.Append(context.Background(), id, off, buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
	if n, err := logs.Lines(context.Background(), id); err != nil || n != lines {
		b.Fatalf("log has %d lines (%v), want %d", n, err, lines)
	}
	srv := l.Serve(web.New(l.App, nil))
	for name, path := range map[string]string{
		"job-page":   fmt.Sprintf("/jobs/%d", id),
		"log-window": fmt.Sprintf("/jobs/%d/log?start=500000&end=501000", id),
		// both read the whole log: no line matches, none is an error
		"log-search":  fmt.Sprintf("/jobs/%d/log?q=no+such+text", id),
		"first-error": fmt.Sprintf("/jobs/%d/log?first=error", id),
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("GET %s: %d", path, resp.StatusCode)
				}
			}
		})
	}
}
