package faultnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dialTimeout bounds the proxy's dial to its target.
const dialTimeout = 10 * time.Second

// bufSize is the largest chunk forwarded at once (and delayed as one).
const bufSize = 32 << 10

// Proxy forwards TCP connections from its own loopback address to a target
// and injects faults on command. Create it with New (or Start in tests);
// the zero value is not usable.
type Proxy struct {
	target string
	addr   string // the listening address, fixed for the proxy's life

	ctx    context.Context // ends at Close; aborts dials to the target
	cancel context.CancelFunc

	mu       sync.Mutex
	ln       net.Listener // nil while refusing or closed
	links    map[*link]struct{}
	stalled  bool
	unstall  chan struct{} // closed when the current stall ends
	delay    time.Duration
	refusing bool
	closed   bool

	wg sync.WaitGroup // accept loops, connection setups and pumps

	accepted, up, down             atomic.Int64
	cuts, resets, stalls, refusals atomic.Int64
}

// Stats is a snapshot of a Proxy's counters.
type Stats struct {
	Accepted int64 // connections accepted, including ones closed at once (refusing, target down)
	Active   int   // connections being forwarded now
	Up       int64 // bytes forwarded from clients to the target
	Down     int64 // bytes forwarded from the target to clients
	Cuts     int64 // Cut calls
	Resets   int64 // Reset calls
	Stalls   int64 // stalls started (StallOn or Stall while not stalled)
	Refusals int64 // refusals started (Refuse(true) while accepting)
}

// Faults is the number of faults applied: Cuts+Resets+Stalls+Refusals.
func (s Stats) Faults() int64 { return s.Cuts + s.Resets + s.Stalls + s.Refusals }

// New starts a proxy on 127.0.0.1 with an ephemeral port, forwarding to
// target ("host:port" with a loopback host or "localhost"). Close stops it.
func New(target string) (*Proxy, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("faultnet: target %q: %w", target, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("faultnet: target %q is not a loopback address", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		target: target,
		addr:   ln.Addr().String(),
		ctx:    ctx,
		cancel: cancel,
		ln:     ln,
		links:  make(map[*link]struct{}),
	}
	p.wg.Add(1)
	go p.serve(ln)
	return p, nil
}

// Start is New for tests: it fails t on error and closes the proxy when
// the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Addr is the proxy's "127.0.0.1:port", to dial instead of the target.
func (p *Proxy) Addr() string { return p.addr }

// Stats returns the current counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	active := len(p.links)
	p.mu.Unlock()
	return Stats{
		Accepted: p.accepted.Load(),
		Active:   active,
		Up:       p.up.Load(),
		Down:     p.down.Load(),
		Cuts:     p.cuts.Load(),
		Resets:   p.resets.Load(),
		Stalls:   p.stalls.Load(),
		Refusals: p.refusals.Load(),
	}
}

// Cut closes every current connection, both sides, and keeps accepting.
func (p *Proxy) Cut() {
	p.cuts.Add(1)
	for _, l := range p.current() {
		l.close(false)
	}
}

// Reset closes every current connection with an RST and keeps accepting.
func (p *Proxy) Reset() {
	p.resets.Add(1)
	for _, l := range p.current() {
		l.close(true)
	}
}

// StallOn stops forwarding in both directions until StallOff. Connections
// stay open; each direction holds at most one chunk it already read, and
// TCP flow control holds back the rest.
func (p *Proxy) StallOn() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stalled {
		p.stalled = true
		p.unstall = make(chan struct{})
		p.stalls.Add(1)
	}
}

// StallOff resumes forwarding; held bytes are delivered in order.
func (p *Proxy) StallOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled {
		p.stalled = false
		close(p.unstall)
	}
}

// Stall stalls for d, then resumes (StallOff may end it earlier).
func (p *Proxy) Stall(d time.Duration) {
	p.StallOn()
	time.AfterFunc(d, p.StallOff)
}

