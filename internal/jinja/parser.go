package jinja

import (
	"fmt"
	"strings"

	"github.com/basalt-lab/basalt/internal/pyfmt"
)

type parser struct {
	name     string
	toks     []token
	i        int
	depth    int
	maxDepth int
	env      *Env
	blocks   map[string]*blockStmt
	order    []string
	hasExt   bool
	tagStack []string
}

type parseError struct{ err *Error }

func (p *parser) cur() token { return p.toks[p.i] }

func (p *parser) look() token {
	if p.i+1 < len(p.toks) {
		return p.toks[p.i+1]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) failAt(t token, format string, a ...any) {
	panic(parseError{&Error{Template: p.name, Line: t.line, Column: t.col, Msg: fmt.Sprintf(format, a...)}})
}

func (p *parser) fail(format string, a ...any) { p.failAt(p.cur(), format, a...) }

func (t token) is(typ tokType, val string) bool {
	return t.typ == typ && (val == "" || t.val == val)
}

func (t token) isName(v string) bool { return t.typ == tName && t.val == v }
func (t token) isOp(v string) bool   { return t.typ == tOp && t.val == v }

func (p *parser) expectOp(op string) token {
	t := p.cur()
	if !t.isOp(op) {
		p.fail("expected token '%s', got '%s'", op, t.describe())
	}
	return p.next()
}

func (p *parser) expectName(v string) token {
	t := p.cur()
	if t.typ != tName || (v != "" && t.val != v) {
		if v == "" {
			p.fail("expected token 'name', got '%s'", t.describe())
		}
		p.fail("expected token '%s', got '%s'", v, t.describe())
	}
	return p.next()
}

func (p *parser) expect(typ tokType) token {
	t := p.cur()
	if t.typ != typ {
		if t.typ == tEOF {
			p.fail("unexpected end of template, expected '%s'", (token{typ: typ}).describe())
		}
		p.fail("expected token '%s', got '%s'", (token{typ: typ}).describe(), t.describe())
	}
	return p.next()
}

func (p *parser) enter() {
	p.depth++
	if p.depth > p.maxDepth {
		p.fail("template nesting exceeds the limit of %d", p.maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

func posOf(t token) pos { return pos{t.line, t.col} }

// parseTemplate parses tokens into a statement list.
func (p *parser) parseTemplate() (body []node, err error) {
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(parseError)
			if !ok {
				panic(r)
			}
			err = pe.err
		}
	}()
	body = p.subparse(nil)
	return body, nil
}

func (p *parser) subparse(end []string) []node {
	var body []node
	for {
		t := p.cur()
		switch t.typ {
		case tEOF:
			return body
		case tData:
			p.next()
			body = append(body, &dataStmt{posOf(t), t.val})
		case tVarBegin:
			p.next()
			x := p.parseTuple(false, true, nil, false)
			body = append(body, &outputStmt{posOf(t), x})
			p.expect(tVarEnd)
		case tBlockBegin:
			p.next()
			c := p.cur()
			if end != nil && c.typ == tName {
				for _, e := range end {
					if c.val == e {
						return body
					}
				}
			}
			body = append(body, p.parseStatement()...)
			p.expect(tBlockEnd)
		default:
			p.fail("unexpected %s", t.describe())
		}
	}
}

func (p *parser) parseStatements(end []string, drop bool) []node {
	if p.cur().isOp(":") {
		p.next()
	}
	p.expect(tBlockEnd)
	p.enter()
	body := p.subparse(end)
	p.leave()
	if p.cur().typ == tEOF {
		p.failEOF(end)
	}
	if drop {
		p.next()
	}
	return body
}

func (p *parser) failEOF(end []string) {
	var quoted []string
	for _, e := range end {
		quoted = append(quoted, "'"+e+"'")
	}
	msg := "unexpected end of template"
	if len(quoted) > 0 {
		msg += ", expected " + strings.Join(quoted, " or ")
	}
	if len(p.tagStack) > 0 {
		msg += fmt.Sprintf(". The innermost block that needs to be closed is '%s'", p.tagStack[len(p.tagStack)-1])
	}
	p.fail("%s.", msg)
}

func (p *parser) parseStatement() []node {
	t := p.cur()
	if t.typ != tName {
		p.fail("tag name expected")
	}
	p.tagStack = append(p.tagStack, t.val)
	defer func() { p.tagStack = p.tagStack[:len(p.tagStack)-1] }()
	switch t.val {
	case "for":
		return []node{p.parseFor()}
	case "if":
		return []node{p.parseIf()}
	case "block":
		return []node{p.parseBlock()}
	case "extends":
		p.next()
		p.hasExt = true
		return []node{&extendsStmt{posOf(t), p.parseExpression(true)}}
	case "print":
		p.next()
		var out []node
		for !p.cur().is(tBlockEnd, "") {
			if len(out) > 0 {
				p.expectOp(",")
			}
			out = append(out, &outputStmt{posOf(t), p.parseExpression(true)})
		}
		return out
	case "macro":
		return []node{p.parseMacro()}
	case "include":
		return []node{p.parseInclude()}
	case "from":
		return []node{p.parseFrom()}
	case "import":
		return []node{p.parseImport()}
	case "set":
		return []node{p.parseSet()}
	case "with":
		return []node{p.parseWith()}
	case "call":
		return []node{p.parseCallBlock()}
	case "filter":
		p.next()
		f := p.parseFilter(nil, true)
		body := p.parseStatements([]string{"endfilter"}, true)
		return []node{&filterBlockStmt{posOf(t), f, body}}
	}
	p.tagStack = p.tagStack[:len(p.tagStack)-1]
	defer func() { p.tagStack = append(p.tagStack, "") }()
	if len(p.tagStack) > 0 {
		p.fail("Encountered unknown tag '%s'. The innermost block that needs to be closed is '%s'.", t.val, p.tagStack[len(p.tagStack)-1])
	}
	p.fail("Encountered unknown tag '%s'.", t.val)
	return nil
}

func (p *parser) parseFor() node {
	t := p.next()
	target := p.parseAssignTarget(true, false, []string{"in"}, false)
	p.expectName("in")
	iter := p.parseTuple(false, false, []string{"recursive"}, false)
	var test node
	if p.cur().isName("if") {
		p.next()
		test = p.parseExpression(true)
	}
	rec := false
	if p.cur().isName("recursive") {
		p.next()
		rec = true
	}
	body := p.parseStatements([]string{"endfor", "else"}, false)
	var els []node
	if p.next().val != "endfor" {
		els = p.parseStatements([]string{"endfor"}, true)
	}
	return &forStmt{posOf(t), target, iter, test, rec, body, els}
}

func (p *parser) parseIf() node {
	t := p.next()
	res := &ifStmt{pos: posOf(t)}
	n := res
	for {
		n.test = p.parseTuple(false, false, nil, false)
		n.body = p.parseStatements([]string{"elif", "else", "endif"}, false)
		tok := p.next()
		if tok.isName("elif") {
			n = &ifStmt{pos: posOf(tok)}
			res.elifs = append(res.elifs, n)
			continue
		}
		if tok.isName("else") {
			res.els = p.parseStatements([]string{"endif"}, true)
		}
		break
	}
	return res
}

func (p *parser) parseBlock() node {
	t := p.next()
	name := p.expectName("").val
	b := &blockStmt{pos: posOf(t), name: name}
	if p.cur().isName("scoped") {
		p.next()
		b.scoped = true
	}
	if p.cur().isName("required") {
		p.next()
		b.required = true
	}
	if p.cur().isOp("-") {
		p.fail("Block names in Jinja have to be valid Python identifiers and may not contain hyphens, use an underscore instead.")
	}
	b.body = p.parseStatements([]string{"endblock"}, true)
	if b.required {
		for _, n := range b.body {
			d, ok := n.(*dataStmt)
			if !ok || strings.TrimSpace(d.text) != "" {
				p.failAt(t, "Required blocks can only contain comments or whitespace")
			}
		}
	}
	if p.cur().isName(name) {
		p.next()
	}
	if _, dup := p.blocks[name]; dup {
		p.failAt(t, "block '%s' defined twice", name)
	}
	p.blocks[name] = b
	p.order = append(p.order, name)
	return b
}

func (p *parser) parseImportContext(def bool) bool {
	c := p.cur()
	if (c.isName("with") || c.isName("without")) && p.look().isName("context") {
		p.next()
		p.next()
		return c.val == "with"
	}
	return def
}

func (p *parser) parseInclude() node {
	t := p.next()
	n := &includeStmt{pos: posOf(t)}
	n.tmpl = p.parseExpression(true)
	if p.cur().isName("ignore") && p.look().isName("missing") {
		n.ignoreMissing = true
		p.next()
		p.next()
	}
	n.withContext = p.parseImportContext(true)
	return n
}

func (p *parser) parseImport() node {
	t := p.next()
	n := &importStmt{pos: posOf(t)}
	n.tmpl = p.parseExpression(true)
	p.expectName("as")
	n.target = p.expectName("").val
	n.withContext = p.parseImportContext(false)
	return n
}

func (p *parser) parseFrom() node {
	t := p.next()
	n := &fromImportStmt{pos: posOf(t)}
	n.tmpl = p.parseExpression(true)
	p.expectName("import")
	ctxSet := false
	parseCtx := func() bool {
		c := p.cur()
		if (c.isName("with") || c.isName("without")) && p.look().isName("context") {
			n.withContext = c.val == "with"
			ctxSet = true
			p.next()
			p.next()
			return true
		}
		return false
	}
	for {
		if len(n.names) > 0 {
			p.expectOp(",")
		}
		if p.cur().typ != tName {
			p.expectName("")
		}
		if parseCtx() {
			break
		}
		tn := p.expectName("")
		if strings.HasPrefix(tn.val, "_") {
			p.failAt(tn, "names starting with an underline can not be imported")
		}
		alias := tn.val
		if p.cur().isName("as") {
			p.next()
			alias = p.expectName("").val
		}
		n.names = append(n.names, [2]string{tn.val, alias})
		if parseCtx() || !p.cur().isOp(",") {
			break
		}
	}
	_ = ctxSet
	return n
}

func (p *parser) parseSignature() ([]string, []node) {
	var args []string
	var defs []node
	p.expectOp("(")
	for !p.cur().isOp(")") {
		if len(args) > 0 {
			p.expectOp(",")
		}
		a := p.expectName("")
		if p.cur().isOp("=") {
			p.next()
			defs = append(defs, p.parseExpression(true))
		} else if len(defs) > 0 {
			p.fail("non-default argument follows default argument")
		}
		args = append(args, a.val)
	}
	p.expectOp(")")
	return args, defs
}

func (p *parser) parseMacro() node {
	t := p.next()
	n := &macroStmt{pos: posOf(t)}
	n.name = p.expectName("").val
	n.args, n.defaults = p.parseSignature()
	n.body = p.parseStatements([]string{"endmacro"}, true)
	return n
}

func (p *parser) parseCallBlock() node {
	t := p.next()
	n := &callBlockStmt{pos: posOf(t)}
	if p.cur().isOp("(") {
		n.args, n.defaults = p.parseSignature()
	}
	c, ok := p.parseExpression(true).(*callExpr)
	if !ok {
		p.failAt(t, "expected call")
	}
	n.call = c
	n.body = p.parseStatements([]string{"endcall"}, true)
	return n
}

func (p *parser) parseSet() node {
	t := p.next()
	target := p.parseAssignTarget(true, false, nil, true)
	if p.cur().isOp("=") {
		p.next()
		return &assignStmt{posOf(t), target, p.parseTuple(false, true, nil, false)}
	}
	f := p.parseFilter(nil, false)
	body := p.parseStatements([]string{"endset"}, true)
	return &assignBlockStmt{posOf(t), target, f, body}
}

func (p *parser) parseWith() node {
	t := p.next()
	n := &withStmt{pos: posOf(t)}
	for !p.cur().is(tBlockEnd, "") {
		if len(n.targets) > 0 {
			p.expectOp(",")
		}
		n.targets = append(n.targets, p.parseAssignTarget(true, false, nil, false))
		p.expectOp("=")
		n.values = append(n.values, p.parseExpression(true))
	}
	n.body = p.parseStatements([]string{"endwith"}, true)
	return n
}

func (p *parser) parseAssignTarget(withTuple, nameOnly bool, extraEnd []string, withNS bool) node {
	t := p.cur()
	var target node
	if withNS && p.look().isOp(".") {
		name := p.expectName("")
		p.next()
		attr := p.expectName("")
		return &nsRef{posOf(t), name.val, attr.val}
	}
	if nameOnly {
		n := p.expectName("")
		return &nameExpr{posOf(n), n.val}
	}
	if withTuple {
		target = p.parseTuple(true, true, extraEnd, false)
	} else {
		target = p.parsePrimary()
	}
	if !canAssign(target) {
		p.failAt(t, "can't assign to %s", pyfmt.StrRepr(nodeKind(target)))
	}
	return target
}

func canAssign(n node) bool {
	switch x := n.(type) {
	case *nameExpr:
		switch x.name {
		case "true", "false", "none", "True", "False", "None":
			return false
		}
		return true
	case *tupleExpr:
		for _, i := range x.items {
			if !canAssign(i) {
				return false
			}
		}
		return true
	case *nsRef:
		return true
	}
	return false
}

func nodeKind(n node) string {
	switch n.(type) {
	case *constExpr:
		return "const"
	case *listExpr:
		return "list"
	case *dictExpr:
		return "dict"
	case *tupleExpr:
		return "tuple"
	}
	return "expression"
}

func (p *parser) isTupleEnd(extra []string) bool {
	c := p.cur()
	if c.typ == tVarEnd || c.typ == tBlockEnd || c.isOp(")") {
		return true
	}
	for _, e := range extra {
		if c.isName(e) {
			return true
		}
	}
	return false
}

// parseTuple is Jinja2's parse_tuple.
func (p *parser) parseTuple(simplified, withCond bool, extraEnd []string, explicitParens bool) node {
	t := p.cur()
	var items []node
	isTuple := false
	for {
		if len(items) > 0 {
			p.expectOp(",")
		}
		if p.isTupleEnd(extraEnd) {
			break
		}
		switch {
		case simplified:
			items = append(items, p.parsePrimary())
		default:
			items = append(items, p.parseExpression(withCond))
		}
		if p.cur().isOp(",") {
			isTuple = true
		} else {
			break
		}
	}
	if !isTuple {
		if len(items) > 0 {
			return items[0]
		}
		if !explicitParens {
			p.fail("Expected an expression, got '%s'", p.cur().describe())
		}
	}
	return &tupleExpr{posOf(t), items}
}

func (p *parser) parseExpression(withCond bool) node {
	p.enter()
	defer p.leave()
	if withCond {
		return p.parseCondExpr()
	}
	return p.parseOr()
}

func (p *parser) parseCondExpr() node {
	x := p.parseOr()
	for p.cur().isName("if") {
		t := p.next()
		test := p.parseOr()
		var no node
		if p.cur().isName("else") {
			p.next()
			p.enter()
			no = p.parseCondExpr()
			p.leave()
		}
		x = &condExpr{posOf(t), test, x, no}
	}
	return x
}

func (p *parser) parseOr() node {
	l := p.parseAnd()
	for p.cur().isName("or") {
		t := p.next()
		l = &binExpr{posOf(t), "or", l, p.parseAnd()}
	}
	return l
}

func (p *parser) parseAnd() node {
	l := p.parseNot()
	for p.cur().isName("and") {
		t := p.next()
		l = &binExpr{posOf(t), "and", l, p.parseNot()}
	}
	return l
}

func (p *parser) parseNot() node {
	if p.cur().isName("not") {
		t := p.next()
		p.enter()
		defer p.leave()
		return &unaryExpr{posOf(t), "not", p.parseNot()}
	}
	return p.parseCompare()
}

var compareOps = map[string]string{"==": "eq", "!=": "ne", "<": "lt", "<=": "lteq", ">": "gt", ">=": "gteq"}

func (p *parser) parseCompare() node {
	t := p.cur()
	x := p.parseMath1()
	var ops []compareOp
	for {
		c := p.cur()
		if op, ok := compareOps[c.val]; ok && c.typ == tOp {
			p.next()
			ops = append(ops, compareOp{op, p.parseMath1()})
		} else if c.isName("in") {
			p.next()
			ops = append(ops, compareOp{"in", p.parseMath1()})
		} else if c.isName("not") && p.look().isName("in") {
			p.next()
			p.next()
			ops = append(ops, compareOp{"notin", p.parseMath1()})
		} else {
			break
		}
	}
	if len(ops) == 0 {
		return x
	}
	return &compareExpr{posOf(t), x, ops}
}

func (p *parser) parseMath1() node {
	l := p.parseConcat()
	for p.cur().isOp("+") || p.cur().isOp("-") {
		t := p.next()
		l = &binExpr{posOf(t), t.val, l, p.parseConcat()}
	}
	return l
}

func (p *parser) parseConcat() node {
	t := p.cur()
	items := []node{p.parseMath2()}
	for p.cur().isOp("~") {
		p.next()
		items = append(items, p.parseMath2())
	}
	if len(items) == 1 {
		return items[0]
	}
	return &concatExpr{posOf(t), items}
}

func (p *parser) parseMath2() node {
	l := p.parsePow()
	for {
		c := p.cur()
		if c.typ == tOp && (c.val == "*" || c.val == "/" || c.val == "//" || c.val == "%") {
			p.next()
			l = &binExpr{posOf(c), c.val, l, p.parsePow()}
			continue
		}
		return l
	}
}

func (p *parser) parsePow() node {
	l := p.parseUnary(true)
	for p.cur().isOp("**") {
		t := p.next()
		l = &binExpr{posOf(t), "**", l, p.parseUnary(true)}
	}
	return l
}

func (p *parser) parseUnary(withFilter bool) node {
	p.enter()
	defer p.leave()
	c := p.cur()
	var n node
	switch {
	case c.isOp("-"):
		p.next()
		n = &unaryExpr{posOf(c), "-", p.parseUnary(false)}
	case c.isOp("+"):
		p.next()
		n = &unaryExpr{posOf(c), "+", p.parseUnary(false)}
	default:
		n = p.parsePrimary()
	}
	n = p.parsePostfix(n)
	if withFilter {
		n = p.parseFilterExpr(n)
	}
	return n
}

func (p *parser) parsePrimary() node {
	p.enter()
	defer p.leave()
	t := p.cur()
	switch t.typ {
	case tName:
		p.next()
		switch t.val {
		case "true", "True":
			return &constExpr{posOf(t), true}
		case "false", "False":
			return &constExpr{posOf(t), false}
		case "none", "None":
			return &constExpr{posOf(t), nil}
		}
		return &nameExpr{posOf(t), t.val}
	case tString:
		p.next()
		s := t.val
		for p.cur().typ == tString {
			s += p.next().val
		}
		return &constExpr{posOf(t), s}
	case tInt, tFloat:
		p.next()
		return &constExpr{posOf(t), t.num}
	case tOp:
		switch t.val {
		case "(":
			p.next()
			n := p.parseTuple(false, true, nil, true)
			p.expectOp(")")
			return n
		case "[":
			p.next()
			var items []node
			for !p.cur().isOp("]") {
				if len(items) > 0 {
					p.expectOp(",")
				}
				if p.cur().isOp("]") {
					break
				}
				items = append(items, p.parseExpression(true))
			}
			p.expectOp("]")
			return &listExpr{posOf(t), items}
		case "{":
			p.next()
			d := &dictExpr{pos: posOf(t)}
			for !p.cur().isOp("}") {
				if len(d.keys) > 0 {
					p.expectOp(",")
				}
				if p.cur().isOp("}") {
					break
				}
				d.keys = append(d.keys, p.parseExpression(true))
				p.expectOp(":")
				d.vals = append(d.vals, p.parseExpression(true))
			}
			p.expectOp("}")
			return d
		}
	}
	if t.typ == tEOF {
		p.fail("unexpected end of template")
	}
	p.fail("unexpected '%s'", t.describe())
	return nil
}

func (p *parser) parsePostfix(n node) node {
	for {
		c := p.cur()
		switch {
		case c.isOp(".") || c.isOp("["):
			n = p.parseSubscript(n)
		case c.isOp("("):
			n = p.parseCall(n)
		default:
			return n
		}
	}
}

func (p *parser) parseFilterExpr(n node) node {
	for {
		c := p.cur()
		switch {
		case c.isOp("|"):
			n = p.parseFilter(n, false)
		case c.isName("is"):
			n = p.parseTest(n)
		case c.isOp("("):
			n = p.parseCall(n)
		default:
			return n
		}
	}
}

func (p *parser) parseSubscript(n node) node {
	p.enter()
	defer p.leave()
	t := p.next()
	if t.val == "." {
		a := p.next()
		if a.typ == tName {
			return &getattrExpr{posOf(t), n, a.val}
		}
		if a.typ != tInt {
			p.failAt(a, "expected name or number")
		}
		return &getitemExpr{posOf(t), n, &constExpr{posOf(a), a.num}}
	}
	var args []node
	for !p.cur().isOp("]") {
		if len(args) > 0 {
			p.expectOp(",")
		}
		args = append(args, p.parseSubscribed())
	}
	p.expectOp("]")
	if len(args) == 1 {
		return &getitemExpr{posOf(t), n, args[0]}
	}
	return &getitemExpr{posOf(t), n, &tupleExpr{posOf(t), args}}
}

func (p *parser) parseSubscribed() node {
	t := p.cur()
	var args []node
	if t.isOp(":") {
		p.next()
		args = []node{nil}
	} else {
		x := p.parseExpression(true)
		if !p.cur().isOp(":") {
			return x
		}
		p.next()
		args = []node{x}
	}
	c := p.cur()
	if c.isOp(":") {
		args = append(args, nil)
	} else if !c.isOp("]") && !c.isOp(",") {
		args = append(args, p.parseExpression(true))
	} else {
		args = append(args, nil)
	}
	if p.cur().isOp(":") {
		p.next()
		if c := p.cur(); !c.isOp("]") && !c.isOp(",") {
			args = append(args, p.parseExpression(true))
		} else {
			args = append(args, nil)
		}
	} else {
		args = append(args, nil)
	}
	return &sliceExpr{posOf(t), args[0], args[1], args[2]}
}

func (p *parser) parseCallArgs() callArgs {
	t := p.expectOp("(")
	var ca callArgs
	requireComma := false
	ensure := func(ok bool) {
		if !ok {
			p.failAt(t, "invalid syntax for function call expression")
		}
	}
	for !p.cur().isOp(")") {
		if requireComma {
			p.expectOp(",")
			if p.cur().isOp(")") {
				break
			}
		}
		c := p.cur()
		switch {
		case c.isOp("*"):
			ensure(ca.dynArgs == nil && ca.dynKwargs == nil)
			p.next()
			ca.dynArgs = p.parseExpression(true)
		case c.isOp("**"):
			ensure(ca.dynKwargs == nil)
			p.next()
			ca.dynKwargs = p.parseExpression(true)
		case c.typ == tName && p.look().isOp("="):
			ensure(ca.dynKwargs == nil)
			p.next()
			p.next()
			ca.kwargs = append(ca.kwargs, keyword{c.val, p.parseExpression(true)})
		default:
			ensure(ca.dynArgs == nil && ca.dynKwargs == nil && len(ca.kwargs) == 0)
			ca.args = append(ca.args, p.parseExpression(true))
		}
		requireComma = true
	}
	p.expectOp(")")
	return ca
}

func (p *parser) parseCall(n node) node {
	t := p.cur()
	return &callExpr{posOf(t), n, p.parseCallArgs()}
}

func (p *parser) parseDottedName() (token, string) {
	t := p.expectName("")
	name := t.val
	for p.cur().isOp(".") {
		p.next()
		name += "." + p.expectName("").val
	}
	return t, name
}

func (p *parser) parseFilter(n node, startInline bool) node {
	for p.cur().isOp("|") || startInline {
		if !startInline {
			p.next()
		}
		t, name := p.parseDottedName()
		if p.env != nil {
			if _, ok := p.env.filters[name]; !ok {
				p.failAt(t, "No filter named '%s'.", name)
			}
		}
		f := &filterExpr{pos: posOf(t), x: n, name: name}
		if p.cur().isOp("(") {
			f.callArgs = p.parseCallArgs()
		}
		n = f
		startInline = false
	}
	return n
}

func (p *parser) parseTest(n node) node {
	t := p.next()
	negated := false
	if p.cur().isName("not") {
		p.next()
		negated = true
	}
	nt, name := p.parseDottedName()
	if _, ok := tests[name]; !ok {
		p.failAt(nt, "No test named '%s'.", name)
	}
	te := &testExpr{pos: posOf(t), x: n, name: name}
	c := p.cur()
	if c.isOp("(") {
		te.callArgs = p.parseCallArgs()
	} else if (c.typ == tName || c.typ == tString || c.typ == tInt || c.typ == tFloat || c.isOp("(") || c.isOp("[") || c.isOp("{")) &&
		!c.isName("else") && !c.isName("or") && !c.isName("and") {
		if c.isName("is") {
			p.fail("You cannot chain multiple tests with is")
		}
		a := p.parsePostfix(p.parsePrimary())
		te.args = []node{a}
	}
	if negated {
		return &unaryExpr{posOf(t), "not", te}
	}
	return te
}
