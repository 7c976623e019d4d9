package jobdef

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// trickyStrings are strings a YAML writer easily gets wrong: words and
// numbers some reader resolves to another type, indicators, blanks,
// line breaks, characters outside YAML's printable set.
var trickyStrings = []string{
	"", " ", "plain", "two words", "yes", "No", "ON", "off", "y", "N", "~", "null", "NULL", "true", "False",
	"123", "0123", "-7", "+1", "1_000", "1e3", "1.5", ".5", "5.", "0x1F", "0o17", "0b101", "1:20", "12:30:45.5",
	".inf", "-.Inf", ".NaN", "2024-01-02", "2024-1-2 10:00:00", "=", "<<", "-", "--", "---", "...", "- x",
	"? x", ": x", "a: b", "a:b", "a #b", "a#b", "#x", "&a", "*a", "!x", "|x", ">x", "'x'", `"x"`, "%x",
	"@x", "`x`", "[x]", "{x}", "x,y", "x:", "x ", " x", "\t", "a\tb", "line1\nline2", "line1\nline2\n",
	"line1\nline2\n\n", "\nstarts with a break", "  indented\nline", "trailing \nspace", "a\r\nb", "bell\a",
	"controls \x01\x1f\x7f", "\u0085nel", "\u2028ls", "\ufeffbom", "é ✓ — ü", "😀", "\u00a0nbsp",
	"#!/bin/sh\necho \"hi: $1\" # comment\n", "key: value\n- item\n", "x\n---\ny", "x\n...\ny", "  \n",
	"a\n \nb", "a\n\tb", "tab end\t\nx", "a\\b", `C:\path`, "-drive format=raw,file={rootfs}",
	"https://example.org/a?b=c#d", "root@debian:~# ", strings.Repeat("long ", 2000),
}

// TestEmitStrings: every tricky string, as a value and as a key, reads
// back as itself with readTree and with PyYAML (LAVA's reader).
func TestEmitStrings(t *testing.T) {
	values := &node{kind: mapNode}
	keys := &node{kind: mapNode}
	list := &node{kind: seqNode}
	for i, s := range trickyStrings {
		values.entries = append(values.entries, entry{key: "v" + strconv.Itoa(i), val: strNode(s)})
		keys.entries = append(keys.entries, entry{key: s, val: strNode("k" + strconv.Itoa(i))})
		list.items = append(list.items, strNode(s))
	}
	root := &node{kind: mapNode, entries: []entry{{key: "values", val: values}, {key: "keys", val: keys}, {key: "list", val: list}}}
	doc := roundTrip(t, root)

	got := pyyamlLoad(t, doc)
	var want struct {
		Values map[string]string `json:"values"`
		Keys   map[string]string `json:"keys"`
		List   []string          `json:"list"`
	}
	if err := json.Unmarshal(got, &want); err != nil {
		t.Fatalf("PyYAML did not read strings only: %v\n%s", err, got)
	}
	for i, s := range trickyStrings {
		if v := want.Values["v"+strconv.Itoa(i)]; v != s {
			t.Errorf("PyYAML reads value %q as %q", s, v)
		}
		if v := want.Keys[s]; v != "k"+strconv.Itoa(i) {
			t.Errorf("PyYAML does not read key %q", s)
		}
		if i < len(want.List) && want.List[i] != s {
			t.Errorf("PyYAML reads item %q as %q", s, want.List[i])
		}
	}
}

