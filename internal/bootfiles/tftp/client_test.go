package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// testClient is a minimal TFTP read client for tests and benchmarks.
type testClient struct {
	Mode    string // "octet" if empty
	Blksize int    // option sent when > 0
	Window  int    // option sent when > 0
	Tsize   bool   // send tsize 0
	Timeout time.Duration
	Retries int
	// DupAcks sends every ACK twice.
	DupAcks bool
	// DropAck, if set, is asked before each ACK is sent (the count of ACKs
	// so far, the block number); true drops it.
	DropAck func(i int, block uint16) bool
	// OnServerTID is called with the server's transfer address once known.
	OnServerTID func(net.Addr)
	// OnData is called for every DATA packet received (before handling).
	OnData func(block uint16, n int)
	// StopAfter stops acknowledging after this many blocks (0: never).
	StopAfter int
	// Into, if set, is reset and receives the data (benchmarks reuse it).
	Into *bytes.Buffer
}

// clientResult is what the server said besides the data.
type clientResult struct {
	OACK    map[string]string // nil if the server sent no OACK
	Blocks  int               // DATA packets accepted
	DataRcv int               // DATA packets received, duplicates included
}

func (c *testClient) get(conn net.PacketConn, server net.Addr, file string) ([]byte, clientResult, error) {
	var res clientResult
	mode := strings.ToLower(c.Mode)
	if mode == "" {
		mode = "octet"
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = time.Second
	}
	retries := c.Retries
	if retries == 0 {
		retries = 5
	}
	rrq := binary.BigEndian.AppendUint16(nil, opRRQ)
	rrq = append(append(rrq, file...), 0)
	rrq = append(append(rrq, c.Mode+map[bool]string{true: "octet"}[c.Mode == ""]...), 0)
	addOpt := func(k, v string) { rrq = append(append(append(append(rrq, k...), 0), v...), 0) }
	if c.Blksize > 0 {
		addOpt("blksize", strconv.Itoa(c.Blksize))
	}
	if c.Tsize {
		addOpt("tsize", "0")
	}
	if c.Window > 0 {
		addOpt("windowsize", strconv.Itoa(c.Window))
	}
	blksize, window := 512, 1
	out := c.Into
	if out == nil {
		out = new(bytes.Buffer)
	}
	out.Reset()
	var peer net.Addr
	var lastAck []byte = rrq
	acks := 0
	sinceAckPkts := 0 // DATA packets received since the last ACK sent
	sendAck := func(b uint16) error {
		pkt := binary.BigEndian.AppendUint16(nil, opACK)
		pkt = binary.BigEndian.AppendUint16(pkt, b)
		lastAck = pkt
		acks++
		sinceAckPkts = 0
		if c.DropAck != nil && c.DropAck(acks, b) {
			return nil
		}
		if _, err := conn.WriteTo(pkt, peer); err != nil {
			return err
		}
		if c.DupAcks {
			_, err := conn.WriteTo(pkt, peer)
			return err
		}
		return nil
	}
	if _, err := conn.WriteTo(rrq, server); err != nil {
		return nil, res, err
	}
	var expect uint16 = 1
	sinceAck := 0
	nacked := false // an ACK for an out-of-order block was sent since progress
	tries := 0
	buf := make([]byte, 65536+4)
	for {
		conn.SetReadDeadline(time.Now().Add(timeout))
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tries++
				if tries > retries {
					return out.Bytes(), res, fmt.Errorf("client: timeout after %d blocks", res.Blocks)
				}
				to := peer
				if to == nil {
					to = server
				}
				if _, err := conn.WriteTo(lastAck, to); err != nil {
					return nil, res, err
				}
				continue
			}
			return nil, res, err
		}
		if peer == nil {
			peer = from
			if c.OnServerTID != nil {
				c.OnServerTID(from)
			}
		} else if from.String() != peer.String() {
			conn.WriteTo(appendError(nil, CodeUnknownTID, "unknown transfer ID"), from)
			continue
		}
		if n < 2 {
			return nil, res, errors.New("client: short packet")
		}
		switch binary.BigEndian.Uint16(buf) {
		case opERROR:
			return nil, res, parseError(buf[2:n])
		case opOACK:
			if res.OACK != nil || res.Blocks > 0 {
				continue // duplicate OACK
			}
			res.OACK = map[string]string{}
			f := strings.Split(string(buf[2:n]), "\x00")
			for i := 0; i+1 < len(f); i += 2 {
				res.OACK[f[i]] = f[i+1]
			}
			if v, ok := res.OACK["blksize"]; ok {
				blksize, _ = strconv.Atoi(v)
			}
			if v, ok := res.OACK["windowsize"]; ok {
				window, _ = strconv.Atoi(v)
			}
			if v, err := strconv.Atoi(res.OACK["tsize"]); err == nil && v < 1<<30 {
				out.Grow(v)
			}
			tries = 0
			if err := sendAck(0); err != nil {
				return nil, res, err
			}
		case opDATA:
			if n < 4 {
				return nil, res, errors.New("client: short DATA")
			}
			b := binary.BigEndian.Uint16(buf[2:])
			res.DataRcv++
			sinceAckPkts++
			if c.OnData != nil {
				c.OnData(b, n-4)
			}
			if b != expect {
				// Out of order: acknowledge the last block in order, once,
				// and again after a window's worth of packets without
				// progress (the server resending a window we lost the
				// ACK of).
				if !nacked || sinceAckPkts > window {
					nacked = true
					if err := sendAck(expect - 1); err != nil {
						return nil, res, err
					}
				}
				sinceAck = 0
				continue
			}
			if n-4 > blksize {
				return nil, res, fmt.Errorf("client: block %d has %d bytes > blksize %d", b, n-4, blksize)
			}
			out.Write(buf[4:n])
			res.Blocks++
			tries = 0
			nacked = false
			expect++
			sinceAck++
			if c.StopAfter > 0 && res.Blocks >= c.StopAfter {
				return out.Bytes(), res, errors.New("client: stopped")
			}
			final := n-4 < blksize
			if final || sinceAck >= window {
				sinceAck = 0
				if err := sendAck(b); err != nil {
					return nil, res, err
				}
			}
			if final {
				if mode == "netascii" {
					return fromNetascii(out.Bytes()), res, nil
				}
				return out.Bytes(), res, nil
			}
		default:
			return nil, res, fmt.Errorf("client: unexpected opcode %d", binary.BigEndian.Uint16(buf))
		}
	}
}

// fromNetascii undoes the netascii conversion: CR LF -> LF, CR NUL -> CR.
func fromNetascii(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] == '\r' && i+1 < len(b) {
			switch b[i+1] {
			case '\n':
				out = append(out, '\n')
				i++
				continue
			case 0:
				out = append(out, '\r')
				i++
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}
