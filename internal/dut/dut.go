package dut

import (
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/basalt-lab/basalt/internal/cpio"
)

// Prompt is the shell prompt of the built device.
const Prompt = "/ # "

// Options says where the parts come from and where the images go.
type Options struct {
	OutDir  string // created if missing
	Busybox string // a static busybox; default /bin/busybox (Debian's busybox-static)
	Kernel  string // default: the newest /boot/vmlinuz-*
}

// Images are the built artifacts with their SHA-256 checksums.
type Images struct {
	Kernel, Ramdisk             string
	KernelSHA256, RamdiskSHA256 string
}

// init is the ramdisk's /init: install busybox's applets, mount the pseudo
// file systems, and hand over to busybox init (which runs /etc/inittab).
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
hostname basalt-dut
exec /bin/busybox init
`

// inittab respawns a login shell on the first serial port.
const inittab = `::sysinit:/bin/true
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/bin/reboot
::shutdown:/bin/umount -a -r
`

const profile = `export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='` + Prompt + `'
export HOME=/root
`

// Build writes OutDir/vmlinuz (a copy of the kernel) and
// OutDir/initramfs.cpio.gz (busybox, an init that starts a shell on
// ttyS0 with the prompt "/ # ").
func Build(o Options) (Images, error) {
	if o.Busybox == "" {
		o.Busybox = "/bin/busybox"
	}
	if o.Kernel == "" {
		k, err := NewestKernel("/boot")
		if err != nil {
			return Images{}, err
		}
		o.Kernel = k
	}
	bb, err := os.ReadFile(o.Busybox)
	if err != nil {
		return Images{}, fmt.Errorf("busybox (install busybox-static): %w", err)
	}
	if err := CheckStatic(o.Busybox); err != nil {
		return Images{}, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return Images{}, fmt.Errorf("create %s: %w", o.OutDir, err)
	}
	var img Images
	img.Kernel = filepath.Join(o.OutDir, "vmlinuz")
	if img.KernelSHA256, err = copyFile(o.Kernel, img.Kernel); err != nil {
		return Images{}, fmt.Errorf("copy kernel: %w", err)
	}
	img.Ramdisk = filepath.Join(o.OutDir, "initramfs.cpio.gz")
	if img.RamdiskSHA256, err = writeRamdisk(img.Ramdisk, bb); err != nil {
		return Images{}, fmt.Errorf("write ramdisk: %w", err)
	}
	return img, nil
}

// NewestKernel returns the /boot/vmlinuz-* with the highest version.
func NewestKernel(boot string) (string, error) {
	ks, _ := filepath.Glob(filepath.Join(boot, "vmlinuz-*"))
	if len(ks) == 0 {
		return "", fmt.Errorf("no kernel in %s (install linux-image-amd64)", boot)
	}
	sort.Slice(ks, func(i, j int) bool { return versionLess(ks[i], ks[j]) })
	return ks[len(ks)-1], nil
}

// versionLess compares dotted/dashed versions numerically where it can.
func versionLess(a, b string) bool {
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' })
	}
	pa, pb := split(a), split(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] == pb[i] {
			continue
		}
		var x, y int
		_, ex := fmt.Sscanf(pa[i], "%d", &x)
		_, ey := fmt.Sscanf(pb[i], "%d", &y)
		if ex == nil && ey == nil && x != y {
			return x < y
		}
		return pa[i] < pb[i]
	}
	return len(pa) < len(pb)
}

func writeRamdisk(path string, busybox []byte) (string, error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	h := sha256.New()
	gz := gzip.NewWriter(io.MultiWriter(f, h))
	c := cpio.NewWriter(gz)
	for _, d := range []string{"bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "usr", "usr/bin", "usr/sbin", "var", "run"} {
		c.AddDir(d, 0o755)
	}
	c.AddCharDevice("dev/console", 0o600, 5, 1)
	c.AddFile("bin/busybox", 0o755, busybox)
	c.AddSymlink("bin/sh", "busybox")
	c.AddFile("init", 0o755, []byte(initScript))
	c.AddFile("etc/inittab", 0o644, []byte(inittab))
	c.AddFile("etc/profile", 0o644, []byte(profile))
	c.AddFile("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	c.AddFile("etc/group", 0o644, []byte("root:x:0:\n"))
	// A Writer's errors are sticky: Close reports the first one.
	if err := c.Close(); err != nil {
		f.Close()
		return "", err
	}
	if err := gz.Close(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), os.Rename(tmp, path)
}

func copyFile(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.Create(dst + ".tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(dst + ".tmp")
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), os.Rename(dst+".tmp", dst)
}

// CheckStatic refuses a busybox that is not a statically linked ELF
// program: the ramdisk carries no shared libraries, so a dynamically linked
// one would not even start.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("busybox %s is not an ELF program: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("busybox %s is dynamically linked: install busybox-static", path)
		}
	}
	return nil
}
