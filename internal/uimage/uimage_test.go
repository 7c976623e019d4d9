package uimage_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/uimage"
)

// tool finds a u-boot-tools program; the package is one of make test's.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install Debian's u-boot-tools (scripts/ensure-deps.sh test does): %v", name, err)
	}
	return p
}

// Wrap writes what Debian's mkimage writes for the same input and time,
// byte for byte, and dumpimage reads it back.
func TestWrapMatchesMkimage(t *testing.T) {
	mkimage, dumpimage := tool(t, "mkimage"), tool(t, "dumpimage")
	dir := t.TempDir()
	data := bytes.Repeat([]byte("ramdisk\x00\xff"), 1000)
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		arch string
		typ  byte
		t    string
		load uint32
	}{
		{"arm", uimage.TypeRamdisk, "ramdisk", 0},
		{"arm64", uimage.TypeRamdisk, "ramdisk", 0},
		{"x86_64", uimage.TypeKernel, "kernel", 0x1000000},
		{"riscv", uimage.TypeRamdisk, "ramdisk", 0},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			out := filepath.Join(dir, tc.arch+".uimg")
			args := []string{"-A", tc.arch, "-O", "linux", "-T", tc.t, "-C", "none", "-a", "0x" + strconvHex(tc.load), "-e", "0x" + strconvHex(tc.load), "-n", "basalt", "-d", in, out}
			cmd := exec.Command(mkimage, args...)
			cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1796551200")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mkimage: %v\n%s", err, b)
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := uimage.Wrap(data, uimage.Options{Arch: tc.arch, Type: tc.typ, Load: tc.load, Entry: tc.load, Name: "basalt", Time: when})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("header differs from mkimage's:\n got % x\nwant % x", got[:64], want[:64])
			}
			// Writer writes the same bytes, streaming into a file at
			// an offset.
			o := uimage.Options{Arch: tc.arch, Type: tc.typ, Load: tc.load, Entry: tc.load, Name: "basalt", Time: when}
			streamed := writeStreamed(t, filepath.Join(dir, tc.arch+".streamed"), data, o)
			if !bytes.Equal(streamed, want) {
				t.Fatalf("Writer's header differs from mkimage's:\n got % x\nwant % x", streamed[:64], want[:64])
			}
			ours := filepath.Join(dir, tc.arch+".ours")
			if err := os.WriteFile(ours, got, 0o644); err != nil {
				t.Fatal(err)
			}
			b, err := exec.Command(dumpimage, "-l", ours).CombinedOutput()
			if err != nil || !strings.Contains(string(b), "Image Name:   basalt") {
				t.Fatalf("dumpimage -l: %v\n%s", err, b)
			}
			body, h, err := uimage.Strip(got)
			if err != nil || !bytes.Equal(body, data) || h.Name != "basalt" || h.Type != tc.typ || !h.Time.Equal(when) {
				t.Fatalf("Strip: %v %+v", err, h)
			}
		})
	}
}

// writeStreamed writes data through a Writer into a file after a few
// bytes of something else, in small writes, and returns what the Writer
// wrote.
func writeStreamed(t *testing.T, name string, data []byte, o uimage.Options) []byte {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prefix := []byte("prefix")
	if _, err := f.Write(prefix); err != nil {
		t.Fatal(err)
	}
	w, err := uimage.NewWriter(f, o)
	if err != nil {
		t.Fatal(err)
	}
	for b := data; len(b) > 0; {
		n := min(len(b), 777)
		if _, err := w.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if w.Size() != int64(len(data)) {
		t.Errorf("Size %d, want %d", w.Size(), len(data))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// The offset is at the end of the data: what follows goes after it.
	if _, err := f.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close accepted")
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, prefix) || !bytes.HasSuffix(b, []byte("after")) {
		t.Fatalf("the file is not prefix, image, after: %q…%q", b[:min(len(b), 10)], b[max(0, len(b)-10):])
	}
	return b[len(prefix) : len(b)-len("after")]
}

// Reader reads what Strip returns, checking as it goes: the data of a
// good image (bytes after it left unread), an error for a bad one.
func TestReader(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	good, err := uimage.Wrap(data, uimage.Options{Arch: "arm", Type: uimage.TypeRamdisk, Name: "rd"})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	for _, tc := range []struct {
		name string
		b    []byte
		want string // "" for success
	}{
		{"good", good, ""},
		{"good, bytes after", append(bytes.Clone(good), "trailing"...), ""},
		{"short", good[:10], "10 bytes is too short"},
		{"empty", nil, "0 bytes is too short"},
		{"magic", corrupt(0), "no U-Boot image header"},
		{"header crc", corrupt(40), "the U-Boot image header is corrupt"},
		{"cut", good[:5000], "the U-Boot image is cut: its header says 10000 bytes of data, there are 4936"},
		{"data crc", corrupt(9000), "the U-Boot image's data is corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := bytes.NewReader(tc.b)
			r, err := uimage.NewReader(src)
			var got []byte
			if err == nil {
				got, err = io.ReadAll(r)
			}
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) || r.Header.Name != "rd" {
				t.Fatalf("read %d bytes (header %+v)", len(got), r.Header)
			}
			if src.Len() != len(tc.b)-len(good) {
				t.Errorf("%d bytes after the image were read", len(tc.b)-len(good)-src.Len())
			}
		})
	}
}

func strconvHex(v uint32) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v >>= 4 {
		b = append([]byte{digits[v&15]}, b...)
	}
	return string(b)
}

func TestParseErrors(t *testing.T) {
	good, err := uimage.Wrap([]byte("data"), uimage.Options{Arch: "arm", Type: uimage.TypeRamdisk})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", good[:10], "10 bytes is too short"},
		{"magic", corrupt(0), "no U-Boot image header: the magic number is 0x26051956"},
		{"header crc", corrupt(40), "the U-Boot image header is corrupt"},
		{"cut", good[:66], "the U-Boot image is cut: its header says 4 bytes of data, there are 2"},
		{"data crc", corrupt(65), "the U-Boot image's data is corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := uimage.Parse(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := uimage.Wrap(nil, uimage.Options{Arch: "vax", Type: uimage.TypeRamdisk}); err == nil || !strings.Contains(err.Error(), `mkimage architecture "vax" is unknown`) {
		t.Errorf("unknown arch: %v", err)
	}
	if _, err := uimage.Wrap(nil, uimage.Options{Arch: "arm", Type: 9}); err == nil {
		t.Error("type 9 accepted")
	}
}

func FuzzParse(f *testing.F) {
	good, _ := uimage.Wrap([]byte("data"), uimage.Options{Arch: "arm", Type: uimage.TypeRamdisk})
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		body, h, err := uimage.Strip(b)
		if err == nil && (len(body) != int(h.Size) || !bytes.Equal(body, b[64:64+len(body)])) {
			t.Fatalf("Strip returned %d bytes for size %d", len(body), h.Size)
		}
		// Reader agrees with Strip.
		var streamed []byte
		r, rerr := uimage.NewReader(bytes.NewReader(b))
		if rerr == nil {
			streamed, rerr = io.ReadAll(r)
		}
		if (err == nil) != (rerr == nil) || (err == nil && !bytes.Equal(body, streamed)) {
			t.Fatalf("Strip: %d bytes, %v; Reader: %d bytes, %v", len(body), err, len(streamed), rerr)
		}
	})
}
