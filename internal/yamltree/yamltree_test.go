package yamltree_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/yamltree"
)

var testLimits = yamltree.Limits{MaxBytes: 1 << 16, MaxDepth: 8, MaxKeys: 20, MaxExpansion: 50}

// show writes a tree as a compact string with positions, for comparisons.
func show(n *yamltree.Node) string {
	if n == nil {
		return "<nil>"
	}
	var b strings.Builder
	var walk func(n *yamltree.Node)
	walk = func(n *yamltree.Node) {
		fmt.Fprintf(&b, "@%d:%d", n.Line, n.Column)
		switch n.Kind {
		case yamltree.Null:
			b.WriteString("null")
		case yamltree.Scalar:
			q := ""
			if n.Quoted {
				q = "q"
			}
			fmt.Fprintf(&b, "%s%d(%T %v)", q, n.Type, n.Value, n.Text)
		case yamltree.Map:
			b.WriteString("{")
			for i, e := range n.Entries {
				if i > 0 {
					b.WriteString(" ")
				}
				fmt.Fprintf(&b, "%s@%d:%d=", e.Key, e.Line, e.Column)
				walk(e.Value)
			}
			b.WriteString("}")
		case yamltree.Seq:
			b.WriteString("[")
			for i, it := range n.Items {
				if i > 0 {
					b.WriteString(" ")
				}
				walk(it)
			}
			b.WriteString("]")
		}
	}
	walk(n)
	return b.String()
}

