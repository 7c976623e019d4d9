package pyyaml_test

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/pyyaml"
	"github.com/basalt-lab/basalt/internal/testutil/pyref"
)

// tagged is a value as the reference script builds it in Python.
type tagged struct {
	T string `json:"t"`
	V any    `json:"v,omitempty"`
}

func tag(v any) tagged {
	switch x := v.(type) {
	case nil:
		return tagged{T: "none"}
	case bool:
		return tagged{T: "bool", V: x}
	case string:
		return tagged{T: "str", V: x}
	case pyfmt.Int:
		return tagged{T: "int", V: string(x)}
	case int:
		return tagged{T: "int", V: strconv.Itoa(x)}
	case float64:
		return tagged{T: "float", V: strconv.FormatFloat(x, 'g', -1, 64)}
	case []any:
		l := make([]tagged, len(x))
		for i, it := range x {
			l[i] = tag(it)
		}
		return tagged{T: "list", V: l}
	case pyfmt.Map:
		l := make([][2]any, len(x))
		for i, it := range x {
			l[i] = [2]any{it.Key, tag(it.Value)}
		}
		return tagged{T: "dict", V: l}
	}
	panic("untaggable")
}

// reference runs PyYAML (with libyaml, as LAVA does) on the host over the
// values: for each, yaml_safe_dump's text and the text of a log record.
const reference = `
import json, sys, yaml
def build(t):
    k = t["t"]
    if k == "none": return None
    if k == "bool": return t["v"]
    if k == "str": return t["v"]
    if k == "int": return int(t["v"])
    if k == "float": return float(t["v"])
    if k == "list": return [build(x) for x in t["v"]]
    if k == "dict": return {kv[0]: build(kv[1]) for kv in t["v"]}
out = []
for t in json.load(sys.stdin):
    v = build(t)
    out.append([
        yaml.dump(v, Dumper=yaml.CSafeDumper, sort_keys=False),
        yaml.dump(v, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=True, default_style='"', width=10**5)[:-1],
    ])
json.dump(out, sys.stdout)
`

func pythonReference(t *testing.T, values []any) [][2]string {
	t.Helper()
	in := make([]tagged, len(values))
	for i, v := range values {
		in[i] = tag(v)
	}
	var res [][2]string
	pyref.Run(t, reference, in, &res)
	return res
}

// strings that exercise the choice of style and folding.
var corpus = []string{
	"", " ", "a", "word", "12", "-12", "012", "1.5", "1e3", "1.0e+3", "1.", ".5", "1_000", "0x1F", "0b101", "0o17", "1:30",
	"190:20:30.15", ".inf", "-.Inf", ".NaN", "true", "True", "TRUE", "tRue", "yes", "No", "on", "OFF", "y", "n",
	"null", "Null", "~", "2026-01-02", "2026-1-2 3:04:05", "2026-01-02T03:04:05.5Z", "2026-01-02 03:04:05 +01:00",
	"=", "<<", "!", "&", "*", "-", "--", "---", "...", "--- a", "- a", "-a", "a -", "a: b", "a:b", "a:", ":a", ": a",
	"? a", "?a", "a?", "a #b", "a#b", "#a", "a,b", ",a", "[a]", "a]", "{a}", "a}", "&a", "*a", "!a", "|a", ">a", "'a'",
	"a'b", `"a"`, `a"b`, "%a", "@a", "`a", "a\nb", "a\n", "\na", "a\n\nb", "a \nb", "a\n b", " a", "a ", "  ", "a  b",
	"tab\there", "\t", "cr\rlf", "é", "naïve café", "\x85", "a\u2028b", "\u2029", "\ufeff", "😀", "\x00", "\x7f",
	"\x1b[0m", "back\\slash", "a\\", "€100",
	"/results/testcase/12", "http://example.org/a?b=c#d", "2026-08-21 10:00:00.123456+00:00", "0.5200000000",
	"None", "start: 1.1 download-retry (timeout 00:05:00) [common]",
	strings.Repeat("word ", 30), strings.Repeat("w", 90) + " tail", "lead " + strings.Repeat("x", 100),
	strings.Repeat("two  spaces ", 12), strings.Repeat("quote's ", 15), strings.Repeat("tab\there ", 12),
	strings.Repeat("é ", 50), strings.Repeat("line\n", 5) + strings.Repeat("long line ", 10),
	strings.Repeat("a ", 60) + "\n" + strings.Repeat("b ", 60), strings.Repeat("x", 200),
	"Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n    boom()\nNameError: name 'boom' is not defined\n",
	strings.Repeat(" spaced ", 20) + " ",
}

