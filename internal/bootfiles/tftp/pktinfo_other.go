//go:build !linux

package tftp

import (
	"errors"
	"net"
	"net/netip"
)

const openNonblock = 0

func enablePktinfo(*net.UDPConn) error { return errors.New("no IP_PKTINFO here") }

func pktinfoDst([]byte) netip.Addr { return netip.Addr{} }
