package jinja

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/pyfmt"
)

// callable is a Go function callable from templates (methods, globals).
type callable func(st *state, args []any, kw *Dict) (any, error)

func (st *state) eval(f *frame, n node) (any, error) {
	v, err := st.eval1(f, n)
	if err != nil {
		return nil, f.posErr(n, err)
	}
	return v, nil
}

func (st *state) eval1(f *frame, n node) (any, error) {
	switch x := n.(type) {
	case *constExpr:
		return x.val, nil
	case *nameExpr:
		if v, ok := f.lookup(x.name); ok {
			return v, nil
		}
		if x.name == "self" {
			return &selfRef{f.c}, nil
		}
		return &Undefined{Name: x.name}, nil
	case *listExpr:
		l := &List{Items: make([]any, 0, len(x.items))}
		for _, it := range x.items {
			v, err := st.eval(f, it)
			if err != nil {
				return nil, err
			}
			l.Items = append(l.Items, v)
		}
		return l, nil
	case *tupleExpr:
		t := make(Tuple, 0, len(x.items))
		for _, it := range x.items {
			v, err := st.eval(f, it)
			if err != nil {
				return nil, err
			}
			t = append(t, v)
		}
		return t, nil
	case *dictExpr:
		d := NewDict()
		for i := range x.keys {
			k, err := st.eval(f, x.keys[i])
			if err != nil {
				return nil, err
			}
			v, err := st.eval(f, x.vals[i])
			if err != nil {
				return nil, err
			}
			if err := d.Set(k, v); err != nil {
				return nil, err
			}
		}
		return d, nil
	case *getattrExpr:
		o, err := st.eval(f, x.obj)
		if err != nil {
			return nil, err
		}
		return st.getattr(o, x.attr)
	case *getitemExpr:
		o, err := st.eval(f, x.obj)
		if err != nil {
			return nil, err
		}
		if s, ok := x.arg.(*sliceExpr); ok {
			return st.evalSlice(f, o, s)
		}
		a, err := st.eval(f, x.arg)
		if err != nil {
			return nil, err
		}
		return st.getitem(o, a)
	case *callExpr:
		return st.evalCall(f, x, nil)
	case *filterExpr:
		return st.applyFilterChain(f, x, nil)
	case *testExpr:
		v, err := st.eval(f, x.x)
		if err != nil {
			return nil, err
		}
		args, kw, err := st.evalArgs(f, x.callArgs)
		if err != nil {
			return nil, err
		}
		return tests[x.name](st, v, args, kw)
	case *binExpr:
		l, err := st.eval(f, x.l)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "and":
			if !truth(l) {
				return l, nil
			}
			return st.eval(f, x.r)
		case "or":
			if truth(l) {
				return l, nil
			}
			return st.eval(f, x.r)
		}
		r, err := st.eval(f, x.r)
		if err != nil {
			return nil, err
		}
		return st.binop(x.op, l, r)
	case *unaryExpr:
		v, err := st.eval(f, x.x)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "not":
			return !truth(v), nil
		case "-":
			switch y := v.(type) {
			case bool:
				if y {
					return int64(-1), nil
				}
				return int64(0), nil
			case int64:
				if y == math.MinInt64 {
					return nil, &pyErr{"OverflowError", "integer overflow"}
				}
				return -y, nil
			case float64:
				return -y, nil
			case *Undefined:
				return nil, y.fail()
			}
			return nil, typeErr("bad operand type for unary -: '%s'", typeName(v))
		case "+":
			switch y := v.(type) {
			case bool:
				if y {
					return int64(1), nil
				}
				return int64(0), nil
			case int64, float64:
				return y, nil
			case *Undefined:
				return nil, y.fail()
			}
			return nil, typeErr("bad operand type for unary +: '%s'", typeName(v))
		}
	case *compareExpr:
		l, err := st.eval(f, x.first)
		if err != nil {
			return nil, err
		}
		for _, op := range x.ops {
			r, err := st.eval(f, op.x)
			if err != nil {
				return nil, err
			}
			ok, err := compareValues(op.op, l, r)
			if err != nil {
				return nil, err
			}
			if !ok {
				return false, nil
			}
			l = r
		}
		return true, nil
	case *concatExpr:
		var b strings.Builder
		for _, it := range x.items {
			v, err := st.eval(f, it)
			if err != nil {
				return nil, err
			}
			b.WriteString(pyStr(v))
			if b.Len() > st.lim.MaxOutputBytes {
				return nil, limitErr("string exceeds %d bytes", st.lim.MaxOutputBytes)
			}
		}
		return b.String(), nil
	case *condExpr:
		t, err := st.eval(f, x.test)
		if err != nil {
			return nil, err
		}
		if truth(t) {
			return st.eval(f, x.yes)
		}
		if x.no == nil {
			return &Undefined{Hint: fmt.Sprintf("the inline if-expression on line %d evaluated to false and no else section was defined.", x.line)}, nil
		}
		return st.eval(f, x.no)
	}
	return nil, fmt.Errorf("jinja: cannot evaluate %T", n)
}

