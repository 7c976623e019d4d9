package yamltree

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Kind is the shape of a Node.
type Kind uint8

// The kinds of Node.
const (
	// Null is an explicit or implicit null ("key:", "~", "null").
	Null Kind = iota
	// Scalar is a string, number or boolean; see Node.Type.
	Scalar
	// Map is a mapping; its pairs are in Node.Entries, in document order.
	Map
	// Seq is a sequence; its items are in Node.Items.
	Seq
)

// Type is the YAML type of a Scalar node.
type Type uint8

// The scalar types.
const (
	// String is a quoted, plain or block string (Value is a string).
	String Type = iota
	// Int is an integer (Value is an int64 or a uint64).
	Int
	// Float is a number with a fraction, an exponent, .inf or .nan (Value
	// is a float64).
	Float
	// Bool is true or false (Value is a bool).
	Bool
)

// Node is a YAML value with the position where it is written, after anchors
// and aliases (and merge keys, when allowed) have been resolved. A Node
// reached through several aliases is the same pointer each time: treat the
// tree as read-only.
type Node struct {
	// Kind is the node's shape.
	Kind Kind
	// Line and Column are 1-based. A block mapping is at its first key, a
	// block scalar at its indicator, other nodes at their first token.
	Line, Column int
	// Type is the scalar's YAML type (Scalar only).
	Type Type
	// Text is a scalar's text: the decoded value of a string, the source
	// text of a number, "true" or "false" for a boolean. A written null
	// has the Text "null", an absent one ("key:", see Policy.NullAtKey) "".
	Text string
	// Quoted reports a string written in quotes or tagged !!str: callers
	// must not give it a YAML 1.1 plain-scalar reading (yes, on, ...).
	Quoted bool
	// Value is the scalar as a Go value: string, int64, uint64, float64 or
	// bool (nil for other kinds).
	Value any
	// Entries are a mapping's pairs in document order, keys unique.
	Entries []Entry
	// Items are a sequence's items.
	Items []*Node
	// Size counts the nodes of this subtree, a mapping's keys included
	// and shared subtrees counted once per use (what an alias to it adds).
	Size int
}

// Entry is one key/value pair of a mapping.
type Entry struct {
	// Key is the key's text (see Policy.RawKeys).
	Key string
	// Line and Column are where the key is written.
	Line, Column int
	// Value is the key's value; never nil.
	Value *Node
	// Repeats are the later places the key is written again in the same
	// mapping, in document order (Policy.LastKeyWins: Value is then the
	// last one's value). Nil for a key written once.
	Repeats []Place
}

// Place is a position in the source.
type Place struct {
	// Line and Column are 1-based.
	Line, Column int
}

