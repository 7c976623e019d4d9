package jinja

import (
	"errors"
	"fmt"
	"sort"
)

// special names the renderer provides itself.
var providedNames = map[string]bool{
	"loop": true, "super": true, "self": true, "caller": true, "varargs": true, "kwargs": true,
	"range": true, "dict": true, "namespace": true,
}

// Undeclared returns the sorted names that the template name, its parents
// (extends) and the templates it includes or imports by constant name may
// read from the render context: names loaded at a point where no
// assignment in scope has set them yet (so "{% set x = x | default(1) %}"
// reports x). It is like jinja2.meta.find_undeclared_variables across the
// extends chain, but flow-aware; device dictionaries set exactly these.
func (e *Env) Undeclared(name string) ([]string, error) {
	seen := map[string]bool{}
	found := map[string]bool{}
	var visit func(n string, depth int) error
	visit = func(n string, depth int) error {
		if seen[n] {
			return nil
		}
		if depth > e.limits.MaxTemplateDepth {
			return &Error{Template: n, Msg: "templates nest too deeply"}
		}
		seen[n] = true
		t, err := e.getTemplate(n)
		if err != nil {
			return wrapLoadErr(n, err)
		}
		var refs []string
		UndeclaredIn(t, found, &refs)
		for _, r := range refs {
			if err := visit(r, depth+1); err != nil {
				if errors.Is(err, ErrNotFound) {
					continue
				}
				return err
			}
		}
		return nil
	}
	if err := visit(name, 0); err != nil {
		return nil, fmt.Errorf("undeclared variables of %s: %w", name, err)
	}
	out := make([]string, 0, len(found))
	for k := range found {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// UndeclaredIn adds to found the context names t may read (see
// Env.Undeclared) and appends to refs the constant template names it
// extends, includes or imports.
func UndeclaredIn(t *Template, found map[string]bool, refs *[]string) {
	w := &metaWalker{found: found, refs: refs}
	w.stmts(t.body, map[string]bool{})
}

type metaWalker struct {
	found map[string]bool
	refs  *[]string
}

func copySet(s map[string]bool) map[string]bool {
	c := make(map[string]bool, len(s))
	for k := range s {
		c[k] = true
	}
	return c
}

func (w *metaWalker) ref(n node) {
	if c, ok := n.(*constExpr); ok {
		if s, ok := c.val.(string); ok {
			*w.refs = append(*w.refs, s)
		}
	}
	if l, ok := n.(*listExpr); ok {
		for _, i := range l.items {
			w.ref(i)
		}
	}
}

func storeNames(n node, scope map[string]bool) {
	switch t := n.(type) {
	case *nameExpr:
		scope[t.name] = true
	case *tupleExpr:
		for _, i := range t.items {
			storeNames(i, scope)
		}
	}
}

// stmts walks body; scope holds the names assigned so far and is updated.
func (w *metaWalker) stmts(body []node, scope map[string]bool) {
	for _, n := range body {
		w.stmt(n, scope)
	}
}

func (w *metaWalker) stmt(n node, scope map[string]bool) {
	switch x := n.(type) {
	case *outputStmt:
		w.expr(x.x, scope)
	case *ifStmt:
		w.expr(x.test, scope)
		branches := []map[string]bool{copySet(scope)}
		w.stmts(x.body, branches[0])
		for _, e := range x.elifs {
			w.expr(e.test, scope)
			b := copySet(scope)
			w.stmts(e.body, b)
			branches = append(branches, b)
		}
		els := copySet(scope)
		w.stmts(x.els, els)
		branches = append(branches, els)
		for k := range branches[0] {
			all := true
			for _, b := range branches[1:] {
				if !b[k] {
					all = false
				}
			}
			if all {
				scope[k] = true
			}
		}
	case *forStmt:
		w.expr(x.iter, scope)
		inner := copySet(scope)
		storeNames(x.target, inner)
		if x.test != nil {
			w.expr(x.test, inner)
		}
		w.stmts(x.body, inner)
		w.stmts(x.els, copySet(scope))
	case *assignStmt:
		w.expr(x.x, scope)
		storeNames(x.target, scope)
	case *assignBlockStmt:
		w.stmts(x.body, copySet(scope))
		if x.filter != nil {
			w.expr(x.filter, scope)
		}
		storeNames(x.target, scope)
	case *blockStmt:
		w.stmts(x.body, map[string]bool{})
	case *extendsStmt:
		w.expr(x.tmpl, scope)
		w.ref(x.tmpl)
	case *includeStmt:
		w.expr(x.tmpl, scope)
		w.ref(x.tmpl)
	case *importStmt:
		w.expr(x.tmpl, scope)
		w.ref(x.tmpl)
		scope[x.target] = true
	case *fromImportStmt:
		w.expr(x.tmpl, scope)
		w.ref(x.tmpl)
		for _, nm := range x.names {
			scope[nm[1]] = true
		}
	case *macroStmt:
		inner := copySet(scope)
		for _, a := range x.args {
			inner[a] = true
		}
		for _, d := range x.defaults {
			w.expr(d, inner)
		}
		w.stmts(x.body, inner)
		scope[x.name] = true
	case *callBlockStmt:
		w.expr(x.call, scope)
		inner := copySet(scope)
		for _, a := range x.args {
			inner[a] = true
		}
		w.stmts(x.body, inner)
	case *filterBlockStmt:
		w.expr(x.filter, scope)
		w.stmts(x.body, copySet(scope))
	case *withStmt:
		inner := copySet(scope)
		for i, t := range x.targets {
			w.expr(x.values[i], scope)
			storeNames(t, inner)
		}
		w.stmts(x.body, inner)
	}
}

func (w *metaWalker) args(ca callArgs, scope map[string]bool) {
	for _, a := range ca.args {
		w.expr(a, scope)
	}
	for _, k := range ca.kwargs {
		w.expr(k.val, scope)
	}
	if ca.dynArgs != nil {
		w.expr(ca.dynArgs, scope)
	}
	if ca.dynKwargs != nil {
		w.expr(ca.dynKwargs, scope)
	}
}

func (w *metaWalker) expr(n node, scope map[string]bool) {
	switch x := n.(type) {
	case nil:
	case *nameExpr:
		if !scope[x.name] && !providedNames[x.name] {
			w.found[x.name] = true
		}
	case *listExpr:
		for _, i := range x.items {
			w.expr(i, scope)
		}
	case *tupleExpr:
		for _, i := range x.items {
			w.expr(i, scope)
		}
	case *dictExpr:
		for i := range x.keys {
			w.expr(x.keys[i], scope)
			w.expr(x.vals[i], scope)
		}
	case *getattrExpr:
		w.expr(x.obj, scope)
	case *getitemExpr:
		w.expr(x.obj, scope)
		w.expr(x.arg, scope)
	case *sliceExpr:
		for _, p := range []node{x.start, x.stop, x.step} {
			if p != nil {
				w.expr(p, scope)
			}
		}
	case *callExpr:
		w.expr(x.fn, scope)
		w.args(x.callArgs, scope)
	case *filterExpr:
		if x.x != nil {
			w.expr(x.x, scope)
		}
		w.args(x.callArgs, scope)
	case *testExpr:
		w.expr(x.x, scope)
		w.args(x.callArgs, scope)
	case *binExpr:
		w.expr(x.l, scope)
		w.expr(x.r, scope)
	case *unaryExpr:
		w.expr(x.x, scope)
	case *compareExpr:
		w.expr(x.first, scope)
		for _, o := range x.ops {
			w.expr(o.x, scope)
		}
	case *concatExpr:
		for _, i := range x.items {
			w.expr(i, scope)
		}
	case *condExpr:
		w.expr(x.test, scope)
		w.expr(x.yes, scope)
		if x.no != nil {
			w.expr(x.no, scope)
		}
	}
}
