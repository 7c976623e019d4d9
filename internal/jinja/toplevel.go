package jinja

import (
	"errors"
	"fmt"
	"strings"
)

// DeclKind says what a top-level item of a template is (see Declarations).
type DeclKind uint8

// Kinds of top-level items.
const (
	// DeclExtends is {% extends EXPR %}.
	DeclExtends DeclKind = iota + 1
	// DeclSet is {% set NAME = EXPR %} (or another form of set, which
	// Problem then names).
	DeclSet
	// DeclText is template data that is not only ASCII whitespace
	// (space, \t, \n, \r, \f, \v).
	DeclText
	// DeclOutput is a {{ … }} output.
	DeclOutput
	// DeclOther is any other statement (if, for, block, macro, include,
	// import, from, with, call, filter, print), with its body.
	DeclOther
)

// Decl is one top-level item of a template, as Declarations reads it.
// Line and Column (1-based, characters) are where it starts: the "{%" or
// "{{" of its tag, or the first character of the text.
type Decl struct {
	Kind         DeclKind
	Line, Column int
	// Tag is the statement name ("extends", "set", "if", "block", ...);
	// empty for DeclText and DeclOutput.
	Tag string
	// Name is, for DeclSet, the variable assigned (the first one of a
	// tuple or namespace target) and, for DeclExtends, the template name
	// when it is a string literal. NameLine and NameColumn are where it
	// is written.
	Name                 string
	NameLine, NameColumn int
	// Value is, for DeclSet, the assigned value when it is a literal, or
	// the default of Context | default(LITERAL). It is nil when Problem
	// is set.
	Value *Literal
	// Context is OTHERNAME of a DeclSet written
	// NAME = OTHERNAME | default(LITERAL) (or | d(LITERAL)); empty for a
	// plain literal.
	Context string
	// Text is the data of a DeclText.
	Text string
	// Problem says why a DeclSet's value is not a literal or
	// NAME | default(LITERAL), why a set is not a single-name assignment,
	// or why a DeclExtends names no string literal.
	Problem *Problem
}

// Literal is a constant value with the position of each of its parts.
// Value is nil, string, int, float64, bool, []any (lists and tuples) or
// map[string]any (dicts whose keys are all strings); Items are a list's
// items and Entries a dict's entries in source order, each with its own
// position. A negative number's position is its sign.
type Literal struct {
	Line, Column int
	Value        any
	Items        []*Literal
	Entries      []LiteralEntry
}

// LiteralEntry is one key/value pair of a dict literal; Line and Column
// are where the key is written.
type LiteralEntry struct {
	Key          string
	Line, Column int
	Value        *Literal
}

// Reason classifies a Problem.
type Reason uint8

// Reasons for a Problem. Name, in the comments, is Problem.Name.
const (
	// ReasonVariable: the whole value reads the variable Name.
	ReasonVariable Reason = iota + 1
	// ReasonVariableInside: a variable Name is read inside a list, a
	// dict or a default's argument.
	ReasonVariableInside
	// ReasonExpression: an operator, call, attribute, item, test or
	// conditional expression; Name is its operator ("+", "==", "not",
	// "and", "~", "if", "is", "(", ".", "[").
	ReasonExpression
	// ReasonFilter: a filter other than default (Name).
	ReasonFilter
	// ReasonDefaultTarget: default (Name: "default" or "d") applies to
	// something else than a variable name (a literal, another filter).
	ReasonDefaultTarget
	// ReasonDefaultMissing: default has no argument.
	ReasonDefaultMissing
	// ReasonDefaultExtra: default has more than one argument, or keyword
	// or * / ** arguments; the position is the first extra one.
	ReasonDefaultExtra
	// ReasonKey: a dict key is not a string; Name describes it
	// ("a number", "a boolean", "none", "a list", "a dict").
	ReasonKey
	// ReasonDuplicateKey: the dict key Name is written twice (the
	// position is the second).
	ReasonDuplicateKey
	// ReasonTargets: set assigns several names at once.
	ReasonTargets
	// ReasonAttribute: set assigns to an attribute (ns.attr).
	ReasonAttribute
	// ReasonBlockSet: set is a block assignment ({% set x %}…{% endset %}).
	ReasonBlockSet
	// ReasonNotString: extends names its template with an expression that
	// is not a string literal.
	ReasonNotString
)

