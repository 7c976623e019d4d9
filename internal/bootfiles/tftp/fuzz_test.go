package tftp

import (
	"context"
	"encoding/binary"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func FuzzParseRequest(f *testing.F) {
	f.Add(rrq(opRRQ, "boot/kernel", "octet"))
	f.Add(rrq(opRRQ, "/boot/kernel", "netascii", "blksize", "1468", "tsize", "0", "windowsize", "8", "timeout", "3"))
	f.Add(rrq(opWRQ, "x", "octet"))
	f.Add(rrq(opRRQ, "../../etc/passwd", "octet"))
	f.Add(rrq(opRRQ, "a", "octet", "BLKSIZE", "8", "blksize", "9"))
	f.Add([]byte{0, 1, 'a', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		if len(b) > maxRequestSize || (r.op != opRRQ && r.op != opWRQ) {
			t.Fatalf("accepted %q", b)
		}
		if r.filename == "" || len(r.filename) > maxFilenameLen || len(r.options) > maxOptions {
			t.Fatalf("bad request %+v", r)
		}
		seen := map[string]bool{}
		for _, o := range r.options {
			if o.name != strings.ToLower(o.name) || seen[o.name] || len(o.name) > maxOptionLen || len(o.value) > maxOptionLen {
				t.Fatalf("bad option %+v in %+v", o, r)
			}
			seen[o.name] = true
		}
		if name, err := cleanName(r.filename); err == nil {
			if !fs.ValidPath(name) || name == "." {
				t.Fatalf("cleanName(%q) = %q, not a valid path", r.filename, name)
			}
			for _, el := range strings.Split(name, "/") {
				if el == ".." {
					t.Fatalf("cleanName(%q) = %q", r.filename, name)
				}
			}
		}
	})
}

// fakeConn is a PacketConn that answers reads from a script and records
// writes; when the script is over, reads time out at once.
type fakeConn struct {
	mu      sync.Mutex
	peer    net.Addr
	script  [][]byte
	written int
}

func (c *fakeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.script) == 0 {
		return 0, nil, os.ErrDeadlineExceeded
	}
	p := c.script[0]
	c.script = c.script[1:]
	from := c.peer
	if len(p) > 0 && p[0] == 0xff { // from a stranger
		from = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 1}
		p = p[1:]
	}
	return copy(b, p), from, nil
}

func (c *fakeConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.mu.Lock()
	c.written++
	c.mu.Unlock()
	return len(b), nil
}

func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 69} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzHandlePacket runs the whole server path for one request packet and
// the client's answers to it (split on a length byte; a leading 0xff marks
// a packet from another address), on the files of testdata/root.
func FuzzHandlePacket(f *testing.F) {
	ack := func(n uint16) []byte { return binary.BigEndian.AppendUint16([]byte{0, opACK}, n) }
	script := func(pkts ...[]byte) []byte {
		var b []byte
		for _, p := range pkts {
			b = append(append(b, byte(len(p))), p...)
		}
		return b
	}
	f.Add(rrq(opRRQ, "boot/kernel", "octet"), script(ack(1), ack(2), ack(3), ack(4), ack(5), ack(6)))
	f.Add(rrq(opRRQ, "/boot/kernel", "octet", "blksize", "1000", "windowsize", "2", "tsize", "0"), script(ack(0), ack(2), ack(1), ack(3)))
	f.Add(rrq(opRRQ, "hello.txt", "netascii", "tsize", "0", "blksize", "8"), script(ack(0), append([]byte{0xff}, ack(1)...), ack(1), ack(2)))
	f.Add(rrq(opRRQ, "hello.txt", "octet"), script([]byte{0, opERROR, 0, 0, 'x', 0}))
	f.Add(rrq(opRRQ, "../x", "octet"), []byte{})
	f.Add(rrq(opWRQ, "x", "octet"), []byte{})
	f.Add([]byte{0, opACK, 0, 1}, []byte{})
	root, err := os.OpenRoot("testdata/root")
	if err != nil {
		f.Fatal(err)
	}
	defer root.Close()
	f.Fuzz(func(t *testing.T, req, answers []byte) {
		peer := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}
		tc := &fakeConn{peer: peer}
		for len(answers) > 0 {
			n := int(answers[0])
			answers = answers[1:]
			n = min(n, len(answers))
			tc.script = append(tc.script, answers[:n])
			answers = answers[n:]
		}
		main := &fakeConn{peer: peer}
		var recs []Transfer
		s := &Server{Root: root, Retries: 2, Log: func(r Transfer) { recs = append(recs, r) }}
		s.listenTransfer = func(netip.Addr) (net.PacketConn, error) { return tc, nil }
		s.conn = main
		s.ctx, s.cancel = context.WithCancel(context.Background())
		defer s.cancel()
		s.handlePacket(req, peer, netip.Addr{})
		s.wg.Wait()
		if len(req) >= 2 {
			switch binary.BigEndian.Uint16(req) {
			case opDATA, opACK, opERROR, opOACK:
				if len(recs) != 0 || main.written != 0 {
					t.Fatalf("stray answered: %d records, %d packets", len(recs), main.written)
				}
				return
			}
		}
		if len(recs) != 1 {
			t.Fatalf("%d records, want 1", len(recs))
		}
		if r := recs[0]; r.Err == nil && r.Bytes == 0 && r.File != "" {
			if fi, err := root.Stat(strings.TrimLeft(r.File, "/")); err != nil || fi.Size() != 0 {
				t.Fatalf("complete transfer of %q with no bytes", r.File)
			}
		}
	})
}
