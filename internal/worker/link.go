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
// through it, with the protocol version and the token. With several server
// URLs (replicas of one lab on one database) it uses one at a time, the
// current one, and moves to the next (round robin) when that one fails:
// every request of the protocol can be repeated on another replica.
type link struct {
	servers []*endpoint
	cur     atomic.Int32 // index of the current server
	// moving: the link moved and no server answered since; the moves
	// that follow (every server failing) are logged at debug level only
	moving  atomic.Bool
	name    string
	token   string // set before any goroutine uses the link
	log     *slog.Logger
	timeout time.Duration
}

// endpoint is one server URL with its own clients and connections.
type endpoint struct {
	base     string // server URL without a trailing slash
	conns    *connTracker
	primary  *http.Client
	fallback *http.Client // HTTP/1.1, only for plain http in auto mode
	mode     atomic.Int32
	dialMu   sync.Mutex // serializes requests while no connection is open
}

// parseServerURL checks a server URL and returns it without a trailing
// slash.
func parseServerURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server URL %q: no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: must not have credentials, a query or a fragment", u.Redacted())
	}
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), ""
	return u, nil
}

// newLink builds the link to cfg.Servers (cfg.Server alone when the list
// is empty). Every URL is checked; the same one twice is an error.
func newLink(cfg Config) (*link, error) {
	urls := cfg.Servers
	if len(urls) == 0 {
		urls = []string{cfg.Server}
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := tlsconfig.CertPool(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tlsConf.RootCAs = pool
	}
	l := &link{name: cfg.Name, token: cfg.Token, log: cfg.Logger, timeout: cfg.RequestTimeout}
	if l.log == nil {
		l.log = slog.Default()
	}
	seen := map[string]bool{}
	for _, raw := range urls {
		u, err := parseServerURL(raw)
		if err != nil {
			return nil, err
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("server URL %q listed twice", u.String())
		}
		seen[u.String()] = true
		l.servers = append(l.servers, newEndpoint(cfg, u, tlsConf))
	}
	return l, nil
}

// newEndpoint builds the clients of one server URL.
func newEndpoint(cfg Config, u *url.URL, tlsConf *tls.Config) *endpoint {
	ep := &endpoint{base: u.String(), conns: &connTracker{conns: map[*trackedConn]struct{}{}}}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	client := func(p http.Protocols) *http.Client {
		return &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           ep.conns.dialer(dialer),
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
		ep.primary = client(p)
		ep.mode.Store(modePrimary)
	case u.Scheme == "https":
		p.SetHTTP1(true) // ALPN picks HTTP/2 when the server offers it
		p.SetHTTP2(true)
		ep.primary = client(p)
		ep.mode.Store(modePrimary)
	default:
		p.SetUnencryptedHTTP2(true) // h2c with prior knowledge
		ep.primary = client(p)
		// known to be HTTP/2: one connection carries everything (net/http
		// may otherwise dial a second one while the first is being pooled)
		ep.primary.Transport.(*http.Transport).MaxConnsPerHost = 1
		var p1 http.Protocols
		p1.SetHTTP1(true)
		ep.fallback = client(p1)
	}
	return ep
}

// bases lists the server URLs, the current one first.
func (l *link) bases() []string {
	out := make([]string, 0, len(l.servers))
	i := int(l.cur.Load())
	for k := range l.servers {
		out = append(out, l.servers[(i+k)%len(l.servers)].base)
	}
	return out
}

// close drops every connection.
func (l *link) close() {
	for _, ep := range l.servers {
		ep.close()
	}
}

func (ep *endpoint) close() {
	ep.primary.CloseIdleConnections()
	if ep.fallback != nil {
		ep.fallback.CloseIdleConnections()
	}
	ep.conns.closeAll()
}

// moveFrom makes the server after server i the current one, unless another
// request already moved away from i, and drops i's connections: one server
// at a time. why says what failed.
func (l *link) moveFrom(i int, why string) {
	n := len(l.servers)
	if n < 2 {
		return
	}
	next := (i + 1) % n
	if !l.cur.CompareAndSwap(int32(i), int32(next)) {
		return
	}
	from, to := l.servers[i], l.servers[next]
	lvl := slog.LevelWarn
	if l.moving.Swap(true) {
		lvl = slog.LevelDebug
	}
	l.log.Log(context.Background(), lvl, fmt.Sprintf("moved to server %s (%s unreachable: %s)", to.base, from.base, why),
		"server", to.base, "from", from.base)
	from.close()
}

// request sends one request to the current server. body may be nil. auth
// adds the worker token. With several servers, a request that fails on the
// current one (no connection, a connection lost, a 5xx answer) moves the
// link to the next server and is sent again there, once to each server;
// the last server's failure is returned, and the caller's back-off spaces
// the rounds.
func (l *link) request(ctx context.Context, method, path string, query url.Values, body []byte, contentType string, auth bool) (*http.Response, error) {
	resp, _, err := l.requestOn(ctx, method, path, query, body, contentType, auth)
	return resp, err
}

// requestOn is request, also saying which server answered.
func (l *link) requestOn(ctx context.Context, method, path string, query url.Values, body []byte, contentType string, auth bool) (*http.Response, int, error) {
	for try := 1; ; try++ {
		i := int(l.cur.Load())
		resp, err := l.servers[i].request(ctx, l, method, path, query, body, contentType, auth)
		if try >= len(l.servers) || ctx.Err() != nil {
			if err == nil && resp.StatusCode < 500 {
				l.moving.Store(false)
			}
			return resp, i, err
		}
		var why string
		switch {
		case err != nil:
			why = err.Error()
		case resp.StatusCode >= 500:
			why = fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, http.StatusText(resp.StatusCode))
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		default:
			l.moving.Store(false)
			return resp, i, nil
		}
		l.moveFrom(i, why)
	}
}

// request sends one request to this server.
// Over plain http in auto mode the first exchanges try h2c and, when the
// TCP connection works but the h2c exchange fails (an HTTP/1.1-only server
// or proxy), repeat with HTTP/1.1 and stay with it.
func (ep *endpoint) request(ctx context.Context, l *link, method, path string, query url.Values, body []byte, contentType string, auth bool) (*http.Response, error) {
	build := func() (*http.Request, error) {
		u := ep.base + workerproto.Prefix + path
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
	switch ep.mode.Load() {
	case modePrimary:
		return ep.do(ep.primary, req)
	case modeFallback:
		return ep.do(ep.fallback, req)
	}
	resp, err := ep.do(ep.primary, req)
	if err == nil {
		if ep.mode.CompareAndSwap(modeUnknown, modePrimary) {
			l.log.Info("server speaks HTTP/2 without TLS (h2c): one connection for everything", "server", ep.base)
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
	resp, err1 := ep.do(ep.fallback, req)
	if err1 != nil {
		return nil, err
	}
	if ep.mode.CompareAndSwap(modeUnknown, modeFallback) {
		l.log.Info("server or proxy refuses h2c; using HTTP/1.1 (the stream takes a connection of its own)", "server", ep.base, "h2c_error", err)
	}
	return resp, nil
}

// do sends req with c. While no connection is open, requests go one at a
// time: the first opens the connection and, with HTTP/2, the others then
// share it instead of each dialing one of their own.
func (ep *endpoint) do(c *http.Client, req *http.Request) (*http.Response, error) {
	if ep.conns.isReady() {
		return c.Do(req)
	}
	ep.dialMu.Lock()
	defer ep.dialMu.Unlock()
	resp, err := c.Do(req)
	if err == nil {
		ep.conns.markReady()
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