// Problem is a construct that Declarations parsed (it is valid Jinja2)
// but could not reduce to a literal.
type Problem struct {
	Line, Column int
	Reason       Reason
	Name         string
}

// maxDeclErrors bounds the syntax errors Declarations collects.
const maxDeclErrors = 100

// Declarations reads src, the template name, with the Env's lexer and
// parser (exactly what Parse accepts) and returns its top level in source
// order: extends, set statements with their values reduced to literals,
// and the position and kind of everything else, for readers of templates
// that are meant to only declare values (LAVA's device dictionaries).
// Comments and whitespace-only text are skipped.
//
// Syntax errors are returned as *Error values, in source order, with the
// items read before them. A syntax error inside a top-level tag that has
// no body (extends, set NAME = …, include, import, from, print, {{ }}, or
// an unknown tag) does not stop the reading: it resumes after that tag.
// Any other error (an error inside a statement's body, or before the body
// opens) ends it, as Parse would. A lexical error ends it too, and comes
// last: the items and syntax errors before it are returned first (Parse
// reports only the lexical error). At most 100 errors are returned.
func (e *Env) Declarations(name, src string) ([]Decl, []*Error) {
	if len(src) > e.limits.MaxSourceBytes {
		return nil, []*Error{{Template: name, Line: 1, Column: 1, Msg: fmt.Sprintf("template is larger than %d bytes", e.limits.MaxSourceBytes)}}
	}
	src = normalizeSource(src)
	lx := &lexer{src: src, name: name, trim: e.opts.TrimBlocks, lstrip: e.opts.LStripBlocks, maxToks: len(src) + 16}
	// A device dictionary has about one token per 4 bytes: reserving
	// that much (plus the end token) saves most of the slice's regrowth.
	lx.toks = make([]token, 0, len(src)/4+2)
	lx.lineStart = append(lx.lineStart, 0)
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			lx.lineStart = append(lx.lineStart, i+1)
		}
	}
	var lexErr *Error
	if err := lx.run(); err != nil && !errors.As(err, &lexErr) {
		lexErr = &Error{Template: name, Line: 1, Column: 1, Msg: err.Error()}
	}
	// On a lexical error, parse the tokens before it: what they hold is
	// reported, then the lexical error.
	toks := lx.toks
	eof := token{typ: tEOF}
	if lexErr != nil {
		eof.line, eof.col = lexErr.Line, lexErr.Column
	} else {
		eof.line, eof.col = lx.lineCol(len(src))
	}
	toks = append(toks, eof)
	p := &parser{name: name, toks: toks, maxDepth: e.limits.MaxNesting, env: e, blocks: map[string]*blockStmt{}}
	var decls []Decl
	var errs []*Error
	for len(errs) < maxDeclErrors {
		t := p.cur()
		if t.typ == tEOF {
			break
		}
		if t.typ == tData {
			p.next()
			if strings.Trim(t.val, " \t\n\r\f\v") != "" {
				decls = append(decls, Decl{Kind: DeclText, Line: t.line, Column: t.col, Text: t.val})
			}
			continue
		}
		start := p.i
		d, err := p.topLevelItem()
		if err == nil {
			decls = append(decls, d)
			continue
		}
		if p.cur().typ == tEOF && lexErr != nil {
			break // the tag is cut short by the lexical error
		}
		errs = append(errs, err)
		next, ok := p.resumeAfter(start)
		if !ok {
			break
		}
		p.i, p.depth, p.tagStack = next, 0, nil
	}
	if lexErr != nil && len(errs) < maxDeclErrors {
		errs = append(errs, lexErr)
	}
	return decls, errs
}