// Get returns the value of key in a mapping, and whether it is there.
func (n *Node) Get(key string) (*Node, bool) {
	for _, e := range n.Entries {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}

// Describe names the node for "expected X, got Y" messages: "null",
// "a mapping", "a list", "a boolean", "a number" or `the string "..."`
// (at most 40 bytes of it).
func (n *Node) Describe() string {
	switch n.Kind {
	case Null:
		return "null"
	case Map:
		return "a mapping"
	case Seq:
		return "a list"
	}
	switch n.Type {
	case Bool:
		return "a boolean"
	case Int, Float:
		return "a number"
	}
	s := n.Text
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("the string %q", s)
}

// Limits bound the work Read does. A zero field means no limit.
type Limits struct {
	// MaxBytes is the largest source accepted.
	MaxBytes int
	// MaxDepth is the deepest nesting of mappings and sequences.
	MaxDepth int
	// MaxKeys is the most keys one block mapping may have.
	MaxKeys int
	// MaxExpansion is the most nodes that aliases (*name) and merge keys
	// (<<) may add to the document in total.
	MaxExpansion int
}

// Policy says which YAML features the caller accepts. The zero Policy
// accepts merge keys, accepts the !!str tag on scalars only, spells keys as
// their decoded text and places them where their scalar is written.
type Policy struct {
	// RefuseSecondHeader refuses a second "---" in the token stream, before
	// the parser runs (Code MultipleDocuments at the marker). A second
	// document is refused after parsing in any case.
	RefuseSecondHeader bool
	// RefuseSecondEnd refuses a second "..." in the token stream, before
	// the parser runs (Code MultipleDocuments at the marker).
	RefuseSecondEnd bool
	// RefuseTags refuses every tag on sight (Code Tag), without reading
	// the tagged value.
	RefuseTags bool
	// TypedTags accepts the core-schema tags when the value matches them:
	// !!str (any scalar or null becomes an unquoted string placed at the
	// tag), !!int, !!float (integers too), !!bool, !!null, !!map, !!seq.
	// Other tags and mismatches fail with Code Tag. Without it (and without
	// RefuseTags) only !!str on a scalar is accepted: the scalar becomes a
	// quoted string at its own position.
	TypedTags bool
	// NullKeys accepts null mapping keys ("~: x", "? : x") as the key "".
	NullKeys bool
	// NullAtKey places the null of a key written with no value ("key:")
	// at the key, with the Text "".
	NullAtKey bool
	// RefuseMergeKeys refuses merge keys (Code MergeKey).
	RefuseMergeKeys bool
	// LastKeyWins accepts a key written twice in a mapping as PyYAML
	// does: the key keeps its first place and takes its last value, and
	// Entry.Repeats says where it was written again. Without it a second
	// key fails with Code DuplicateKey.
	LastKeyWins bool
	// RawKeys spells number and boolean keys as written (True stays True)
	// instead of as their Text.
	RawKeys bool
	// KeysAtIndicator places an explicit key ("? key") and its key errors
	// at the "?" rather than at the key's scalar.
	KeysAtIndicator bool
	// Check, when set, is called on each scalar read from the source; a
	// non-empty result refuses the document with that message (Code
	// Invalid) at the scalar.
	Check func(n *Node) string
}

// Code classifies an Error.
type Code uint8

// The error codes.
const (
	// Syntax: the text is not YAML.
	Syntax Code = iota + 1
	// TooLarge: the source is over Limits.MaxBytes.
	TooLarge
	// TooDeep: nesting is over Limits.MaxDepth.
	TooDeep
	// TooManyKeys: a block mapping has over Limits.MaxKeys keys.
	TooManyKeys
	// MultipleDocuments: more than one document; the position is the second.
	MultipleDocuments
	// UndefinedAlias: an alias names no anchor before it (Name is the anchor).
	UndefinedAlias
	// Expansion: aliases and merge keys add over Limits.MaxExpansion nodes.
	Expansion
	// Tag: a tag the Policy refuses (Name is the tag).
	Tag
	// MergeKey: a merge key the Policy refuses, or one in value position.
	MergeKey
	// BadMerge: a merge key's value is not a mapping or list of mappings.
	BadMerge
	// BadKey: a key is not a scalar (Node is the key).
	BadKey
	// DuplicateKey: a key is written twice in a mapping (Name is the key).
	DuplicateKey
	// Invalid: Policy.Check refused a scalar (Node is the scalar).
	Invalid
	// Unsupported: a construct this reader does not know (Name names it).
	Unsupported
	// Encoding: the source is not UTF-8 text, or holds a NUL character
	// (YAML allows neither; the position is the first bad byte's).
	Encoding
)

// Error is a problem at a position of the source; Read returns no other
// error type.
type Error struct {
	// Line and Column are 1-based.
	Line, Column int
	// Code classifies the problem.
	Code Code
	// Msg is a default English message without the position.
	Msg string
	// Name is the tag, anchor, key or construct concerned, if any.
	Name string
	// Node is the offending node for BadKey and Invalid, else nil.
	Node *Node
}

// Error returns "line:column: message".
func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg) }

// Read parses src (a byte order mark and CR/CRLF line breaks allowed) into a
// tree with the zero Policy. It returns nil and no error when src holds no
// document.
func Read(src []byte, lim Limits) (*Node, error) {
	return ReadPolicy(src, lim, Policy{})
}

