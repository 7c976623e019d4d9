package console

import (
	"errors"
	"net"
	"path"
	"strings"

	"github.com/basalt-lab/basalt/internal/shellwords"
)

// maxCommandLine bounds a connection command's length.
const maxCommandLine = 4096

// errNotTelnet says a command line is not one Basalt runs natively.
var errNotTelnet = errors.New("not a plain telnet command")

// telnetOptionsWithArg and telnetFlags are the options of the common
// telnet clients (netkit, inetutils, BSD): those taking an argument, and
// those without. None changes what a console needs: the native client
// always offers 8-bit (BINARY) operation and has no escape character.
const (
	telnetOptionsWithArg = "beklnsSXP"
	telnetFlags          = "4678EFKLNacdfrxuy"
)

// parseTelnetCommand recognises "telnet [options] HOST [PORT]" and returns
// the address to dial (port 23 when absent) and whether a port was given.
// Anything else (other commands, unknown options, shell syntax) returns
// errNotTelnet.
func parseTelnetCommand(cmdline string) (addr string, port bool, err error) {
	words, err := shellwords.Plain(cmdline)
	if err != nil || len(words) == 0 || path.Base(words[0]) != "telnet" {
		return "", false, errNotTelnet
	}
	var args []string
	rest := words[1:]
	for len(rest) > 0 {
		w := rest[0]
		rest = rest[1:]
		if w == "--" {
			args = append(args, rest...)
			break
		}
		if len(w) < 2 || w[0] != '-' || strings.HasPrefix(w, "--") {
			if strings.HasPrefix(w, "--") {
				return "", false, errNotTelnet
			}
			args = append(args, w)
			continue
		}
		for i := 1; i < len(w); i++ {
			c := w[i]
			if strings.IndexByte(telnetOptionsWithArg, c) >= 0 {
				if i+1 == len(w) { // the argument is the next word
					if len(rest) == 0 {
						return "", false, errNotTelnet
					}
					rest = rest[1:]
				}
				break
			}
			if strings.IndexByte(telnetFlags, c) < 0 {
				return "", false, errNotTelnet
			}
		}
	}
	switch len(args) {
	case 1:
		return net.JoinHostPort(args[0], "23"), false, nil
	case 2:
		if _, err := net.LookupPort("tcp", args[1]); err != nil {
			return "", false, errNotTelnet
		}
		return net.JoinHostPort(args[0], args[1]), true, nil
	}
	return "", false, errNotTelnet
}
