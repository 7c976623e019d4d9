package jinja

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/pyfmt"
)

const maxRange = 100000 // Jinja2's sandbox MAX_RANGE

var globals = map[string]any{
	"range": callable(func(st *state, args []any, kw *Dict) (any, error) {
		if kw != nil && kw.Len() > 0 {
			return nil, typeErr("range() takes no keyword arguments")
		}
		var start, stop, step int64 = 0, 0, 1
		ints := make([]int64, len(args))
		for i, a := range args {
			n, ok := asInt(a)
			if !ok {
				return nil, typeErr("'%s' object cannot be interpreted as an integer", typeName(a))
			}
			ints[i] = n
		}
		switch len(ints) {
		case 1:
			stop = ints[0]
		case 2:
			start, stop = ints[0], ints[1]
		case 3:
			start, stop, step = ints[0], ints[1], ints[2]
		default:
			return nil, typeErr("range expected at most 3 arguments, got %d", len(args))
		}
		if step == 0 {
			return nil, valueErr("range() arg 3 must not be zero")
		}
		var n int64
		if step > 0 && stop > start {
			n = (stop - start + step - 1) / step
		} else if step < 0 && start > stop {
			n = (start - stop - step - 1) / -step
		}
		if n > maxRange || n < 0 {
			return nil, &pyErr{"OverflowError", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)."}
		}
		if int(n) > st.lim.MaxIterations {
			return nil, limitErr("range of %d exceeds the iteration limit", n)
		}
		l := &List{Items: make([]any, n)}
		for i := int64(0); i < n; i++ {
			l.Items[i] = start + i*step
		}
		return l, nil
	}),
	"dict": callable(func(st *state, args []any, kw *Dict) (any, error) {
		if len(args) > 0 {
			return nil, typeErr("dict() positional arguments are not supported")
		}
		if kw == nil {
			return NewDict(), nil
		}
		return kw.copy(), nil
	}),
	"namespace": callable(func(st *state, args []any, kw *Dict) (any, error) {
		d := NewDict()
		for _, a := range args {
			src, ok := a.(*Dict)
			if !ok {
				return nil, typeErr("namespace() positional argument must be a mapping")
			}
			for i, k := range src.keys {
				_ = d.Set(k, src.vals[i])
			}
		}
		if kw != nil {
			for i, k := range kw.keys {
				_ = d.Set(k, kw.vals[i])
			}
		}
		return &Namespace{d: d}, nil
	}),
}

// methodFor returns the bound Python method attr of a str, dict or list.
func methodFor(o any, attr string) callable {
	switch x := o.(type) {
	case string:
		return strMethod(x, attr)
	case *Dict:
		return dictMethod(x, attr)
	case *List:
		return listMethod(x, attr)
	}
	return nil
}

func dictMethod(d *Dict, attr string) callable {
	switch attr {
	case "get":
		return func(st *state, args []any, kw *Dict) (any, error) {
			a, err := bind("get", []string{"key", "default"}, args, nil, nil)
			if err != nil {
				return nil, err
			}
			if _, err := hashKey(a[0]); err != nil {
				return nil, err
			}
			if v, ok := d.Get(a[0]); ok {
				return v, nil
			}
			return a[1], nil
		}
	case "items":
		return func(st *state, args []any, kw *Dict) (any, error) { return dictItems(d), nil }
	case "keys":
		return func(st *state, args []any, kw *Dict) (any, error) { return &List{Items: d.Keys()}, nil }
	case "values":
		return func(st *state, args []any, kw *Dict) (any, error) {
			return &List{Items: append([]any(nil), d.vals...)}, nil
		}
	case "copy":
		return func(st *state, args []any, kw *Dict) (any, error) { return d.copy(), nil }
	case "update":
		return func(st *state, args []any, kw *Dict) (any, error) {
			for _, a := range args {
				src, ok := a.(*Dict)
				if !ok {
					return nil, typeErr("update() argument must be a mapping")
				}
				for i, k := range src.keys {
					_ = d.Set(k, src.vals[i])
				}
			}
			if kw != nil {
				for i, k := range kw.keys {
					_ = d.Set(k, kw.vals[i])
				}
			}
			return nil, nil
		}
	case "pop":
		return func(st *state, args []any, kw *Dict) (any, error) {
			if len(args) == 0 {
				return nil, typeErr("pop expected at least 1 argument, got 0")
			}
			if v, ok := d.Get(args[0]); ok {
				d.del(args[0])
				return v, nil
			}
			if len(args) > 1 {
				return args[1], nil
			}
			return nil, &pyErr{"KeyError", pyRepr(args[0])}
		}
	case "setdefault":
		return func(st *state, args []any, kw *Dict) (any, error) {
			a, err := bind("setdefault", []string{"key", "default"}, args, nil, nil)
			if err != nil {
				return nil, err
			}
			if v, ok := d.Get(a[0]); ok {
				return v, nil
			}
			return a[1], d.Set(a[0], a[1])
		}
	}
	return nil
}

