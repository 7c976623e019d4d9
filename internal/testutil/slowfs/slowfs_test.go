package slowfs_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/slowfs"
)

func TestSlowFsync(t *testing.T) {
	dir, mnt := t.TempDir(), t.TempDir()
	f := slowfs.Mount(t, dir, mnt, 200*time.Millisecond, 0)
	fh, err := os.Create(filepath.Join(mnt, "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := fh.Sync(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	b, err := os.ReadFile(filepath.Join(dir, "x"))
	if err != nil || string(b) != "hello" || f.Fsyncs() != 1 || took < 200*time.Millisecond {
		t.Fatalf("underlying %q %v, %d fsyncs, fsync took %s", b, err, f.Fsyncs(), took)
	}
}
