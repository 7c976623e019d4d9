package pyfmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseJSON reads one JSON value as Python's json.loads reads it, into
// this package's values: an object is a Map in the order of its keys (a
// key given twice keeps its first place and its last value), an array a
// []any, an integer an Int with all its digits, any other number a
// float64 (beyond the largest float, inf or -inf, as Python's float()
// makes it). Values nested deeper than MaxDepth are refused.
func ParseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseJSON(dec, 1)
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("json: data after the value")
	}
	return v, nil
}

func parseJSON(dec *json.Decoder, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("values nested deeper than %d", MaxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := Map{}
			at := map[string]int{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := parseJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				if i, ok := at[k]; ok {
					m[i].Value = v
					continue
				}
				at[k] = len(m)
				m = append(m, Item{Key: k, Value: v})
			}
			_, err := dec.Token() // '}'
			return m, err
		case '[':
			l := []any{}
			for dec.More() {
				v, err := parseJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := dec.Token() // ']'
			return l, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		s := t.String()
		if !strings.ContainsAny(s, ".eE") {
			return Int(s), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !math.IsInf(f, 0) {
			return nil, fmt.Errorf("number %s: %w", s, err)
		}
		return f, nil
	}
	return tok, nil // string, bool, nil
}

// AppendJSONString appends s as a JSON string the way Python's json.dumps
// writes it (ensure_ascii): printable ASCII as is but for '"' and a
// backslash, everything else as an escape (\n, \uXXXX, a surrogate pair
// beyond the BMP). Bytes that are not UTF-8 become U+FFFD.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case jsonEscapes[c] != 0:
				b = append(b, '\\', jsonEscapes[c])
			case c < 0x20 || c == 0x7f:
				b = appendUEscape(b, rune(c))
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		b = appendRuneEscape(b, r)
	}
	return append(b, '"')
}

// EnsureASCII rewrites a JSON text as Python's json.dumps writes it
// (ensure_ascii): DEL and every character beyond ASCII escaped as \uXXXX, a
// surrogate pair beyond U+FFFF. Outside strings JSON has only ASCII, so
// only strings change; a byte that is not UTF-8 becomes \ufffd. A text
// that is ASCII already is returned as is.
func EnsureASCII(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] < 0x7f {
		i++
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/4)
	out = append(out, b[:i]...)
	for i < len(b) {
		if c := b[i]; c < 0x7f {
			out = append(out, c)
			i++
			continue
		} else if c == 0x7f { // DEL is ASCII, but json.dumps escapes it
			out = appendUEscape(out, 0x7f)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		i += size
		out = appendRuneEscape(out, r)
	}
	return out
}

// appendRuneEscape appends r as json.dumps escapes a character beyond
// ASCII: \uXXXX, or a UTF-16 surrogate pair beyond U+FFFF.
func appendRuneEscape(b []byte, r rune) []byte {
	if r > 0xffff {
		r -= 0x10000
		b = appendUEscape(b, 0xd800+(r>>10))
		return appendUEscape(b, 0xdc00+(r&0x3ff))
	}
	return appendUEscape(b, r)
}

// appendUEscape appends \uXXXX for r (at most U+FFFF), in lower case.
func appendUEscape(b []byte, r rune) []byte {
	const hexDigits = "0123456789abcdef"
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// jsonEscapes are the short escapes of json.dumps, by ASCII character.
var jsonEscapes = [utf8.RuneSelf]byte{'"': '"', '\\': '\\', '\n': 'n', '\r': 'r', '\t': 't', '\b': 'b', '\f': 'f'}
