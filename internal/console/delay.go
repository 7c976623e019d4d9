package console

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// DelayWriter types on a console one byte at a time with a pause between
// bytes, for bootloaders that lose characters typed at line speed: LAVA's
// character_delays (boot, test, deploy) in the device dictionary, in
// milliseconds, which LAVA applies to every character it sends in that
// section. The pause is kept between consecutive bytes across Write calls
// too (a line and then its newline): a byte is written no sooner than
// delay after the previous one. With a zero delay, writes pass through
// whole.
//
// Close (or the end of the context given to WriteContext) interrupts a
// write between two bytes; it does not close the underlying writer.
type DelayWriter struct {
	w     io.Writer
	delay time.Duration

	mu   sync.Mutex // one write at a time
	last time.Time  // when the last byte was written

	closeOnce sync.Once
	done      chan struct{}
}

// ErrDelayWriterClosed is returned by writes to a closed DelayWriter.
var ErrDelayWriterClosed = errors.New("delay writer closed")

// NewDelayWriter returns a DelayWriter writing to w with delay between
// bytes.
func NewDelayWriter(w io.Writer, delay time.Duration) *DelayWriter {
	return &DelayWriter{w: w, delay: delay, done: make(chan struct{})}
}

// CharacterDelay converts a character_delays value (milliseconds) to a
// duration.
func CharacterDelay(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }

// Write writes p byte by byte with the delay.
func (d *DelayWriter) Write(p []byte) (int, error) {
	return d.WriteContext(context.Background(), p)
}

// WriteContext is Write that also stops when ctx ends, returning the bytes
// written so far and the context's cause.
func (d *DelayWriter) WriteContext(ctx context.Context, p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.done:
		return 0, ErrDelayWriterClosed
	default:
	}
	if d.delay <= 0 {
		return d.w.Write(p)
	}
	for i := range p {
		if !d.last.IsZero() {
			if wait := d.delay - time.Since(d.last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-d.done:
					t.Stop()
					return i, ErrDelayWriterClosed
				case <-ctx.Done():
					t.Stop()
					return i, context.Cause(ctx)
				}
			}
		}
		if _, err := d.w.Write(p[i : i+1]); err != nil {
			return i, err
		}
		d.last = time.Now()
	}
	return len(p), nil
}

// Close interrupts a pending write and makes later writes fail. It does
// not close the underlying writer.
func (d *DelayWriter) Close() error {
	d.closeOnce.Do(func() { close(d.done) })
	return nil
}
