package dispatcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/basalt-lab/basalt/internal/compression"
	"github.com/basalt-lab/basalt/internal/cpio"
	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
	"github.com/basalt-lab/basalt/internal/uimage"
)

// ramdisk prepares the ramdisk in dir and returns the file published: as
// LAVA's tftp deploy does, without the U-Boot header the job says it
// carries, with the deploy's modules tarball (install_modules, true unless
// set false, when there is one), with the overlay (install_overlay, true
// unless set false, when the job has test definitions), compressed again
// with the job's compression when it is a stream compression (gz, bz2, xz,
// zstd: LAVA's CompressRamdisk), and with a U-Boot header over the result
// when the device's add_header asks for one (mkimage -C none). src is the
// file as downloaded: compressed for a stream compression, unzipped for
// zip.
func (d *tftpDeploy) ramdisk(ctx context.Context, env *Env, im DeployedImage, src, modules, dir string) (string, error) {
	switch d.addHeader {
	case "", "raw":
	case "u-boot":
		if d.mkimageArch == "" {
			return "", ConfigurationError("the device adds U-Boot headers to ramdisks (add_header: u-boot) but names no mkimage_arch in its deploy parameters")
		}
		if _, err := uimage.Wrap(nil, d.headerOptions()); err != nil {
			return "", ConfigurationError("ramdisk U-Boot header: %w", err)
		}
	default:
		return "", ConfigurationError("the device's add_header %q is unknown (u-boot or raw)", d.addHeader)
	}
	img := im.Image
	if modules != "" && img.InstallModules != nil && !*img.InstallModules {
		modules = ""
	}
	dst := filepath.Join(dir, ramdiskBaseName(im))
	if d.addHeader == "u-boot" {
		dst += ".uboot"
	}
	var err error
	if compression.IsStream(img.Compression) {
		err = d.compressedRamdisk(ctx, env, im, src, modules, dst)
	} else {
		err = d.plainRamdisk(ctx, env, im, src, modules, dir, dst)
	}
	if err != nil {
		return "", err
	}
	if d.addHeader == "u-boot" {
		env.Info("ramdisk: U-Boot header added (mkimage -A %s -T ramdisk -C none)", d.mkimageArch)
	}
	return dst, nil
}

// ramdiskBaseName is the name the ramdisk is published under: the last
// element of its URL, without the ".uboot" of a header the job says it
// carries (removed) and, for zip, without ".zip" (unzipped). A ramdisk
// compressed again keeps its compression's suffix (rootfs.cpio.gz).
func ramdiskBaseName(im DeployedImage) string {
	base := urlBase(im.Image.URL)
	if im.Image.Header == "u-boot" {
		base = publishedName(im, base, ".uboot")
	}
	if c := im.Image.Compression; c != "" && !compression.IsStream(c) {
		base = publishedName(im, base, "."+c)
	}
	return publishedName(im, base)
}

// headerOptions are the device's mkimage options for ramdisks.
func (d *tftpDeploy) headerOptions() uimage.Options {
	return uimage.Options{Arch: d.mkimageArch, Type: uimage.TypeRamdisk}
}

