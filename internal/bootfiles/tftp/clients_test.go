package tftp

// Tests with real TFTP clients: Debian's tftp-hpa (/usr/bin/tftp, the
// client that defaults to netascii and sends no options) and atftp
// (/usr/bin/atftp, which negotiates blksize, tsize, timeout and
// windowsize).

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
)

const (
	tftpHpa = "/usr/bin/tftp"
	atftp   = "/usr/bin/atftp"
)

func requireBinary(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: install the Debian package %s (scripts/ensure-deps.sh test): %v", path, pkg, err)
	}
}

func port(a net.Addr) string { return strconv.Itoa(a.(*net.UDPAddr).Port) }

// hpaGet runs tftp-hpa's "get". tftp-hpa exits 0 even on errors: the
// output says "Error code N: ..." then.
func hpaGet(t testing.TB, addr net.Addr, mode, remote, local string) string {
	t.Helper()
	cmd := exec.Command(tftpHpa, "-m", mode, "127.0.0.1", port(addr), "-c", "get", remote, local)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tftp get %s: %v\n%s", remote, err, out)
	}
	return string(out)
}

// atftpGet runs atftp --get with --trace and the given --option values.
func atftpGet(addr net.Addr, remote, local string, opts ...string) (string, error) {
	args := []string{"--get", "-r", remote, "-l", local, "--trace"}
	for _, o := range opts {
		args = append(args, "--option", o)
	}
	args = append(args, "127.0.0.1", port(addr))
	out, err := exec.Command(atftp, args...).CombinedOutput()
	return string(out), err
}

// clientTree is a served root with files of every kind, next to a secret
// outside it.
type clientTree struct {
	base, root string
	files      map[string][]byte
}

func newClientTree(t testing.TB) *clientTree {
	base := t.TempDir()
	ct := &clientTree{base: base, root: filepath.Join(base, "root"), files: map[string][]byte{}}
	add := func(name string, data []byte) {
		writeFile(t, ct.root, name, data)
		ct.files[name] = data
	}
	add("kernel/vmlinuz", randomBytes(3_000_000, 100))
	add("dtb/board.dtb", randomBytes(40_000, 101))
	add("small", []byte("x"))
	add("empty", nil)
	add("block", randomBytes(512, 102))
	var text []byte
	for i := range 4000 {
		text = append(text, fmt.Sprintf("line %d", i)...)
		switch i % 4 {
		case 0:
			text = append(text, '\n')
		case 1:
			text = append(text, '\r', '\n')
		case 2:
			text = append(text, '\r')
		case 3:
			text = append(text, '\n', '\n', '\r', '\r')
		}
	}
	add("boot.scr.txt", text)
	writeFile(t, base, "secret", []byte("secret outside the root\n"))
	if err := os.Symlink(filepath.Join(base, "secret"), filepath.Join(ct.root, "escape")); err != nil {
		t.Fatal(err)
	}
	return ct
}

func TestTFTPHpaClient(t *testing.T) {
	requireBinary(t, tftpHpa, "tftp-hpa")
	ct := newClientTree(t)
	ts := startServer(t, ct.root, nil)
	out := t.TempDir()
	for _, mode := range []string{"octet", "netascii"} {
		for name, want := range ct.files {
			t.Run(mode+"/"+name, func(t *testing.T) {
				local := filepath.Join(out, mode+"-"+filepath.Base(name))
				if msg := hpaGet(t, ts.addr, mode, name, local); msg != "" {
					t.Fatalf("tftp said %q", msg)
				}
				got, err := os.ReadFile(local)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s in %s: got %d bytes, want %d (content differs)", name, mode, len(got), len(want))
				}
			})
		}
	}
	// Leading slash: relative to the root.
	t.Run("leading slash", func(t *testing.T) {
		local := filepath.Join(out, "slash")
		if msg := hpaGet(t, ts.addr, "octet", "/dtb/board.dtb", local); msg != "" {
			t.Fatalf("tftp said %q", msg)
		}
		if got, _ := os.ReadFile(local); !bytes.Equal(got, ct.files["dtb/board.dtb"]) {
			t.Fatal("content differs")
		}
	})
	refused := []struct{ remote, want string }{
		{"nope", "Error code 1: file not found"},
		{"kernel/nope", "Error code 1: file not found"},
		{"../secret", "Error code 2: access violation"},
		{"kernel/../../secret", "Error code 2: access violation"},
		{"kernel/../small", "Error code 2: access violation"},
		{filepath.Join(ct.base, "secret"), "Error code 1: file not found"},
		{"escape", "Error code 2: access violation"},
		{"kernel", "Error code 2: not a regular file"},
	}
	for _, r := range refused {
		t.Run("refused "+r.remote, func(t *testing.T) {
			local := filepath.Join(out, "refused")
			msg := hpaGet(t, ts.addr, "octet", r.remote, local)
			if msg != r.want+"\n" {
				t.Fatalf("tftp said %q, want %q", msg, r.want)
			}
			if got, _ := os.ReadFile(local); bytes.Contains(got, []byte("secret")) {
				t.Fatal("the secret was read")
			}
		})
	}
	t.Run("put refused", func(t *testing.T) {
		src := filepath.Join(out, "upload")
		os.WriteFile(src, []byte("upload"), 0o644)
		b, err := exec.Command(tftpHpa, "127.0.0.1", port(ts.addr), "-c", "put", src, "uploaded").CombinedOutput()
		if err != nil || string(b) != "Error code 2: read-only server: write requests refused\n" {
			t.Fatalf("put: %v %q", err, b)
		}
		if _, err := os.Stat(filepath.Join(ct.root, "uploaded")); err == nil {
			t.Fatal("file written")
		}
	})
	ts.Shutdown(t.Context())
	for _, r := range ts.records() {
		if r.Err != nil && r.Bytes != 0 {
			t.Errorf("refused %q sent %d bytes", r.File, r.Bytes)
		}
	}
}

