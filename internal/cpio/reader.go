package cpio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
)

// MaxNameSize bounds the entry names Reader accepts (Linux's PATH_MAX).
const MaxNameSize = 4096

// ErrFormat reports input that is not a newc archive.
var ErrFormat = errors.New("cpio: not a newc archive")

// Reader reads a newc archive entry by entry: Next returns the next
// header, Read the data of a regular file. Next returns io.EOF after the
// trailer; input that ends before the trailer is io.ErrUnexpectedEOF.
type Reader struct {
	r      io.Reader
	off    int64
	remain int64 // data left in the current entry
	err    error
}

// NewReader returns a Reader that reads an archive from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

func (r *Reader) read(b []byte) error {
	n, err := io.ReadFull(r.r, b)
	r.off += int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (r *Reader) skip(n int64) error {
	m, err := io.CopyN(io.Discard, r.r, n)
	r.off += m
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (r *Reader) skipPad() error {
	if p := r.off % 4; p != 0 {
		return r.skip(4 - p)
	}
	return nil
}

// Next skips what is left of the current entry and returns the next
// header.
func (r *Reader) Next() (Header, error) {
	if r.err != nil {
		return Header{}, r.err
	}
	h, err := r.next()
	if err != nil {
		r.err = err
	}
	return h, err
}

func (r *Reader) next() (Header, error) {
	if err := r.skip(r.remain); err != nil {
		return Header{}, err
	}
	r.remain = 0
	if err := r.skipPad(); err != nil {
		return Header{}, err
	}
	start := r.off
	var hdr [HeaderSize]byte
	if err := r.read(hdr[:]); err != nil {
		return Header{}, err
	}
	if m := string(hdr[:6]); m != Magic && m != MagicCRC {
		return Header{}, fmt.Errorf("%w: bad magic %q at offset %d", ErrFormat, m, start)
	}
	var f [13]uint64
	for i := range f {
		v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
		if err != nil {
			return Header{}, fmt.Errorf("%w: bad header field %d at offset %d", ErrFormat, i, start)
		}
		f[i] = v
	}
	mode, size, namesize := uint32(f[1]), int64(f[6]), f[11]
	if namesize < 2 || namesize > MaxNameSize {
		return Header{}, fmt.Errorf("%w: name size %d at offset %d", ErrFormat, namesize, start)
	}
	name := make([]byte, namesize)
	if err := r.read(name); err != nil {
		return Header{}, err
	}
	if name[namesize-1] != 0 {
		return Header{}, fmt.Errorf("%w: name not NUL-terminated at offset %d", ErrFormat, start)
	}
	h := Header{Name: string(name[:namesize-1]), DevMajor: uint32(f[9]), DevMinor: uint32(f[10])}
	if err := r.skipPad(); err != nil {
		return Header{}, err
	}
	if h.Name == Trailer {
		if err := r.skip(size); err != nil {
			return Header{}, err
		}
		if err := r.skipPad(); err != nil {
			return Header{}, err
		}
		return Header{}, io.EOF
	}
	h.Mode = fs.FileMode(mode & 0o777)
	if mode&0o4000 != 0 {
		h.Mode |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		h.Mode |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		h.Mode |= fs.ModeSticky
	}
	switch mode & typeMask {
	case typeFile:
		h.Size = size
		r.remain = size
	case typeDir:
		h.Mode |= fs.ModeDir
	case typeSymlink:
		h.Mode |= fs.ModeSymlink
		if size > MaxNameSize {
			return Header{}, fmt.Errorf("%w: symlink %s: target of %d bytes", ErrFormat, h.Name, size)
		}
		target := make([]byte, size)
		if err := r.read(target); err != nil {
			return Header{}, err
		}
		h.Linkname = string(target)
	case typeChar:
		h.Mode |= fs.ModeDevice | fs.ModeCharDevice
	case typeBlock:
		h.Mode |= fs.ModeDevice
	case typeFIFO:
		h.Mode |= fs.ModeNamedPipe
	case typeSocket:
		h.Mode |= fs.ModeSocket
	default:
		return Header{}, fmt.Errorf("%w: %s: unknown file type %o", ErrFormat, h.Name, mode&typeMask)
	}
	if h.Mode.Type() != 0 && h.Mode&fs.ModeSymlink == 0 {
		r.remain = size // data of other types is skipped
	}
	return h, nil
}

// Read reads data of the current regular file; it returns io.EOF at the
// end of the entry's data.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	n, err := r.r.Read(p)
	r.off += int64(n)
	r.remain -= int64(n)
	if err == io.EOF && r.remain > 0 {
		err = io.ErrUnexpectedEOF
		r.err = err
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// Offset returns the number of bytes consumed from the input so far.
func (r *Reader) Offset() int64 { return r.off }