// ReadPolicy is Read with a Policy.
func ReadPolicy(src []byte, lim Limits, pol Policy) (*Node, error) {
	if lim.MaxBytes > 0 && len(src) > lim.MaxBytes {
		return nil, &Error{Line: 1, Column: 1, Code: TooLarge,
			Msg: fmt.Sprintf("YAML source is %d bytes, larger than the %d bytes allowed", len(src), lim.MaxBytes)}
	}
	// YAML normalises line breaks to \n; doing it first also keeps the
	// lexer's line numbers right (it counts CRLF after comments twice).
	text := strings.TrimPrefix(string(src), "\ufeff")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	if err := CheckEncoding(text); err != nil {
		return nil, err
	}
	tokens := lexer.Tokenize(text)
	if len(tokens) == 0 {
		return nil, nil
	}
	if tk := tokens.InvalidToken(); tk != nil {
		l, c := tokenPos(tk)
		return nil, &Error{Line: l, Column: c, Code: Syntax, Msg: "YAML syntax error: " + strings.TrimSpace(tk.Error)}
	}
	if err := checkShape(tokens, lim, pol); err != nil {
		return nil, err
	}
	file, err := parseTokens(tokens, pol.LastKeyWins)
	if err != nil {
		var yerr yaml.Error
		if errors.As(err, &yerr) {
			l, c := tokenPos(yerr.GetToken())
			return nil, &Error{Line: l, Column: c, Code: Syntax, Msg: "YAML syntax error: " + yerr.GetMessage()}
		}
		return nil, &Error{Line: 1, Column: 1, Code: Syntax, Msg: "YAML syntax error: " + err.Error()}
	}
	var body ast.Node
	for _, d := range file.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		if body != nil {
			l, c := nodePos(d.Body)
			return nil, &Error{Line: l, Column: c, Code: MultipleDocuments, Msg: "found a second YAML document"}
		}
		body = d.Body
	}
	if body == nil {
		return nil, nil
	}
	b := &builder{lim: lim, pol: pol, anchors: map[string]*Node{}, src: text}
	return b.build(body, 0)
}

// CheckEncoding returns an *Error of Code Encoding at the first byte of
// text that is not part of a UTF-8 character, or at its first NUL
// character, and nil when there is none: YAML is Unicode text and NUL is
// not one of its printable characters, and no database stores either as
// text. Lines end at \n; columns count characters, like the lexer's, a bad
// byte counting as one. Read calls it first; formats that read text
// before YAML (Jinja2 dictionaries) call it themselves.
func CheckEncoding(text string) error {
	if utf8.ValidString(text) && strings.IndexByte(text, 0) < 0 {
		return nil
	}
	line, col := 1, 1
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return &Error{Line: line, Column: col, Code: Encoding,
				Msg: fmt.Sprintf("the text is not UTF-8: byte 0x%02x is not part of a UTF-8 character", text[i])}
		case r == 0:
			return &Error{Line: line, Column: col, Code: Encoding, Msg: "a NUL character (byte 0) is not allowed"}
		case r == '\n':
			line, col = line+1, 1
		default:
			col++
		}
		i += n
	}
	return nil
}

// parseTokens runs the third-party parser, turning a panic into an error.
// Duplicate keys pass it only with lastKeyWins (the builder applies them).
func parseTokens(tokens token.Tokens, lastKeyWins bool) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	if lastKeyWins {
		return parser.Parse(tokens, 0, parser.AllowDuplicateMapKey())
	}
	return parser.Parse(tokens, 0)
}

