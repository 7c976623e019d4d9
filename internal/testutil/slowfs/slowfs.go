// Package slowfs mounts, for tests, a slow disk: a FUSE view of a
// directory whose fsyncs (and writes) take as long as the test says, the
// way a saturated or failing disk does. The server and the worker run on
// it unchanged, as real processes: nothing in them knows. It needs root
// (the mount is made with mount(2), no fusermount) and /dev/fuse; without
// them Mount fails the test, saying so.
package slowfs

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FS is a mounted slow view of a directory.
type FS struct {
	fsync, write atomic.Int64 // delays, in nanoseconds
	fsyncs       atomic.Int64 // fsyncs served
	server       *fuse.Server
}

// Mount mounts at mnt (an existing empty directory) a view of dir whose
// fsyncs take fsync and whose writes take write, until the test ends.
func Mount(t testing.TB, dir, mnt string, fsync, write time.Duration) *FS {
	t.Helper()
	f := &FS{}
	f.SetDelays(fsync, write)
	root, err := fs.NewLoopbackRoot(dir)
	if err != nil {
		t.Fatalf("slowfs: %v", err)
	}
	node := &slowNode{LoopbackNode: root.(*fs.LoopbackNode), fs: f}
	sec := time.Second
	srv, err := fs.Mount(mnt, node, &fs.Options{
		EntryTimeout: &sec, AttrTimeout: &sec,
		MountOptions: fuse.MountOptions{DirectMountStrict: true, FsName: "slowfs", Name: "slowfs", AllowOther: true},
	})
	if err != nil {
		t.Fatalf("slowfs: mount %s (root and /dev/fuse needed): %v", mnt, err)
	}
	f.server = srv
	t.Cleanup(func() {
		f.SetDelays(0, 0)
		if err := srv.Unmount(); err != nil {
			t.Errorf("slowfs: unmount %s: %v", mnt, err)
		}
	})
	return f
}

// SetDelays changes how long each fsync and each write takes from now on.
func (f *FS) SetDelays(fsync, write time.Duration) {
	f.fsync.Store(int64(fsync))
	f.write.Store(int64(write))
}

// Fsyncs is the number of fsyncs served so far.
func (f *FS) Fsyncs() int64 { return f.fsyncs.Load() }

// slowNode is a loopback node whose files are slow.
type slowNode struct {
	*fs.LoopbackNode
	fs *FS
}

var (
	_ fs.NodeWrapChilder = (*slowNode)(nil)
	_ fs.NodeFsyncer     = (*slowNode)(nil)
	_ fs.NodeWriter      = (*slowNode)(nil)
)

// WrapChild makes every node of the tree slow.
func (n *slowNode) WrapChild(_ context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &slowNode{LoopbackNode: ops.(*fs.LoopbackNode), fs: n.fs}
}

// Fsync waits the fsync delay, then syncs the file.
func (n *slowNode) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	sleep(ctx, time.Duration(n.fs.fsync.Load()))
	n.fs.fsyncs.Add(1)
	if s, ok := f.(fs.FileFsyncer); ok {
		return s.Fsync(ctx, flags)
	}
	return 0
}

// Write waits the write delay, then writes.
func (n *slowNode) Write(ctx context.Context, f fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	sleep(ctx, time.Duration(n.fs.write.Load()))
	if w, ok := f.(fs.FileWriter); ok {
		return w.Write(ctx, data, off)
	}
	return 0, syscall.ENOTSUP
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