func TestTFTPHpaRollover(t *testing.T) {
	// 33 MiB at tftp-hpa's 512-byte blocks: 67 585 blocks, so the block
	// number wraps from 65535 to 0 and goes on.
	requireBinary(t, tftpHpa, "tftp-hpa")
	dir := t.TempDir()
	want := randomBytes(33<<20, 200)
	writeFile(t, dir, "big", want)
	ts := startServer(t, dir, nil)
	local := filepath.Join(t.TempDir(), "big")
	if msg := hpaGet(t, ts.addr, "octet", "big", local); msg != "" {
		t.Fatalf("tftp said %q", msg)
	}
	got, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d (content differs)", len(got), len(want))
	}
	ts.Shutdown(t.Context())
	if r := ts.records(); len(r) != 1 || r[0].Bytes != 33<<20 || r[0].BlockSize != 512 || r[0].Err != nil {
		t.Fatalf("records %+v", r)
	}
}

// oackRE finds atftp's trace of the OACK (which ends with two backspaces
// it prints to erase the last ", ").
var oackRE = regexp.MustCompile(`received OACK <([^>]*?)(?:\x08\x08)?>`)

func TestAtftpClient(t *testing.T) {
	requireBinary(t, atftp, "atftp")
	ct := newClientTree(t)
	ts := startServer(t, ct.root, func(s *Server) { s.MaxWindow = 16 })
	out := t.TempDir()
	kernel := len(ct.files["kernel/vmlinuz"])
	text := ct.files["boot.scr.txt"]
	conv := len(text) + bytes.Count(text, []byte{'\n'}) + bytes.Count(text, []byte{'\r'})
	cases := []struct {
		name, file string
		opts       []string
		oack       string // the OACK as atftp traces it; "" for none
		blk, win   int
		tsize      int64
	}{
		{"defaults", "kernel/vmlinuz", nil, "", 512, 1, -1},
		{"tsize", "kernel/vmlinuz", []string{"tsize enable"}, fmt.Sprintf("tsize: %d, ", kernel), 512, 1, int64(kernel)},
		{"blksize 8", "dtb/board.dtb", []string{"blksize 8"}, "blksize: 8, ", 8, 1, -1},
		{"blksize 1428", "kernel/vmlinuz", []string{"blksize 1428"}, "blksize: 1428, ", 1428, 1, -1},
		{"blksize 65464", "kernel/vmlinuz", []string{"blksize 65464"}, "blksize: 65464, ", 65464, 1, -1},
		{"windowsize 8", "kernel/vmlinuz", []string{"windowsize 8"}, "windowsize: 8, ", 512, 8, -1},
		{"windowsize clamped", "kernel/vmlinuz", []string{"windowsize 64"}, "windowsize: 16, ", 512, 16, -1},
		{"timeout", "dtb/board.dtb", []string{"timeout 2"}, "timeout: 2, ", 512, 1, -1},
		{"all", "kernel/vmlinuz", []string{"blksize 1428", "tsize enable", "windowsize 8"},
			fmt.Sprintf("tsize: %d, windowsize: 8, blksize: 1428, ", kernel), 1428, 8, int64(kernel)},
		{"netascii", "boot.scr.txt", []string{"mode netascii", "tsize enable", "blksize 1000"},
			fmt.Sprintf("tsize: %d, blksize: 1000, ", conv), 1000, 1, int64(conv)},
		{"netascii window", "boot.scr.txt", []string{"mode netascii", "windowsize 4", "blksize 100"},
			"windowsize: 4, blksize: 100, ", 100, 4, -1},
		{"empty", "empty", []string{"tsize enable", "windowsize 4"}, "tsize: 0, windowsize: 4, ", 512, 4, 0},
		{"one block", "block", []string{"windowsize 4"}, "windowsize: 4, ", 512, 4, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			local := filepath.Join(out, tc.name)
			trace, err := atftpGet(ts.addr, tc.file, local, tc.opts...)
			if err != nil {
				t.Fatalf("atftp: %v\n%s", err, trace)
			}
			got, err := os.ReadFile(local)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, ct.files[tc.file]) {
				t.Fatalf("got %d bytes, want %d (content differs)", len(got), len(ct.files[tc.file]))
			}
			m := oackRE.FindStringSubmatch(trace)
			switch {
			case tc.oack == "" && m != nil:
				t.Fatalf("unexpected OACK %q", m[0])
			case tc.oack != "" && (m == nil || m[1] != tc.oack):
				t.Fatalf("OACK %q, want %q", m, tc.oack)
			}
		})
	}
	ts.Shutdown(t.Context())
	recs := ts.records()
	if len(recs) != len(cases) {
		t.Fatalf("%d records, want %d", len(recs), len(cases))
	}
	for i, tc := range cases {
		r := recs[i]
		if r.Err != nil || r.BlockSize != tc.blk || r.Window != tc.win || r.Tsize != tc.tsize || r.File != tc.file {
			t.Errorf("%s: record %+v, want blksize %d window %d tsize %d", tc.name, r, tc.blk, tc.win, tc.tsize)
		}
	}
}

