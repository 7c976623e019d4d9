package cpio_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/cpio"
	"github.com/google/go-cmp/cmp"
)

type item struct {
	H    cpio.Header
	Data string
}

// readAll decodes an archive completely.
func readAll(t *testing.T, b []byte) []item {
	t.Helper()
	r := cpio.NewReader(bytes.NewReader(b))
	var out []item
	for {
		h, err := r.Next()
		if err == io.EOF {
			if r.Offset() != int64(len(b)) {
				t.Errorf("reader stopped at %d of %d bytes", r.Offset(), len(b))
			}
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read %s: %v", h.Name, err)
		}
		out = append(out, item{h, string(data)})
	}
}

func sample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	steps := []error{
		w.AddDir("etc", 0o755),
		w.AddDir("tmp", 0o777|fs.ModeSticky),
		w.AddFile("etc/hostname", 0o644, []byte("dut\n")),
		w.AddFile("etc/empty", 0o600, nil),
		w.AddFile("init", 0o755, []byte("#!/bin/sh\necho odd-length\n")),
		w.AddSymlink("bin/sh", "busybox"),
		w.AddCharDevice("dev/console", 0o600, 5, 1),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	b := sample(t)
	if len(b)%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", len(b))
	}
	if !bytes.HasPrefix(b, []byte(cpio.Magic)) {
		t.Errorf("archive starts with %q", b[:6])
	}
	got := readAll(t, b)
	want := []item{
		{cpio.Header{Name: "etc", Mode: fs.ModeDir | 0o755}, ""},
		{cpio.Header{Name: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777}, ""},
		{cpio.Header{Name: "etc/hostname", Mode: 0o644, Size: 4}, "dut\n"},
		{cpio.Header{Name: "etc/empty", Mode: 0o600}, ""},
		{cpio.Header{Name: "init", Mode: 0o755, Size: 26}, "#!/bin/sh\necho odd-length\n"},
		{cpio.Header{Name: "bin/sh", Mode: fs.ModeSymlink | 0o777, Linkname: "busybox"}, ""},
		{cpio.Header{Name: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, DevMajor: 5, DevMinor: 1}, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

// TestHeaderLayout checks the exact bytes of one entry: field order, the
// inode numbering, zero uid/gid/mtime and the padding of name and data.
func TestHeaderLayout(t *testing.T) {
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	if err := w.AddFile("ab", 0o644, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "070701" + "00000001" + "000081A4" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000001" + "00000000" + "00000000" + "00000000" + "00000000" + "00000003" + "00000000" +
		"ab\x00" + "\x00\x00\x00" + // 110+3 → 116
		"x" + "\x00\x00\x00" +
		"070701" + "00000000" + "00000000" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "0000000B" + "00000000" +
		"TRAILER!!!\x00" + "\x00\x00\x00"
	if got := buf.String(); got != want {
		t.Errorf("archive:\n got %q\nwant %q", got, want)
	}
}

func TestStreamingWrite(t *testing.T) {
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	if err := w.WriteHeader(cpio.Header{Name: "big", Mode: 0o644, Size: 10}); err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"012", "3456", "789"} {
		if _, err := w.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write([]byte("!")); err == nil {
		t.Error("writing past the size succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, buf.Bytes())
	if len(got) != 1 || got[0].Data != "0123456789" {
		t.Errorf("got %+v", got)
	}
}

func TestWriterErrors(t *testing.T) {
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	if err := w.AddFile("", 0o644, nil); err == nil {
		t.Error("empty name accepted")
	}
	if err := w.AddFile("a\x00b", 0o644, nil); err == nil {
		t.Error("name with NUL accepted")
	}
	if err := w.AddFile(cpio.Trailer, 0o644, nil); err == nil {
		t.Error("trailer name accepted")
	}
	if err := w.AddSymlink("l", ""); err == nil {
		t.Error("empty symlink target accepted")
	}
	if err := w.WriteHeader(cpio.Header{Name: "huge", Size: cpio.MaxSize + 1}); err == nil {
		t.Error("size over 4 GiB accepted")
	}
	// A short entry poisons the writer.
	if err := w.WriteHeader(cpio.Header{Name: "short", Mode: 0o644, Size: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "3 bytes short") {
		t.Errorf("Close after a short entry: %v", err)
	}
	if err := w.AddDir("x", 0o755); err == nil {
		t.Error("add after a failed Close succeeded")
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriteErrorIsSticky(t *testing.T) {
	w := cpio.NewWriter(&failWriter{after: 2})
	_ = w.AddFile("a", 0o644, []byte("data"))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close: %v", err)
	}
}

func TestReaderErrors(t *testing.T) {
	good := sample(t)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"gzip", []byte("\x1f\x8b\x08\x00" + strings.Repeat("\x00", 200)), cpio.ErrFormat},
		{"old binary cpio", append([]byte{0xc7, 0x71}, make([]byte, 200)...), cpio.ErrFormat},
		{"truncated", good[:len(good)-20], io.ErrUnexpectedEOF},
		{"bad hex", append([]byte("070701zzzzzzzz"), make([]byte, 200)...), cpio.ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cpio.NewReader(bytes.NewReader(tt.in))
			var err error
			for err == nil {
				_, err = r.Next()
				if err == nil {
					_, err = io.Copy(io.Discard, r)
				}
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestBusyboxLists checks the archive against an independent reader:
// busybox cpio (Debian's busybox-static) lists and extracts it.
func TestBusyboxLists(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed (make test installs it): %v", err)
	}
	b := sample(t)
	cmd := exec.Command(bb, "cpio", "-t")
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("busybox cpio -t: %v\n%s", err, stderr.Bytes())
	}
	want := "etc\ntmp\netc/hostname\netc/empty\ninit\nbin/sh\ndev/console\n"
	if string(out) != want {
		t.Errorf("busybox cpio -t:\n%s\nwant:\n%s", out, want)
	}

	// Extract the regular files and the symlink (device nodes need root
	// and are left out by building a second archive).
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	_ = w.AddDir("d", 0o750)
	_ = w.AddFile("d/f", 0o640, []byte("hello"))
	_ = w.AddSymlink("d/l", "f")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd = exec.Command(bb, "cpio", "-i", "-d")
	cmd.Dir = dir
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio -i: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "d", "l"))
	if err != nil || string(data) != "hello" {
		t.Errorf("extracted d/l → %q, %v", data, err)
	}
	st, err := os.Stat(filepath.Join(dir, "d", "f"))
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("extracted d/f: %v, %v", st, err)
	}
}

func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	_ = w.AddFile("a", 0o644, []byte("data"))
	_ = w.AddSymlink("l", "a")
	_ = w.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("070701"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := cpio.NewReader(bytes.NewReader(b))
		for i := 0; i < 1000; i++ {
			if _, err := r.Next(); err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
		}
	})
}
