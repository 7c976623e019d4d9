package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/web"
)

// BenchmarkHugeLog measures the job page and a log window in the middle of
// a 1,000,000-line log (the target: under 100 ms each).
func BenchmarkHugeLog(b *testing.B) {
	const lines = 1_000_000
	ctx := context.Background()
	logs, err := logstore.Open(b.TempDir())
	must(b, err)
	b.Cleanup(func() { logs.Close() })
	a := app.New(labtest.Backends()[0].Open(b), app.Config{Logs: logs})
	must(b, a.Bootstrap(ctx))
	_, err = a.CreateSuperuser(ctx, "admin", "admin@example.org", "")
	must(b, err)
	ap := principal(b, a, "admin")
	must(b, a.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "qemu"}))
	_, err = a.CreateWorker(ctx, ap, lab.Worker{Name: "w1"})
	must(b, err)
	must(b, a.CreateDevice(ctx, ap, lab.Device{Hostname: "d1", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood}, "bench"))
	ids, _, err := a.SubmitJob(ctx, ap, labtest.Job("huge", "qemu", ""))
	must(b, err)
	id := ids[0]
	var off int64
	for n := 0; n < lines; {
		var buf bytes.Buffer
		for ; n < lines && buf.Len() < 8<<20; n++ {
			fmt.Fprintf(&buf, `{"dt":"2026-01-02T03:04:05Z","lvl":"target","msg":"line %d of a very long boot log, with some text"}`+"\n", n)
		}
		if off, err = logs.Append(id, off, buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
	if n, err := logs.Lines(id); err != nil || n != lines {
		b.Fatalf("log has %d lines (%v), want %d", n, err, lines)
	}
	srv := httptest.NewServer(web.New(a, nil))
	b.Cleanup(srv.Close)
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
