package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestGetOctet(t *testing.T) {
	dir := t.TempDir()
	sizes := []int{0, 1, 7, 8, 9, 511, 512, 513, 1024, 1468 * 3, 100_000, 200_000}
	for _, n := range sizes {
		writeFile(t, dir, fmt.Sprintf("f%d", n), randomBytes(n, uint64(n)))
	}
	ts := startServer(t, dir, func(s *Server) { s.MaxBlockSize = 16384; s.MaxWindow = 32 })
	cases := []struct {
		name              string
		c                 testClient
		wantOACK          map[string]string // nil: no OACK
		wantBlk, wantWind int
	}{
		{"plain", testClient{}, nil, 512, 1},
		{"blksize 8", testClient{Blksize: 8}, map[string]string{"blksize": "8"}, 8, 1},
		{"blksize 1468", testClient{Blksize: 1468}, map[string]string{"blksize": "1468"}, 1468, 1},
		{"blksize clamped", testClient{Blksize: 65464}, map[string]string{"blksize": "16384"}, 16384, 1},
		{"window 4", testClient{Window: 4}, map[string]string{"windowsize": "4"}, 512, 4},
		{"window clamped", testClient{Window: 1000, Blksize: 1024}, map[string]string{"windowsize": "32", "blksize": "1024"}, 1024, 32},
		{"tsize", testClient{Tsize: true}, map[string]string{"tsize": "SIZE"}, 512, 1},
		{"all", testClient{Blksize: 1468, Window: 16, Tsize: true}, map[string]string{"blksize": "1468", "windowsize": "16", "tsize": "SIZE"}, 1468, 16},
	}
	for _, tc := range cases {
		for _, n := range sizes {
			t.Run(fmt.Sprintf("%s/%d", tc.name, n), func(t *testing.T) {
				want := randomBytes(n, uint64(n))
				name := fmt.Sprintf("f%d", n)
				got, res, err := tc.c.get(clientConn(t), ts.addr, name)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("got %d bytes, want %d (content differs)", len(got), len(want))
				}
				wantOACK := map[string]string(nil)
				if tc.wantOACK != nil {
					wantOACK = map[string]string{}
					for k, v := range tc.wantOACK {
						if v == "SIZE" {
							v = strconv.Itoa(n)
						}
						wantOACK[k] = v
					}
				}
				if fmt.Sprint(res.OACK) != fmt.Sprint(wantOACK) {
					t.Errorf("OACK %v, want %v", res.OACK, wantOACK)
				}
				if wantBlocks := n/tc.wantBlk + 1; res.Blocks != wantBlocks {
					t.Errorf("%d blocks, want %d", res.Blocks, wantBlocks)
				}
			})
		}
	}
	// The log has one complete record per transfer.
	ts.Shutdown(t.Context())
	recs := ts.records()
	if len(recs) != len(cases)*len(sizes) {
		t.Fatalf("%d log records, want %d", len(recs), len(cases)*len(sizes))
	}
	for _, r := range recs {
		if r.Err != nil {
			t.Errorf("%s: %v", r.File, r.Err)
		}
		n, _ := strconv.Atoi(r.File[1:])
		if r.Bytes != int64(n) || r.Mode != "octet" || r.Remote == nil || r.Local == nil {
			t.Errorf("record %+v: want %d bytes octet", r, n)
		}
	}
}

