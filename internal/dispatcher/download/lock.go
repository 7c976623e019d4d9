package download

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockPoll is how often a blocked lock attempt is retried while waiting,
// so the wait can follow the caller's context.
const lockPoll = 50 * time.Millisecond

// flockWait takes a flock(2) lock of the given kind (syscall.LOCK_SH or
// syscall.LOCK_EX) on f, waiting until it is free or ctx is done. Taking a
// lock of the other kind on a file already locked converts it.
func flockWait(ctx context.Context, f *os.File, how int) error {
	for {
		err := flockTry(f, how)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if err := pause(ctx); err != nil {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
	}
}

// pause waits one lockPoll, or until ctx is done.
func pause(ctx context.Context) error {
	t := time.NewTimer(lockPoll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// flockTry takes a lock without waiting; it fails with EWOULDBLOCK when
// another open file holds a conflicting lock.
func flockTry(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
