package jinja

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/pyyaml"
)

type filterFunc func(st *state, v any, args []any, kw *Dict) (any, error)

type testFunc func(st *state, v any, args []any, kw *Dict) (any, error)

// argParser binds positional and keyword arguments to parameter names.
func bind(fname string, params []string, args []any, kw *Dict, defaults ...any) ([]any, error) {
	out := make([]any, len(params))
	set := make([]bool, len(params))
	if len(args) > len(params) {
		return nil, typeErr("%s() takes up to %d arguments (%d given)", fname, len(params), len(args))
	}
	for i, a := range args {
		out[i] = a
		set[i] = true
	}
	if kw != nil {
		for i, k := range kw.keys {
			ks, _ := k.(string)
			found := false
			for j, p := range params {
				if p == ks {
					if set[j] {
						return nil, typeErr("%s() got multiple values for argument %s", fname, pyfmt.StrRepr(ks))
					}
					out[j] = kw.vals[i]
					set[j] = true
					found = true
				}
			}
			if !found {
				return nil, typeErr("%s() got an unexpected keyword argument %s", fname, pyfmt.StrRepr(ks))
			}
		}
	}
	nreq := len(params) - len(defaults)
	for i := range params {
		if !set[i] {
			if i < nreq {
				return nil, typeErr("%s() missing required argument: %s", fname, pyfmt.StrRepr(params[i]))
			}
			out[i] = defaults[i-nreq]
		}
	}
	return out, nil
}

func wrapFilter(f Filter) filterFunc {
	return func(st *state, v any, args []any, kw *Dict) (any, error) {
		var m map[string]any
		if kw != nil {
			m = map[string]any{}
			for i, k := range kw.keys {
				m[pyStr(k)] = kw.vals[i]
			}
		}
		r, err := f(v, args, m)
		if err != nil {
			return nil, &pyErr{"FilterError", err.Error()}
		}
		return FromGo(r), nil
	}
}

func needStr(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case *Undefined:
		return "", x.fail()
	}
	return "", typeErr("expected str, got %s", typeName(v))
}

var builtinFilters map[string]filterFunc

var lavaFilters = map[string]filterFunc{
	"shlex_quote": func(st *state, v any, args []any, kw *Dict) (any, error) {
		s, err := needStr(v)
		if err != nil {
			return nil, err
		}
		return shlexQuote(s), nil
	},
	"yaml_quote": func(st *state, v any, args []any, kw *Dict) (any, error) {
		return yamlQuote(v)
	},
	"qemu_guest_fs_interface": func(st *state, v any, args []any, kw *Dict) (any, error) {
		a, err := bind("qemu_guest_fs_interface", []string{"guestfs_interface"}, args, kw)
		if err != nil {
			return nil, err
		}
		if truth(a[0]) {
			return a[0], nil
		}
		for _, x := range []string{"amd64", "x86_64", "i386"} {
			if s, ok := v.(string); ok && s == x {
				return "ide", nil
			}
		}
		return "virtio", nil
	},
}

func shlexQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("@%+=:,./-_", r))) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// yamlQuote renders v as a one-line YAML flow scalar or collection with
// double-quoted strings, like LAVA's yaml_quote (PyYAML SafeDumper with
// default_style='"').
func yamlQuote(v any) (any, error) {
	var b strings.Builder
	if err := yamlQuoteTo(&b, v, 0); err != nil {
		return nil, err
	}
	return b.String(), nil
}