func compareValues(op string, l, r any) (bool, error) {
	switch op {
	case "eq":
		return pyEqual(l, r), nil
	case "ne":
		return !pyEqual(l, r), nil
	case "in":
		return contains(r, l)
	case "notin":
		ok, err := contains(r, l)
		return !ok, err
	}
	sym := map[string]string{"lt": "<", "lteq": "<=", "gt": ">", "gteq": ">="}[op]
	c, err := pyCompare(l, r, sym)
	if err != nil {
		return false, err
	}
	if c == 2 {
		return false, nil
	}
	switch op {
	case "lt":
		return c < 0, nil
	case "lteq":
		return c <= 0, nil
	case "gt":
		return c > 0, nil
	}
	return c >= 0, nil
}

func (st *state) evalArgs(f *frame, ca callArgs) ([]any, *Dict, error) {
	var args []any
	for _, a := range ca.args {
		v, err := st.eval(f, a)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, v)
	}
	if ca.dynArgs != nil {
		v, err := st.eval(f, ca.dynArgs)
		if err != nil {
			return nil, nil, err
		}
		items, err := iterate(v)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, items...)
	}
	var kw *Dict
	if len(ca.kwargs) > 0 || ca.dynKwargs != nil {
		kw = NewDict()
		for _, k := range ca.kwargs {
			v, err := st.eval(f, k.val)
			if err != nil {
				return nil, nil, err
			}
			_ = kw.Set(k.name, v)
		}
		if ca.dynKwargs != nil {
			v, err := st.eval(f, ca.dynKwargs)
			if err != nil {
				return nil, nil, err
			}
			d, ok := v.(*Dict)
			if !ok {
				return nil, nil, typeErr("argument after ** must be a mapping, not %s", typeName(v))
			}
			for i, k := range d.keys {
				if _, ok := k.(string); !ok {
					return nil, nil, typeErr("keywords must be strings")
				}
				_ = kw.Set(k, d.vals[i])
			}
		}
	}
	return args, kw, nil
}

func (st *state) evalCall(f *frame, c *callExpr, caller *Macro) (any, error) {
	fn, err := st.eval(f, c.fn)
	if err != nil {
		return nil, err
	}
	args, kw, err := st.evalArgs(f, c.callArgs)
	if err != nil {
		return nil, err
	}
	v, err := st.call(fn, args, kw, caller)
	if err != nil {
		return nil, f.posErr(c, err)
	}
	return v, nil
}

func (st *state) call(fn any, args []any, kw *Dict, caller *Macro) (any, error) {
	switch x := fn.(type) {
	case *Macro:
		return st.callMacro(x, args, kw, caller)
	case callable:
		return x(st, args, kw)
	case *loopObj:
		if x.recurse == nil {
			return nil, typeErr("The loop must be marked as 'recursive' to be called recursively.")
		}
		if len(args) != 1 {
			return nil, typeErr("loop() takes exactly one argument")
		}
		return x.recurse(st, args[0])
	case *Undefined:
		return nil, x.fail()
	}
	return nil, typeErr("'%s' object is not callable", typeName(fn))
}

// applyFilterChain evaluates a chain of filters whose innermost value is
// base (for filter blocks and set blocks) or the chain's own expression.
func (st *state) applyFilterChain(f *frame, n node, base any) (any, error) {
	fe, ok := n.(*filterExpr)
	if !ok {
		return st.eval(f, n)
	}
	var v any
	var err error
	if fe.x == nil {
		v = base
	} else {
		v, err = st.applyFilterChain(f, fe.x, base)
		if err != nil {
			return nil, err
		}
	}
	args, kw, err := st.evalArgs(f, fe.callArgs)
	if err != nil {
		return nil, err
	}
	fn := st.env.filters[fe.name]
	r, err := fn(st, v, args, kw)
	if err != nil {
		return nil, f.posErr(fe, err)
	}
	return r, nil
}

