package worker

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-lab/basalt/internal/tlsconfig"
	"github.com/basalt-lab/basalt/internal/version"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Which client a link uses.
const (
	modeUnknown  int32 = iota // plain http, h2c not tried yet
	modePrimary               // HTTP/2 (ALPN or h2c), or HTTP/1.1 when forced
	modeFallback              // HTTP/1.1 after h2c was refused
)

// link is the worker's HTTP connection to the server: every request goes
// through it, with the protocol version and the token.
type link struct {
	base    string // server URL without a trailing slash
	name    string
	token   string // set before any goroutine uses the link
	log     *slog.Logger
	timeout time.Duration

	conns    *connTracker
	primary  *http.Client
	fallback *http.Client // HTTP/1.1, only for plain http in auto mode
	mode     atomic.Int32
	dialMu   sync.Mutex // serializes requests while no connection is open
}

func newLink(cfg Config) (*link, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.Server))
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", cfg.Server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server URL %q: scheme must be http or https", cfg.Server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server URL %q: no host", cfg.Server)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: must not have credentials, a query or a fragment", u.Redacted())
	}
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), ""
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := tlsconfig.CertPool(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tlsConf.RootCAs = pool
	}
	l := &link{base: u.String(), name: cfg.Name, token: cfg.Token, log: cfg.Logger,
		timeout: cfg.RequestTimeout, conns: &connTracker{conns: map[*trackedConn]struct{}{}}}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	client := func(p http.Protocols) *http.Client {
		return &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           l.conns.dialer(dialer),
			TLSClientConfig:       tlsConf.Clone(),
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: cfg.RequestTimeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   4,
			Protocols:             &p,
			// a quiet HTTP/2 connection is checked with a PING; one that
			// does not answer is closed and every request on it fails fast
			HTTP2: &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second},
		}}
	}
	var p http.Protocols
	switch {
	case cfg.HTTP1:
		p.SetHTTP1(true)
		l.primary = client(p)
		l.mode.Store(modePrimary)
	case u.Scheme == "https":
		p.SetHTTP1(true) // ALPN picks HTTP/2 when the server offers it
		p.SetHTTP2(true)
		l.primary = client(p)
		l.mode.Store(modePrimary)
	default:
		p.SetUnencryptedHTTP2(true) // h2c with prior knowledge
		l.primary = client(p)
		// known to be HTTP/2: one connection carries everything (net/http
		// may otherwise dial a second one while the first is being pooled)
		l.primary.Transport.(*http.Transport).MaxConnsPerHost = 1
		var p1 http.Protocols
		p1.SetHTTP1(true)
		l.fallback = client(p1)
	}
	return l, nil
}

// close drops every connection.
func (l *link) close() {
	l.primary.CloseIdleConnections()
	if l.fallback != nil {
		l.fallback.CloseIdleConnections()
	}
	l.conns.closeAll()
}

// request sends one request. body may be nil. auth adds the worker token.
// Over plain http in auto mode the first exchanges try h2c and, when the
// TCP connection works but the h2c exchange fails (an HTTP/1.1-only server
// or proxy), repeat with HTTP/1.1 and stay with it.
func (l *link) request(ctx context.Context, method, path string, query url.Values, body []byte, contentType string, auth bool) (*http.Response, error) {
	build := func() (*http.Request, error) {
		u := l.base + workerproto.Prefix + path
		if len(query) > 0 {
			u += "?" + query.Encode()
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		req.Header.Set(workerproto.VersionHeader, strconv.Itoa(workerproto.Version))
		req.Header.Set("User-Agent", "basalt-worker/"+version.Version)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if auth {
			req.Header.Set("Authorization", "Token "+l.token)
		}
		return req, nil
	}
	req, err := build()
	if err != nil {
		return nil, err
	}
	switch l.mode.Load() {
	case modePrimary:
		return l.do(l.primary, req)
	case modeFallback:
		return l.do(l.fallback, req)
	}
	resp, err := l.do(l.primary, req)
	if err == nil {
		if l.mode.CompareAndSwap(modeUnknown, modePrimary) {
			l.log.Info("server speaks HTTP/2 without TLS (h2c): one connection for everything")
		}
		return resp, nil
	}
	if ctx.Err() != nil || isDialError(err) {
		return nil, err
	}
	req, berr := build()
	if berr != nil {
		return nil, err
	}
	resp, err1 := l.do(l.fallback, req)
	if err1 != nil {
		return nil, err
	}
	if l.mode.CompareAndSwap(modeUnknown, modeFallback) {
		l.log.Info("server or proxy refuses h2c; using HTTP/1.1 (the stream takes a connection of its own)", "h2c_error", err)
	}
	return resp, nil
}

// do sends req with c. While no connection is open, requests go one at a
// time: the first opens the connection and, with HTTP/2, the others then
// share it instead of each dialing one of their own.
func (l *link) do(c *http.Client, req *http.Request) (*http.Response, error) {
	if l.conns.isReady() {
		return c.Do(req)
	}
	l.dialMu.Lock()
	defer l.dialMu.Unlock()
	resp, err := c.Do(req)
	if err == nil {
		l.conns.markReady()
	}
	return resp, err
}

// isDialError reports whether err happened before a TCP connection existed
// (nothing was learnt about the protocol the server speaks).
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// call sends a JSON request and decodes a 2xx JSON answer into out (when
// not nil). Non-2xx answers are *apiError.
func (l *link) call(ctx context.Context, method, path string, query url.Values, in, out any, auth bool) error {
	var body []byte
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body, ct = b, "application/json"
	}
	return l.send(ctx, method, path, query, body, ct, out, auth)
}

