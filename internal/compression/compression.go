package compression

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// The stream compressions, by the names job definitions give them.
const (
	Gzip  = "gz"
	Bzip2 = "bz2"
	XZ    = "xz"
	Zstd  = "zstd"
)

// Bzip2Program is the program NewWriter runs for bz2, and Bzip2Package
// the Debian package that has it.
const (
	Bzip2Program = "bzip2"
	Bzip2Package = "bzip2"
)

// ErrMissingProgram reports that a compressor that runs a program could
// not find it in the PATH.
var ErrMissingProgram = errors.New("compression program not found")

// magics are the formats' magic numbers.
var magics = []struct {
	name  string
	magic []byte
}{
	{Gzip, []byte{0x1f, 0x8b}},
	{Bzip2, []byte("BZh")},
	{XZ, []byte{0xfd, '7', 'z', 'X', 'Z', 0}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
}

// IsStream says whether name is one of the stream compressions (gz, bz2,
// xz, zstd).
func IsStream(name string) bool {
	for _, m := range magics {
		if m.name == name {
			return true
		}
	}
	return false
}

// Detect returns the stream compression whose magic number b starts with,
// or "" for none.
func Detect(b []byte) string {
	for _, m := range magics {
		if bytes.HasPrefix(b, m.magic) {
			return m.name
		}
	}
	return ""
}

// NewReader returns the decompressed content of r, compressed with name.
// Several streams one after the other (gzip members, xz streams, zstd
// frames, bzip2 streams) read as one. Close releases the decompressor; it
// does not close r.
func NewReader(r io.Reader, name string) (io.ReadCloser, error) {
	switch name {
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err // "gzip: invalid header"
		}
		return zr, nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case XZ:
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(xr), nil
	case Zstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zstdReader{zr}, nil
	}
	return nil, fmt.Errorf("unknown stream compression %q (want gz, bz2, xz or zstd)", name)
}

// zstdReader gives a zstd decoder the Close of an io.Closer.
type zstdReader struct{ *zstd.Decoder }

func (r zstdReader) Close() error {
	r.Decoder.Close()
	return nil
}

// NewWriter returns a writer that compresses what it is given with name
// and writes the result to w. Close writes the end of the stream and
// must be called; it does not close w. bz2 runs Bzip2Program (the error
// wraps ErrMissingProgram when it is not in the PATH), which ctx kills.
func NewWriter(ctx context.Context, w io.Writer, name string) (io.WriteCloser, error) {
	switch name {
	case Gzip:
		return kgzip.NewWriter(w), nil
	case XZ:
		return xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(w)
	case Zstd:
		return zstd.NewWriter(w)
	case Bzip2:
		return newProgramWriter(ctx, w, Bzip2Program, Bzip2Package, "-c")
	}
	return nil, fmt.Errorf("unknown stream compression %q (want gz, bz2, xz or zstd)", name)
}

// programWriter compresses through a program reading its standard input
// and writing its standard output.
type programWriter struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *boundedBuffer
	once   sync.Once
	err    error
}

func newProgramWriter(ctx context.Context, w io.Writer, program, pkg string, args ...string) (*programWriter, error) {
	path, err := exec.LookPath(program)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not in the PATH (install Debian's %s package): %v", ErrMissingProgram, program, pkg, err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout = w
	stderr := &boundedBuffer{max: 4096}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", program, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", program, err)
	}
	return &programWriter{cmd: cmd, stdin: stdin, stderr: stderr}, nil
}

func (p *programWriter) Write(b []byte) (int, error) {
	n, err := p.stdin.Write(b)
	if err != nil {
		// The program stopped reading: its exit says why.
		if cerr := p.Close(); cerr != nil {
			return n, cerr
		}
		return n, fmt.Errorf("%s: %w", p.cmd.Path, err)
	}
	return n, nil
}

// Close ends the program's input and waits for it to exit.
func (p *programWriter) Close() error {
	p.once.Do(func() {
		cerr := p.stdin.Close()
		if err := p.cmd.Wait(); err != nil {
			msg := strings.TrimSpace(p.stderr.String())
			if msg != "" {
				err = fmt.Errorf("%w: %s", err, msg)
			}
			p.err = fmt.Errorf("%s: %w", p.cmd.Path, err)
			return
		}
		if cerr != nil && !errors.Is(cerr, io.ErrClosedPipe) {
			p.err = fmt.Errorf("%s: %w", p.cmd.Path, cerr)
		}
	})
	return p.err
}

// boundedBuffer keeps the first max bytes written to it.
type boundedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
