package tftp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"time"
)

// transfer is one read request being served.
type transfer struct {
	s     *Server
	req   request
	peer  net.Addr
	local netip.Addr
	conn  net.PacketConn
	rec   Transfer

	blksize int
	window  int
	timeout time.Duration
	src     blockSource
	pkt     []byte // send buffer: 4-byte header + blksize
	in      []byte // receive buffer
}

// blockSource yields the blocks of a transfer, numbered from 1. block(n)
// is only asked for n no more than one past the highest block asked so
// far, and no less than that highest minus the window plus one.
type blockSource interface {
	block(n uint64, p []byte) (int, error)
}

// readerAtSource reads blocks in place with ReadAt.
type readerAtSource struct {
	ra      io.ReaderAt
	blksize int
}

func (r readerAtSource) block(n uint64, p []byte) (int, error) {
	m, err := r.ra.ReadAt(p, int64(n-1)*int64(r.blksize))
	if err == io.EOF {
		err = nil
	}
	return m, err
}

// streamSource reads blocks from a stream and keeps the last window of
// them for retransmission.
type streamSource struct {
	r       io.Reader
	ring    [][]byte
	lens    []int
	high    uint64 // highest block read
	blksize int
	eof     bool
}

func (s *streamSource) block(n uint64, p []byte) (int, error) {
	slot := int(n % uint64(len(s.ring)))
	if n <= s.high {
		if s.high-n >= uint64(len(s.ring)) {
			return 0, errors.New("tftp: block no longer buffered")
		}
		return copy(p, s.ring[slot][:s.lens[slot]]), nil
	}
	if n != s.high+1 {
		return 0, errors.New("tftp: block asked out of order")
	}
	if s.ring[slot] == nil {
		s.ring[slot] = make([]byte, s.blksize)
	}
	m := 0
	if !s.eof {
		var err error
		m, err = io.ReadFull(s.r, s.ring[slot])
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			s.eof = true
		case err != nil:
			return 0, err
		}
	}
	s.lens[slot] = m
	s.high = n
	return copy(p, s.ring[slot][:m]), nil
}

var errTimeout = errors.New("tftp: retransmissions exhausted")

// run serves the request to its end and fills t.rec.
func (t *transfer) run(ctx context.Context) {
	s := t.s
	listen := s.listenTransfer
	if listen == nil {
		listen = listenUDP
	}
	conn, err := listen(t.local)
	if err != nil {
		s.conn.WriteTo(appendError(nil, CodeNotDefined, "server error"), t.peer)
		t.rec.Err = fmt.Errorf("tftp: transfer socket: %w", err)
		return
	}
	defer conn.Close()
	t.conn = conn
	t.rec.Local = conn.LocalAddr()

	// Errors are sent from the transfer's own socket too, as RFC 1350
	// asks: what a client sends back (tftp-hpa acknowledges errors) then
	// goes to that socket, not to the server's port.
	f, fi, terr := s.open(t.req.filename)
	if terr != nil {
		conn.WriteTo(appendError(nil, terr.Code, terr.Message), t.peer)
		t.rec.Err = terr
		return
	}
	defer f.Close()
	oack := t.negotiate(f, fi.Size())
	t.rec.BlockSize, t.rec.Window = t.blksize, t.window

	ctx, cancel := context.WithTimeout(ctx, s.transferTimeout())
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()

	if t.req.mode == "octet" {
		if ra, ok := f.(io.ReaderAt); ok {
			t.src = readerAtSource{ra: ra, blksize: t.blksize}
		}
	}
	if t.src == nil {
		var r io.Reader = f
		if t.req.mode == "netascii" {
			r = newNetasciiReader(f)
		}
		t.src = &streamSource{r: r, ring: make([][]byte, t.window), lens: make([]int, t.window), blksize: t.blksize}
	}
	t.pkt = make([]byte, 4+t.blksize)
	t.in = make([]byte, maxPacketSize)

	if len(oack) > 0 {
		if err := t.sendOACK(ctx, oack); err != nil {
			t.fail(ctx, err)
			return
		}
	}
	if err := t.sendData(ctx); err != nil {
		t.fail(ctx, err)
	}
}

// fail records err and tells the client, unless the client sent it.
func (t *transfer) fail(ctx context.Context, err error) {
	t.rec.Err = err
	var te *Error
	switch {
	case errors.As(err, &te) && te.Peer:
		return
	case errors.As(err, &te):
		t.conn.WriteTo(appendError(nil, te.Code, te.Message), t.peer)
	case ctx.Err() != nil && t.s.isClosed():
		t.conn.WriteTo(appendError(nil, CodeNotDefined, "server shutting down"), t.peer)
	case errors.Is(err, errTimeout):
		// The client is gone; an error packet would go nowhere.
	case ctx.Err() != nil:
		t.conn.WriteTo(appendError(nil, CodeNotDefined, "transfer timed out"), t.peer)
	default:
		t.conn.WriteTo(appendError(nil, CodeNotDefined, "read error"), t.peer)
	}
}

