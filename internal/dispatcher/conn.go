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
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

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

// Bounds of the console text quoted in messages: the start of the current
// partial line Conn keeps for them, and the characters of a line or a
// pattern a message shows.
const (
	partialKept = 256
	quotedMax   = 120
)

// Conn is the pipeline's side of a device console. One goroutine reads the
// console for as long as the stream lives; it logs every complete line the
// device prints as a "target" record (trailing CR removed; a "feedback"
// record of its namespace instead while the running action uses another
// of the job's consoles, see SetFeedback), hands it to the line hook if
// one is set, and then makes the output available to Expect.
// So when Expect returns, every line before the match has been logged and
// hooked. A partial line (a prompt) is logged once it is completed or when
// the console ends.
//
// Conn also remembers the last non-blank line the console printed (the
// partial line, such as a prompt, when it is not blank) so that a wait
// that times out can say what the device showed last. This costs no
// allocation: the last complete line is the string already made for the
// journal, and of the partial line only its first partialKept bytes are
// copied, once per read.
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

	// lastLine is the last non-blank complete line; head holds the first
	// headLen bytes of the current partial line, which is partialLen
	// bytes long.
	lastLine   string
	head       [partialKept]byte
	headLen    int
	partialLen int
	// charDelay is the pause between characters typed (SetCharacterDelay).
	charDelay time.Duration
	// feedback, when set, is the namespace the console's lines are logged
	// under as feedback records (SetFeedback); nil: target records.
	feedback atomic.Pointer[string]
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
	return c.write(ctx, line+"\n")
}

// SetFeedback says whether the running action uses this console: when it
// does not (on), the console's lines are logged as "feedback" records of
// namespace ns, as LAVA logs the output of another namespace's connection
// while a test runs on one; otherwise (off) as "target" records.
func (c *Conn) SetFeedback(on bool, ns string) {
	if on {
		c.feedback.Store(&ns)
	} else {
		c.feedback.Store(nil)
	}
}

// SetCharacterDelay makes Send type one character at a time, d apart (0:
// at once): LAVA's character_delays, for consoles that drop characters
// typed too fast.
func (c *Conn) SetCharacterDelay(d time.Duration) {
	c.mu.Lock()
	c.charDelay = d
	c.mu.Unlock()
}

// write types s on the console, with the character delay if one is set.
func (c *Conn) write(ctx context.Context, s string) error {
	c.mu.Lock()
	d := c.charDelay
	c.mu.Unlock()
	if d <= 0 {
		if _, err := io.WriteString(c.rw, s); err != nil {
			return InfrastructureError("write to the console: %w", err)
		}
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for i := 0; i < len(s); i++ {
		if i > 0 {
			t.Reset(d)
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-t.C:
			}
		}
		if _, err := c.rw.Write([]byte{s[i]}); err != nil {
			return InfrastructureError("write to the console: %w", err)
		}
	}
	return nil
}

// Expect waits until one of patterns matches the console output that
// earlier Expect calls did not consume, and consumes the output up to the
// end of the match. When several match, the one whose match starts first
// wins (then the earlier pattern). It returns the index of the pattern, or
// the line hook's error, ErrConsoleClosed, or the context's cause.
//
// what says what the caller waits for, for messages, such as
// "prompt '/ # '" (see waitingFor). When ctx ends first, the error is a
// *waitError naming what, how long Expect waited and the console's last
// line, and wrapping the context's cause.
func (c *Conn) Expect(ctx context.Context, what string, patterns ...*regexp.Regexp) (int, error) {
	start := time.Now()
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
			err := c.closedError(what)
			c.mu.Unlock()
			return -1, err
		}
		ch := c.sig
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return -1, c.waitError(ctx, what, start)
		case <-ch:
		}
	}
}

// Settle waits until the console has printed nothing for quiet, or for at
// most max, or until it ends or ctx does. Output that arrives meanwhile is
// logged as usual; nothing is consumed. After a failure seen on the
// console (a kernel panic), it lets the rest of the message and its trace
// reach the log before the error record.
func (c *Conn) Settle(ctx context.Context, quiet, max time.Duration) {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ch, ended := c.sig, c.ended
		c.mu.Unlock()
		if ended {
			return
		}
		idle := time.NewTimer(quiet)
		select {
		case <-ch:
			idle.Stop()
		case <-idle.C:
			return
		case <-deadline.C:
			idle.Stop()
			return
		case <-ctx.Done():
			idle.Stop()
			return
		}
	}
}

// closedError is the error of a wait for what on a console that ended. c.mu
// is held.
func (c *Conn) closedError(what string) error {
	if c.readErr != nil {
		return InfrastructureError("read the console while waiting for %s: %w", what, c.readErr)
	}
	return InfrastructureError("waiting for %s: %w; last line: %s", what, ErrConsoleClosed, c.lastLineLocked())
}

