package console

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Telnet bytes for the scripts.
const (
	iac, will, wont, do, dont, sb, se = 255, 251, 252, 253, 254, 250, 240
)

// opening is what the client sends first: DO SGA, WILL BINARY, DO BINARY.
var opening = []byte{iac, do, 3, iac, will, 0, iac, do, 0}

// fakeServer listens on loopback and hands the test each accepted
// connection. It keeps them all (an unreachable connection would be closed
// by the garbage collector, resetting the client) and closes them at the
// end of the test.
func fakeServer(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan net.Conn, 4)
	var mu sync.Mutex
	var all []net.Conn
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			all = append(all, c)
			mu.Unlock()
			select {
			case ch <- c:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range all {
			c.Close()
		}
	})
	return ln.Addr().String(), ch
}

// expect reads exactly len(want) bytes from r and compares them.
func expect(t *testing.T, r io.Reader, what string, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("%s: read %d bytes: %v (got %x)", what, len(want), err, got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got % x, want % x", what, got, want)
	}
}

func send(t *testing.T, w io.Writer, b ...byte) {
	t.Helper()
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
}

func readN(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
	}
	return b
}

func dialTest(t *testing.T, addr string, opts TelnetOptions) *Telnet {
	t.Helper()
	c, err := DialTelnet(context.Background(), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTelnetNegotiation(t *testing.T) {
	addr, conns := fakeServer(t)
	c := dialTest(t, addr, TelnetOptions{})
	s := <-conns
	expect(t, s, "opening", opening)

	send(t, s,
		iac, will, 1, // ECHO: accepted, DO ECHO
		iac, will, 3, // SGA: the answer to our DO, no reply
		iac, do, 0, // BINARY: the answer to our WILL
		iac, will, 0, // BINARY: the answer to our DO
		iac, do, 24, // TERMINAL-TYPE: refused, WONT
		iac, will, 200, // unknown: refused, DONT
		iac, do, 31, // NAWS: refused, WONT
		iac, dont, 24, // already off: no reply
		iac, wont, 201, // already off: no reply
		'd', 'a', 't', 'a', iac, iac, 0x80, '\r', 0, // binary: CR NUL kept
		iac, do, 3, // SGA from our side: accepted, WILL SGA
	)
	if got := string(readN(t, c, 8)); got != "data\xff\x80\r\x00" {
		t.Fatalf("read %q", got)
	}
	expect(t, s, "replies", []byte{
		iac, do, 1,
		iac, wont, 24,
		iac, dont, 200,
		iac, wont, 31,
		iac, will, 3,
	})
	if out, in := c.Binary(); !out || !in {
		t.Fatalf("binary out %v in %v, want both", out, in)
	}
	// 8-bit data and IAC escaping from the client.
	if _, err := c.Write([]byte("a\xffb\r\x00\xfe")); err != nil {
		t.Fatal(err)
	}
	expect(t, s, "escaped write", []byte("a\xff\xffb\r\x00\xfe"))

	// Repeated requests for what is already on get no answer (no loops):
	// the next thing the server reads is the client's data.
	send(t, s, iac, will, 1, iac, do, 0, iac, will, 0, 'x')
	if got := string(readN(t, c, 1)); got != "x" {
		t.Fatalf("read %q", got)
	}
	c.Write([]byte("z"))
	expect(t, s, "no reply to repeats", []byte("z"))

	// The server turns BINARY off: the client agrees and goes back to NVT.
	send(t, s, iac, wont, 0, iac, dont, 0, 'y', '\r', 0, 'w')
	if got := string(readN(t, c, 3)); got != "y\rw" {
		t.Fatalf("read %q", got)
	}
	c.Write([]byte("q\rr\r\n"))
	expect(t, s, "NVT", []byte{iac, dont, 0, iac, wont, 0, 'q', '\r', 'r', '\r', '\n'})
}

func TestTelnetCloseUnblocksRead(t *testing.T) {
	addr, conns := fakeServer(t)
	c := dialTest(t, addr, TelnetOptions{})
	<-conns
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		errc <- err
	}()
	c.Close()
	if err := <-errc; err == nil {
		t.Fatal("Read after Close returned no error")
	}
}

func TestTelnetEOF(t *testing.T) {
	addr, conns := fakeServer(t)
	c := dialTest(t, addr, TelnetOptions{})
	s := <-conns
	expect(t, s, "opening", opening)
	send(t, s, 'b', 'y', 'e', iac, will)
	s.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "bye" {
		t.Fatalf("ReadAll = %q, %v; want \"bye\", nil", got, err)
	}
}

func TestComPortCommands(t *testing.T) {
	tests := []struct {
		mode Mode
		want []byte
	}{
		{Mode{}, []byte{
			iac, sb, 44, 1, 0x00, 0x01, 0xc2, 0x00, iac, se, // 115200
			iac, sb, 44, 2, 8, iac, se,
			iac, sb, 44, 3, 1, iac, se, // NONE
			iac, sb, 44, 4, 1, iac, se, // 1
			iac, sb, 44, 5, 1, iac, se, // no flow control
		}},
		{Mode{Baud: 9600, DataBits: 7, Parity: ParityEven, StopBits: Stop2, Flow: FlowRTSCTS}, []byte{
			iac, sb, 44, 1, 0x00, 0x00, 0x25, 0x80, iac, se,
			iac, sb, 44, 2, 7, iac, se,
			iac, sb, 44, 3, 3, iac, se, // EVEN
			iac, sb, 44, 4, 2, iac, se,
			iac, sb, 44, 5, 3, iac, se, // HARDWARE
		}},
		{Mode{Baud: 0x12ff34, DataBits: 5, Parity: ParitySpace, StopBits: Stop1Half, Flow: FlowXONXOFF}, []byte{
			iac, sb, 44, 1, 0x00, 0x12, 0xff, 0xff, 0x34, iac, se, // IAC doubled
			iac, sb, 44, 2, 5, iac, se,
			iac, sb, 44, 3, 5, iac, se, // SPACE
			iac, sb, 44, 4, 3, iac, se, // 1.5
			iac, sb, 44, 5, 2, iac, se, // XON/XOFF
		}},
		{Mode{Parity: ParityOdd}, nil},
		{Mode{Parity: ParityMark}, nil},
	}
	for _, tc := range tests {
		got := comPortCommands(tc.mode)
		if tc.want == nil {
			want := byte(tc.mode.Parity) + 1
			if got[20] != 3 || got[21] != want {
				t.Errorf("%v: parity subnegotiation % x, want value %d", tc.mode, got[17:24], want)
			}
			continue
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%v:\n got % x\nwant % x", tc.mode, got, tc.want)
		}
	}
}

// comReplies are a server's confirmations of 9600 7E2 with RTS/CTS.
var comReplies = []byte{
	iac, sb, 44, 101, 0x00, 0x00, 0x25, 0x80, iac, se,
	iac, sb, 44, 102, 7, iac, se,
	iac, sb, 44, 103, 3, iac, se,
	iac, sb, 44, 104, 2, iac, se,
	iac, sb, 44, 105, 3, iac, se,
}

func TestTelnetRFC2217Handshake(t *testing.T) {
	addr, conns := fakeServer(t)
	mode := Mode{Baud: 9600, DataBits: 7, Parity: ParityEven, StopBits: Stop2, Flow: FlowRTSCTS}
	type result struct {
		c   *Telnet
		err error
	}
	res := make(chan result, 1)
	go func() {
		c, err := DialTelnet(context.Background(), addr, TelnetOptions{ComPort: &mode})
		res <- result{c, err}
	}()
	s := <-conns
	expect(t, s, "opening", append(append([]byte{}, opening...), iac, will, 44))
	send(t, s, iac, do, 44, iac, sb, 44, 107, 0, iac, se) // agree; a modem state notice
	expect(t, s, "settings", comPortCommands(mode))
	send(t, s, []byte("early")...)
	send(t, s, comReplies...)
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()
	st := r.c.ComPort()
	want := ComPortState{Agreed: true, Mode: mode, Confirmed: allFields}
	if st != want {
		t.Fatalf("ComPort() = %+v, want %+v", st, want)
	}
	if got := string(readN(t, r.c, 5)); got != "early" {
		t.Fatalf("data received during the handshake: %q", got)
	}

	// SetMode: confirmed through the read stream.
	next := Mode{Baud: 115200, Parity: ParityOdd}
	done := make(chan error, 1)
	go func() { done <- r.c.SetMode(context.Background(), next) }()
	expect(t, s, "new settings", comPortCommands(next))
	send(t, s,
		iac, sb, 44, 101, 0x00, 0x01, 0xc2, 0x00, iac, se,
		iac, sb, 44, 102, 8, iac, se,
		iac, sb, 44, 103, 2, iac, se,
		iac, sb, 44, 104, 1, iac, se,
		iac, sb, 44, 105, 1, iac, se,
		'k')
	if got := string(readN(t, r.c, 1)); got != "k" {
		t.Fatalf("read %q", got)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := r.c.ComPort().Mode; got != next.withDefaults() {
		t.Fatalf("mode after SetMode = %v, want %v", got, next.withDefaults())
	}
}

func TestTelnetRFC2217Failures(t *testing.T) {
	mode := Mode{Baud: 9600}
	tests := []struct {
		name   string
		script func(t *testing.T, s net.Conn)
		want   string
	}{
		{"refused", func(t *testing.T, s net.Conn) {
			send(t, s, iac, dont, 44)
		}, "refused COM-PORT-OPTION"},
		{"no answer", func(t *testing.T, s net.Conn) {}, "did not answer COM-PORT-OPTION"},
		{"partial confirmation", func(t *testing.T, s net.Conn) {
			send(t, s, iac, do, 44)
			send(t, s, comReplies[:17]...)
		}, "did not confirm parity,stop bits,flow control"},
		{"closed", func(t *testing.T, s net.Conn) {
			// Read what the client sent first, or closing resets.
			expect(t, s, "opening", append(append([]byte{}, opening...), iac, will, 44))
			s.Close()
		}, "EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := fakeServer(t)
			errc := make(chan error, 1)
			go func() {
				c, err := DialTelnet(context.Background(), addr, TelnetOptions{ComPort: &mode, NegotiationTimeout: 300 * time.Millisecond})
				if err == nil {
					c.Close()
				}
				errc <- err
			}()
			s := <-conns
			tc.script(t, s)
			err := <-errc
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestTelnetRFC2217ContextCancel(t *testing.T) {
	addr, conns := fakeServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := DialTelnet(ctx, addr, TelnetOptions{ComPort: &Mode{}, NegotiationTimeout: time.Hour})
		errc <- err
	}()
	s := <-conns
	expect(t, s, "opening", append(append([]byte{}, opening...), iac, will, 44))
	cancel()
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("error %v, want context canceled", err)
	}
}