func yamlQuoteTo(b *strings.Builder, v any, depth int) error {
	if depth > 100 {
		return valueErr("value nests too deeply")
	}
	switch x := v.(type) {
	case nil:
		b.WriteString(`!!null "null"`)
	case bool:
		if x {
			b.WriteString(`!!bool "true"`)
		} else {
			b.WriteString(`!!bool "false"`)
		}
	case int64:
		fmt.Fprintf(b, `!!int "%d"`, x)
	case float64:
		fmt.Fprintf(b, `!!float "%s"`, pyyaml.Float(x))
	case string:
		b.Write(pyyaml.AppendDoubleQuoted(nil, x))
	case *List, Tuple:
		items, _ := iterate(x)
		return writeSeq(b, '[', ']', items, func(it any) error { return yamlQuoteTo(b, it, depth+1) })
	case *Dict:
		b.WriteByte('{')
		keys := x.Keys()
		sorted, err := sortValues(keys)
		if err != nil {
			return err
		}
		for i, k := range sorted {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := yamlQuoteTo(b, k, depth+1); err != nil {
				return err
			}
			b.WriteString(": ")
			val, _ := x.Get(k)
			if err := yamlQuoteTo(b, val, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case *Undefined:
		return x.fail()
	default:
		return &pyErr{"RepresenterError", fmt.Sprintf("cannot represent an object: %s", pyRepr(v))}
	}
	return nil
}

func sortValues(items []any) ([]any, error) {
	out := append([]any(nil), items...)
	var err error
	sort.SliceStable(out, func(i, j int) bool {
		c, e := pyCompare(out[i], out[j], "<")
		if e != nil && err == nil {
			err = e
		}
		return c < 0
	})
	return out, err
}

func init() {
	builtinFilters = map[string]filterFunc{
		"default": fDefault, "d": fDefault,
		"join": fJoin, "replace": fReplace, "indent": fIndent,
		"string": func(st *state, v any, args []any, kw *Dict) (any, error) { return pyStr(v), nil },
		"int":    fInt, "float": fFloat,
		"lower": strFilter(strings.ToLower), "upper": strFilter(strings.ToUpper),
		"trim": fTrim, "list": fList, "length": fLength, "count": fLength,
		"first": fFirst, "last": fLast, "items": fItems, "dictsort": fDictsort,
		"sort": fSort, "unique": fUnique, "reverse": fReverse, "map": fMap,
		"select": selectFilter(false, false), "reject": selectFilter(true, false),
		"selectattr": selectFilter(false, true), "rejectattr": selectFilter(true, true),
		"tojson": fTojson,
		"safe":   func(st *state, v any, args []any, kw *Dict) (any, error) { return v, nil },
		"e":      fEscape, "escape": fEscape, "forceescape": fEscape,
		"format": fFormat, "center": fCenter, "capitalize": strFilter(capitalize),
		"title": strFilter(title), "abs": fAbs, "round": fRound,
		"min": minMax(-1), "max": minMax(1), "sum": fSum,
		"attr": func(st *state, v any, args []any, kw *Dict) (any, error) {
			a, err := bind("attr", []string{"name"}, args, kw)
			if err != nil {
				return nil, err
			}
			return st.getattr(v, pyStr(a[0]))
		},
		"batch": fBatch,
	}
	testsInit()
}

func strFilter(fn func(string) string) filterFunc {
	return func(st *state, v any, args []any, kw *Dict) (any, error) {
		return fn(pyStr(v)), nil
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + strings.ToLower(s[n:])
}

func title(s string) string {
	// Jinja2: each word (split on spaces, -, (, {, [) gets capitalized
	var b strings.Builder
	start := true
	for _, r := range s {
		if start && !unicode.IsSpace(r) && !strings.ContainsRune("-({[", r) {
			b.WriteRune(unicode.ToUpper(r))
			start = false
			continue
		}
		if unicode.IsSpace(r) || strings.ContainsRune("-({[", r) {
			start = true
			b.WriteRune(r)
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

func fDefault(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("default", []string{"default_value", "boolean"}, args, kw, "", false)
	if err != nil {
		return nil, err
	}
	if _, ok := v.(*Undefined); ok || (truth(a[1]) && !truth(v)) {
		return a[0], nil
	}
	return v, nil
}

func fJoin(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("join", []string{"d", "attribute"}, args, kw, "", nil)
	if err != nil {
		return nil, err
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	parts := make([]string, len(items))
	n := 0
	for i, it := range items {
		if a[1] != nil {
			it, err = st.getitem(it, a[1])
			if err != nil {
				return nil, err
			}
		}
		parts[i] = pyStr(it)
		n += len(parts[i])
	}
	sep := pyStr(a[0])
	if err := st.checkLen(n + len(sep)*len(parts)); err != nil {
		return nil, err
	}
	return strings.Join(parts, sep), nil
}

func fReplace(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("replace", []string{"old", "new", "count"}, args, kw, nil)
	if err != nil {
		return nil, err
	}
	n := -1
	if a[2] != nil {
		c, ok := asInt(a[2])
		if !ok {
			return nil, typeErr("'%s' object cannot be interpreted as an integer", typeName(a[2]))
		}
		if c >= 0 {
			n = int(min(c, math.MaxInt32))
		}
	}
	s, old, nw := pyStr(v), pyStr(a[0]), pyStr(a[1])
	if old == "" {
		// Python inserts between every character
		cnt := utf8.RuneCountInString(s) + 1
		if n >= 0 && n < cnt {
			cnt = n
		}
		if err := st.checkLen(len(s) + cnt*len(nw)); err != nil {
			return nil, err
		}
	} else if err := st.checkLen(len(s) + strings.Count(s, old)*len(nw)); err != nil {
		return nil, err
	}
	return strings.Replace(s, old, nw, n), nil
}

// pySplitlines is Python's str.splitlines() without keepends.
func pySplitlines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch r {
		case '\n', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			out = append(out, s[start:i])
			i += n
			start = i
			continue
		case '\r':
			out = append(out, s[start:i])
			i += n
			if i < len(s) && s[i] == '\n' {
				i++
			}
			start = i
			continue
		}
		i += n
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func fIndent(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("indent", []string{"width", "first", "blank"}, args, kw, int64(4), false, false)
	if err != nil {
		return nil, err
	}
	s, err := needStr(v)
	if err != nil {
		return nil, err
	}
	var ind string
	switch w := a[0].(type) {
	case string:
		ind = w
	default:
		n, ok := asInt(w)
		if !ok {
			return nil, typeErr("can't multiply sequence by non-int of type '%s'", typeName(w))
		}
		if n > 0 {
			if err := st.checkLen(int(min(n, int64(st.lim.MaxOutputBytes)+1))); err != nil {
				return nil, err
			}
			ind = strings.Repeat(" ", int(n))
		}
	}
	lines := pySplitlines(s + "\n")
	if err := st.checkLen(len(s) + len(lines)*len(ind)); err != nil {
		return nil, err
	}
	var rv string
	if truth(a[2]) {
		rv = strings.Join(lines, "\n"+ind)
	} else {
		var b strings.Builder
		b.WriteString(lines[0])
		if len(lines) > 1 {
			for _, l := range lines[1:] {
				b.WriteString("\n")
				if l != "" {
					b.WriteString(ind)
				}
				b.WriteString(l)
			}
		}
		rv = b.String()
	}
	if truth(a[1]) {
		rv = ind + rv
	}
	return rv, nil
}

// pyParseInt is Python's int(str, base).
func pyParseInt(s string, base int) (int64, bool) {
	s = strings.TrimFunc(s, pyIsSpaceRune)
	neg := false
	if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		neg = s[0] == '-'
		s = s[1:]
	}
	if base == 0 || base == 16 || base == 8 || base == 2 {
		low := strings.ToLower(s)
		switch {
		case strings.HasPrefix(low, "0x") && (base == 0 || base == 16):
			base, s = 16, s[2:]
			s = strings.TrimPrefix(s, "_")
		case strings.HasPrefix(low, "0o") && (base == 0 || base == 8):
			base, s = 8, s[2:]
			s = strings.TrimPrefix(s, "_")
		case strings.HasPrefix(low, "0b") && (base == 0 || base == 2):
			base, s = 2, s[2:]
			s = strings.TrimPrefix(s, "_")
		case base == 0:
			base = 10
		}
	}
	if s == "" || strings.HasPrefix(s, "_") || strings.HasSuffix(s, "_") || strings.Contains(s, "__") {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), base, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// pyParseFloat is Python's float(str).
func pyParseFloat(s string) (float64, bool) {
	s = strings.TrimFunc(s, pyIsSpaceRune)
	low := strings.ToLower(strings.TrimLeft(s, "+-"))
	switch low {
	case "inf", "infinity", "nan":
	default:
		if s == "" || strings.ContainsAny(low, "xpn") || strings.HasPrefix(low, "_") || strings.HasSuffix(low, "_") || strings.Contains(low, "__") || strings.Contains(low, "_.") || strings.Contains(low, "._") || strings.Contains(low, "_e") || strings.Contains(low, "e_") {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func fInt(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("int", []string{"default", "base"}, args, kw, int64(0), int64(10))
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case string:
		base, _ := asInt(a[1])
		if n, ok := pyParseInt(x, int(base)); ok {
			return n, nil
		}
		if f, ok := pyParseFloat(x); ok && !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) < 9.2e18 {
			return int64(f), nil
		}
		return a[0], nil
	case bool, int64:
		i, _ := asInt(x)
		return i, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) || math.Abs(x) >= 9.2e18 {
			return a[0], nil
		}
		return int64(x), nil
	}
	return a[0], nil
}

func fFloat(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("float", []string{"default"}, args, kw, 0.0)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case string:
		if f, ok := pyParseFloat(x); ok {
			return f, nil
		}
	case bool, int64, float64:
		return toFloat(x), nil
	}
	return a[0], nil
}

func fTrim(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("trim", []string{"chars"}, args, kw, nil)
	if err != nil {
		return nil, err
	}
	s := pyStr(v)
	if a[0] == nil {
		return strings.TrimFunc(s, pyIsSpaceRune), nil
	}
	return strings.Trim(s, pyStr(a[0])), nil
}

func fList(st *state, v any, args []any, kw *Dict) (any, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	return &List{Items: items}, nil
}

func fLength(st *state, v any, args []any, kw *Dict) (any, error) {
	n, err := pyLen(v)
	return int64(n), err
}

func fFirst(st *state, v any, args []any, kw *Dict) (any, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return &Undefined{Hint: "No first item, sequence was empty."}, nil
	}
	return items[0], nil
}

func fLast(st *state, v any, args []any, kw *Dict) (any, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return &Undefined{Hint: "No last item, sequence was empty."}, nil
	}
	return items[len(items)-1], nil
}

func dictItems(d *Dict) *List {
	l := &List{Items: make([]any, len(d.keys))}
	for i, k := range d.keys {
		l.Items[i] = Tuple{k, d.vals[i]}
	}
	return l
}

func fItems(st *state, v any, args []any, kw *Dict) (any, error) {
	switch x := v.(type) {
	case *Undefined:
		return &List{}, nil
	case *Dict:
		return dictItems(x), nil
	}
	return nil, typeErr("Can only get item pairs from a mapping.")
}

func sortKey(v any, caseSensitive bool) any {
	if s, ok := v.(string); ok && !caseSensitive {
		return strings.ToLower(s)
	}
	return v
}

func sortBy(items []any, key func(any) (any, error), reverse bool) error {
	keys := make([]any, len(items))
	for i, it := range items {
		k, err := key(it)
		if err != nil {
			return err
		}
		keys[i] = k
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	var err error
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := keys[idx[i]], keys[idx[j]]
		if reverse {
			a, b = b, a
		}
		c, e := pyCompare(a, b, "<")
		if e != nil && err == nil {
			err = e
		}
		return c == -1
	})
	if err != nil {
		return err
	}
	out := make([]any, len(items))
	for i, j := range idx {
		out[i] = items[j]
	}
	copy(items, out)
	return nil
}

func fDictsort(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("dictsort", []string{"case_sensitive", "by", "reverse"}, args, kw, false, "key", false)
	if err != nil {
		return nil, err
	}
	d, ok := v.(*Dict)
	if !ok {
		return nil, typeErr("dictsort requires a mapping")
	}
	pos := 0
	switch pyStr(a[1]) {
	case "key":
	case "value":
		pos = 1
	default:
		return nil, &pyErr{"FilterArgumentError", "You can only sort by either \"key\" or \"value\""}
	}
	items := dictItems(d).Items
	err = sortBy(items, func(it any) (any, error) { return sortKey(it.(Tuple)[pos], truth(a[0])), nil }, truth(a[2]))
	return &List{Items: items}, err
}

func attrGetter(st *state, attr any, caseSensitive bool) func(any) (any, error) {
	return func(it any) (any, error) {
		v := it
		if attr != nil {
			for _, part := range strings.Split(pyStr(attr), ".") {
				var err error
				var key any = part
				if n, err2 := strconv.Atoi(part); err2 == nil {
					key = int64(n)
				}
				v, err = st.getitem(v, key)
				if err != nil {
					return nil, err
				}
			}
		}
		return sortKey(v, caseSensitive), nil
	}
}

func fSort(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("sort", []string{"reverse", "case_sensitive", "attribute"}, args, kw, false, false, nil)
	if err != nil {
		return nil, err
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	err = sortBy(items, attrGetter(st, a[2], truth(a[1])), truth(a[0]))
	return &List{Items: items}, err
}

func fUnique(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("unique", []string{"case_sensitive", "attribute"}, args, kw, false, nil)
	if err != nil {
		return nil, err
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	get := attrGetter(st, a[1], truth(a[0]))
	seen := NewDict()
	var out []any
	for _, it := range items {
		k, err := get(it)
		if err != nil {
			return nil, err
		}
		if _, ok := seen.Get(k); ok {
			continue
		}
		if err := seen.Set(k, true); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return &List{Items: out}, nil
}

func fReverse(st *state, v any, args []any, kw *Dict) (any, error) {
	if s, ok := v.(string); ok {
		rs := []rune(s)
		for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
			rs[i], rs[j] = rs[j], rs[i]
		}
		return string(rs), nil
	}
	items, err := iterate(v)
	if err != nil {
		return nil, &pyErr{"FilterArgumentError", "argument must be iterable"}
	}
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	return &List{Items: items}, nil
}

func fMap(st *state, v any, args []any, kw *Dict) (any, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(items))
	if len(args) == 0 && kw != nil {
		attr, ok := kw.Get("attribute")
		if !ok {
			return nil, &pyErr{"FilterArgumentError", "map requires a filter argument"}
		}
		def, hasDef := kw.Get("default")
		for _, it := range items {
			r, err := attrGetter(st, attr, true)(it)
			if err != nil {
				return nil, err
			}
			if _, und := r.(*Undefined); und && hasDef {
				r = def
			}
			out = append(out, r)
		}
		return &List{Items: out}, nil
	}
	if len(args) == 0 {
		return nil, &pyErr{"FilterArgumentError", "map requires a filter argument"}
	}
	name := pyStr(args[0])
	fn, ok := st.env.filters[name]
	if !ok {
		return nil, &pyErr{"TemplateRuntimeError", fmt.Sprintf("No filter named %s.", pyfmt.StrRepr(name))}
	}
	for _, it := range items {
		r, err := fn(st, it, args[1:], kw)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return &List{Items: out}, nil
}

func selectFilter(reject, byAttr bool) filterFunc {
	return func(st *state, v any, args []any, kw *Dict) (any, error) {
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		var attr any
		if byAttr {
			if len(args) == 0 {
				return nil, typeErr("Missing parameter for attribute name")
			}
			attr, args = args[0], args[1:]
		}
		var test testFunc
		if len(args) > 0 {
			name := pyStr(args[0])
			t, ok := tests[name]
			if !ok {
				return nil, &pyErr{"TemplateRuntimeError", fmt.Sprintf("No test named %s.", pyfmt.StrRepr(name))}
			}
			test, args = t, args[1:]
		}
		var out []any
		for _, it := range items {
			x := it
			if byAttr {
				x, err = attrGetter(st, attr, true)(it)
				if err != nil {
					return nil, err
				}
			}
			var ok bool
			if test == nil {
				ok = truth(x)
			} else {
				r, err := test(st, x, args, kw)
				if err != nil {
					return nil, err
				}
				ok = truth(r)
			}
			if ok != reject {
				out = append(out, it)
			}
		}
		return &List{Items: out}, nil
	}
}

// pyJSON is Python's json.dumps(v, sort_keys=True) with default separators.
func pyJSON(b *strings.Builder, v any, depth int) error {
	if depth > 100 {
		return valueErr("Circular reference detected")
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		switch {
		case math.IsNaN(x):
			b.WriteString("NaN")
		case math.IsInf(x, 1):
			b.WriteString("Infinity")
		case math.IsInf(x, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(pyfmt.FloatRepr(x))
		}
	case string:
		b.Write(pyfmt.AppendJSONString(nil, x))
	case *List, Tuple:
		items, _ := iterate(x)
		return writeSeq(b, '[', ']', items, func(it any) error { return pyJSON(b, it, depth+1) })
	case *Dict:
		keys := x.Keys()
		type kv struct {
			k string
			v any
		}
		var kvs []kv
		for _, k := range keys {
			val, _ := x.Get(k)
			var ks string
			switch kk := k.(type) {
			case string:
				ks = kk
			case nil:
				ks = "null"
			case bool:
				ks = map[bool]string{true: "true", false: "false"}[kk]
			case int64:
				ks = strconv.FormatInt(kk, 10)
			case float64:
				ks = pyfmt.FloatRepr(kk)
			default:
				return typeErr("keys must be str, int, float, bool or None, not %s", typeName(k))
			}
			kvs = append(kvs, kv{ks, val})
		}
		sort.SliceStable(kvs, func(i, j int) bool { return kvs[i].k < kvs[j].k })
		b.WriteByte('{')
		for i, e := range kvs {
			if i > 0 {
				b.WriteString(", ")
			}
			_ = pyJSON(b, e.k, depth+1)
			b.WriteString(": ")
			if err := pyJSON(b, e.v, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return typeErr("Object of type %s is not JSON serializable", typeName(v))
	}
	return nil
}

func fTojson(st *state, v any, args []any, kw *Dict) (any, error) {
	if _, err := bind("tojson", []string{"indent"}, args, kw, nil); err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := pyJSON(&b, v, 0); err != nil {
		return nil, err
	}
	r := strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`, "'", `\u0027`)
	return r.Replace(b.String()), nil
}

func fEscape(st *state, v any, args []any, kw *Dict) (any, error) {
	s := pyStr(v)
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
	_ = html.EscapeString
	return s, nil
}

func fFormat(st *state, v any, args []any, kw *Dict) (any, error) {
	if len(args) > 0 && kw != nil {
		return nil, &pyErr{"FilterArgumentError", "can't handle positional and keyword arguments at the same time"}
	}
	s := pyStr(v)
	if kw != nil {
		return percentFormat(s, kw)
	}
	return percentFormat(s, Tuple(args))
}

func fCenter(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("center", []string{"width"}, args, kw, int64(80))
	if err != nil {
		return nil, err
	}
	w, ok := asInt(a[0])
	if !ok {
		return nil, typeErr("integer argument expected")
	}
	s := pyStr(v)
	n := int64(utf8.RuneCountInString(s))
	if w <= n {
		return s, nil
	}
	if err := st.checkLen(int(min(w, int64(st.lim.MaxOutputBytes)+1))); err != nil {
		return nil, err
	}
	pad := w - n
	left := pad / 2
	if pad%2 == 1 && w%2 == 1 {
		left++
	}
	return strings.Repeat(" ", int(left)) + s + strings.Repeat(" ", int(pad-left)), nil
}

func fAbs(st *state, v any, args []any, kw *Dict) (any, error) {
	switch x := v.(type) {
	case bool:
		i, _ := asInt(x)
		return i, nil
	case int64:
		if x < 0 {
			if x == math.MinInt64 {
				return nil, &pyErr{"OverflowError", "integer overflow"}
			}
			return -x, nil
		}
		return x, nil
	case float64:
		return math.Abs(x), nil
	}
	return nil, typeErr("bad operand type for abs(): '%s'", typeName(v))
}

func fRound(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("round", []string{"precision", "method"}, args, kw, int64(0), "common")
	if err != nil {
		return nil, err
	}
	p, _ := asInt(a[0])
	f := toFloat(v)
	if !isNumber(v) {
		return nil, typeErr("type %s doesn't define __round__ method", typeName(v))
	}
	m := math.Pow(10, float64(p))
	switch pyStr(a[1]) {
	case "common":
		// Python round(): round half to even on the decimal value
		r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', int(max(p, 0)), 64), 64)
		if p < 0 {
			r = math.RoundToEven(f*m) / m
		}
		if i, ok := v.(int64); ok && p >= 0 {
			return i, nil
		}
		return r, nil
	case "ceil":
		return math.Ceil(f*m) / m, nil
	case "floor":
		return math.Floor(f*m) / m, nil
	}
	return nil, &pyErr{"FilterArgumentError", "method must be common, ceil or floor"}
}

func minMax(sign int) filterFunc {
	return func(st *state, v any, args []any, kw *Dict) (any, error) {
		a, err := bind("min", []string{"case_sensitive", "attribute"}, args, kw, false, nil)
		if err != nil {
			return nil, err
		}
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return &Undefined{Hint: "No aggregated item, sequence was empty."}, nil
		}
		get := attrGetter(st, a[1], truth(a[0]))
		best := items[0]
		bk, err := get(best)
		if err != nil {
			return nil, err
		}
		for _, it := range items[1:] {
			k, err := get(it)
			if err != nil {
				return nil, err
			}
			c, err := pyCompare(k, bk, "<")
			if err != nil {
				return nil, err
			}
			if c == sign {
				best, bk = it, k
			}
		}
		return best, nil
	}
}

func fSum(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("sum", []string{"attribute", "start"}, args, kw, nil, int64(0))
	if err != nil {
		return nil, err
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	total := a[1]
	for _, it := range items {
		x := it
		if a[0] != nil {
			x, err = attrGetter(st, a[0], true)(it)
			if err != nil {
				return nil, err
			}
		}
		total, err = st.binop("+", total, x)
		if err != nil {
			return nil, err
		}
	}
	return total, nil
}

func fBatch(st *state, v any, args []any, kw *Dict) (any, error) {
	a, err := bind("batch", []string{"linecount", "fill_with"}, args, kw, nil)
	if err != nil {
		return nil, err
	}
	n, ok := asInt(a[0])
	if !ok || n <= 0 {
		return nil, valueErr("batch size must be a positive integer")
	}
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	var out []any
	for i := 0; i < len(items); i += int(n) {
		end := min(i+int(n), len(items))
		chunk := append([]any(nil), items[i:end]...)
		if a[1] != nil {
			for len(chunk) < int(n) {
				chunk = append(chunk, a[1])
			}
		}
		out = append(out, &List{Items: chunk})
	}
	return &List{Items: out}, nil
}
