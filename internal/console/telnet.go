package console

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// RFC 2217 COM-PORT-OPTION subnegotiation commands, client to server; the
// server answers a command with its code plus 100.
const (
	cpSignature   = 0
	cpSetBaud     = 1
	cpSetDataSize = 2
	cpSetParity   = 3
	cpSetStopSize = 4
	cpSetControl  = 5
	cpReply       = 100
)

// DefaultNegotiationTimeout bounds the RFC 2217 handshake of DialTelnet
// when TelnetOptions.NegotiationTimeout is zero.
const DefaultNegotiationTimeout = 5 * time.Second

// readChunk is the size of one read from the network.
const readChunk = 32 << 10

// TelnetOptions configures a telnet console.
type TelnetOptions struct {
	// ComPort, when not nil, asks the server for RFC 2217 COM-PORT-OPTION
	// and sets the remote serial port to this mode. DialTelnet then waits
	// until the server confirmed every setting and fails if the server
	// refuses the option or does not confirm in time.
	ComPort *Mode
	// NegotiationTimeout bounds that wait (DefaultNegotiationTimeout when
	// zero).
	NegotiationTimeout time.Duration
	// Passive makes the client start no negotiation of its own (except
	// COM-PORT-OPTION when ComPort is set); it only answers the server's.
	// This is what the telnet program does when given a port other than
	// 23, and what a raw TCP port (no telnet on the server) needs: the
	// client's requests would reach the board as bytes.
	Passive bool
}

// ComPortField names one setting of a remote serial port.
type ComPortField uint8

// The settings an RFC 2217 server confirms.
const (
	FieldBaud ComPortField = 1 << iota
	FieldDataBits
	FieldParity
	FieldStopBits
	FieldFlow

	allFields = FieldBaud | FieldDataBits | FieldParity | FieldStopBits | FieldFlow
)

// String lists the fields ("baud,parity").
func (f ComPortField) String() string {
	var names []string
	for i, n := range []string{"baud", "data bits", "parity", "stop bits", "flow control"} {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// ComPortState is what an RFC 2217 server told the client.
type ComPortState struct {
	// Agreed is true once the server accepted COM-PORT-OPTION (sent DO).
	Agreed bool
	// Mode holds the values the server confirmed (its replies carry the
	// value in effect); Confirmed says which of its fields were confirmed
	// since the last settings were sent.
	Mode      Mode
	Confirmed ComPortField
}

// optState is one side of one telnet option: enabled, and whether we
// asked for a change whose answer has not come yet.
type optState struct{ on, asked bool }

// Telnet is a telnet client connection used as a console: Read returns the
// data the server sends with telnet commands removed, and Write sends data
// with IAC escaped. It answers the server's option negotiation itself: it
// accepts the server's ECHO, SUPPRESS-GO-AHEAD and BINARY, offers BINARY
// (so 8-bit data passes both ways once the server agrees) and, when asked
// to, COM-PORT-OPTION (RFC 2217); it refuses every other option. Until the
// server agreed to send BINARY, a received CR NUL is read as CR (NVT). The
// client sends data as it is, IAC doubled, but a bare CR is not followed
// by NUL even in NVT mode: console servers pass that NUL on to the board.
//
// One goroutine may Read while others Write; negotiation answers are
// written from Read.
type Telnet struct {
	conn net.Conn
	opts TelnetOptions

	// Reader side.
	p       tnParser
	raw     []byte
	pending []byte

	wmu  sync.Mutex // serialises writes to conn
	wbuf []byte

	mu     sync.Mutex // option and COM port state
	us     [256]optState
	him    [256]optState
	com    ComPortState
	comSig chan struct{} // closed and replaced when com changes
}

// DialTelnet connects to a telnet server at addr (host:port) and returns
// the console. With opts.ComPort set it also completes the RFC 2217
// handshake (see TelnetOptions). ctx bounds the dial and the handshake,
// not the connection's life.
func DialTelnet(ctx context.Context, addr string, opts TelnetOptions) (*Telnet, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("telnet %s: %w", addr, err)
	}
	t, err := NewTelnet(ctx, conn, opts)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("telnet %s: %w", addr, err)
	}
	return t, nil
}

