// Package lavacoord is LAVA's coordinator protocol over TCP, so that stock
// LAVA dispatchers (lava-dispatcher's MultinodeProtocol) can use Basalt's
// coordinator (internal/coordinator) as their lava-coordinator.
//
// The framing is LAVA's, in both directions: 8 hexadecimal characters
// giving the payload's length ("%08X"), then the payload, a JSON object.
// One request per connection: the client connects, sends its request and
// half-closes; the listener answers and closes. The listener parses the
// request as soon as its header and length are in (it does not wait for
// the half-close) and answers at once: "wait" is an answer, and LAVA's
// client polls again after its poll_delay. Answers escape every
// character beyond ASCII, as Python's json.dumps does, so that the length
// in characters is the length in bytes.
//
// Unlike LAVA's single-threaded daemon, connections are served
// concurrently (up to Options.MaxConns; beyond, a connection is closed at
// once, which LAVA's client reads as "wait"), each within a deadline
// (Options.Timeout) and a size limit (Options.MaxPayload), so a silent or
// slow client holds only its own connection. A malformed request (a
// header that is not hexadecimal, a length beyond the limit, a payload
// that is not a JSON object, fields of the wrong type) is answered nack;
// a connection that sends nothing usable is closed. Refusals are logged,
// a few per second at most.
package lavacoord