func (st *state) evalSlice(f *frame, o any, s *sliceExpr) (any, error) {
	var idx [3]any
	for i, n := range []node{s.start, s.stop, s.step} {
		if n == nil {
			idx[i] = nil
			continue
		}
		v, err := st.eval(f, n)
		if err != nil {
			return nil, err
		}
		idx[i] = v
	}
	return sliceValue(o, idx[0], idx[1], idx[2])
}

func sliceIndices(n int, start, stop, step any) ([]int, error) {
	toIdx := func(v any) (int64, bool, error) {
		if v == nil {
			return 0, false, nil
		}
		i, ok := asInt(v)
		if !ok {
			return 0, false, typeErr("slice indices must be integers or None or have an __index__ method")
		}
		return i, true, nil
	}
	st, hasStep, err := toIdx(step)
	if err != nil {
		return nil, err
	}
	if !hasStep {
		st = 1
	}
	if st == 0 {
		return nil, valueErr("slice step cannot be zero")
	}
	a, hasA, err := toIdx(start)
	if err != nil {
		return nil, err
	}
	b, hasB, err := toIdx(stop)
	if err != nil {
		return nil, err
	}
	ln := int64(n)
	clamp := func(v int64, lo, hi int64) int64 {
		if v < 0 {
			v += ln
			if v < lo {
				v = lo
			}
		} else if v > hi {
			v = hi
		}
		return v
	}
	var out []int
	if st > 0 {
		if !hasA {
			a = 0
		} else {
			a = clamp(a, 0, ln)
		}
		if !hasB {
			b = ln
		} else {
			b = clamp(b, 0, ln)
		}
		for i := a; i < b; i += st {
			out = append(out, int(i))
		}
	} else {
		if !hasA {
			a = ln - 1
		} else {
			a = clamp(a, -1, ln-1)
		}
		if !hasB {
			b = -1
		} else {
			b = clamp(b, -1, ln-1)
		}
		for i := a; i > b; i += st {
			out = append(out, int(i))
		}
	}
	return out, nil
}

func sliceValue(o, start, stop, step any) (any, error) {
	switch x := o.(type) {
	case string:
		rs := []rune(x)
		idx, err := sliceIndices(len(rs), start, stop, step)
		if err != nil {
			return nil, err
		}
		out := make([]rune, len(idx))
		for i, j := range idx {
			out[i] = rs[j]
		}
		return string(out), nil
	case *List, Tuple:
		items, _ := iterate(x)
		idx, err := sliceIndices(len(items), start, stop, step)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(idx))
		for i, j := range idx {
			out[i] = items[j]
		}
		if _, ok := x.(Tuple); ok {
			return Tuple(out), nil
		}
		return &List{Items: out}, nil
	case *Undefined:
		return nil, x.fail()
	}
	return &Undefined{Obj: o, HasObj: true, Name: "slice"}, nil
}

// getitem is Jinja2's Environment.getitem: subscription, then attribute.
func (st *state) getitem(o, key any) (any, error) {
	switch x := o.(type) {
	case *Undefined:
		return nil, x.fail()
	case *Dict:
		if v, ok := x.Get(key); ok {
			return v, nil
		}
	case *List:
		if i, ok := asInt(key); ok {
			if i < 0 {
				i += int64(len(x.Items))
			}
			if i >= 0 && i < int64(len(x.Items)) {
				return x.Items[i], nil
			}
		}
	case Tuple:
		if i, ok := asInt(key); ok {
			if i < 0 {
				i += int64(len(x))
			}
			if i >= 0 && i < int64(len(x)) {
				return x[i], nil
			}
		}
	case string:
		if i, ok := asInt(key); ok {
			rs := []rune(x)
			if i < 0 {
				i += int64(len(rs))
			}
			if i >= 0 && i < int64(len(rs)) {
				return string(rs[i]), nil
			}
		}
	case *Namespace:
		// Namespace supports attribute access only
	case *module:
		// modules have attributes only
	}
	if s, ok := key.(string); ok {
		if v, ok := st.pyAttr(o, s); ok {
			return v, nil
		}
		if strings.HasPrefix(s, "_") {
			return unsafeUndefined(o, s), nil
		}
	}
	return &Undefined{Obj: o, HasObj: true, Name: key}, nil
}

