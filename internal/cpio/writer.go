package cpio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// Magic is the newc header magic Writer writes; MagicCRC is the variant
// with a checksum field, which Reader also accepts.
const (
	Magic    = "070701"
	MagicCRC = "070702"
)

// Trailer is the name of the entry that ends an archive.
const Trailer = "TRAILER!!!"

// HeaderSize is the length of a newc header before the name.
const HeaderSize = 110

// MaxSize is the largest entry data newc can describe (an 8-digit
// hexadecimal size field).
const MaxSize = 1<<32 - 1

// File type bits of the header's mode field (the st_mode of stat(2)).
const (
	typeMask    = 0o170000
	typeFIFO    = 0o010000
	typeChar    = 0o020000
	typeDir     = 0o040000
	typeBlock   = 0o060000
	typeFile    = 0o100000
	typeSymlink = 0o120000
	typeSocket  = 0o140000
)

// Header describes one archive entry.
//
// Name is the path inside the archive: slash-separated, conventionally
// without a leading slash, never empty, without NUL bytes. Mode carries the
// type (0 for a regular file, fs.ModeDir, fs.ModeSymlink, fs.ModeDevice
// with or without fs.ModeCharDevice, fs.ModeNamedPipe, fs.ModeSocket), the
// permission bits and fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky.
// Size is the length of a regular file's data (0 for other types);
// Linkname is a symlink's target, written as its data. DevMajor and
// DevMinor are a device node's numbers.
type Header struct {
	Name               string
	Mode               fs.FileMode
	Size               int64
	Linkname           string
	DevMajor, DevMinor uint32
}

// Writer writes a newc archive to an io.Writer. Use WriteHeader and then
// Write for each entry (exactly Size bytes for a regular file), or the
// Add helpers; Close writes the trailer. A Writer is not safe for
// concurrent use. After the first error every call returns that error.
type Writer struct {
	w      io.Writer
	off    int64 // bytes written so far, for padding
	ino    uint32
	remain int64 // data still owed for the current entry
	err    error
	closed bool
}

// NewWriter returns a Writer that writes an archive to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// errClosed is returned by calls after Close.
var errClosed = errors.New("cpio: writer is closed")

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.w.Write(b)
	w.off += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("cpio: write: %w", err)
	}
}

var zeros [4]byte

func (w *Writer) pad() {
	if r := w.off % 4; r != 0 {
		w.write(zeros[:4-r])
	}
}

// finishEntry checks that the previous entry got all its data and pads it.
func (w *Writer) finishEntry() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errClosed
	}
	if w.remain > 0 {
		w.err = fmt.Errorf("cpio: entry is %d bytes short of its header's size", w.remain)
		return w.err
	}
	w.pad()
	return w.err
}

// modeBits converts an fs.FileMode to the header's mode field.
func modeBits(m fs.FileMode) (uint32, error) {
	var typ uint32
	switch {
	case m&fs.ModeDir != 0:
		typ = typeDir
	case m&fs.ModeSymlink != 0:
		typ = typeSymlink
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice != 0:
		typ = typeChar
	case m&fs.ModeDevice != 0:
		typ = typeBlock
	case m&fs.ModeNamedPipe != 0:
		typ = typeFIFO
	case m&fs.ModeSocket != 0:
		typ = typeSocket
	case m&fs.ModeType == 0:
		typ = typeFile
	default:
		return 0, fmt.Errorf("cpio: unsupported file mode %v", m)
	}
	bits := typ | uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return bits, nil
}

// WriteHeader starts a new entry. For a symlink it also writes the target;
// for a regular file the caller writes Size bytes with Write next.
func (w *Writer) WriteHeader(h Header) error {
	if err := w.finishEntry(); err != nil {
		return err
	}
	if h.Name == "" || strings.IndexByte(h.Name, 0) >= 0 {
		return fmt.Errorf("cpio: invalid entry name %q", h.Name)
	}
	if h.Name == Trailer {
		return fmt.Errorf("cpio: the entry name %s is reserved for the trailer", Trailer)
	}
	return w.writeHeader(h)
}

func (w *Writer) writeHeader(h Header) error {
	mode, err := modeBits(h.Mode)
	if err != nil {
		return err
	}
	size := int64(0)
	var data []byte
	switch mode & typeMask {
	case typeFile:
		size = h.Size
	case typeSymlink:
		if h.Linkname == "" || strings.IndexByte(h.Linkname, 0) >= 0 {
			return fmt.Errorf("cpio: %s: invalid symlink target %q", h.Name, h.Linkname)
		}
		data = []byte(h.Linkname)
		size = int64(len(data))
	}
	if size < 0 || size > MaxSize {
		return fmt.Errorf("cpio: %s: size %d is outside 0..%d", h.Name, size, int64(MaxSize))
	}
	nlink := 1
	if mode&typeMask == typeDir {
		nlink = 2
	}
	var ino uint32
	if h.Name == Trailer {
		mode, nlink = 0, 1 // as GNU cpio writes it
	} else {
		w.ino++
		ino = w.ino
	}
	// Fields: magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize, check.
	hdr := fmt.Sprintf("%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		Magic, ino, mode, 0, 0, nlink, 0, size, 0, 0, h.DevMajor, h.DevMinor, len(h.Name)+1, 0)
	w.write([]byte(hdr))
	w.write([]byte(h.Name))
	w.write(zeros[:1])
	w.pad()
	if data != nil {
		w.write(data)
		return w.err
	}
	w.remain = size
	return w.err
}

// Write writes data of the current regular file. Writing more than the
// header's Size is an error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errClosed
	}
	if int64(len(p)) > w.remain {
		return 0, fmt.Errorf("cpio: write of %d bytes exceeds the %d bytes left in the entry", len(p), w.remain)
	}
	before := w.off
	w.write(p)
	n := int(w.off - before)
	w.remain -= int64(n)
	return n, w.err
}

// AddDir adds a directory with the permission bits of perm (and its
// setuid, setgid and sticky bits).
func (w *Writer) AddDir(name string, perm fs.FileMode) error {
	return w.WriteHeader(Header{Name: name, Mode: fs.ModeDir | perm&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)})
}

// AddFile adds a regular file with the given contents.
func (w *Writer) AddFile(name string, perm fs.FileMode, data []byte) error {
	if err := w.WriteHeader(Header{Name: name, Mode: perm & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), Size: int64(len(data))}); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// AddSymlink adds a symbolic link to target.
func (w *Writer) AddSymlink(name, target string) error {
	return w.WriteHeader(Header{Name: name, Mode: fs.ModeSymlink | 0o777, Linkname: target})
}

// AddCharDevice adds a character device node.
func (w *Writer) AddCharDevice(name string, perm fs.FileMode, major, minor uint32) error {
	return w.WriteHeader(Header{Name: name, Mode: fs.ModeDevice | fs.ModeCharDevice | perm.Perm(), DevMajor: major, DevMinor: minor})
}

// Close writes the trailer entry and pads it; it does not close the
// underlying writer. Calling Close again returns the same result.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	if err := w.finishEntry(); err != nil {
		w.closed = true
		return err
	}
	w.writeHeader(Header{Name: Trailer})
	w.pad()
	w.closed = true
	return w.err
}

// Offset returns the number of bytes written so far.
func (w *Writer) Offset() int64 { return w.off }