// Delay adds d of latency before every chunk forwarded, in each direction;
// 0 removes it.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Refuse(true) stops listening, so new dials fail with "connection
// refused"; Refuse(false) listens again on the same address. Existing
// connections are not touched. Refuse(false) fails if the port was taken
// meanwhile or the proxy is closed.
func (p *Proxy) Refuse(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("faultnet: refuse: %w", net.ErrClosed)
	}
	if on == p.refusing {
		return nil
	}
	if on {
		p.refusing = true
		p.refusals.Add(1)
		err := p.ln.Close()
		p.ln = nil
		if err != nil {
			return fmt.Errorf("faultnet: refuse: %w", err)
		}
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("faultnet: accept again on %s: %w", p.addr, err)
	}
	p.refusing = false
	p.ln = ln
	p.wg.Add(1)
	go p.serve(ln)
	return nil
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines. Further calls do nothing.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var err error
	if p.ln != nil {
		err = p.ln.Close()
		p.ln = nil
	}
	if p.stalled {
		p.stalled = false
		close(p.unstall)
	}
	p.mu.Unlock()
	p.cancel()
	for _, l := range p.current() {
		l.close(false)
	}
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("faultnet: close: %w", err)
	}
	return nil
}

func (p *Proxy) current() []*link {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := make([]*link, 0, len(p.links))
	for l := range p.links {
		ls = append(ls, l)
	}
	return ls
}

// serve accepts on ln until it is closed (Refuse or Close).
func (p *Proxy) serve(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.connect(c.(*net.TCPConn))
	}
}

// connect dials the target for an accepted client and starts forwarding.
func (p *Proxy) connect(client *net.TCPConn) {
	defer p.wg.Done()
	// A connection accepted before Refuse(true) is an existing one: it is
	// forwarded even if the refusal started meanwhile.
	var d net.Dialer
	ctx, cancel := context.WithTimeout(p.ctx, dialTimeout)
	sc, err := d.DialContext(ctx, "tcp", p.target)
	cancel()
	if err != nil { // the target is down: the client sees a reset
		resetConn(client)
		return
	}
	l := &link{p: p, client: client, server: sc.(*net.TCPConn), done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.close(false)
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	p.wg.Add(2)
	go l.pump(l.client, l.server, &p.up)
	go l.pump(l.server, l.client, &p.down)
}

func resetConn(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

// gate blocks while the proxy is stalled and for the configured delay. It
// returns false when the link is closed meanwhile.
func (p *Proxy) gate(done <-chan struct{}) bool {
	p.mu.Lock()
	delay := p.delay
	p.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-done:
			t.Stop()
			return false
		}
	}
	for {
		p.mu.Lock()
		stalled, unstall := p.stalled, p.unstall
		p.mu.Unlock()
		if !stalled {
			return true
		}
		select {
		case <-unstall:
		case <-done:
			return false
		}
	}
}

// link is one proxied connection: the client's and the target's sides.
type link struct {
	p              *Proxy
	client, server *net.TCPConn
	done           chan struct{} // closed by close
	once           sync.Once
	halves         atomic.Int32 // directions that ended with EOF
}

// close tears the link down, with an RST when rst is set.
func (l *link) close(rst bool) {
	l.once.Do(func() {
		if rst {
			_ = l.client.SetLinger(0)
			_ = l.server.SetLinger(0)
		}
		_ = l.client.Close()
		_ = l.server.Close()
		close(l.done)
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
	})
}

// pump forwards src to dst chunk by chunk, counting bytes delivered. An
// EOF is passed on as a half-close; the link closes when both directions
// ended or on any error.
func (l *link) pump(src, dst *net.TCPConn, counter *atomic.Int64) {
	defer l.p.wg.Done()
	buf := make([]byte, bufSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !l.p.gate(l.done) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				l.close(false)
				return
			}
			counter.Add(int64(n))
		}
		if errors.Is(err, io.EOF) {
			if l.halves.Add(1) == 2 {
				l.close(false)
			} else if cerr := dst.CloseWrite(); cerr != nil {
				l.close(false)
			}
			return
		}
		if err != nil {
			l.close(false)
			return
		}
	}
}
