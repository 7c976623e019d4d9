package jobdef

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/pyyaml"
	"github.com/basalt-lab/basalt/internal/yamltree"
)

// errTooLarge is returned by emit when the document outgrows its limit.
var errTooLarge = errors.New("too large")

// emit writes the node tree as a block-style YAML document that reads back
// (with readTree, and with PyYAML) as the same values: strings stay
// strings, numbers and booleans keep their type and value, multi-line
// strings keep every character. A mapping or list reached more than once
// (an alias in the source) is written once with an anchor (&id001) and
// then as an alias, as PyYAML's dumper does, so that the document does not
// grow with the aliases it uses. It fails with errTooLarge beyond max
// bytes.
func emit(root *node, max int) ([]byte, error) {
	e := &emitter{max: max, refs: map[*node]int{}, anchors: map[*node]string{}, literal: map[*node]bool{}}
	e.count(root)
	switch {
	case root.kind == mapNode && len(root.entries) > 0:
		e.mapEntries(root, 0, false)
	case root.kind == seqNode && len(root.items) > 0:
		e.seqItems(root, 0, false)
	default:
		e.b.WriteString(e.scalar(root) + "\n")
	}
	if e.err != nil {
		return nil, e.err
	}
	return []byte(e.b.String()), nil
}

type emitter struct {
	b   strings.Builder
	max int
	err error
	// refs counts how often each non-empty collection is reached; those
	// reached more than once are anchored when first written.
	refs    map[*node]int
	anchors map[*node]string // anchor of each collection already written
	literal map[*node]bool   // multi-line strings checked for literal style
}

// count records how often each collection is reached, walking a shared
// one once.
func (e *emitter) count(n *node) {
	if !isCollection(n) {
		return
	}
	e.refs[n]++
	if e.refs[n] > 1 {
		return
	}
	for _, en := range n.entries {
		e.count(en.val)
	}
	for _, it := range n.items {
		e.count(it)
	}
}

func isCollection(n *node) bool {
	return (n.kind == mapNode && len(n.entries) > 0) || (n.kind == seqNode && len(n.items) > 0)
}

func (e *emitter) write(s string) {
	if e.err != nil {
		return
	}
	if e.b.Len()+len(s) > e.max {
		e.err = errTooLarge
		return
	}
	e.b.WriteString(s)
}

func (e *emitter) indent(n int) { e.write(strings.Repeat(" ", n)) }

// mapEntries writes a mapping's entries at column indent; with inline, the
// first one continues the current line (after "- ").
func (e *emitter) mapEntries(n *node, indent int, inline bool) {
	for i, en := range n.entries {
		if e.err != nil {
			return
		}
		if i > 0 || !inline {
			e.indent(indent)
		}
		key := quoteString(en.key)
		if len(key) <= maxSimpleKey {
			e.write(key + ":")
			e.value(en.val, indent, true)
			continue
		}
		// A long key is written as an explicit key: YAML limits an
		// implicit one to 1024 characters (PyYAML enforces it).
		e.write("? " + key + "\n")
		e.indent(indent)
		e.write(":")
		if isCollection(en.val) && en.val.kind == seqNode && e.anchors[en.val] == "" && e.refs[en.val] <= 1 {
			e.write("\n")
			e.seqItems(en.val, indent+2, false)
			continue
		}
		e.value(en.val, indent, true)
	}
}

// maxSimpleKey is the longest key written as an implicit key ("key:").
const maxSimpleKey = 1000

// seqItems writes a list's items at column indent; with inline, the first
// one continues the current line.
func (e *emitter) seqItems(n *node, indent int, inline bool) {
	for i, it := range n.items {
		if e.err != nil {
			return
		}
		if i > 0 || !inline {
			e.indent(indent)
		}
		e.write("-")
		e.value(it, indent, false)
	}
}