func unsafeUndefined(o any, attr string) *Undefined {
	return &Undefined{Hint: fmt.Sprintf("access to attribute %s of %s object is unsafe.", pyfmt.StrRepr(attr), pyfmt.StrRepr(typeName(o))), Obj: o, HasObj: true, Name: attr}
}

// getattr is Jinja2's sandboxed Environment.getattr: attribute, then item.
func (st *state) getattr(o any, attr string) (any, error) {
	if u, ok := o.(*Undefined); ok {
		return nil, u.fail()
	}
	if strings.HasPrefix(attr, "_") {
		return unsafeUndefined(o, attr), nil
	}
	if v, ok := st.pyAttr(o, attr); ok {
		return v, nil
	}
	switch x := o.(type) {
	case *Dict:
		if v, ok := x.Get(attr); ok {
			return v, nil
		}
	}
	return &Undefined{Obj: o, HasObj: true, Name: attr}, nil
}

// pyAttr returns a Python attribute of o (methods, loop fields, namespace
// and module members).
func (st *state) pyAttr(o any, attr string) (any, bool) {
	switch x := o.(type) {
	case *Namespace:
		return x.d.Get(attr)
	case *module:
		return x.d.Get(attr)
	case *selfRef:
		if _, ok := x.c.blocks[attr]; !ok {
			return nil, false
		}
		c := x.c
		return callable(func(st *state, args []any, kw *Dict) (any, error) {
			return st.capture(func() error { return st.renderBlock(c, attr, 0, nil) })
		}), true
	case *loopObj:
		return x.attr(attr)
	case *Macro:
		switch attr {
		case "name":
			return x.name, true
		case "arguments":
			t := make(Tuple, len(x.args))
			for i, a := range x.args {
				t[i] = a
			}
			return t, true
		}
		return nil, false
	case *Dict, *List, string:
		m := methodFor(o, attr)
		if m == nil {
			return nil, false
		}
		return m, true
	}
	return nil, false
}

func (lo *loopObj) attr(name string) (any, bool) {
	n := len(lo.items)
	i := lo.index0
	switch name {
	case "index":
		return int64(i + 1), true
	case "index0":
		return int64(i), true
	case "revindex":
		return int64(n - i), true
	case "revindex0":
		return int64(n - i - 1), true
	case "first":
		return i == 0, true
	case "last":
		return i == n-1, true
	case "length":
		return int64(n), true
	case "depth":
		return int64(lo.depth0 + 1), true
	case "depth0":
		return int64(lo.depth0), true
	case "previtem":
		if i == 0 {
			return &Undefined{Hint: "there is no previous item", Name: "previtem"}, true
		}
		return lo.items[i-1], true
	case "nextitem":
		if i+1 >= n {
			return &Undefined{Hint: "there is no next item", Name: "nextitem"}, true
		}
		return lo.items[i+1], true
	case "cycle":
		return callable(func(st *state, args []any, kw *Dict) (any, error) {
			if len(args) == 0 {
				return nil, typeErr("no items for cycling given")
			}
			return args[lo.index0%len(args)], nil
		}), true
	case "changed":
		return callable(func(st *state, args []any, kw *Dict) (any, error) {
			t := Tuple(args)
			if !lo.hasLast || !pyEqual(lo.last, t) {
				lo.last = t
				lo.hasLast = true
				return true, nil
			}
			return false, nil
		}), true
	}
	return nil, false
}

func (st *state) checkLen(n int) error {
	if n > st.lim.MaxOutputBytes {
		return limitErr("value exceeds %d bytes", st.lim.MaxOutputBytes)
	}
	return nil
}

