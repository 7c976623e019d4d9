package console

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// refEvent is an event as the reference model sees it.
type refEvent struct {
	Cmd, Opt  byte
	Data      string
	Truncated bool
}

// refFilter is the reference model of the telnet input filter, written
// over the whole input at once: remove IAC sequences (IAC IAC is a data
// 0xFF; IAC WILL/WONT/DO/DONT x; IAC SB x … IAC SE, in which IAC IAC is
// data and IAC + anything else abandons it and starts a command; IAC +
// any other byte), drop unfinished sequences at the end, then, unless
// binary, drop each NUL that follows a CR in the data.
func refFilter(in []byte, binary bool) ([]byte, []refEvent) {
	var data []byte
	var evs []refEvent
	i := 0
outer:
	for i < len(in) {
		if in[i] != 255 {
			data = append(data, in[i])
			i++
			continue
		}
		if i+1 >= len(in) {
			break
		}
		switch c := in[i+1]; c {
		case 255:
			data = append(data, 255)
			i += 2
		case 251, 252, 253, 254:
			if i+2 >= len(in) {
				break outer
			}
			evs = append(evs, refEvent{Cmd: c, Opt: in[i+2]})
			i += 3
		case 250:
			if i+2 >= len(in) {
				break outer
			}
			opt := in[i+2]
			var sub []byte
			j := i + 3
			for {
				if j >= len(in) {
					break outer
				}
				if in[j] != 255 {
					sub = append(sub, in[j])
					j++
					continue
				}
				if j+1 >= len(in) {
					break outer
				}
				switch in[j+1] {
				case 240:
					ev := refEvent{Cmd: 250, Opt: opt, Data: string(sub)}
					if len(sub) > MaxSubnegotiation {
						ev.Data, ev.Truncated = string(sub[:MaxSubnegotiation]), true
					}
					evs = append(evs, ev)
					i = j + 2
					continue outer
				case 255:
					sub = append(sub, 255)
					j += 2
				default:
					i = j // IAC at j starts a command
					continue outer
				}
			}
		default:
			i += 2
		}
	}
	if !binary {
		out := data[:0:0]
		for k, b := range data {
			if b == 0 && k > 0 && data[k-1] == '\r' {
				continue
			}
			out = append(out, b)
		}
		data = out
	}
	return data, evs
}

// runParser feeds in to a parser in pieces of the sizes cuts gives.
func runParser(in, cuts []byte, binary bool) ([]byte, []refEvent) {
	p := tnParser{binary: binary}
	var out []byte
	var evs []refEvent
	ev := func(e tnEvent) {
		evs = append(evs, refEvent{Cmd: e.cmd, Opt: e.opt, Data: string(e.data), Truncated: e.truncated})
	}
	k := 0
	for len(in) > 0 {
		n := len(in)
		if k < len(cuts) {
			n = min(int(cuts[k])%23+1, len(in))
			k++
		}
		out = p.feed(in[:n], out, ev)
		in = in[n:]
	}
	return out, evs
}

