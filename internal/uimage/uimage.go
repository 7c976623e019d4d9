package uimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"time"
)

// HeaderSize is the length of the legacy header.
const HeaderSize = 64

// Magic starts every legacy image.
const Magic = 0x27051956

// Image types (ih_type).
const (
	TypeKernel  = 2
	TypeRamdisk = 3
)

// osLinux is ih_os for Linux; compNone is ih_comp for no compression.
const (
	osLinux  = 5
	compNone = 0
)

// arches maps mkimage's -A names to ih_arch.
var arches = map[string]byte{
	"alpha": 1, "arm": 2, "x86": 3, "i386": 3, "ia64": 4, "mips": 5, "mips64": 6,
	"ppc": 7, "powerpc": 7, "s390": 8, "sh": 9, "sparc": 10, "sparc64": 11, "m68k": 12,
	"microblaze": 14, "nios2": 15, "blackfin": 16, "avr32": 17, "st200": 18,
	"sandbox": 19, "nds32": 20, "or1k": 21, "arm64": 22, "arc": 23, "x86_64": 24,
	"xtensa": 25, "riscv": 26,
}

// Arches lists the architecture names Wrap accepts, sorted.
func Arches() []string {
	out := make([]string, 0, len(arches))
	for a := range arches {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Header is a legacy image header.
type Header struct {
	// Time is the creation time (seconds, UTC).
	Time time.Time
	// Size is the data's length.
	Size uint32
	// Load and Entry are the load and entry addresses.
	Load, Entry uint32
	// DataCRC is the CRC-32 of the data.
	DataCRC uint32
	// OS, Arch, Type and Comp are ih_os, ih_arch, ih_type and ih_comp.
	OS, Arch, Type, Comp byte
	// Name is the image name (at most 32 bytes).
	Name string
}

// Options say what Wrap writes.
type Options struct {
	// Arch is mkimage's -A name (arm, arm64, x86_64, riscv, …).
	Arch string
	// Type is TypeRamdisk or TypeKernel.
	Type byte
	// Load and Entry are the addresses (-a, -e); 0 for a ramdisk.
	Load, Entry uint32
	// Name is -n (at most 32 bytes).
	Name string
	// Time is the header's time; the zero time writes 0, so that the same
	// input gives the same bytes.
	Time time.Time
}

// Wrap returns data with a legacy header before it, as mkimage -C none
// writes it.
func Wrap(data []byte, o Options) ([]byte, error) {
	arch, err := o.check()
	if err != nil {
		return nil, err
	}
	if uint64(len(data)) > maxSize {
		return nil, fmt.Errorf("the image is %d bytes, more than a legacy header can describe", len(data))
	}
	h := make([]byte, HeaderSize, HeaderSize+len(data))
	o.encode(h, arch, uint32(len(data)), crc32.ChecksumIEEE(data))
	return append(h, data...), nil
}

// maxSize is the most data a header can describe.
const maxSize = 0xffffffff

// check checks o and returns its ih_arch.
func (o Options) check() (byte, error) {
	arch, ok := arches[strings.ToLower(o.Arch)]
	if !ok {
		return 0, fmt.Errorf("mkimage architecture %q is unknown (known: %s)", o.Arch, strings.Join(Arches(), ", "))
	}
	if o.Type != TypeRamdisk && o.Type != TypeKernel {
		return 0, fmt.Errorf("image type %d is not a kernel (%d) or a ramdisk (%d)", o.Type, TypeKernel, TypeRamdisk)
	}
	if len(o.Name) > 32 {
		return 0, fmt.Errorf("image name %q is longer than 32 bytes", o.Name)
	}
	return arch, nil
}

// encode writes into h (HeaderSize bytes, zeroed) the header of size
// bytes of data whose CRC is dataCRC.
func (o Options) encode(h []byte, arch byte, size, dataCRC uint32) {
	be := binary.BigEndian
	be.PutUint32(h[0:], Magic)
	if !o.Time.IsZero() {
		be.PutUint32(h[8:], uint32(o.Time.Unix()))
	}
	be.PutUint32(h[12:], size)
	be.PutUint32(h[16:], o.Load)
	be.PutUint32(h[20:], o.Entry)
	be.PutUint32(h[24:], dataCRC)
	h[28], h[29], h[30], h[31] = osLinux, arch, o.Type, compNone
	copy(h[32:], o.Name)
	be.PutUint32(h[4:], crc32.ChecksumIEEE(h[:HeaderSize]))
}

// Parse reads and checks the header at the start of b: magic, header CRC,
// size and data CRC.
func Parse(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Header{}, err
	}
	if uint64(len(b)-HeaderSize) < uint64(h.Size) {
		return Header{}, fmt.Errorf("the U-Boot image is cut: its header says %d bytes of data, there are %d", h.Size, len(b)-HeaderSize)
	}
	if got := crc32.ChecksumIEEE(b[HeaderSize : HeaderSize+int(h.Size)]); got != h.DataCRC {
		return Header{}, fmt.Errorf("the U-Boot image's data is corrupt: CRC %#08x, the header says %#08x", got, h.DataCRC)
	}
	return h, nil
}

// ParseHeader reads and checks the header at the start of b: its magic
// and its own CRC, not the data after it.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%d bytes is too short for a U-Boot image header (%d bytes)", len(b), HeaderSize)
	}
	be := binary.BigEndian
	if m := be.Uint32(b); m != Magic {
		return Header{}, fmt.Errorf("no U-Boot image header: the magic number is %#08x, not %#08x", m, Magic)
	}
	hdr := slices.Clone(b[:HeaderSize])
	want := be.Uint32(hdr[4:])
	be.PutUint32(hdr[4:], 0)
	if got := crc32.ChecksumIEEE(hdr); got != want {
		return Header{}, fmt.Errorf("the U-Boot image header is corrupt: its CRC is %#08x, the header's bytes give %#08x", want, got)
	}
	h := Header{
		Size: be.Uint32(b[12:]), Load: be.Uint32(b[16:]), Entry: be.Uint32(b[20:]), DataCRC: be.Uint32(b[24:]),
		OS: b[28], Arch: b[29], Type: b[30], Comp: b[31],
		Name: string(bytes.TrimRight(b[32:64], "\x00")),
	}
	if t := be.Uint32(b[8:]); t != 0 {
		h.Time = time.Unix(int64(t), 0).UTC()
	}
	return h, nil
}

