//go:build unix

package logstore

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/basalt-lab/basalt/internal/lab"
)

// lockName is the lock file in the store's root directory.
const lockName = ".lock"

// lockDir takes an exclusive, non-blocking flock on dir/.lock. The lock
// dies with the process, so a crash never leaves a stale lock behind.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("directory in use by another log store: %w", lab.ErrConflict)
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f, nil
}

// unlockDir releases the lock taken by lockDir.
func unlockDir(f *os.File) error {
	// Closing the descriptor releases the flock.
	if err := f.Close(); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}
