package overlay

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
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

type kind uint8

const (
	nullKind kind = iota
	scalarKind
	mapKind
	seqKind
)

// ynode is a YAML value with its position, anchors and aliases resolved.
// Scalars keep their text and their YAML type.
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
	size    int
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
// document; an empty document is an error.
func readYAML(src []byte) (*ynode, error) {
	if len(src) > MaxTestdefSize {
		return nil, &yamlError{1, 1, fmt.Sprintf("test definition is %d bytes, larger than the %d bytes allowed", len(src), MaxTestdefSize)}
	}
	text := strings.TrimPrefix(string(src), "\ufeff")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	tokens := lexer.Tokenize(text)
	if tk := tokens.InvalidToken(); tk != nil {
		l, c := tokenPos(tk)
		return nil, &yamlError{l, c, "YAML syntax error: " + strings.TrimSpace(tk.Error)}
	}
	if err := checkNesting(tokens); err != nil {
		return nil, err
	}
	file, err := parse(tokens)
	if err != nil {
		var yerr yaml.Error
		if errors.As(err, &yerr) {
			l, c := tokenPos(yerr.GetToken())
			return nil, &yamlError{l, c, "YAML syntax error: " + yerr.GetMessage()}
		}
		return nil, &yamlError{1, 1, "YAML syntax error: " + err.Error()}
	}
	var bodies []ast.Node
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			bodies = append(bodies, d.Body)
		}
	}
	switch {
	case len(bodies) == 0:
		return nil, &yamlError{1, 1, "test definition is empty"}
	case len(bodies) > 1:
		l, c := nodePos(bodies[1])
		return nil, &yamlError{l, c, "test definition must be a single YAML document, found a second one"}
	}
	b := &treeBuilder{anchors: map[string]*ynode{}}
	return b.build(bodies[0], 0)
}

// parse runs the third-party parser, turning a panic into an error.
func parse(tokens token.Tokens) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	return parser.Parse(tokens, 0)
}

// checkNesting rejects documents nested deeper than maxDepth before the
// parser sees them (its cost grows with the square of the depth). Flow
// collections count exactly, block collections by their indentation.
func checkNesting(tokens token.Tokens) error {
	flow := 0
	var cols []int
	for _, tk := range tokens {
		if tk.Position == nil {
			continue
		}
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			if flow > 0 {
				flow--
			}
		case token.SequenceEntryType, token.MappingKeyType, token.MappingValueType:
			if flow > 0 {
				continue
			}
			col := tk.Position.Column
			if tk.Type == token.MappingValueType && tk.Prev != nil && tk.Prev.Position != nil &&
				tk.Prev.Position.Line == tk.Position.Line {
				col = tk.Prev.Position.Column
			}
			for len(cols) > 0 && cols[len(cols)-1] > col {
				cols = cols[:len(cols)-1]
			}
			if len(cols) == 0 || cols[len(cols)-1] < col {
				cols = append(cols, col)
			}
		}
		if flow+len(cols) > maxDepth {
			l, c := tokenPos(tk)
			return &yamlError{l, c, fmt.Sprintf("nesting deeper than %d levels", maxDepth)}
		}
	}
	return nil
}

func tokenPos(tk *token.Token) (int, int) {
	if tk == nil || tk.Position == nil {
		return 1, 1
	}
	return max(tk.Position.Line, 1), max(tk.Position.Column, 1)
}

// nodePos is where users look for a node: the first key of a block
// mapping, the node's token otherwise.
func nodePos(n ast.Node) (int, int) {
	switch v := n.(type) {
	case nil:
		return 1, 1
	case *ast.MappingNode:
		if !v.IsFlowStyle && len(v.Values) > 0 && v.Values[0] != nil {
			return nodePos(v.Values[0].Key)
		}
		if v.Start != nil {
			return tokenPos(v.Start)
		}
	case *ast.MappingValueNode:
		return nodePos(v.Key)
	case *ast.LiteralNode:
		return tokenPos(v.Start)
	case *ast.AnchorNode:
		return tokenPos(v.Start)
	case *ast.TagNode:
		return tokenPos(v.Start)
	}
	return tokenPos(n.GetToken())
}

type treeBuilder struct {
	anchors  map[string]*ynode
	expanded int
}

func (b *treeBuilder) fail(n ast.Node, format string, args ...any) error {
	l, c := nodePos(n)
	return &yamlError{l, c, fmt.Sprintf(format, args...)}
}

func (b *treeBuilder) spend(n ast.Node, cost int) error {
	b.expanded += cost
	if b.expanded > maxExpansion {
		return b.fail(n, "aliases expand to more than %d nodes", maxExpansion)
	}
	return nil
}

func scalar(n ast.Node, text string, isStr bool) *ynode {
	l, c := nodePos(n)
	return &ynode{kind: scalarKind, line: l, col: c, text: text, isStr: isStr, size: 1}
}

