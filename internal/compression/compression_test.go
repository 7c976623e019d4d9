package compression_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/compression"
)

// sample is data that compresses, with some that does not.
func sample() []byte {
	var b bytes.Buffer
	for i := range 20000 {
		b.WriteString("070701 ramdisk line ")
		b.WriteByte(byte(i * 7919 >> 3))
	}
	return b.Bytes()
}

func compress(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := compression.NewWriter(context.Background(), &out, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// tools are Debian's command-line decompressors for each compression.
var tools = map[string][]string{
	compression.Gzip:  {"gzip", "-dc"},
	compression.Bzip2: {"bzip2", "-dc"},
	compression.XZ:    {"xz", "-dc"},
	compression.Zstd:  {"zstd", "-dc"},
}

// What NewWriter writes, NewReader and the command-line tool read back;
// Detect names it.
func TestRoundTrip(t *testing.T) {
	data := sample()
	for _, name := range []string{compression.Gzip, compression.Bzip2, compression.XZ, compression.Zstd} {
		t.Run(name, func(t *testing.T) {
			if !compression.IsStream(name) {
				t.Errorf("IsStream(%q) is false", name)
			}
			c := compress(t, name, data)
			if len(c) >= len(data) {
				t.Errorf("%d bytes compressed to %d", len(data), len(c))
			}
			if got := compression.Detect(c); got != name {
				t.Errorf("Detect: %q", got)
			}
			r, err := compression.NewReader(bytes.NewReader(c), name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("NewReader gives %d bytes, not the %d written", len(got), len(data))
			}
			tool := tools[name]
			if _, err := exec.LookPath(tool[0]); err != nil {
				t.Fatalf("%s is needed (Debian package %s): %v", tool[0], map[string]string{"gz": "gzip", "bz2": "bzip2", "xz": "xz-utils", "zstd": "zstd"}[name], err)
			}
			cmd := exec.Command(tool[0], tool[1:]...)
			cmd.Stdin = bytes.NewReader(c)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(tool, " "), err, stderr.Bytes())
			}
			if !bytes.Equal(out, data) {
				t.Errorf("%s gives %d bytes, not the %d written", tool[0], len(out), len(data))
			}
		})
	}
}

// xz streams carry a CRC-32 check, the one the kernel's decoder takes
// (LAVA's xz --check=crc32), as xz --list reads it.
func TestXZCheckIsCRC32(t *testing.T) {
	c := compress(t, compression.XZ, sample())
	f := filepath.Join(t.TempDir(), "data.xz")
	if err := os.WriteFile(f, c, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("xz", "--robot", "--list", f).CombinedOutput()
	if err != nil {
		t.Fatalf("xz --list: %v\n%s", err, out)
	}
	var checks []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, "\t"); f[0] == "file" && len(f) > 6 {
			checks = append(checks, f[6])
		}
	}
	if len(checks) != 1 || checks[0] != "CRC32" {
		t.Errorf("checks %q, want CRC32\n%s", checks, out)
	}
}

// Streams one after the other read as one, as gunzip, unxz, unzstd and
// bunzip2 read them.
func TestConcatenatedStreams(t *testing.T) {
	a, b := []byte("first part "), []byte("second part")
	for _, name := range []string{compression.Gzip, compression.Bzip2, compression.XZ, compression.Zstd} {
		t.Run(name, func(t *testing.T) {
			c := append(compress(t, name, a), compress(t, name, b)...)
			r, err := compression.NewReader(bytes.NewReader(c), name)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "first part second part" {
				t.Errorf("got %q", got)
			}
		})
	}
}

// Data that is not what it is said to be, or is cut short, is an error
// from NewReader or from reading, never a panic or a silent success.
func TestCorrupt(t *testing.T) {
	data := sample()
	for _, name := range []string{compression.Gzip, compression.Bzip2, compression.XZ, compression.Zstd} {
		c := compress(t, name, data)
		for what, in := range map[string][]byte{
			"plain data":         data,
			"cut in the middle":  c[:len(c)/2],
			"another format":     compress(t, other(name), data),
			"flipped data bytes": flip(c),
		} {
			t.Run(name+"/"+what, func(t *testing.T) {
				r, err := compression.NewReader(bytes.NewReader(in), name)
				if err != nil {
					return
				}
				defer r.Close()
				got, err := io.ReadAll(r)
				if err == nil {
					t.Errorf("read %d bytes without an error", len(got))
				}
			})
		}
	}
}

func other(name string) string {
	if name == compression.Gzip {
		return compression.Zstd
	}
	return compression.Gzip
}

// flip changes bytes in the middle of b, in a copy.
func flip(b []byte) []byte {
	c := bytes.Clone(b)
	for i := len(c) / 3; i < len(c)/3+16 && i < len(c); i++ {
		c[i] ^= 0x55
	}
	return c
}

func TestUnknown(t *testing.T) {
	for _, name := range []string{"zip", "", "lz4"} {
		if compression.IsStream(name) {
			t.Errorf("IsStream(%q) is true", name)
		}
		if _, err := compression.NewReader(strings.NewReader("x"), name); err == nil || !strings.Contains(err.Error(), "unknown stream compression") {
			t.Errorf("NewReader(%q): %v", name, err)
		}
		if _, err := compression.NewWriter(context.Background(), io.Discard, name); err == nil || !strings.Contains(err.Error(), "unknown stream compression") {
			t.Errorf("NewWriter(%q): %v", name, err)
		}
	}
	if got := compression.Detect([]byte("070701")); got != "" {
		t.Errorf("Detect(cpio) = %q", got)
	}
}

// bz2 without the bzip2 program is ErrMissingProgram, naming the package.
func TestBzip2Missing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := compression.NewWriter(context.Background(), io.Discard, compression.Bzip2)
	if !errors.Is(err, compression.ErrMissingProgram) || !strings.Contains(err.Error(), "install Debian's bzip2 package") {
		t.Errorf("err = %v", err)
	}
}

// A bzip2 that fails is an error from Close (or Write), with its
// message.
func TestBzip2Fails(t *testing.T) {
	var out failWriter
	w, err := compression.NewWriter(context.Background(), &out, compression.Bzip2)
	if err != nil {
		t.Fatal(err)
	}
	_, werr := w.Write(sample())
	cerr := w.Close()
	if werr == nil && cerr == nil {
		t.Fatal("no error although the output cannot be written")
	}
}

// failWriter refuses every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
