package jinja

import (
	"strings"
	"unicode"
)

var tests map[string]testFunc

func boolTest(fn func(v any) bool) testFunc {
	return func(st *state, v any, args []any, kw *Dict) (any, error) { return fn(v), nil }
}

func cmpTest(op string) testFunc {
	return func(st *state, v any, args []any, kw *Dict) (any, error) {
		a, err := bind(op, []string{"other"}, args, kw)
		if err != nil {
			return nil, err
		}
		return compareValues(op, v, a[0])
	}
}

func casedTest(upper bool) testFunc {
	return func(st *state, v any, args []any, kw *Dict) (any, error) {
		s := pyStr(v)
		cased := false
		for _, r := range s {
			if unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) {
				cased = true
				if upper && (unicode.IsLower(r) || unicode.IsTitle(r)) {
					return false, nil
				}
				if !upper && (unicode.IsUpper(r) || unicode.IsTitle(r)) {
					return false, nil
				}
			}
		}
		return cased, nil
	}
}

func testsInit() map[string]testFunc {
	if tests != nil {
		return tests
	}
	isInt := func(v any) bool { _, ok := v.(int64); return ok }
	tests = map[string]testFunc{
		"defined":   boolTest(func(v any) bool { _, u := v.(*Undefined); return !u }),
		"undefined": boolTest(func(v any) bool { _, u := v.(*Undefined); return u }),
		"none":      boolTest(func(v any) bool { return v == nil }),
		"string":    boolTest(func(v any) bool { _, ok := v.(string); return ok }),
		"number":    boolTest(isNumber),
		"integer":   boolTest(isInt),
		"float":     boolTest(func(v any) bool { _, ok := v.(float64); return ok }),
		"boolean":   boolTest(func(v any) bool { _, ok := v.(bool); return ok }),
		"true":      boolTest(func(v any) bool { b, ok := v.(bool); return ok && b }),
		"false":     boolTest(func(v any) bool { b, ok := v.(bool); return ok && !b }),
		"mapping":   boolTest(func(v any) bool { _, ok := v.(*Dict); return ok }),
		"iterable":  boolTest(isIterable),
		"sequence": boolTest(func(v any) bool {
			switch v.(type) {
			case string, *List, Tuple, *Dict:
				return true
			}
			return false
		}),
		"callable": boolTest(func(v any) bool {
			switch v.(type) {
			case *Macro, callable, *loopObj:
				return true
			}
			return false
		}),
		"escaped": boolTest(func(v any) bool { return false }),
		"sameas": func(st *state, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("sameas", []string{"other"}, args, kw)
			if err != nil {
				return nil, err
			}
			return sameAs(v, a[0]), nil
		},
		"odd": func(st *state, v any, args []any, kw *Dict) (any, error) {
			i, ok := asInt(v)
			if !ok {
				return nil, typeErr("unsupported operand type(s) for %%: '%s' and 'int'", typeName(v))
			}
			return i%2 != 0, nil
		},
		"even": func(st *state, v any, args []any, kw *Dict) (any, error) {
			i, ok := asInt(v)
			if !ok {
				return nil, typeErr("unsupported operand type(s) for %%: '%s' and 'int'", typeName(v))
			}
			return i%2 == 0, nil
		},
		"divisibleby": func(st *state, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("divisibleby", []string{"num"}, args, kw)
			if err != nil {
				return nil, err
			}
			m, err := st.binop("%", v, a[0])
			if err != nil {
				return nil, err
			}
			return pyEqual(m, int64(0)), nil
		},
		"lower": casedTest(false),
		"upper": casedTest(true),
		"in": func(st *state, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("in", []string{"seq"}, args, kw)
			if err != nil {
				return nil, err
			}
			return contains(a[0], v)
		},
		"filter": func(st *state, v any, args []any, kw *Dict) (any, error) {
			_, ok := st.env.filters[pyStr(v)]
			return ok, nil
		},
		"test": func(st *state, v any, args []any, kw *Dict) (any, error) {
			_, ok := tests[pyStr(v)]
			return ok, nil
		},
	}
	for name, op := range map[string]string{"eq": "eq", "equalto": "eq", "==": "eq", "ne": "ne", "!=": "ne",
		"lt": "lt", "lessthan": "lt", "<": "lt", "le": "lteq", "<=": "lteq",
		"gt": "gt", "greaterthan": "gt", ">": "gt", "ge": "gteq", ">=": "gteq"} {
		tests[name] = cmpTest(op)
	}
	return tests
}

// sameAs approximates Python's "is": identity for containers, value
// identity for None/bools, CPython's small-int cache for ints.
func sameAs(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y && x >= -5 && x <= 256
	case string:
		y, ok := b.(string)
		return ok && x == y && (len(x) <= 1 || isIdentLike(x))
	case *List:
		return a == b
	case *Dict:
		return a == b
	case *Undefined:
		return a == b
	}
	return false
}

func isIdentLike(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r == '_' || (r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r))))
	}) < 0
}
