package overlay

import (
	"errors"
	"fmt"

	"github.com/basalt-lab/basalt/internal/yamltree"
)

// Limits on test definition files, applied before and while parsing so
// that a hostile file costs bounded time and memory.
const (
	// MaxTestdefSize is the largest test definition file read, in bytes.
	MaxTestdefSize = 1 << 20
	// maxDepth is the deepest nesting of mappings and sequences.
	maxDepth = 64
	// maxExpansion bounds the nodes that aliases (*name) and merge keys
	// (<<) may add, defeating "billion laughs" documents.
	maxExpansion = 100_000
)

// testdefLimits bounds yamltree.Read for test definitions.
var testdefLimits = yamltree.Limits{MaxBytes: MaxTestdefSize, MaxDepth: maxDepth, MaxExpansion: maxExpansion}

type kind uint8

const (
	nullKind kind = iota
	scalarKind
	mapKind
	seqKind
)

// ynode is a YAML value with its position, anchors and aliases resolved.
// Scalars keep their text and their YAML type. Trees read from YAML come
// from yamltree; fromAny builds them from Go values.
type ynode struct {
	kind    kind
	line    int
	col     int
	text    string // scalar text (decoded for strings)
	isStr   bool   // scalar is a string (quoted, plain or block)
	plain   bool   // scalar string written without quotes
	isBool  bool
	boolVal bool
	keys    []string
	vals    []*ynode
	keyPos  [][2]int
	items   []*ynode
}

// describe names the kind of value for "expected X, got Y" messages.
func (n *ynode) describe() string {
	switch n.kind {
	case nullKind:
		return "null"
	case mapKind:
		return "a mapping"
	case seqKind:
		return "a list"
	}
	switch {
	case n.isBool:
		return "a boolean"
	case !n.isStr:
		return "a number"
	}
	s := n.text
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("the string %q", s)
}

func (n *ynode) get(key string) (*ynode, bool) {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i], true
		}
	}
	return nil, false
}

// yamlError is a problem at a position of the source.
type yamlError struct {
	line, col int
	msg       string
}

func (e *yamlError) Error() string { return fmt.Sprintf("%d:%d: %s", e.line, e.col, e.msg) }

// readYAML parses src into a tree. The document must be a single YAML
// document; an empty document is an error. Only the !!str tag is accepted.
func readYAML(src []byte) (*ynode, error) {
	root, err := yamltree.Read(src, testdefLimits)
	if err != nil {
		var ye *yamltree.Error
		if !errors.As(err, &ye) {
			return nil, &yamlError{1, 1, err.Error()}
		}
		msg := ye.Msg
		switch ye.Code {
		case yamltree.TooLarge:
			msg = fmt.Sprintf("test definition is %d bytes, larger than the %d bytes allowed", len(src), MaxTestdefSize)
		case yamltree.MultipleDocuments:
			msg = "test definition must be a single YAML document, found a second one"
		case yamltree.Tag:
			msg = fmt.Sprintf("YAML tag %s is not supported in test definitions", ye.Name)
		case yamltree.MergeKey: // a merge key outside a mapping's keys
			msg = "unsupported YAML construct (merge key)"
		}
		return nil, &yamlError{ye.Line, ye.Column, msg}
	}
	if root == nil {
		return nil, &yamlError{1, 1, "test definition is empty"}
	}
	return fromTree(root, map[*yamltree.Node]*ynode{}), nil
}

// fromTree converts a yamltree node; seen keeps aliased subtrees shared.
func fromTree(t *yamltree.Node, seen map[*yamltree.Node]*ynode) *ynode {
	if n, ok := seen[t]; ok {
		return n
	}
	n := &ynode{line: t.Line, col: t.Column}
	switch t.Kind {
	case yamltree.Null:
		n.kind = nullKind
	case yamltree.Scalar:
		n.kind, n.text = scalarKind, t.Text
		switch t.Type {
		case yamltree.String:
			n.isStr, n.plain = true, !t.Quoted
		case yamltree.Bool:
			n.isBool, n.boolVal = true, t.Value == true
		}
	case yamltree.Map:
		n.kind = mapKind
		for _, e := range t.Entries {
			n.keys = append(n.keys, e.Key)
			n.vals = append(n.vals, fromTree(e.Value, seen))
			n.keyPos = append(n.keyPos, [2]int{e.Line, e.Column})
		}
	case yamltree.Seq:
		n.kind = seqKind
		for _, it := range t.Items {
			n.items = append(n.items, fromTree(it, seen))
		}
	}
	seen[t] = n
	return n
}