func TestNetascii(t *testing.T) {
	dir := t.TempDir()
	// Line ends of every kind, a CR and an LF on each side of block
	// boundaries (the converted stream is split at 512 bytes), NULs.
	var content []byte
	content = append(content, "line one\nline two\r\nold mac\rnul\x00 byte\n\n\r\r"...)
	for len(content) < 3000 {
		content = append(content, bytes.Repeat([]byte{'a'}, len(content)%37)...)
		content = append(content, '\r', '\n', '\n', '\r')
	}
	content = append(content, '\r') // a CR at the very end
	writeFile(t, dir, "text.txt", content)
	ts := startServer(t, dir, nil)

	var conv []byte
	for _, c := range content {
		switch c {
		case '\n':
			conv = append(conv, '\r', '\n')
		case '\r':
			conv = append(conv, '\r', 0)
		default:
			conv = append(conv, c)
		}
	}
	for _, c := range []testClient{
		{Mode: "netascii"},
		{Mode: "netascii", Tsize: true},
		{Mode: "NetASCII", Blksize: 8, Window: 3, Tsize: true},
		{Mode: "netascii", Blksize: 65464, Window: 64}, // window shrunk to 16
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			got, res, err := c.get(clientConn(t), ts.addr, "text.txt")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, content) {
				t.Fatalf("round trip differs: got %q", got)
			}
			if c.Window == 64 && res.OACK["windowsize"] != "16" {
				t.Errorf("windowsize %q, want 16 (1 MiB of window at blksize 65464)", res.OACK["windowsize"])
			}
			if c.Tsize {
				if res.OACK["tsize"] != strconv.Itoa(len(conv)) {
					t.Errorf("tsize %q, want %d (converted size)", res.OACK["tsize"], len(conv))
				}
			}
		})
	}
	// The converter's output is exactly the netascii form.
	nr := newNetasciiReader(bytes.NewReader(content))
	var out bytes.Buffer
	small := make([]byte, 3) // odd sizes split pairs across reads
	for {
		n, err := nr.Read(small)
		out.Write(small[:n])
		if err != nil {
			break
		}
	}
	if !bytes.Equal(out.Bytes(), conv) {
		t.Fatalf("netascii reader output differs from the expected conversion")
	}
	if got := netasciiSize(bytes.NewReader(content), 1<<20); got != int64(len(conv)) {
		t.Errorf("netasciiSize %d, want %d", got, len(conv))
	}
}

func TestNetasciiOnTheWire(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a", []byte("x\ny\rz"))
	ts := startServer(t, dir, nil)
	conn := clientConn(t)
	// The DATA packet carries the converted form (its length shows it).
	var sizes []int
	c := testClient{Mode: "netascii"}
	c.OnData = func(_ uint16, n int) { sizes = append(sizes, n) }
	got, _, err := c.get(conn, ts.addr, "a")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "x\ny\rz" || len(sizes) != 1 || sizes[0] != len("x\r\ny\r\x00z") {
		t.Fatalf("got %q in packets of %v bytes", got, sizes)
	}
}

func TestRollover(t *testing.T) {
	// blksize 8 makes block numbers wrap after 512 KiB: 600 000 bytes is
	// 75 001 blocks, so the window crosses 65535 -> 0.
	dir := t.TempDir()
	want := randomBytes(600_000, 1)
	writeFile(t, dir, "big", want)
	ts := startServer(t, dir, nil)
	var seen0 bool
	c := testClient{Blksize: 8, Window: 64, OnData: func(b uint16, _ int) {
		if b == 0 {
			seen0 = true
		}
	}}
	got, res, err := c.get(clientConn(t), ts.addr, "big")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
	if res.Blocks != 75_001 || !seen0 {
		t.Fatalf("%d blocks, block 0 seen %v; want 75001 blocks with a block 0", res.Blocks, seen0)
	}
}

// rawRequest sends one request packet and returns the first answer.
func rawRequest(t *testing.T, to net.Addr, pkt []byte) []byte {
	t.Helper()
	conn := clientConn(t)
	if _, err := conn.WriteTo(pkt, to); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 70000)
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func rrq(op uint16, fields ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, op)
	for _, f := range fields {
		b = append(append(b, f...), 0)
	}
	return b
}

