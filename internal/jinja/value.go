package jinja

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/pyfmt"
)

// Undefined is the value of a name, attribute or item that does not exist,
// with Jinja2's default Undefined semantics: it renders as "", is false,
// iterates as empty and has length 0; any other use (attribute access,
// arithmetic, calling) is an error that names what was missing.
type Undefined struct {
	// Hint, when set, replaces the generated message.
	Hint string
	// Name is the missing name, attribute or key.
	Name any
	// Obj is the object the attribute or key was looked up on (HasObj).
	Obj    any
	HasObj bool
}

func (u *Undefined) message() string {
	if u.Hint != "" {
		return u.Hint
	}
	if !u.HasObj {
		return fmt.Sprintf("%s is undefined", pyRepr(u.Name))
	}
	if s, ok := u.Name.(string); ok {
		return fmt.Sprintf("%s has no attribute %s", typeDesc(u.Obj), pyRepr(s))
	}
	return fmt.Sprintf("%s has no element %s", typeDesc(u.Obj), pyRepr(u.Name))
}

func (u *Undefined) fail() error { return undefErr("%s", u.message()) }

// List is a mutable Python-style list.
type List struct {
	Items []any
}

// NewList returns a List holding items (not copied).
func NewList(items ...any) *List { return &List{Items: items} }

// Tuple is an immutable Python-style tuple.
type Tuple []any

// Dict is an ordered dictionary with Python semantics: keys keep their
// insertion order, and keys that compare equal in Python (1, 1.0, True)
// are the same key. Use it in a render context when key order matters.
type Dict struct {
	keys []any
	vals []any
	idx  map[any]int
}

// NewDict returns an empty Dict.
func NewDict() *Dict { return &Dict{idx: map[any]int{}} }

type tupleKey struct{ s string }

// hashKey normalizes a key the way Python hashing does for the types
// templates use.
func hashKey(k any) (any, error) {
	switch v := k.(type) {
	case nil, string, int64:
		return v, nil
	case bool:
		if v {
			return int64(1), nil
		}
		return int64(0), nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<62 {
			return int64(v), nil
		}
		return v, nil
	case Tuple:
		var b strings.Builder
		for _, e := range v {
			h, err := hashKey(e)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, "%T:%v\x00", h, h)
		}
		return tupleKey{b.String()}, nil
	case *Undefined:
		return tupleKey{"\x01undefined"}, nil
	}
	return nil, typeErr("unhashable type: '%s'", typeName(k))
}

// Set stores key=val, keeping the position of an existing key. Keys must be
// hashable (None, bool, numbers, strings, tuples).
func (d *Dict) Set(key, val any) error {
	h, err := hashKey(key)
	if err != nil {
		return err
	}
	if i, ok := d.idx[h]; ok {
		d.vals[i] = val
		return nil
	}
	d.idx[h] = len(d.keys)
	d.keys = append(d.keys, key)
	d.vals = append(d.vals, val)
	return nil
}