// binop evaluates + - * / // % ** with Python semantics.
func (st *state) binop(op string, l, r any) (any, error) {
	if u, ok := l.(*Undefined); ok {
		return nil, u.fail()
	}
	if u, ok := r.(*Undefined); ok {
		return nil, u.fail()
	}
	if isNumber(l) && isNumber(r) {
		return numOp(op, l, r)
	}
	switch op {
	case "+":
		switch x := l.(type) {
		case string:
			if y, ok := r.(string); ok {
				if err := st.checkLen(len(x) + len(y)); err != nil {
					return nil, err
				}
				return x + y, nil
			}
			return nil, typeErr("can only concatenate str (not \"%s\") to str", typeName(r))
		case *List:
			if y, ok := r.(*List); ok {
				if err := st.checkLen(len(x.Items) + len(y.Items)); err != nil {
					return nil, err
				}
				return &List{Items: append(append([]any(nil), x.Items...), y.Items...)}, nil
			}
			return nil, typeErr("can only concatenate list (not \"%s\") to list", typeName(r))
		case Tuple:
			if y, ok := r.(Tuple); ok {
				if err := st.checkLen(len(x) + len(y)); err != nil {
					return nil, err
				}
				return append(append(Tuple(nil), x...), y...), nil
			}
			return nil, typeErr("can only concatenate tuple (not \"%s\") to tuple", typeName(r))
		}
	case "*":
		seq, n := l, r
		if _, ok := asInt(l); ok {
			seq, n = r, l
		}
		if k, ok := asInt(n); ok {
			if k < 0 {
				k = 0
			}
			switch x := seq.(type) {
			case string:
				if err := st.checkLen(len(x) * int(min(k, int64(st.lim.MaxOutputBytes)+1))); err != nil {
					return nil, err
				}
				return strings.Repeat(x, int(k)), nil
			case *List:
				if err := st.checkLen(len(x.Items) * int(min(k, int64(st.lim.MaxOutputBytes)+1))); err != nil {
					return nil, err
				}
				out := make([]any, 0, len(x.Items)*int(k))
				for i := int64(0); i < k; i++ {
					out = append(out, x.Items...)
				}
				return &List{Items: out}, nil
			case Tuple:
				if err := st.checkLen(len(x) * int(min(k, int64(st.lim.MaxOutputBytes)+1))); err != nil {
					return nil, err
				}
				out := make(Tuple, 0, len(x)*int(k))
				for i := int64(0); i < k; i++ {
					out = append(out, x...)
				}
				return out, nil
			}
		}
		if _, ok := l.(string); ok {
			return nil, typeErr("can't multiply sequence by non-int of type '%s'", typeName(r))
		}
	case "%":
		if s, ok := l.(string); ok {
			return percentFormat(s, r)
		}
	}
	return nil, typeErr("unsupported operand type(s) for %s: '%s' and '%s'", op, typeName(l), typeName(r))
}

func numOp(op string, l, r any) (any, error) {
	li, lok := asInt(l)
	ri, rok := asInt(r)
	if lok && rok {
		switch op {
		case "+":
			s := li + ri
			if (s > li) != (ri > 0) {
				return nil, &pyErr{"OverflowError", "integer overflow"}
			}
			return s, nil
		case "-":
			s := li - ri
			if (s < li) != (ri > 0) {
				return nil, &pyErr{"OverflowError", "integer overflow"}
			}
			return s, nil
		case "*":
			if li != 0 && ri != 0 {
				p := li * ri
				if p/ri != li || (li == -1 && ri == math.MinInt64) || (ri == -1 && li == math.MinInt64) {
					return nil, &pyErr{"OverflowError", "integer overflow"}
				}
				return p, nil
			}
			return int64(0), nil
		case "/":
			if ri == 0 {
				return nil, &pyErr{"ZeroDivisionError", "division by zero"}
			}
			return float64(li) / float64(ri), nil
		case "//":
			if ri == 0 {
				return nil, &pyErr{"ZeroDivisionError", "integer division or modulo by zero"}
			}
			if li == math.MinInt64 && ri == -1 {
				return nil, &pyErr{"OverflowError", "integer overflow"}
			}
			q := li / ri
			if (li%ri != 0) && ((li < 0) != (ri < 0)) {
				q--
			}
			return q, nil
		case "%":
			if ri == 0 {
				return nil, &pyErr{"ZeroDivisionError", "integer division or modulo by zero"}
			}
			if ri == -1 {
				return int64(0), nil
			}
			m := li % ri
			if m != 0 && ((m < 0) != (ri < 0)) {
				m += ri
			}
			return m, nil
		case "**":
			if ri < 0 {
				if li == 0 {
					return nil, &pyErr{"ZeroDivisionError", "0.0 cannot be raised to a negative power"}
				}
				return math.Pow(float64(li), float64(ri)), nil
			}
			res := int64(1)
			base := li
			e := ri
			for e > 0 {
				if e&1 == 1 {
					n := res * base
					if base != 0 && n/base != res {
						return nil, &pyErr{"OverflowError", "integer overflow"}
					}
					res = n
				}
				e >>= 1
				if e > 0 {
					n := base * base
					if base != 0 && n/base != base {
						return nil, &pyErr{"OverflowError", "integer overflow"}
					}
					base = n
				}
			}
			return res, nil
		}
	}
	a, b := toFloat(l), toFloat(r)
	switch op {
	case "+":
		return a + b, nil
	case "-":
		return a - b, nil
	case "*":
		return a * b, nil
	case "/":
		if b == 0 {
			return nil, &pyErr{"ZeroDivisionError", "float division by zero"}
		}
		return a / b, nil
	case "//":
		if b == 0 {
			return nil, &pyErr{"ZeroDivisionError", "float floor division by zero"}
		}
		return math.Floor(a / b), nil
	case "%":
		if b == 0 {
			return nil, &pyErr{"ZeroDivisionError", "float modulo"}
		}
		m := math.Mod(a, b)
		if m != 0 && ((m < 0) != (b < 0)) {
			m += b
		}
		return m, nil
	case "**":
		if a == 0 && b < 0 {
			return nil, &pyErr{"ZeroDivisionError", "0.0 cannot be raised to a negative power"}
		}
		if a < 0 && b != math.Trunc(b) {
			return nil, valueErr("complex results are not supported")
		}
		r := math.Pow(a, b)
		if math.IsInf(r, 0) && !math.IsInf(a, 0) {
			return nil, &pyErr{"OverflowError", "(34, 'Numerical result out of range')"}
		}
		return r, nil
	}
	return nil, typeErr("unsupported operand")
}

