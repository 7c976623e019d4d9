package jobdef

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Resource limits applied before and while reading the YAML. They keep Parse
// linear-time and bounded in memory on hostile input.
const (
	// MaxSourceSize is the largest job definition accepted, in bytes.
	MaxSourceSize = 1 << 20
	// MaxDepth is the deepest nesting of mappings and sequences accepted.
	MaxDepth = 64
	// MaxKeys is the largest number of keys accepted in one block mapping.
	MaxKeys = 1000
	// MaxAliasExpansion is the total number of nodes that alias (*name) and
	// merge-key (<<) expansion may add to the document; it defeats
	// "billion laughs" style alias bombs.
	MaxAliasExpansion = 100_000
)

type nodeKind uint8

const (
	nullNode nodeKind = iota
	scalarNode
	mapNode
	seqNode
)

type scalarType uint8

const (
	strScalar scalarType = iota
	intScalar
	floatScalar
	boolScalar
)

// node is a YAML value with its source position, after anchors, aliases,
// merge keys and tags have been resolved. Aliased subtrees are shared, never
// copied.
type node struct {
	kind    nodeKind
	pos     Pos
	styp    scalarType
	text    string // scalar: source text (for strings, the decoded value)
	quoted  bool   // scalar: written in quotes
	val     any    // scalar: string, int64, uint64, float64 or bool
	entries []entry
	items   []*node
	size    int // nodes in this subtree, shared subtrees counted once per use
}

// entry is one key/value pair of a mapping, in document order.
type entry struct {
	key    string
	keyPos Pos
	val    *node
}

// describe names the kind of value for "expected X, got Y" messages.
func (n *node) describe() string {
	switch n.kind {
	case nullNode:
		return "null"
	case mapNode:
		return "a mapping"
	case seqNode:
		return "a list"
	}
	switch n.styp {
	case intScalar:
		return "an integer"
	case floatScalar:
		return "a number"
	case boolScalar:
		return "a boolean"
	}
	return fmt.Sprintf("the string %q", truncate(n.text, 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// fatalError aborts tree building: the document cannot be read safely.
type fatalError struct {
	pos Pos
	msg string
}

func (e *fatalError) Error() string { return e.pos.String() + ": " + e.msg }

// readTree lexes, bounds and parses src and returns the single document's
// root (nil for an empty document). Problems are added to errs.
func readTree(src []byte, errs *errList) *node {
	if len(src) > MaxSourceSize {
		errs.add(Pos{1, 1}, "", fmt.Sprintf("job definition is %d bytes, larger than the %d bytes allowed", len(src), MaxSourceSize))
		return nil
	}
	// YAML normalises line breaks to \n; doing it first also keeps the
	// lexer's line numbers right (it counts CRLF after comments twice).
	text := strings.TrimPrefix(string(src), "\ufeff") // byte order mark
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	tokens := lexer.Tokenize(text)
	if tk := tokens.InvalidToken(); tk != nil {
		errs.add(tokenPos(tk), "", "YAML syntax error: "+strings.TrimSpace(tk.Error))
		return nil
	}
	if pos, msg, ok := checkShape(tokens); !ok {
		errs.add(pos, "", msg)
		return nil
	}
	file, err := parseTokens(tokens)
	if err != nil {
		var yerr yaml.Error
		if errors.As(err, &yerr) {
			errs.add(tokenPos(yerr.GetToken()), "", "YAML syntax error: "+yerr.GetMessage())
		} else {
			errs.add(Pos{1, 1}, "", "YAML syntax error: "+err.Error())
		}
		return nil
	}
	var bodies []*ast.DocumentNode
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			bodies = append(bodies, d)
		}
	}
	switch {
	case len(bodies) == 0:
		errs.add(Pos{1, 1}, "$", "job definition is empty")
		return nil
	case len(bodies) > 1:
		errs.add(astPos(bodies[1].Body), "", "job definition must be a single YAML document, found a second one")
		return nil
	}
	b := &builder{anchors: map[string]*node{}, src: []byte(text)}
	root, err := b.build(bodies[0].Body, 0)
	if err != nil {
		var fe *fatalError
		if errors.As(err, &fe) {
			errs.add(fe.pos, "", fe.msg)
		} else {
			errs.add(Pos{1, 1}, "", err.Error())
		}
		return nil
	}
	return root
}

// parseTokens runs the goccy parser. The parser is third-party code, so a
// panic inside it is turned into an error rather than crashing the caller.
func parseTokens(tokens token.Tokens) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	return parser.Parse(tokens, 0)
}