// checkShape bounds the token stream before the parser runs: nesting at
// most MaxDepth (flow collections count exactly, block collections by a
// stack of indicator columns), at most MaxKeys keys per block mapping and,
// if the policy says so, one document header.
func checkShape(tokens token.Tokens, lim Limits, pol Policy) error {
	type level struct{ col, keys int }
	flow, docs, ends := 0, 0, 0
	var stack []level
	for _, tk := range tokens {
		if tk.Position == nil {
			continue
		}
		switch tk.Type {
		case token.DocumentHeaderType:
			docs++
			if docs > 1 && pol.RefuseSecondHeader {
				return tokenErr(tk, MultipleDocuments, "found a second YAML document")
			}
		case token.DocumentEndType:
			ends++
			if ends > 1 && pol.RefuseSecondEnd {
				return tokenErr(tk, MultipleDocuments, "found a second YAML document")
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
				if lim.MaxKeys > 0 && top.keys > lim.MaxKeys {
					return tokenErr(tk, TooManyKeys, fmt.Sprintf("a mapping has more than %d keys", lim.MaxKeys))
				}
			}
		}
		if lim.MaxDepth > 0 && flow+len(stack) > lim.MaxDepth {
			return tokenErr(tk, TooDeep, fmt.Sprintf("nesting deeper than %d levels", lim.MaxDepth))
		}
	}
	return nil
}

func tokenErr(tk *token.Token, code Code, msg string) *Error {
	l, c := tokenPos(tk)
	return &Error{Line: l, Column: c, Code: code, Msg: msg}
}

func tokenPos(tk *token.Token) (int, int) {
	if tk == nil || tk.Position == nil {
		return 1, 1
	}
	return max(tk.Position.Line, 1), max(tk.Position.Column, 1)
}

// nodePos is where users look for a node: the first key of a block
// mapping, the indicator of a block scalar, the node's token otherwise.
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

// builder converts the goccy AST into Nodes, in document order so that each
// alias sees the anchors defined before it.
type builder struct {
	lim      Limits
	pol      Policy
	anchors  map[string]*Node
	expanded int
	src      string
	lines    []string // src split into lines, on first use
}

func (b *builder) fail(n ast.Node, code Code, name string, format string, args ...any) *Error {
	l, c := nodePos(n)
	return &Error{Line: l, Column: c, Code: code, Name: name, Msg: fmt.Sprintf(format, args...)}
}

func (b *builder) spend(n ast.Node, cost int) error {
	b.expanded += cost
	if b.lim.MaxExpansion > 0 && b.expanded > b.lim.MaxExpansion {
		return b.fail(n, Expansion, "", "aliases expand to more than %d nodes", b.lim.MaxExpansion)
	}
	return nil
}

// scalar makes a scalar node at an's position and runs Policy.Check on it.
func (b *builder) scalar(an ast.Node, typ Type, text string, val any) (*Node, error) {
	l, c := nodePos(an)
	n := &Node{Kind: Scalar, Line: l, Column: c, Type: typ, Text: text, Value: val, Size: 1}
	if b.pol.Check != nil {
		if msg := b.pol.Check(n); msg != "" {
			return nil, &Error{Line: l, Column: c, Code: Invalid, Msg: msg, Node: n}
		}
	}
	return n, nil
}

