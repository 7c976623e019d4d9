package console

import "bytes"

// Telnet protocol bytes (RFC 854) and the options Basalt knows (RFC 856
// BINARY, RFC 857 ECHO, RFC 858 SUPPRESS-GO-AHEAD, RFC 2217
// COM-PORT-OPTION).
const (
	tnSE   = 240
	tnNOP  = 241
	tnSB   = 250
	tnWILL = 251
	tnWONT = 252
	tnDO   = 253
	tnDONT = 254
	tnIAC  = 255

	optBinary  = 0
	optEcho    = 1
	optSGA     = 3
	optComPort = 44
)

// MaxSubnegotiation bounds the option data of one telnet subnegotiation
// (IAC SB … IAC SE) the client keeps; longer ones are truncated to it (the
// rest is read and dropped). RFC 2217 replies are at most 5 bytes; a
// signature is text.
const MaxSubnegotiation = 256

// States of the telnet input parser.
const (
	psData  = iota // plain data
	psIAC          // after IAC
	psOpt          // after IAC WILL/WONT/DO/DONT: the option byte
	psSBOpt        // after IAC SB: the option byte
	psSB           // inside a subnegotiation
	psSBIAC        // after IAC inside a subnegotiation
)

// tnEvent is a command the parser found in the input: a negotiation
// (cmd is WILL, WONT, DO or DONT) or a subnegotiation (cmd is SB, data
// its option data, unescaped, at most MaxSubnegotiation bytes, valid
// until the next feed).
type tnEvent struct {
	cmd, opt  byte
	data      []byte
	truncated bool
}

// tnParser splits a telnet input stream into data bytes and commands. It
// is a state machine: the stream may be fed in pieces cut anywhere.
//
// The rules: IAC IAC is a data byte 0xFF; IAC WILL/WONT/DO/DONT x is a
// negotiation; IAC SB x … IAC SE is a subnegotiation of option x (IAC IAC
// inside it is a 0xFF of its data; IAC followed by anything else than SE
// or IAC ends it without an event and is read as a command); IAC and any
// other byte is a two-byte command (NOP, GA, BRK, …) and is dropped. When
// binary is false (NVT mode), a NUL data byte right after a CR data byte
// is dropped (CR NUL stands for a bare CR; CR LF is left as is).
type tnParser struct {
	binary    bool
	state     int
	cmd, opt  byte
	crPending bool
	sub       []byte
	truncated bool
}

// feed parses in, appends its data bytes to out and returns out. ev is
// called for each command, in stream order relative to each other.
func (p *tnParser) feed(in, out []byte, ev func(tnEvent)) []byte {
	for i := 0; i < len(in); i++ {
		b := in[i]
		switch p.state {
		case psData:
			if b == tnIAC {
				p.state = psIAC
				continue
			}
			if !p.binary {
				if b == 0 && p.crPending {
					p.crPending = false
					continue
				}
				p.crPending = b == '\r'
				out = append(out, b)
				continue
			}
			// Binary: copy the run of plain bytes.
			j := len(in)
			if k := bytes.IndexByte(in[i+1:], tnIAC); k >= 0 {
				j = i + 1 + k
			}
			out = append(out, in[i:j]...)
			i = j - 1
		case psIAC:
			switch b {
			case tnIAC:
				p.state = psData
				p.crPending = false
				out = append(out, tnIAC)
			case tnWILL, tnWONT, tnDO, tnDONT:
				p.cmd = b
				p.state = psOpt
			case tnSB:
				p.state = psSBOpt
			default:
				p.state = psData
			}
		case psOpt:
			p.state = psData
			ev(tnEvent{cmd: p.cmd, opt: b})
		case psSBOpt:
			p.opt = b
			p.sub = p.sub[:0]
			p.truncated = false
			p.state = psSB
		case psSB:
			if b == tnIAC {
				p.state = psSBIAC
				continue
			}
			p.subByte(b)
		case psSBIAC:
			switch b {
			case tnSE:
				p.state = psData
				ev(tnEvent{cmd: tnSB, opt: p.opt, data: p.sub, truncated: p.truncated})
			case tnIAC:
				p.state = psSB
				p.subByte(tnIAC)
			default:
				// A malformed subnegotiation: drop it and read b as the
				// command after an IAC.
				p.state = psIAC
				i--
			}
		}
	}
	return out
}

func (p *tnParser) subByte(b byte) {
	if len(p.sub) < MaxSubnegotiation {
		p.sub = append(p.sub, b)
	} else {
		p.truncated = true
	}
}

// escapeIAC appends p to out with every IAC doubled. Nothing else is
// translated, in NVT mode either: console servers (ser2net, gensio) pass
// a NUL after CR on to the serial line, so a bare CR is sent bare.
func escapeIAC(out, p []byte) []byte {
	for len(p) > 0 {
		i := bytes.IndexByte(p, tnIAC)
		if i < 0 {
			return append(out, p...)
		}
		out = append(out, p[:i+1]...)
		out = append(out, tnIAC)
		p = p[i+1:]
	}
	return out
}
