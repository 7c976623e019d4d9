package devicedict

import (
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

// Limits of the YAML reader besides MaxSize and MaxDepth: the parser's cost
// grows with the square of the keys of one block mapping, and aliases could
// otherwise expand a small text into a huge value.
const (
	maxKeys           = 1000
	maxAliasExpansion = 100_000
)

// ExtendsKey is the key of a YAML dictionary that names its template.
const ExtendsKey = "extends"

// parseYAML reads the plain form into d.
func parseYAML(text string, d *Dict, errs *errList) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	tokens := lexer.Tokenize(text)
	if len(tokens) == 0 {
		return // empty: no dictionary
	}
	if tk := tokens.InvalidToken(); tk != nil {
		errs.add(tokPos(tk), "", "YAML syntax error: "+strings.TrimSpace(tk.Error))
		return
	}
	if p, msg, ok := checkShape(tokens); !ok {
		errs.add(p, "", msg)
		return
	}
	file, err := parseTokens(tokens)
	if err != nil {
		var yerr yaml.Error
		if errors.As(err, &yerr) {
			errs.add(tokPos(yerr.GetToken()), "", "YAML syntax error: "+yerr.GetMessage())
		} else {
			errs.add(pos{1, 1}, "", "YAML syntax error: "+err.Error())
		}
		return
	}
	var body ast.Node
	for _, doc := range file.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			errs.add(nodePos(doc.Body), "", "a device dictionary is a single YAML document, found a second one")
			return
		}
		body = doc.Body
	}
	if body == nil {
		return
	}
	b := &yamlBuilder{anchors: map[string]*node{}}
	root, err := b.build(body, 0)
	if err != nil {
		var fe *fatalError
		if errors.As(err, &fe) {
			errs.add(fe.p, "", fe.msg)
		} else {
			errs.add(pos{1, 1}, "", err.Error())
		}
		return
	}
	switch root.kind {
	case nullNode:
		return
	case dictNode:
	default:
		errs.add(resolve(nil, root.src), "", fmt.Sprintf("a device dictionary in YAML is a mapping of variable names to values, got %s", root.describe()))
		return
	}
	d.Form = FormYAML
	for _, e := range root.entries {
		if e.key == ExtendsKey {
			if e.val.kind != strNode || e.val.s == "" {
				errs.add(resolve(nil, e.val.src.or(e.keySrc)), "$."+ExtendsKey, fmt.Sprintf("expected the template name (extends: qemu), got %s", e.val.describe()))
				continue
			}
			name := strings.TrimSuffix(e.val.s, ".jinja2")
			if name == "" || strings.ContainsAny(name, "/\\") {
				errs.add(resolve(nil, e.val.src), "$."+ExtendsKey, fmt.Sprintf("template name %s must be a device-type name like qemu", strconv.Quote(e.val.s)))
				continue
			}
			d.Template = name
			d.templateSrc = e.val.src
			continue
		}
		p := resolve(nil, e.keySrc)
		d.Vars = append(d.Vars, Var{Name: e.key, Value: e.val.value(), Line: p.line, Column: p.col, n: e.val})
	}
}

// fatalError stops building: the document cannot be read safely.
type fatalError struct {
	p   pos
	msg string
}

func (e *fatalError) Error() string { return e.msg }

// parseTokens runs the third-party parser, turning a panic into an error.
func parseTokens(tokens token.Tokens) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	return parser.Parse(tokens, 0)
}

// checkShape bounds the token stream before the parser runs: one document,
// nesting at most MaxDepth (flow collections exactly, block collections by
// their indentation), at most maxKeys keys per block mapping.
func checkShape(tokens token.Tokens) (pos, string, bool) {
	type level struct{ col, keys int }
	flow, docs := 0, 0
	var stack []level
	for _, tk := range tokens {
		if tk.Position == nil {
			continue
		}
		switch tk.Type {
		case token.DocumentHeaderType:
			docs++
			if docs > 1 {
				return tokPos(tk), "a device dictionary is a single YAML document, found a second one", false
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
				col = tk.Prev.Position.Column
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
				if top.keys > maxKeys {
					return tokPos(tk), fmt.Sprintf("a mapping has more than %d keys", maxKeys), false
				}
			}
		}
		if flow+len(stack) > MaxDepth {
			return tokPos(tk), fmt.Sprintf("nesting deeper than %d levels", MaxDepth), false
		}
	}
	return pos{}, "", true
}

func tokPos(tk *token.Token) pos {
	if tk == nil || tk.Position == nil {
		return pos{1, 1}
	}
	return pos{max(tk.Position.Line, 1), max(tk.Position.Column, 1)}
}

