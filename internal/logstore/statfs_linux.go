package logstore

import (
	"fmt"
	"syscall"
)

// DiskFree returns how many bytes the filesystem holding the store has
// available to the server (statfs: blocks available to unprivileged users
// times the block size). It reads no file and writes nothing.
func (s *Store) DiskFree() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return 0, fmt.Errorf("log store: statfs %s: %w", s.dir, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}
