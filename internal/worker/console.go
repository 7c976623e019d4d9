package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Console relay: a reservation's console session (Assign.Console) gets the
// input its holder types from the server. The worker long-polls the
// server over its link (workerproto.PathConsole: nothing listens on the
// worker) and hands the inputs to the job process on the Unix socket the
// job process listens on (workerproto.ConsoleSocket; protocol in
// internal/dispatcher/consolesocket.go). It asks the server for the input
// after the last one the job process has applied, and only that: what
// the server may forget is what the job process says it applied, so input
// lost with a link cut or a worker restart is fetched again, and input
// sent twice is applied once (the job process skips a Seq it applied).

// Bounds of the relay.
const (
	// ConsoleHold is how long the server is asked to hold a console poll
	// that has no input to answer.
	ConsoleHold = 25 * time.Second
	// consoleDialEvery spaces the attempts to connect to a job process's
	// console socket before it exists.
	consoleDialEvery = 20 * time.Millisecond
)

// errConsoleOver says the console relay is over: the job process has
// exited or the server ended the session (410).
var errConsoleOver = errors.New("console relay over")

// serveConsole relays the server's console input to the job process until
// the job process has exited, the server says the job is no longer this
// worker's, or ctx ends.
func (j *job) serveConsole(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-j.exited:
			cancel()
		}
	}()
	bo := j.w.newBackoff()
	for ctx.Err() == nil {
		c, err := j.dialConsole(ctx)
		if err != nil {
			return
		}
		err = j.relayConsole(ctx, c, &bo)
		c.close()
		if errors.Is(err, errConsoleOver) || ctx.Err() != nil {
			return
		}
		j.log.Debug("console socket connection ended; connecting again", "err", err)
		if !j.w.pause(ctx, "console", consoleDialEvery, nil) {
			return
		}
	}
}

// dialConsole connects to the job process's console socket, waiting until
// it listens; an error only when ctx ends.
func (j *job) dialConsole(ctx context.Context) (*consoleLink, error) {
	path := j.path(workerproto.ConsoleSocket)
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			return newConsoleLink(c, j.poke), nil
		}
		if !j.w.pause(ctx, "console", consoleDialEvery, nil) {
			return nil, ctx.Err()
		}
	}
}

// relayConsole relays input on one connection to the job process until it
// breaks (an error) or the relay is over (errConsoleOver).
func (j *job) relayConsole(ctx context.Context, c *consoleLink, bo *backoff) error {
	applied, err := c.wait(ctx, 0)
	if err != nil {
		return err
	}
	failing := false
	path := fmt.Sprintf(workerproto.PathConsole, j.id)
	for {
		q := url.Values{"after": {strconv.FormatInt(applied, 10)}, "hold": {ConsoleHold.String()}}
		var got workerproto.ConsoleInputs
		err := j.w.link.sendWithin(ctx, ConsoleHold+j.w.cfg.RequestTimeout, http.MethodGet, path, q, nil, "", &got, true)
		if ctx.Err() != nil {
			return errConsoleOver
		}
		if err != nil {
			d := bo.next()
			if e := asAPIError(err); e != nil {
				switch {
				case e.gone():
					j.log.Info("console relay: the server ended the session", "err", err)
					return errConsoleOver
				case e.mismatch():
					d = j.w.protocolMismatch(e)
				}
			}
			if !failing {
				j.log.Warn("console poll failed; retrying with back-off (typed input waits on the server)", "err", err, "retry_in", d.Round(time.Millisecond))
			}
			failing = true
			if !j.w.pause(ctx, "console", d, nil) {
				return errConsoleOver
			}
			continue
		}
		if failing {
			j.log.Info("console polls resumed")
		}
		failing = false
		bo.reset()
		if len(got.Inputs) == 0 {
			continue
		}
		before := applied
		if applied, err = c.send(ctx, got.Inputs); err != nil {
			return err
		}
		if applied == before {
			// the job process applied none of them (inputs it applied
			// already, or not the next ones): asking again at once could
			// get the same answer
			d := bo.next()
			if last := got.Inputs[len(got.Inputs)-1].Seq; last > before {
				j.log.Warn("console relay: the job process applied none of the inputs the server sent", "after", before, "first", got.Inputs[0].Seq, "retry_in", d.Round(time.Millisecond))
			} else {
				j.log.Debug("console relay: the server sent inputs the job process had applied", "after", before, "last", last)
			}
			if !j.w.pause(ctx, "console", d, nil) {
				return errConsoleOver
			}
		}
	}
}

// consoleLink is one connection to a job process's console socket.
type consoleLink struct {
	c    net.Conn
	enc  *json.Encoder
	poke func() // the job process's journal grew

	mu      sync.Mutex
	written int64 // lines written
	last    dispatcher.ConsoleReply
	got     bool          // a reply came
	err     error         // the connection broke
	changed chan struct{} // closed and replaced on each reply
}

func newConsoleLink(c net.Conn, poke func()) *consoleLink {
	l := &consoleLink{c: c, enc: json.NewEncoder(c), poke: poke, changed: make(chan struct{})}
	go l.read()
	return l
}

func (l *consoleLink) close() { l.c.Close() }

// read takes the job process's replies until the connection ends.
func (l *consoleLink) read() {
	r := bufio.NewReader(l.c)
	var err error
	for {
		var line []byte
		line, err = r.ReadSlice('\n')
		if err != nil {
			break
		}
		var rep dispatcher.ConsoleReply
		if err = json.Unmarshal(line, &rep); err != nil {
			err = fmt.Errorf("console socket: bad reply: %w", err)
			break
		}
		if rep.Appended {
			l.poke()
		}
		l.mu.Lock()
		l.last, l.got = rep, true
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
	l.c.Close()
	l.mu.Lock()
	l.err = fmt.Errorf("console socket: %w", err)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// wait waits until the job process has dealt with lines input lines (and
// replied at least once), and returns what it has applied.
func (l *consoleLink) wait(ctx context.Context, lines int64) (int64, error) {
	for {
		l.mu.Lock()
		last, got, err, ch := l.last, l.got, l.err, l.changed
		l.mu.Unlock()
		if got && last.Lines >= lines {
			return last.Applied, nil
		}
		if err != nil {
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, errConsoleOver
		case <-ch:
		}
	}
}

// send writes inputs, waits until the job process has dealt with them, and
// returns what it has applied.
func (l *consoleLink) send(ctx context.Context, inputs []workerproto.ConsoleInput) (int64, error) {
	_ = l.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	for _, in := range inputs {
		if err := l.enc.Encode(in); err != nil {
			return 0, fmt.Errorf("console socket: %w", err)
		}
		l.written++
	}
	return l.wait(ctx, l.written)
}
