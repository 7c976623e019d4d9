package uimage_test

import (
	"bytes"
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
	})
}
