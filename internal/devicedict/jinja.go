package devicedict

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/jinja"
)

// dictEnv reads LAVA's form with the engine that renders it (LAVA's
// settings and filters), so that a dictionary Parse accepts is one the
// renderer parses. Its nesting limit (200) is above the 3 levels the
// parser spends per list or dict, times MaxDepth, so that MaxDepth is met
// first.
var dictEnv = jinja.NewLAVA(nil)

// dictTemplateName names the dictionary in the engine's errors (unused in
// messages: positions say where).
const dictTemplateName = "device dictionary"

// parseJinja reads LAVA's form into d: the engine's top level must be one
// {% extends '<template>.jinja2' %}, {% set NAME = LITERAL %} and
// {% set NAME = OTHER | default(LITERAL) %} statements, comments, blank
// lines and YAML comment lines; anything else is reported with its
// position.
func parseJinja(text string, d *Dict, errs *errList) {
	decls, syntax := dictEnv.Declarations(dictTemplateName, text)
	for _, e := range syntax {
		errs.add(pos{e.Line, e.Column}, "", e.Msg)
	}
	var extends *pos
	seen := map[string]pos{}
	for _, dc := range decls {
		at := pos{dc.Line, dc.Column}
		switch dc.Kind {
		case jinja.DeclText:
			checkText(dc, errs)
		case jinja.DeclOutput:
			errs.add(at, "", "{{ … }} output is not supported in a device dictionary: set variables with {% set NAME = VALUE %}")
		case jinja.DeclOther:
			errs.add(at, "", fmt.Sprintf("{%% %s %%} is not supported in a device dictionary (only {%% extends %%} and {%% set %%})", dc.Tag))
		case jinja.DeclExtends:
			base, ok := strings.CutSuffix(dc.Name, ".jinja2")
			switch {
			case dc.Problem != nil:
				errs.add(at, "", "expected {% extends '<template>.jinja2' %}")
			case extends != nil:
				errs.add(at, "", fmt.Sprintf("a second {%% extends %%} (the first is at %d:%d); a dictionary extends exactly one template", extends.line, extends.col))
			case !ok || base == "" || strings.ContainsAny(base, "/\\"):
				errs.add(pos{dc.NameLine, dc.NameColumn}, "", fmt.Sprintf("template name %s must look like '<device-type>.jinja2'", strconv.Quote(dc.Name)))
			default:
				extends = &at
				d.Template = base
				d.templateSrc = lineCol(dc.NameLine, dc.NameColumn)
			}
		case jinja.DeclSet:
			path := varPath(dc.Name)
			if dc.Problem != nil {
				errs.add(pos{dc.Problem.Line, dc.Problem.Column}, path, problemMessage(dc.Problem))
				continue
			}
			n, ok := fromLiteral(dc.Value, 0, path, errs)
			if !ok {
				continue
			}
			np := pos{dc.NameLine, dc.NameColumn}
			if fp, dup := seen[dc.Name]; dup {
				errs.add(np, path, fmt.Sprintf("%s is set twice (first at %d:%d)", dc.Name, fp.line, fp.col))
				continue
			}
			seen[dc.Name] = np
			d.Vars = append(d.Vars, Var{Name: dc.Name, Value: n.value(), FromContext: dc.Context != "",
				ContextName: dc.Context, Line: np.line, Column: np.col, n: n})
		}
	}
	if extends == nil && len(syntax) == 0 {
		errs.add(pos{1, 1}, "", "no {% extends '<template>.jinja2' %}: a device dictionary in LAVA's form extends exactly one device-type template")
	}
}