func (b *treeBuilder) build(an ast.Node, depth int) (*ynode, error) {
	if depth > maxDepth {
		return nil, b.fail(an, "nesting deeper than %d levels", maxDepth)
	}
	switch v := an.(type) {
	case nil:
		return &ynode{kind: nullKind, line: 1, col: 1, size: 1}, nil
	case *ast.NullNode:
		l, c := nodePos(v)
		return &ynode{kind: nullKind, line: l, col: c, size: 1}, nil
	case *ast.StringNode:
		n := scalar(v, v.Value, true)
		if tk := v.GetToken(); tk != nil {
			n.plain = tk.Type != token.DoubleQuoteType && tk.Type != token.SingleQuoteType
		}
		return n, nil
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		return scalar(v, s, true), nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return scalar(v, v.GetToken().Value, false), nil
	case *ast.BoolNode:
		n := scalar(v, strconv.FormatBool(v.Value), false)
		n.isBool, n.boolVal = true, v.Value
		return n, nil
	case *ast.AnchorNode:
		name := ""
		if v.Name != nil {
			name = v.Name.GetToken().Value
		}
		delete(b.anchors, name)
		n, err := b.build(v.Value, depth)
		if err != nil {
			return nil, err
		}
		b.anchors[name] = n
		return n, nil
	case *ast.AliasNode:
		name := ""
		if v.Value != nil {
			name = v.Value.GetToken().Value
		}
		n, ok := b.anchors[name]
		if !ok {
			return nil, b.fail(v, "alias *%s refers to no anchor defined before it", name)
		}
		if err := b.spend(v, n.size); err != nil {
			return nil, err
		}
		return n, nil
	case *ast.TagNode:
		tag := ""
		if v.Start != nil {
			tag = v.Start.Value
		}
		n, err := b.build(v.Value, depth)
		if err != nil {
			return nil, err
		}
		if token.ReservedTagKeyword(tag) == token.StringTag && n.kind == scalarKind {
			s := *n
			s.isStr, s.isBool, s.plain = true, false, false
			if sn, ok := v.Value.(*ast.StringNode); ok {
				s.text = sn.Value
			}
			return &s, nil
		}
		return nil, b.fail(v, "YAML tag %s is not supported in test definitions", tag)
	case *ast.MappingNode:
		return b.mapping(v, v.Values, depth)
	case *ast.MappingValueNode:
		return b.mapping(v, []*ast.MappingValueNode{v}, depth)
	case *ast.SequenceNode:
		l, c := nodePos(v)
		n := &ynode{kind: seqKind, line: l, col: c, size: 1}
		for _, it := range v.Values {
			child, err := b.build(it, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, child)
			n.size += child.size
		}
		return n, nil
	}
	return nil, b.fail(an, "unsupported YAML construct (%s)", an.Type().YAMLName())
}

func (b *treeBuilder) mapping(an ast.Node, values []*ast.MappingValueNode, depth int) (*ynode, error) {
	l, c := nodePos(an)
	n := &ynode{kind: mapKind, line: l, col: c, size: 1}
	seen := map[string]bool{}
	var merges []*ynode
	for _, mv := range values {
		if mv == nil {
			continue
		}
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			m, err := b.build(mv.Value, depth+1)
			if err != nil {
				return nil, err
			}
			merges = append(merges, m)
			continue
		}
		var keyNode ast.Node = mv.Key
		if mk, ok := mv.Key.(*ast.MappingKeyNode); ok {
			keyNode = mk.Value
		}
		k, err := b.build(keyNode, depth+1)
		if err != nil {
			return nil, err
		}
		if k.kind != scalarKind {
			return nil, b.fail(keyNode, "mapping keys must be scalars, got %s", k.describe())
		}
		if seen[k.text] {
			return nil, b.fail(keyNode, "mapping key %q is defined twice", k.text)
		}
		seen[k.text] = true
		val, err := b.build(mv.Value, depth+1)
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, k.text)
		n.vals = append(n.vals, val)
		n.keyPos = append(n.keyPos, [2]int{k.line, k.col})
		n.size += 1 + val.size
	}
	for _, m := range merges {
		srcs := []*ynode{m}
		if m.kind == seqKind {
			srcs = m.items
		}
		for _, s := range srcs {
			if s.kind != mapKind {
				return nil, &yamlError{s.line, s.col, "merge key << needs a mapping or a list of mappings"}
			}
			for i, k := range s.keys {
				if seen[k] {
					continue
				}
				seen[k] = true
				if err := b.spend(an, 1+s.vals[i].size); err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, s.vals[i])
				n.keyPos = append(n.keyPos, s.keyPos[i])
				n.size += 1 + s.vals[i].size
			}
		}
	}
	return n, nil
}