func TestTelnetFilter(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, MaxSubnegotiation+10)
	tests := []struct {
		name   string
		in     []byte
		binary bool
		data   string
		evs    []refEvent
	}{
		{"plain", []byte("hello\r\n"), false, "hello\r\n", nil},
		{"IAC IAC is 0xFF", []byte{'a', 255, 255, 'b'}, true, "a\xffb", nil},
		{"negotiation removed", []byte{'a', 255, 251, 1, 'b', 255, 254, 24}, false, "ab", []refEvent{{Cmd: 251, Opt: 1}, {Cmd: 254, Opt: 24}}},
		{"NOP and GA removed", []byte{'a', 255, 241, 'b', 255, 249, 'c'}, false, "abc", nil},
		{"CR NUL is CR in NVT", []byte("a\r\x00b\r\nc"), false, "a\rb\r\nc", nil},
		{"CR NUL kept in binary", []byte("a\r\x00b"), true, "a\r\x00b", nil},
		{"NUL alone kept", []byte("a\x00b"), false, "a\x00b", nil},
		{"CR IAC IAC NUL", []byte{'\r', 255, 255, 0}, false, "\r\xff\x00", nil},
		{"CR command NUL", []byte{'\r', 255, 241, 0}, false, "\r", nil},
		{"subnegotiation", []byte{'a', 255, 250, 44, 101, 0, 0, 0x25, 0x80, 255, 240, 'b'}, false, "ab",
			[]refEvent{{Cmd: 250, Opt: 44, Data: "\x65\x00\x00\x25\x80"}}},
		{"subnegotiation with IAC IAC", []byte{255, 250, 44, 1, 255, 255, 255, 240}, false, "",
			[]refEvent{{Cmd: 250, Opt: 44, Data: "\x01\xff"}}},
		{"malformed subnegotiation", []byte{255, 250, 44, 1, 255, 251, 3, 'z'}, false, "z",
			[]refEvent{{Cmd: 251, Opt: 3}}},
		{"long subnegotiation truncated", append(append([]byte{255, 250, 5}, long...), 255, 240, 'k'), false, "k",
			[]refEvent{{Cmd: 250, Opt: 5, Data: string(long[:MaxSubnegotiation]), Truncated: true}}},
		{"unfinished at end", []byte{'a', 255, 250, 1, 2, 3}, false, "a", nil},
	}
	for _, tc := range tests {
		for _, cut := range []int{0, 1, 2, 3, 5} {
			t.Run(fmt.Sprintf("%s/cut%d", tc.name, cut), func(t *testing.T) {
				var cuts []byte
				if cut > 0 {
					cuts = bytes.Repeat([]byte{byte(cut - 1)}, len(tc.in))
				}
				data, evs := runParser(tc.in, cuts, tc.binary)
				if diff := cmp.Diff(tc.data, string(data)); diff != "" {
					t.Errorf("data (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.evs, evs); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				rd, revs := refFilter(tc.in, tc.binary)
				if string(rd) != tc.data || !cmp.Equal(revs, tc.evs) {
					t.Errorf("the reference model disagrees: %q %v", rd, revs)
				}
			})
		}
	}
}

func TestEscapeIAC(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a\xffb", "a\xff\xffb"},
		{"\xff\xff", "\xff\xff\xff\xff"},
		{"a\rb\r\nc\r", "a\rb\r\nc\r"},
		{"\x00\x80\xfe", "\x00\x80\xfe"},
	}
	for _, tc := range tests {
		if got := string(escapeIAC(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("escapeIAC(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzTelnetFilter feeds arbitrary bytes, cut at arbitrary places, to the
// telnet input parser: it never panics, and its data and commands are
// those of the reference model. Escaping data and parsing it back gives
// the data.
func FuzzTelnetFilter(f *testing.F) {
	f.Add([]byte("hello\r\x00world\r\n"), []byte{0, 1, 2}, false)
	f.Add([]byte{255, 255, 255, 251, 1, 255, 250, 44, 1, 0, 0, 255, 255, 255, 240, 'x'}, []byte{3}, true)
	f.Add([]byte{255, 250, 1, 255, 1, 255, 250, 255, 240, 13, 0}, []byte{}, false)
	f.Add([]byte{13, 255, 241, 0, 13, 255, 255, 0}, []byte{0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, in, cuts []byte, binary bool) {
		data, evs := runParser(in, cuts, binary)
		rd, revs := refFilter(in, binary)
		if !bytes.Equal(data, rd) {
			t.Fatalf("data %q, reference %q", data, rd)
		}
		if diff := cmp.Diff(revs, evs); diff != "" {
			t.Fatalf("events (-reference +parser):\n%s", diff)
		}
		// Round trip: what the client's escaping sends, a binary peer
		// with the same parser reads back exactly.
		esc := escapeIAC(nil, in)
		back, bevs := runParser(esc, cuts, true)
		if !bytes.Equal(back, in) || len(bevs) != 0 {
			t.Fatalf("binary round trip: %q -> %q -> %q (%d events)", in, esc, back, len(bevs))
		}
	})
}

// BenchmarkTelnetFilter measures the input filter on console-like output
// (text lines with an IAC IAC now and then), in binary and NVT mode.
func BenchmarkTelnetFilter(b *testing.B) {
	var in []byte
	for i := 0; len(in) < 32<<10; i++ {
		in = append(in, fmt.Sprintf("[%8d.000000] some kernel message number %d\r\n", i, i)...)
		if i%50 == 0 {
			in = append(in, 255, 255)
		}
	}
	for _, binary := range []bool{true, false} {
		b.Run(fmt.Sprintf("binary=%v", binary), func(b *testing.B) {
			p := tnParser{binary: binary}
			out := make([]byte, 0, len(in))
			b.SetBytes(int64(len(in)))
			for range b.N {
				out = p.feed(in, out[:0], func(tnEvent) {})
			}
		})
	}
}
