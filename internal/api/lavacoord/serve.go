package lavacoord

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/coordinator"
)

// Options configure the listener; zero fields take the defaults.
type Options struct {
	// MaxConns is how many connections are served at once (default 256);
	// beyond it a new connection is closed at once, which LAVA's client
	// reads as "wait" and polls again.
	MaxConns int
	// Timeout bounds a whole connection: reading the request and writing
	// the answer (default 30 s, the time LAVA's dispatcher gives a poll).
	Timeout time.Duration
	// MaxPayload is the largest request accepted (default 1 MiB; LAVA's
	// dispatcher never sends more than 0xFFFE characters).
	MaxPayload int
	// Logger receives the refusals, at most a few per second (slog.Default
	// when nil).
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultMaxConns   = 256
	DefaultTimeout    = 30 * time.Second
	DefaultMaxPayload = 1 << 20
)

// lingerMax bounds what is read after an answer (the rest of a request
// refused early, or bytes beyond the announced length), so that the
// answer is not lost to a reset.
const lingerMax = 64 << 10

// Serve answers LAVA's coordinator protocol on ln with c until ctx ends:
// one request per connection, each in its own goroutine. It closes ln and
// every connection when ctx ends, waits for the connections' goroutines,
// and returns nil; or the error that stopped accepting.
func Serve(ctx context.Context, ln net.Listener, c *coordinator.Coordinator, opts Options) error {
	s := newServer(c, opts)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	slots := make(chan struct{}, s.opts.MaxConns)
	var err error
	for {
		conn, aerr := ln.Accept()
		if aerr != nil {
			var ne net.Error
			if ctx.Err() == nil && errors.As(aerr, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if ctx.Err() == nil {
				err = fmt.Errorf("lava coordinator listener: %w", aerr)
			}
			break
		}
		select {
		case slots <- struct{}{}:
		default:
			s.refuse("too many connections", conn.RemoteAddr(), "max", s.opts.MaxConns)
			conn.Close()
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			s.serveConn(ctx, conn)
		})
	}
	cancel()
	ln.Close()
	wg.Wait()
	return err
}

// server holds what every connection shares.
type server struct {
	c    *coordinator.Coordinator
	opts Options
	log  *limitedLog
}

// newServer applies the defaults of opts.
func newServer(c *coordinator.Coordinator, opts Options) *server {
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &server{c: c, opts: opts, log: newLimitedLog(opts.Logger, 10, 10*time.Second)}
}

// refuse logs a refused connection or request, bounded.
func (s *server) refuse(why string, addr net.Addr, args ...any) {
	s.log.warn("lava coordinator: refused "+why, append([]any{"remote", addrString(addr)}, args...)...)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// serveConn serves one connection within the server's Timeout; ctx's end
// cuts it short.
func (s *server) serveConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	deadline := time.Now().Add(s.opts.Timeout)
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if s.exchange(ctx, conn, conn, conn.RemoteAddr()) {
		linger(conn, deadline)
	}
}

// linger, after an answer, half-closes the connection and reads what the
// client still sends (a little, briefly: LAVA's client has half-closed
// already, or closes once it read the answer), so that closing does not
// reset the connection, which could lose the answer before the client
// read it.
func linger(conn net.Conn, deadline time.Time) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	soon := time.Now().Add(2 * time.Second)
	if deadline.Before(soon) {
		soon = deadline
	}
	_ = conn.SetReadDeadline(soon)
	_, _ = io.CopyN(io.Discard, conn, lingerMax)
}

// exchange reads one request from r, answers it on w and reports whether
// it answered.
func (s *server) exchange(ctx context.Context, r io.Reader, w io.Writer, addr net.Addr) (answered bool) {
	var header [HeaderLen]byte
	if n, err := io.ReadFull(r, header[:]); err != nil {
		if n > 0 || !errors.Is(err, io.EOF) {
			s.refuse("connection: no header", addr, "got", n, "err", err)
		}
		return false
	}
	size, err := parseHeader(header[:])
	if err != nil {
		s.refuse("request: bad header", addr, "err", err)
		s.answer(w, addr, nack("bad header"))
		return true
	}
	if size > int64(s.opts.MaxPayload) {
		s.refuse("request: too big", addr, "bytes", size, "max", s.opts.MaxPayload)
		s.answer(w, addr, nack("request too big"))
		return true
	}
	payload := make([]byte, size)
	n, err := io.ReadFull(r, payload)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !(errors.Is(err, io.EOF) && size == 0) {
		// A silent or too slow client: nothing to answer it.
		s.refuse("connection: request not received", addr, "got", n, "of", size, "err", err)
		return false
	}
	// Like LAVA's daemon, parse what came when the client stopped early.
	req, err := decodeRequest(payload[:n])
	if err != nil {
		s.refuse("request: bad JSON", addr, "err", err)
		s.answer(w, addr, nack(err.Error()))
		return true
	}
	resp, err := s.c.Handle(ctx, req)
	if err != nil {
		// The change could not be saved: no answer, which LAVA's client
		// reads as "wait", so it asks again.
		s.log.error("lava coordinator: request not answered", "remote", addrString(addr), "request", req.Request,
			"group", req.GroupName, "client", req.ClientName, "err", err)
		return false
	}
	if resp.Response == coordinator.RespNack {
		s.opts.Logger.Debug("lava coordinator: nack", "remote", addrString(addr), "request", req.Request,
			"group", req.GroupName, "client", req.ClientName, "reason", resp.Reason)
	}
	if resp.Response == "" { // "complete": LAVA closes without answering
		return false
	}
	s.answer(w, addr, resp)
	return true
}

// nack is a refusal of the listener itself.
func nack(reason string) coordinator.Response {
	return coordinator.Response{Response: coordinator.RespNack, Reason: reason}
}

// answer writes resp in LAVA's framing.
func (s *server) answer(w io.Writer, addr net.Addr, resp coordinator.Response) {
	b, err := frame(resp)
	if err != nil {
		s.log.error("lava coordinator: answer not sent", "remote", addrString(addr), "err", err)
		return
	}
	if _, err := w.Write(b); err != nil {
		s.refuse("connection: answer not written", addr, "err", err)
	}
}
