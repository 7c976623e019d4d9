package pyfmt_test

import (
	"math"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/pyfmt"
)

func TestFloatRepr(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1.0", 1.5: "1.5", 0.1: "0.1", 1e15: "1000000000000000.0", 1e16: "1e+16", 1.2345e17: "1.2345e+17",
		1e-4: "0.0001", 1.5e-5: "1.5e-05", 123.456: "123.456", -2.5e-300: "-2.5e-300", math.MaxFloat64: "1.7976931348623157e+308",
		math.Copysign(0, -1): "-0.0", 0: "0.0", math.Inf(1): "inf", math.Inf(-1): "-inf", math.NaN(): "nan",
	} {
		if got := pyfmt.FloatRepr(f); got != want {
			t.Errorf("FloatRepr(%v) = %s, want %s", f, got, want)
		}
	}
}

// The quoting of every kind of character; the golden of internal/lavalog
// checks it against PyYAML itself.
func TestAppendYAMLQuoted(t *testing.T) {
	for s, want := range map[string]string{
		"":                       `""`,
		"plain text: [a, b] #x":  `"plain text: [a, b] #x"`,
		"q\"b\\":                 `"q\"b\\"`,
		"\x00\a\b\t\n\v\f\r\x1b": `"\0\a\b\t\n\v\f\r\e"`,
		"\x7f é \u0085\u00a0":    `"\x7F \xE9 \N\_"`,
		"€\u2028\u2029\ufeff😀":   `"\u20AC\L\P\uFEFF\U0001F600"`,
		"bad \xff byte":          `"bad \uFFFD byte"`,
	} {
		if got := string(pyfmt.AppendYAMLQuoted(nil, s)); got != want {
			t.Errorf("AppendYAMLQuoted(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestIsoformatUTC(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 5, 1, 11, 0, 0, 0, cet), "2026-05-01T10:00:00+00:00"},
		{time.Date(2026, 5, 1, 10, 0, 0, 500, time.UTC), "2026-05-01T10:00:00+00:00"},
		{time.Date(2026, 5, 1, 10, 0, 0, 1500, time.UTC), "2026-05-01T10:00:00.000001+00:00"},
		{time.Date(2026, 5, 1, 10, 0, 0, 500000000, time.UTC), "2026-05-01T10:00:00.500000+00:00"},
	} {
		if got := pyfmt.IsoformatUTC(c.t); got != c.want {
			t.Errorf("IsoformatUTC(%v) = %s, want %s", c.t, got, c.want)
		}
	}
}
