//go:build !linux

package logstore

import (
	"errors"
	"fmt"
)

// DiskFree is only implemented on Linux; elsewhere it says so.
func (s *Store) DiskFree() (int64, error) {
	return 0, fmt.Errorf("log store: free space: %w", errors.ErrUnsupported)
}