// sendOACK sends the option acknowledgement until the client acknowledges
// it with ACK 0.
func (t *transfer) sendOACK(ctx context.Context, opts []option) error {
	pkt := appendOACK(nil, opts)
	for tries := 0; ; tries++ {
		if tries > 0 {
			if tries > t.s.retries() {
				return errTimeout
			}
			t.rec.Retransmits++
		}
		if _, err := t.conn.WriteTo(pkt, t.peer); err != nil {
			return fmt.Errorf("tftp: send: %w", err)
		}
		deadline := time.Now().Add(t.timeout)
		for {
			op, n, err := t.receive(ctx, deadline)
			if err != nil {
				return err
			}
			if op == 0 {
				break // timeout: send again
			}
			if op == opACK && n == 0 {
				return nil
			}
		}
	}
}

// sendData sends the file's blocks, window by window, until the client
// acknowledges the last one. Block numbers wrap from 65535 to 0.
func (t *transfer) sendData(ctx context.Context) error {
	var acked uint64 // last block acknowledged
	var last uint64  // number of the final (short) block, 0 while unknown
	var lastLen int  // its length
	tries := 0
	for {
		// Send the window after the last acknowledged block.
		var sent uint64
		for b := acked + 1; b <= acked+uint64(t.window) && (last == 0 || b <= last); b++ {
			m, err := t.src.block(b, t.pkt[4:])
			if err != nil {
				return fmt.Errorf("tftp: read %s: %w", t.req.filename, err)
			}
			binary.BigEndian.PutUint16(t.pkt[0:], opDATA)
			binary.BigEndian.PutUint16(t.pkt[2:], uint16(b))
			if _, err := t.conn.WriteTo(t.pkt[:4+m], t.peer); err != nil {
				return fmt.Errorf("tftp: send: %w", err)
			}
			sent = b
			if m < t.blksize {
				last, lastLen = b, m
				break
			}
		}
		// Wait for an acknowledgement that moves the window.
		deadline := time.Now().Add(t.timeout)
		moved := false
		for !moved {
			op, n, err := t.receive(ctx, deadline)
			if err != nil {
				return err
			}
			if op == 0 {
				tries++
				if tries > t.s.retries() {
					return errTimeout
				}
				t.rec.Retransmits += int(sent - acked)
				break
			}
			if op != opACK {
				continue
			}
			delta := uint64(n - uint16(acked))
			if delta == 0 || delta > sent-acked {
				// A duplicate or stale ACK: ignored, never answered, so
				// no sorcerer's apprentice; the timeout resends.
				continue
			}
			acked += delta
			tries = 0
			moved = true
			if last != 0 && acked == last {
				t.rec.Bytes = int64(last-1)*int64(t.blksize) + int64(lastLen)
				return nil
			}
		}
		t.rec.Bytes = int64(acked) * int64(t.blksize)
	}
}

// receive waits until deadline for a packet from the client. It returns op
// 0 on timeout, opACK with the block number, or another opcode; an ERROR
// from the client is returned as its *Error. Packets from other addresses
// get error 5 and are otherwise ignored.
func (t *transfer) receive(ctx context.Context, deadline time.Time) (uint16, uint16, error) {
	for {
		t.conn.SetReadDeadline(deadline)
		// Checked after setting the deadline: the AfterFunc that cuts the
		// read short on cancellation may have run just before.
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		n, from, err := t.conn.ReadFrom(t.in)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return 0, 0, cerr
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, 0, nil
			}
			return 0, 0, fmt.Errorf("tftp: receive: %w", err)
		}
		if !sameAddr(from, t.peer) {
			t.conn.WriteTo(appendError(nil, CodeUnknownTID, "unknown transfer ID"), from)
			continue
		}
		if n < 4 {
			continue
		}
		op := binary.BigEndian.Uint16(t.in)
		switch op {
		case opACK:
			return opACK, binary.BigEndian.Uint16(t.in[2:]), nil
		case opERROR:
			return 0, 0, parseError(t.in[2:n])
		default:
			return 0, 0, &Error{Code: CodeIllegal, Message: "illegal TFTP operation"}
		}
	}
}

// sameAddr reports whether a and b are the same UDP address.
func sameAddr(a, b net.Addr) bool {
	ua, ok1 := a.(*net.UDPAddr)
	ub, ok2 := b.(*net.UDPAddr)
	if ok1 && ok2 {
		return ua.Port == ub.Port && ua.IP.Equal(ub.IP)
	}
	return a.String() == b.String()
}

// listenUDP opens a transfer socket on local (any address if invalid) and
// an ephemeral port.
func listenUDP(local netip.Addr) (net.PacketConn, error) {
	la := &net.UDPAddr{}
	if local.IsValid() {
		la.IP = local.AsSlice()
		la.Zone = local.Zone()
	}
	return net.ListenUDP("udp", la)
}

// openRegular opens name under root for reading without blocking on FIFOs
// or devices, which open then refuses as not regular files.
func openRegular(root *os.Root, name string) (fs.File, error) {
	return root.OpenFile(name, os.O_RDONLY|openNonblock, 0)
}
