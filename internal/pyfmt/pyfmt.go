package pyfmt

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
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

// IsoformatUTC is t as Python's datetime.isoformat() writes an aware UTC
// time: "2026-08-21T10:00:00.123456+00:00", microseconds unless they are
// zero.
func IsoformatUTC(t time.Time) string { return isoformat(t, "T") }

// DatetimeStrUTC is t as Python's str() writes an aware UTC datetime:
// isoformat with a space, "2026-08-21 10:00:00.123456+00:00".
func DatetimeStrUTC(t time.Time) string { return isoformat(t, " ") }

func isoformat(t time.Time, sep string) string {
	t = t.UTC()
	frac := ".000000"
	if t.Nanosecond()/1000 == 0 {
		frac = ""
	}
	return t.Format("2006-01-02" + sep + "15:04:05" + frac + "+00:00")
}