// topLevelItem parses the tag at p.cur() ({% or {{) and describes it.
func (p *parser) topLevelItem() (d Decl, err *Error) {
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(parseError)
			if !ok {
				panic(r)
			}
			err = pe.err
		}
	}()
	open := p.next()
	d.Line, d.Column = open.line, open.col
	switch open.typ {
	case tVarBegin:
		p.parseTuple(false, true, nil, false)
		p.expect(tVarEnd)
		d.Kind = DeclOutput
		return d, nil
	case tBlockBegin:
	default:
		p.failAt(open, "unexpected %s", open.describe())
	}
	d.Tag = p.cur().val
	nodes := p.parseStatement()
	p.expect(tBlockEnd)
	d.Kind = DeclOther
	if len(nodes) != 1 {
		return d, nil // print with zero or several expressions
	}
	switch n := nodes[0].(type) {
	case *extendsStmt:
		d.Kind = DeclExtends
		if c, ok := n.tmpl.(*constExpr); ok {
			if s, ok := c.val.(string); ok {
				d.Name, d.NameLine, d.NameColumn = s, c.line, c.col
				return d, nil
			}
		}
		x := n.tmpl.position()
		d.Problem = &Problem{Line: x.line, Column: x.col, Reason: ReasonNotString}
	case *assignStmt:
		d.Kind = DeclSet
		d.setTarget(n.target)
		if d.Problem != nil {
			return d, nil
		}
		d.Value, d.Context, d.Problem = setValue(n.x)
	case *assignBlockStmt:
		d.Kind = DeclSet
		d.setTarget(n.target)
		if d.Problem == nil {
			d.Problem = &Problem{Line: d.NameLine, Column: d.NameColumn, Reason: ReasonBlockSet, Name: d.Name}
		}
	}
	return d, nil
}

// setTarget records the name a set assigns; a tuple or namespace target
// is a Problem.
func (d *Decl) setTarget(target node) {
	switch t := target.(type) {
	case *nameExpr:
		d.Name, d.NameLine, d.NameColumn = t.name, t.line, t.col
	case *nsRef:
		d.Name, d.NameLine, d.NameColumn = t.name, t.line, t.col
		d.Problem = &Problem{Line: t.line, Column: t.col, Reason: ReasonAttribute, Name: t.name + "." + t.attr}
	case *tupleExpr:
		d.NameLine, d.NameColumn = t.line, t.col
		if len(t.items) > 0 {
			if n, ok := t.items[0].(*nameExpr); ok {
				d.Name = n.name
			}
		}
		d.Problem = &Problem{Line: t.line, Column: t.col, Reason: ReasonTargets, Name: d.Name}
	}
}

// resumeAfter returns where reading resumes after a syntax error in the
// top-level tag starting at token start: after the tag's end, when the
// tag has no body and the error is inside it.
func (p *parser) resumeAfter(start int) (int, bool) {
	end := -1
	hasAssign := false
	for k := start + 1; k < len(p.toks); k++ {
		t := p.toks[k]
		if t.typ == tBlockEnd || t.typ == tVarEnd {
			end = k
			break
		}
		if t.typ == tEOF || t.typ == tBlockBegin || t.typ == tVarBegin || t.typ == tData {
			return 0, false
		}
		if t.isOp("=") {
			hasAssign = true
		}
	}
	if end < 0 || p.i > end {
		return 0, false
	}
	if p.toks[start].typ == tBlockBegin && start+1 < end && p.toks[start+1].typ == tName {
		switch p.toks[start+1].val {
		case "for", "if", "block", "macro", "call", "filter", "with":
			return 0, false // the error may have been met before the body opened: its end tags would follow
		case "set":
			if !hasAssign {
				return 0, false // a block set
			}
		}
	}
	return end + 1, true
}

// setValue reduces the value of {% set NAME = x %}.
func setValue(x node) (*Literal, string, *Problem) {
	f, ok := x.(*filterExpr)
	if !ok {
		if n, ok := x.(*nameExpr); ok {
			return nil, "", &Problem{Line: n.line, Column: n.col, Reason: ReasonVariable, Name: n.name}
		}
		lit, pr := literal(x)
		return lit, "", pr
	}
	if f.name != "default" && f.name != "d" {
		return nil, "", &Problem{Line: f.line, Column: f.col, Reason: ReasonFilter, Name: f.name}
	}
	n, ok := f.x.(*nameExpr)
	if !ok {
		return nil, "", &Problem{Line: f.line, Column: f.col, Reason: ReasonDefaultTarget, Name: f.name}
	}
	switch {
	case len(f.args) > 1:
		a := f.args[1].position()
		return nil, "", &Problem{Line: a.line, Column: a.col, Reason: ReasonDefaultExtra, Name: f.name}
	case len(f.kwargs) > 0 || f.dynArgs != nil || f.dynKwargs != nil:
		a := pos{f.line, f.col}
		switch {
		case len(f.kwargs) > 0:
			a = f.kwargs[0].val.position()
		case f.dynArgs != nil:
			a = f.dynArgs.position()
		case f.dynKwargs != nil:
			a = f.dynKwargs.position()
		}
		return nil, "", &Problem{Line: a.line, Column: a.col, Reason: ReasonDefaultExtra, Name: f.name}
	case len(f.args) == 0:
		return nil, "", &Problem{Line: f.line, Column: f.col, Reason: ReasonDefaultMissing, Name: f.name}
	}
	lit, pr := literal(f.args[0])
	return lit, n.name, pr
}

