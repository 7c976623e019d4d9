package bootfiles

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

func newServer(t *testing.T) (*Server, string) {
	t.Helper()
	base := t.TempDir()
	s, err := New(filepath.Join(base, "root"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := os.WriteFile(filepath.Join(base, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "loose"), []byte("not in a job"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s, base
}

// publish publishes id with the files given, written by the test as the
// deploy step would.
func publish(t *testing.T, s *Server, id string, files map[string][]byte) string {
	t.Helper()
	dir, prefix, err := s.Publish(id)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(s.Dir(), filepath.FromSlash(prefix)) {
		t.Fatalf("dir %q and prefix %q disagree", dir, prefix)
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return prefix
}

var prefixRE = regexp.MustCompile(`^jobs/([A-Za-z0-9._-]+)-[0-9a-f]{16}$`)

func TestPublish(t *testing.T) {
	s, _ := newServer(t)
	for _, tc := range []struct{ id, name string }{
		{"42", "42"},
		{"42.1", "42.1"},
		{"a/b c", "a_b_c"},
		{"../..", ".._.."},
		{"é", "_"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64)},
	} {
		dir, prefix, err := s.Publish(tc.id)
		if err != nil {
			t.Fatalf("%q: %v", tc.id, err)
		}
		m := prefixRE.FindStringSubmatch(prefix)
		if m == nil || m[1] != tc.name {
			t.Fatalf("%q: prefix %q, want jobs/%s-<16 hex>", tc.id, prefix, tc.name)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || filepath.Dir(dir) != filepath.Join(s.Dir(), "jobs") {
			t.Fatalf("%q: dir %q: %v", tc.id, dir, err)
		}
	}
	if _, _, err := s.Publish("42"); err == nil {
		t.Fatal("published 42 twice")
	}
	if _, _, err := s.Publish(""); err == nil {
		t.Fatal("published an empty ID")
	}
	// A job published again after Unpublish gets a fresh directory.
	_, p1, _ := s.Publish("again")
	if err := s.Unpublish("again"); err != nil {
		t.Fatal(err)
	}
	_, p2, err := s.Publish("again")
	if err != nil || p1 == p2 {
		t.Fatalf("republish: %q then %q, %v", p1, p2, err)
	}
	if err := s.Unpublish("never"); err != nil {
		t.Fatalf("unpublish of an unknown job: %v", err)
	}
}

func TestNewClearsStaleJobs(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "jobs", "7-0000000000000000")
	os.MkdirAll(stale, 0o755)
	os.WriteFile(filepath.Join(stale, "kernel"), []byte("old"), 0o644)
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale job directory left: %v", err)
	}
}

func TestHTTP(t *testing.T) {
	s, base := newServer(t)
	kernel := randomBytes(100_000, 1)
	prefix := publish(t, s, "42", map[string][]byte{"kernel/vmlinuz": kernel, "dtb/board.dtb": []byte("dtb")})
	gone := publish(t, s, "43", map[string][]byte{"kernel/vmlinuz": []byte("old")})
	if err := s.Unpublish("43"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), gone)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unpublished directory still there: %v", err)
	}
	jobDir := filepath.Join(s.Dir(), prefix)
	os.Symlink(filepath.Join(base, "secret"), filepath.Join(jobDir, "escape"))
	os.Symlink("../../loose", filepath.Join(jobDir, "loose-link"))
	os.Symlink("kernel/vmlinuz", filepath.Join(jobDir, "vmlinuz-link"))
	syscall.Mkfifo(filepath.Join(jobDir, "fifo"), 0o644)

	cases := []struct {
		method, path string
		header       [2]string
		code         int
		body         string
	}{
		{"GET", "/" + prefix + "/kernel/vmlinuz", [2]string{}, 200, string(kernel)},
		{"GET", "/" + prefix + "/dtb/board.dtb", [2]string{}, 200, "dtb"},
		{"GET", "//" + prefix + "/./dtb//board.dtb", [2]string{}, 200, "dtb"},
		{"GET", "/" + prefix + "/vmlinuz-link", [2]string{}, 200, string(kernel)},
		{"HEAD", "/" + prefix + "/kernel/vmlinuz", [2]string{}, 200, ""},
		{"GET", "/" + prefix + "/kernel/vmlinuz", [2]string{"Range", "bytes=10-19"}, 206, string(kernel[10:20])},
		{"GET", "/" + prefix + "/kernel/vmlinuz", [2]string{"Range", "bytes=99990-"}, 206, string(kernel[99990:])},
		{"POST", "/" + prefix + "/kernel/vmlinuz", [2]string{}, 405, ""},
		{"PUT", "/" + prefix + "/new", [2]string{}, 405, ""},
		{"GET", "/" + prefix + "/nope", [2]string{}, 404, ""},
		{"GET", "/" + prefix, [2]string{}, 404, ""},
		{"GET", "/" + prefix + "/kernel/", [2]string{}, 404, ""},
		{"GET", "/jobs/", [2]string{}, 404, ""},
		{"GET", "/", [2]string{}, 404, ""},
		{"GET", "/loose", [2]string{}, 404, ""},
		{"GET", "/" + gone + "/kernel/vmlinuz", [2]string{}, 404, ""},
		{"GET", "/" + prefix + "/escape", [2]string{}, 404, ""},
		{"GET", "/" + prefix + "/loose-link", [2]string{}, 404, ""},
		{"GET", "/" + prefix + "/fifo", [2]string{}, 404, ""},
		{"GET", "/" + prefix + "/../../../secret", [2]string{}, 400, ""},
		{"GET", "/../secret", [2]string{}, 400, ""},
		{"GET", "/" + prefix + "/kernel/../dtb/board.dtb", [2]string{}, 400, ""},
		{"GET", "/" + filepath.Join(base, "secret"), [2]string{}, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://worker/", nil)
			r.URL.Path = tc.path
			if tc.header[0] != "" {
				r.Header.Set(tc.header[0], tc.header[1])
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d (%q)", w.Code, tc.code, w.Body.String())
			}
			if tc.code < 300 && w.Body.String() != tc.body {
				t.Fatalf("body of %d bytes differs from the %d expected", w.Body.Len(), len(tc.body))
			}
			if tc.method == "HEAD" && w.Header().Get("Content-Length") != strconv.Itoa(len(kernel)) {
				t.Fatalf("HEAD Content-Length %q", w.Header().Get("Content-Length"))
			}
			if tc.code == 405 && w.Header().Get("Allow") != "GET, HEAD" {
				t.Fatalf("Allow %q", w.Header().Get("Allow"))
			}
		})
	}
}