// TestEmitNumbers: numbers keep their spelling when every reader agrees
// on it, else are written in one they agree on; their value never changes.
func TestEmitNumbers(t *testing.T) {
	tests := []struct {
		n    *node
		text string
	}{
		{&node{kind: scalarNode, styp: intScalar, text: "42", val: uint64(42)}, "42"},
		{&node{kind: scalarNode, styp: intScalar, text: "-42", val: int64(-42)}, "-42"},
		{&node{kind: scalarNode, styp: intScalar, text: "0x1F", val: uint64(31)}, "0x1F"},
		{&node{kind: scalarNode, styp: intScalar, text: "1_000", val: uint64(1000)}, "1000"},
		{&node{kind: scalarNode, styp: intScalar, text: "18446744073709551615", val: uint64(math.MaxUint64)}, "18446744073709551615"},
		{&node{kind: scalarNode, styp: floatScalar, text: "1.50", val: 1.5}, "1.50"},
		{&node{kind: scalarNode, styp: floatScalar, text: "1", val: 1.0}, "1.0"},
		{&node{kind: scalarNode, styp: floatScalar, text: "1e21", val: 1e21}, "1.0e+21"},
		{&node{kind: scalarNode, styp: floatScalar, text: "-.Inf", val: math.Inf(-1)}, "-.Inf"},
		{&node{kind: scalarNode, styp: floatScalar, text: "x", val: math.Inf(1)}, ".inf"},
		{&node{kind: scalarNode, styp: floatScalar, text: "x", val: math.NaN()}, ".nan"},
		{&node{kind: scalarNode, styp: boolScalar, text: "true", val: true}, "true"},
		{&node{kind: nullNode}, "null"},
		{&node{kind: mapNode}, "{}"},
		{&node{kind: seqNode}, "[]"},
	}
	for _, tt := range tests {
		root := &node{kind: mapNode, entries: []entry{{key: "k", val: tt.n}}}
		doc := roundTrip(t, root)
		if want := "k: " + tt.text + "\n"; doc != want {
			t.Errorf("%q written %q, want %q", tt.n.text, doc, want)
		}
	}
}

// TestEmitShared: a collection reached twice is written once, anchored;
// scalars reached twice are written twice.
func TestEmitShared(t *testing.T) {
	shared := &node{kind: mapNode, entries: []entry{{key: "minutes", val: intNode(5)}}}
	s := strNode("same")
	root := &node{kind: mapNode, entries: []entry{
		{key: "a", val: shared}, {key: "b", val: &node{kind: seqNode, items: []*node{shared, s}}}, {key: "c", val: s},
	}}
	doc := roundTrip(t, root)
	want := "a: &id001\n  minutes: 5\nb:\n- *id001\n- same\nc: same\n"
	if doc != want {
		t.Errorf("got\n%s\nwant\n%s", doc, want)
	}
}

func TestEmitTooLarge(t *testing.T) {
	root := &node{kind: mapNode, entries: []entry{{key: "k", val: strNode(strings.Repeat("x", 100))}}}
	if _, err := emit(root, 50); err != errTooLarge {
		t.Errorf("got %v, want errTooLarge", err)
	}
}

// roundTrip emits root, reads it back with readTree and checks the
// values are the same.
func roundTrip(t *testing.T, root *node) string {
	t.Helper()
	doc, err := emit(root, MaxSourceSize)
	if err != nil {
		t.Fatalf("emit: %v", err)
	}
	errs := &errList{}
	back := readTree(doc, errs)
	if back == nil {
		t.Fatalf("does not read back: %v\n%s", errs.result(), doc)
	}
	if !sameTree(root, back) {
		t.Fatalf("reads back as other values:\n%s", doc)
	}
	return string(doc)
}

// pyyamlLoad reads doc with PyYAML's safe loader, as LAVA does, and
// returns it as JSON.
func pyyamlLoad(t *testing.T, doc string) []byte {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "doc.yaml")
	if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `import json, sys, yaml
try:
    from yaml import CSafeLoader as Loader
except ImportError:
    from yaml import SafeLoader as Loader
json.dump(yaml.load(open(sys.argv[1], encoding="utf-8").read(), Loader=Loader), sys.stdout)
`
	cmd := exec.Command("/usr/bin/python3", "-c", script, f)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("PyYAML cannot read the document (needs /usr/bin/python3 and python3-yaml): %v\n%s\n%s", err, stderr.String(), doc)
	}
	return out
}

// TestEmitLongKeys: keys beyond YAML's 1024-character implicit key are
// written as explicit keys, whatever their value.
func TestEmitLongKeys(t *testing.T) {
	long := strings.Repeat("k", 1500)
	root := &node{kind: mapNode, entries: []entry{
		{key: long + "1", val: &node{kind: seqNode, items: []*node{strNode("a"), strNode("b")}}},
		{key: long + "2", val: &node{kind: mapNode, entries: []entry{{key: "x", val: intNode(1)}}}},
		{key: long + "3", val: strNode("v")},
		{key: long + "4", val: &node{kind: seqNode}},
	}}
	doc := roundTrip(t, root)
	var got map[string]any
	if err := json.Unmarshal(pyyamlLoad(t, doc), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{long + "1": []any{"a", "b"}, long + "2": map[string]any{"x": 1.0}, long + "3": "v", long + "4": []any{}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PyYAML reads %v", got)
	}
}
