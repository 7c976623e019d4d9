package overlay_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/cpio"
	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
)

// baseRamdisk is a small initramfs: /init and /bin/sh.
func baseRamdisk(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	_ = w.AddDir("bin", 0o755)
	_ = w.AddFile("init", 0o755, []byte("#!/bin/sh\nexec sh\n"))
	_ = w.AddSymlink("bin/sh", "busybox")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func overlayTree(t *testing.T) *overlay.Tree {
	t.Helper()
	tree, err := overlay.Build(overlay.Options{JobID: 77}, []overlay.Stage{{Number: 0, Definitions: []overlay.Definition{
		{Name: "smoke", Index: 0, UUID: "77_1", Testdef: mustTestdef(t, smokeTestdef), RepoDir: repo(t)},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// kernelSegments splits an initramfs the way the kernel's
// unpack_to_rootfs walks it: zero bytes are skipped, an uncompressed
// archive is only recognised at an offset that is a multiple of four (and
// what follows its padding must be at such an offset too), and anything
// else must be a compressed archive (gzip here). It returns the
// decompressed archives.
func kernelSegments(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var segs [][]byte
	off := 0
	for off < len(b) {
		switch {
		case b[off] == 0:
			off++
		case b[off] == '0' && off%4 == 0:
			r := bytes.NewReader(b[off:])
			cr := cpio.NewReader(r)
			for {
				_, err := cr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("uncompressed archive at %d: %v", off, err)
				}
			}
			segs = append(segs, b[off:off+int(cr.Offset())])
			off += int(cr.Offset())
			// do_reset: zeros after the trailer, then more data only
			// at a multiple of four ("broken padding").
			for off < len(b) && b[off] == 0 {
				off++
			}
			if off < len(b) && off%4 != 0 {
				t.Fatalf("broken padding: data at offset %d after an uncompressed archive", off)
			}
		case b[off] == 0x1f && off+1 < len(b) && b[off+1] == 0x8b:
			r := bytes.NewReader(b[off:])
			zr, err := gzip.NewReader(r)
			if err != nil {
				t.Fatalf("gzip at %d: %v", off, err)
			}
			zr.Multistream(false)
			data, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("gzip at %d: %v", off, err)
			}
			segs = append(segs, data)
			off = len(b) - r.Len()
		default:
			t.Fatalf("junk at offset %d (%#x): the kernel would refuse it (an uncompressed archive must start at a multiple of 4)", off, b[off])
		}
	}
	return segs
}

func TestAppendToRamdisk(t *testing.T) {
	base := baseRamdisk(t)
	tests := []struct {
		name    string
		ramdisk []byte
	}{
		{"gzip", gzipped(t, base)},
		{"uncompressed", base},
		// An archive followed by a stray byte: the overlay must still
		// start at a multiple of four.
		{"uncompressed, odd length", append(append([]byte(nil), base...), 0)},
		{"gzip with trailing zeros", append(gzipped(t, base), 0, 0, 0, 0, 0)},
	}
	tree := overlayTree(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "ramdisk"), filepath.Join(dir, "out", "ramdisk.overlay")
			if err := os.WriteFile(in, tt.ramdisk, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Dir(out), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := overlay.AppendToRamdisk(in, out, tree); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, tt.ramdisk) {
				t.Fatal("the output does not start with the ramdisk")
			}
			segs := kernelSegments(t, b)
			if len(segs) != 2 {
				t.Fatalf("%d archives, want the ramdisk's and the overlay's", len(segs))
			}
			first, second := readArchive(t, segs[0]), readArchive(t, segs[1])
			if _, ok := first["init"]; !ok {
				t.Errorf("the ramdisk's archive lost init: %v", first)
			}
			for _, name := range []string{"lava-77", "lava-77/bin/lava-test-runner", "lava-77/environment", "lava-77/0/lava-test-runner.conf", "lava-77/0/tests/0_smoke/check.sh"} {
				if _, ok := second[name]; !ok {
					t.Errorf("%s not in the overlay archive", name)
				}
			}

			// busybox lists the overlay archive too.
			cmd := exec.Command(busybox(t), "cpio", "-t")
			cmd.Stdin = bytes.NewReader(segs[1])
			list, err := cmd.Output()
			if err != nil {
				t.Fatalf("busybox cpio -t: %v", err)
			}
			if !strings.Contains(string(list), "lava-77/0/tests/0_smoke/run.sh\n") || !strings.HasPrefix(string(list), "lava-77\n") {
				t.Errorf("busybox cpio -t:\n%s", list)
			}
		})
	}
}

func TestAppendToRamdiskInPlace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "initrd.gz")
	orig := gzipped(t, baseRamdisk(t))
	if err := os.WriteFile(p, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := overlay.AppendToRamdisk(p, p, overlayTree(t)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !bytes.HasPrefix(b, orig) || len(b) <= len(orig) {
		t.Errorf("in-place append: %d bytes, original %d", len(b), len(orig))
	}
	if len(kernelSegments(t, b)) != 2 {
		t.Error("in-place append did not produce two archives")
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestAppendToRamdiskRefuses(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"text", []byte("this is not an initramfs\n"), "neither a newc cpio archive nor a gzip-compressed one"},
		{"empty", nil, "neither"},
		{"gzip of text", gzipped(t, []byte("hello, world")), "gzip-compressed but not a newc archive"},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2}, "compressed with xz"},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0}, "compressed with zstd"},
		{"old binary cpio", []byte{0xc7, 0x71, 0, 0, 0, 0, 0, 0}, "neither"},
		{"truncated gzip", gzipped(t, baseRamdisk(t))[:12], "cannot decompress its start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "ramdisk")
			if err := os.WriteFile(in, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			err := overlay.AppendToRamdisk(in, filepath.Join(dir, "out"), overlayTree(t))
			if !errors.Is(err, overlay.ErrNotCpio) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want ErrNotCpio containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "overlays: lava: true needs a cpio ramdisk (format: cpio.newc)") {
				t.Errorf("error %q lacks the explanation", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
				t.Errorf("output written despite the error: %v", err)
			}
		})
	}
	if err := overlay.AppendToRamdisk(filepath.Join(t.TempDir(), "missing"), filepath.Join(t.TempDir(), "out"), overlayTree(t)); err == nil {
		t.Error("missing ramdisk accepted")
	}
}