func TestHTTPOverTheNetwork(t *testing.T) {
	s, _ := newServer(t)
	kernel := randomBytes(1_000_000, 2)
	prefix := publish(t, s, "42", map[string][]byte{"vmlinuz": kernel})
	srv := httptest.NewServer(http.StripPrefix("/boot", s))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/boot/" + prefix + "/vmlinuz")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, kernel) {
		t.Fatalf("status %d, %d bytes, %v", resp.StatusCode, len(got), err)
	}
	// An encoded ".." is decoded before the check.
	resp, err = http.Get(srv.URL + "/boot/" + prefix + "/%2e%2e/%2e%2e/loose")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("encoded traversal: status %d, want 400", resp.StatusCode)
	}
}

func TestUnpublishStopsHTTPDownload(t *testing.T) {
	s, _ := newServer(t)
	big := randomBytes(64<<20, 3)
	prefix := publish(t, s, "42", map[string][]byte{"rootfs": big})
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/" + prefix + "/rootfs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpublish("42"); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err == nil || len(first)+len(rest) >= len(big) {
		t.Fatalf("download went on after Unpublish: %d of %d bytes, err %v", len(first)+len(rest), len(big), err)
	}
}

// tftpServe serves s's TFTP on a loopback port.
func tftpServe(t *testing.T, s *Server) net.Addr {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeTFTP(pc)
	return pc.LocalAddr()
}

func TestTFTP(t *testing.T) {
	const client = "/usr/bin/tftp"
	if _, err := os.Stat(client); err != nil {
		t.Fatalf("%s is missing: install the Debian package tftp-hpa: %v", client, err)
	}
	s, _ := newServer(t)
	kernel := randomBytes(200_000, 4)
	prefix := publish(t, s, "42", map[string][]byte{"kernel/vmlinuz": kernel})
	gone := publish(t, s, "43", map[string][]byte{"kernel/vmlinuz": []byte("old")})
	s.Unpublish("43")
	os.Symlink("../../loose", filepath.Join(s.Dir(), prefix, "loose-link"))
	addr := tftpServe(t, s)
	port := strconv.Itoa(addr.(*net.UDPAddr).Port)
	out := t.TempDir()
	for _, tc := range []struct{ remote, want string }{
		{prefix + "/kernel/vmlinuz", ""},
		{"/" + prefix + "/kernel/vmlinuz", ""},
		{gone + "/kernel/vmlinuz", "Error code 1: file not found\n"},
		{"loose", "Error code 1: file not found\n"},
		{prefix, "Error code 1: file not found\n"},
		{prefix + "/kernel", "Error code 2: access violation\n"},
		{prefix + "/../../loose", "Error code 2: access violation\n"},
		{"jobs", "Error code 1: file not found\n"},
		{prefix + "/loose-link", "Error code 2: access violation\n"},
	} {
		t.Run(tc.remote, func(t *testing.T) {
			local := filepath.Join(out, "f")
			os.Remove(local)
			msg, err := exec.Command(client, "-m", "octet", "127.0.0.1", port, "-c", "get", tc.remote, local).CombinedOutput()
			if err != nil || string(msg) != tc.want {
				t.Fatalf("tftp said %q (%v), want %q", msg, err, tc.want)
			}
			if tc.want == "" {
				if got, _ := os.ReadFile(local); !bytes.Equal(got, kernel) {
					t.Fatal("content differs")
				}
			}
		})
	}
}

