// Package faultnet is a fault-injecting TCP proxy for tests of the worker
// link: a worker dials the Proxy instead of the server, and the test cuts,
// resets, stalls, slows or refuses its connections at will, or lets Chaos
// do it at random.
//
// A Proxy listens on 127.0.0.1 (an ephemeral port that stays the same for
// its whole life, refusals included) and forwards every accepted
// connection to its target, which must be a loopback address, byte for
// byte and in both directions, propagating half-closes. Faults:
//
//   - Cut closes every current connection (both sides see EOF, or a reset
//     if they had unread bytes in flight) and keeps accepting new ones.
//   - Reset closes every current connection with an RST (SO_LINGER 0): the
//     peers see "connection reset".
//   - StallOn/StallOff (and Stall(d)) stop forwarding in both directions
//     while connections stay open; bytes already read are held and
//     delivered, in order, when the stall ends.
//   - Delay(d) adds d of latency to every chunk forwarded.
//   - Refuse(true) closes the listening socket, so new dials fail with
//     "connection refused" as for a server that is down; Refuse(false)
//     listens again on the same address. Existing connections are kept.
//
// Stats counts connections and bytes forwarded each way, and the faults
// applied. Every method is safe for concurrent use. Forwarding is
// loopback-only and meant for tests: no timeouts beyond the dial to the
// target, no TLS awareness (TLS passes through untouched).
package faultnet