// send is call with a raw body.
func (l *link) send(ctx context.Context, method, path string, query url.Values, body []byte, contentType string, out any, auth bool) error {
	return l.sendWithin(ctx, l.timeout, method, path, query, body, contentType, out, auth)
}

// sendWithin is send bounded by timeout instead of the request timeout:
// for a call the server may hold (a multinode wait).
func (l *link) sendWithin(ctx context.Context, timeout time.Duration, method, path string, query url.Values, body []byte, contentType string, out any, auth bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := l.request(ctx, method, path, query, body, contentType, auth)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readAPIError(method, path, resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// apiError is a non-2xx answer of the server.
type apiError struct {
	Op      string // "PUT /jobs/1/log"
	Status  int
	Code    string
	Message string
	// Stored is the server's stored log size, in log conflicts.
	Stored *int64
	// ServerProtocol is the server's protocol version when it sent its
	// VersionHeader.
	ServerProtocol string
}

func (e *apiError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != "" {
		return fmt.Sprintf("%s: %d %s: %s", e.Op, e.Status, e.Code, msg)
	}
	return fmt.Sprintf("%s: %d: %s", e.Op, e.Status, msg)
}

// mismatch reports whether the server refused this worker's protocol.
func (e *apiError) mismatch() bool {
	return e.Status == http.StatusConflict && e.Code == workerproto.CodeProtocolMismatch
}

// gone reports whether the server does not want to hear about the job any
// more: it does not know it (404 not_found, 410), or not on this worker
// (403 forbidden: the worker's token is good, the job is not its own).
func (e *apiError) gone() bool {
	return (e.Status == http.StatusNotFound && e.Code == "not_found") ||
		(e.Status == http.StatusForbidden && e.Code == "forbidden") || e.Status == http.StatusGone
}

func readAPIError(method, path string, resp *http.Response) error {
	e := &apiError{Op: method + " " + path, Status: resp.StatusCode, ServerProtocol: resp.Header.Get(workerproto.VersionHeader)}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		workerproto.ErrorBody
		Stored *int64 `json:"stored"`
	}
	if json.Unmarshal(b, &body) == nil {
		e.Code, e.Message, e.Stored = body.Error.Code, body.Error.Message, body.Stored
	} else {
		e.Message = strings.TrimSpace(string(b))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	return e
}

func asAPIError(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// connTracker remembers the link's open TCP connections, so that a dead
// stream can take them all down: with HTTP/2 every request shares the
// stream's connection, and a connection that carried nothing for three
// heartbeat intervals must not be reused.
type connTracker struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
	ready bool // a connection is open and has carried an answer
	dials atomic.Int64
}

type trackedConn struct {
	net.Conn
	t    *connTracker
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		if len(c.t.conns) == 0 {
			c.t.ready = false
		}
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

func (t *connTracker) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		t.dials.Add(1)
		tc := &trackedConn{Conn: c, t: t}
		t.mu.Lock()
		t.conns[tc] = struct{}{}
		t.mu.Unlock()
		return tc, nil
	}
}

// isReady reports whether a connection is open and has carried an answer
// (so that, with HTTP/2, requests can share it).
func (t *connTracker) isReady() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ready && len(t.conns) > 0
}

// markReady records that a request got its answer over an open connection.
func (t *connTracker) markReady() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ready = len(t.conns) > 0
}

// closeAll closes every open connection and returns how many there were.
func (t *connTracker) closeAll() int {
	t.mu.Lock()
	all := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		all = append(all, c)
	}
	t.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
	return len(all)
}
