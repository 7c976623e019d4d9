package devicedict

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// jinjaStatements are Jinja2 statements that a device dictionary cannot
// use; naming them gives a clearer message than "unknown statement".
var jinjaStatements = map[string]bool{
	"block": true, "endblock": true, "if": true, "elif": true, "else": true, "endif": true,
	"for": true, "endfor": true, "macro": true, "endmacro": true, "call": true, "endcall": true,
	"filter": true, "endfilter": true, "include": true, "import": true, "from": true,
	"with": true, "endwith": true, "raw": true, "endraw": true, "autoescape": true,
	"endautoescape": true, "do": true, "break": true, "continue": true, "trans": true,
	"endtrans": true, "pluralize": true, "endset": true, "print": true,
}

type tokKind uint8

const (
	tName tokKind = iota
	tString
	tInt
	tFloat
	tOp
	tEnd // the closing %} or }}
)

// tok is one token inside a {% %} or {{ }} tag.
type tok struct {
	kind tokKind
	off  int    // byte offset in the source
	text string // source text (names, operators); the decoded value of strings
	i    int
	f    float64
}

func (t tok) is(op string) bool { return t.kind == tOp && t.text == op }

// show is how a token is quoted in messages.
func (t tok) show() string {
	switch t.kind {
	case tEnd:
		return "the end of the tag"
	case tString:
		return "a string"
	case tInt, tFloat:
		return "a number"
	}
	return strconv.Quote(t.text)
}

// jinjaParser reads LAVA's form of a device dictionary.
type jinjaParser struct {
	src     string
	li      *lineIndex
	errs    *errList
	d       *Dict
	extends *pos           // where the first extends is
	seen    map[string]pos // variables set so far, by name
}

func (p *jinjaParser) fail(off int, path, format string, args ...any) {
	if p.errs.full() {
		p.errs.dropped++
		return
	}
	p.errs.add(p.li.pos(off), path, fmt.Sprintf(format, args...))
}

// parse scans the whole source: text between tags must be blank or YAML
// comment lines; {# #} comments are skipped; {% %} statements must be
// extends or set; {{ }} output is refused.
func (p *jinjaParser) parse() {
	i := 0
	for i < len(p.src) {
		j := nextTag(p.src, i)
		if j < 0 {
			p.text(i, len(p.src))
			break
		}
		p.text(i, j)
		switch p.src[j+1] {
		case '#':
			end := strings.Index(p.src[j+2:], "#}")
			if end < 0 {
				p.fail(j, "", "comment {# is not closed (missing #})")
				return
			}
			i = j + 2 + end + 2
		case '%':
			toks, next, ok := p.lexTag(j, "%}")
			if !ok {
				return
			}
			p.statement(j, toks)
			i = next
		default: // '{'
			_, next, ok := p.lexTag(j, "}}")
			if !ok {
				return
			}
			p.fail(j, "", "{{ … }} output is not supported in a device dictionary: set variables with {%% set NAME = VALUE %%}")
			i = next
		}
	}
	if p.extends == nil {
		p.errs.add(pos{1, 1}, "", "no {% extends '<template>.jinja2' %}: a device dictionary in LAVA's form extends exactly one device-type template")
	}
}

// nextTag returns the offset of the next "{%", "{#" or "{{" at or after i,
// or -1.
func nextTag(s string, i int) int {
	for {
		k := strings.IndexByte(s[i:], '{')
		if k < 0 || i+k+1 >= len(s) {
			return -1
		}
		i += k
		switch s[i+1] {
		case '%', '#', '{':
			return i
		}
		i++
	}
}

// text checks the text between two tags: Jinja2 would print it into the
// rendered YAML, so only blank lines and YAML comments are allowed.
func (p *jinjaParser) text(a, b int) {
	seg := p.src[a:b]
	off := a
	for seg != "" {
		line, rest, found := strings.Cut(seg, "\n")
		t := strings.TrimLeft(line, " \t\r\f\v")
		if t != "" && t[0] != '#' {
			p.fail(off+len(line)-len(t), "", "text outside {%% %%} tags: a device dictionary only extends a template and sets variables (%s)", strconv.Quote(truncate(strings.TrimSpace(t), 30)))
			return
		}
		off += len(line) + 1
		if !found {
			break
		}
		seg = rest
	}
}