func TestReadTrees(t *testing.T) {
	tests := []struct {
		name string
		src  string
		pol  yamltree.Policy
		want string
	}{
		{"empty", "", yamltree.Policy{}, "<nil>"},
		{"comment only", "# nothing\n", yamltree.Policy{}, "<nil>"},
		{"scalars", "a: x\nb: 'y'\nc: 3\nd: 1.5\ne: true\nf:\n", yamltree.Policy{},
			"@1:1{a@1:1=@1:4" + "0(string x) b@2:1=@2:4q0(string y) c@3:1=@3:4" + "1(uint64 3) d@4:1=@4:4" + "2(float64 1.5) e@5:1=@5:4" + "3(bool true) f@6:1=@6:4null}"},
		{"bom and crlf", "\ufeffa: 1\r\nb:\r\n  - x\r\n", yamltree.Policy{},
			"@1:1{a@1:1=@1:4" + "1(uint64 1) b@2:1=@3:3[@3:5" + "0(string x)]}"},
		{"block scalar at indicator", "s: |\n  one\n  two\n", yamltree.Policy{}, "@1:1{s@1:1=@1:4" + "0(string one\ntwo\n)}"},
		{"flow mapping", "{a: 1, b: [x, y]}", yamltree.Policy{},
			"@1:1{a@1:2=@1:5" + "1(uint64 1) b@1:8=@1:11[@1:12" + "0(string x) @1:15" + "0(string y)]}"},
		{"alias shares anchor", "a: &x [1]\nb: *x\n", yamltree.Policy{},
			"@1:1{a@1:1=@1:7[@1:8" + "1(uint64 1)] b@2:1=@1:7[@1:8" + "1(uint64 1)]}"},
		{"merge key", "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", yamltree.Policy{},
			"@1:1{base@1:1=@1:10{x@1:11=@1:14" + "1(uint64 1) y@1:17=@1:20" + "1(uint64 2)} m@2:1=@3:3{y@4:3=@4:6" + "1(uint64 3) x@1:11=@1:14" + "1(uint64 1)}}"},
		{"str tag", "a: !!str 12\n", yamltree.Policy{}, "@1:1{a@1:1=@1:9q0(string 12)}"},
		{"raw keys", "True: 1\n1.50: 2\n", yamltree.Policy{RawKeys: true},
			"@1:1{True@1:1=@1:7" + "1(uint64 1) 1.50@2:1=@2:7" + "1(uint64 2)}"},
		{"raw keys keep case", "True: 1\ntrue: 2\n", yamltree.Policy{RawKeys: true},
			"@1:1{True@1:1=@1:7" + "1(uint64 1) true@2:1=@2:7" + "1(uint64 2)}"},
		{"cooked keys", "True: 1\n", yamltree.Policy{}, "@1:1{true@1:1=@1:7" + "1(uint64 1)}"},
		{"explicit key at scalar", "? a\n: 1\n", yamltree.Policy{}, "@1:1{a@1:3=@2:3" + "1(uint64 1)}"},
		{"typed tags", "a: !!str 12\nb: !!int 3\nc: !!float 3\nd: !!str\n", yamltree.Policy{TypedTags: true, NullKeys: true, NullAtKey: true, KeysAtIndicator: true},
			"@1:1{a@1:1=@1:4" + "0(string 12) b@2:1=@2:9" + "1(uint64 3) c@3:1=@3:11" + "1(uint64 3) d@4:1=@4:4" + "0(string null)}"},
		{"null key and null at key", "~: 1\nb:\nc: null\n", yamltree.Policy{TypedTags: true, NullKeys: true, NullAtKey: true, KeysAtIndicator: true},
			"@1:1{@1:1=@1:4" + "1(uint64 1) b@2:1=@2:1null c@3:1=@3:4null}"},
		{"explicit key at indicator", "? a\n: 1\n", yamltree.Policy{KeysAtIndicator: true}, "@1:1{a@1:1=@2:3" + "1(uint64 1)}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := yamltree.ReadPolicy([]byte(tc.src), testLimits, tc.pol)
			if err != nil {
				t.Fatalf("ReadPolicy: %v", err)
			}
			if got := show(n); got != tc.want {
				t.Errorf("tree\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	deep := strings.Repeat("[", 9) + strings.Repeat("]", 9)
	var many strings.Builder
	for i := range 21 {
		fmt.Fprintf(&many, "k%d: %d\n", i, i)
	}
	bomb := "a: &a [1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
	refuse := yamltree.Policy{RefuseSecondHeader: true, RefuseTags: true, RefuseMergeKeys: true, KeysAtIndicator: true}
	tooBig := func(n *yamltree.Node) string {
		if n.Type == yamltree.Int && n.Text == "99" {
			return "99 is too big"
		}
		return ""
	}
	tests := []struct {
		name string
		src  string
		pol  yamltree.Policy
		code yamltree.Code
		want string // Error()
	}{
		{"syntax", "a: [1, 2\n", yamltree.Policy{}, yamltree.Syntax, "YAML syntax error"},
		{"too large", strings.Repeat("#", 1<<16+1), yamltree.Policy{}, yamltree.TooLarge, "1:1: YAML source is 65537 bytes, larger than the 65536 bytes allowed"},
		{"too deep flow", deep, yamltree.Policy{}, yamltree.TooDeep, "1:9: nesting deeper than 8 levels"},
		{"too many keys", many.String(), yamltree.Policy{}, yamltree.TooManyKeys, "21:4: a mapping has more than 20 keys"},
		{"second document", "a: 1\n---\nb: 2\n", yamltree.Policy{}, yamltree.MultipleDocuments, "3:1: found a second YAML document"},
		{"second header refused", "---\na: 1\n---\nb: 2\n", refuse, yamltree.MultipleDocuments, "3:1: found a second YAML document"},
		{"second end refused", "a: 1\n...\n...\n", yamltree.Policy{RefuseSecondEnd: true}, yamltree.MultipleDocuments, "3:1: found a second YAML document"},
		{"typed tag mismatch", "a: !!int x\n", yamltree.Policy{TypedTags: true}, yamltree.Tag, "1:4: value tagged !!int is not an integer"},
		{"typed tag unknown", "a: !foo x\n", yamltree.Policy{TypedTags: true}, yamltree.Tag, "1:4: YAML tag !foo is not supported"},
		{"undefined alias", "a: *nope\n", yamltree.Policy{}, yamltree.UndefinedAlias, "1:4: alias *nope refers to no anchor defined before it"},
		{"alias in own anchor", "a: &x [*x]\n", yamltree.Policy{}, yamltree.UndefinedAlias, "1:8: alias *x refers to no anchor defined before it"},
		{"alias bomb", bomb, yamltree.Policy{}, yamltree.Expansion, "aliases expand to more than 50 nodes"},
		{"tag", "a: !!int 1\n", yamltree.Policy{}, yamltree.Tag, "1:4: YAML tag !!int is not supported"},
		{"tag refused", "a: !!str x\n", refuse, yamltree.Tag, "1:4: YAML tags are not supported"},
		{"merge refused", "b: &b {x: 1}\nm:\n  <<: *b\n", refuse, yamltree.MergeKey, "3:3: merge keys (<<) are not supported"},
		{"merge of a scalar", "m:\n  <<: 1\n", yamltree.Policy{}, yamltree.BadMerge, "2:7: merge key << needs a mapping or a list of mappings"},
		{"null key", "? ~\n: 1\n", yamltree.Policy{}, yamltree.BadKey, "1:3: mapping keys must be scalars, got null"},
		{"null key at indicator", "? ~\n: 1\n", refuse, yamltree.BadKey, "1:1: mapping keys must be scalars, got null"},
		{"duplicate key", "True: 1\ntrue: 3\n", yamltree.Policy{}, yamltree.DuplicateKey, `2:1: mapping key "true" is defined twice`},
		{"check", "a: [1, 99]\n", yamltree.Policy{Check: tooBig}, yamltree.Invalid, "1:8: 99 is too big"},
		{"not UTF-8", "a: b\nc: d\xffe\n", yamltree.Policy{}, yamltree.Encoding, "2:5: the text is not UTF-8: byte 0xff is not part of a UTF-8 character"},
		{"cut UTF-8 in a comment", "a: 1 # caf\xc3\n", yamltree.Policy{}, yamltree.Encoding, "1:11: the text is not UTF-8: byte 0xc3"},
		{"NUL", "a: é\x00\n", yamltree.Policy{}, yamltree.Encoding, "1:5: a NUL character (byte 0) is not allowed"},
		{"NUL after CRLF and a BOM", "\ufeffa: 1\r\nb: \x00\n", yamltree.Policy{}, yamltree.Encoding, "2:4: a NUL character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := yamltree.ReadPolicy([]byte(tc.src), testLimits, tc.pol)
			if err == nil {
				t.Fatalf("no error; tree %s", show(n))
			}
			var ye *yamltree.Error
			if !errors.As(err, &ye) {
				t.Fatalf("error %T %v is not a *yamltree.Error", err, err)
			}
			if ye.Code != tc.code {
				t.Errorf("code %d, want %d (%v)", ye.Code, tc.code, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestNodeGetAndDescribe(t *testing.T) {
	n, err := yamltree.Read([]byte("a: 1\nb: [x]\nc: {}\nd: ~\ne: false\nf: "+strings.Repeat("y", 50)+"\n"), yamltree.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "a number", "b": "a list", "c": "a mapping", "d": "null", "e": "a boolean",
		"f": `the string "` + strings.Repeat("y", 40) + `…"`}
	for k, w := range want {
		v, ok := n.Get(k)
		if !ok {
			t.Fatalf("Get(%q) found nothing", k)
		}
		if got := v.Describe(); got != w {
			t.Errorf("%s: Describe() = %q, want %q", k, got, w)
		}
	}
	if _, ok := n.Get("zz"); ok {
		t.Error("Get(zz) found a value")
	}
}

// LastKeyWins reads a key written twice as PyYAML does: first place, last
// value; the tree's size counts the value kept.
func TestLastKeyWins(t *testing.T) {
	src := "a: 1\nb: [x, y]\na:\n  c: 2\nb: z\n"
	n, err := yamltree.ReadPolicy([]byte(src), yamltree.Limits{}, yamltree.Policy{LastKeyWins: true})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range n.Entries {
		keys = append(keys, e.Key)
	}
	if strings.Join(keys, ",") != "a,b" {
		t.Fatalf("keys %v, want a,b", keys)
	}
	a, _ := n.Get("a")
	if c, ok := a.Get("c"); !ok || c.Text != "2" || a.Line != 4 {
		t.Errorf("a = %+v, want the mapping {c: 2} at line 4", a)
	}
	b, _ := n.Get("b")
	if b.Kind != yamltree.Scalar || b.Text != "z" {
		t.Errorf("b = %+v, want z", b)
	}
	// root + 2 keys + a's mapping (1) + c's key and value (2) + z (1).
	if n.Size != 7 {
		t.Errorf("size %d, want 7", n.Size)
	}
	// Repeats say where each key was written again.
	want := map[string][]yamltree.Place{"a": {{Line: 3, Column: 1}}, "b": {{Line: 5, Column: 1}}}
	for _, e := range n.Entries {
		if !reflect.DeepEqual(e.Repeats, want[e.Key]) {
			t.Errorf("%s: repeats %v, want %v", e.Key, e.Repeats, want[e.Key])
		}
	}
	// A key written three times (here in a flow mapping) has two repeats;
	// a key written once has none.
	n, err = yamltree.ReadPolicy([]byte("m: {k: 1, j: 0, k: 2, k: 3}\n"), yamltree.Limits{}, yamltree.Policy{LastKeyWins: true})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := n.Get("m")
	if k := m.Entries[0]; k.Key != "k" || k.Value.Text != "3" || !reflect.DeepEqual(k.Repeats, []yamltree.Place{{Line: 1, Column: 17}, {Line: 1, Column: 23}}) {
		t.Errorf("k = %+v (value %q), want the value 3 and repeats at 1:17 and 1:23", k, k.Value.Text)
	}
	if j := m.Entries[1]; j.Repeats != nil {
		t.Errorf("j has repeats %v", j.Repeats)
	}
}