func TestRefusals(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "root")
	writeFile(t, base, "secret", []byte("outside the root"))
	writeFile(t, dir, "sub/ok", []byte("inside"))
	writeFile(t, dir, "ok", []byte("inside"))
	if err := os.Symlink(filepath.Join(base, "secret"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret", filepath.Join(dir, "escape-rel")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok", filepath.Join(dir, "sub/link-in")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, dir, nil)
	cases := []struct {
		name     string
		pkt      []byte
		wantCode int // -1: DATA 1 with "inside"
	}{
		{"served", rrq(opRRQ, "ok", "octet"), -1},
		{"leading slash", rrq(opRRQ, "/sub/ok", "octet"), -1},
		{"double slash and dot", rrq(opRRQ, "//sub/./ok", "octet"), -1},
		{"symlink inside", rrq(opRRQ, "sub/link-in", "octet"), -1},
		{"missing", rrq(opRRQ, "nope", "octet"), CodeNotFound},
		{"missing dir", rrq(opRRQ, "no/such/file", "octet"), CodeNotFound},
		{"dotdot", rrq(opRRQ, "../secret", "octet"), CodeAccess},
		{"dotdot middle", rrq(opRRQ, "sub/../../secret", "octet"), CodeAccess},
		{"dotdot inside", rrq(opRRQ, "sub/../ok", "octet"), CodeAccess},
		{"absolute outside", rrq(opRRQ, filepath.Join(base, "secret"), "octet"), CodeNotFound},
		{"symlink escaping", rrq(opRRQ, "escape", "octet"), CodeAccess},
		{"relative symlink escaping", rrq(opRRQ, "escape-rel", "octet"), CodeAccess},
		{"directory", rrq(opRRQ, "sub", "octet"), CodeAccess},
		{"root", rrq(opRRQ, "/", "octet"), CodeAccess},
		{"fifo", rrq(opRRQ, "fifo", "octet"), CodeAccess},
		{"write", rrq(opWRQ, "new", "octet"), CodeAccess},
		{"write existing", rrq(opWRQ, "ok", "octet"), CodeAccess},
		{"mail", rrq(opRRQ, "ok", "mail"), CodeIllegal},
		{"unknown mode", rrq(opRRQ, "ok", "binary"), CodeIllegal},
		{"no mode", rrq(opRRQ, "ok"), CodeIllegal},
		{"empty name", rrq(opRRQ, "", "octet"), CodeIllegal},
		{"unknown opcode", []byte{0, 9, 0, 1}, CodeIllegal},
		{"too large", rrq(opRRQ, string(bytes.Repeat([]byte{'a'}, 1100)), "octet"), CodeIllegal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := rawRequest(t, ts.addr, tc.pkt)
			if tc.wantCode < 0 {
				if want := append([]byte{0, opDATA, 0, 1}, "inside"...); !bytes.Equal(got, want) {
					t.Fatalf("answer %q, want %q", got, want)
				}
				return
			}
			if len(got) < 4 || binary.BigEndian.Uint16(got) != opERROR {
				t.Fatalf("answer %q, want an ERROR", got)
			}
			if code := binary.BigEndian.Uint16(got[2:]); int(code) != tc.wantCode {
				t.Fatalf("error %d %q, want code %d", code, got[4:], tc.wantCode)
			}
		})
	}
	for _, r := range ts.records() {
		if r.Bytes > 0 && r.File != "ok" && r.File != "/sub/ok" && r.File != "//sub/./ok" && r.File != "sub/link-in" {
			t.Errorf("%q: %d bytes sent", r.File, r.Bytes)
		}
	}
}

func TestStraysIgnored(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", []byte("data"))
	ts := startServer(t, dir, nil)
	conn := clientConn(t)
	// ACK, DATA, ERROR and OACK on the server's port get no answer: the
	// first answer this socket gets is the file's DATA.
	for _, p := range [][]byte{{0, opACK, 0, 1}, {0, opDATA, 0, 1, 'x'}, {0, opERROR, 0, 1, 0}, {0, opOACK, 0}} {
		conn.WriteTo(p, ts.addr)
	}
	conn.WriteTo(rrq(opRRQ, "f", "octet"), ts.addr)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 600)
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x00\x03\x00\x01data"; string(buf[:n]) != want {
		t.Fatalf("got %q, want %q", buf[:n], want)
	}
}

