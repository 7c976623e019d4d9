package pyfmt_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/testutil/pyref"
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

func TestIsoformatUTC(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		t         time.Time
		iso, str_ string
	}{
		{time.Date(2026, 5, 1, 11, 0, 0, 0, cet), "2026-05-01T10:00:00+00:00", "2026-05-01 10:00:00+00:00"},
		{time.Date(2026, 5, 1, 10, 0, 0, 500, time.UTC), "2026-05-01T10:00:00+00:00", "2026-05-01 10:00:00+00:00"},
		{time.Date(2026, 5, 1, 10, 0, 0, 1500, time.UTC), "2026-05-01T10:00:00.000001+00:00", "2026-05-01 10:00:00.000001+00:00"},
		{time.Date(2026, 5, 1, 10, 0, 0, 500000000, time.UTC), "2026-05-01T10:00:00.500000+00:00", "2026-05-01 10:00:00.500000+00:00"},
	} {
		if got := pyfmt.IsoformatUTC(c.t); got != c.iso {
			t.Errorf("IsoformatUTC(%v) = %s, want %s", c.t, got, c.iso)
		}
		if got := pyfmt.DatetimeStrUTC(c.t); got != c.str_ {
			t.Errorf("DatetimeStrUTC(%v) = %s, want %s", c.t, got, c.str_)
		}
	}
}

// strs exercise the quotes, escapes and printable characters of repr and
// json.dumps.
var strs = []string{
	"", "plain", "it's", `say "hi"`, `both ' and "`, `back\slash`, "new\nline\r\ttab\b\f", "\x00\x01\x1f\x7f",
	"café", "日本語", "emoji 🙂 and 𝄞", "\u0085\u00a0\u00ad", "\u2028\u2029", "\ufeff\u200b", "\u3000 wide space",
	"\ue000 private", "\U000E0001 tag", "<html>&amp;", "/slash", "\x1b[0;32mOK\x1b[0m",
}

// jsonTexts are read by ParseJSON and Python's json.loads, then written by
// Repr and Python's repr.
var jsonTexts = []string{
	`null`, `true`, `false`, `0`, `-0`, `12345678901234567890123`, `1.5`, `-0.0`, `1E5`, `1e16`, `1e-5`, `1e400`, `-1e400`,
	`1e-400`, `0.1`, `"s"`, `[]`, `{}`, `[1, "a", null, true, [], {}]`,
	`{"dt": "2026-08-21T10:00:00Z", "lvl": "results", "msg": {"case": "uname", "measurement": 1.5, "extra": {"a": [1, 2]}}}`,
	`{"a": 1, "b": 2, "a": 3}`, `{"it's": "\"q\"", "": "empty", "é": "\u00e9"}`,
}