// NewTelnet speaks telnet on an established connection (DialTelnet does
// this after dialing). It sends the client's opening negotiation and, with
// opts.ComPort set, waits for the RFC 2217 handshake, bounded by ctx and
// opts.NegotiationTimeout. It does not close conn on error.
func NewTelnet(ctx context.Context, conn net.Conn, opts TelnetOptions) (*Telnet, error) {
	if opts.ComPort != nil {
		if err := opts.ComPort.Validate(); err != nil {
			return nil, err
		}
	}
	t := &Telnet{conn: conn, opts: opts, raw: make([]byte, readChunk), comSig: make(chan struct{})}
	var open []byte
	if !opts.Passive {
		open = append(open, tnIAC, tnDO, optSGA, tnIAC, tnWILL, optBinary, tnIAC, tnDO, optBinary)
		t.him[optSGA].asked = true
		t.us[optBinary].asked = true
		t.him[optBinary].asked = true
	}
	if opts.ComPort != nil {
		open = append(open, tnIAC, tnWILL, optComPort)
		t.us[optComPort].asked = true
	}
	if len(open) > 0 {
		if err := t.writeRaw(open); err != nil {
			return nil, fmt.Errorf("send negotiation: %w", err)
		}
	}
	if opts.ComPort != nil {
		if err := t.handshake(ctx); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// handshake reads (keeping the data for Read) until the server confirmed
// every COM port setting, refused the option, or time ran out.
func (t *Telnet) handshake(ctx context.Context) error {
	timeout := t.opts.NegotiationTimeout
	if timeout <= 0 {
		timeout = DefaultNegotiationTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = t.conn.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = t.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer func() {
		stop()
		_ = t.conn.SetReadDeadline(time.Time{})
	}()
	for {
		t.mu.Lock()
		agreed, asked, confirmed := t.com.Agreed, t.us[optComPort].asked, t.com.Confirmed
		t.mu.Unlock()
		switch {
		case !agreed && !asked:
			return errors.New("RFC 2217: the server refused COM-PORT-OPTION (is the port configured with telnet(rfc2217)?)")
		case agreed && confirmed == allFields:
			return nil
		}
		if err := t.fill(); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("RFC 2217 handshake: %w", context.Cause(ctx))
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if !agreed {
					return fmt.Errorf("RFC 2217: the server did not answer COM-PORT-OPTION within %v", timeout)
				}
				return fmt.Errorf("RFC 2217: the server did not confirm %v within %v", allFields&^confirmed, timeout)
			}
			return fmt.Errorf("RFC 2217 handshake: %w", err)
		}
	}
}

// fill reads once from the network and appends the decoded data to
// pending.
func (t *Telnet) fill() error {
	n, err := t.conn.Read(t.raw)
	if n > 0 {
		t.pending = t.p.feed(t.raw[:n], t.pending, t.handle)
	}
	return err
}

// Read reads console data, with telnet commands removed.
func (t *Telnet) Read(b []byte) (int, error) {
	for len(t.pending) == 0 {
		if err := t.fill(); err != nil {
			if len(t.pending) > 0 {
				break
			}
			return 0, err
		}
	}
	n := copy(b, t.pending)
	t.pending = t.pending[:copy(t.pending, t.pending[n:])]
	return n, nil
}

// Write sends b as console data, IAC doubled and nothing else changed
// (see the Telnet doc). It returns len(b) when all was sent.
func (t *Telnet) Write(b []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.wbuf = escapeIAC(t.wbuf[:0], b)
	if _, err := t.conn.Write(t.wbuf); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close closes the connection; a blocked Read returns an error.
func (t *Telnet) Close() error { return t.conn.Close() }

// ComPort returns what the server said about COM-PORT-OPTION.
func (t *Telnet) ComPort() ComPortState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.com
}

// Binary reports whether BINARY is in effect from the client to the server
// (out) and from the server to the client (in).
func (t *Telnet) Binary() (out, in bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.us[optBinary].on, t.him[optBinary].on
}

// SetMode sends new serial settings to an RFC 2217 server and waits until
// the server confirmed all of them or ctx ends. The confirmations arrive
// on the read stream, so a goroutine must be reading the console
// meanwhile.
func (t *Telnet) SetMode(ctx context.Context, m Mode) error {
	if err := m.Validate(); err != nil {
		return err
	}
	t.mu.Lock()
	if !t.com.Agreed {
		t.mu.Unlock()
		return errors.New("RFC 2217: COM-PORT-OPTION not agreed with the server")
	}
	t.com.Confirmed = 0
	t.mu.Unlock()
	if err := t.writeRaw(comPortCommands(m)); err != nil {
		return fmt.Errorf("RFC 2217: send settings: %w", err)
	}
	for {
		t.mu.Lock()
		done, sig := t.com.Confirmed == allFields, t.comSig
		t.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-sig:
		case <-ctx.Done():
			return fmt.Errorf("RFC 2217: waiting for the server to confirm the settings: %w", context.Cause(ctx))
		}
	}
}

func (t *Telnet) writeRaw(b []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	_, err := t.conn.Write(b)
	return err
}