// lexTag tokenizes the tag starting at start ("{%" or "{{") up to its
// closing marker. It returns the tokens (the last one tEnd) and the offset
// after the tag; ok is false when the tag is not closed, after reporting it.
func (p *jinjaParser) lexTag(start int, closing string) (toks []tok, next int, ok bool) {
	i := start + 2
	if i < len(p.src) && (p.src[i] == '-' || p.src[i] == '+') {
		i++ // whitespace control
	}
	for {
		for i < len(p.src) && strings.IndexByte(" \t\n\r\f\v", p.src[i]) >= 0 {
			i++
		}
		if i >= len(p.src) {
			p.fail(start, "", "%s is not closed (missing %s)", p.src[start:start+2], closing)
			return nil, 0, false
		}
		rest := p.src[i:]
		switch {
		case strings.HasPrefix(rest, closing):
			return append(toks, tok{kind: tEnd, off: i}), i + len(closing), true
		case (rest[0] == '-' || rest[0] == '+') && strings.HasPrefix(rest[1:], closing):
			return append(toks, tok{kind: tEnd, off: i}), i + 1 + len(closing), true
		}
		c := rest[0]
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			k := 1
			for k < len(rest) && isNameByte(rest[k]) {
				k++
			}
			toks = append(toks, tok{kind: tName, off: i, text: rest[:k]})
			i += k
		case c >= '0' && c <= '9':
			t, n, err := lexNumber(rest)
			t.off = i
			if err != "" {
				p.fail(i, "", "%s", err)
				return nil, 0, false
			}
			toks = append(toks, t)
			i += n
		case c == '\'' || c == '"':
			s, n, err := unquote(rest)
			if err != "" {
				p.fail(i, "", "%s", err)
				return nil, 0, false
			}
			toks = append(toks, tok{kind: tString, off: i, text: s})
			i += n
		default:
			op := ""
			for _, o := range []string{"//", "**", "==", "!=", ">=", "<="} {
				if strings.HasPrefix(rest, o) {
					op = o
					break
				}
			}
			if op == "" && strings.IndexByte("+-/*%~[](){}><=.:|,;", c) >= 0 {
				op = rest[:1]
			}
			if op == "" {
				r, _ := utf8.DecodeRuneInString(rest)
				p.fail(i, "", "unexpected character %q in a tag", r)
				return nil, 0, false
			}
			toks = append(toks, tok{kind: tOp, off: i, text: op})
			i += len(op)
		}
	}
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// lexNumber reads an integer or float literal as Jinja2 writes them
// (underscores between digits; 0b, 0o and 0x integers). It returns the
// token, its length, and a message when it is malformed.
func lexNumber(s string) (tok, int, string) {
	n := 0
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	if len(s) > 1 && s[0] == '0' && strings.IndexByte("bBoOxX", s[1]) >= 0 {
		n = 2
		for n < len(s) && (isNameByte(s[n])) {
			n++
		}
		v, err := strconv.ParseInt(s[:n], 0, 64)
		if err != nil {
			return tok{}, 0, fmt.Sprintf("malformed or too large integer %s", strconv.Quote(s[:n]))
		}
		return tok{kind: tInt, text: s[:n], i: int(v)}, n, ""
	}
	digits := func() {
		for n < len(s) && (isDigit(s[n]) || s[n] == '_' && n+1 < len(s) && isDigit(s[n+1]) && n > 0 && isDigit(s[n-1])) {
			n++
		}
	}
	digits()
	float := false
	if n+1 < len(s) && s[n] == '.' && isDigit(s[n+1]) {
		float = true
		n++
		digits()
	}
	if n < len(s) && (s[n] == 'e' || s[n] == 'E') {
		k := n + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigit(s[k]) {
			float = true
			n = k
			digits()
		}
	}
	text := s[:n]
	if n < len(s) && (isNameByte(s[n])) {
		k := n
		for k < len(s) && isNameByte(s[k]) {
			k++
		}
		return tok{}, 0, fmt.Sprintf("malformed number %s", strconv.Quote(s[:k]))
	}
	clean := strings.ReplaceAll(text, "_", "")
	if float {
		f, err := strconv.ParseFloat(clean, 64)
		if err != nil || math.IsInf(f, 0) {
			return tok{}, 0, fmt.Sprintf("malformed or too large number %s", strconv.Quote(text))
		}
		return tok{kind: tFloat, text: text, f: f}, n, ""
	}
	if len(clean) > 1 && clean[0] == '0' && strings.Trim(clean, "0") != "" {
		return tok{}, 0, fmt.Sprintf("integer %s has a leading zero", strconv.Quote(text))
	}
	v, err := strconv.ParseInt(clean, 10, 64)
	if err != nil {
		return tok{}, 0, fmt.Sprintf("integer %s is too large", strconv.Quote(text))
	}
	return tok{kind: tInt, text: text, i: int(v)}, n, ""
}