// TestAgainstPython compares StrRepr, AppendJSONString, EnsureASCII, FloatRepr,
// ParseJSON and Repr with Python itself.
func TestAgainstPython(t *testing.T) {
	floats := []float64{0, 1, 1.5, 0.1, 1e15, 1e16, 1e-4, 1e-5, 2.5e-7, 123456789012345678, 1e22, 5e-324, math.MaxFloat64, 9999999999999998}
	ftexts := make([]string, len(floats))
	for i, f := range floats {
		ftexts[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	var got struct {
		Repr, Dumps, Floats, JSON []string
	}
	pyref.Run(t, `import json, sys
d = json.load(sys.stdin)
json.dump({"Repr": [repr(s) for s in d[0]], "Dumps": [json.dumps(s) for s in d[0]],
           "Floats": [repr(float(f)) for f in d[1]], "JSON": [repr(json.loads(s)) for s in d[2]]}, sys.stdout)`,
		[]any{strs, ftexts, jsonTexts}, &got)
	for i, s := range strs {
		if r := pyfmt.StrRepr(s); r != got.Repr[i] {
			t.Errorf("StrRepr(%q) = %s, Python: %s", s, r, got.Repr[i])
		}
		if j := string(pyfmt.AppendJSONString(nil, s)); j != got.Dumps[i] {
			t.Errorf("AppendJSONString(%q) = %s, Python: %s", s, j, got.Dumps[i])
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if j := string(pyfmt.EnsureASCII(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))); j != got.Dumps[i] {
			t.Errorf("EnsureASCII of Go's JSON of %q = %s, Python: %s", s, j, got.Dumps[i])
		}
	}
	for i, f := range floats {
		if r := pyfmt.FloatRepr(f); r != got.Floats[i] {
			t.Errorf("FloatRepr(%v) = %s, Python: %s", f, r, got.Floats[i])
		}
	}
	for i, text := range jsonTexts {
		v, err := pyfmt.ParseJSON([]byte(text))
		if err != nil {
			t.Errorf("ParseJSON(%s): %v", text, err)
			continue
		}
		r, err := pyfmt.Repr(v)
		if err != nil || r != got.JSON[i] {
			t.Errorf("Repr(ParseJSON(%s)) = %s, %v; Python: %s", text, r, err, got.JSON[i])
		}
	}
}

func TestReprOfGoValues(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{pyfmt.Map{{Key: "n", Value: 3}, {Key: "i", Value: int64(-4)}, {Key: "big", Value: pyfmt.Int("-0012")}}, "{'n': 3, 'i': -4, 'big': -12}"},
		{[]any{pyfmt.Map{}, []any{}}, "[{}, []]"},
		{"bad \xff byte", `'bad \xff byte'`},
	} {
		if got, err := pyfmt.Repr(c.v); err != nil || got != c.want {
			t.Errorf("Repr(%#v) = %s, %v; want %s", c.v, got, err, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	deep := any("x")
	for range pyfmt.MaxDepth {
		deep = []any{deep}
	}
	for _, v := range []any{struct{}{}, pyfmt.Int("12a"), deep, map[string]any{"a": 1}} {
		if s, err := pyfmt.Repr(v); err == nil {
			t.Errorf("Repr(%T) = %s, want an error", v, s)
		}
	}
	if _, err := pyfmt.Int("1x").Digits(); err == nil {
		t.Error(`Int("1x").Digits(): no error`)
	}
	for _, bad := range []string{"", "{", `{"a": 1}x`, `{"a": 1} {}`, "[1,]", "nan", "NaN",
		strings.Repeat("[", pyfmt.MaxDepth+1) + strings.Repeat("]", pyfmt.MaxDepth+1)} {
		if v, err := pyfmt.ParseJSON([]byte(bad)); err == nil {
			t.Errorf("ParseJSON(%.30q) = %#v, want an error", bad, v)
		}
	}
	if _, err := pyfmt.ParseJSON([]byte(strings.Repeat("[", pyfmt.MaxDepth) + strings.Repeat("]", pyfmt.MaxDepth))); err != nil {
		t.Errorf("ParseJSON of %d nested lists: %v", pyfmt.MaxDepth, err)
	}
}

// FuzzAppendJSONString: any string encodes as pure-ASCII JSON that
// decodes to the string (its bytes that are not UTF-8 as U+FFFD).
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range append(strs, "\xff\xfe", "\xed\xa0\x80") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := pyfmt.AppendJSONString(nil, s)
		for _, c := range enc {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("AppendJSONString(%q) = %q: not printable ASCII", s, enc)
			}
		}
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("AppendJSONString(%q) = %s: %v", s, enc, err)
		}
		if want := string([]rune(s)); got != want {
			t.Fatalf("AppendJSONString(%q) decodes to %q, want %q", s, got, want)
		}
	})
}

// FuzzParseJSON: ParseJSON reads what encoding/json finds valid (unless
// nested too deep) and nothing else, and Repr writes whatever it read.
func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonTexts {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := pyfmt.ParseJSON(data)
		deep := bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > pyfmt.MaxDepth
		if valid := json.Valid(data); valid != (err == nil) && !(valid && deep) {
			t.Fatalf("ParseJSON(%q): %v, but json.Valid says %v", data, err, valid)
		}
		if err != nil {
			return
		}
		if _, err := pyfmt.Repr(v); err != nil {
			t.Fatalf("Repr(ParseJSON(%q)): %v", data, err)
		}
	})
}