// value writes n after "key:" (inMap) or "-" at column indent, up to and
// including the end of its last line.
func (e *emitter) value(n *node, indent int, inMap bool) {
	if !isCollection(n) {
		if n.kind == scalarNode && n.styp == strScalar && e.literalOK(n) {
			e.write(" " + literalHeader(n.text) + "\n")
			for _, line := range strings.Split(strings.TrimSuffix(n.text, "\n"), "\n") {
				if line != "" {
					e.indent(indent + 2)
					e.write(line)
				}
				e.write("\n")
			}
			return
		}
		e.write(" " + e.scalar(n) + "\n")
		return
	}
	if name, ok := e.anchors[n]; ok {
		e.write(" *" + name + "\n")
		return
	}
	if e.refs[n] > 1 {
		name := fmt.Sprintf("id%03d", len(e.anchors)+1)
		e.anchors[n] = name
		e.write(" &" + name + "\n")
		if n.kind == mapNode {
			e.mapEntries(n, indent+2, false)
		} else {
			e.seqItems(n, indent+2, false)
		}
		return
	}
	switch {
	case n.kind == mapNode && inMap:
		e.write("\n")
		e.mapEntries(n, indent+2, false)
	case n.kind == mapNode:
		e.write(" ")
		e.mapEntries(n, indent+2, true)
	case inMap:
		// A list under a key starts at the key's column, as LAVA's
		// examples write actions.
		e.write("\n")
		e.seqItems(n, indent, false)
	default:
		e.write(" ")
		e.seqItems(n, indent+2, true)
	}
}

// scalar formats a scalar, null or empty collection on one line.
func (e *emitter) scalar(n *node) string {
	switch n.kind {
	case mapNode:
		return "{}"
	case seqNode:
		return "[]"
	case nullNode:
		return "null"
	}
	switch n.styp {
	case boolScalar:
		if b, _ := n.val.(bool); b {
			return "true"
		}
		return "false"
	case intScalar:
		if intText.MatchString(n.text) {
			return n.text
		}
		switch v := n.val.(type) {
		case int64:
			return strconv.FormatInt(v, 10)
		case uint64:
			return strconv.FormatUint(v, 10)
		}
	case floatScalar:
		if floatText.MatchString(n.text) {
			return n.text
		}
		if v, ok := n.val.(float64); ok {
			return pyyaml.Float(v) // PyYAML's spelling, as LAVA's split writes it
		}
	}
	return quoteString(n.text)
}

// intText and floatText are the spellings of numbers kept as written: they
// read as the same number in YAML 1.2 (and, but for 0o, in YAML 1.1).
var (
	intText   = regexp.MustCompile(`^[-+]?([0-9]+|0x[0-9a-fA-F]+|0o[0-7]+)$`)
	floatText = regexp.MustCompile(`^([-+]?(\.[0-9]+|[0-9]+\.[0-9]*)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$`)
)

