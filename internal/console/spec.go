package console

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Connection is one named console connection of a device, as LAVA renders
// commands.connections.<name> in the device configuration.
type Connection struct {
	// Connect is the connection command (or a Basalt console address, see
	// Dial).
	Connect string `json:"connect" yaml:"connect"`
	// Tags are LAVA's tags: "primary" marks the console the boot and test
	// actions use; "telnet", "ssh" and "shell" say what the connection is.
	Tags []string `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// PrimaryTag marks the primary connection among several.
const PrimaryTag = "primary"

// Spec is a device's consoles, filled from its rendered configuration
// (commands.connect or commands.connections).
type Spec struct {
	// Connect is commands.connect: the single console of the device
	// (LAVA's older form, still the usual one). When set, it is the
	// primary console, whatever Connections holds.
	Connect string `json:"connect,omitempty" yaml:"connect,omitempty"`
	// Connections is commands.connections: named connections, exactly one
	// of which is tagged "primary" when Connect is empty.
	Connections map[string]Connection `json:"connections,omitempty" yaml:"connections,omitempty"`
}

// Primary returns the primary console's connection command and the name of
// its connection ("" for commands.connect), as LAVA chooses it: Connect
// when set, otherwise the connection tagged "primary".
func (s Spec) Primary() (name, connect string, err error) {
	if s.Connect != "" {
		return "", s.Connect, nil
	}
	if len(s.Connections) == 0 {
		return "", "", fmt.Errorf("device has no console: neither commands.connect nor commands.connections is set")
	}
	var primaries []string
	for n, c := range s.Connections {
		if c.Connect == "" {
			return "", "", fmt.Errorf("commands.connections.%s: no connect command", n)
		}
		if slices.Contains(c.Tags, PrimaryTag) {
			primaries = append(primaries, n)
		}
	}
	sort.Strings(primaries)
	switch len(primaries) {
	case 0:
		return "", "", fmt.Errorf("commands.connections: no connection is tagged %q (unable to identify the primary connection command)", PrimaryTag)
	case 1:
		return primaries[0], s.Connections[primaries[0]].Connect, nil
	}
	return "", "", fmt.Errorf("commands.connections: %d connections are tagged %q (%s); want exactly one", len(primaries), PrimaryTag, strings.Join(primaries, ", "))
}

// Secondary returns the connection command of the named non-primary
// connection (a second shell on the device, LAVA's connect-shell).
func (s Spec) Secondary(name string) (string, error) {
	c, ok := s.Connections[name]
	switch {
	case !ok:
		return "", fmt.Errorf("commands.connections has no connection %q", name)
	case c.Connect == "":
		return "", fmt.Errorf("commands.connections.%s: no connect command", name)
	case slices.Contains(c.Tags, PrimaryTag):
		return "", fmt.Errorf("commands.connections.%s is the primary connection, not a secondary one", name)
	}
	return c.Connect, nil
}

// Open opens the device's primary console (see Spec.Primary and Dial).
// Wrap it in Keep to survive connection losses:
//
//	console.Keep(ctx, func(ctx context.Context) (io.ReadWriteCloser, error) {
//		return console.Open(ctx, spec)
//	}, opts)
func Open(ctx context.Context, spec Spec) (io.ReadWriteCloser, error) {
	name, connect, err := spec.Primary()
	if err != nil {
		return nil, err
	}
	c, err := Dial(ctx, connect)
	if err != nil && name != "" {
		return nil, fmt.Errorf("console %s: %w", name, err)
	}
	return c, err
}

// Dial opens a console from its connection string. Besides LAVA's
// connection commands (see Command), it accepts Basalt's addresses:
//
//	serial:/dev/ttyUSB0?baud=115200&data=8&parity=none&stop=1&flow=none
//	serial:/dev/ttyUSB0?mode=115200n81
//	telnet://HOST:PORT
//	rfc2217://HOST:PORT?baud=115200&parity=even&data=7&stop=1&flow=rtscts
//
// serial: is a local serial port (Serial); telnet:// is the native telnet
// client; rfc2217:// is the telnet client that also sets the remote port's
// mode with RFC 2217 (DialTelnet with ComPort). The parameters are
// optional (defaults: 115200 8N1, no flow control); parity is
// none/odd/even/mark/space, flow none/rtscts/xonxoff, mode is ser2net's
// short form (see ParseMode).
func Dial(ctx context.Context, connect string) (io.ReadWriteCloser, error) {
	connect = strings.TrimSpace(connect)
	switch {
	case strings.HasPrefix(connect, "serial:"):
		path, mode, err := parseAddress(strings.TrimPrefix(connect, "serial:"))
		if err != nil {
			return nil, fmt.Errorf("console %q: %w", connect, err)
		}
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("console %q: want an absolute device path after \"serial:\"", connect)
		}
		return Serial(path, mode)
	case strings.HasPrefix(connect, "telnet://"), strings.HasPrefix(connect, "rfc2217://"):
		scheme, rest, _ := strings.Cut(connect, "://")
		hostport, mode, err := parseAddress(rest)
		if err != nil {
			return nil, fmt.Errorf("console %q: %w", connect, err)
		}
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			return nil, fmt.Errorf("console %q: want HOST:PORT: %w", connect, err)
		}
		var opts TelnetOptions
		if scheme == "rfc2217" {
			opts.ComPort = &mode
		} else if strings.Contains(rest, "?") {
			return nil, fmt.Errorf("console %q: serial settings need the rfc2217 scheme, not telnet", connect)
		}
		return DialTelnet(ctx, hostport, opts)
	}
	return Command(ctx, connect)
}

// parseAddress splits "WHERE?k=v&…" into WHERE and the serial mode its
// parameters give.
func parseAddress(s string) (string, Mode, error) {
	where, query, _ := strings.Cut(s, "?")
	m := Mode{}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return "", Mode{}, fmt.Errorf("parameters: %w", err)
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(vals[k]) != 1 {
			return "", Mode{}, fmt.Errorf("parameter %s given %d times", k, len(vals[k]))
		}
		v := vals[k][0]
		switch k {
		case "mode":
			pm, err := ParseMode(v)
			if err != nil {
				return "", Mode{}, err
			}
			m = pm
		case "baud":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return "", Mode{}, fmt.Errorf("baud=%q: want a positive number", v)
			}
			m.Baud = n
		case "data":
			n, err := strconv.Atoi(v)
			if err != nil {
				return "", Mode{}, fmt.Errorf("data=%q: want 5 to 8", v)
			}
			m.DataBits = n
		case "parity":
			if m.Parity, err = parseParity(v); err != nil {
				return "", Mode{}, err
			}
		case "stop":
			if m.StopBits, err = parseStopBits(v); err != nil {
				return "", Mode{}, err
			}
		case "flow":
			if m.Flow, err = parseFlow(v); err != nil {
				return "", Mode{}, err
			}
		default:
			return "", Mode{}, fmt.Errorf("unknown parameter %q (want mode, baud, data, parity, stop or flow)", k)
		}
	}
	if err := m.Validate(); err != nil {
		return "", Mode{}, err
	}
	return where, m.withDefaults(), nil
}