// unquote reads a quoted string at the start of s with Python's escapes
// (as Jinja2 decodes them): \\ \' \" \n \t \r \a \b \f \v \0-\777 \xHH
// \uHHHH \UHHHHHHHH and backslash-newline; any other backslash is kept.
func unquote(s string) (string, int, string) {
	q := s[0]
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, ""
		case c == '\\' && i+1 < len(s):
			e := s[i+1]
			i += 2
			switch e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case '\n':
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'v':
				b.WriteByte('\v')
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v, k := int(e-'0'), 0
				for k < 2 && i < len(s) && s[i] >= '0' && s[i] <= '7' {
					v = v*8 + int(s[i]-'0')
					i++
					k++
				}
				b.WriteRune(rune(v))
			case 'x', 'u', 'U':
				width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if i+width > len(s) {
					return "", 0, fmt.Sprintf("truncated \\%c escape in a string", e)
				}
				v, err := strconv.ParseUint(s[i:i+width], 16, 32)
				if err != nil || v > utf8.MaxRune || (v >= 0xD800 && v <= 0xDFFF) {
					return "", 0, fmt.Sprintf("malformed \\%c escape %s in a string", e, strconv.Quote(s[i:i+width]))
				}
				b.WriteRune(rune(v))
				i += width
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, "string is not closed (missing " + string(q) + ")"
}

// statement handles one {% %} tag.
func (p *jinjaParser) statement(start int, toks []tok) {
	first := toks[0]
	if first.kind != tName {
		p.fail(first.off, "", "expected a statement name after {%%, got %s", first.show())
		return
	}
	switch first.text {
	case "extends":
		p.extendsStmt(start, toks[1:])
	case "set":
		p.setStmt(toks[1:])
	default:
		if jinjaStatements[first.text] {
			p.fail(start, "", "{%% %s %%} is not supported in a device dictionary (only {%% extends %%} and {%% set %%})", first.text)
		} else {
			p.fail(start, "", "unknown statement {%% %s %%} (a device dictionary uses only {%% extends %%} and {%% set %%})", first.text)
		}
	}
}

func (p *jinjaParser) extendsStmt(start int, toks []tok) {
	if len(toks) != 2 || toks[0].kind != tString || toks[1].kind != tEnd {
		p.fail(start, "", "expected {%% extends '<template>.jinja2' %%}")
		return
	}
	if first := p.extends; first != nil {
		p.fail(start, "", "a second {%% extends %%} (the first is at %d:%d); a dictionary extends exactly one template", first.line, first.col)
		return
	}
	name := toks[0].text
	base, ok := strings.CutSuffix(name, ".jinja2")
	if !ok || base == "" || strings.ContainsAny(base, "/\\") {
		p.fail(toks[0].off, "", "template name %s must look like '<device-type>.jinja2'", strconv.Quote(name))
		return
	}
	ps := p.li.pos(start)
	p.extends = &ps
	p.d.Template = base
	p.d.templateSrc = at(toks[0].off)
}

