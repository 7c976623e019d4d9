package uimage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
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
	arch, ok := arches[strings.ToLower(o.Arch)]
	if !ok {
		return nil, fmt.Errorf("mkimage architecture %q is unknown (known: %s)", o.Arch, strings.Join(Arches(), ", "))
	}
	if o.Type != TypeRamdisk && o.Type != TypeKernel {
		return nil, fmt.Errorf("image type %d is not a kernel (%d) or a ramdisk (%d)", o.Type, TypeKernel, TypeRamdisk)
	}
	if len(o.Name) > 32 {
		return nil, fmt.Errorf("image name %q is longer than 32 bytes", o.Name)
	}
	if uint64(len(data)) > 0xffffffff {
		return nil, fmt.Errorf("the image is %d bytes, more than a legacy header can describe", len(data))
	}
	h := make([]byte, HeaderSize, HeaderSize+len(data))
	be := binary.BigEndian
	be.PutUint32(h[0:], Magic)
	if !o.Time.IsZero() {
		be.PutUint32(h[8:], uint32(o.Time.Unix()))
	}
	be.PutUint32(h[12:], uint32(len(data)))
	be.PutUint32(h[16:], o.Load)
	be.PutUint32(h[20:], o.Entry)
	be.PutUint32(h[24:], crc32.ChecksumIEEE(data))
	h[28], h[29], h[30], h[31] = osLinux, arch, o.Type, compNone
	copy(h[32:], o.Name)
	be.PutUint32(h[4:], crc32.ChecksumIEEE(h[:HeaderSize]))
	return append(h, data...), nil
}

// Parse reads and checks the header at the start of b: magic, header CRC,
// size and data CRC.
func Parse(b []byte) (Header, error) {
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
	if uint64(len(b)-HeaderSize) < uint64(h.Size) {
		return Header{}, fmt.Errorf("the U-Boot image is cut: its header says %d bytes of data, there are %d", h.Size, len(b)-HeaderSize)
	}
	if got := crc32.ChecksumIEEE(b[HeaderSize : HeaderSize+int(h.Size)]); got != h.DataCRC {
		return Header{}, fmt.Errorf("the U-Boot image's data is corrupt: CRC %#08x, the header says %#08x", got, h.DataCRC)
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
