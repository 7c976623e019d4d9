//go:build linux

package console

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const ser2netPath = "/usr/sbin/ser2net"

// board is a pseudo-terminal standing for a board's serial line: ser2net
// (or Serial) opens its slave, the test plays the board on its master. The
// test keeps a slave fd open too, so the line does not hang up between
// ser2net runs and its termios can be read back.
type board struct {
	master, slave *os.File
	path          string
}

func newBoard(t *testing.T) *board {
	t.Helper()
	m, s, err := openPTY(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := makeRaw(int(s.Fd())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return &board{master: m, slave: s, path: s.Name()}
}

// readExactly reads n bytes the board receives, failing after 10 s.
func (b *board) readExactly(t *testing.T, n int) []byte {
	t.Helper()
	b.master.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer b.master.SetReadDeadline(time.Time{})
	return readN(t, b.master, n)
}

// readUntil reads what the board receives until it ends with suffix.
func (b *board) readUntil(t *testing.T, suffix string) string {
	t.Helper()
	b.master.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer b.master.SetReadDeadline(time.Time{})
	var got []byte
	buf := make([]byte, 1)
	for !bytes.HasSuffix(got, []byte(suffix)) {
		if _, err := b.master.Read(buf); err != nil {
			t.Fatalf("board waiting for %q: %v (got %q)", suffix, err, got)
		}
		got = append(got, buf[0])
	}
	return string(got)
}

// checkLine checks that the board's line is set to want, as far as a
// pseudo-terminal shows it: Linux's pty driver forces 8 data bits and
// clears PARENB, but keeps PARODD (odd or mark parity), the baud rate, the
// stop bits and the flow control.
func (b *board) checkLine(t *testing.T, want Mode) {
	t.Helper()
	want = want.withDefaults()
	got, err := ReadMode(int(b.slave.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	tio, err := unix.IoctlGetTermios(int(b.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	odd := tio.Cflag&unix.PARODD != 0
	onPTY := want
	onPTY.DataBits, onPTY.Parity = 8, ParityNone
	if got != onPTY || odd != (want.Parity == ParityOdd || want.Parity == ParityMark) {
		t.Fatalf("the board's line is %v (PARODD %v), want %v as a pty shows it (%v, PARODD %v)", got, odd, want, onPTY, !odd)
	}
}

// ser2net is a ser2net 4 process serving one board over telnet with
// RFC 2217 on a loopback port.
type ser2net struct {
	t      *testing.T
	config string
	port   int
	mu     sync.Mutex
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan struct{}
}

// listening reports whether a socket listens on 127.0.0.1:port (from
// /proc/net/tcp: local address 0100007F:PORT in state 0A).
func listening(t *testing.T, port int) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}

// freePort returns a loopback TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startSer2net(t *testing.T, b *board) *ser2net {
	t.Helper()
	if _, err := os.Stat(ser2netPath); err != nil {
		t.Fatalf("%s not found: install the Debian package ser2net (%v)", ser2netPath, err)
	}
	s := &ser2net{t: t, port: freePort(t), config: filepath.Join(t.TempDir(), "ser2net.yaml")}
	cfg := fmt.Sprintf(`%%YAML 1.1
---
connection: &board
  accepter: telnet(rfc2217),tcp,127.0.0.1,%d
  connector: serialdev,%s,115200n81,local
`, s.port, b.path)
	if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *ser2net) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// start runs ser2net in the foreground (-n) with only the test's
// configuration (-c; /etc/ser2net is not read), without UUCP locks (-u),
// and waits until it accepts connections.
func (s *ser2net) start() {
	t := s.t
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &bytes.Buffer{}
	cmd := exec.Command(ser2netPath, "-n", "-u", "-d", "-c", s.config)
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: out}, &lockedWriter{w: out}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ser2net: %v", err)
	}
	s.cmd, s.out = cmd, out
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for i := 0; ; i++ {
		select {
		case <-exited:
			t.Fatalf("ser2net exited at start: %s", out)
		default:
		}
		// Not by connecting: a connection would make ser2net open the
		// line, and could take the place of the console's.
		if listening(t, s.port) {
			break
		}
		if i > 500 {
			t.Fatalf("ser2net does not listen on %s: %s", s.addr(), out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.exited = exited
}

func (s *ser2net) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// allBytes is every byte value, twice, 0xFF next to 0xFF and CR next to
// NUL included.
func allBytes() []byte {
	var b []byte
	for i := 0; i < 512; i++ {
		b = append(b, byte(i))
	}
	return append(b, '\r', 0, 0xff, 0xff, '\r', '\n', 0xff)
}

func TestSer2netBytesBothWays(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts TelnetOptions
	}{
		{"telnet", TelnetOptions{}},
		{"rfc2217", TelnetOptions{ComPort: &Mode{Baud: 115200}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A ser2net each: a port takes one client, and ser2net takes
			// a moment to release it after a client leaves.
			b := newBoard(t)
			s := startSer2net(t, b)
			c := dialTest(t, s.addr(), tc.opts)
			data := allBytes()
			// Console to board.
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
			if got := b.readExactly(t, len(data)); !bytes.Equal(got, data) {
				t.Fatalf("the board received\n% x\nwant\n% x", got, data)
			}
			// Board to console.
			if _, err := b.master.Write(data); err != nil {
				t.Fatal(err)
			}
			if got := readN(t, c, len(data)); !bytes.Equal(got, data) {
				t.Fatalf("the console read\n% x\nwant\n% x", got, data)
			}
			// A line typed reaches the board as typed.
			if _, err := io.WriteString(c, "root\n"); err != nil {
				t.Fatal(err)
			}
			if got := string(b.readExactly(t, 5)); got != "root\n" {
				t.Fatalf("the board received %q", got)
			}
			c.Close()
		})
	}
}

func TestSer2netRFC2217Mode(t *testing.T) {
	b := newBoard(t)
	s := startSer2net(t, b)
	mode := Mode{Baud: 9600, DataBits: 7, Parity: ParityOdd, StopBits: Stop2}
	c := dialTest(t, s.addr(), TelnetOptions{ComPort: &mode})
	if st := c.ComPort(); st.Confirmed != allFields || st.Mode != mode.withDefaults() {
		t.Fatalf("ser2net confirmed %+v, want %v", st, mode)
	}
	b.checkLine(t, mode)

	// Change it while a reader runs (the confirmations come on the read
	// stream).
	go io.Copy(io.Discard, c)
	next := Mode{Baud: 57600, DataBits: 8, Parity: ParityEven, StopBits: Stop1, Flow: FlowRTSCTS}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.SetMode(ctx, next); err != nil {
		t.Fatal(err)
	}
	if got := c.ComPort().Mode; got != next.withDefaults() {
		t.Fatalf("ser2net confirmed %v, want %v", got, next)
	}
	b.checkLine(t, next)
}

func TestSer2netRestartReconnects(t *testing.T) {
	b := newBoard(t)
	s := startSer2net(t, b)
	var (
		mu   sync.Mutex
		lost []error
		gaps []Gap
	)
	lostc := make(chan struct{}, 1)
	r, err := Keep(context.Background(), func(ctx context.Context) (io.ReadWriteCloser, error) {
		return DialTelnet(ctx, s.addr(), TelnetOptions{})
	}, KeepOptions{
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		OnLost: func(at time.Time, cause error) {
			mu.Lock()
			lost = append(lost, cause)
			mu.Unlock()
			select {
			case lostc <- struct{}{}:
			default:
			}
		},
		OnBack: func(g Gap) {
			mu.Lock()
			gaps = append(gaps, g)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := make(chan []byte, 64)
	go func() {
		defer close(out)
		for {
			buf := make([]byte, 4096)
			n, err := r.Read(buf)
			if n > 0 {
				out <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(want string) {
		t.Helper()
		var got []byte
		timeout := time.After(10 * time.Second)
		for !bytes.Contains(got, []byte(want)) {
			select {
			case d, ok := <-out:
				if !ok {
					t.Fatalf("console ended waiting for %q (got %q)", want, got)
				}
				got = append(got, d...)
			case <-timeout:
				t.Fatalf("console: no %q after 10 s (got %q); ser2net said:\n%s", want, got, s.output())
			}
		}
	}

	// The console speaks first: ser2net opens the line when a client
	// connects (and flushes what the board sent before).
	io.WriteString(r, "typed1\n")
	b.readUntil(t, "typed1\n")
	b.master.Write([]byte("before\n"))
	waitFor("before\n")

	s.stop()
	<-lostc
	restarted := time.Now()
	s.start()

	// Typed during the gap or after: the write waits for the connection.
	io.WriteString(r, "typed2\n")
	b.readUntil(t, "typed2\n")
	b.master.Write([]byte("after\xff\n"))
	waitFor("after\xff\n")

	mu.Lock()
	defer mu.Unlock()
	// The kernel closes a killed ser2net's connection before its
	// listening socket, so a redial may reach the dying process and be
	// reset: a loss more, with its own return. Every loss has its return,
	// and the last return is to the new ser2net.
	if len(lost) == 0 || len(gaps) != len(lost) {
		t.Fatalf("%d losses (%v) and %d returns (%+v), want as many returns as losses; ser2net said:\n%s", len(lost), lost, len(gaps), gaps, s.output())
	}
	for i, g := range gaps {
		if g.Cause != lost[i] || g.Down <= 0 || g.Down != g.Back.Sub(g.Lost) || g.Attempts < 1 {
			t.Errorf("gap %d %+v inconsistent with loss %v", i, g, lost[i])
		}
		c := fmt.Sprint(g.Cause)
		if !strings.Contains(c, "EOF") && !strings.Contains(c, "reset") {
			t.Errorf("gap %d: cause %v, want EOF or a reset", i, g.Cause)
		}
	}
	last := gaps[len(gaps)-1]
	if !last.Back.After(restarted) {
		t.Errorf("last return at %v, before ser2net's restart at %v", last.Back, restarted)
	}
	if n, _ := r.Stats(); n != len(lost) {
		t.Errorf("Stats gaps = %d, want %d", n, len(lost))
	}
	t.Logf("console lost (%v), reconnected after %v, %d attempts; %d gaps", last.Cause, last.Down, last.Attempts, len(gaps))
}

func (s *ser2net) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}
