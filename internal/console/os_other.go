//go:build !linux

package console

import (
	"context"
	"errors"
	"io"
)

var errUnsupported = errors.New("consoles on ptys and serial ports need Linux")

// Command opens a connection command's console; see the Linux version.
// Elsewhere only "telnet HOST PORT" works.
func Command(ctx context.Context, cmdline string) (io.ReadWriteCloser, error) {
	if addr, port, err := parseTelnetCommand(cmdline); err == nil {
		return DialTelnet(ctx, addr, TelnetOptions{Passive: port})
	}
	return nil, errUnsupported
}

// SerialPort is a local serial port; see the Linux version.
type SerialPort struct{ io.ReadWriteCloser }

// Serial opens a local serial port; Linux only.
func Serial(path string, mode Mode) (*SerialPort, error) { return nil, errUnsupported }

// RawTerminal puts a terminal in raw mode; Linux only.
func RawTerminal(fd int) (restore func(), err error) { return nil, errUnsupported }
