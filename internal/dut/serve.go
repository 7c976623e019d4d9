package dut

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Limits of the file server: enough for a few workers downloading the
// images at once, small enough that a misbehaving client cannot hold the
// process.
const (
	maxConcurrentRequests = 32
	readHeaderTimeout     = 10 * time.Second
	readTimeout           = 30 * time.Second
	writeTimeout          = 10 * time.Minute // a whole image, even to a slow reader
	idleTimeout           = 2 * time.Minute
	maxHeaderBytes        = 16 << 10
)

// FileServer serves the regular files directly inside one directory,
// read-only: GET and HEAD only, no directory listing, no file whose name
// starts with a dot, nothing in subdirectories and nothing outside the
// directory (it is opened with os.OpenRoot, so a symbolic link cannot lead
// out of it). At most 32 requests are served at once; more get 503.
type FileServer struct {
	root *os.Root
	sem  chan struct{}
}

// NewFileServer opens dir for serving. Close releases it.
func NewFileServer(dir string) (*FileServer, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("serve %s: %w", dir, err)
	}
	return &FileServer{root: root, sem: make(chan struct{}, maxConcurrentRequests)}, nil
}

// Close releases the directory.
func (s *FileServer) Close() error { return s.root.Close() }

// ServeHTTP implements http.Handler.
func (s *FileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		http.Error(w, "too many requests at once", http.StatusServiceUnavailable)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/")
	if !ok || !servable(name) {
		http.NotFound(w, r)
		return
	}
	f, err := s.root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, st.ModTime(), f)
}

// servable reports whether name may be asked for: one plain file name
// directly in the directory.
func servable(name string) bool {
	return name != "" && fs.ValidPath(name) && !strings.ContainsAny(name, `/\`) && !strings.HasPrefix(name, ".")
}

// Serve serves the files of fsrv on ln until ctx ends, then shuts down
// (waiting at most 5 s for downloads in progress). It closes ln.
func Serve(ctx context.Context, ln net.Listener, fsrv *FileServer) error {
	srv := &http.Server{
		Handler:           fsrv,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve the device under test: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve the device under test: %w", err)
	}
	return nil
}
