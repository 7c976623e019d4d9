package pyyaml_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/pyyaml"
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
	case pyyaml.Int:
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
	case pyyaml.Map:
		l := make([][2]any, len(x))
		for i, it := range x {
			l[i] = [2]any{it.Key, tag(it.Value)}
		}
		return tagged{T: "dict", V: l}
	}
	panic("untaggable")
}

// reference runs PyYAML (with libyaml, as LAVA does) on the host over the
// values: for each, yaml_safe_dump's text, the text of a log record, and
// str().
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
        str(v),
    ])
json.dump(out, sys.stdout)
`

func pythonReference(t *testing.T, values []any) [][3]string {
	t.Helper()
	in := make([]tagged, len(values))
	for i, v := range values {
		in[i] = tag(v)
	}
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", "-c", reference)
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("PyYAML with libyaml (Debian's python3-yaml) is needed as the reference: %v\n%s", err, stderr.String())
	}
	var res [][3]string
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
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
		values = append(values, []any{s}, pyyaml.Map{{Key: "k", Value: s}}, pyyaml.Map{{Key: s, Value: "v"}},
			[]any{pyyaml.Map{{Key: "name", Value: s}, {Key: "metadata", Value: pyyaml.Map{{Key: "error_msg", Value: s}}}}})
	}
	numbers := []any{nil, true, false, pyyaml.Int("0"), pyyaml.Int("-0"), pyyaml.Int("-5"), pyyaml.Int("123456789012345678901234567890"),
		10, 1.5, 10.0, 1e16, 1e15, 1e-5, 0.0001, 0.1, math.Copysign(0, -1), 123456789012345678.0, 1e300, 5e-324, 2.5e-7,
		math.Inf(1), math.Inf(-1), 1e22, 9999999999999998.0}
	for _, n := range numbers {
		values = append(values, []any{n}, pyyaml.Map{{Key: "n", Value: n}})
	}
	values = append(values,
		[]any{}, pyyaml.Map{}, []any{[]any{}}, []any{pyyaml.Map{}},
		pyyaml.Map{{Key: "dt", Value: "2026-08-21T10:00:00.123456+00:00"}, {Key: "lvl", Value: "results"},
			{Key: "msg", Value: pyyaml.Map{{Key: "definition", Value: "0_smoke"}, {Key: "case", Value: "uname"},
				{Key: "measurement", Value: 1.5}, {Key: "starttc", Value: 10}, {Key: "extra", Value: []any{"a", 1, nil, pyyaml.Map{}, []any{}}}}}},
		[]any{pyyaml.Map{{Key: "a", Value: []any{"x", pyyaml.Map{{Key: "b", Value: []any{1, 2}}, {Key: "c", Value: pyyaml.Map{}}}}},
			{Key: "d", Value: []any{[]any{"nested", []any{}}}}}},
		pyyaml.Map{{Key: "list", Value: []any{pyyaml.Map{{Key: "a", Value: 1}, {Key: "b", Value: 2}}, "s"}}},
		pyyaml.Map{{Key: strings.Repeat("k", 129), Value: "long key"}, {Key: "a\nb", Value: "multi-line key"}, {Key: "", Value: "empty key"}},
		[]any{pyyaml.Map{{Key: "x", Value: strings.Repeat("v ", 100)}}},
		pyyaml.Map{{Key: "deep", Value: pyyaml.Map{{Key: "deeper", Value: pyyaml.Map{{Key: "deepest", Value: strings.Repeat("z ", 50)}}}}}},
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
		gotRepr, err := pyyaml.Repr(v)
		if err != nil {
			t.Fatalf("Repr(%#v): %v", v, err)
		}
		if gotRepr != want[i][2] {
			t.Errorf("Repr(%#v):\n got %q\nwant %q", v, gotRepr, want[i][2])
		}
	}
}

func TestErrors(t *testing.T) {
	deep := any("x")
	for range 200 {
		deep = []any{deep}
	}
	for _, v := range []any{struct{}{}, pyyaml.Int("12a"), deep, map[string]any{"a": 1}} {
		if _, err := pyyaml.Dump(v); err == nil {
			t.Errorf("Dump(%T) did not fail", v)
		}
		if _, err := pyyaml.FlowQuoted(v); err == nil {
			t.Errorf("FlowQuoted(%T) did not fail", v)
		}
		if _, err := pyyaml.Repr(v); err == nil {
			t.Errorf("Repr(%T) did not fail", v)
		}
	}
}