func listMethod(l *List, attr string) callable {
	switch attr {
	case "append":
		return func(st *state, args []any, kw *Dict) (any, error) {
			if len(args) != 1 {
				return nil, typeErr("list.append() takes exactly one argument (%d given)", len(args))
			}
			if err := st.checkLen(len(l.Items) + 1); err != nil {
				return nil, err
			}
			l.Items = append(l.Items, args[0])
			return nil, nil
		}
	case "extend":
		return func(st *state, args []any, kw *Dict) (any, error) {
			if len(args) != 1 {
				return nil, typeErr("list.extend() takes exactly one argument (%d given)", len(args))
			}
			items, err := iterate(args[0])
			if err != nil {
				return nil, err
			}
			if err := st.checkLen(len(l.Items) + len(items)); err != nil {
				return nil, err
			}
			l.Items = append(l.Items, items...)
			return nil, nil
		}
	case "index":
		return func(st *state, args []any, kw *Dict) (any, error) {
			if len(args) < 1 {
				return nil, typeErr("index expected at least 1 argument, got 0")
			}
			for i, it := range l.Items {
				if pyEqual(it, args[0]) {
					return int64(i), nil
				}
			}
			return nil, valueErr("%s is not in list", pyRepr(args[0]))
		}
	case "count":
		return func(st *state, args []any, kw *Dict) (any, error) {
			if len(args) != 1 {
				return nil, typeErr("list.count() takes exactly one argument (%d given)", len(args))
			}
			n := int64(0)
			for _, it := range l.Items {
				if pyEqual(it, args[0]) {
					n++
				}
			}
			return n, nil
		}
	case "pop":
		return func(st *state, args []any, kw *Dict) (any, error) {
			if len(l.Items) == 0 {
				return nil, &pyErr{"IndexError", "pop from empty list"}
			}
			i := int64(len(l.Items) - 1)
			if len(args) > 0 {
				n, ok := asInt(args[0])
				if !ok {
					return nil, typeErr("'%s' object cannot be interpreted as an integer", typeName(args[0]))
				}
				if n < 0 {
					n += int64(len(l.Items))
				}
				if n < 0 || n >= int64(len(l.Items)) {
					return nil, &pyErr{"IndexError", "pop index out of range"}
				}
				i = n
			}
			v := l.Items[i]
			l.Items = append(l.Items[:i:i], l.Items[i+1:]...)
			return v, nil
		}
	}
	return nil
}

func pyStrip(s string, args []any, left, right bool) (string, error) {
	if len(args) > 0 && args[0] != nil {
		chars, ok := args[0].(string)
		if !ok {
			return "", typeErr("strip arg must be None or str")
		}
		f := func(r rune) bool { return strings.ContainsRune(chars, r) }
		if left {
			s = strings.TrimLeftFunc(s, f)
		}
		if right {
			s = strings.TrimRightFunc(s, f)
		}
		return s, nil
	}
	if left {
		s = strings.TrimLeftFunc(s, pyIsSpaceRune)
	}
	if right {
		s = strings.TrimRightFunc(s, pyIsSpaceRune)
	}
	return s, nil
}