// percentFormat is Python's str % args for the common conversions.
func percentFormat(format string, arg any) (any, error) {
	var args []any
	var mapping *Dict
	switch a := arg.(type) {
	case Tuple:
		args = a
	case *Dict:
		mapping = a
		args = []any{a}
	default:
		args = []any{a}
	}
	var b strings.Builder
	ai := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return nil, valueErr("incomplete format")
		}
		var val any
		haveVal := false
		if format[i] == '(' {
			end := strings.IndexByte(format[i:], ')')
			if end < 0 || mapping == nil {
				return nil, typeErr("format requires a mapping")
			}
			key := format[i+1 : i+end]
			v, ok := mapping.Get(key)
			if !ok {
				return nil, &pyErr{"KeyError", pyfmt.StrRepr(key)}
			}
			val, haveVal = v, true
			i += end + 1
		}
		start := i
		for i < len(format) && strings.IndexByte("-+ #0123456789.", format[i]) >= 0 {
			i++
		}
		if i >= len(format) {
			return nil, valueErr("incomplete format")
		}
		spec := format[start:i]
		conv := format[i]
		if conv == '%' {
			b.WriteByte('%')
			continue
		}
		if !haveVal {
			if ai >= len(args) {
				return nil, typeErr("not enough arguments for format string")
			}
			val = args[ai]
			ai++
		}
		s, err := formatOne(spec, conv, val)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
	}
	if mapping == nil && ai < len(args) {
		return nil, typeErr("not all arguments converted during string formatting")
	}
	return b.String(), nil
}

func formatOne(spec string, conv byte, v any) (string, error) {
	switch conv {
	case 's':
		return fmt.Sprintf("%"+spec+"s", pyStr(v)), nil
	case 'r', 'a':
		return fmt.Sprintf("%"+spec+"s", pyRepr(v)), nil
	case 'd', 'i', 'u':
		switch x := v.(type) {
		case bool, int64:
			i, _ := asInt(x)
			return fmt.Sprintf("%"+spec+"d", i), nil
		case float64:
			return fmt.Sprintf("%"+spec+"d", int64(x)), nil
		}
		return "", typeErr("%%%c format: a real number is required, not %s", conv, typeName(v))
	case 'f', 'F', 'e', 'E', 'g', 'G':
		if !isNumber(v) {
			return "", typeErr("must be real number, not %s", typeName(v))
		}
		if !strings.Contains(spec, ".") {
			spec += ".6"
		}
		return fmt.Sprintf("%"+spec+string(conv), toFloat(v)), nil
	case 'x', 'X', 'o':
		i, ok := asInt(v)
		if !ok {
			return "", typeErr("%%%c format: an integer is required, not %s", conv, typeName(v))
		}
		return fmt.Sprintf("%"+spec+string(conv), i), nil
	case 'c':
		if s, ok := v.(string); ok && utf8.RuneCountInString(s) == 1 {
			return s, nil
		}
		if i, ok := asInt(v); ok && i >= 0 && i <= 0x10ffff {
			return string(rune(i)), nil
		}
		return "", typeErr("%%c requires int or char")
	}
	return "", valueErr("unsupported format character '%c'", conv)
}
