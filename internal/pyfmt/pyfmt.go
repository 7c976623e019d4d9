package pyfmt

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FloatRepr is Python's repr(float): the shortest digits that read back
// as f, positional when the decimal exponent is from -4 to 15, else
// scientific with a signed two-digit exponent ("1e+16"); a whole number
// keeps ".0"; inf, -inf and nan as Python spells them.
func FloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expS, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expS)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	r := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(r, ".") {
		r += ".0"
	}
	return r
}

// AppendYAMLQuoted appends s as a YAML double-quoted scalar the way
// PyYAML's C dumper writes it without allow_unicode: printable ASCII as
// is, the named escapes (\0 \a \b \t \n \v \f \r \e \" \\ \N \_ \L \P),
// anything else as \xXX, \uXXXX or \UXXXXXXXX (bytes that are not UTF-8
// as \uFFFD).
func AppendYAMLQuoted(out []byte, s string) []byte {
	out = append(out, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch r {
		case 0:
			out = append(out, `\0`...)
		case 7:
			out = append(out, `\a`...)
		case 8:
			out = append(out, `\b`...)
		case 9:
			out = append(out, `\t`...)
		case 10:
			out = append(out, `\n`...)
		case 11:
			out = append(out, `\v`...)
		case 12:
			out = append(out, `\f`...)
		case 13:
			out = append(out, `\r`...)
		case 27:
			out = append(out, `\e`...)
		case '"':
			out = append(out, `\"`...)
		case '\\':
			out = append(out, `\\`...)
		case 0x85:
			out = append(out, `\N`...)
		case 0xa0:
			out = append(out, `\_`...)
		case 0x2028:
			out = append(out, `\L`...)
		case 0x2029:
			out = append(out, `\P`...)
		default:
			switch {
			case r >= 0x20 && r <= 0x7e:
				out = append(out, byte(r))
			case r <= 0xff:
				out = fmt.Appendf(out, `\x%02X`, r)
			case r <= 0xffff:
				out = fmt.Appendf(out, `\u%04X`, r)
			default:
				out = fmt.Appendf(out, `\U%08X`, r)
			}
		}
	}
	return append(out, '"')
}

// IsoformatUTC is t as Python's datetime.isoformat writes an aware UTC
// time: microseconds unless they are zero, offset +00:00.
func IsoformatUTC(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000+00:00")
}
