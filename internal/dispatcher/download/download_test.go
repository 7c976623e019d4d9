package download

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// server serves fixed bodies by path and counts requests per path.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string][]byte
	hits   map[string]int
}

func newServer(t *testing.T, bodies map[string][]byte) *server {
	t.Helper()
	s := &server{bodies: bodies, hits: make(map[string]int)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		b, ok := s.bodies[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func newCache(t *testing.T, dir string, max int64, opts ...Option) *Cache {
	t.Helper()
	c, err := New(dir, max, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func sums(b []byte) (m, s256, s512 string) {
	a := md5.Sum(b)
	c := sha256.Sum256(b)
	d := sha512.Sum512(b)
	return hex.EncodeToString(a[:]), hex.EncodeToString(c[:]), hex.EncodeToString(d[:])
}

// names lists a directory, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	sort.Strings(out)
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFetchChecksums(t *testing.T) {
	body := []byte("kernel image bytes\n")
	m, s256, s512 := sums(body)
	bad := func(s string) string { return strings.Repeat("0", len(s)) }
	tests := []struct {
		name     string
		item     Item
		wantAlgo string // "" = success
		wantExp  string
	}{
		{"no checksum", Item{}, "", ""},
		{"md5", Item{MD5: m}, "", ""},
		{"sha256", Item{SHA256: s256}, "", ""},
		{"sha512 upper case", Item{SHA512: strings.ToUpper(s512)}, "", ""},
		{"all three", Item{MD5: m, SHA256: s256, SHA512: s512}, "", ""},
		{"md5 mismatch", Item{MD5: bad(m)}, "md5", bad(m)},
		{"sha256 mismatch", Item{SHA256: bad(s256)}, "sha256", bad(s256)},
		{"sha512 mismatch", Item{SHA512: bad(s512)}, "sha512", bad(s512)},
		{"one of three mismatches", Item{MD5: m, SHA256: bad(s256), SHA512: s512}, "sha256", bad(s256)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, map[string][]byte{"/img": body})
			dir := t.TempDir()
			c := newCache(t, dir, 1<<20)
			it := tt.item
			it.URL = srv.URL + "/img"
			path, info, err := c.Fetch(context.Background(), it)
			if tt.wantAlgo != "" {
				var ce *ChecksumError
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v, want a ChecksumError", err)
				}
				if ce.Algo != tt.wantAlgo || ce.Expected != tt.wantExp {
					t.Errorf("ChecksumError = %+v, want algo %s expected %s", ce, tt.wantAlgo, tt.wantExp)
				}
				want := map[string]string{"md5": m, "sha256": s256, "sha512": s512}[tt.wantAlgo]
				if ce.Actual != want {
					t.Errorf("actual = %s, want %s", ce.Actual, want)
				}
				if !strings.Contains(err.Error(), ce.Expected) || !strings.Contains(err.Error(), ce.Actual) {
					t.Errorf("message %q does not name both checksums", err)
				}
				if n := names(t, filepath.Join(dir, "objects")); len(n) != 0 {
					t.Errorf("objects after mismatch: %v", n)
				}
				if n := names(t, filepath.Join(dir, "tmp")); len(n) != 0 {
					t.Errorf("tmp after mismatch: %v", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if got := readFile(t, path); !bytes.Equal(got, body) {
				t.Errorf("content = %q, want %q", got, body)
			}
			if info.Size != int64(len(body)) || info.SHA256 != s256 || info.FromCache {
				t.Errorf("info = %+v, want size %d sha256 %s not from cache", info, len(body), s256)
			}
			if err := c.Release(path); err != nil {
				t.Errorf("Release: %v", err)
			}
		})
	}
}

// bz2Content is what testdata/lines.txt.bz2 decompresses to. The standard
// library has no bzip2 writer; the fixture was made with Python's bz2
// module from exactly these lines.
func bz2Content() []byte {
	var b bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&b, "basalt bz2 fixture line %d\n", i)
	}
	return b.Bytes()
}

func compressFixture(t *testing.T, comp string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch comp {
	case "gz":
		w := gzip.NewWriter(&b)
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "xz":
		w, err := xz.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "zstd":
		w, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case "zip":
		return zipFixture(t, map[string][]byte{"dir/rootfs.ext4": data})
	case "bz2":
		if !bytes.Equal(data, bz2Content()) {
			t.Fatal("the bz2 fixture only holds bz2Content()")
		}
		return readFile(t, filepath.Join("testdata", "lines.txt.bz2"))
	default:
		t.Fatalf("no fixture for %q", comp)
	}
	return b.Bytes()
}

func zipFixture(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	if _, err := zw.Create("dir/"); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFetchCompressions(t *testing.T) {
	plain := bz2Content()
	_, plainSum, _ := sums(plain)
	for _, comp := range []string{"gz", "bz2", "xz", "zstd", "zip"} {
		t.Run(comp, func(t *testing.T) {
			packed := compressFixture(t, comp, plain)
			_, packedSum, _ := sums(packed)
			srv := newServer(t, map[string][]byte{"/img." + comp: packed})
			c := newCache(t, t.TempDir(), 1<<20)
			// The checksum is of the compressed bytes, as in LAVA.
			path, info, err := c.Fetch(context.Background(), Item{URL: srv.URL + "/img." + comp, Compression: comp, SHA256: packedSum})
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if got := readFile(t, path); !bytes.Equal(got, plain) {
				t.Errorf("content differs: %d bytes, want %d", len(got), len(plain))
			}
			if info.Size != int64(len(plain)) || info.SHA256 != plainSum {
				t.Errorf("info = %+v, want size %d sha256 %s", info, len(plain), plainSum)
			}
		})
	}
}

func TestFetchErrors(t *testing.T) {
	srv := newServer(t, map[string][]byte{
		"/two.zip":  zipFixture(t, map[string][]byte{"a": []byte("a"), "b": []byte("b")}),
		"/none.zip": zipFixture(t, nil),
		"/notgz":    []byte("plain text"),
	})
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer failing.Close()
	tests := []struct {
		name   string
		item   Item
		status int    // want a StatusError with this code
		substr string // else want this in the message
	}{
		{"404", Item{URL: srv.URL + "/missing"}, http.StatusNotFound, ""},
		{"500", Item{URL: failing.URL + "/img"}, http.StatusInternalServerError, ""},
		{"unknown compression", Item{URL: srv.URL + "/notgz", Compression: "lzma"}, 0, `unknown compression "lzma"`},
		{"zip with two files", Item{URL: srv.URL + "/two.zip", Compression: "zip"}, 0, "holds 2 files; only single-file archives"},
		{"zip with no file", Item{URL: srv.URL + "/none.zip", Compression: "zip"}, 0, "holds 0 files"},
		{"not gzip", Item{URL: srv.URL + "/notgz", Compression: "gz"}, 0, "gz decompression"},
		{"unsupported scheme", Item{URL: "ftp://example.invalid/img"}, 0, `unsupported scheme "ftp"`},
		{"bad md5", Item{URL: srv.URL + "/notgz", MD5: "xyz"}, 0, "md5sum"},
		{"short sha256", Item{URL: srv.URL + "/notgz", SHA256: "abcd"}, 0, "not 64 hex digits"},
		{"missing file", Item{URL: "file:///nonexistent/basalt/img"}, 0, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := newCache(t, dir, 1<<20)
			_, _, err := c.Fetch(context.Background(), tt.item)
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			if tt.status != 0 {
				var se *StatusError
				if !errors.As(err, &se) || se.StatusCode != tt.status {
					t.Fatalf("err = %v, want a StatusError %d", err, tt.status)
				}
				if !strings.Contains(err.Error(), fmt.Sprint(tt.status)) {
					t.Errorf("message %q does not name the status", err)
				}
			} else if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("err = %v, want it to contain %q", err, tt.substr)
			}
			if n := names(t, filepath.Join(dir, "objects")); len(n) != 0 {
				t.Errorf("objects after failure: %v", n)
			}
			if n := names(t, filepath.Join(dir, "tmp")); len(n) != 0 {
				t.Errorf("tmp after failure: %v", n)
			}
		})
	}
}

func TestCacheHit(t *testing.T) {
	body := []byte("rootfs")
	_, s256, _ := sums(body)
	srv := newServer(t, map[string][]byte{"/a": body, "/mirror/a": body})
	dir := t.TempDir()
	c := newCache(t, dir, 1<<20)
	ctx := context.Background()

	tests := []struct {
		name      string
		item      Item
		fromCache bool
	}{
		{"first", Item{URL: srv.URL + "/a"}, false},
		{"same URL", Item{URL: srv.URL + "/a"}, true},
		{"same URL compression none", Item{URL: srv.URL + "/a", Compression: "none"}, true},
		{"checksummed", Item{URL: srv.URL + "/a", SHA256: s256}, false},
		{"same checksum, other URL", Item{URL: srv.URL + "/mirror/a", SHA256: s256}, true},
	}
	for _, tt := range tests {
		path, info, err := c.Fetch(ctx, tt.item)
		if err != nil {
			t.Fatalf("%s: Fetch: %v", tt.name, err)
		}
		if info.FromCache != tt.fromCache {
			t.Errorf("%s: FromCache = %v, want %v", tt.name, info.FromCache, tt.fromCache)
		}
		if err := c.Release(path); err != nil {
			t.Fatalf("%s: Release: %v", tt.name, err)
		}
	}
	if n := srv.count("/a"); n != 2 { // once by URL, once by checksum
		t.Errorf("requests for /a = %d, want 2", n)
	}
	if n := srv.count("/mirror/a"); n != 0 {
		t.Errorf("requests for /mirror/a = %d, want 0", n)
	}

	// A second cache over the same directory (another worker process)
	// finds the entries too.
	c2 := newCache(t, dir, 1<<20)
	path, info, err := c2.Fetch(ctx, Item{URL: srv.URL + "/a"})
	if err != nil || !info.FromCache || info.SHA256 != s256 {
		t.Fatalf("second cache: info %+v, err %v; want a hit with sha256 %s", info, err, s256)
	}
	if err := c2.Release(path); err != nil {
		t.Fatal(err)
	}
	if n := srv.count("/a"); n != 2 {
		t.Errorf("requests for /a = %d, want still 2", n)
	}
	if err := c2.Release(path); err == nil {
		t.Error("second Release of the same use succeeded")
	}
}

func TestConcurrentFetchDownloadsOnce(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	tests := []struct {
		name   string
		caches int // 1: goroutines of one process; 2: two processes sharing the directory
	}{
		{"one cache", 1},
		{"two caches over one directory", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, map[string][]byte{"/big": body})
			dir := t.TempDir()
			var cs []*Cache
			for range tt.caches {
				cs = append(cs, newCache(t, dir, 1<<30))
			}
			var wg sync.WaitGroup
			var failures, downloads atomic.Int32
			paths := make([]string, 8)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := cs[i%len(cs)]
					path, info, err := c.Fetch(context.Background(), Item{URL: srv.URL + "/big"})
					if err != nil {
						t.Errorf("Fetch %d: %v", i, err)
						failures.Add(1)
						return
					}
					if !info.FromCache {
						downloads.Add(1)
					}
					if got := readFile(t, path); !bytes.Equal(got, body) {
						t.Errorf("Fetch %d: content differs", i)
					}
					paths[i] = path
				}()
			}
			wg.Wait()
			if failures.Load() > 0 {
				return
			}
			if n := srv.count("/big"); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
			if downloads.Load() == 0 {
				t.Error("no call reports the download")
			}
			for i, p := range paths {
				if err := cs[i%len(cs)].Release(p); err != nil {
					t.Errorf("Release %d: %v", i, err)
				}
			}
		})
	}
}

