package board

import (
	"bytes"
	"encoding/binary"
	"errors"
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

	"github.com/basalt-lab/basalt/internal/dut"
)

// expectTimeout guards each wait on the console (TCG boots of Debian's
// kernel take 10-30 s on a busy machine). It is a hang guard, not a
// timing assertion.
const expectTimeout = 3 * time.Minute

// line is a minimal telnet client for the tests: it drops the IAC
// negotiation ser2net sends and never answers it (the real client is
// internal/console's).
type line struct {
	t     testing.TB
	c     net.Conn
	state int    // telnet parser state
	buf   []byte // received, not yet matched
	seen  bytes.Buffer
	typ   time.Duration // pause after each character sent (LAVA's boot_character_delay)
}

func dialLine(t testing.TB, addr string) *line {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial ser2net %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &line{t: t, c: c}
}

const (
	iac  = 255
	sb   = 250
	se   = 240
	will = 251
	dont = 254
)

// decode strips telnet commands from p (state kept across reads).
func (l *line) decode(p []byte) {
	for _, ch := range p {
		switch l.state {
		case 0:
			if ch == iac {
				l.state = 1
			} else {
				l.buf = append(l.buf, ch)
				l.seen.WriteByte(ch)
			}
		case 1: // after IAC
			switch {
			case ch == iac:
				l.buf = append(l.buf, ch)
				l.state = 0
			case ch >= will && ch <= dont:
				l.state = 2
			case ch == sb:
				l.state = 3
			default:
				l.state = 0
			}
		case 2: // option byte of WILL/WONT/DO/DONT
			l.state = 0
		case 3: // in subnegotiation
			if ch == iac {
				l.state = 4
			}
		case 4:
			if ch == se {
				l.state = 0
			} else {
				l.state = 3
			}
		}
	}
}

// tail is the end of what the line received, for failure messages.
func (l *line) tail() string {
	s := l.seen.String()
	if len(s) > 3000 {
		s = s[len(s)-3000:]
	}
	return s
}

// expect reads until pat arrives and consumes through it.
func (l *line) expect(pat string) {
	if os.Getenv("BOARD_TRACE") != "" {
		defer func(t0 time.Time) {
			l.t.Logf("%s matched %q after %v", time.Now().Format("15:04:05.000"), pat, time.Since(t0))
		}(time.Now())
	}
	l.t.Helper()
	if err := l.wait(pat, expectTimeout); err != nil {
		l.t.Fatalf("waiting for %q: %v\n--- console (end) ---\n%s", pat, err, l.tail())
	}
}

func (l *line) wait(pat string, d time.Duration) error {
	deadline := time.Now().Add(d)
	p := make([]byte, 4096)
	for {
		if i := bytes.Index(l.buf, []byte(pat)); i >= 0 {
			l.buf = l.buf[i+len(pat):]
			return nil
		}
		if len(l.buf) > 1<<20 {
			l.buf = l.buf[len(l.buf)-4096:]
		}
		l.c.SetReadDeadline(deadline)
		n, err := l.c.Read(p)
		l.decode(p[:n])
		if err != nil {
			if i := bytes.Index(l.buf, []byte(pat)); i >= 0 {
				l.buf = l.buf[i+len(pat):]
				return nil
			}
			return err
		}
	}
}

func (l *line) send(s string) {
	l.t.Helper()
	chunks := []string{s}
	if l.typ > 0 {
		chunks = strings.Split(s, "")
	}
	for _, c := range chunks {
		l.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := l.c.Write([]byte(c)); err != nil {
			l.t.Fatalf("send %q: %v", s, err)
		}
		time.Sleep(l.typ)
	}
}

// cmd sends a command line and waits for prompt.
func (l *line) cmd(command, prompt string) {
	l.t.Helper()
	l.send(command + "\r")
	l.expect(prompt)
}

// sh runs a shell command as the dispatcher runs power commands.
func sh(command string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	c := exec.Command("/bin/sh", "-c", command)
	c.Stdout, c.Stderr = &o, &e
	err = c.Run()
	return o.String(), e.String(), err
}

func mustSh(t testing.TB, command string) string {
	t.Helper()
	o, e, err := sh(command)
	if err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", command, err, o, e)
	}
	return o
}

// imagesDir holds the images the tests share; TestMain removes it.
var imagesDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if imagesDir != "" {
		os.RemoveAll(imagesDir)
	}
	os.Exit(code)
}

// images builds the device under test once per test binary (Debian's
// kernel, busybox initramfs) with the repository's builder.
var images = sync.OnceValues(func() (dut.Images, error) {
	dir, err := os.MkdirTemp("", "board-images-")
	if err != nil {
		return dut.Images{}, err
	}
	imagesDir = dir
	return dut.Build(dut.Options{OutDir: dir})
})