func (p *jinjaParser) setStmt(toks []tok) {
	if len(toks) == 0 || toks[0].kind != tName {
		off := 0
		if len(toks) > 0 {
			off = toks[0].off
		}
		p.fail(off, "", "expected a variable name after set")
		return
	}
	name := toks[0]
	switch next := toks[1]; {
	case next.kind == tEnd:
		p.fail(name.off, varPath(name.text), "block assignment {%% set %s %%}…{%% endset %%} is not supported: write {%% set %s = VALUE %%}", name.text, name.text)
		return
	case next.is(","):
		p.fail(next.off, varPath(name.text), "assigning several variables at once is not supported")
		return
	case next.is("."):
		p.fail(next.off, varPath(name.text), "assigning to an attribute is not supported")
		return
	case !next.is("="):
		p.fail(next.off, varPath(name.text), "expected = after set %s, got %s", name.text, next.show())
		return
	}
	e := &exprParser{p: p, toks: toks[2:], path: varPath(name.text)}
	v, ok := e.top()
	if !ok {
		return
	}
	ps := p.li.pos(name.off)
	if fp, dup := p.seen[name.text]; dup {
		p.errs.add(ps, varPath(name.text), fmt.Sprintf("%s is set twice (first at %d:%d)", name.text, fp.line, fp.col))
		return
	}
	p.seen[name.text] = ps
	p.d.Vars = append(p.d.Vars, Var{Name: name.text, Value: v.n.value(), FromContext: v.ctx != "",
		ContextName: v.ctx, Line: ps.line, Column: ps.col, n: v.n})
}

// exprParser parses the value of a set statement.
type exprParser struct {
	p    *jinjaParser
	toks []tok
	i    int
	path string
}

// setValue is a parsed value: a literal, or NAME | default(literal) (ctx
// names the context variable).
type setValue struct {
	n   *node
	ctx string
}

func (e *exprParser) peek() tok { return e.toks[e.i] }

func (e *exprParser) next() tok {
	t := e.toks[e.i]
	if t.kind != tEnd {
		e.i++
	}
	return t
}

func (e *exprParser) fail(t tok, format string, args ...any) {
	e.p.fail(t.off, e.path, format, args...)
}

// top parses LITERAL or NAME | default(LITERAL), then the end of the tag.
func (e *exprParser) top() (setValue, bool) {
	t := e.peek()
	if t.kind == tName && !isLiteralName(t.text) {
		e.next()
		bar := e.peek()
		if !bar.is("|") {
			if bar.kind == tEnd {
				e.fail(t, "reading the variable %s is not supported: write %s | default(VALUE) to take it from the job's context", t.text, t.text)
			} else {
				e.fail(bar, "expressions are not supported: a value is a literal or NAME | default(VALUE)")
			}
			return setValue{}, false
		}
		e.next()
		f := e.next()
		if f.kind != tName {
			e.fail(f, "expected a filter name after |, got %s", f.show())
			return setValue{}, false
		}
		if f.text != "default" && f.text != "d" {
			e.fail(f, "filter %s is not supported (only NAME | default(VALUE))", f.text)
			return setValue{}, false
		}
		if open := e.next(); !open.is("(") {
			e.fail(open, "expected ( after default, got %s", open.show())
			return setValue{}, false
		}
		n, ok := e.literal(0)
		if !ok {
			return setValue{}, false
		}
		if c := e.next(); !c.is(")") {
			if c.is(",") {
				e.fail(c, "default takes one value here (its second argument is not supported)")
			} else {
				e.fail(c, "expected ) after the default value, got %s", c.show())
			}
			return setValue{}, false
		}
		if !e.end() {
			return setValue{}, false
		}
		return setValue{n: n, ctx: t.text}, true
	}
	n, ok := e.literal(0)
	if !ok || !e.end() {
		return setValue{}, false
	}
	return setValue{n: n}, true
}

// end expects the end of the tag.
func (e *exprParser) end() bool {
	t := e.peek()
	switch {
	case t.kind == tEnd:
		return true
	case t.is("|"):
		switch f := e.toks[e.i+1]; {
		case f.kind == tName && (f.text == "default" || f.text == "d"):
			e.fail(f, "| default(VALUE) follows a variable name, once: NAME | default(VALUE)")
		case f.kind == tName:
			e.fail(f, "filter %s is not supported (only NAME | default(VALUE))", f.text)
		default:
			e.fail(t, "filters apply only to a variable: NAME | default(VALUE)")
		}
	default:
		e.fail(t, "expressions are not supported: a value is a literal or NAME | default(VALUE) (unexpected %s)", t.show())
	}
	return false
}

func isLiteralName(s string) bool {
	switch s {
	case "true", "True", "false", "False", "none", "None":
		return true
	}
	return false
}