// plainRamdisk prepares a ramdisk the job gives no stream compression
// for (none, or zip, unzipped by the download): the modules and the
// overlay are appended as gzip-compressed archives after the ramdisk as
// it is (which may be compressed itself: the kernel takes archives one
// after the other, each compressed or not).
func (d *tftpDeploy) plainRamdisk(ctx context.Context, env *Env, im DeployedImage, src, modules, dir, dst string) error {
	cur := src
	if im.Image.Header == "u-boot" {
		cur = filepath.Join(dir, "ramdisk-no-header")
		if err := stripRamdiskHeader(ctx, env, src, cur); err != nil {
			return err
		}
	}
	if modules != "" {
		out := filepath.Join(dir, "ramdisk-with-modules")
		if err := overlay.AppendTarToRamdisk(cur, out, modules); err != nil {
			if errors.Is(err, overlay.ErrNotCpio) {
				return JobError("ramdisk: install_modules: %w", err)
			}
			return JobError("ramdisk: install_modules: the modules are not a tarball the ramdisk can take: %w", err)
		}
		cur = out
		env.Info("ramdisk: modules added (install_modules)")
	}
	if overlayWanted(env.Job, im.Image) {
		im.Path = cur
		out, err := applyOverlay(ctx, env, im)
		if err != nil {
			return err
		}
		cur = out
	}
	if c := im.Image.Compression; c != "" {
		env.Info("ramdisk: published uncompressed: compression: %s is an archive the kernel cannot unpack, not a stream compression", c)
	}
	if d.addHeader != "u-boot" {
		if err := linkOrCopy(cur, dst); err != nil {
			return InfrastructureError("tftp: publish the ramdisk: %w", err)
		}
		return nil
	}
	return d.writeRamdisk(ctx, dst, func(w io.Writer) error {
		f, err := os.Open(cur)
		if err != nil {
			return InfrastructureError("tftp: ramdisk: %w", err)
		}
		defer f.Close()
		if _, err := io.Copy(w, ctxReader(ctx, f)); err != nil {
			return InfrastructureError("tftp: ramdisk: %w", err)
		}
		return nil
	})
}

// stripRamdiskHeader writes to out the data of the U-Boot image src.
func stripRamdiskHeader(ctx context.Context, env *Env, src, out string) error {
	in, err := openRamdisk(ctx, env, src, true)
	if err != nil {
		return err
	}
	defer in.Close()
	w, err := os.Create(out)
	if err != nil {
		return InfrastructureError("tftp: ramdisk: %w", err)
	}
	ow := &sinkWriter{w: w}
	_, err = io.Copy(ow, in)
	if cerr := w.Close(); err == nil && cerr != nil {
		ow.err, err = cerr, cerr
	}
	if err != nil {
		if ow.err != nil {
			return InfrastructureError("tftp: ramdisk: %w", ow.err)
		}
		return in.blame(JobError("ramdisk: header: u-boot: %w", err))
	}
	return nil
}

// ramdiskInput reads a downloaded ramdisk's data: the file, after its
// U-Boot header when it has one. It says whom to blame for a failure
// further along (a decompressor): the worker's disk, the header, or the
// data itself.
type ramdiskInput struct {
	io.Reader
	f    *os.File
	file *recordingReader // the file
	data *recordingReader // after the header, nil without one
}

// openRamdisk opens src, and reads its U-Boot header when header is set.
func openRamdisk(ctx context.Context, env *Env, src string, header bool) (*ramdiskInput, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, InfrastructureError("tftp: ramdisk: %w", err)
	}
	in := &ramdiskInput{f: f, file: &recordingReader{ctx: ctx, r: bufio.NewReaderSize(f, 1<<20)}}
	in.Reader = in.file
	if header {
		ur, err := uimage.NewReader(in.file)
		if err != nil {
			f.Close()
			return nil, in.blame(JobError("ramdisk: header: u-boot: %w", err))
		}
		env.Info("ramdisk: U-Boot header %q removed (%d bytes of data)", ur.Header.Name, ur.Header.Size)
		in.data = &recordingReader{r: ur}
		in.Reader = in.data
	}
	return in, nil
}

// Close closes the file.
func (in *ramdiskInput) Close() error { return in.f.Close() }

// blame is the error of a failure reading through in: the context's, an
// Infrastructure error for the disk, a Job error for a bad U-Boot image,
// or else dataErr, the error about the data itself.
func (in *ramdiskInput) blame(dataErr error) error {
	switch fe := in.file.err; {
	case fe != nil && (errors.Is(fe, context.Canceled) || errors.Is(fe, context.DeadlineExceeded)):
		return fe
	case fe != nil:
		return InfrastructureError("tftp: ramdisk: read the download: %w", fe)
	case in.data != nil && in.data.err != nil:
		return JobError("ramdisk: header: u-boot: %w", in.data.err)
	}
	return dataErr
}

