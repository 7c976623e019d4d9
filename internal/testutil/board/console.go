package board

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// uart is the board's serial line as the lab sees it: a pseudo-terminal
// whose slave (/dev/pts/N) ser2net opens like a real /dev/ttyUSB0, relayed
// to whichever QEMU process is currently powered on. QEMU connects to a
// unix socket the uart listens on (each power on starts a QEMU that connects
// anew), so the pty, and ser2net's telnet port in front of it, outlive every
// power cycle, as a USB-serial adapter outlives its board.
//
// Like a real UART, bytes nobody is listening for are lost: the board's
// output while ser2net has the line closed, and keystrokes while the board
// is off.
type uart struct {
	master  *os.File
	rc      syscall.RawConn
	ptsPath string
	ln      *net.UnixListener

	dropped atomic.Int64 // board output lost: nobody had the line open

	mu   sync.Mutex
	cur  net.Conn // the powered-on QEMU's serial, nil when off
	done chan struct{}
	wg   sync.WaitGroup
}

// maxWrite bounds one relay chunk.
const maxWrite = 4096

func ioctl(fd, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// openPTY opens a new pty master and returns it with its slave's path. The
// slave's line discipline is set raw (no echo, no CR/LF mangling) once,
// before anyone opens it, so nothing the board prints ever comes back to it
// as input.
func openPTY() (*os.File, string, error) {
	fd, err := syscall.Open("/dev/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, "", fmt.Errorf("open /dev/ptmx: %w", err)
	}
	var unlock int32
	if err := ioctl(uintptr(fd), syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		syscall.Close(fd)
		return nil, "", fmt.Errorf("unlock pty: %w", err)
	}
	var n uint32
	if err := ioctl(uintptr(fd), syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		syscall.Close(fd)
		return nil, "", fmt.Errorf("pty number: %w", err)
	}
	pts := fmt.Sprintf("/dev/pts/%d", n)
	sfd, err := syscall.Open(pts, syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		syscall.Close(fd)
		return nil, "", fmt.Errorf("open %s: %w", pts, err)
	}
	var tio syscall.Termios
	err = ioctl(uintptr(sfd), syscall.TCGETS, unsafe.Pointer(&tio))
	if err == nil {
		makeRaw(&tio)
		err = ioctl(uintptr(sfd), syscall.TCSETS, unsafe.Pointer(&tio))
	}
	// Closing the slave marks the line "other side closed" (POLLHUP on the
	// master) until ser2net opens it.
	syscall.Close(sfd)
	if err != nil {
		syscall.Close(fd)
		return nil, "", fmt.Errorf("set %s raw: %w", pts, err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), pts, nil
}

// makeRaw is cfmakeraw(3) at 115200 baud.
func makeRaw(t *syscall.Termios) {
	t.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP | syscall.INLCR | syscall.IGNCR | syscall.ICRNL | syscall.IXON
	t.Oflag &^= syscall.OPOST
	t.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	t.Cflag &^= syscall.CSIZE | syscall.PARENB | 0o10017 /* CBAUD */
	t.Cflag |= syscall.CS8 | syscall.B115200
	t.Cc[syscall.VMIN] = 1
	t.Cc[syscall.VTIME] = 0
}

// newUART opens the pty and listens on sock for QEMU.
func newUART(sock string) (*uart, error) {
	if len(sock) > 107 {
		return nil, fmt.Errorf("serial socket %s: longer than a unix socket path may be (107 bytes): use a shorter board directory", sock)
	}
	m, pts, err := openPTY()
	if err != nil {
		return nil, err
	}
	rc, err := m.SyscallConn()
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("pty: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("listen for the board's serial: %w", err)
	}
	u := &uart{master: m, rc: rc, ptsPath: pts, ln: ln, done: make(chan struct{})}
	u.wg.Add(2)
	go u.acceptLoop()
	go u.fromLine()
	return u, nil
}

// acceptLoop takes each powered-on QEMU's serial connection in turn: a new
// one replaces the old (a board has one UART).
func (u *uart) acceptLoop() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		if u.cur != nil {
			u.cur.Close()
		}
		u.cur = c
		u.mu.Unlock()
		u.wg.Add(1)
		go u.fromBoard(c)
	}
}

// fromBoard copies the board's output to the line, dropping what nobody
// can receive.
func (u *uart) fromBoard(c net.Conn) {
	defer u.wg.Done()
	buf := make([]byte, maxWrite)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			u.writeLine(buf[:n])
		}
		if err != nil {
			u.mu.Lock()
			if u.cur == c {
				u.cur = nil
			}
			u.mu.Unlock()
			c.Close()
			return
		}
	}
}

// writeLine writes p to the pty master without ever blocking: when the
// slave is closed (ser2net not serving a client) or its buffer is full, the
// bytes are lost, as on a UART with nobody listening.
func (u *uart) writeLine(p []byte) {
	_ = u.rc.Write(func(fd uintptr) bool {
		if lineClosed(fd) {
			u.dropped.Add(int64(len(p)))
			return true
		}
		for len(p) > 0 {
			n, err := syscall.Write(int(fd), p)
			if err != nil || n <= 0 {
				u.dropped.Add(int64(len(p)))
				return true
			}
			p = p[n:]
		}
		return true
	})
}

// lineClosed reports whether the pty's slave side is closed (POLLHUP).
func lineClosed(fd uintptr) bool {
	const pollHup = 0x10
	pfd := struct {
		fd             int32
		events, revent int16
	}{fd: int32(fd), events: 0x4 /* POLLOUT */}
	var ts syscall.Timespec
	n, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if e != 0 || n != 1 {
		return e != 0
	}
	return pfd.revent&pollHup != 0
}

// fromLine copies what the lab types on the line to the powered-on board,
// or drops it while the board is off.
func (u *uart) fromLine() {
	defer u.wg.Done()
	buf := make([]byte, maxWrite)
	for {
		n, err := u.master.Read(buf)
		if n > 0 {
			u.mu.Lock()
			c := u.cur
			u.mu.Unlock()
			if c != nil {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				c.Write(buf[:n])
			}
		}
		if err != nil {
			select {
			case <-u.done:
				return
			default:
			}
			// EIO: ser2net has the slave closed. Wait for it to reopen.
			if errors.Is(err, syscall.EIO) || errors.Is(err, os.ErrDeadlineExceeded) {
				select {
				case <-u.done:
					return
				case <-time.After(20 * time.Millisecond):
				}
				continue
			}
			return
		}
	}
}

// close stops the relay and releases the pty.
func (u *uart) close() {
	close(u.done)
	u.ln.Close()
	u.mu.Lock()
	if u.cur != nil {
		u.cur.Close()
	}
	u.mu.Unlock()
	u.master.Close()
	u.wg.Wait()
}
