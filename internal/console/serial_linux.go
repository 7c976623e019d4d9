//go:build linux

package console

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// baudRates maps the standard rates to their termios speed codes.
var baudRates = map[int]uint32{
	50: unix.B50, 75: unix.B75, 110: unix.B110, 134: unix.B134, 150: unix.B150,
	200: unix.B200, 300: unix.B300, 600: unix.B600, 1200: unix.B1200,
	1800: unix.B1800, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600,
	19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600,
	115200: unix.B115200, 230400: unix.B230400, 460800: unix.B460800,
	500000: unix.B500000, 576000: unix.B576000, 921600: unix.B921600,
	1000000: unix.B1000000, 1152000: unix.B1152000, 1500000: unix.B1500000,
	2000000: unix.B2000000, 2500000: unix.B2500000, 3000000: unix.B3000000,
	3500000: unix.B3500000, 4000000: unix.B4000000,
}

// SerialPort is a local serial port (a USB serial adapter, /dev/ttyS*) in
// raw mode.
type SerialPort struct {
	f    *os.File
	path string
}

// Serial opens the serial port at path (such as /dev/ttyUSB0) and sets it
// to mode: raw (no echo, no translation, no signals), the mode's baud rate
// (one of the standard rates, 50 to 4000000), data bits, parity, stop bits
// (1.5 is not available on Linux termios and is refused) and flow control
// (RTS/CTS in hardware, or XON/XOFF both ways), CLOCAL (modem lines
// ignored) and CREAD. Close interrupts a blocked Read, which then returns
// an error wrapping os.ErrClosed.
func Serial(path string, mode Mode) (*SerialPort, error) {
	if err := mode.Validate(); err != nil {
		return nil, fmt.Errorf("serial %s: %w", path, err)
	}
	mode = mode.withDefaults()
	speed, ok := baudRates[mode.Baud]
	if !ok {
		return nil, fmt.Errorf("serial %s: baud rate %d is not a standard rate", path, mode.Baud)
	}
	if mode.StopBits == Stop1Half {
		return nil, fmt.Errorf("serial %s: 1.5 stop bits are not supported by Linux termios", path)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("serial %s: %w", path, err)
	}
	if err := setMode(fd, mode, speed); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("serial %s: %w", path, err)
	}
	// The fd stays non-blocking so that os.File uses the poller: reads
	// block the goroutine, not a thread, and Close interrupts them.
	return &SerialPort{f: os.NewFile(uintptr(fd), path), path: path}, nil
}

func setMode(fd int, m Mode, speed uint32) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("not a terminal: %w", err)
	}
	applyMode(t, m, speed)
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("tcsetattr: %w", err)
	}
	return nil
}

// applyMode sets t to raw mode with m's line settings.
func applyMode(t *unix.Termios, m Mode, speed uint32) {
	rawTermios(t)
	t.Iflag &^= unix.IXON | unix.IXOFF | unix.IXANY | unix.INPCK
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.PARODD | unix.CMSPAR | unix.CSTOPB | unix.CRTSCTS | unix.CBAUD | unix.CBAUDEX
	t.Cflag |= unix.CLOCAL | unix.CREAD | speed
	t.Ispeed, t.Ospeed = speed, speed
	t.Cflag |= [...]uint32{5: unix.CS5, 6: unix.CS6, 7: unix.CS7, 8: unix.CS8}[m.DataBits]
	switch m.Parity {
	case ParityOdd:
		t.Cflag |= unix.PARENB | unix.PARODD
	case ParityEven:
		t.Cflag |= unix.PARENB
	case ParityMark:
		t.Cflag |= unix.PARENB | unix.CMSPAR | unix.PARODD
	case ParitySpace:
		t.Cflag |= unix.PARENB | unix.CMSPAR
	}
	if m.Parity != ParityNone {
		t.Iflag |= unix.INPCK
	}
	if m.StopBits == Stop2 {
		t.Cflag |= unix.CSTOPB
	}
	switch m.Flow {
	case FlowRTSCTS:
		t.Cflag |= unix.CRTSCTS
	case FlowXONXOFF:
		t.Iflag |= unix.IXON | unix.IXOFF
		t.Cc[unix.VSTART], t.Cc[unix.VSTOP] = 0x11, 0x13
	}
}

// ReadMode returns the settings termios reports for an open terminal fd
// (the port's, or any tty's): what the line really is set to. (On a
// pseudo-terminal, Linux always reports 8 data bits and no parity: its pty
// driver forces CS8 and clears PARENB.)
func ReadMode(fd int) (Mode, error) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return Mode{}, fmt.Errorf("tcgetattr: %w", err)
	}
	var m Mode
	code := t.Cflag & (unix.CBAUD | unix.CBAUDEX)
	for rate, c := range baudRates {
		if c == code {
			m.Baud = rate
		}
	}
	switch t.Cflag & unix.CSIZE {
	case unix.CS5:
		m.DataBits = 5
	case unix.CS6:
		m.DataBits = 6
	case unix.CS7:
		m.DataBits = 7
	default:
		m.DataBits = 8
	}
	if t.Cflag&unix.PARENB != 0 {
		odd := t.Cflag&unix.PARODD != 0
		switch {
		case t.Cflag&unix.CMSPAR != 0 && odd:
			m.Parity = ParityMark
		case t.Cflag&unix.CMSPAR != 0:
			m.Parity = ParitySpace
		case odd:
			m.Parity = ParityOdd
		default:
			m.Parity = ParityEven
		}
	}
	if t.Cflag&unix.CSTOPB != 0 {
		m.StopBits = Stop2
	}
	switch {
	case t.Cflag&unix.CRTSCTS != 0:
		m.Flow = FlowRTSCTS
	case t.Iflag&unix.IXON != 0 && t.Iflag&unix.IXOFF != 0:
		m.Flow = FlowXONXOFF
	}
	return m, nil
}

// Read reads from the port.
func (s *SerialPort) Read(b []byte) (int, error) {
	n, err := s.f.Read(b)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("serial %s: %w", s.path, err)
	}
	return n, err
}

// Write writes to the port.
func (s *SerialPort) Write(b []byte) (int, error) {
	n, err := s.f.Write(b)
	if err != nil {
		err = fmt.Errorf("serial %s: %w", s.path, err)
	}
	return n, err
}

// Close closes the port.
func (s *SerialPort) Close() error { return s.f.Close() }

// Fd returns the port's file descriptor (for ReadMode).
func (s *SerialPort) Fd() int {
	var fd int
	if rc, err := s.f.SyscallConn(); err == nil {
		_ = rc.Control(func(u uintptr) { fd = int(u) })
	}
	return fd
}