// literal reduces a constant expression; its depth is bounded by the
// parser's nesting limit.
func literal(x node) (*Literal, *Problem) {
	at := x.position()
	lit := &Literal{Line: at.line, Column: at.col}
	switch n := x.(type) {
	case *constExpr:
		switch v := n.val.(type) {
		case int64:
			lit.Value = int(v)
		default: // nil, bool, float64, string
			lit.Value = v
		}
		return lit, nil
	case *unaryExpr:
		if c, ok := n.x.(*constExpr); ok && (n.op == "-" || n.op == "+") {
			sign := int64(1)
			if n.op == "-" {
				sign = -1
			}
			switch v := c.val.(type) {
			case int64:
				lit.Value = int(sign * v)
				return lit, nil
			case float64:
				lit.Value = float64(sign) * v
				return lit, nil
			}
		}
		return nil, &Problem{Line: n.line, Column: n.col, Reason: ReasonExpression, Name: n.op}
	case *listExpr:
		return items(lit, n.items)
	case *tupleExpr:
		return items(lit, n.items)
	case *dictExpr:
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			kp := k.position()
			kc, ok := k.(*constExpr)
			if !ok {
				if _, pr := literal(k); pr != nil {
					return nil, pr
				}
				what := "a dict"
				if _, list := k.(*listExpr); list {
					what = "a list"
				} else if _, tuple := k.(*tupleExpr); tuple {
					what = "a list"
				} else if _, num := k.(*unaryExpr); num {
					what = "a number"
				}
				return nil, &Problem{Line: kp.line, Column: kp.col, Reason: ReasonKey, Name: what}
			}
			key, ok := kc.val.(string)
			if !ok {
				what := "none"
				switch kc.val.(type) {
				case int64, float64:
					what = "a number"
				case bool:
					what = "a boolean"
				}
				return nil, &Problem{Line: kp.line, Column: kp.col, Reason: ReasonKey, Name: what}
			}
			if _, dup := out[key]; dup {
				return nil, &Problem{Line: kp.line, Column: kp.col, Reason: ReasonDuplicateKey, Name: key}
			}
			v, pr := literal(n.vals[i])
			if pr != nil {
				return nil, pr
			}
			out[key] = v.Value
			lit.Entries = append(lit.Entries, LiteralEntry{Key: key, Line: kp.line, Column: kp.col, Value: v})
		}
		lit.Value = out
		return lit, nil
	case *nameExpr:
		return nil, &Problem{Line: n.line, Column: n.col, Reason: ReasonVariableInside, Name: n.name}
	case *filterExpr:
		return nil, &Problem{Line: n.line, Column: n.col, Reason: ReasonFilter, Name: n.name}
	}
	return nil, &Problem{Line: at.line, Column: at.col, Reason: ReasonExpression, Name: operator(x)}
}

func items(lit *Literal, xs []node) (*Literal, *Problem) {
	out := make([]any, len(xs))
	for i, x := range xs {
		v, pr := literal(x)
		if pr != nil {
			return nil, pr
		}
		out[i] = v.Value
		lit.Items = append(lit.Items, v)
	}
	lit.Value = out
	return lit, nil
}

// compareSymbols spell the compareExpr operators.
var compareSymbols = map[string]string{"eq": "==", "ne": "!=", "lt": "<", "lteq": "<=", "gt": ">", "gteq": ">=", "in": "in", "notin": "not in"}

// operator names the operator of a non-literal expression.
func operator(x node) string {
	switch n := x.(type) {
	case *binExpr:
		return n.op
	case *compareExpr:
		return compareSymbols[n.ops[0].op]
	case *concatExpr:
		return "~"
	case *condExpr:
		return "if"
	case *testExpr:
		return "is"
	case *callExpr:
		return "("
	case *getattrExpr:
		return "."
	case *getitemExpr, *sliceExpr:
		return "["
	}
	return "expression"
}
