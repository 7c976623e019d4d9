package tftp

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// testServer runs s on a loopback port and collects its Log records.
type testServer struct {
	*Server
	addr net.Addr
	mu   sync.Mutex
	recs []Transfer
}

func (ts *testServer) records() []Transfer {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]Transfer(nil), ts.recs...)
}

// startServer serves dir on 127.0.0.1 with the settings of configure.
func startServer(t testing.TB, dir string, configure func(*Server)) *testServer {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	ts := &testServer{Server: &Server{Root: root}}
	ts.Log = func(r Transfer) {
		ts.mu.Lock()
		ts.recs = append(ts.recs, r)
		ts.mu.Unlock()
	}
	if configure != nil {
		configure(ts.Server)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = pc.LocalAddr()
	done := make(chan error, 1)
	go func() { done <- ts.Serve(pc) }()
	t.Cleanup(func() {
		ts.Close()
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ts
}

// clientConn is a loopback UDP socket for a test client.
func clientConn(t testing.TB) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// randomBytes is n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// lossyConn drops the packets its functions pick, and counts them. The
// functions are called with its lock held.
type lossyConn struct {
	net.PacketConn
	mu      sync.Mutex
	out, in int
	dropOut func(i int, b []byte) bool
	dropIn  func(i int, b []byte) bool
	sent    [][]byte // copies of the packets sent (dropped included) when keep
	keep    bool
}

func (c *lossyConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	c.out++
	i := c.out
	if c.keep {
		c.sent = append(c.sent, append([]byte(nil), b...))
	}
	drop := c.dropOut != nil && c.dropOut(i, b)
	c.mu.Unlock()
	if drop {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, a, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			return n, a, err
		}
		c.mu.Lock()
		c.in++
		drop := c.dropIn != nil && c.dropIn(c.in, b[:n])
		c.mu.Unlock()
		if drop {
			continue
		}
		return n, a, nil
	}
}

// wrapTransfers makes s open its transfer sockets through wrap, and
// returns the wrapped sockets as they are made.
func wrapTransfers(s *Server, wrap func(net.PacketConn) *lossyConn) func() []*lossyConn {
	var mu sync.Mutex
	var conns []*lossyConn
	s.listenTransfer = func(local netip.Addr) (net.PacketConn, error) {
		pc, err := listenUDP(local)
		if err != nil {
			return nil, err
		}
		lc := wrap(pc)
		mu.Lock()
		conns = append(conns, lc)
		mu.Unlock()
		return lc, nil
	}
	return func() []*lossyConn {
		mu.Lock()
		defer mu.Unlock()
		return append([]*lossyConn(nil), conns...)
	}
}