func TestAgainstPyYAML(t *testing.T) {
	var values []any
	// each string as a list item, a mapping value, a key and a top-level
	// mapping's value in a list
	for _, s := range corpus {
		values = append(values, []any{s}, pyfmt.Map{{Key: "k", Value: s}}, pyfmt.Map{{Key: s, Value: "v"}},
			[]any{pyfmt.Map{{Key: "name", Value: s}, {Key: "metadata", Value: pyfmt.Map{{Key: "error_msg", Value: s}}}}})
	}
	numbers := []any{nil, true, false, pyfmt.Int("0"), pyfmt.Int("-0"), pyfmt.Int("-5"), pyfmt.Int("123456789012345678901234567890"),
		10, 1.5, 10.0, 1e16, 1e15, 1e-5, 0.0001, 0.1, math.Copysign(0, -1), 123456789012345678.0, 1e300, 5e-324, 2.5e-7,
		math.Inf(1), math.Inf(-1), 1e22, 9999999999999998.0}
	for _, n := range numbers {
		values = append(values, []any{n}, pyfmt.Map{{Key: "n", Value: n}})
	}
	values = append(values,
		[]any{}, pyfmt.Map{}, []any{[]any{}}, []any{pyfmt.Map{}},
		pyfmt.Map{{Key: "dt", Value: "2026-08-21T10:00:00.123456+00:00"}, {Key: "lvl", Value: "results"},
			{Key: "msg", Value: pyfmt.Map{{Key: "definition", Value: "0_smoke"}, {Key: "case", Value: "uname"},
				{Key: "measurement", Value: 1.5}, {Key: "starttc", Value: 10}, {Key: "extra", Value: []any{"a", 1, nil, pyfmt.Map{}, []any{}}}}}},
		[]any{pyfmt.Map{{Key: "a", Value: []any{"x", pyfmt.Map{{Key: "b", Value: []any{1, 2}}, {Key: "c", Value: pyfmt.Map{}}}}},
			{Key: "d", Value: []any{[]any{"nested", []any{}}}}}},
		pyfmt.Map{{Key: "list", Value: []any{pyfmt.Map{{Key: "a", Value: 1}, {Key: "b", Value: 2}}, "s"}}},
		pyfmt.Map{{Key: strings.Repeat("k", 129), Value: "long key"}, {Key: "a\nb", Value: "multi-line key"}, {Key: "", Value: "empty key"}},
		[]any{pyfmt.Map{{Key: "x", Value: strings.Repeat("v ", 100)}}},
		pyfmt.Map{{Key: "deep", Value: pyfmt.Map{{Key: "deeper", Value: pyfmt.Map{{Key: "deepest", Value: strings.Repeat("z ", 50)}}}}}},
	)
	want := pythonReference(t, values)
	for i, v := range values {
		got, err := pyyaml.Dump(v)
		if err != nil {
			t.Fatalf("Dump(%#v): %v", v, err)
		}
		if got != want[i][0] {
			t.Errorf("Dump(%#v):\n got %q\nwant %q", v, got, want[i][0])
		}
		gotFlow, err := pyyaml.FlowQuoted(v)
		if err != nil {
			t.Fatalf("FlowQuoted(%#v): %v", v, err)
		}
		if gotFlow != want[i][1] {
			t.Errorf("FlowQuoted(%#v):\n got %q\nwant %q", v, gotFlow, want[i][1])
		}
		// a one-item list of a scalar: the scalar as a log record writes it
		if l, ok := v.([]any); ok && len(l) == 1 {
			var item string
			switch x := l[0].(type) {
			case string:
				item = string(pyyaml.AppendDoubleQuoted(nil, x))
			case float64:
				item = `! "` + pyyaml.Float(x) + `"`
			default:
				continue
			}
			if item = "[" + item + "]"; item != want[i][1] {
				t.Errorf("AppendDoubleQuoted or Float of %#v:\n got %q\nwant %q", l[0], item, want[i][1])
			}
		}
	}
}

func TestErrors(t *testing.T) {
	deep := any("x")
	for range pyfmt.MaxDepth {
		deep = []any{deep}
	}
	for _, v := range []any{struct{}{}, pyfmt.Int("12a"), deep, map[string]any{"a": 1}} {
		if _, err := pyyaml.Dump(v); err == nil {
			t.Errorf("Dump(%T) did not fail", v)
		}
		if _, err := pyyaml.FlowQuoted(v); err == nil {
			t.Errorf("FlowQuoted(%T) did not fail", v)
		}
	}
}

// The quoting of every kind of character (TestAgainstPyYAML checks the
// corpus's strings against PyYAML itself).
func TestAppendDoubleQuoted(t *testing.T) {
	for s, want := range map[string]string{
		"":                       `""`,
		"plain text: [a, b] #x":  `"plain text: [a, b] #x"`,
		"q\"b\\":                 `"q\"b\\"`,
		"\x00\a\b\t\n\v\f\r\x1b": `"\0\a\b\t\n\v\f\r\e"`,
		"\x7f é \u0085\u00a0":    `"\x7F \xE9 \N\_"`,
		"€\u2028\u2029\ufeff😀":   `"\u20AC\L\P\uFEFF\U0001F600"`,
		"bad \xff byte":          `"bad \uFFFD byte"`,
	} {
		if got := string(pyyaml.AppendDoubleQuoted(nil, s)); got != want {
			t.Errorf("AppendDoubleQuoted(%q) = %s, want %s", s, got, want)
		}
	}
}
