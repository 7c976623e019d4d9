package jinja

import (
	"errors"
	"fmt"
	"strings"

	"github.com/basalt-lab/basalt/internal/pyfmt"
)

type state struct {
	env        *Env
	lim        Limits
	out        *strings.Builder
	iterations int
	callDepth  int
	tmplDepth  int
	chain      []string
}

// blockRef is one definition of a block in the extends chain.
type blockRef struct {
	b *blockStmt
	t *Template
}

// ctxt is Jinja2's Context: the variables given to the render, the
// top-level assignments and the block chains.
type ctxt struct {
	st       *state
	base     map[string]any
	vars     map[string]any
	exported []string
	blocks   map[string][]blockRef
}

func newCtxt(st *state, base map[string]any, t *Template) *ctxt {
	c := &ctxt{st: st, base: base, vars: map[string]any{}, blocks: map[string][]blockRef{}}
	for name, b := range t.blocks {
		c.blocks[name] = []blockRef{{b, t}}
	}
	return c
}

type rootState struct {
	parent *Template
}

type frame struct {
	c           *ctxt
	t           *Template
	vars        map[string]any
	parent      *frame
	root        *rootState
	outputCheck bool
	toplevel    bool
}

func (f *frame) inner() *frame {
	return &frame{c: f.c, t: f.t, vars: map[string]any{}, parent: f, root: f.root, outputCheck: f.outputCheck}
}

func (f *frame) lookup(name string) (any, bool) {
	for fr := f; fr != nil; fr = fr.parent {
		if v, ok := fr.vars[name]; ok {
			return v, true
		}
	}
	if v, ok := f.c.vars[name]; ok {
		return v, true
	}
	if v, ok := f.c.base[name]; ok {
		return v, true
	}
	return nil, false
}

func (f *frame) assign(name string, v any) {
	f.vars[name] = v
	if f.toplevel && !strings.HasPrefix(name, "_") {
		found := false
		for _, e := range f.c.exported {
			if e == name {
				found = true
				break
			}
		}
		if !found {
			f.c.exported = append(f.c.exported, name)
		}
	}
}

// flatten returns every visible variable (for include with context and
// scoped blocks).
func (f *frame) flatten() map[string]any {
	m := make(map[string]any, len(f.c.base)+len(f.c.vars))
	for k, v := range f.c.base {
		m[k] = v
	}
	for k, v := range f.c.vars {
		m[k] = v
	}
	var chain []*frame
	for fr := f; fr != nil; fr = fr.parent {
		chain = append(chain, fr)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for k, v := range chain[i].vars {
			m[k] = v
		}
	}
	return m
}

func (st *state) write(s string) error {
	if st.out.Len()+len(s) > st.lim.MaxOutputBytes {
		return limitErr("output exceeds %d bytes", st.lim.MaxOutputBytes)
	}
	st.out.WriteString(s)
	return nil
}

// capture renders fn into a fresh buffer and returns its text.
func (st *state) capture(fn func() error) (string, error) {
	saved := st.out
	var b strings.Builder
	st.out = &b
	err := fn()
	st.out = saved
	return b.String(), err
}

// posErr attaches a position to a Python-level error.
func (f *frame) posErr(n node, err error) error {
	var pe *pyErr
	if errors.As(err, &pe) {
		p := n.position()
		msg := pe.msg
		if pe.kind != "UndefinedError" && pe.kind != "LimitError" && pe.kind != "TemplateError" {
			msg = pe.kind + ": " + pe.msg
		}
		return &Error{Template: f.t.name, Line: p.line, Column: p.col, Msg: msg, Chain: append([]string(nil), f.c.st.chain...)}
	}
	return err
}

func (st *state) enterTemplate(name string) error {
	st.tmplDepth++
	if st.tmplDepth > st.lim.MaxTemplateDepth {
		return limitErr("templates nest deeper than %d (extends/include/import cycle?)", st.lim.MaxTemplateDepth)
	}
	st.chain = append(st.chain, name)
	return nil
}

func (st *state) leaveTemplate() {
	st.tmplDepth--
	st.chain = st.chain[:len(st.chain)-1]
}

// renderRoot runs a template's top-level code with context c, then its
// parent's when it extends one.
func (st *state) renderRoot(t *Template, c *ctxt) error {
	if err := st.enterTemplate(t.name); err != nil {
		return &Error{Template: t.name, Msg: err.(*pyErr).msg, Chain: append([]string(nil), st.chain...)}
	}
	defer st.leaveTemplate()
	rs := &rootState{}
	fr := &frame{c: c, t: t, vars: c.vars, root: rs, outputCheck: t.hasExtends, toplevel: true}
	if err := st.execBody(fr, t.body); err != nil {
		return err
	}
	if rs.parent != nil {
		return st.renderRoot(rs.parent, c)
	}
	return nil
}

