//go:build linux

package console

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSerialOnPTY(t *testing.T) {
	modes := []Mode{
		{},
		{Baud: 9600, DataBits: 7, Parity: ParityEven, StopBits: Stop2, Flow: FlowRTSCTS},
		{Baud: 57600, Parity: ParityOdd, Flow: FlowXONXOFF},
		{Baud: 1500000, DataBits: 5, Parity: ParityMark},
		{Baud: 300, DataBits: 6, Parity: ParitySpace, StopBits: Stop2},
	}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			b := newBoard(t)
			p, err := Serial(b.path, mode)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			// What termios says about the port's own fd and about the
			// line (the test's fd on the same pty).
			b.checkLine(t, mode)
			tio, err := unix.IoctlGetTermios(p.Fd(), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if tio.Lflag&(unix.ECHO|unix.ICANON|unix.ISIG) != 0 || tio.Oflag&unix.OPOST != 0 || tio.Iflag&(unix.ICRNL|unix.INLCR|unix.IGNCR) != 0 {
				t.Fatalf("not raw: iflag %#o oflag %#o lflag %#o", tio.Iflag, tio.Oflag, tio.Lflag)
			}
			if tio.Cflag&(unix.CLOCAL|unix.CREAD) != unix.CLOCAL|unix.CREAD {
				t.Fatalf("cflag %#o lacks CLOCAL|CREAD", tio.Cflag)
			}
			// Bytes both ways, 8-bit. (With XON/XOFF, 0x11 and 0x13
			// from the line are flow control, not data.)
			data := allBytes()
			if mode.Flow == FlowXONXOFF {
				data = bytes.ReplaceAll(bytes.ReplaceAll(data, []byte{0x11}, nil), []byte{0x13}, nil)
			}
			if _, err := p.Write(data); err != nil {
				t.Fatal(err)
			}
			if got := b.readExactly(t, len(data)); !bytes.Equal(got, data) {
				t.Fatalf("the board received\n% x\nwant\n% x", got, data)
			}
			if _, err := b.master.Write(data); err != nil {
				t.Fatal(err)
			}
			if got := readN(t, p, len(data)); !bytes.Equal(got, data) {
				t.Fatalf("the port read\n% x\nwant\n% x", got, data)
			}
		})
	}
}

// TestApplyMode checks the termios bits of every setting, including those
// a pty does not keep (data bits, PARENB).
func TestApplyMode(t *testing.T) {
	tests := []struct {
		mode       Mode
		cflag      uint32 // among CSIZE|PARENB|PARODD|CMSPAR|CSTOPB|CRTSCTS
		ixon, inpc bool
	}{
		{Mode{}, unix.CS8, false, false},
		{Mode{DataBits: 7, Parity: ParityEven}, unix.CS7 | unix.PARENB, false, true},
		{Mode{DataBits: 5, Parity: ParityOdd, StopBits: Stop2}, unix.CS5 | unix.PARENB | unix.PARODD | unix.CSTOPB, false, true},
		{Mode{DataBits: 6, Parity: ParityMark}, unix.CS6 | unix.PARENB | unix.PARODD | unix.CMSPAR, false, true},
		{Mode{Parity: ParitySpace, Flow: FlowRTSCTS}, unix.CS8 | unix.PARENB | unix.CMSPAR | unix.CRTSCTS, false, true},
		{Mode{Flow: FlowXONXOFF}, unix.CS8, true, false},
	}
	const mask = unix.CSIZE | unix.PARENB | unix.PARODD | unix.CMSPAR | unix.CSTOPB | unix.CRTSCTS
	for _, tc := range tests {
		// Start from everything set, to see it cleared.
		tio := unix.Termios{Iflag: ^uint32(0), Oflag: ^uint32(0), Lflag: ^uint32(0), Cflag: ^uint32(0)}
		m := tc.mode.withDefaults()
		applyMode(&tio, m, baudRates[m.Baud])
		if got := tio.Cflag & mask; got != tc.cflag {
			t.Errorf("%v: cflag bits %#o, want %#o", m, got, tc.cflag)
		}
		if got := tio.Cflag & (unix.CBAUD | unix.CBAUDEX); got != unix.B115200 {
			t.Errorf("%v: speed %#o", m, got)
		}
		if ixon := tio.Iflag&(unix.IXON|unix.IXOFF) == unix.IXON|unix.IXOFF; ixon != tc.ixon {
			t.Errorf("%v: IXON|IXOFF %v", m, ixon)
		}
		if tio.Iflag&unix.IXANY != 0 {
			t.Errorf("%v: IXANY set", m)
		}
		if inpck := tio.Iflag&unix.INPCK != 0; inpck != tc.inpc {
			t.Errorf("%v: INPCK %v", m, inpck)
		}
	}
}

func TestSerialErrors(t *testing.T) {
	b := newBoard(t)
	tests := []struct {
		path string
		mode Mode
		want string
	}{
		{b.path, Mode{Baud: 12345}, "not a standard rate"},
		{b.path, Mode{StopBits: Stop1Half}, "1.5 stop bits"},
		{b.path, Mode{DataBits: 9}, "9 data bits"},
		{"/nonexistent/ttyUSB9", Mode{}, "no such file"},
		{os.DevNull, Mode{}, "not a terminal"},
	}
	for _, tc := range tests {
		p, err := Serial(tc.path, tc.mode)
		if err == nil {
			p.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Serial(%s, %v): %v, want an error containing %q", tc.path, tc.mode, err, tc.want)
		}
	}
}

func TestSerialCloseUnblocksRead(t *testing.T) {
	b := newBoard(t)
	p, err := Serial(b.path, Mode{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := p.Read(make([]byte, 8))
		errc <- err
	}()
	p.Close()
	if err := <-errc; !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Read after Close: %v, want os.ErrClosed", err)
	}
	var _ io.ReadWriteCloser = p
}