// pySplit is Python's str.split(sep=None, maxsplit=-1).
func pySplit(s string, sep any, maxsplit int64) ([]any, error) {
	var parts []string
	if sep == nil {
		fields := 0
		rest := strings.TrimLeftFunc(s, pyIsSpaceRune)
		for rest != "" {
			if maxsplit >= 0 && int64(fields) >= maxsplit {
				parts = append(parts, rest)
				break
			}
			i := strings.IndexFunc(rest, pyIsSpaceRune)
			if i < 0 {
				parts = append(parts, rest)
				break
			}
			parts = append(parts, rest[:i])
			fields++
			rest = strings.TrimLeftFunc(rest[i:], pyIsSpaceRune)
		}
	} else {
		sp, ok := sep.(string)
		if !ok {
			return nil, typeErr("must be str or None, not %s", typeName(sep))
		}
		if sp == "" {
			return nil, valueErr("empty separator")
		}
		n := -1
		if maxsplit >= 0 {
			n = int(min(maxsplit, 1<<30)) + 1
		}
		parts = strings.SplitN(s, sp, n)
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func strMethod(s, attr string) callable {
	simple := func(fn func(string) any) callable {
		return func(st *state, args []any, kw *Dict) (any, error) { return fn(s), nil }
	}
	switch attr {
	case "lower":
		return simple(func(s string) any { return strings.ToLower(s) })
	case "upper":
		return simple(func(s string) any { return strings.ToUpper(s) })
	case "capitalize":
		return simple(func(s string) any { return capitalize(s) })
	case "title":
		return simple(func(s string) any { return title(s) })
	case "isdigit":
		return simple(func(s string) any {
			return s != "" && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) }) < 0
		})
	case "isalpha":
		return simple(func(s string) any {
			return s != "" && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) }) < 0
		})
	case "splitlines":
		return simple(func(s string) any {
			parts := pySplitlines(s)
			out := make([]any, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return &List{Items: out}
		})
	case "strip", "lstrip", "rstrip":
		return func(st *state, args []any, kw *Dict) (any, error) {
			return pyStrip(s, args, attr != "rstrip", attr != "lstrip")
		}
	case "split":
		return func(st *state, args []any, kw *Dict) (any, error) {
			a, err := bind("split", []string{"sep", "maxsplit"}, args, kw, nil, int64(-1))
			if err != nil {
				return nil, err
			}
			m, _ := asInt(a[1])
			parts, err := pySplit(s, a[0], m)
			if err != nil {
				return nil, err
			}
			return &List{Items: parts}, nil
		}
	case "replace":
		return func(st *state, args []any, kw *Dict) (any, error) {
			return fReplace(st, s, args, kw)
		}
	case "startswith", "endswith":
		return func(st *state, args []any, kw *Dict) (any, error) {
			if len(args) < 1 {
				return nil, typeErr("%s() takes at least 1 argument (0 given)", attr)
			}
			var cands []any
			switch p := args[0].(type) {
			case string:
				cands = []any{p}
			case Tuple:
				cands = p
			default:
				return nil, typeErr("%s first arg must be str or a tuple of str, not %s", attr, typeName(args[0]))
			}
			for _, c := range cands {
				cs, ok := c.(string)
				if !ok {
					return nil, typeErr("tuple for %s must only contain str, not %s", attr, typeName(c))
				}
				if (attr == "startswith" && strings.HasPrefix(s, cs)) || (attr == "endswith" && strings.HasSuffix(s, cs)) {
					return true, nil
				}
			}
			return false, nil
		}
	case "join":
		return func(st *state, args []any, kw *Dict) (any, error) {
			if len(args) != 1 {
				return nil, typeErr("str.join() takes exactly one argument (%d given)", len(args))
			}
			items, err := iterate(args[0])
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			n := 0
			for i, it := range items {
				p, ok := it.(string)
				if !ok {
					return nil, typeErr("sequence item %d: expected str instance, %s found", i, typeName(it))
				}
				parts[i] = p
				n += len(p) + len(s)
			}
			if err := st.checkLen(n); err != nil {
				return nil, err
			}
			return strings.Join(parts, s), nil
		}
	case "find", "count":
		return func(st *state, args []any, kw *Dict) (any, error) {
			if len(args) < 1 {
				return nil, typeErr("%s() takes at least 1 argument (0 given)", attr)
			}
			sub, ok := args[0].(string)
			if !ok {
				return nil, typeErr("must be str, not %s", typeName(args[0]))
			}
			if attr == "count" {
				if sub == "" {
					return int64(utf8.RuneCountInString(s) + 1), nil
				}
				return int64(strings.Count(s, sub)), nil
			}
			i := strings.Index(s, sub)
			if i < 0 {
				return int64(-1), nil
			}
			return int64(utf8.RuneCountInString(s[:i])), nil
		}
	case "format":
		return func(st *state, args []any, kw *Dict) (any, error) { return strFormat(st, s, args, kw) }
	}
	return nil
}

