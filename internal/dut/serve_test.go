package dut

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serveDir makes a directory with files a file server must and must not
// serve, and serves it on loopback.
func serveDir(t *testing.T) (*FileServer, string) {
	t.Helper()
	dir := t.TempDir()
	outside := t.TempDir()
	write := func(path, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "vmlinuz"), "the kernel")
	write(filepath.Join(dir, "initramfs.cpio.gz"), "the ramdisk")
	write(filepath.Join(dir, ".hidden"), "a dot file")
	write(filepath.Join(dir, "sub", "file"), "in a subdirectory")
	write(filepath.Join(outside, "secret"), "outside the directory")
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("vmlinuz", filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	fsrv, err := NewFileServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsrv.Close() })
	srv := httptest.NewServer(fsrv)
	t.Cleanup(srv.Close)
	return fsrv, srv.URL
}

func do(t *testing.T, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestServeFiles: the files of the directory are served read-only, and
// nothing else is.
func TestServeFiles(t *testing.T) {
	_, url := serveDir(t)
	if resp, body := do(t, "GET", url+"/vmlinuz"); resp.StatusCode != 200 || body != "the kernel" ||
		resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("GET /vmlinuz: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, body := do(t, "HEAD", url+"/initramfs.cpio.gz"); resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len("the ramdisk")) {
		t.Errorf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	if resp, body := do(t, "GET", url+"/vmlinuz", "Range", "bytes=4-"); resp.StatusCode != 206 || body != "kernel" {
		t.Errorf("range: %d %q", resp.StatusCode, body)
	}
	if resp, body := do(t, "GET", url+"/alias"); resp.StatusCode != 200 || body != "the kernel" {
		t.Errorf("a link inside the directory: %d %q", resp.StatusCode, body)
	}
	for _, method := range []string{"POST", "PUT", "DELETE"} {
		if resp, _ := do(t, method, url+"/vmlinuz"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	for _, path := range []string{"/", "/sub", "/sub/", "/sub/file", "/.hidden", "/escape", "/missing",
		"/%2e%2e/" + filepath.Base(t.TempDir()), "/..%2fsecret", "/vmlinuz/", "/a%5cb"} {
		if resp, body := do(t, "GET", url+path); resp.StatusCode != 404 || strings.Contains(body, "kernel") || strings.Contains(body, "outside") {
			t.Errorf("GET %s: %d %q, want 404", path, resp.StatusCode, body)
		}
	}
}

// TestServeLimit: a request beyond the concurrency limit gets 503.
func TestServeLimit(t *testing.T) {
	fsrv, url := serveDir(t)
	for range cap(fsrv.sem) {
		fsrv.sem <- struct{}{}
	}
	if resp, _ := do(t, "GET", url+"/vmlinuz"); resp.StatusCode != 503 {
		t.Errorf("GET with every slot taken: %d, want 503", resp.StatusCode)
	}
	<-fsrv.sem
	if resp, body := do(t, "GET", url+"/vmlinuz"); resp.StatusCode != 200 || body != "the kernel" {
		t.Errorf("GET with a free slot: %d %q", resp.StatusCode, body)
	}
}

// TestServeStops: Serve answers until its context ends, then returns nil
// and stops listening.
func TestServeStops(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vmlinuz"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsrv, err := NewFileServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsrv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, fsrv) }()
	url := "http://" + ln.Addr().String()
	if resp, body := do(t, "GET", url+"/vmlinuz"); resp.StatusCode != 200 || body != "k" {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	if _, err := http.Get(url + "/vmlinuz"); err == nil {
		t.Error("still answering after Serve returned")
	}
}

// TestServeMissingDir: a directory that does not exist is an error, not a
// server of nothing.
func TestServeMissingDir(t *testing.T) {
	if _, err := NewFileServer(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("NewFileServer of a missing directory succeeded")
	}
}
