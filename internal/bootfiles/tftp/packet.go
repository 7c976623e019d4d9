package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Opcodes (RFC 1350, RFC 2347).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// Error codes of the ERROR packet (RFC 1350, RFC 2347).
const (
	CodeNotDefined    = 0 // see the message
	CodeNotFound      = 1 // file not found
	CodeAccess        = 2 // access violation
	CodeDiskFull      = 3 // disk full or allocation exceeded
	CodeIllegal       = 4 // illegal TFTP operation
	CodeUnknownTID    = 5 // unknown transfer ID
	CodeExists        = 6 // file already exists
	CodeNoUser        = 7 // no such user
	CodeOptionRefused = 8 // option negotiation refused (RFC 2347)
)

// Bounds of requests and options.
const (
	maxRequestSize     = 1024 // bytes of an RRQ/WRQ packet
	maxFilenameLen     = 512
	maxOptions         = 16
	maxOptionLen       = 64 // bytes of an option's name, and of its value
	minBlockSize       = 8
	maxBlockSize       = 65464
	defaultBlockSize   = 512
	maxWindowSize      = 65535
	maxTimeoutSeconds  = 255
	maxPacketSize      = 4 + maxBlockSize
	errorPacketMaxText = 200
)

// Error is a TFTP error: one the server sent to the client, or one the
// client sent to the server (Peer is then true).
type Error struct {
	Code    uint16 // one of the Code constants
	Message string // the packet's text
	Peer    bool   // the client sent it
}

// Error implements error.
func (e *Error) Error() string {
	who := "sent"
	if e.Peer {
		who = "received"
	}
	return fmt.Sprintf("tftp error %d %s: %s", e.Code, who, e.Message)
}

// request is a parsed RRQ or WRQ.
type request struct {
	op       uint16
	filename string
	mode     string   // lower case
	options  []option // in packet order, names lower case, first of each name only
}

type option struct {
	name, value string
}

var (
	errShort       = errors.New("packet too short")
	errTooBig      = errors.New("request too large")
	errNotRequest  = errors.New("not a request")
	errUnterm      = errors.New("unterminated field")
	errFilename    = errors.New("bad filename")
	errTooMany     = errors.New("too many options")
	errOptionField = errors.New("option name or value too long")
)

// parseRequest parses an RRQ or WRQ packet. Its work is bounded by
// maxRequestSize. A trailing option name without a value is ignored (some
// clients pad their requests); an option whose value is unterminated too.
func parseRequest(b []byte) (request, error) {
	var r request
	if len(b) > maxRequestSize {
		return r, errTooBig
	}
	if len(b) < 2 {
		return r, errShort
	}
	r.op = binary.BigEndian.Uint16(b)
	if r.op != opRRQ && r.op != opWRQ {
		return r, errNotRequest
	}
	rest := b[2:]
	field := func() (string, bool) {
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return "", false
		}
		s := string(rest[:i])
		rest = rest[i+1:]
		return s, true
	}
	var ok bool
	if r.filename, ok = field(); !ok {
		return r, fmt.Errorf("filename: %w", errUnterm)
	}
	if r.filename == "" || len(r.filename) > maxFilenameLen {
		return r, errFilename
	}
	mode, ok := field()
	if !ok {
		return r, fmt.Errorf("mode: %w", errUnterm)
	}
	r.mode = strings.ToLower(mode)
	for len(rest) > 0 {
		name, ok := field()
		if !ok || name == "" {
			break // padding or junk after the last option
		}
		value, ok := field()
		if !ok {
			break
		}
		if len(r.options) == maxOptions {
			return r, errTooMany
		}
		if len(name) > maxOptionLen || len(value) > maxOptionLen {
			return r, errOptionField
		}
		if !printableASCII(name) {
			continue // option names are ASCII (RFC 2347): an unknown option, ignored
		}
		name = strings.ToLower(name)
		dup := false
		for _, o := range r.options {
			if o.name == name {
				dup = true
				break
			}
		}
		if !dup {
			r.options = append(r.options, option{name, value})
		}
	}
	return r, nil
}

// appendError appends an ERROR packet.
func appendError(b []byte, code uint16, msg string) []byte {
	if len(msg) > errorPacketMaxText {
		msg = msg[:errorPacketMaxText]
	}
	b = binary.BigEndian.AppendUint16(b, opERROR)
	b = binary.BigEndian.AppendUint16(b, code)
	b = append(b, msg...)
	return append(b, 0)
}

// appendOACK appends an OACK packet with the given options.
func appendOACK(b []byte, opts []option) []byte {
	b = binary.BigEndian.AppendUint16(b, opOACK)
	for _, o := range opts {
		b = append(b, o.name...)
		b = append(b, 0)
		b = append(b, o.value...)
		b = append(b, 0)
	}
	return b
}

// parseError parses the body of an ERROR packet (after the opcode).
func parseError(b []byte) *Error {
	e := &Error{Peer: true}
	if len(b) >= 2 {
		e.Code = binary.BigEndian.Uint16(b)
		msg := b[2:]
		if i := bytes.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
		if len(msg) > errorPacketMaxText {
			msg = msg[:errorPacketMaxText]
		}
		e.Message = strings.ToValidUTF8(string(msg), "?")
	}
	return e
}

// parseUint parses a small decimal option value; ok is false for anything
// else (signs, spaces, empty, more than 9 digits).
func parseUint(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// cleanName turns a requested filename into a path relative to the root,
// in the form io/fs expects: leading slashes dropped (clients send both),
// empty and "." elements dropped. A ".." element anywhere is refused, as
// tftpd-hpa does, even when it would stay inside the root; so are names
// that are not valid UTF-8 (io/fs paths must be).
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 || !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: %q is not UTF-8 text", errFilename, name)
	}
	parts := strings.Split(name, "/")
	out := parts[:0]
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: %q has a \"..\" element", errFilename, name)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return "", fmt.Errorf("%w: %q names no file", errFilename, name)
	}
	return strings.Join(out, "/"), nil
}

// printableASCII reports whether s holds only printable ASCII characters.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