// strFormat is str.format for {} {0} {name} {name.attr} fields without
// format specs beyond plain conversion.
func strFormat(st *state, s string, args []any, kw *Dict) (any, error) {
	var b strings.Builder
	auto := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '}' {
			if i+1 < len(s) && s[i+1] == '}' {
				b.WriteByte('}')
				i++
				continue
			}
			return nil, valueErr("Single '}' encountered in format string")
		}
		if c != '{' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '{' {
			b.WriteByte('{')
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, valueErr("Single '{' encountered in format string")
		}
		field := s[i+1 : i+end]
		i += end
		conv := ""
		if k := strings.IndexByte(field, '!'); k >= 0 {
			conv = field[k+1:]
			field = field[:k]
		}
		if k := strings.IndexByte(field, ':'); k >= 0 {
			if field[k+1:] != "" {
				return nil, valueErr("format specs are not supported")
			}
			field = field[:k]
		}
		name, rest, _ := strings.Cut(field, ".")
		var v any
		if name == "" {
			if auto >= len(args) {
				return nil, &pyErr{"IndexError", "Replacement index " + itoa(auto) + " out of range for positional args tuple"}
			}
			v = args[auto]
			auto++
		} else if n, ok := pyParseInt(name, 10); ok && name[0] >= '0' && name[0] <= '9' {
			if n < 0 || n >= int64(len(args)) {
				return nil, &pyErr{"IndexError", "Replacement index " + itoa(int(n)) + " out of range for positional args tuple"}
			}
			v = args[n]
		} else {
			var ok bool
			if kw != nil {
				v, ok = kw.Get(name)
			}
			if !ok {
				return nil, &pyErr{"KeyError", pyfmt.StrRepr(name)}
			}
		}
		for rest != "" {
			var part string
			part, rest, _ = strings.Cut(rest, ".")
			if strings.HasPrefix(part, "_") {
				return nil, &pyErr{"SecurityError", "access to attribute " + pyfmt.StrRepr(part) + " is unsafe."}
			}
			var err error
			v, err = st.getattr(v, part)
			if err != nil {
				return nil, err
			}
		}
		switch conv {
		case "r", "a":
			b.WriteString(pyRepr(v))
		default:
			b.WriteString(pyStr(v))
		}
		if err := st.checkLen(b.Len()); err != nil {
			return nil, err
		}
	}
	return b.String(), nil
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + func() string {
		var b [20]byte
		n := len(b)
		neg := i < 0
		if neg {
			i = -i
		}
		for {
			n--
			b[n] = byte('0' + i%10)
			i /= 10
			if i == 0 {
				break
			}
		}
		if neg {
			n--
			b[n] = '-'
		}
		return string(b[n:])
	}())
}
