package board

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
)

// TFTPPort is the only port this U-Boot build sends TFTP requests to: it
// has no CONFIG_TFTP_PORT (no tftpdstp variable).
const TFTPPort = 69

// ListenTFTP binds a UDP socket on port 69 of a random loopback address
// 127.A.B.C (not 127.0.0.1, so parallel tests and a host's own TFTP server
// do not collide) for a test's TFTP server. Binding port 69 needs root (or
// CAP_NET_BIND_SERVICE).
//
// The board reaches it through QEMU's user network: with
// "setenv serverip 127.A.B.C" U-Boot sends its requests through the
// gateway 10.0.2.2, and QEMU relays them to the host's 127.A.B.C:69; the
// server's replies from a new port (its transfer ID, RFC 1350) come back
// the same way. iPXE reaches it as tftp://127.A.B.C/FILE, and an HTTP
// server on the same address as http://127.A.B.C:PORT/FILE, so one
// address serves as the worker's SERVER_IP for both. (The gateway's
// own address does not work for TFTP: QEMU answers UDP 10.0.2.2:69
// itself.) It fails t when no address can be bound.
func ListenTFTP(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := ListenLoopbackUDP(TFTPPort)
	if err != nil {
		t.Fatalf("TFTP listener: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ListenLoopbackUDP binds port on a random address of 127.0.0.0/8 other
// than 127.0.0.1, trying other addresses while they are taken.
func ListenLoopbackUDP(port int) (*net.UDPConn, error) {
	var err error
	for try := 0; try < 20; try++ {
		ip := net.IPv4(127, byte(1+rand.IntN(254)), byte(rand.IntN(256)), byte(1+rand.IntN(254)))
		var c *net.UDPConn
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: port})
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("bind UDP port %d on loopback: %w", port, err)
}
