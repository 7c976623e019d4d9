package app

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"strings"
)

// CallbackPolicy says where notify callbacks may go. It is checked when a
// job is submitted (its callback URLs) and again by the sender before and
// while it connects (the address a name resolves to).
//
// With no Hosts (the default), a callback may go to any host whose
// address is public: loopback, private, link-local (cloud metadata
// services), shared, unspecified and multicast addresses are refused, so
// that a job cannot make the server reach services on its own networks.
// With Hosts (LAVA's CALLBACK_ALLOWED_HOSTS), only hosts that match one of
// the patterns may be called, at whatever address: the administrator
// vouched for them (a receiver on the lab's network, 127.0.0.1 in tests).
type CallbackPolicy struct {
	// Hosts are shell-style patterns (Python's fnmatch: *, ?, [seq],
	// [!seq]) matched against the URL's host name, case-insensitively.
	Hosts []string
}

// Validate checks the patterns.
func (p CallbackPolicy) Validate() error {
	for _, h := range p.Hosts {
		if h == "" {
			return fmt.Errorf("callback host pattern: empty")
		}
		if _, err := path.Match(fnmatchPattern(h), ""); err != nil {
			return fmt.Errorf("callback host pattern %q: %w", h, err)
		}
	}
	return nil
}

// fnmatchPattern turns Python's fnmatch syntax into path.Match's: a
// negated class is [!…] there, [^…] here; / has no meaning in host names.
func fnmatchPattern(p string) string {
	return strings.ReplaceAll(strings.ToLower(p), "[!", "[^")
}

// Listed reports whether host matches one of the patterns.
func (p CallbackPolicy) Listed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.Hosts {
		if ok, _ := path.Match(fnmatchPattern(h), host); ok {
			return true
		}
	}
	return false
}

// CheckURL says whether a callback to raw may be sent: nil, or why not.
// It sees the URL only: a host name that resolves to an address that is
// not public is caught when the sender connects (CheckAddr).
func (p CallbackPolicy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("%q is not a callback URL", raw)
	}
	host := u.Hostname()
	if len(p.Hosts) > 0 {
		if !p.Listed(host) {
			return fmt.Errorf("callback host %q is not in the server's allowed callback hosts", host)
		}
		return nil
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") || strings.HasSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), ".localhost") {
		return fmt.Errorf("callback host %q is the server itself: the server calls it only when it is one of its allowed callback hosts", host)
	}
	if ip, err := netip.ParseAddr(host); err == nil && !PublicAddr(ip) {
		return fmt.Errorf("callback address %s is not public: the server calls such addresses only for its allowed callback hosts", ip)
	}
	return nil
}

// TrustsAnyAddr reports whether a callback to host may connect to any
// address, public or not: it is one of the allowed hosts.
func (p CallbackPolicy) TrustsAnyAddr(host string) bool { return len(p.Hosts) > 0 && p.Listed(host) }

// nonPublic are the IPv4 and IPv6 ranges, beyond what netip classifies,
// that a callback must not reach without the administrator's say-so.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (carrier NAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: could reach any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("2001::/32"),       // Teredo: embeds an IPv4 address
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated
}

// PublicAddr reports whether ip is a public unicast address: not
// loopback, private, link-local, unspecified, multicast or one of the
// special-purpose ranges above. An IPv4-mapped IPv6 address is judged as
// its IPv4 address.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// CallbackPolicy returns where this server lets callbacks go.
func (a *App) CallbackPolicy() CallbackPolicy { return a.cfg.Callbacks }