func TestOptionNegotiation(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", randomBytes(2000, 2))
	ts := startServer(t, dir, nil)
	cases := []struct {
		name string
		opts []string
		want string // OACK as "k=v," or "" for DATA 1 of 512 bytes
	}{
		{"none", nil, ""},
		{"invalid all", []string{"blksize", "7", "timeout", "0", "windowsize", "0", "tsize", "x"}, "tsize=2000,"},
		{"blksize junk", []string{"blksize", "12a", "timeout", "256", "windowsize", "65536"}, ""},
		{"unknown", []string{"multicast", "", "utimeout", "1000", "rollover", "0"}, ""},
		{"timeout", []string{"timeout", "3"}, "timeout=3,"},
		{"case", []string{"BlkSize", "1000", "WINDOWSIZE", "2"}, "blksize=1000,windowsize=2,"},
		{"duplicate first wins", []string{"blksize", "600", "blksize", "700"}, "blksize=600,"},
		{"trailing name without value", []string{"blksize", "600", "tsize"}, "blksize=600,"},
		{"huge blksize", []string{"blksize", "999999999"}, "blksize=65464,"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pkt := rrq(opRRQ, append([]string{"f", "octet"}, tc.opts...)...)
			if tc.name == "trailing name without value" {
				pkt = pkt[:len(pkt)-1] // "tsize" unterminated
			}
			got := rawRequest(t, ts.addr, pkt)
			op := binary.BigEndian.Uint16(got)
			if tc.want == "" {
				if op != opDATA || len(got) != 4+512 || binary.BigEndian.Uint16(got[2:]) != 1 {
					t.Fatalf("answer op %d len %d, want DATA 1 of 512 bytes", op, len(got))
				}
				return
			}
			if op != opOACK {
				t.Fatalf("answer op %d, want OACK", op)
			}
			var s string
			f := bytes.Split(got[2:], []byte{0})
			for i := 0; i+1 < len(f); i += 2 {
				s += string(f[i]) + "=" + string(f[i+1]) + ","
			}
			if s != tc.want {
				t.Fatalf("OACK %q, want %q", s, tc.want)
			}
		})
	}
}

func TestPacketLoss(t *testing.T) {
	dir := t.TempDir()
	want := randomBytes(60_000, 3)
	writeFile(t, dir, "f", want)
	for _, c := range []testClient{
		{Blksize: 1024},
		{Blksize: 1024, Window: 8},
		{Blksize: 512, Window: 64},
		{Mode: "netascii", Blksize: 700, Window: 5},
	} {
		t.Run(fmt.Sprintf("blk%d-win%d-%s", c.Blksize, c.Window, c.Mode), func(t *testing.T) {
			// The final ACK is never dropped: the client does not linger to
			// answer a retransmitted last block, as real clients do not.
			size := len(want)
			if c.Mode == "netascii" {
				size += bytes.Count(want, []byte{'\n'}) + bytes.Count(want, []byte{'\r'})
			}
			finalAck := binary.BigEndian.AppendUint16([]byte{0, opACK}, uint16(size/c.Blksize+1))
			var conns func() []*lossyConn
			ts := startServer(t, dir, func(s *Server) {
				s.Timeout = 50 * time.Millisecond
				s.Retries = 30
				// Losses drawn from a seeded generator: a periodic pattern
				// could drop the same block of every resent window forever.
				r := rand.New(rand.NewPCG(1, 2))
				conns = wrapTransfers(s, func(pc net.PacketConn) *lossyConn {
					return &lossyConn{PacketConn: pc,
						dropOut: func(int, []byte) bool { return r.IntN(7) == 0 },
						dropIn:  func(_ int, b []byte) bool { return r.IntN(5) == 0 && !bytes.Equal(b, finalAck) }}
				})
			})
			c.Timeout = 50 * time.Millisecond
			c.Retries = 30
			got, _, err := c.get(clientConn(t), ts.addr, "f")
			if err != nil {
				ts.Shutdown(t.Context())
				t.Fatalf("%v; server: %+v", err, ts.records())
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
			if len(conns()) != 1 {
				t.Fatalf("%d transfer sockets, want 1", len(conns()))
			}
			ts.Shutdown(t.Context())
			recs := ts.records()
			if len(recs) != 1 || recs[0].Err != nil || recs[0].Retransmits == 0 || recs[0].Bytes != int64(size) {
				t.Fatalf("records %+v, want one complete with retransmissions", recs)
			}
		})
	}
}

func TestDuplicateAcksDoNotResend(t *testing.T) {
	dir := t.TempDir()
	want := randomBytes(100_000, 4)
	writeFile(t, dir, "f", want)
	for _, window := range []int{0, 4} {
		t.Run(fmt.Sprint("window", window), func(t *testing.T) {
			var conns func() []*lossyConn
			ts := startServer(t, dir, func(s *Server) {
				s.Timeout = time.Minute // no retransmission by timeout
				conns = wrapTransfers(s, func(pc net.PacketConn) *lossyConn { return &lossyConn{PacketConn: pc, keep: true} })
			})
			c := testClient{DupAcks: true, Window: window}
			got, res, err := c.get(clientConn(t), ts.addr, "f")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("content differs")
			}
			ts.Shutdown(t.Context())
			data := 0
			for _, p := range conns()[0].sent {
				if binary.BigEndian.Uint16(p) == opDATA {
					data++
				}
			}
			if data != res.Blocks || res.DataRcv != res.Blocks {
				t.Fatalf("server sent %d DATA packets, client received %d, for %d blocks", data, res.DataRcv, res.Blocks)
			}
		})
	}
}