func (b *builder) build(an ast.Node, depth int) (*Node, error) {
	if b.lim.MaxDepth > 0 && depth > b.lim.MaxDepth {
		return nil, b.fail(an, TooDeep, "", "nesting deeper than %d levels", b.lim.MaxDepth)
	}
	switch v := an.(type) {
	case nil:
		return &Node{Kind: Null, Line: 1, Column: 1, Size: 1}, nil
	case *ast.NullNode:
		l, c := nodePos(v)
		return &Node{Kind: Null, Line: l, Column: c, Text: "null", Size: 1}, nil
	case *ast.StringNode:
		n, err := b.scalar(v, String, v.Value, v.Value)
		if err == nil {
			if tk := v.GetToken(); tk != nil {
				n.Quoted = tk.Type == token.DoubleQuoteType || tk.Type == token.SingleQuoteType
			}
		}
		return n, err
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		return b.scalar(v, String, s, s)
	case *ast.IntegerNode:
		return b.scalar(v, Int, v.GetToken().Value, v.Value)
	case *ast.FloatNode:
		return b.scalar(v, Float, v.GetToken().Value, v.Value)
	case *ast.InfinityNode:
		return b.scalar(v, Float, v.GetToken().Value, v.Value)
	case *ast.NanNode:
		return b.scalar(v, Float, v.GetToken().Value, math.NaN())
	case *ast.BoolNode:
		return b.scalar(v, Bool, strconv.FormatBool(v.Value), v.Value)
	case *ast.MergeKeyNode:
		if b.pol.RefuseMergeKeys {
			return nil, b.fail(v, MergeKey, "<<", "merge keys (<<) are not supported")
		}
		return nil, b.fail(v, MergeKey, "<<", "merge key << is only allowed as a mapping key")
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
			return nil, b.fail(v, UndefinedAlias, name, "alias *%s refers to no anchor defined before it", name)
		}
		if err := b.spend(v, n.Size); err != nil {
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
		l, c := nodePos(v)
		n := &Node{Kind: Seq, Line: l, Column: c, Size: 1}
		for _, it := range v.Values {
			child, err := b.build(it, depth+1)
			if err != nil {
				return nil, err
			}
			n.Items = append(n.Items, child)
			n.Size += child.Size
		}
		return n, nil
	}
	what := an.Type().YAMLName()
	return nil, b.fail(an, Unsupported, what, "unsupported YAML construct (%s)", what)
}

// tagged accepts !!str on a scalar (the scalar becomes a quoted string at
// its own position) unless the policy refuses all tags.
func (b *builder) tagged(v *ast.TagNode, depth int) (*Node, error) {
	tag := ""
	if v.Start != nil {
		tag = v.Start.Value
	}
	if b.pol.RefuseTags {
		return nil, b.fail(v, Tag, tag, "YAML tags are not supported")
	}
	n, err := b.build(v.Value, depth)
	if err != nil {
		return nil, err
	}
	if b.pol.TypedTags {
		return b.typed(v, tag, n)
	}
	if token.ReservedTagKeyword(tag) == token.StringTag && n.Kind == Scalar {
		s := *n
		if sn, ok := v.Value.(*ast.StringNode); ok {
			s.Text = sn.Value
		}
		s.Type, s.Quoted, s.Value = String, true, s.Text
		return &s, nil
	}
	return nil, b.fail(v, Tag, tag, "YAML tag %s is not supported", tag)
}

// typed checks n, the value tagged tag, against a core-schema tag.
func (b *builder) typed(v *ast.TagNode, tag string, n *Node) (*Node, error) {
	want := func(ok bool, what string) (*Node, error) {
		if !ok {
			return nil, b.fail(v, Tag, tag, "value tagged %s is not %s", tag, what)
		}
		return n, nil
	}
	switch token.ReservedTagKeyword(tag) {
	case token.StringTag:
		if n.Kind != Scalar && n.Kind != Null {
			return nil, b.fail(v, Tag, tag, "value tagged %s is not a scalar", tag)
		}
		text := n.Text
		if s, ok := v.Value.(*ast.StringNode); ok {
			text = s.Value
		}
		l, c := nodePos(v)
		return &Node{Kind: Scalar, Line: l, Column: c, Type: String, Text: text, Value: text, Size: 1}, nil
	case token.IntegerTag:
		return want(n.Kind == Scalar && n.Type == Int, "an integer")
	case token.FloatTag:
		return want(n.Kind == Scalar && (n.Type == Float || n.Type == Int), "a number")
	case token.BooleanTag:
		return want(n.Kind == Scalar && n.Type == Bool, "a boolean (true/false)")
	case token.NullTag:
		return want(n.Kind == Null, "null")
	case token.MappingTag:
		return want(n.Kind == Map, "a mapping")
	case token.SequenceTag:
		return want(n.Kind == Seq, "a list")
	}
	return nil, b.fail(v, Tag, tag, "YAML tag %s is not supported", tag)
}