// quoteString spells a string plain when every YAML reader (1.1 and 1.2)
// reads it back as that string, else double-quoted with escapes.
func quoteString(s string) string {
	if plainOK(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x100 && !printable(r):
			fmt.Fprintf(&b, `\x%02X`, r)
		case !printable(r):
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// printable is YAML's printable set (PyYAML's too), less the byte order
// mark, the line and paragraph separators and NEL, which some readers
// take for line breaks.
func printable(r rune) bool {
	switch {
	case r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xFEFF:
		return false
	case r >= 0x20 && r <= 0x7E, r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= utf8.MaxRune:
		return true
	}
	return false
}

// specialWords read as null or a boolean in YAML 1.1 or 1.2 (compared in
// lower case), or have another meaning to PyYAML (=, <<).
var specialWords = map[string]bool{
	"~": true, "null": true, "true": true, "false": true, "yes": true, "no": true,
	"y": true, "n": true, "on": true, "off": true, "=": true, "<<": true,
}

// notString matches plain scalars that some YAML reader takes for a
// number or a timestamp: decimal, hexadecimal, octal and binary integers,
// floats, sexagesimal numbers (YAML 1.1), .inf and .nan, dates.
var notString = regexp.MustCompile(`^(` +
	`[-+]?[0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?` +
	`|[-+]?0[xXoObB][0-9a-fA-F_]+` +
	`|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?` +
	`|[-+]?\.([iI][nN][fF]|[nN][aA][nN])` +
	`|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*` +
	`)$`)

// plainOK reports whether s can be written as a plain scalar.
func plainOK(s string) bool {
	if s == "" || specialWords[strings.ToLower(s)] || notString.MatchString(s) {
		return false
	}
	if strings.ContainsRune("-?:,[]{}#&*!|>'\"%@`. ", rune(s[0])) || s[len(s)-1] == ' ' || s[len(s)-1] == ':' {
		return false
	}
	if strings.Contains(s, ": ") || strings.Contains(s, " #") {
		return false
	}
	for _, r := range s {
		if !printable(r) {
			return false
		}
	}
	return true
}

// literalOK reports whether a multi-line string can be written as a
// literal block (|): printable lines without leading or trailing blanks
// on the first and without trailing blanks on any, at most one final line
// break. The block is also read back on its own, once per string, so that
// a reader's corner case falls back to double quotes instead of changing
// the text.
func (e *emitter) literalOK(n *node) bool {
	if ok, seen := e.literal[n]; seen {
		return ok
	}
	ok := literalCandidate(n.text)
	if ok {
		var b strings.Builder
		b.WriteString("k: " + literalHeader(n.text) + "\n")
		for _, line := range strings.Split(strings.TrimSuffix(n.text, "\n"), "\n") {
			if line != "" {
				b.WriteString("  " + line)
			}
			b.WriteString("\n")
		}
		t, err := yamltree.ReadPolicy([]byte(b.String()), treeLimits, treePolicy)
		ok = err == nil && t != nil && len(t.Entries) == 1 && t.Entries[0].Value.Kind == yamltree.Scalar &&
			t.Entries[0].Value.Type == yamltree.String && t.Entries[0].Value.Text == n.text
	}
	e.literal[n] = ok
	return ok
}

func literalCandidate(s string) bool {
	body := strings.TrimSuffix(s, "\n")
	if !strings.Contains(body, "\n") || strings.HasSuffix(body, "\n") {
		return false
	}
	if body[0] == ' ' || body[0] == '\t' || body[0] == '\n' {
		return false
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
			return false
		}
		for _, r := range line {
			if r != '\t' && !printable(r) {
				return false
			}
		}
	}
	return true
}

// literalHeader is "|" for a string ending in one line break, "|-" for one
// without.
func literalHeader(s string) string {
	if strings.HasSuffix(s, "\n") {
		return "|"
	}
	return "|-"
}

// sameTree reports whether two trees hold the same values: same shapes,
// keys in the same order, scalars of the same type and value.
func sameTree(a, b *node) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case scalarNode:
		if a.styp != b.styp {
			return false
		}
		if a.styp == intScalar {
			x, okx := intValue(a)
			y, oky := intValue(b)
			if okx && oky {
				return x == y
			}
		}
		if a.styp == floatScalar {
			x, _ := a.val.(float64)
			y, _ := b.val.(float64)
			return x == y || (math.IsNaN(x) && math.IsNaN(y))
		}
		return a.val == b.val
	case mapNode:
		if len(a.entries) != len(b.entries) {
			return false
		}
		for i := range a.entries {
			if a.entries[i].key != b.entries[i].key || !sameTree(a.entries[i].val, b.entries[i].val) {
				return false
			}
		}
	case seqNode:
		if len(a.items) != len(b.items) {
			return false
		}
		for i := range a.items {
			if !sameTree(a.items[i], b.items[i]) {
				return false
			}
		}
	}
	return true
}