func TestWrongTID(t *testing.T) {
	dir := t.TempDir()
	want := randomBytes(50_000, 5)
	writeFile(t, dir, "f", want)
	ts := startServer(t, dir, nil)
	intruder := clientConn(t)
	var answer []byte
	var once sync.Once
	c := testClient{OnServerTID: func(a net.Addr) {
		once.Do(func() {
			// An ACK from a stranger to the transfer's socket.
			intruder.WriteTo([]byte{0, opACK, 0, 5}, a)
			intruder.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 600)
			n, from, err := intruder.ReadFrom(buf)
			if err == nil && from.String() == a.String() {
				answer = buf[:n]
			}
		})
	}}
	got, _, err := c.get(clientConn(t), ts.addr, "f")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("content differs")
	}
	if len(answer) < 4 || binary.BigEndian.Uint16(answer) != opERROR || binary.BigEndian.Uint16(answer[2:]) != CodeUnknownTID {
		t.Fatalf("intruder got %q, want ERROR 5", answer)
	}
}

func TestTimeoutGivesUp(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", randomBytes(5000, 6))
	ts := startServer(t, dir, func(s *Server) { s.Timeout = 10 * time.Millisecond; s.Retries = 3 })
	// Two clients that never acknowledge: one without options (DATA 1 is
	// repeated), one with (the OACK is).
	plain, opts := clientConn(t), clientConn(t)
	plain.WriteTo(rrq(opRRQ, "f", "octet"), ts.addr)
	opts.WriteTo(rrq(opRRQ, "f", "octet", "blksize", "1000"), ts.addr)
	// Once both transfers have given up, every packet they sent is queued.
	for len(ts.records()) < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	ts.Shutdown(t.Context())
	for _, c := range []struct {
		conn net.PacketConn
		op   uint16
	}{{plain, opDATA}, {opts, opOACK}} {
		copies := 0
		buf := make([]byte, 2000)
		for {
			c.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, _, err := c.conn.ReadFrom(buf)
			if err != nil {
				break
			}
			if op := binary.BigEndian.Uint16(buf); op != c.op || n < 4 {
				t.Fatalf("got op %d, want %d", op, c.op)
			}
			copies++
		}
		if copies != 4 {
			t.Fatalf("%d copies of the first packet (op %d), want 1 + 3 retries", copies, c.op)
		}
	}
	for _, r := range ts.records() {
		if !errors.Is(r.Err, errTimeout) || r.Retransmits != 3 {
			t.Errorf("record err %v retransmits %d, want timeout after 3", r.Err, r.Retransmits)
		}
	}
}

func TestBusyAndClose(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", randomBytes(5000, 7))
	ts := startServer(t, dir, func(s *Server) { s.MaxTransfers = 2; s.Timeout = time.Minute })
	// Two transfers that never acknowledge hold both slots.
	stalled := []net.PacketConn{stall(t, ts.addr), stall(t, ts.addr)}
	got := rawRequest(t, ts.addr, rrq(opRRQ, "f", "octet"))
	if want := append([]byte{0, opERROR, 0, 0}, "server busy\x00"...); !bytes.Equal(got, want) {
		t.Fatalf("third request answered %q, want %q", got, want)
	}
	// Close aborts the stalled transfers with an error.
	ts.Close()
	for i, conn := range stalled {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 600)
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]byte{0, opERROR, 0, 0}, "server shutting down\x00"...); !bytes.Equal(buf[:n], want) {
			t.Fatalf("stalled %d got %q, want %q", i, buf[:n], want)
		}
	}
}

// stall starts a transfer of "f" that the client never acknowledges, and
// returns the client's socket once DATA 1 arrived.
func stall(t *testing.T, server net.Addr) net.PacketConn {
	t.Helper()
	conn := clientConn(t)
	conn.WriteTo(rrq(opRRQ, "f", "octet"), server)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 600)
	if _, _, err := conn.ReadFrom(buf); err != nil || binary.BigEndian.Uint16(buf) != opDATA {
		t.Fatalf("first packet: %v op %d", err, binary.BigEndian.Uint16(buf))
	}
	return conn
}