// writeTar writes a tar archive of entries (gzip-compressed with gz).
func writeTar(t *testing.T, path string, gz bool, entries ...*tar.Header) {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, h := range entries {
		if h.Typeflag == tar.TypeReg {
			body := "module " + h.Name
			h.Size = int64(len(body))
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			tw.Write([]byte(body))
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		zw.Close()
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A modules tarball goes into the ramdisk as a second archive the kernel
// unpacks over the first (LAVA's install_modules), plain or gzipped tar;
// an entry leaving the root or of another type is refused.
func TestAppendTarToRamdisk(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		in, tarball, out := filepath.Join(dir, "ramdisk"), filepath.Join(dir, "modules.tar"), filepath.Join(dir, "out")
		if err := os.WriteFile(in, gzipped(t, baseRamdisk(t)), 0o644); err != nil {
			t.Fatal(err)
		}
		writeTar(t, tarball, gz,
			&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
			&tar.Header{Name: "./lib/modules/6.1.0/", Typeflag: tar.TypeDir, Mode: 0o755},
			&tar.Header{Name: "./lib/modules/6.1.0/kernel/e1000.ko", Typeflag: tar.TypeReg, Mode: 0o644},
			&tar.Header{Name: "lib/modules/6.1.0/build", Typeflag: tar.TypeSymlink, Linkname: "/usr/src/linux"})
		if err := overlay.AppendTarToRamdisk(in, out, tarball); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		segs := kernelSegments(t, b)
		if len(segs) != 2 {
			t.Fatalf("%d archives, want the ramdisk's and the modules'", len(segs))
		}
		cmd := exec.Command(busybox(t), "cpio", "-t")
		cmd.Stdin = bytes.NewReader(segs[1])
		list, err := cmd.Output()
		if err != nil {
			t.Fatalf("busybox cpio -t: %v", err)
		}
		// The parents the tarball does not list come first: the kernel
		// creates none.
		if string(list) != "lib\nlib/modules\nlib/modules/6.1.0\nlib/modules/6.1.0/kernel\nlib/modules/6.1.0/kernel/e1000.ko\nlib/modules/6.1.0/build\n" {
			t.Errorf("gzip %v: busybox cpio -t:\n%s", gz, list)
		}
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "ramdisk")
	if err := os.WriteFile(in, baseRamdisk(t), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]*tar.Header{
		"escape": {Name: "lib/../../etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644},
		"device": {Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666},
	} {
		tarball := filepath.Join(dir, name+".tar")
		writeTar(t, tarball, false, h)
		if err := overlay.AppendTarToRamdisk(in, filepath.Join(dir, "out-"+name), tarball); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