func TestUnpublishStopsTFTPTransfer(t *testing.T) {
	s, _ := newServer(t)
	prefix := publish(t, s, "42", map[string][]byte{"kernel": randomBytes(10_000, 5)})
	addr := tftpServe(t, s)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := append([]byte{0, 1}, prefix+"/kernel\x00octet\x00"...)
	conn.WriteTo(req, addr)
	buf := make([]byte, 600)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, tid, err := conn.ReadFrom(buf)
	if err != nil || n != 516 || binary.BigEndian.Uint16(buf) != 3 {
		t.Fatalf("first answer %q, %v", buf[:n], err)
	}
	if err := s.Unpublish("42"); err != nil {
		t.Fatal(err)
	}
	conn.WriteTo([]byte{0, 4, 0, 1}, tid) // ACK 1: block 2 is read now
	n, _, err = conn.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x00\x05\x00\x00read error\x00"; string(buf[:n]) != want {
		t.Fatalf("after Unpublish got %q, want %q", buf[:n], want)
	}
}

// FuzzServeHTTP sends any method and path to a Server with one published
// job: it never panics, and whatever it answers 200 or 206 to is a file of
// the job.
func FuzzServeHTTP(f *testing.F) {
	s, err := New(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	dir, prefix, err := s.Publish("1")
	if err != nil {
		f.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "kernel"), []byte("KERNEL"), 0o644)
	os.WriteFile(filepath.Join(s.Dir(), "loose"), []byte("LOOSE"), 0o644)
	for _, p := range []string{"/" + prefix + "/kernel", "/loose", "/" + prefix + "/../../loose", "//" + prefix + "/./kernel", "/"} {
		f.Add("GET", p, "")
	}
	f.Add("HEAD", "/"+prefix+"/kernel", "bytes=1-2")
	f.Fuzz(func(t *testing.T, method, p, rng string) {
		r := httptest.NewRequest("GET", "http://worker/", nil)
		r.Method, r.URL.Path = method, p
		if rng != "" {
			r.Header.Set("Range", rng)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code == 200 || w.Code == 206 {
			if body := w.Body.String(); body != "" && !strings.Contains("KERNEL", body) {
				t.Fatalf("%s %q served %q", method, p, body)
			}
		}
	})
}

// A restarted server (Reopen) serves the jobs it adopts and sweeps the
// others; Adopt refuses a prefix that is not the job's.
func TestReopenAdoptSweep(t *testing.T) {
	s, _ := newServer(t)
	keep := publish(t, s, "7", map[string][]byte{"kernel/vmlinuz": []byte("kernel 7")})
	gone := publish(t, s, "8", map[string][]byte{"kernel/vmlinuz": []byte("kernel 8")})
	dir := s.Dir()
	s.Close()

	r, err := Reopen(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Open(keep + "/kernel/vmlinuz"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("before Adopt: %v, want not found", err)
	}
	if err := r.Adopt("7", gone); err == nil {
		t.Error("Adopt of another job's directory accepted")
	}
	for _, bad := range []string{"jobs/..", "jobs/7-x/../8", "other/7-x", "jobs/"} {
		if err := r.Adopt("7", bad); err == nil {
			t.Errorf("Adopt(%q) accepted", bad)
		}
	}
	if err := r.Adopt("7", keep); err != nil {
		t.Fatal(err)
	}
	f, err := r.Open(keep + "/kernel/vmlinuz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "kernel 7" {
		t.Errorf("adopted file reads %q", b)
	}
	if err := r.Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, gone)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unadopted job directory kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, keep, "kernel/vmlinuz")); err != nil {
		t.Errorf("adopted job's file removed: %v", err)
	}
	if err := r.Unpublish("7"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, keep)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unpublished adopted directory kept: %v", err)
	}
}
