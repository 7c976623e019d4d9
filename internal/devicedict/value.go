package devicedict

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"
)

type nodeKind uint8

const (
	nullNode nodeKind = iota
	strNode
	intNode
	floatNode
	boolNode
	listNode
	dictNode
)

// srcPos is where a value is written (1-based line and column). The zero
// srcPos is "unknown".
type srcPos struct {
	line, col int
}

func lineCol(l, c int) srcPos { return srcPos{line: l, col: c} }
func (p srcPos) known() bool  { return p.line > 0 }
func (p srcPos) or(q srcPos) srcPos {
	if p.known() {
		return p
	}
	return q
}

// node is a dictionary value with the position of each part, so that
// Validate can point at the offending element of a list or mapping.
type node struct {
	kind    nodeKind
	src     srcPos
	s       string
	i       int
	f       float64
	b       bool
	items   []*node
	entries []entry
}

// entry is one key/value pair of a mapping, in source order.
type entry struct {
	key    string
	keySrc srcPos
	val    *node
}

// value converts the node to plain Go values: nil, string, int, float64,
// bool, []any and map[string]any.
func (n *node) value() any {
	if n == nil {
		return nil
	}
	switch n.kind {
	case strNode:
		return n.s
	case intNode:
		return n.i
	case floatNode:
		return n.f
	case boolNode:
		return n.b
	case listNode:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			out[i] = it.value()
		}
		return out
	case dictNode:
		out := make(map[string]any, len(n.entries))
		for _, e := range n.entries {
			out[e.key] = e.val.value()
		}
		return out
	}
	return nil
}

// get returns the value of key in a mapping node.
func (n *node) get(key string) (*node, bool) {
	for _, e := range n.entries {
		if e.key == key {
			return e.val, true
		}
	}
	return nil, false
}

// fromValue builds a node (without positions) from a plain Go value, as a
// job context or Dict.Resolve holds them. Unknown types become strings of
// their fmt form, so that checks report them instead of panicking.
func fromValue(v any, depth int) *node {
	if depth > MaxDepth {
		return &node{kind: nullNode}
	}
	switch x := v.(type) {
	case nil:
		return &node{kind: nullNode}
	case string:
		return &node{kind: strNode, s: x}
	case bool:
		return &node{kind: boolNode, b: x}
	case int:
		return &node{kind: intNode, i: x}
	case int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		if i, ok := toInt(x); ok {
			return &node{kind: intNode, i: i}
		}
		return &node{kind: floatNode, f: toFloat(x)}
	case float32:
		return &node{kind: floatNode, f: float64(x)}
	case float64:
		return &node{kind: floatNode, f: x}
	case []any:
		n := &node{kind: listNode}
		for _, it := range x {
			n.items = append(n.items, fromValue(it, depth+1))
		}
		return n
	case []string:
		n := &node{kind: listNode}
		for _, it := range x {
			n.items = append(n.items, &node{kind: strNode, s: it})
		}
		return n
	case map[string]any:
		n := &node{kind: dictNode}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.entries = append(n.entries, entry{key: k, val: fromValue(x[k], depth+1)})
		}
		return n
	case map[string]string:
		n := &node{kind: dictNode}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.entries = append(n.entries, entry{key: k, val: &node{kind: strNode, s: x[k]}})
		}
		return n
	}
	return &node{kind: strNode, s: fmt.Sprint(v)}
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int8:
		return int(x), true
	case int16:
		return int(x), true
	case int32:
		return int(x), true
	case int64:
		return int(x), true
	case uint:
		return int(x), x <= math.MaxInt
	case uint8:
		return int(x), true
	case uint16:
		return int(x), true
	case uint32:
		return int(x), true
	case uint64:
		return int(x), x <= math.MaxInt
	}
	return 0, false
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case uint:
		return float64(x)
	case uint64:
		return float64(x)
	}
	i, _ := toInt(v)
	return float64(i)
}

// describe names the kind of value for "expected X, got Y" messages.
func (n *node) describe() string {
	switch n.kind {
	case nullNode:
		return "none"
	case strNode:
		return fmt.Sprintf("the string %s", strconv.Quote(truncate(n.s, 40)))
	case intNode:
		return "the integer " + strconv.Itoa(n.i)
	case floatNode:
		return "the number " + strconv.FormatFloat(n.f, 'g', -1, 64)
	case boolNode:
		return "the boolean " + strconv.FormatBool(n.b)
	case listNode:
		return "a list"
	}
	return "a mapping"
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// resolve turns a srcPos into a position; unknown positions are 1:1.
func resolve(p srcPos) pos {
	if p.line > 0 {
		return pos{p.line, max(p.col, 1)}
	}
	return pos{1, 1}
}
