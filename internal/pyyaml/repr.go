package pyyaml

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode"
)

// Repr returns Python's repr of v (what str() gives for a dict or a list,
// as in the cells of LAVA's CSV exports): {'case': 'job', 'result':
// 'pass'}, [1, 'a'], None, True, 1.5.
func Repr(v any) (string, error) {
	var b strings.Builder
	if err := repr(&b, v, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

func repr(b *strings.Builder, v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("pyyaml: values nested deeper than %d", maxDepth)
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case string:
		b.WriteString(StrRepr(x))
	case Int:
		n, ok := new(big.Int).SetString(string(x), 10)
		if !ok {
			return fmt.Errorf("pyyaml: %q is not an integer", string(x))
		}
		b.WriteString(n.String())
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(FloatRepr(x))
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
		return fmt.Errorf("pyyaml: a %T has no repr", v)
	}
	return nil
}

// StrRepr is Python's repr of a string: single quotes, or double quotes
// when the string holds a single quote and no double quote; backslash,
// the quote, \t, \n and \r escaped, other non-printable characters as
// \xNN, \uNNNN or \UNNNNNNNN.
func StrRepr(s string) string {
	quote := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7F:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7F:
			b.WriteRune(r)
		case pyPrintable(r):
			b.WriteRune(r)
		case r <= 0xFF:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// pyPrintable is Python's str.isprintable for one non-ASCII character:
// not a control, format, surrogate, private-use or unassigned character,
// nor a separator other than the ASCII space.
func pyPrintable(r rune) bool {
	if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Cs, unicode.Co, unicode.Zl, unicode.Zp, unicode.Zs) {
		return false
	}
	// unassigned (Cn): in no category
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}
