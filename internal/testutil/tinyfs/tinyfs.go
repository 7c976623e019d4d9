//go:build linux

// Package tinyfs gives tests a real, small filesystem they can fill: a
// tmpfs of a chosen size mounted on a temporary directory, so that the code
// under test meets a real full disk (ENOSPC from write, fsync, mkdir), not
// a simulation. Mounting needs root (CAP_SYS_ADMIN), as `make test` runs;
// without it the test fails and says so, it is never skipped.
package tinyfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes (rounded up to pages by the kernel) on
// a new temporary directory and returns its path; the mount goes away when
// the test ends. The directory is world-writable and sticky, like /tmp, so
// processes of other users (PostgreSQL's) may use it too.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tinyfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("size=%d,mode=1777", size)
	if err := syscall.Mount("tinyfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Fatalf("tinyfs: mounting a %d-byte tmpfs on %s: %v: this test needs a real full disk, and mounting one needs root (CAP_SYS_ADMIN): run the tests as root, as `make test` does", size, dir, err)
		}
		t.Fatalf("tinyfs: mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("tinyfs: unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a filler file in dir until the filesystem is full (the
// kernel answers ENOSPC) and returns its path: every new block is then
// refused, though a file whose last block is partly used may still grow
// into it. Free gives the space back.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("tinyfs: %v", err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'x'
	}
	for n := len(chunk); n > 0; {
		_, err := f.Write(chunk[:n])
		switch {
		case err == nil:
		case errors.Is(err, syscall.ENOSPC):
			n /= 2 // fill the last blocks too
		default:
			t.Fatalf("tinyfs: fill %s: %v", dir, err)
		}
	}
	return path
}

// Free removes what Fill wrote.
func Free(t testing.TB, filler string) {
	t.Helper()
	if err := os.Remove(filler); err != nil {
		t.Fatalf("tinyfs: %v", err)
	}
}

// Avail is the number of bytes the filesystem holding dir has available.
func Avail(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatalf("tinyfs: statfs %s: %v", dir, err)
	}
	return int64(st.Bavail) * st.Bsize
}