func (st *state) execBody(f *frame, body []node) error {
	for _, n := range body {
		if err := st.exec(f, n); err != nil {
			return err
		}
	}
	return nil
}

func (f *frame) suppressed() bool { return f.outputCheck && f.root != nil && f.root.parent != nil }

func (st *state) exec(f *frame, n node) error {
	switch x := n.(type) {
	case *dataStmt:
		if f.suppressed() {
			return nil
		}
		return f.posErr(x, st.write(x.text))
	case *outputStmt:
		if f.suppressed() {
			return nil
		}
		v, err := st.eval(f, x.x)
		if err != nil {
			return err
		}
		return f.posErr(x, st.write(pyStr(v)))
	case *ifStmt:
		v, err := st.eval(f, x.test)
		if err != nil {
			return err
		}
		if truth(v) {
			return st.execBody(f, x.body)
		}
		for _, e := range x.elifs {
			v, err := st.eval(f, e.test)
			if err != nil {
				return err
			}
			if truth(v) {
				return st.execBody(f, e.body)
			}
		}
		return st.execBody(f, x.els)
	case *forStmt:
		return st.execFor(f, x)
	case *assignStmt:
		v, err := st.eval(f, x.x)
		if err != nil {
			return err
		}
		return f.posErr(x, st.assignTarget(f, x.target, v))
	case *assignBlockStmt:
		inner := f.inner()
		inner.outputCheck = false
		s, err := st.capture(func() error { return st.execBody(inner, x.body) })
		if err != nil {
			return err
		}
		var v any = s
		if x.filter != nil {
			v, err = st.applyFilterChain(f, x.filter, s)
			if err != nil {
				return err
			}
		}
		return f.posErr(x, st.assignTarget(f, x.target, v))
	case *blockStmt:
		if f.suppressed() {
			return nil
		}
		if f.toplevel && f.root.parent != nil {
			return nil
		}
		var scope *frame
		if x.scoped {
			scope = f
		}
		return f.posErr(x, st.renderBlock(f.c, x.name, 0, scope))
	case *extendsStmt:
		if f.root == nil {
			return f.posErr(x, &pyErr{"TemplateError", "extends is only allowed at the top level of a template"})
		}
		if f.root.parent != nil {
			return f.posErr(x, &pyErr{"TemplateError", "extended multiple times"})
		}
		v, err := st.eval(f, x.tmpl)
		if err != nil {
			return err
		}
		pt, err := st.loadTemplateValue(f, x, v)
		if err != nil {
			return err
		}
		for _, name := range sortedBlockNames(pt) {
			f.c.blocks[name] = append(f.c.blocks[name], blockRef{pt.blocks[name], pt})
		}
		f.root.parent = pt
		return nil
	case *includeStmt:
		return st.execInclude(f, x)
	case *importStmt:
		v, err := st.eval(f, x.tmpl)
		if err != nil {
			return err
		}
		m, err := st.importModule(f, x, v, x.withContext)
		if err != nil {
			return err
		}
		f.assign(x.target, m)
		return nil
	case *fromImportStmt:
		v, err := st.eval(f, x.tmpl)
		if err != nil {
			return err
		}
		m, err := st.importModule(f, x, v, x.withContext)
		if err != nil {
			return err
		}
		for _, nm := range x.names {
			if val, ok := m.d.Get(nm[0]); ok {
				f.assign(nm[1], val)
			} else {
				f.assign(nm[1], &Undefined{Hint: fmt.Sprintf("the template %s (imported on line %d) does not export the requested name %s", pyfmt.StrRepr(m.name), x.line, pyfmt.StrRepr(nm[0])), Name: nm[0]})
			}
		}
		return nil
	case *macroStmt:
		m := &Macro{name: x.name, args: x.args, defaults: x.defaults, body: x.body, closure: f}
		f.assign(x.name, m)
		return nil
	case *callBlockStmt:
		if f.suppressed() {
			return nil
		}
		caller := &Macro{name: "caller", args: x.args, defaults: x.defaults, body: x.body, closure: f}
		v, err := st.evalCall(f, x.call, caller)
		if err != nil {
			return err
		}
		return f.posErr(x, st.write(pyStr(v)))
	case *filterBlockStmt:
		inner := f.inner()
		s, err := st.capture(func() error { return st.execBody(inner, x.body) })
		if err != nil {
			return err
		}
		if f.suppressed() {
			return nil
		}
		v, err := st.applyFilterChain(f, x.filter, s)
		if err != nil {
			return err
		}
		return f.posErr(x, st.write(pyStr(v)))
	case *withStmt:
		vals := make([]any, len(x.values))
		for i, vn := range x.values {
			v, err := st.eval(f, vn)
			if err != nil {
				return err
			}
			vals[i] = v
		}
		inner := f.inner()
		for i, t := range x.targets {
			if err := st.assignTarget(inner, t, vals[i]); err != nil {
				return f.posErr(x, err)
			}
		}
		return st.execBody(inner, x.body)
	}
	return fmt.Errorf("jinja: unknown node %T", n)
}