// literal parses a string, number, boolean, none, list, tuple or dict.
func (e *exprParser) literal(depth int) (*node, bool) {
	t := e.next()
	if depth >= MaxDepth {
		e.fail(t, "nesting deeper than %d levels", MaxDepth)
		return nil, false
	}
	src := at(t.off)
	switch t.kind {
	case tString:
		return &node{kind: strNode, src: src, s: e.joinStrings(t.text)}, true
	case tInt:
		return &node{kind: intNode, src: src, i: t.i}, true
	case tFloat:
		return &node{kind: floatNode, src: src, f: t.f}, true
	case tName:
		switch t.text {
		case "true", "True":
			return &node{kind: boolNode, src: src, b: true}, true
		case "false", "False":
			return &node{kind: boolNode, src: src}, true
		case "none", "None":
			return &node{kind: nullNode, src: src}, true
		}
		e.fail(t, "reading the variable %s inside a value is not supported: values are literals", t.text)
		return nil, false
	case tEnd:
		e.fail(t, "expected a value")
		return nil, false
	}
	switch t.text {
	case "-", "+":
		num := e.next()
		switch {
		case num.kind == tInt && t.text == "-":
			return &node{kind: intNode, src: src, i: -num.i}, true
		case num.kind == tInt:
			return &node{kind: intNode, src: src, i: num.i}, true
		case num.kind == tFloat && t.text == "-":
			return &node{kind: floatNode, src: src, f: -num.f}, true
		case num.kind == tFloat:
			return &node{kind: floatNode, src: src, f: num.f}, true
		}
		e.fail(t, "expressions are not supported: a sign must be followed by a number")
		return nil, false
	case "[":
		return e.sequence(src, "]", depth)
	case "(":
		if e.peek().is(")") {
			e.next()
			return &node{kind: listNode, src: src}, true
		}
		first, ok := e.literal(depth + 1)
		if !ok {
			return nil, false
		}
		switch c := e.next(); {
		case c.is(")"):
			return first, true
		case c.is(","):
			n, ok := e.sequence(src, ")", depth)
			if !ok {
				return nil, false
			}
			n.items = append([]*node{first}, n.items...)
			return n, true
		default:
			e.fail(c, "expected , or ) in parentheses, got %s", c.show())
			return nil, false
		}
	case "{":
		return e.dict(src, depth)
	}
	e.fail(t, "expected a value, got %s", t.show())
	return nil, false
}

// joinStrings appends the string tokens that follow first: Jinja2 joins
// adjacent string literals.
func (e *exprParser) joinStrings(first string) string {
	if e.peek().kind != tString {
		return first
	}
	var b strings.Builder
	b.WriteString(first)
	for e.peek().kind == tString {
		b.WriteString(e.next().text)
	}
	return b.String()
}

// sequence parses list items up to the closing bracket (a trailing comma
// is allowed).
func (e *exprParser) sequence(src srcPos, closing string, depth int) (*node, bool) {
	n := &node{kind: listNode, src: src}
	for {
		if e.peek().is(closing) {
			e.next()
			return n, true
		}
		it, ok := e.literal(depth + 1)
		if !ok {
			return nil, false
		}
		n.items = append(n.items, it)
		switch c := e.next(); {
		case c.is(closing):
			return n, true
		case !c.is(","):
			e.fail(c, "expected , or %s in a list, got %s", closing, c.show())
			return nil, false
		}
	}
}

// dict parses {'key': value, …}; keys are strings.
func (e *exprParser) dict(src srcPos, depth int) (*node, bool) {
	n := &node{kind: dictNode, src: src}
	seen := map[string]bool{}
	for {
		k := e.next()
		if k.is("}") {
			return n, true
		}
		if k.kind != tString {
			e.fail(k, "dictionary keys must be quoted strings, got %s", k.show())
			return nil, false
		}
		key := e.joinStrings(k.text)
		if seen[key] {
			e.fail(k, "key %s appears twice in this dictionary", strconv.Quote(key))
			return nil, false
		}
		seen[key] = true
		if c := e.next(); !c.is(":") {
			e.fail(c, "expected : after a dictionary key, got %s", c.show())
			return nil, false
		}
		v, ok := e.literal(depth + 1)
		if !ok {
			return nil, false
		}
		n.entries = append(n.entries, entry{key: key, keySrc: at(k.off), val: v})
		switch c := e.next(); {
		case c.is("}"):
			return n, true
		case !c.is(","):
			e.fail(c, "expected , or } in a dictionary, got %s", c.show())
			return nil, false
		}
	}
}