// Strip returns the data after a valid legacy header (LAVA removes the
// first 64 bytes of a ramdisk marked header: u-boot; Strip also checks
// them).
func Strip(b []byte) ([]byte, Header, error) {
	h, err := Parse(b)
	if err != nil {
		return nil, Header{}, err
	}
	return b[HeaderSize : HeaderSize+int(h.Size)], h, nil
}

// Reader reads the data of an image after its legacy header, as Strip
// returns it, without holding the image in memory: the data's size and
// CRC are checked as it is read, and the reader's last Read returns an
// error rather than io.EOF when the image is cut or its data corrupt.
// Bytes after the data are not read.
type Reader struct {
	// Header is the image's header.
	Header Header
	r      io.Reader
	left   int64
	crc    uint32
	err    error
}

// NewReader reads and checks the header at the start of r.
func NewReader(r io.Reader) (*Reader, error) {
	b := make([]byte, HeaderSize)
	n, err := io.ReadFull(r, b)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("%d bytes is too short for a U-Boot image header (%d bytes)", n, HeaderSize)
	}
	if err != nil {
		return nil, err
	}
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	return &Reader{Header: h, r: r, left: int64(h.Size)}, nil
}

// Read reads the image's data.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left == 0 {
		if r.crc != r.Header.DataCRC {
			r.err = fmt.Errorf("the U-Boot image's data is corrupt: CRC %#08x, the header says %#08x", r.crc, r.Header.DataCRC)
		} else {
			r.err = io.EOF
		}
		return 0, r.err
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.r.Read(p)
	r.crc = crc32.Update(r.crc, crc32.IEEETable, p[:n])
	r.left -= int64(n)
	if err == io.EOF && r.left > 0 {
		err = fmt.Errorf("the U-Boot image is cut: its header says %d bytes of data, there are %d", r.Header.Size, int64(r.Header.Size)-r.left)
	}
	if err != nil && err != io.EOF {
		r.err = err
	}
	if err == io.EOF {
		err = nil // the next Read checks the CRC
	}
	return n, err
}

// Writer writes an image, a legacy header and the data after it, as
// mkimage -C none does, without holding the data in memory: it writes the
// data as it comes, after room for the header, and Close goes back and
// writes the header, once the data's size and CRC are known.
type Writer struct {
	w     io.WriteSeeker
	o     Options
	arch  byte
	start int64
	n     int64
	crc   uint32
	err   error
}

// NewWriter starts an image at w's current offset.
func NewWriter(w io.WriteSeeker, o Options) (*Writer, error) {
	arch, err := o.check()
	if err != nil {
		return nil, err
	}
	start, err := w.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(make([]byte, HeaderSize)); err != nil {
		return nil, err
	}
	return &Writer{w: w, o: o, arch: arch, start: start}, nil
}

// Write writes data of the image.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if uint64(w.n)+uint64(len(p)) > maxSize {
		w.err = fmt.Errorf("the image is more than %d bytes, more than a legacy header can describe", int64(maxSize))
		return 0, w.err
	}
	n, err := w.w.Write(p)
	w.crc = crc32.Update(w.crc, crc32.IEEETable, p[:n])
	w.n += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Size is the length of the data written so far.
func (w *Writer) Size() int64 { return w.n }

// Close writes the header and leaves w's offset at the end of the data.
// It does not close w.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	h := make([]byte, HeaderSize)
	w.o.encode(h, w.arch, uint32(w.n), w.crc)
	if _, err := w.w.Seek(w.start, io.SeekStart); err != nil {
		return err
	}
	if _, err := w.w.Write(h); err != nil {
		return err
	}
	_, err := w.w.Seek(w.start+HeaderSize+w.n, io.SeekStart)
	w.err = errors.New("uimage: write after Close")
	return err
}