// checkShape looks at the token stream before the parser runs, because the
// parser's cost grows with the square of the nesting depth and of the number
// of keys in one block mapping, and with the square of the number of
// documents. It rejects more than one document, nesting deeper than MaxDepth
// (flow collections count exactly; block collections by a stack of indicator
// columns) and block mappings with more than MaxKeys keys.
func checkShape(tokens token.Tokens) (Pos, string, bool) {
	type level struct {
		col  int
		keys int
	}
	flow := 0
	docs, ends := 0, 0
	var stack []level
	for _, tk := range tokens {
		if tk.Position == nil {
			continue
		}
		switch tk.Type {
		case token.DocumentHeaderType:
			docs++
			if docs > 1 {
				return tokenPos(tk), "job definition must be a single YAML document, found a second one", false
			}
		case token.DocumentEndType:
			ends++
			if ends > 1 {
				return tokenPos(tk), "job definition must be a single YAML document, found a second one", false
			}
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
				col = tk.Prev.Position.Column // the key's column
			}
			for len(stack) > 0 && stack[len(stack)-1].col > col {
				stack = stack[:len(stack)-1]
			}
			if len(stack) == 0 || stack[len(stack)-1].col < col {
				stack = append(stack, level{col: col})
			}
			if tk.Type == token.MappingValueType {
				top := &stack[len(stack)-1]
				top.keys++
				if top.keys > MaxKeys {
					return tokenPos(tk), fmt.Sprintf("a mapping has more than %d keys", MaxKeys), false
				}
			}
		}
		if flow+len(stack) > MaxDepth {
			return tokenPos(tk), fmt.Sprintf("nesting deeper than %d levels", MaxDepth), false
		}
	}
	return Pos{}, "", true
}

func tokenPos(tk *token.Token) Pos {
	if tk == nil || tk.Position == nil {
		return Pos{1, 1}
	}
	p := Pos{Line: tk.Position.Line, Column: tk.Position.Column}
	if p.Line < 1 {
		p.Line = 1
	}
	if p.Column < 1 {
		p.Column = 1
	}
	return p
}

// astPos is the position users expect for a node: the first key of a block
// mapping, the indicator of a block scalar, the token otherwise.
func astPos(n ast.Node) Pos {
	switch v := n.(type) {
	case nil:
		return Pos{1, 1}
	case *ast.MappingNode:
		if !v.IsFlowStyle && len(v.Values) > 0 && v.Values[0] != nil {
			return astPos(v.Values[0].Key)
		}
		if v.Start != nil {
			return tokenPos(v.Start)
		}
	case *ast.MappingValueNode:
		return astPos(v.Key)
	case *ast.LiteralNode:
		return tokenPos(v.Start)
	case *ast.AnchorNode:
		return tokenPos(v.Start)
	case *ast.TagNode:
		return tokenPos(v.Start)
	}
	return tokenPos(n.GetToken())
}

// builder converts the goccy AST into nodes, in document order so that each
// alias sees the anchors defined before it.
type builder struct {
	anchors  map[string]*node
	expanded int
	src      []byte
	lines    [][]byte // src split into lines, built on first use
}

func (b *builder) fail(n ast.Node, format string, args ...any) error {
	return &fatalError{pos: astPos(n), msg: fmt.Sprintf(format, args...)}
}

func (b *builder) spend(n ast.Node, cost int) error {
	b.expanded += cost
	if b.expanded > MaxAliasExpansion {
		return b.fail(n, "aliases expand to more than %d nodes", MaxAliasExpansion)
	}
	return nil
}

func (b *builder) build(an ast.Node, depth int) (*node, error) {
	if depth > MaxDepth {
		return nil, b.fail(an, "nesting deeper than %d levels", MaxDepth)
	}
	switch v := an.(type) {
	case nil:
		return &node{kind: nullNode, pos: Pos{1, 1}, size: 1}, nil
	case *ast.NullNode:
		return &node{kind: nullNode, pos: astPos(v), text: "null", size: 1}, nil
	case *ast.StringNode:
		quoted := false
		if tk := v.GetToken(); tk != nil {
			quoted = tk.Type == token.DoubleQuoteType || tk.Type == token.SingleQuoteType
		}
		return &node{kind: scalarNode, pos: astPos(v), styp: strScalar, text: v.Value, val: v.Value, quoted: quoted, size: 1}, nil
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		return &node{kind: scalarNode, pos: astPos(v), styp: strScalar, text: s, val: s, size: 1}, nil
	case *ast.IntegerNode:
		return &node{kind: scalarNode, pos: astPos(v), styp: intScalar, text: v.GetToken().Value, val: v.Value, size: 1}, nil
	case *ast.FloatNode:
		return &node{kind: scalarNode, pos: astPos(v), styp: floatScalar, text: v.GetToken().Value, val: v.Value, size: 1}, nil
	case *ast.InfinityNode:
		return &node{kind: scalarNode, pos: astPos(v), styp: floatScalar, text: v.GetToken().Value, val: v.Value, size: 1}, nil
	case *ast.NanNode:
		return &node{kind: scalarNode, pos: astPos(v), styp: floatScalar, text: v.GetToken().Value, val: math.NaN(), size: 1}, nil
	case *ast.BoolNode:
		return &node{kind: scalarNode, pos: astPos(v), styp: boolScalar, text: strconv.FormatBool(v.Value), val: v.Value, size: 1}, nil
	case *ast.MergeKeyNode:
		return nil, b.fail(v, "merge key << is only allowed as a mapping key")
	case *ast.AnchorNode:
		name := ""
		if v.Name != nil {
			name = v.Name.GetToken().Value
		}
		delete(b.anchors, name) // an alias inside its own anchor is undefined
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
		return b.tagged(v, depth)
	case *ast.MappingNode:
		return b.mapping(v, v.Values, depth)
	case *ast.MappingValueNode:
		return b.mapping(v, []*ast.MappingValueNode{v}, depth)
	case *ast.SequenceNode:
		n := &node{kind: seqNode, pos: astPos(v), size: 1}
		for _, it := range v.Values {
			c, err := b.build(it, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, c)
			n.size += c.size
		}
		return n, nil
	}
	return nil, b.fail(an, "unsupported YAML construct (%s)", an.Type().YAMLName())
}