// handle answers one command from the server (called by the parser).
func (t *Telnet) handle(ev tnEvent) {
	var reply []byte
	t.mu.Lock()
	switch ev.cmd {
	case tnWILL, tnWONT:
		reply = negotiate(&t.him[ev.opt], ev.cmd == tnWILL, t.hisOption(ev.opt), tnDO, tnDONT, ev.opt)
		if ev.opt == optBinary {
			t.p.binary = t.him[optBinary].on
			t.p.crPending = false
		}
	case tnDO, tnDONT:
		was := t.us[ev.opt].on
		reply = negotiate(&t.us[ev.opt], ev.cmd == tnDO, t.myOption(ev.opt), tnWILL, tnWONT, ev.opt)
		if ev.opt == optComPort {
			t.com.Agreed = t.us[optComPort].on
			if t.com.Agreed && !was && t.opts.ComPort != nil {
				t.com.Confirmed = 0
				reply = append(reply, comPortCommands(*t.opts.ComPort)...)
			}
			t.signal()
		}
	case tnSB:
		if ev.opt == optComPort && len(ev.data) > 0 {
			t.comReply(ev.data)
		}
	}
	t.mu.Unlock()
	if len(reply) > 0 {
		_ = t.writeRaw(reply) // a broken connection shows on the next Read
	}
}

func (t *Telnet) hisOption(opt byte) bool {
	return opt == optBinary || opt == optEcho || opt == optSGA
}

func (t *Telnet) myOption(opt byte) bool {
	return opt == optBinary || opt == optSGA || (opt == optComPort && t.opts.ComPort != nil)
}

// negotiate updates one side of an option for a request (enable or not)
// and returns the answer to send, if any. It never answers a request that
// changes nothing, which prevents negotiation loops (RFC 854's rule).
func negotiate(s *optState, enable, supported bool, yes, no, opt byte) []byte {
	asked := s.asked
	s.asked = false
	if enable {
		if s.on {
			return nil
		}
		if !supported {
			return []byte{tnIAC, no, opt}
		}
		s.on = true
		if asked {
			return nil
		}
		return []byte{tnIAC, yes, opt}
	}
	if !s.on {
		return nil
	}
	s.on = false
	if asked {
		return nil
	}
	return []byte{tnIAC, no, opt}
}

func (t *Telnet) signal() {
	close(t.comSig)
	t.comSig = make(chan struct{})
}

// comReply records an RFC 2217 server reply (code and value).
func (t *Telnet) comReply(d []byte) {
	code, v := d[0], d[1:]
	if code < cpReply {
		return // a server request (such as a signature query): ignored
	}
	m := &t.com.Mode
	switch code - cpReply {
	case cpSetBaud:
		if len(v) == 4 {
			m.Baud = int(binary.BigEndian.Uint32(v))
			t.com.Confirmed |= FieldBaud
		}
	case cpSetDataSize:
		if len(v) == 1 {
			m.DataBits = int(v[0])
			t.com.Confirmed |= FieldDataBits
		}
	case cpSetParity:
		if len(v) == 1 && v[0] >= 1 && v[0] <= 5 {
			m.Parity = Parity(v[0] - 1)
			t.com.Confirmed |= FieldParity
		}
	case cpSetStopSize:
		if len(v) == 1 {
			switch v[0] {
			case 1:
				m.StopBits, t.com.Confirmed = Stop1, t.com.Confirmed|FieldStopBits
			case 2:
				m.StopBits, t.com.Confirmed = Stop2, t.com.Confirmed|FieldStopBits
			case 3:
				m.StopBits, t.com.Confirmed = Stop1Half, t.com.Confirmed|FieldStopBits
			}
		}
	case cpSetControl:
		if len(v) == 1 {
			switch v[0] {
			case 1:
				m.Flow, t.com.Confirmed = FlowNone, t.com.Confirmed|FieldFlow
			case 2:
				m.Flow, t.com.Confirmed = FlowXONXOFF, t.com.Confirmed|FieldFlow
			case 3:
				m.Flow, t.com.Confirmed = FlowRTSCTS, t.com.Confirmed|FieldFlow
			}
		}
	default:
		return
	}
	t.signal()
}

// comPortCommands returns the RFC 2217 subnegotiations that set mode m:
// baud rate, data size, parity, stop size and flow control, in that order.
func comPortCommands(m Mode) []byte {
	m = m.withDefaults()
	var baud [4]byte
	binary.BigEndian.PutUint32(baud[:], uint32(m.Baud))
	stop := byte(1)
	switch m.StopBits {
	case Stop2:
		stop = 2
	case Stop1Half:
		stop = 3
	}
	control := byte(1)
	switch m.Flow {
	case FlowXONXOFF:
		control = 2
	case FlowRTSCTS:
		control = 3
	}
	var out []byte
	for _, c := range []struct {
		code byte
		val  []byte
	}{
		{cpSetBaud, baud[:]},
		{cpSetDataSize, []byte{byte(m.DataBits)}},
		{cpSetParity, []byte{byte(m.Parity) + 1}},
		{cpSetStopSize, []byte{stop}},
		{cpSetControl, []byte{control}},
	} {
		out = append(out, tnIAC, tnSB, optComPort, c.code)
		out = escapeIAC(out, c.val)
		out = append(out, tnIAC, tnSE)
	}
	return out
}