// Get returns the value stored under key.
func (d *Dict) Get(key any) (any, bool) {
	h, err := hashKey(key)
	if err != nil {
		return nil, false
	}
	i, ok := d.idx[h]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// Len returns the number of keys.
func (d *Dict) Len() int { return len(d.keys) }

// Keys returns the keys in insertion order.
func (d *Dict) Keys() []any { return append([]any(nil), d.keys...) }

func (d *Dict) del(key any) bool {
	h, err := hashKey(key)
	if err != nil {
		return false
	}
	i, ok := d.idx[h]
	if !ok {
		return false
	}
	d.keys = append(d.keys[:i:i], d.keys[i+1:]...)
	d.vals = append(d.vals[:i:i], d.vals[i+1:]...)
	delete(d.idx, h)
	for j := i; j < len(d.keys); j++ {
		hk, _ := hashKey(d.keys[j])
		d.idx[hk] = j
	}
	return true
}

func (d *Dict) copy() *Dict {
	n := NewDict()
	for i, k := range d.keys {
		_ = n.Set(k, d.vals[i])
	}
	return n
}

// Namespace is the object namespace() returns: attributes can be set
// with {% set ns.attr = value %}.
type Namespace struct{ d *Dict }

// FromGo converts a Go value to the template value model: nil, bool, the
// integer types (to int64), float32/float64, string, []any and []string
// (to *List), map[string]any and map[string]string (to *Dict with keys in
// sorted order), *Dict, *List, Tuple and Undefined pass through. Other
// types are returned unchanged and render with fmt's %v.
func FromGo(v any) any {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, *Dict, *List, Tuple, *Undefined:
		return x
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint:
		return int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return float64(x)
		}
		return int64(x)
	case float32:
		return float64(x)
	case []any:
		l := &List{Items: make([]any, len(x))}
		for i, e := range x {
			l.Items[i] = FromGo(e)
		}
		return l
	case []string:
		l := &List{Items: make([]any, len(x))}
		for i, e := range x {
			l.Items[i] = e
		}
		return l
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := NewDict()
		for _, k := range keys {
			_ = d.Set(k, FromGo(x[k]))
		}
		return d
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := NewDict()
		for _, k := range keys {
			_ = d.Set(k, x[k])
		}
		return d
	}
	return v
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case *List:
		return "list"
	case Tuple:
		return "tuple"
	case *Dict:
		return "dict"
	case *Undefined:
		return "Undefined"
	case *Namespace:
		return "Namespace"
	case *Macro:
		return "Macro"
	case *loopObj:
		return "LoopContext"
	case callable:
		return "function"
	}
	return fmt.Sprintf("%T", v)
}

// typeDesc is Jinja2's object_type_repr.
func typeDesc(v any) string {
	if v == nil {
		return "None"
	}
	return "'" + typeName(v) + " object'"
}

// truth is Python's bool().
func truth(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case *List:
		return len(x.Items) > 0
	case Tuple:
		return len(x) > 0
	case *Dict:
		return x.Len() > 0
	case *Undefined:
		return false
	}
	return true
}

// pyStr is Python's str().
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case *Undefined:
		return ""
	}
	return pyRepr(v)
}

func pyRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v, 0)
	return b.String()
}

// writeSeq writes items separated by ", " between open and close (each
// left out when 0), each by item; it stops at item's first error.
func writeSeq(b *strings.Builder, open, close byte, items []any, item func(any) error) error {
	if open != 0 {
		b.WriteByte(open)
	}
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		if err := item(it); err != nil {
			return err
		}
	}
	if close != 0 {
		b.WriteByte(close)
	}
	return nil
}

func writeRepr(b *strings.Builder, v any, depth int) {
	if depth > 200 {
		b.WriteString("...")
		return
	}
	if s, ok := pyfmt.ScalarRepr(v); ok { // None, bools, ints, floats, strs
		b.WriteString(s)
		return
	}
	switch x := v.(type) {
	case *List:
		_ = writeSeq(b, '[', ']', x.Items, func(e any) error { writeRepr(b, e, depth+1); return nil })
	case Tuple:
		end := ")"
		if len(x) == 1 {
			end = ",)"
		}
		b.WriteByte('(')
		_ = writeSeq(b, 0, 0, x, func(e any) error { writeRepr(b, e, depth+1); return nil })
		b.WriteString(end)
	case *Dict:
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, k, depth+1)
			b.WriteString(": ")
			writeRepr(b, x.vals[i], depth+1)
		}
		b.WriteByte('}')
	case *Undefined:
		b.WriteString("Undefined")
	case *Namespace:
		b.WriteString("<Namespace ")
		writeRepr(b, x.d, depth+1)
		b.WriteString(">")
	case *Macro:
		fmt.Fprintf(b, "<Macro '%s'>", x.name)
	default:
		fmt.Fprintf(b, "<%s object>", typeName(v))
	}
}

func isNumber(v any) bool {
	switch v.(type) {
	case bool, int64, float64:
		return true
	}
	return false
}

// toFloat converts bool/int/float.
func toFloat(v any) float64 {
	switch x := v.(type) {
	case bool:
		if x {
			return 1
		}
		return 0
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int64:
		return x, true
	}
	return 0, false
}

// pyEqual is Python's ==.
func pyEqual(a, b any) bool {
	return pyEqualDepth(a, b, 0)
}