func TestAtftpRefusals(t *testing.T) {
	requireBinary(t, atftp, "atftp")
	ct := newClientTree(t)
	ts := startServer(t, ct.root, nil)
	out := t.TempDir()
	for _, tc := range []struct{ remote, want string }{
		{"nope", "<file not found>"},
		{"../secret", "<access violation>"},
		{"dtb/../../secret", "<access violation>"},
		{"/" + filepath.Join(ct.base, "secret"), "<file not found>"},
		{"escape", "<access violation>"},
	} {
		t.Run(tc.remote, func(t *testing.T) {
			local := filepath.Join(out, "refused")
			trace, err := atftpGet(ts.addr, tc.remote, local, "blksize 1428")
			if err == nil || !bytes.Contains([]byte(trace), []byte(tc.want)) {
				t.Fatalf("atftp: %v, output %q; want a failure with %q", err, trace, tc.want)
			}
			if got, _ := os.ReadFile(local); bytes.Contains(got, []byte("secret")) {
				t.Fatal("the secret was read")
			}
		})
	}
}

func TestRealClientsConcurrent(t *testing.T) {
	// 20 clients at once, 10 tftp-hpa and 10 atftp (half of them with a
	// window), on the same and different files: all byte-exact.
	requireBinary(t, tftpHpa, "tftp-hpa")
	requireBinary(t, atftp, "atftp")
	ct := newClientTree(t)
	ts := startServer(t, ct.root, nil)
	out := t.TempDir()
	names := []string{"kernel/vmlinuz", "dtb/board.dtb", "boot.scr.txt", "kernel/vmlinuz"}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := names[i%len(names)]
			local := filepath.Join(out, fmt.Sprint(i))
			var b []byte
			var err error
			if i%2 == 0 {
				b, err = exec.Command(tftpHpa, "-m", "octet", "127.0.0.1", port(ts.addr), "-c", "get", name, local).CombinedOutput()
				if err == nil && len(b) > 0 {
					err = fmt.Errorf("tftp said %q", b)
				}
			} else {
				args := []string{"--get", "-r", name, "-l", local, "--option", "blksize 1428"}
				if i%4 == 1 {
					args = append(args, "--option", "windowsize 8")
				}
				b, err = exec.Command(atftp, append(args, "127.0.0.1", port(ts.addr))...).CombinedOutput()
			}
			if err != nil {
				errs <- fmt.Errorf("client %d (%s): %v %s", i, name, err, b)
				return
			}
			got, err := os.ReadFile(local)
			if err != nil || !bytes.Equal(got, ct.files[name]) {
				errs <- fmt.Errorf("client %d: %s differs (%d bytes, %v)", i, name, len(got), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ts.Shutdown(t.Context())
	if n := len(ts.records()); n != 20 {
		t.Errorf("%d records, want 20", n)
	}
}
