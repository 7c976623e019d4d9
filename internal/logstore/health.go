package logstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/basalt-lab/basalt/internal/lab"
)

// probeName is the file Probe writes in the store's root directory.
const probeName = ".probe"

// probeSize is what Probe writes: one page, so that a full filesystem
// refuses it however its last blocks are used.
const probeSize = 4096

// storageFull classifies err: a write refused for want of space (ENOSPC)
// or quota (EDQUOT) wraps lab.ErrStorageFull as well, so that callers
// tell a full disk (a condition of the server, retried later) from a bug.
func storageFull(err error) error {
	if err == nil || errors.Is(err, lab.ErrStorageFull) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("log store: %w: %w", lab.ErrStorageFull, err)
	}
	return err
}

// Probe checks that the store can write: it writes one page to a file in
// its directory, syncs it and removes it. A full disk is an error wrapping
// lab.ErrStorageFull. It is meant for health checks while writes fail,
// not for every request.
func (s *Store) Probe() error {
	path := filepath.Join(s.dir, probeName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return storageFull(fmt.Errorf("log store probe: %w", err))
	}
	_, werr := f.Write(make([]byte, probeSize))
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	rerr := os.Remove(path)
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return storageFull(fmt.Errorf("log store probe: %w", err))
	}
	return nil
}
