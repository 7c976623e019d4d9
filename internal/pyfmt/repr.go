package pyfmt

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Map is a Python dict: its items in order.
type Map []Item

// Item is one key and its value in a Map.
type Item struct {
	Key   string
	Value any
}

// Int is a Python int, written with its decimal digits: integers of any
// size (JSON's) keep all of them.
type Int string

// MaxDepth bounds the nesting of the values this package, and the YAML
// emitter, read and write: a value inside MaxDepth lists or dicts is
// refused.
const MaxDepth = 100

// Repr returns Python's repr of v (what str() gives for a dict or a list,
// as in the cells of LAVA's CSV exports): {'case': 'job', 'result':
// 'pass'}, [1, 'a'], None, True, 1.5.
func Repr(v any) (string, error) {
	var b strings.Builder
	if err := repr(&b, v, 1); err != nil {
		return "", err
	}
	return b.String(), nil
}

func repr(b *strings.Builder, v any, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("pyfmt: values nested deeper than %d", MaxDepth)
	}
	if s, ok := ScalarRepr(v); ok {
		b.WriteString(s)
		return nil
	}
	switch x := v.(type) {
	case []any:
		b.WriteByte('[')
		for i, it := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := repr(b, it, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case Map:
		b.WriteByte('{')
		for i, it := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(StrRepr(it.Key))
			b.WriteString(": ")
			if err := repr(b, it.Value, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("pyfmt: %#v has no repr", v)
	}
	return nil
}

// ScalarRepr is Python's repr of a scalar: None, True, False, a str
// (StrRepr), an int (int, int64 or Int) or a float (FloatRepr); ok is
// false for anything else, and for an Int that is not an integer.
func ScalarRepr(v any) (s string, ok bool) {
	switch x := v.(type) {
	case nil:
		return "None", true
	case bool:
		if x {
			return "True", true
		}
		return "False", true
	case string:
		return StrRepr(x), true
	case Int:
		return x.normal()
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return FloatRepr(x), true
	}
	return "", false
}

// normal is the integer's digits as Python writes them ("-0" is "0",
// leading zeros dropped), and whether it is one.
func (n Int) normal() (string, bool) {
	i, ok := new(big.Int).SetString(string(n), 10)
	if !ok {
		return "", false
	}
	return i.String(), true
}

// Digits returns the integer's digits as Python writes them, or an error
// when n is not an integer.
func (n Int) Digits() (string, error) {
	s, ok := n.normal()
	if !ok {
		return "", fmt.Errorf("pyfmt: %q is not an integer", string(n))
	}
	return s, nil
}

// StrRepr is Python's repr of a string: single quotes, or double quotes
// when the string holds a single quote and no double quote; backslash,
// the quote, \t, \n and \r escaped, other characters that Python does not
// print (str.isprintable) as \xNN, \uNNNN or \UNNNNNNNN. A byte that is
// not UTF-8 is written \xNN.
func StrRepr(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b := make([]byte, 0, len(s)+2)
	b = append(b, quote)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = fmt.Appendf(b, `\x%02x`, s[i])
			i++
			continue
		}
		i += n
		switch {
		case r == rune(quote) || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r < 0x20 || r == 0x7F:
			b = fmt.Appendf(b, `\x%02x`, r)
		case r < 0x7F:
			b = append(b, byte(r))
		case unicode.IsPrint(r): // Python's isprintable beyond ASCII: letters, marks, numbers, punctuation, symbols
			b = utf8.AppendRune(b, r)
		case r <= 0xFF:
			b = fmt.Appendf(b, `\x%02x`, r)
		case r <= 0xFFFF:
			b = fmt.Appendf(b, `\u%04x`, r)
		default:
			b = fmt.Appendf(b, `\U%08x`, r)
		}
	}
	b = append(b, quote)
	return string(b)
}
