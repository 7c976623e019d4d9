package dut

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Existing returns the images Build wrote into dir earlier, with their
// checksums, or an error when either is missing.
func Existing(dir string) (Images, error) {
	img := Images{Kernel: filepath.Join(dir, "vmlinuz"), Ramdisk: filepath.Join(dir, "initramfs.cpio.gz")}
	var err error
	if img.KernelSHA256, err = fileSHA256(img.Kernel); err != nil {
		return Images{}, err
	}
	if img.RamdiskSHA256, err = fileSHA256(img.Ramdisk); err != nil {
		return Images{}, err
	}
	return img, nil
}

// fileSHA256 is the hex sha256 of a file's content.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("device under test: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("device under test: read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
