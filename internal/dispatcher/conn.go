package dispatcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// MaxLineLength bounds a console line in the journal: longer output without
// a newline is logged in pieces of this many bytes.
const MaxLineLength = 16 << 10

// Sizes of the console reader: one Read, and the window of unmatched output
// Expect searches (older unmatched output is forgotten; prompts are short).
const (
	readSize    = 32 << 10
	matchWindow = 64 << 10
)

// ErrConsoleClosed is returned by Expect when the console stream ended.
var ErrConsoleClosed = errors.New("console closed")

// Conn is the pipeline's side of a device console. One goroutine reads the
// console for as long as the stream lives; it logs every complete line the
// device prints as a "target" record (trailing CR removed), hands it to the
// line hook if one is set, and then makes the output available to Expect.
// So when Expect returns, every line before the match has been logged and
// hooked. A partial line (a prompt) is logged once it is completed or when
// the console ends.
type Conn struct {
	rw  io.ReadWriter
	log *journal.Writer

	mu      sync.Mutex
	window  []byte // output not yet consumed by Expect
	partial []byte // the current line, not yet complete (reader goroutine)
	hook    func(line string) error
	hookErr error
	ended   bool
	readErr error
	sig     chan struct{} // closed and replaced when output arrives or the stream ends
	done    chan struct{} // closed when the reader goroutine returns
}

// NewConn starts reading the console rw and logging it to log.
func NewConn(rw io.ReadWriter, log *journal.Writer) *Conn {
	c := &Conn{rw: rw, log: log, sig: make(chan struct{}), done: make(chan struct{})}
	go c.read()
	return c
}

// SetLineHook installs h, called on the reader goroutine with every complete
// console line after it is logged (nil removes the hook). If h returns an
// error, the pending and next Expect calls return it, until the hook is
// replaced.
func (c *Conn) SetLineHook(h func(line string) error) {
	c.mu.Lock()
	c.hook, c.hookErr = h, nil
	c.mu.Unlock()
}

// Send logs line as an "input" record and types it on the console followed
// by a newline.
func (c *Conn) Send(ctx context.Context, line string) error {
	return c.send(ctx, line, line)
}

// SendHidden types line like Send but logs shown instead (for passwords).
func (c *Conn) SendHidden(ctx context.Context, line, shown string) error {
	return c.send(ctx, line, shown)
}

func (c *Conn) send(ctx context.Context, line, shown string) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	c.log.Log(workerproto.LevelInput, shown)
	if _, err := io.WriteString(c.rw, line+"\n"); err != nil {
		return InfrastructureError("write to the console: %w", err)
	}
	return nil
}

// Expect waits until one of patterns matches the console output that
// earlier Expect calls did not consume, and consumes the output up to the
// end of the match. When several match, the one whose match starts first
// wins (then the earlier pattern). It returns the index of the pattern, or
// the line hook's error, ErrConsoleClosed, or the context's cause.
func (c *Conn) Expect(ctx context.Context, patterns ...*regexp.Regexp) (int, error) {
	for {
		c.mu.Lock()
		if c.hookErr != nil {
			err := c.hookErr
			c.mu.Unlock()
			return -1, err
		}
		best, bestStart, bestEnd := -1, 0, 0
		for i, p := range patterns {
			loc := p.FindIndex(c.window)
			if loc != nil && (best < 0 || loc[0] < bestStart) {
				best, bestStart, bestEnd = i, loc[0], loc[1]
			}
		}
		if best >= 0 {
			c.window = append(c.window[:0], c.window[bestEnd:]...)
			c.mu.Unlock()
			return best, nil
		}
		if c.ended {
			err := c.readErr
			c.mu.Unlock()
			if err != nil {
				return -1, InfrastructureError("read the console: %w", err)
			}
			return -1, InfrastructureError("waiting for %s: %w", describe(patterns), ErrConsoleClosed)
		}
		ch := c.sig
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return -1, context.Cause(ctx)
		case <-ch:
		}
	}
}

// describe names patterns for error messages.
func describe(patterns []*regexp.Regexp) string {
	var s []string
	for _, p := range patterns {
		s = append(s, fmt.Sprintf("%q", p.String()))
	}
	return strings.Join(s, " or ")
}

// Wait waits until the console stream has ended (the device was closed) and
// everything it printed is logged, including a last partial line.
func (c *Conn) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// read is the reader goroutine.
func (c *Conn) read() {
	defer close(c.done)
	buf := make([]byte, readSize)
	for {
		n, err := c.rw.Read(buf)
		if n > 0 {
			c.consume(buf[:n])
		}
		if err != nil {
			if len(c.partial) > 0 {
				c.emit(c.partial)
				c.partial = c.partial[:0]
			}
			c.mu.Lock()
			c.ended = true
			if !errors.Is(err, io.EOF) {
				c.readErr = err
			}
			close(c.sig)
			c.sig = make(chan struct{})
			c.mu.Unlock()
			return
		}
	}
}

// consume logs the complete lines of b, then offers b to Expect.
func (c *Conn) consume(b []byte) {
	c.log.Batch(func() {
		rest := b
		for len(rest) > 0 {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				c.partial = append(c.partial, rest...)
				for len(c.partial) >= MaxLineLength {
					c.emit(c.partial[:MaxLineLength])
					c.partial = append(c.partial[:0], c.partial[MaxLineLength:]...)
				}
				break
			}
			if len(c.partial) > 0 {
				c.partial = append(c.partial, rest[:i]...)
				c.emit(c.partial)
				c.partial = c.partial[:0]
			} else {
				c.emit(rest[:i])
			}
			rest = rest[i+1:]
		}
	})
	c.mu.Lock()
	c.window = append(c.window, b...)
	if len(c.window) > matchWindow {
		c.window = append(c.window[:0], c.window[len(c.window)-matchWindow/2:]...)
	}
	close(c.sig)
	c.sig = make(chan struct{})
	c.mu.Unlock()
}

// emit logs one console line and runs the hook on it, in pieces of at most
// MaxLineLength bytes.
func (c *Conn) emit(b []byte) {
	for len(b) > MaxLineLength {
		c.emitOne(b[:MaxLineLength])
		b = b[MaxLineLength:]
	}
	c.emitOne(b)
}

func (c *Conn) emitOne(b []byte) {
	line := string(bytes.TrimRight(b, "\r"))
	c.log.Log(workerproto.LevelTarget, line)
	c.mu.Lock()
	h := c.hook
	c.mu.Unlock()
	if h == nil {
		return
	}
	if err := h(line); err != nil {
		c.mu.Lock()
		if c.hookErr == nil {
			c.hookErr = err
		}
		c.mu.Unlock()
	}
}