// setAge backdates an entry's last use.
func setAge(t *testing.T, path string, age time.Duration) {
	t.Helper()
	when := time.Now().Add(-age)
	if err := os.Chtimes(path, when, when); err != nil {
		t.Fatal(err)
	}
}

func TestEviction(t *testing.T) {
	body := func(c byte) []byte { return bytes.Repeat([]byte{c}, 40) }
	srv := newServer(t, map[string][]byte{"/a": body('a'), "/b": body('b'), "/c": body('c'), "/d": body('d')})
	dir := t.TempDir()
	ctx := context.Background()
	c := newCache(t, dir, 100) // room for two 40-byte entries
	other := newCache(t, dir, 100)
	fetch := func(c *Cache, name string) string {
		t.Helper()
		path, _, err := c.Fetch(ctx, Item{URL: srv.URL + "/" + name})
		if err != nil {
			t.Fatalf("Fetch %s: %v", name, err)
		}
		return path
	}
	release := func(c *Cache, path string) {
		t.Helper()
		if err := c.Release(path); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	exists := func(path string) bool {
		_, err := os.Stat(path)
		return err == nil
	}

	// a and b fit; a is the least recently used.
	pa := fetch(c, "a")
	release(c, pa)
	pb := fetch(c, "b")
	release(c, pb)
	setAge(t, pa, 2*time.Hour)
	setAge(t, pb, time.Hour)

	// Adding c evicts a, the least recently used.
	pc := fetch(c, "c")
	if exists(pa) || !exists(pb) || !exists(pc) {
		t.Fatalf("after c: a %v b %v c %v, want only a evicted", exists(pa), exists(pb), exists(pc))
	}
	if exists(pa + metaSuffix) {
		t.Error("a's metadata survived its eviction")
	}

	// With c in use here and b in use by another process, adding d
	// evicts nothing: the cache stays above its bound.
	setAge(t, pc, 3*time.Hour)
	pb2 := fetch(other, "b")
	setAge(t, pb2, 3*time.Hour)
	pd := fetch(c, "d")
	if !exists(pb) || !exists(pc) || !exists(pd) {
		t.Fatalf("in-use entries evicted: b %v c %v d %v", exists(pb), exists(pc), exists(pd))
	}

	// Releasing c lets it go (oldest, no longer in use); b stays in use.
	release(c, pc)
	if exists(pc) || !exists(pb) || !exists(pd) {
		t.Fatalf("after releasing c: b %v c %v d %v, want c evicted", exists(pb), exists(pc), exists(pd))
	}
	release(other, pb2)
	release(c, pd)
	if n := srv.count("/a") + srv.count("/b") + srv.count("/c") + srv.count("/d"); n != 4 {
		t.Errorf("requests = %d, want 4", n)
	}
}

func TestProxy(t *testing.T) {
	body := []byte("through the proxy")
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.String())
		mu.Unlock()
		w.Write(body)
	}))
	defer proxy.Close()
	tests := []struct {
		name string
		opts []Option
	}{
		{"default client", []Option{WithProxy(proxy.URL)}},
		{"own client", []Option{WithHTTPClient(&http.Client{}), WithProxy(proxy.URL)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			c := newCache(t, t.TempDir(), 1<<20, tt.opts...)
			// The host does not exist: only the proxy can answer.
			path, _, err := c.Fetch(context.Background(), Item{URL: "http://images.example.invalid/img"})
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if got := readFile(t, path); !bytes.Equal(got, body) {
				t.Errorf("content = %q", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || seen[0] != "http://images.example.invalid/img" {
				t.Errorf("proxy saw %v, want the one absolute URL", seen)
			}
		})
	}
	if _, err := New(t.TempDir(), 1, WithProxy("ftp://proxy")); err == nil {
		t.Error("New accepted an ftp proxy")
	}
	type rt struct{ http.RoundTripper }
	if _, err := New(t.TempDir(), 1, WithHTTPClient(&http.Client{Transport: rt{}}), WithProxy(proxy.URL)); err == nil {
		t.Error("New accepted a proxy with a transport it cannot configure")
	}
}

func TestFileURL(t *testing.T) {
	plain := bz2Content()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "img"), plain, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "img.gz"), compressFixture(t, "gz", plain), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		item Item
	}{
		{"plain", Item{URL: "file://" + filepath.Join(src, "img")}},
		{"localhost", Item{URL: "file://localhost" + filepath.Join(src, "img")}},
		{"gz", Item{URL: "file://" + filepath.Join(src, "img.gz"), Compression: "gz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(t, t.TempDir(), 1<<20)
			path, info, err := c.Fetch(context.Background(), tt.item)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if got := readFile(t, path); !bytes.Equal(got, plain) || info.Size != int64(len(plain)) {
				t.Errorf("content %d bytes, info %+v; want %d bytes", len(got), info, len(plain))
			}
		})
	}
}

