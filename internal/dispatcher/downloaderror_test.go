package dispatcher

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/dispatcher/download"
	"github.com/basalt-lab/basalt/internal/lab"
)

// TestDownloadErrorTypes: an image that cannot be had as the job names it
// fails the job with a Job error (the device keeps its health), as LAVA's
// validation of the URL does; a transfer that breaks after it started is
// an Infrastructure error.
func TestDownloadErrorTypes(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/broken", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/cut", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		_, _ = w.Write([]byte(strings.Repeat("x", 1000)))
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("image")) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// A loopback port nothing listens on: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/kernel"
	l.Close()

	cache, err := download.New(t.TempDir(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		item download.Item
		want lab.ErrorType
	}{
		{"connection refused", download.Item{URL: refused}, lab.ErrorJob},
		{"404", download.Item{URL: srv.URL + "/missing"}, lab.ErrorJob},
		{"503", download.Item{URL: srv.URL + "/broken"}, lab.ErrorJob},
		{"bad checksum", download.Item{URL: srv.URL + "/ok", SHA256: strings.Repeat("0", 64)}, lab.ErrorJob},
		{"missing file", download.Item{URL: "file:///nonexistent/basalt/kernel"}, lab.ErrorJob},
		{"cut mid-transfer", download.Item{URL: srv.URL + "/cut"}, lab.ErrorInfrastructure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := cache.Fetch(context.Background(), tt.item)
			if err == nil {
				t.Fatal("download succeeded")
			}
			got := downloadError("kernel", err)
			if ErrorTypeOf(got) != tt.want {
				t.Errorf("%v: error type %s, want %s", got, ErrorTypeOf(got), tt.want)
			}
		})
	}
}