// checkText refuses text between tags: Jinja2 would print it into the
// rendered YAML, so only blank lines and YAML comment lines are allowed.
// The first offending line is reported at its first character.
func checkText(dc jinja.Decl, errs *errList) {
	line, col := dc.Line, dc.Column
	for seg := dc.Text; ; {
		l, rest, found := strings.Cut(seg, "\n")
		t := strings.TrimLeft(l, " \t\r\f\v")
		if t != "" && t[0] != '#' {
			errs.add(pos{line, col + len([]rune(l)) - len([]rune(t))}, "",
				fmt.Sprintf("text outside {%% %%} tags: a device dictionary only extends a template and sets variables (%s)", strconv.Quote(truncate(strings.TrimSpace(t), 30))))
			return
		}
		if !found {
			return
		}
		seg, line, col = rest, line+1, 1
	}
}

// problemMessage words why a set statement is refused.
func problemMessage(p *jinja.Problem) string {
	const only = "a value is a literal or NAME | default(VALUE)"
	switch p.Reason {
	case jinja.ReasonVariable:
		return fmt.Sprintf("reading the variable %s is not supported: write %s | default(VALUE) to take it from the job's context", p.Name, p.Name)
	case jinja.ReasonVariableInside:
		return fmt.Sprintf("reading the variable %s inside a value is not supported: values are literals", p.Name)
	case jinja.ReasonFilter:
		return fmt.Sprintf("filter %s is not supported (only NAME | default(VALUE))", p.Name)
	case jinja.ReasonDefaultTarget:
		return "| default(VALUE) follows a variable name, once: NAME | default(VALUE)"
	case jinja.ReasonDefaultMissing:
		return "default needs the value to use when the job's context does not set the variable: NAME | default(VALUE)"
	case jinja.ReasonDefaultExtra:
		return "default takes one value here (its second argument is not supported)"
	case jinja.ReasonKey:
		return "dictionary keys must be quoted strings, got " + p.Name
	case jinja.ReasonDuplicateKey:
		return fmt.Sprintf("key %s appears twice in this dictionary", strconv.Quote(p.Name))
	case jinja.ReasonTargets:
		return "assigning several variables at once is not supported"
	case jinja.ReasonAttribute:
		return "assigning to an attribute is not supported"
	case jinja.ReasonBlockSet:
		return fmt.Sprintf("block assignment {%% set %s %%}…{%% endset %%} is not supported: write {%% set %s = VALUE %%}", p.Name, p.Name)
	case jinja.ReasonExpression:
		return fmt.Sprintf("expressions are not supported: %s (unexpected %s)", only, strconv.Quote(p.Name))
	}
	return "expressions are not supported: " + only
}

// fromLiteral converts an engine literal to a node with positions,
// refusing nesting deeper than MaxDepth.
func fromLiteral(l *jinja.Literal, depth int, path string, errs *errList) (*node, bool) {
	src := lineCol(l.Line, l.Column)
	if depth >= MaxDepth {
		errs.add(pos{l.Line, l.Column}, path, fmt.Sprintf("nesting deeper than %d levels", MaxDepth))
		return nil, false
	}
	switch v := l.Value.(type) {
	case nil:
		return &node{kind: nullNode, src: src}, true
	case string:
		return &node{kind: strNode, src: src, s: v}, true
	case int:
		return &node{kind: intNode, src: src, i: v}, true
	case float64:
		return &node{kind: floatNode, src: src, f: v}, true
	case bool:
		return &node{kind: boolNode, src: src, b: v}, true
	case []any:
		n := &node{kind: listNode, src: src}
		for _, it := range l.Items {
			c, ok := fromLiteral(it, depth+1, path, errs)
			if !ok {
				return nil, false
			}
			n.items = append(n.items, c)
		}
		return n, true
	case map[string]any:
		n := &node{kind: dictNode, src: src}
		for _, e := range l.Entries {
			c, ok := fromLiteral(e.Value, depth+1, path, errs)
			if !ok {
				return nil, false
			}
			n.entries = append(n.entries, entry{key: e.Key, keySrc: lineCol(e.Line, e.Column), val: c})
		}
		return n, true
	}
	errs.add(pos{l.Line, l.Column}, path, fmt.Sprintf("unsupported value %T", l.Value))
	return nil, false
}
