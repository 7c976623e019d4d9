package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/auth"
)

// Limits bound what one client can hold of the server: connections, and
// the time it may take to send a request. Zero values get the defaults in
// brackets.
//
// Requests are bounded by class. Headers must arrive within
// ReadHeaderTimeout. A request without a body (every GET: pages, the
// worker's /connect stream, Server-Sent Events, long polls) has no further
// read deadline: it may last as long as its handler streams. A request
// with a body (forms, JSON, the worker's log uploads of up to 8 MiB) must
// send it at a sustained pace: the body may pause at most BodyTimeout
// between reads, and after a first BodyTimeout it must have averaged
// MinBodyRate, so a large upload gets time in proportion to its size
// while a client dripping a byte at a time is cut after about
// BodyTimeout. Such a request is answered 408 timeout and its connection
// closed.
type Limits struct {
	// MaxConnsPerClient caps the open connections of one client address
	// (an IPv6 client: its /64), loopback included; connections over the
	// cap are closed as soon as they are accepted [256; negative: no cap].
	MaxConnsPerClient int
	// ReadHeaderTimeout bounds the reading of a request's headers [10 s].
	ReadHeaderTimeout time.Duration
	// BodyTimeout is the longest a request body may pause, and the grace
	// before MinBodyRate applies [30 s].
	BodyTimeout time.Duration
	// MinBodyRate is the slowest average rate, in bytes per second, a
	// request body may arrive at after BodyTimeout [16 KiB/s].
	MinBodyRate int
	// IdleTimeout closes connections without a request for this long
	// [2 min].
	IdleTimeout time.Duration
}

func (l *Limits) defaults() {
	if l.MaxConnsPerClient == 0 {
		l.MaxConnsPerClient = 256
	}
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = 10 * time.Second
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = 30 * time.Second
	}
	if l.MinBodyRate <= 0 {
		l.MinBodyRate = 16 << 10
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 2 * time.Minute
	}
}

// limitBodies puts the body read deadline of l on every request that has
// a body (see Limits).
func limitBodies(h http.Handler, l Limits) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		b := &deadlineBody{body: r.Body, rc: http.NewResponseController(w), start: time.Now(),
			timeout: l.BodyTimeout, rate: l.MinBodyRate, slack: min(time.Second, l.BodyTimeout/8)}
		if err := b.set(b.start.Add(l.BodyTimeout)); err != nil {
			h.ServeHTTP(w, r) // a writer without deadlines (none of net/http's): unbounded
			return
		}
		r.Body = b
		h.ServeHTTP(w, r)
	})
}

// deadlineBody is a request body whose connection read deadline moves as
// the body arrives: at most timeout after the last read, and at most
// start + timeout + read/rate. Both bounds only grow, so the deadline is
// moved forward only when it gains at least slack (each move of an
// HTTP/2 stream's deadline is a message to its connection's loop). At the
// end of the body the deadline is cleared, so it cannot fire while the
// handler goes on (net/http clears it too when an HTTP/1 connection starts
// reading ahead; were it left to expire then, the request's context would
// be cancelled).
type deadlineBody struct {
	body     io.ReadCloser
	rc       *http.ResponseController
	start    time.Time
	timeout  time.Duration
	rate     int
	slack    time.Duration
	read     int64
	deadline time.Time
	done     bool
}

func (b *deadlineBody) set(t time.Time) error {
	b.deadline = t
	return b.rc.SetReadDeadline(t)
}

// Read reads from the body and moves the deadline.
func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	b.read += int64(n)
	switch {
	case b.done:
	case err == io.EOF:
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: %d bytes in %s (at most %s without data, %d bytes/s on average after that): %w",
			apierr.ErrBodyTimeout, b.read, time.Since(b.start).Round(time.Millisecond), b.timeout, b.rate, err)
	case n > 0:
		now := time.Now()
		earned := b.start.Add(b.timeout + time.Duration(float64(b.read)/float64(b.rate)*float64(time.Second)))
		next := now.Add(b.timeout)
		if earned.Before(next) {
			next = earned
		}
		if next.Sub(b.deadline) >= b.slack {
			_ = b.set(next)
		}
	}
	return n, err
}

// Close closes the body.
func (b *deadlineBody) Close() error { return b.body.Close() }

// clientLimitListener closes connections of a client address past its
// cap as soon as they are accepted.
type clientLimitListener struct {
	net.Listener
	max int
	log *slog.Logger

	mu      sync.Mutex
	conns   map[string]int // open connections per client key
	refused int            // since the last log line
	logged  time.Time
}

// limitClients wraps ln with a per-client connection cap (max <= 0: none).
func limitClients(ln net.Listener, max int, log *slog.Logger) net.Listener {
	if max <= 0 {
		return ln
	}
	return &clientLimitListener{Listener: ln, max: max, log: log, conns: map[string]int{}}
}

// Accept returns the next connection of a client within its cap.
func (l *clientLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := auth.ClientKey(c.RemoteAddr().String())
		l.mu.Lock()
		if l.conns[key] >= l.max {
			l.refused++
			if now := time.Now(); now.Sub(l.logged) >= 10*time.Second {
				l.log.Warn("connections refused: a client is over its connection cap (--max-conns-per-client)",
					"client", key, "cap", l.max, "refused", l.refused)
				l.logged, l.refused = now, 0
			}
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns[key]++
		l.mu.Unlock()
		return &clientConn{Conn: c, l: l, key: key}, nil
	}
}

func (l *clientLimitListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[key]--; l.conns[key] <= 0 {
		delete(l.conns, key)
	}
}

// clientConn is a connection counted against its client's cap until it
// is closed.
type clientConn struct {
	net.Conn
	l    *clientLimitListener
	key  string
	once sync.Once
}

// Close closes the connection and releases its place.
func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// CloseWrite half-closes a TCP connection (net/http uses it for a clean
// close after an error).
func (c *clientConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom keeps sendfile and splice for responses copied from files.
func (c *clientConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
