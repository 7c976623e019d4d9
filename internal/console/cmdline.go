package console

import (
	"errors"
	"net"
	"path"
	"strings"
)

// maxCommandLine bounds a connection command's length.
const maxCommandLine = 4096

// splitWords splits a command line into words like a POSIX shell would
// for a simple command: blanks separate words, single quotes quote
// everything, double quotes and backslashes quote like the shell. simple
// is false when the line uses anything else of the shell (variables,
// globs, redirections, pipes, several commands…), when the words are not
// the whole story. (An assignment, VAR=x, stays a word: the callers look
// at the first word's name.)
func splitWords(s string) (words []string, simple bool) {
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, false
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch s[i] {
				case '$', '`':
					return nil, false
				case '\\':
					if i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
						i++
					}
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, false
			}
			inWord = true
		case c == '\\':
			if i+1 >= len(s) || s[i+1] == '\n' {
				return nil, false
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case strings.IndexByte("|&;<>()$`*?[\n\r", c) >= 0,
			(c == '#' || c == '~') && !inWord:
			// Shell syntax (a glob, a comment, a home directory…).
			return nil, false
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, len(words) > 0
}

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
	words, simple := splitWords(cmdline)
	if !simple || path.Base(words[0]) != "telnet" {
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
