package console

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

func TestSpecFromRenderedConfig(t *testing.T) {
	tests := []struct {
		file, name, connect string
	}{
		{"testdata/connect.yaml", "", "telnet localhost 7001"},
		{"testdata/connections.yaml", "uart0", "telnet localhost 7001"},
	}
	for _, tc := range tests {
		data, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		var dev struct {
			Commands Spec `yaml:"commands"`
		}
		if err := yaml.Unmarshal(data, &dev); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		name, connect, err := dev.Commands.Primary()
		if err != nil || name != tc.name || connect != tc.connect {
			t.Errorf("%s: Primary() = %q, %q, %v; want %q, %q", tc.file, name, connect, err, tc.name, tc.connect)
		}
	}
}

func TestSpecPrimaryAndSecondary(t *testing.T) {
	two := map[string]Connection{
		"uart0": {Connect: "telnet localhost 7001", Tags: []string{"primary", "telnet"}},
		"uart1": {Connect: "telnet localhost 7002", Tags: []string{"telnet"}},
		"usb":   {Connect: "serial:/dev/ttyUSB0"},
	}
	tests := []struct {
		name      string
		spec      Spec
		primary   string
		connect   string
		errSubstr string
	}{
		{"connect", Spec{Connect: "telnet h 1"}, "", "telnet h 1", ""},
		{"connect wins", Spec{Connect: "telnet h 1", Connections: two}, "", "telnet h 1", ""},
		{"tagged primary", Spec{Connections: two}, "uart0", "telnet localhost 7001", ""},
		{"none", Spec{}, "", "", "neither commands.connect nor commands.connections"},
		{"no primary", Spec{Connections: map[string]Connection{"a": {Connect: "x"}}}, "", "", `no connection is tagged "primary"`},
		{"two primaries", Spec{Connections: map[string]Connection{
			"b": {Connect: "x", Tags: []string{"primary"}}, "a": {Connect: "y", Tags: []string{"primary"}},
		}}, "", "", "2 connections are tagged \"primary\" (a, b)"},
		{"no connect", Spec{Connections: map[string]Connection{"a": {Tags: []string{"primary"}}}}, "", "", "commands.connections.a: no connect command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, connect, err := tc.spec.Primary()
			if tc.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSubstr) {
					t.Fatalf("Primary() error %v, want %q", err, tc.errSubstr)
				}
				return
			}
			if err != nil || name != tc.primary || connect != tc.connect {
				t.Fatalf("Primary() = %q, %q, %v; want %q, %q", name, connect, err, tc.primary, tc.connect)
			}
		})
	}
	s := Spec{Connections: two}
	if c, err := s.Secondary("uart1"); err != nil || c != "telnet localhost 7002" {
		t.Errorf("Secondary(uart1) = %q, %v", c, err)
	}
	if c, err := s.Secondary("usb"); err != nil || c != "serial:/dev/ttyUSB0" {
		t.Errorf("Secondary(usb) = %q, %v", c, err)
	}
	for name, want := range map[string]string{"uart0": "is the primary connection", "nope": "no connection \"nope\""} {
		if _, err := s.Secondary(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Secondary(%s) error %v, want %q", name, err, want)
		}
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in, where string
		mode      Mode
		err       string
	}{
		{"/dev/ttyUSB0", "/dev/ttyUSB0", Mode{Baud: 115200, DataBits: 8}, ""},
		{"/dev/ttyUSB0?baud=9600&parity=even&data=7&stop=2&flow=rtscts", "/dev/ttyUSB0",
			Mode{Baud: 9600, DataBits: 7, Parity: ParityEven, StopBits: Stop2, Flow: FlowRTSCTS}, ""},
		{"/dev/ttyS0?mode=57600o71,xonxoff", "/dev/ttyS0", Mode{Baud: 57600, DataBits: 7, Parity: ParityOdd, Flow: FlowXONXOFF}, ""},
		{"host:7001?parity=mark&stop=1.5", "host:7001", Mode{Baud: 115200, DataBits: 8, Parity: ParityMark, StopBits: Stop1Half}, ""},
		{"/dev/x?baud=fast", "", Mode{}, `baud="fast"`},
		{"/dev/x?parity=weird", "", Mode{}, `unknown parity "weird"`},
		{"/dev/x?flow=maybe", "", Mode{}, `unknown flow control "maybe"`},
		{"/dev/x?stop=3", "", Mode{}, `unknown stop bits "3"`},
		{"/dev/x?data=9", "", Mode{}, "9 data bits"},
		{"/dev/x?speed=1", "", Mode{}, `unknown parameter "speed"`},
		{"/dev/x?baud=1&baud=2", "", Mode{}, "baud given 2 times"},
		{"/dev/x?mode=n81", "", Mode{}, "want a baud rate first"},
		{"/dev/x?a=%zz", "", Mode{}, "parameters"},
	}
	for _, tc := range tests {
		where, mode, err := parseAddress(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || where != tc.where || mode != tc.mode {
			t.Errorf("%q: got %q %v %v, want %q %v", tc.in, where, mode, err, tc.where, tc.mode)
		}
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want Mode
		err  string
	}{
		{"115200", Mode{Baud: 115200, DataBits: 8}, ""},
		{"115200n81", Mode{Baud: 115200, DataBits: 8}, ""},
		{"9600E72", Mode{Baud: 9600, DataBits: 7, Parity: ParityEven, StopBits: Stop2}, ""},
		{"300s51.5,rtscts", Mode{Baud: 300, DataBits: 5, Parity: ParitySpace, StopBits: Stop1Half, Flow: FlowRTSCTS}, ""},
		{"115200n8", Mode{Baud: 115200, DataBits: 8}, ""},
		{"115200x81", Mode{}, "unknown parity"},
		{"115200n91", Mode{}, "want 5 to 8 data bits"},
		{"115200n83", Mode{}, "unknown stop bits"},
		{"115200n", Mode{}, "want 5 to 8 data bits"},
		{"", Mode{}, "want a baud rate first"},
		{"0n81", Mode{}, "bad baud rate"},
		{"99999999999n81", Mode{}, "out of range"},
		{"9999999999n81", Mode{}, "out of range"},
		{"115200n81,odd", Mode{}, "unknown flow control"},
	}
	for _, tc := range tests {
		got, err := ParseMode(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseMode(%q): %v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if back, err := ParseMode(got.String()); err != nil || back != got {
			t.Errorf("round trip of %v through %q: %v, %v", got, got.String(), back, err)
		}
	}
}

func TestDialForms(t *testing.T) {
	ctx := context.Background()
	// telnet:// is the active native client.
	addr, conns := fakeServer(t)
	c, err := Dial(ctx, "telnet://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*Telnet); !ok {
		t.Fatalf("telnet:// gave a %T", c)
	}
	expect(t, <-conns, "opening", opening)

	// A connection command through Open.
	cc, err := Open(ctx, Spec{Connections: map[string]Connection{"u": {Connect: "cat", Tags: []string{"primary"}}}})
	if err != nil {
		t.Fatal(err)
	}
	cc.Write([]byte("echo\n"))
	if got := string(readN(t, cc, 5)); got != "echo\n" {
		t.Fatalf("read %q", got)
	}
	cc.Close()

	for in, want := range map[string]string{
		"serial:dev/ttyUSB0":          "absolute device path",
		"serial:/dev/x?baud=3":        "not a standard rate",
		"telnet://nohostport":         "want HOST:PORT",
		"telnet://h:1?baud=9600":      "need the rfc2217 scheme",
		"rfc2217://h:1?parity=purple": "unknown parity",
	} {
		if _, err := Dial(ctx, in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Dial(%q): %v, want an error containing %q", in, err, want)
		}
	}
}

// FuzzConnectString feeds arbitrary connection strings to the parsers
// behind Dial and Command: no panic, and what parses is consistent.
func FuzzConnectString(f *testing.F) {
	for _, s := range []string{
		"telnet localhost 7001", "telnet -e ^] -8 'h' 23", "serial:/dev/ttyUSB0?baud=9600&parity=even",
		"rfc2217://h:1?mode=9600e71,rtscts", "sh -c 'stty raw; cat'", "a\\ b \"c\\\"d\"", "115200n81",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxCommandLine {
			return
		}
		if addr, _, err := parseTelnetCommand(s); err == nil && addr == "" {
			t.Fatalf("telnet command %q with an empty address", s)
		}
		if _, m, err := parseAddress(s); err == nil {
			if err := m.Validate(); err != nil {
				t.Fatalf("parseAddress(%q) gave an invalid mode %v: %v", s, m, err)
			}
		}
		if m, err := ParseMode(s); err == nil {
			if back, err := ParseMode(m.String()); err != nil || back != m {
				t.Fatalf("ParseMode(%q) = %v; through %q: %v, %v", s, m, m.String(), back, err)
			}
		}
	})
}