// compressedRamdisk prepares a ramdisk compressed with a stream
// compression, as LAVA does: the data (after the U-Boot header, if any) is
// decompressed, the modules and the overlay are appended to it as
// uncompressed archives, and the whole compressed again with the same
// compression, one stream the kernel decompresses into archives one
// after the other. With nothing to add, the compressed data is published
// as it is.
func (d *tftpDeploy) compressedRamdisk(ctx context.Context, env *Env, im DeployedImage, src, modules, dst string) error {
	comp := im.Image.Compression
	withOverlay := overlayWanted(env.Job, im.Image)
	in, err := openRamdisk(ctx, env, src, im.Image.Header == "u-boot")
	if err != nil {
		return err
	}
	defer in.Close()
	data := bufio.NewReaderSize(in, 1<<20)
	head, _ := data.Peek(8)
	if err := in.blame(nil); err != nil {
		return err
	}
	if got := compression.Detect(head); got != comp {
		what := "the ramdisk"
		if in.data != nil {
			what += " after its U-Boot header"
		}
		return JobError("ramdisk: compression: %s: %s %s: declare the compression it has (or none, to have it served as it is)", comp, what, describeStart(head))
	}

	if modules == "" && !withOverlay {
		var n int64
		err := d.writeRamdisk(ctx, dst, func(w io.Writer) error {
			ow := &sinkWriter{w: w}
			var err error
			if n, err = io.Copy(ow, data); err != nil {
				if ow.err != nil {
					return InfrastructureError("tftp: ramdisk: %w", ow.err)
				}
				return in.blame(JobError("ramdisk: %w", err))
			}
			return nil
		})
		if err != nil {
			return err
		}
		env.Info("ramdisk: kept %s-compressed as it came (%d bytes): nothing to add", comp, n)
		return nil
	}

	// corrupt is the error of data that does not decompress.
	corrupt := func(err error) error {
		return in.blame(JobError("ramdisk: compression: %s: the ramdisk does not decompress: %w", comp, err))
	}
	zr, err := compression.NewReader(data, comp)
	if err != nil {
		return corrupt(err)
	}
	defer zr.Close()
	plain := bufio.NewReaderSize(zr, 1<<20)
	if head, err := plain.Peek(6); len(head) < 6 && err != io.EOF {
		return corrupt(err)
	} else if !bytes.HasPrefix(head, []byte(cpio.Magic)) && !bytes.HasPrefix(head, []byte(cpio.MagicCRC)) {
		return JobError("ramdisk: compression: %s: the decompressed ramdisk is not a newc cpio archive (it starts %q): the modules and the overlay can only be added to a cpio ramdisk", comp, head)
	}
	var ov *deviceOverlay
	if withOverlay {
		if ov, err = sessionOverlay(ctx, env); err != nil {
			return err
		}
	}
	var size int64
	err = d.writeRamdisk(ctx, dst, func(w io.Writer) error {
		cw := &sinkWriter{w: w}
		zw, err := compression.NewWriter(ctx, cw, comp)
		if errors.Is(err, compression.ErrMissingProgram) {
			return InfrastructureError("ramdisk: compression: %s: the worker cannot compress it: %w", comp, err)
		}
		if err != nil {
			return InfrastructureError("ramdisk: compression: %s: %w", comp, err)
		}
		ow := &sinkWriter{w: zw}
		writeErr := func() error { return InfrastructureError("ramdisk: compression: %s: %w", comp, ow.err) }
		if _, err := io.Copy(ow, plain); err != nil {
			if ow.err != nil {
				return writeErr()
			}
			return corrupt(err)
		}
		// The kernel takes the next archive at a multiple of four bytes
		// of the decompressed stream.
		pad := func() error {
			if r := ow.n % 4; r != 0 {
				if _, err := ow.Write(make([]byte, 4-r)); err != nil {
					return writeErr()
				}
			}
			return nil
		}
		if err := pad(); err != nil {
			return err
		}
		if modules != "" {
			if err := overlay.TarToCPIO(modules, ow); err != nil {
				if ow.err != nil {
					return writeErr()
				}
				return JobError("ramdisk: install_modules: the modules are not a tarball the ramdisk can take: %w", err)
			}
			env.Info("ramdisk: modules added (install_modules)")
			if err := pad(); err != nil {
				return err
			}
		}
		if ov != nil {
			if err := ov.tree.WriteCPIO(ow); err != nil {
				if ow.err != nil {
					return writeErr()
				}
				return InfrastructureError("ramdisk: add the overlay: %w", err)
			}
			env.Info("ramdisk: LAVA overlay %s added (%d entries)", ov.tree.Root, len(ov.tree.Entries))
		}
		if err := zw.Close(); err != nil {
			return InfrastructureError("ramdisk: compression: %s: %w", comp, err)
		}
		size = cw.n
		return nil
	})
	if err != nil {
		return err
	}
	if ov != nil {
		env.Session.Overlay = ov
	}
	env.Info("ramdisk: compressed with %s (%d bytes)", comp, size)
	return nil
}