func TestAnswersFromTheRequestedAddress(t *testing.T) {
	// A server on a wildcard address answers each request from the
	// address it was sent to (IP_PKTINFO) and a new port: without that, a
	// request to 127.0.0.2 would be answered from 127.0.0.1. On [::], a
	// request to 127.0.0.1 arrives v4-mapped.
	dir := t.TempDir()
	writeFile(t, dir, "f", []byte("hello"))
	for _, tc := range []struct {
		listen string
		ips    []string
	}{
		{"0.0.0.0:0", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{"[::]:0", []string{"::1", "127.0.0.1", "127.0.0.2"}},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			s := &Server{Dir: dir}
			pc, err := net.ListenPacket("udp", tc.listen)
			if err != nil {
				t.Fatal(err)
			}
			go s.Serve(pc)
			t.Cleanup(func() { s.Close() })
			port := pc.LocalAddr().(*net.UDPAddr).Port
			for _, ip := range tc.ips {
				conn, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				var tid net.Addr
				c := testClient{OnServerTID: func(a net.Addr) { tid = a }}
				got, _, err := c.get(conn, &net.UDPAddr{IP: net.ParseIP(ip), Port: port}, "f")
				if err != nil {
					t.Fatalf("%s: %v", ip, err)
				}
				if string(got) != "hello" {
					t.Fatalf("%s: got %q", ip, got)
				}
				if ua := tid.(*net.UDPAddr); !ua.IP.Equal(net.ParseIP(ip)) || ua.Port == port {
					t.Fatalf("request to %s answered from %v, want %s and a new port", ip, tid, ip)
				}
			}
		})
	}
}

func TestManyClients(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{}
	for i := range 5 {
		name := fmt.Sprintf("f%d", i)
		files[name] = randomBytes(200_000+i*1000, uint64(10+i))
		writeFile(t, dir, name, files[name])
	}
	ts := startServer(t, dir, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("f%d", i%5)
			c := testClient{Blksize: 1468, Window: i%4 + 1}
			conn, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			got, _, err := c.get(conn, ts.addr, name)
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			} else if !bytes.Equal(got, files[name]) {
				errs <- fmt.Errorf("client %d: %s differs", i, name)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTransferTimeout(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", randomBytes(5000, 8))
	ts := startServer(t, dir, func(s *Server) {
		s.Timeout = time.Minute // no retransmission: only the transfer's bound ends it
		s.TransferTimeout = 50 * time.Millisecond
	})
	conn := stall(t, ts.addr) // DATA 1, then nothing until the deadline
	buf := make([]byte, 600)
	n, _, err := conn.ReadFrom(buf)
	if want := "\x00\x05\x00\x00transfer timed out\x00"; err != nil || string(buf[:n]) != want {
		t.Fatalf("got %q (%v), want %q", buf[:n], err, want)
	}
	ts.Shutdown(t.Context())
	if r := ts.records(); len(r) != 1 || !errors.Is(r[0].Err, context.DeadlineExceeded) {
		t.Fatalf("records %+v, want one ended by the deadline", r)
	}
}

func TestShutdown(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "f", randomBytes(5000, 9))
	t.Run("waits", func(t *testing.T) {
		// A stalled transfer ends by itself (3 retries of 10 ms): Shutdown
		// waits for it and reports no error; the client gets no abort.
		ts := startServer(t, dir, func(s *Server) { s.Timeout = 10 * time.Millisecond; s.Retries = 3 })
		stall(t, ts.addr)
		if err := ts.Shutdown(t.Context()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if r := ts.records(); len(r) != 1 || !errors.Is(r[0].Err, errTimeout) {
			t.Fatalf("records %+v", r)
		}
		// Addr still reports where it served.
		if ts.Addr() == nil {
			t.Fatal("Addr is nil")
		}
	})
	t.Run("aborts when ctx ends", func(t *testing.T) {
		ts := startServer(t, dir, func(s *Server) { s.Timeout = time.Minute })
		conn := stall(t, ts.addr)
		buf := make([]byte, 600)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := ts.Shutdown(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Shutdown: %v, want context.Canceled", err)
		}
		n, _, err := conn.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "\x00\x05\x00\x00server shutting down\x00" {
			t.Fatalf("client got %q, %v", buf[:n], err)
		}
	})
}