func TestInterruptedDownload(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	var broken atomic.Bool
	broken.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		if !broken.Load() {
			w.Write(body)
			return
		}
		w.Write(body[:100])
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	}))
	defer srv.Close()
	tests := []struct {
		name string
		comp string
	}{
		{"plain", ""},
		{"gz", "gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken.Store(true)
			dir := t.TempDir()
			c := newCache(t, dir, 1<<20)
			it := Item{URL: srv.URL + "/img", Compression: tt.comp}
			_, _, err := c.Fetch(context.Background(), it)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("err = %v, want unexpected EOF", err)
			}
			if n := names(t, filepath.Join(dir, "objects")); len(n) != 0 {
				t.Errorf("objects after interruption: %v", n)
			}
			if n := names(t, filepath.Join(dir, "tmp")); len(n) != 0 {
				t.Errorf("tmp after interruption: %v", n)
			}
			if tt.comp != "" {
				return
			}
			// The next attempt downloads it whole.
			broken.Store(false)
			path, info, err := c.Fetch(context.Background(), it)
			if err != nil || info.FromCache || !bytes.Equal(readFile(t, path), body) {
				t.Fatalf("retry: info %+v, err %v", info, err)
			}
		})
	}
}

func TestCanceledJoinerRetries(t *testing.T) {
	// A caller whose context is done gives up without disturbing others.
	srv := newServer(t, map[string][]byte{"/img": []byte("img")})
	c := newCache(t, t.TempDir(), 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.Fetch(ctx, Item{URL: srv.URL + "/img"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	path, _, err := c.Fetch(context.Background(), Item{URL: srv.URL + "/img"})
	if err != nil {
		t.Fatalf("Fetch after a canceled one: %v", err)
	}
	if got := string(readFile(t, path)); got != "img" {
		t.Errorf("content = %q", got)
	}
}

func TestNewRejectsBadBound(t *testing.T) {
	for _, max := range []int64{0, -1} {
		if _, err := New(t.TempDir(), max); err == nil {
			t.Errorf("New accepted bound %d", max)
		}
	}
}