func sortedBlockNames(t *Template) []string {
	names := make([]string, 0, len(t.blocks))
	for k := range t.blocks {
		names = append(names, k)
	}
	// order does not matter for lookups; sorted for determinism
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return names
}

func (st *state) loadTemplateValue(f *frame, n node, v any) (*Template, error) {
	var names []any
	switch x := v.(type) {
	case string:
		names = []any{x}
	case *List:
		names = x.Items
	case Tuple:
		names = x
	case *Undefined:
		return nil, f.posErr(n, x.fail())
	default:
		return nil, f.posErr(n, typeErr("template name must be a string, not %s", typeName(v)))
	}
	var lastErr error
	for _, nv := range names {
		name, ok := nv.(string)
		if !ok {
			return nil, f.posErr(n, typeErr("template name must be a string, not %s", typeName(nv)))
		}
		t, err := st.env.getTemplate(name)
		if err == nil {
			return t, nil
		}
		lastErr = err
		if !errors.Is(err, ErrNotFound) {
			break
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no template names given: %w", ErrNotFound)
	}
	var je *Error
	if errors.As(lastErr, &je) {
		return nil, lastErr
	}
	p := n.position()
	return nil, &Error{Template: f.t.name, Line: p.line, Column: p.col, Msg: lastErr.Error(), Chain: append([]string(nil), st.chain...), cause: lastErr}
}

func (st *state) execInclude(f *frame, x *includeStmt) error {
	v, err := st.eval(f, x.tmpl)
	if err != nil {
		return err
	}
	t, err := st.loadTemplateValue(f, x, v)
	if err != nil {
		if x.ignoreMissing && errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	var base map[string]any
	if x.withContext {
		base = f.flatten()
	} else {
		base = map[string]any{}
		for k, v := range globals {
			base[k] = v
		}
	}
	return st.renderRoot(t, newCtxt(st, base, t))
}

// module is the value of {% import %}: the exported names of a template.
type module struct {
	name string
	d    *Dict
	body string
}

func (st *state) importModule(f *frame, n node, v any, withContext bool) (*module, error) {
	t, err := st.loadTemplateValue(f, n, v)
	if err != nil {
		return nil, err
	}
	var base map[string]any
	if withContext {
		base = f.flatten()
	} else {
		base = map[string]any{}
		for k, v := range globals {
			base[k] = v
		}
	}
	c := newCtxt(st, base, t)
	body, err := st.capture(func() error { return st.renderRoot(t, c) })
	if err != nil {
		return nil, err
	}
	m := &module{name: t.name, d: NewDict(), body: body}
	for _, k := range c.exported {
		_ = m.d.Set(k, c.vars[k])
	}
	return m, nil
}

func (st *state) enterCall() error {
	st.callDepth++
	if st.callDepth > st.lim.MaxCallDepth {
		return limitErr("macro calls and blocks nest deeper than %d", st.lim.MaxCallDepth)
	}
	return nil
}

// renderBlock renders the idx-th definition of block name into the current
// output.
func (st *state) renderBlock(c *ctxt, name string, idx int, scope *frame) error {
	refs := c.blocks[name]
	if idx >= len(refs) {
		return &pyErr{"TemplateError", fmt.Sprintf("there is no parent block called %s.", pyfmt.StrRepr(name))}
	}
	if err := st.enterCall(); err != nil {
		return err
	}
	defer func() { st.callDepth-- }()
	ref := refs[idx]
	f := &frame{c: c, t: ref.t, vars: map[string]any{}}
	if scope != nil {
		f.vars = scope.flatten()
	}
	f.vars["super"] = callable(func(st *state, args []any, kw *Dict) (any, error) {
		if idx+1 >= len(c.blocks[name]) {
			return nil, undefErr("there is no parent block called %s.", pyfmt.StrRepr(name))
		}
		return st.capture(func() error { return st.renderBlock(c, name, idx+1, scope) })
	})
	return st.execBody(f, ref.b.body)
}

// selfRef is the value of "self": self.name() renders block name.
type selfRef struct{ c *ctxt }

func (st *state) assignTarget(f *frame, target node, v any) error {
	switch t := target.(type) {
	case *nameExpr:
		f.assign(t.name, v)
		return nil
	case *nsRef:
		nv, ok := f.lookup(t.name)
		ns, isNS := nv.(*Namespace)
		if !ok || !isNS {
			return &pyErr{"TemplateError", "cannot assign attribute on non-namespace object"}
		}
		return ns.d.Set(t.attr, v)
	case *tupleExpr:
		items, err := iterate(v)
		if err != nil {
			return typeErr("cannot unpack non-iterable %s object", typeName(v))
		}
		if len(items) < len(t.items) {
			return valueErr("not enough values to unpack (expected %d, got %d)", len(t.items), len(items))
		}
		if len(items) > len(t.items) {
			return valueErr("too many values to unpack (expected %d)", len(t.items))
		}
		for i, sub := range t.items {
			if err := st.assignTarget(f, sub, items[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return typeErr("cannot assign")
}

// loopObj is the "loop" variable of a for loop.
type loopObj struct {
	items   []any
	index0  int
	depth0  int
	last    any // value of loop.changed's previous arguments
	hasLast bool
	recurse func(st *state, v any) (any, error)
}

func (st *state) execFor(f *frame, x *forStmt) error {
	iv, err := st.eval(f, x.iter)
	if err != nil {
		return err
	}
	return st.runLoop(f, x, iv, 0)
}

func (st *state) runLoop(f *frame, x *forStmt, iv any, depth int) error {
	items, err := iterate(iv)
	if err != nil {
		return f.posErr(x, err)
	}
	lf := f.inner()
	if x.test != nil {
		var kept []any
		for _, it := range items {
			if err := st.tick(); err != nil {
				return f.posErr(x, err)
			}
			if err := st.assignTarget(lf, x.target, it); err != nil {
				return f.posErr(x, err)
			}
			v, err := st.eval(lf, x.test)
			if err != nil {
				return err
			}
			if truth(v) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	lo := &loopObj{items: items, depth0: depth}
	if x.recursive {
		lo.recurse = func(st *state, v any) (any, error) {
			if err := st.enterCall(); err != nil {
				return nil, err
			}
			defer func() { st.callDepth-- }()
			return st.capture(func() error { return st.runLoop(f, x, v, depth+1) })
		}
	}
	for i, it := range items {
		if err := st.tick(); err != nil {
			return f.posErr(x, err)
		}
		lo.index0 = i
		// Jinja2 enters the loop body's frame on every iteration: names
		// set in the body start again from the enclosing scope.
		lf := f.inner()
		lf.vars["loop"] = lo
		if err := st.assignTarget(lf, x.target, it); err != nil {
			return f.posErr(x, err)
		}
		if err := st.execBody(lf, x.body); err != nil {
			return err
		}
	}
	if len(items) == 0 {
		ef := f.inner()
		return st.execBody(ef, x.els)
	}
	return nil
}

func (st *state) tick() error {
	st.iterations++
	if st.iterations > st.lim.MaxIterations {
		return limitErr("more than %d loop iterations", st.lim.MaxIterations)
	}
	return nil
}

// Macro is a macro defined with {% macro %} (or the caller of a call block).
type Macro struct {
	name     string
	args     []string
	defaults []node
	body     []node
	closure  *frame
}

func (st *state) callMacro(m *Macro, args []any, kw *Dict, caller *Macro) (any, error) {
	if err := st.enterCall(); err != nil {
		return nil, err
	}
	defer func() { st.callDepth-- }()
	f := m.closure.inner()
	f.outputCheck = false
	f.toplevel = false
	f.root = nil
	nd := len(m.args) - len(m.defaults)
	var varargs []any
	kwargs := NewDict()
	if kw != nil {
		kwargs = kw.copy()
	}
	for i, a := range m.args {
		if i < len(args) {
			f.vars[a] = args[i]
			if _, dup := kwargs.Get(a); dup {
				return nil, typeErr("macro %s got multiple values for argument %s", pyfmt.StrRepr(m.name), pyfmt.StrRepr(a))
			}
			continue
		}
		if v, ok := kwargs.Get(a); ok {
			f.vars[a] = v
			kwargs.del(a)
			continue
		}
		if i >= nd {
			v, err := st.eval(f, m.defaults[i-nd])
			if err != nil {
				return nil, err
			}
			f.vars[a] = v
			continue
		}
		f.vars[a] = &Undefined{Hint: fmt.Sprintf("parameter %s was not provided", pyfmt.StrRepr(a)), Name: a}
	}
	if len(args) > len(m.args) {
		varargs = args[len(m.args):]
	}
	if v, ok := kwargs.Get("caller"); ok {
		f.vars["caller"] = v
		kwargs.del("caller")
	} else if caller != nil {
		f.vars["caller"] = caller
	}
	f.vars["varargs"] = Tuple(varargs)
	f.vars["kwargs"] = kwargs
	return st.capture(func() error { return st.execBody(f, m.body) })
}
