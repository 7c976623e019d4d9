package tftp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
)

// openNonblock keeps an open of a FIFO from waiting for a writer.
const openNonblock = syscall.O_NONBLOCK

// enablePktinfo asks the kernel for the destination address of each packet
// received on c (IP_PKTINFO, IPV6_RECVPKTINFO), so a transfer can answer
// from the address the client used.
func enablePktinfo(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var err4, err6 error
	if cerr := rc.Control(func(fd uintptr) {
		err4 = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1)
		err6 = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVPKTINFO, 1)
	}); cerr != nil {
		return cerr
	}
	if err4 != nil && err6 != nil {
		return err4
	}
	return nil
}

// pktinfoDst is the destination address in a control message, or the
// zero Addr if there is none.
func pktinfoDst(oob []byte) netip.Addr {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == syscall.IPPROTO_IP && m.Header.Type == syscall.IP_PKTINFO && len(m.Data) >= 12:
			// struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
			return netip.AddrFrom4([4]byte(m.Data[4:8]))
		case m.Header.Level == syscall.IPPROTO_IPV6 && m.Header.Type == syscall.IPV6_PKTINFO && len(m.Data) >= 20:
			// struct in6_pktinfo { in6_addr addr; unsigned ifindex; }
			a := netip.AddrFrom16([16]byte(m.Data[0:16]))
			if a.Is4In6() {
				return a.Unmap()
			}
			if a.IsLinkLocalUnicast() {
				if ifi, err := net.InterfaceByIndex(int(binary.NativeEndian.Uint32(m.Data[16:20]))); err == nil {
					a = a.WithZone(ifi.Name)
				}
			}
			return a
		}
	}
	return netip.Addr{}
}