func pyEqualDepth(a, b any, depth int) bool {
	if depth > 200 {
		return false
	}
	if isNumber(a) && isNumber(b) {
		ai, aok := asInt(a)
		bi, bok := asInt(b)
		if aok && bok {
			return ai == bi
		}
		return toFloat(a) == toFloat(b)
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case *Undefined:
		_, ok := b.(*Undefined)
		return ok
	case *List:
		y, ok := b.(*List)
		if !ok || len(x.Items) != len(y.Items) {
			return false
		}
		for i := range x.Items {
			if !pyEqualDepth(x.Items[i], y.Items[i], depth+1) {
				return false
			}
		}
		return true
	case Tuple:
		y, ok := b.(Tuple)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !pyEqualDepth(x[i], y[i], depth+1) {
				return false
			}
		}
		return true
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for i, k := range x.keys {
			v, ok := y.Get(k)
			if !ok || !pyEqualDepth(x.vals[i], v, depth+1) {
				return false
			}
		}
		return true
	case *Namespace:
		return a == b
	case *Macro:
		return a == b
	}
	return false
}

// pyCompare orders a and b like Python's <; it returns -1, 0, 1.
func pyCompare(a, b any, op string) (int, error) {
	if isNumber(a) && isNumber(b) {
		ai, aok := asInt(a)
		bi, bok := asInt(b)
		if aok && bok {
			return cmp3(ai < bi, ai > bi), nil
		}
		af, bf := toFloat(a), toFloat(b)
		if math.IsNaN(af) || math.IsNaN(bf) {
			return 2, nil // unordered: every comparison false
		}
		return cmp3(af < bf, af > bf), nil
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), nil
		}
	case *List:
		if y, ok := b.(*List); ok {
			return seqCompare(x.Items, y.Items, op)
		}
	case Tuple:
		if y, ok := b.(Tuple); ok {
			return seqCompare(x, y, op)
		}
	case *Undefined:
		return 0, x.fail()
	}
	if u, ok := b.(*Undefined); ok {
		return 0, u.fail()
	}
	return 0, typeErr("'%s' not supported between instances of '%s' and '%s'", op, typeName(a), typeName(b))
}

func seqCompare(x, y []any, op string) (int, error) {
	for i := 0; i < len(x) && i < len(y); i++ {
		if !pyEqual(x[i], y[i]) {
			return pyCompare(x[i], y[i], op)
		}
	}
	return cmp3(len(x) < len(y), len(x) > len(y)), nil
}

func cmp3(lt, gt bool) int {
	if lt {
		return -1
	}
	if gt {
		return 1
	}
	return 0
}

// pyLen is Python's len().
func pyLen(v any) (int, error) {
	switch x := v.(type) {
	case string:
		return utf8.RuneCountInString(x), nil
	case *List:
		return len(x.Items), nil
	case Tuple:
		return len(x), nil
	case *Dict:
		return x.Len(), nil
	case *Undefined:
		return 0, nil
	}
	return 0, typeErr("object of type '%s' has no len()", typeName(v))
}

// iterate returns the items Python's iter() yields.
func iterate(v any) ([]any, error) {
	switch x := v.(type) {
	case string:
		out := make([]any, 0, len(x))
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	case *List:
		return append([]any(nil), x.Items...), nil
	case Tuple:
		return append([]any(nil), x...), nil
	case *Dict:
		return x.Keys(), nil
	case *Undefined:
		return nil, nil
	}
	return nil, typeErr("'%s' object is not iterable", typeName(v))
}

func isIterable(v any) bool {
	switch v.(type) {
	case string, *List, Tuple, *Dict, *Undefined:
		return true
	}
	return false
}

// contains is Python's "item in container".
func contains(container, item any) (bool, error) {
	switch c := container.(type) {
	case string:
		s, ok := item.(string)
		if !ok {
			return false, typeErr("'in <string>' requires string as left operand, not %s", typeName(item))
		}
		return strings.Contains(c, s), nil
	case *List:
		for _, e := range c.Items {
			if pyEqual(e, item) {
				return true, nil
			}
		}
		return false, nil
	case Tuple:
		for _, e := range c {
			if pyEqual(e, item) {
				return true, nil
			}
		}
		return false, nil
	case *Dict:
		if _, err := hashKey(item); err != nil {
			return false, err
		}
		_, ok := c.Get(item)
		return ok, nil
	case *Undefined:
		return false, nil
	}
	return false, typeErr("argument of type '%s' is not iterable", typeName(container))
}
