package console

import (
	"fmt"
	"strconv"
	"strings"
)

// Parity is a serial line's parity setting. The zero value is ParityNone.
type Parity uint8

// Parity settings.
const (
	ParityNone Parity = iota
	ParityOdd
	ParityEven
	ParityMark
	ParitySpace
)

var parityNames = [...]string{"none", "odd", "even", "mark", "space"}

// String names the parity as Spec strings spell it ("none", "odd", …).
func (p Parity) String() string {
	if int(p) < len(parityNames) {
		return parityNames[p]
	}
	return fmt.Sprintf("parity(%d)", uint8(p))
}

// StopBits is a serial line's stop bit setting. The zero value is Stop1.
type StopBits uint8

// Stop bit settings.
const (
	Stop1 StopBits = iota
	Stop1Half
	Stop2
)

// String names the setting ("1", "1.5", "2").
func (s StopBits) String() string {
	switch s {
	case Stop1:
		return "1"
	case Stop1Half:
		return "1.5"
	case Stop2:
		return "2"
	}
	return fmt.Sprintf("stopbits(%d)", uint8(s))
}

// Flow is a serial line's flow control. The zero value is FlowNone.
type Flow uint8

// Flow control settings.
const (
	FlowNone Flow = iota
	FlowRTSCTS
	FlowXONXOFF
)

// String names the flow control as Spec strings spell it ("none",
// "rtscts", "xonxoff").
func (f Flow) String() string {
	switch f {
	case FlowNone:
		return "none"
	case FlowRTSCTS:
		return "rtscts"
	case FlowXONXOFF:
		return "xonxoff"
	}
	return fmt.Sprintf("flow(%d)", uint8(f))
}

// Mode is a serial line's settings, for a local serial port (Serial) and
// for a remote one through RFC 2217 (TelnetOptions.ComPort). Zero fields
// mean the defaults: 115200 baud, 8 data bits, no parity, 1 stop bit, no
// flow control.
type Mode struct {
	Baud     int
	DataBits int
	Parity   Parity
	StopBits StopBits
	Flow     Flow
}

// DefaultBaud and DefaultDataBits are the settings a zero Mode field
// stands for.
const (
	DefaultBaud     = 115200
	DefaultDataBits = 8
)

// withDefaults returns m with its zero fields set to the defaults.
func (m Mode) withDefaults() Mode {
	if m.Baud == 0 {
		m.Baud = DefaultBaud
	}
	if m.DataBits == 0 {
		m.DataBits = DefaultDataBits
	}
	return m
}

// Validate reports whether m can be applied: a positive baud rate below
// 2^32, 5 to 8 data bits and known parity, stop bit and flow settings.
func (m Mode) Validate() error {
	m = m.withDefaults()
	if m.Baud < 0 || int64(m.Baud) > 1<<32-1 {
		return fmt.Errorf("serial mode: baud rate %d out of range", m.Baud)
	}
	if m.DataBits < 5 || m.DataBits > 8 {
		return fmt.Errorf("serial mode: %d data bits (want 5 to 8)", m.DataBits)
	}
	if m.Parity > ParitySpace {
		return fmt.Errorf("serial mode: unknown %v", m.Parity)
	}
	if m.StopBits > Stop2 {
		return fmt.Errorf("serial mode: unknown %v", m.StopBits)
	}
	if m.Flow > FlowXONXOFF {
		return fmt.Errorf("serial mode: unknown %v", m.Flow)
	}
	return nil
}

// String writes m like ser2net does: "115200n81" (baud, parity letter,
// data bits, stop bits), followed by ",rtscts" or ",xonxoff" when flow
// control is on. ParseMode reads it back.
func (m Mode) String() string {
	m = m.withDefaults()
	s := strconv.Itoa(m.Baud) + string("noems"[m.Parity%5]) + strconv.Itoa(m.DataBits)
	switch m.StopBits {
	case Stop1Half:
		s += "1.5"
	case Stop2:
		s += "2"
	default:
		s += "1"
	}
	if m.Flow != FlowNone {
		s += "," + m.Flow.String()
	}
	return s
}

// ParseMode reads a mode written like ser2net's "115200n81" (baud rate,
// then optionally a parity letter n/o/e/m/s, data bits 5-8 and stop bits
// 1, 1.5 or 2), optionally followed by ",rtscts" or ",xonxoff" (or
// ",none"). "115200" alone is 115200 8N1.
func ParseMode(s string) (Mode, error) {
	var m Mode
	spec, flow, hasFlow := strings.Cut(s, ",")
	if hasFlow {
		f, err := parseFlow(flow)
		if err != nil {
			return Mode{}, fmt.Errorf("serial mode %q: %w", s, err)
		}
		m.Flow = f
	}
	i := 0
	for i < len(spec) && spec[i] >= '0' && spec[i] <= '9' {
		i++
	}
	if i == 0 {
		return Mode{}, fmt.Errorf("serial mode %q: want a baud rate first, such as 115200n81", s)
	}
	if i > 10 {
		return Mode{}, fmt.Errorf("serial mode %q: baud rate out of range", s)
	}
	baud, err := strconv.Atoi(spec[:i])
	if err != nil || baud <= 0 {
		return Mode{}, fmt.Errorf("serial mode %q: bad baud rate", s)
	}
	m.Baud = baud
	rest := spec[i:]
	if rest != "" {
		p, err := parseParity(rest[:1])
		if err != nil {
			return Mode{}, fmt.Errorf("serial mode %q: %w", s, err)
		}
		m.Parity = p
		rest = rest[1:]
		if rest == "" || rest[0] < '5' || rest[0] > '8' {
			return Mode{}, fmt.Errorf("serial mode %q: want 5 to 8 data bits after the parity", s)
		}
		m.DataBits = int(rest[0] - '0')
		rest = rest[1:]
		if rest != "" {
			sb, err := parseStopBits(rest)
			if err != nil {
				return Mode{}, fmt.Errorf("serial mode %q: %w", s, err)
			}
			m.StopBits = sb
		}
	}
	return m.withDefaults(), m.Validate()
}

func parseParity(s string) (Parity, error) {
	switch strings.ToLower(s) {
	case "n", "none":
		return ParityNone, nil
	case "o", "odd":
		return ParityOdd, nil
	case "e", "even":
		return ParityEven, nil
	case "m", "mark":
		return ParityMark, nil
	case "s", "space":
		return ParitySpace, nil
	}
	return 0, fmt.Errorf("unknown parity %q (want none, odd, even, mark or space)", s)
}

func parseStopBits(s string) (StopBits, error) {
	switch s {
	case "1":
		return Stop1, nil
	case "1.5":
		return Stop1Half, nil
	case "2":
		return Stop2, nil
	}
	return 0, fmt.Errorf("unknown stop bits %q (want 1, 1.5 or 2)", s)
}

func parseFlow(s string) (Flow, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return FlowNone, nil
	case "rtscts", "rts-cts", "hardware", "crtscts":
		return FlowRTSCTS, nil
	case "xonxoff", "xon-xoff", "software":
		return FlowXONXOFF, nil
	}
	return 0, fmt.Errorf("unknown flow control %q (want none, rtscts or xonxoff)", s)
}