// nodePos is where a YAML node is written: a block mapping at its first
// key, other nodes at their token.
func nodePos(n ast.Node) pos {
	switch v := n.(type) {
	case nil:
		return pos{1, 1}
	case *ast.MappingNode:
		if !v.IsFlowStyle && len(v.Values) > 0 && v.Values[0] != nil {
			return nodePos(v.Values[0].Key)
		}
		return tokPos(v.Start)
	case *ast.MappingValueNode:
		return nodePos(v.Key)
	case *ast.LiteralNode:
		return tokPos(v.Start)
	case *ast.AnchorNode:
		return tokPos(v.Start)
	case *ast.TagNode:
		return tokPos(v.Start)
	}
	return tokPos(n.GetToken())
}

// yamlBuilder converts the goccy AST into nodes in document order, so that
// each alias sees the anchors before it.
type yamlBuilder struct {
	anchors  map[string]*node
	sizes    map[*node]int
	expanded int
}

func (b *yamlBuilder) fail(n ast.Node, format string, args ...any) error {
	return &fatalError{p: nodePos(n), msg: fmt.Sprintf(format, args...)}
}

// size counts the nodes of a subtree (what an alias to it expands to).
func size(n *node) int {
	s := 1
	for _, it := range n.items {
		s += size(it)
	}
	for _, e := range n.entries {
		s += 1 + size(e.val)
	}
	return s
}

func (b *yamlBuilder) build(an ast.Node, depth int) (*node, error) {
	if depth > MaxDepth {
		return nil, b.fail(an, "nesting deeper than %d levels", MaxDepth)
	}
	p := nodePos(an)
	src := lineCol(p.line, p.col)
	switch v := an.(type) {
	case nil:
		return &node{kind: nullNode}, nil
	case *ast.NullNode:
		return &node{kind: nullNode, src: src}, nil
	case *ast.StringNode:
		return &node{kind: strNode, src: src, s: v.Value}, nil
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		return &node{kind: strNode, src: src, s: s}, nil
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			return &node{kind: intNode, src: src, i: int(x)}, nil
		case uint64:
			if x <= math.MaxInt64 {
				return &node{kind: intNode, src: src, i: int(x)}, nil
			}
		}
		return nil, b.fail(v, "integer %s is too large", v.GetToken().Value)
	case *ast.FloatNode:
		return &node{kind: floatNode, src: src, f: v.Value}, nil
	case *ast.InfinityNode:
		return &node{kind: floatNode, src: src, f: v.Value}, nil
	case *ast.NanNode:
		return &node{kind: floatNode, src: src, f: math.NaN()}, nil
	case *ast.BoolNode:
		return &node{kind: boolNode, src: src, b: v.Value}, nil
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
		if b.sizes == nil {
			b.sizes = map[*node]int{}
		}
		s, ok := b.sizes[n]
		if !ok {
			s = size(n)
			b.sizes[n] = s
		}
		b.expanded += s
		if b.expanded > maxAliasExpansion {
			return nil, b.fail(v, "aliases expand to more than %d values", maxAliasExpansion)
		}
		return n, nil
	case *ast.TagNode:
		return nil, b.fail(v, "YAML tags are not supported in a device dictionary")
	case *ast.MergeKeyNode:
		return nil, b.fail(v, "merge keys (<<) are not supported in a device dictionary")
	case *ast.MappingNode:
		return b.mapping(src, v.Values, depth)
	case *ast.MappingValueNode:
		return b.mapping(src, []*ast.MappingValueNode{v}, depth)
	case *ast.SequenceNode:
		n := &node{kind: listNode, src: src}
		for _, it := range v.Values {
			c, err := b.build(it, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, c)
		}
		return n, nil
	}
	return nil, b.fail(an, "unsupported YAML construct (%s)", an.Type().YAMLName())
}

func (b *yamlBuilder) mapping(src srcPos, values []*ast.MappingValueNode, depth int) (*node, error) {
	n := &node{kind: dictNode, src: src}
	seen := map[string]bool{}
	for _, mv := range values {
		if mv == nil {
			continue
		}
		if mv.Key != nil && mv.Key.IsMergeKey() {
			return nil, b.fail(mv.Key, "merge keys (<<) are not supported in a device dictionary")
		}
		var kn ast.Node = mv.Key
		if mk, ok := mv.Key.(*ast.MappingKeyNode); ok {
			kn = mk.Value
		}
		k, err := b.build(kn, depth+1)
		if err != nil {
			return nil, err
		}
		var key string
		switch k.kind {
		case strNode:
			key = k.s
		case intNode, floatNode, boolNode:
			key = kn.GetToken().Value
		default:
			return nil, b.fail(mv.Key, "mapping keys must be strings, got %s", k.describe())
		}
		if seen[key] {
			return nil, b.fail(mv.Key, "key %s is written twice", strconv.Quote(key))
		}
		seen[key] = true
		val, err := b.build(mv.Value, depth+1)
		if err != nil {
			return nil, err
		}
		kp := nodePos(mv.Key)
		if val.kind == nullNode {
			// "key:" with nothing after it: point at the key.
			val = &node{kind: nullNode, src: lineCol(kp.line, kp.col)}
		}
		n.entries = append(n.entries, entry{key: key, keySrc: lineCol(kp.line, kp.col), val: val})
	}
	return n, nil
}
