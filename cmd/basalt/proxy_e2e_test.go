package main_test

import (
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"net/http"
)

// TestWorkerThroughHTTP1Proxy: the worker reaches the server through a
// plain HTTP/1.1 reverse proxy (no HTTP/2, no upgrade); the stream, the
// uploads and the job all work through it.
func TestWorkerThroughHTTP1Proxy(t *testing.T) {
	l := newLab(t)
	l.addDevices(t, "w1", 1, simDictionary("200ms", 40))
	target, _ := url.Parse(l.url)
	var requests, http2 atomic.Int64
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 { // an HTTP/1.1-only proxy refuses h2c attempts
			http2.Add(1)
			http.Error(w, "HTTP/1.1 only", http.StatusHTTPVersionNotSupported)
			return
		}
		requests.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close) // runs after the worker (registered later) has stopped
	wdir := t.TempDir()
	startWorker(t, front.URL, "w1", l.workers["w1"], wdir)
	id := l.submit(t, simJob("via-proxy", "minutes: 2"))
	jobs := l.waitFinished(t, []int64{id}, time.Minute)
	l.checkJob(t, jobs[id], wdir)
	if requests.Load() < 4 { // connect, start, log, finish at least
		t.Errorf("proxy forwarded only %d HTTP/1.1 requests (refused %d others)", requests.Load(), http2.Load())
	}
	t.Logf("proxy forwarded %d HTTP/1.1 requests and refused %d h2c attempts", requests.Load(), http2.Load())
}