// waitError is the error of a wait on the console that its context ended:
// what it waited for, for how long, and the last line the console printed,
// for a message a kernel engineer can act on. It wraps the context's cause
// (an action, connection or job timeout, or a cancel).
type waitError struct {
	what   string        // "prompt '/ # '"
	waited time.Duration // since the wait started
	last   string        // the console's last non-blank line, quoted (quoteConsole)
	cause  error
}

func (e *waitError) Error() string {
	return fmt.Sprintf("waited %s for %s; last line: %s", waitedFor(e.waited), e.what, e.last)
}

func (e *waitError) Unwrap() error { return e.cause }

// waitError builds the error of a wait for what, started at start, that
// ctx ended.
func (c *Conn) waitError(ctx context.Context, what string, start time.Time) error {
	c.mu.Lock()
	last := c.lastLineLocked()
	c.mu.Unlock()
	return &waitError{what: what, waited: time.Since(start), last: last, cause: context.Cause(ctx)}
}

// noteWait appends note to what the wait err reports it waited for, when
// err is (or wraps) a *waitError: callers that know more than the pattern,
// such as the test run still open, add it this way.
func noteWait(err error, note string) {
	var we *waitError
	if errors.As(err, &we) {
		we.what += " " + note
	}
}

// waitedFor formats how long a wait lasted: whole seconds, with one
// decimal under ten seconds.
func waitedFor(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return seconds(d) + " s"
}

// lastLineLocked returns the console's last non-blank line, masked and
// quoted for a message: the partial line (such as a prompt) when it is not
// blank, else the last complete line. c.mu is held.
func (c *Conn) lastLineLocked() string {
	line := c.lastLine
	if head := c.head[:c.headLen]; len(bytes.TrimSpace(head)) > 0 {
		if c.partialLen > c.headLen {
			head = cutAtRune(head)
		}
		line = string(head)
		if c.partialLen > c.headLen {
			line += "…"
		}
	}
	if line == "" {
		return "none (the console printed nothing)"
	}
	return quoteConsole(c.log.MaskString(line), quotedMax)
}

// cutAtRune drops an incomplete UTF-8 sequence at the end of b, where a
// copy of the start of a longer text may have cut a character.
func cutAtRune(b []byte) []byte {
	for k := len(b) - 1; k >= 0 && k >= len(b)-utf8.UTFMax; k-- {
		if utf8.RuneStart(b[k]) {
			if !utf8.FullRune(b[k:]) {
				return b[:k]
			}
			break
		}
	}
	return b
}

// describedMax is how many patterns a message names; more are counted.
const describedMax = 4

// describe names patterns for messages: each quoted (quoteConsole), joined
// by "or"; past describedMax, the first ones and how many others.
func describe(patterns []*regexp.Regexp) string {
	var b strings.Builder
	for i, p := range patterns {
		if i > 0 {
			b.WriteString(" or ")
		}
		if i == describedMax-1 && len(patterns) > describedMax {
			fmt.Fprintf(&b, "%d others", len(patterns)-i)
			break
		}
		b.WriteString(quotePattern(p.String()))
	}
	return b.String()
}

// waitingFor is what a wait for patterns of one kind ("prompt", "login
// prompt") is waiting for, for Expect: "prompt '/ # '".
func waitingFor(kind string, patterns ...*regexp.Regexp) string {
	return kind + " " + describe(patterns)
}

// quoteConsole quotes console text or a command for a message: in single
// quotes, with a quote or backslash escaped, tabs, carriage returns and
// newlines as \t, \r and \n, other control characters (an escape
// sequence's ESC, say) and invalid UTF-8 as \xNN or \uNNNN, so that no raw
// control sequence reaches a log or a terminal. Text longer than limit
// characters is cut there and ends with "…".
func quoteConsole(s string, limit int) string { return quoteText(s, limit, true) }

// quotePattern quotes a regular expression for a message as quoteConsole
// quotes text, except that its backslashes stay as written (a pattern's
// \$ or \d reads as in the job definition, and \x1b means ESC in a pattern
// anyway), cut at quotedMax characters.
func quotePattern(p string) string { return quoteText(p, quotedMax, false) }

// quoteText is quoteConsole, escaping backslashes or not.
func quoteText(s string, limit int, backslashes bool) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	n := 0
	for i := 0; i < len(s); {
		if n == limit {
			b.WriteString("…")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\'' || r == '\\' && backslashes:
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x80 && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r != ' ':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
		n++
	}
	b.WriteByte('\'')
	return b.String()
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
			c.headLen, c.partialLen = 0, 0
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
	c.headLen = copy(c.head[:], c.partial)
	c.partialLen = len(c.partial)
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
	if ns := c.feedback.Load(); ns != nil {
		c.log.Feedback(*ns, line)
	} else {
		c.log.Log(workerproto.LevelTarget, line)
	}
	c.mu.Lock()
	if strings.TrimSpace(line) != "" {
		c.lastLine = line
	}
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
