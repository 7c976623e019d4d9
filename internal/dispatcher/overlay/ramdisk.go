package overlay

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/cpio"
)

// ErrNotCpio is returned by AppendToRamdisk for a ramdisk that is neither
// a newc cpio archive nor a gzip-compressed one.
var ErrNotCpio = errors.New("overlays: lava: true needs a cpio ramdisk (format: cpio.newc)")

// compressions names the magic numbers of formats the kernel may unpack
// but AppendToRamdisk does not take, for a clearer error.
var compressions = []struct {
	magic []byte
	name  string
}{
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, "xz"},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, "zstd"},
	{[]byte{0x02, 0x21, 0x4c, 0x18}, "lz4"},
	{[]byte("BZh"), "bzip2"},
	{[]byte{0x89, 'L', 'Z', 'O'}, "lzo"},
	{[]byte{0x5d, 0, 0}, "lzma"},
}

// AppendToRamdisk writes out: the bytes of ramdisk, zeros up to a multiple
// of four bytes, then the tree as a gzip-compressed newc archive. The
// kernel unpacks the archives one after the other into the same initramfs,
// so the overlay's files are added to the ramdisk's. The padding matters
// after an uncompressed archive: the kernel only accepts what follows it at
// an offset that is a multiple of four.
//
// The ramdisk must be a newc archive, plain or gzip-compressed (the
// decompressed start is checked); anything else is ErrNotCpio. out is
// written to a temporary file beside it and renamed, so it may be the
// ramdisk itself.
func AppendToRamdisk(ramdisk, out string, t *Tree) error {
	return appendArchive(ramdisk, out, t.WriteCPIO)
}

// AppendTarToRamdisk writes out: ramdisk followed, as AppendToRamdisk
// does, by a gzip-compressed newc archive of the files of the tar archive
// tarball (plain or gzip-compressed): LAVA's install_modules, which puts
// a kernel's modules tarball (lib/modules/…) into the ramdisk. Entries
// are directories, regular files and symbolic links; their names are
// made relative ("./lib" is "lib"), with the parent directories the
// tarball does not list; a name with a ".." element, and any other entry
// type, is refused.
func AppendTarToRamdisk(ramdisk, out, tarball string) error {
	return appendArchive(ramdisk, out, func(w io.Writer) error { return TarToCPIO(tarball, w) })
}

// appendArchive writes out: the ramdisk, padding, then what write writes,
// gzip-compressed.
func appendArchive(ramdisk, out string, write func(io.Writer) error) error {
	in, err := os.Open(ramdisk)
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	defer in.Close()
	if err := checkRamdisk(in, ramdisk); err != nil {
		return err
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("overlay: %s: %w", ramdisk, err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	defer os.Remove(tmp.Name())
	fail := func(err error) error {
		tmp.Close()
		return fmt.Errorf("overlay: write %s: %w", out, err)
	}
	w := bufio.NewWriterSize(tmp, 1<<20)
	n, err := io.Copy(w, in)
	if err != nil {
		return fail(err)
	}
	if r := n % 4; r != 0 {
		if _, err := w.Write(make([]byte, 4-r)); err != nil {
			return fail(err)
		}
	}
	gz := gzip.NewWriter(w)
	if err := write(gz); err != nil {
		return fail(err)
	}
	if err := gz.Close(); err != nil {
		return fail(err)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("overlay: write %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	return nil
}

// checkRamdisk checks that r starts a newc archive, plain or gzipped.
func checkRamdisk(r io.Reader, name string) error {
	br := bufio.NewReader(r)
	head, _ := br.Peek(6)
	if isNewc(head) {
		return nil
	}
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w: bad gzip header: %v", name, ErrNotCpio, err)
		}
		inner := make([]byte, 6)
		if _, err := io.ReadFull(zr, inner); err != nil {
			return fmt.Errorf("%s: %w: cannot decompress its start: %v", name, ErrNotCpio, err)
		}
		if isNewc(inner) {
			return nil
		}
		return fmt.Errorf("%s: %w: it is gzip-compressed but not a newc archive", name, ErrNotCpio)
	}
	for _, c := range compressions {
		if bytes.HasPrefix(head, c.magic) {
			return fmt.Errorf("%s: %w: it is compressed with %s; only gzip-compressed or uncompressed ramdisks can take the overlay (declare compression: %s on the ramdisk so that it is decompressed after download)", name, ErrNotCpio, c.name, c.name)
		}
	}
	return fmt.Errorf("%s: %w: it is neither a newc cpio archive nor a gzip-compressed one", name, ErrNotCpio)
}

func isNewc(b []byte) bool {
	return bytes.HasPrefix(b, []byte(cpio.Magic)) || bytes.HasPrefix(b, []byte(cpio.MagicCRC))
}

// TarToCPIO writes the entries of the tar archive at path (plain or
// gzip-compressed) to w as an uncompressed newc archive, as
// AppendTarToRamdisk adds them: directories, regular files and symbolic
// links, names made relative, a name with a ".." element and any other
// entry type refused. A parent directory the tarball does not list is
// written (mode 0755) before its first entry, since the kernel, unlike
// tar, creates none.
func TarToCPIO(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if head, _ := br.Peek(2); bytes.Equal(head, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	cw := cpio.NewWriter(w)
	dirs := map[string]bool{} // directories written
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: not a tar archive: %w", path, err)
		}
		name := strings.TrimLeft(strings.TrimPrefix(h.Name, "./"), "/")
		name = strings.TrimSuffix(name, "/")
		if name == "" || name == "." {
			continue
		}
		if slices.Contains(strings.Split(name, "/"), "..") {
			return fmt.Errorf("%s: entry %q leaves the archive's root", path, h.Name)
		}
		perm := fs.FileMode(h.Mode) & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		// The kernel creates no missing parent directory (tar does):
		// those the tarball does not list come first, mode 0755.
		for i := range len(name) {
			if name[i] != '/' || dirs[name[:i]] {
				continue
			}
			if err := cw.AddDir(name[:i], 0o755); err != nil {
				return fmt.Errorf("%s: %s: %w", path, name[:i], err)
			}
			dirs[name[:i]] = true
		}
		switch h.Typeflag {
		case tar.TypeDir:
			dirs[name] = true
			err = cw.AddDir(name, perm)
		case tar.TypeReg:
			if err = cw.WriteHeader(cpio.Header{Name: name, Mode: perm, Size: h.Size}); err == nil {
				_, err = io.Copy(cw, tr)
			}
		case tar.TypeSymlink:
			err = cw.AddSymlink(name, h.Linkname)
		default:
			return fmt.Errorf("%s: entry %q is a %q entry: only directories, files and symbolic links go into a ramdisk", path, h.Name, string(h.Typeflag))
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, name, err)
		}
	}
	return cw.Close()
}