// isImplicitNull reports whether v is the null of "key:" with no value: the
// parser gives it the same token as a written "null", so look at the source.
func (b *builder) isImplicitNull(v ast.Node) bool {
	nn, ok := v.(*ast.NullNode)
	if !ok || nn.Token == nil || nn.Token.Position == nil {
		return false
	}
	if b.lines == nil {
		b.lines = strings.Split(b.src, "\n")
	}
	line, col := nn.Token.Position.Line, nn.Token.Position.Column
	if line < 1 || line > len(b.lines) || col < 1 {
		return false
	}
	runes := []rune(b.lines[line-1])
	if col > len(runes) {
		return true
	}
	switch runes[col-1] {
	case 'n', 'N', '~':
		return false
	}
	return true
}

func (b *builder) mapping(an ast.Node, values []*ast.MappingValueNode, depth int) (*Node, error) {
	l, c := nodePos(an)
	n := &Node{Kind: Map, Line: l, Column: c, Size: 1}
	seen := map[string]bool{}
	var merges []*Node
	for _, mv := range values {
		if mv == nil {
			continue
		}
		if b.pol.RefuseMergeKeys && mv.Key != nil && mv.Key.IsMergeKey() {
			return nil, b.fail(mv.Key, MergeKey, "<<", "merge keys (<<) are not supported")
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
		at := keyNode // where the key is reported
		if b.pol.KeysAtIndicator {
			at = mv.Key
		}
		k, err := b.build(keyNode, depth+1)
		if err != nil {
			return nil, err
		}
		key := k.Text
		switch {
		case k.Kind == Null && b.pol.NullKeys:
			key = ""
		case k.Kind != Scalar:
			e := b.fail(at, BadKey, "", "mapping keys must be scalars, got %s", k.Describe())
			e.Node = k
			return nil, e
		case b.pol.RawKeys && k.Type != String:
			key = keyNode.GetToken().Value
		}
		if seen[key] && !b.pol.LastKeyWins {
			return nil, b.fail(at, DuplicateKey, key, "mapping key %q is defined twice", key)
		}
		dup := seen[key]
		seen[key] = true
		val, err := b.build(mv.Value, depth+1)
		if err != nil {
			return nil, err
		}
		kl, kc := k.Line, k.Column
		if b.pol.KeysAtIndicator {
			kl, kc = nodePos(mv.Key)
		}
		if b.pol.NullAtKey && val.Kind == Null && b.isImplicitNull(mv.Value) {
			l, c := nodePos(mv.Key)
			val = &Node{Kind: Null, Line: l, Column: c, Size: 1}
		}
		if dup {
			// PyYAML's reading: the key keeps its first place and
			// takes its last value.
			for i := range n.Entries {
				if n.Entries[i].Key == key {
					n.Size += val.Size - n.Entries[i].Value.Size
					n.Entries[i].Value = val
					n.Entries[i].Repeats = append(n.Entries[i].Repeats, Place{Line: kl, Column: kc})
					break
				}
			}
			continue
		}
		n.Entries = append(n.Entries, Entry{Key: key, Line: kl, Column: kc, Value: val})
		n.Size += 1 + val.Size
	}
	// Merge keys (<<: *base or <<: [*a, *b]): explicit keys win, then
	// earlier merged mappings win over later ones.
	for _, m := range merges {
		srcs := []*Node{m}
		if m.Kind == Seq {
			srcs = m.Items
		}
		for _, s := range srcs {
			if s.Kind != Map {
				return nil, &Error{Line: s.Line, Column: s.Column, Code: BadMerge, Msg: "merge key << needs a mapping or a list of mappings"}
			}
			for _, e := range s.Entries {
				if seen[e.Key] {
					continue
				}
				seen[e.Key] = true
				if err := b.spend(an, 1+e.Value.Size); err != nil {
					return nil, err
				}
				n.Entries = append(n.Entries, e)
				n.Size += 1 + e.Value.Size
			}
		}
	}
	return n, nil
}