func buildImages(t testing.TB) dut.Images {
	t.Helper()
	img, err := images()
	if err != nil {
		t.Fatalf("build the kernel and initramfs (linux-image-amd64, busybox-static): %v", err)
	}
	return img
}

// rrq is one read request a tftpResponder answered.
type rrq struct {
	File    string
	Peer    string
	TIDPort int // the port the answer came from (RFC 1350's transfer ID)
	Options map[string]string
	Sent    int64
	Err     string
}

// tftpResponder is the smallest TFTP server U-Boot and iPXE accept: read
// requests only, octet mode, blksize and tsize options, each transfer from
// a new port. It serves files by base name from a fixed list.
type tftpResponder struct {
	conn  *net.UDPConn
	files map[string]string

	mu   sync.Mutex
	reqs []rrq
	wg   sync.WaitGroup
}

func serveTFTP(t testing.TB, conn *net.UDPConn, paths ...string) *tftpResponder {
	r := &tftpResponder{conn: conn, files: map[string]string{}}
	for _, p := range paths {
		r.files[filepath.Base(p)] = p
	}
	r.wg.Add(1)
	go r.loop()
	t.Cleanup(func() { conn.Close(); r.wg.Wait() })
	return r
}

func (r *tftpResponder) requests() []rrq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rrq(nil), r.reqs...)
}

func (r *tftpResponder) loop() {
	defer r.wg.Done()
	p := make([]byte, 1500)
	for {
		n, peer, err := r.conn.ReadFromUDP(p)
		if err != nil {
			return
		}
		req := append([]byte(nil), p[:n]...)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			q := r.transfer(req, peer)
			r.mu.Lock()
			r.reqs = append(r.reqs, q)
			r.mu.Unlock()
		}()
	}
}

func (r *tftpResponder) transfer(req []byte, peer *net.UDPAddr) (q rrq) {
	q.Peer = peer.String()
	local := r.conn.LocalAddr().(*net.UDPAddr)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: local.IP})
	if err != nil {
		q.Err = err.Error()
		return q
	}
	defer c.Close()
	q.TIDPort = c.LocalAddr().(*net.UDPAddr).Port
	fail := func(code uint16, msg string) rrq {
		pkt := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 5), code)
		c.WriteToUDP(append(append(pkt, msg...), 0), peer)
		q.Err = msg
		return q
	}
	if len(req) < 4 || binary.BigEndian.Uint16(req) != 1 {
		return fail(4, "read requests only")
	}
	fields := strings.Split(string(req[2:]), "\x00")
	if len(fields) < 2 {
		return fail(4, "malformed request")
	}
	q.File = fields[0]
	q.Options = map[string]string{}
	for i := 2; i+1 < len(fields); i += 2 {
		q.Options[strings.ToLower(fields[i])] = fields[i+1]
	}
	path, ok := r.files[strings.TrimPrefix(q.File, "/")]
	if !ok {
		return fail(1, "file not found")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fail(1, err.Error())
	}
	// exchange sends pkt until the peer acknowledges block.
	exchange := func(pkt []byte, block uint16) error {
		ack := make([]byte, 1500)
		for try := 0; try < 10; try++ {
			c.WriteToUDP(pkt, peer)
			c.SetReadDeadline(time.Now().Add(time.Second))
			for {
				n, from, err := c.ReadFromUDP(ack)
				if err != nil {
					break
				}
				if from.Port != peer.Port || n < 4 {
					continue
				}
				if binary.BigEndian.Uint16(ack) == 4 && binary.BigEndian.Uint16(ack[2:]) == block {
					return nil
				}
				if binary.BigEndian.Uint16(ack) == 5 {
					return fmt.Errorf("peer error: %q", ack[4:n])
				}
			}
		}
		return errors.New("no acknowledgement")
	}
	blk := 512
	var oack []byte
	if v, ok := q.Options["blksize"]; ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 8 {
			blk = min(n, 1468)
			oack = fmt.Appendf(oack, "blksize\x00%d\x00", blk)
		}
	}
	if _, ok := q.Options["tsize"]; ok {
		oack = fmt.Appendf(oack, "tsize\x00%d\x00", len(data))
	}
	if oack != nil {
		if err := exchange(append([]byte{0, 6}, oack...), 0); err != nil {
			q.Err = "OACK: " + err.Error()
			return q
		}
	}
	for n := 0; ; n++ {
		chunk := data[min(n*blk, len(data)):min((n+1)*blk, len(data))]
		pkt := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 3), uint16(n+1))
		if err := exchange(append(pkt, chunk...), uint16(n+1)); err != nil {
			q.Err = fmt.Sprintf("block %d: %v", n+1, err)
			return q
		}
		q.Sent += int64(len(chunk))
		if len(chunk) < blk {
			return q
		}
	}
}

// readAll drains c until EOF or error (ser2net closing the line).
func readUntilClosed(c net.Conn, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return err
}