// writeRamdisk writes the published ramdisk dst: write's output, behind a
// U-Boot header when the device asks for one, into a temporary file
// renamed to dst once complete.
func (d *tftpDeploy) writeRamdisk(ctx context.Context, dst string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return InfrastructureError("tftp: ramdisk: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	var w io.Writer = bw
	var hw *uimage.Writer
	if d.addHeader == "u-boot" {
		// The header goes at the start of the file: the buffer is
		// flushed before the Writer seeks.
		if hw, err = uimage.NewWriter(flushSeeker{bw, f}, d.headerOptions()); err != nil {
			return ConfigurationError("ramdisk U-Boot header: %w", err)
		}
		w = hw
	}
	if err := write(w); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr // a program killed, a read stopped: the timeout's
		}
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if hw != nil {
		if err := hw.Close(); err != nil {
			return InfrastructureError("tftp: ramdisk: U-Boot header: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return InfrastructureError("tftp: ramdisk: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		return InfrastructureError("tftp: ramdisk: %w", err)
	}
	if err := f.Close(); err != nil {
		return InfrastructureError("tftp: ramdisk: %w", err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return InfrastructureError("tftp: ramdisk: %w", err)
	}
	return nil
}

// flushSeeker is a buffered file that flushes its buffer before it seeks.
type flushSeeker struct {
	*bufio.Writer
	f *os.File
}

func (s flushSeeker) Seek(off int64, whence int) (int64, error) {
	if err := s.Flush(); err != nil {
		return 0, err
	}
	return s.f.Seek(off, whence)
}

// describeStart says what data starting with head is, for an error
// about a compression it does not have.
func describeStart(head []byte) string {
	switch {
	case len(head) == 0:
		return "is empty"
	case compression.Detect(head) != "":
		return "is " + compression.Detect(head) + "-compressed"
	case bytes.HasPrefix(head, []byte(cpio.Magic)) || bytes.HasPrefix(head, []byte(cpio.MagicCRC)):
		return "is an uncompressed cpio archive"
	case len(head) >= 4 && binary.BigEndian.Uint32(head) == uimage.Magic:
		return "starts with a U-Boot header (header: u-boot says so)"
	}
	return fmt.Sprintf("is not compressed with a known stream compression (it starts % x)", head)
}

// recordingReader reads r, stopping once ctx (when set) is done, and
// records its first error.
type recordingReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.ctx != nil {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// sinkWriter counts what it writes and records the first error of its
// writer, so that a failed copy is blamed on the right side.
type sinkWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (w *sinkWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(p)
	w.n += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// ctxReader reads r until ctx is done.
func ctxReader(ctx context.Context, r io.Reader) io.Reader {
	return &recordingReader{ctx: ctx, r: r}
}