func (b *builder) tagged(v *ast.TagNode, depth int) (*node, error) {
	tag := ""
	if v.Start != nil {
		tag = v.Start.Value
	}
	n, err := b.build(v.Value, depth)
	if err != nil {
		return nil, err
	}
	want := func(ok bool, what string) (*node, error) {
		if !ok {
			return nil, b.fail(v, "value tagged %s is not %s", tag, what)
		}
		return n, nil
	}
	switch token.ReservedTagKeyword(tag) {
	case token.StringTag:
		if n.kind != scalarNode && n.kind != nullNode {
			return nil, b.fail(v, "value tagged %s is not a scalar", tag)
		}
		text := n.text
		if s, ok := v.Value.(*ast.StringNode); ok {
			text = s.Value
		}
		return &node{kind: scalarNode, pos: astPos(v), styp: strScalar, text: text, val: text, size: 1}, nil
	case token.IntegerTag:
		return want(n.kind == scalarNode && n.styp == intScalar, "an integer")
	case token.FloatTag:
		return want(n.kind == scalarNode && (n.styp == floatScalar || n.styp == intScalar), "a number")
	case token.BooleanTag:
		return want(n.kind == scalarNode && n.styp == boolScalar, "a boolean (true/false)")
	case token.NullTag:
		return want(n.kind == nullNode, "null")
	case token.MappingTag:
		return want(n.kind == mapNode, "a mapping")
	case token.SequenceTag:
		return want(n.kind == seqNode, "a list")
	}
	return nil, b.fail(v, "YAML tag %s is not supported", tag)
}

func (b *builder) mapping(an ast.Node, values []*ast.MappingValueNode, depth int) (*node, error) {
	n := &node{kind: mapNode, pos: astPos(an), size: 1}
	seen := map[string]bool{}
	var merges []*node
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
		key, err := b.key(mv.Key, depth)
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, b.fail(mv.Key, "mapping key %q is defined twice", key)
		}
		seen[key] = true
		val, err := b.build(mv.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if val.kind == nullNode && b.isImplicitNull(mv.Value) {
			// "key:" with nothing after it: point at the key, not past the colon.
			val = &node{kind: nullNode, pos: astPos(mv.Key), text: "", size: 1}
		}
		n.entries = append(n.entries, entry{key: key, keyPos: astPos(mv.Key), val: val})
		n.size += 1 + val.size
	}
	// Merge keys (<<: *base or <<: [*a, *b]): explicit keys win, then earlier
	// merged mappings win over later ones.
	for _, m := range merges {
		srcs := []*node{m}
		if m.kind == seqNode {
			srcs = m.items
		}
		for _, s := range srcs {
			if s.kind != mapNode {
				return nil, &fatalError{pos: s.pos, msg: "merge key << needs a mapping or a list of mappings"}
			}
			for _, e := range s.entries {
				if seen[e.key] {
					continue
				}
				seen[e.key] = true
				if err := b.spend(an, 1+e.val.size); err != nil {
					return nil, err
				}
				n.entries = append(n.entries, e)
				n.size += 1 + e.val.size
			}
		}
	}
	return n, nil
}

// isImplicitNull reports whether v is the null of "key:" with no value: the
// parser gives it the same token as a written "null", so look at the source.
func (b *builder) isImplicitNull(v ast.Node) bool {
	nn, ok := v.(*ast.NullNode)
	if !ok || nn.Token == nil || nn.Token.Position == nil {
		return false
	}
	if b.lines == nil {
		b.lines = bytes.Split(b.src, []byte("\n"))
	}
	line, col := nn.Token.Position.Line, nn.Token.Position.Column
	if line < 1 || line > len(b.lines) || col < 1 {
		return false
	}
	runes := []rune(string(b.lines[line-1]))
	if col > len(runes) {
		return true
	}
	switch runes[col-1] {
	case 'n', 'N', '~':
		return false
	}
	return true
}

// key returns the text of a mapping key; keys must be scalars.
func (b *builder) key(k ast.MapKeyNode, depth int) (string, error) {
	var an ast.Node = k
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		an = mk.Value
	}
	n, err := b.build(an, depth+1)
	if err != nil {
		return "", err
	}
	switch n.kind {
	case scalarNode:
		return n.text, nil
	case nullNode:
		return "", nil
	}
	return "", b.fail(k, "mapping keys must be scalars, got %s", n.describe())
}
