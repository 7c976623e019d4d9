package jobdef

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
)

// decoder turns nodes into typed values, recording every problem it meets
// and carrying on, so that one pass reports as much as possible.
type decoder struct {
	errs         *errList
	extraContext map[string]bool
	multinode    bool // protocols.lava-multinode is present
	strict       bool // warnings are errors (Strict)
	// serverGenerated allows a multinode sub-job (ServerGenerated);
	// memberMap is a sub-job's protocols.lava-multinode.
	serverGenerated bool
	memberMap       *mapping
}

func (d *decoder) errorf(pos Pos, path, format string, args ...any) {
	d.errs.add(pos, path, fmt.Sprintf(format, args...))
}

// lenient reports what LAVA's submission accepts but is most likely a
// mistake: a warning saying what Parse does about it (msg), or with Strict
// an error saying what is wrong (strictMsg).
func (d *decoder) lenient(pos Pos, path, msg, strictMsg string) {
	if d.strict {
		d.errs.add(pos, path, strictMsg)
		return
	}
	d.errs.warn(pos, path, msg)
}

// expected reports a type mismatch at n.
func (d *decoder) expected(n *node, path, what string) {
	d.errorf(n.pos, path, "expected %s, got %s", what, n.describe())
}

// mapping is a view on a mapping node that remembers which keys were read,
// so that the rest can be reported as unknown.
type mapping struct {
	n    *node
	path string
}

// asMap returns a view on n, or nil (after reporting) when n is no mapping.
func (d *decoder) asMap(n *node, path string) *mapping {
	if n.kind != mapNode {
		d.expected(n, path, "a mapping")
		return nil
	}
	return &mapping{n: n, path: path}
}

func (m *mapping) get(key string) (*node, bool) {
	for _, e := range m.n.entries {
		if e.key == key {
			return e.val, true
		}
	}
	return nil, false
}

func (m *mapping) keyPos(key string) Pos {
	for _, e := range m.n.entries {
		if e.key == key {
			return e.keyPos
		}
	}
	return m.n.pos
}

func (m *mapping) sub(key string) string { return KeyPath(m.path, key) }

// require returns the value of key, reporting a missing key at the mapping.
func (d *decoder) require(m *mapping, key string) (*node, bool) {
	n, ok := m.get(key)
	if !ok {
		d.errorf(m.n.pos, m.path, "missing required key %q", key)
	}
	return n, ok
}

// unknownKeys reports every key of m that is neither in allowed nor in
// handled (keys reported elsewhere and not suggested to users).
func (d *decoder) unknownKeys(m *mapping, allowed []string, handled ...string) {
	set := make(map[string]bool, len(allowed)+len(handled))
	for _, k := range allowed {
		set[k] = true
	}
	for _, k := range handled {
		set[k] = true
	}
	var list string
	for _, e := range m.n.entries {
		if set[e.key] {
			continue
		}
		if list == "" {
			sorted := append([]string(nil), allowed...)
			sort.Strings(sorted)
			list = strings.Join(sorted, ", ")
		}
		d.errorf(e.keyPos, KeyPath(m.path, e.key), "unknown key %q (expected one of: %s)", e.key, list)
	}
}

// extraKeys reports the keys of m that are neither in allowed nor in
// handled, where LAVA's submission schema lets any key through (action
// blocks, notify, multinode roles): a key of refused (one LAVA runs and
// Basalt does not) is an error with its reason, any other is ignored with
// a warning (an error with Strict), as LAVA ignores it.
func (d *decoder) extraKeys(m *mapping, allowed []string, refused map[string]string, handled ...string) {
	set := make(map[string]bool, len(allowed)+len(handled))
	for _, k := range allowed {
		set[k] = true
	}
	for _, k := range handled {
		set[k] = true
	}
	var list string
	for _, e := range m.n.entries {
		if set[e.key] {
			continue
		}
		p := KeyPath(m.path, e.key)
		if why, ok := refused[e.key]; ok {
			d.errorf(e.keyPos, p, "%s", why)
			continue
		}
		if list == "" {
			list = joinSorted(allowed)
		}
		k := truncate(e.key, 60)
		d.lenient(e.keyPos, p,
			fmt.Sprintf("unknown key %q is ignored (expected one of: %s)", k, list),
			fmt.Sprintf("unknown key %q (expected one of: %s)", k, list))
	}
}

// str reads a string. Integers and numbers are accepted and kept as written
// (a git revision or a password may look numeric); booleans, null and
// collections are rejected.
func (d *decoder) str(n *node, path string) (string, bool) {
	if n.kind == scalarNode && n.styp != boolScalar {
		return n.text, true
	}
	d.expected(n, path, "a string")
	return "", false
}

// nonEmpty reads a string of 1 to max characters (max 0: no upper bound).
func (d *decoder) nonEmpty(n *node, path string, max int) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		d.errorf(n.pos, path, "must not be empty")
		return "", false
	}
	if max > 0 && len([]rune(s)) > max {
		d.errorf(n.pos, path, "is %d characters long, at most %d allowed", len([]rune(s)), max)
		return "", false
	}
	return s, true
}

// matching reads a non-empty string that must match re (described by what).
func (d *decoder) matching(n *node, path string, re *regexp.Regexp, what string) (string, bool) {
	s, ok := d.nonEmpty(n, path, 0)
	if !ok {
		return "", false
	}
	if !re.MatchString(s) {
		d.errorf(n.pos, path, "%q is not a valid %s (must match %s)", truncate(s, 60), what, re.String())
		return "", false
	}
	return s, true
}

// enum reads one of the allowed strings.
func (d *decoder) enum(n *node, path, what string, allowed ...string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	d.errorf(n.pos, path, "unknown %s %q (expected one of: %s)", what, truncate(s, 60), strings.Join(allowed, ", "))
	return "", false
}

// integer reads an integer scalar. A leading zero ("010") is rejected: YAML
// 1.1 (LAVA's PyYAML) reads it as octal, YAML 1.2 as decimal.
func (d *decoder) integer(n *node, path string) (int64, bool) {
	if n.kind != scalarNode || n.styp != intScalar {
		if n.kind == scalarNode && n.styp == strScalar && !n.quoted && looksNumeric(n.text) {
			// The YAML parser keeps integers beyond 64 bits as strings.
			d.errorf(n.pos, path, "integer %s is out of range", truncate(n.text, 40))
			return 0, false
		}
		d.expected(n, path, "an integer")
		return 0, false
	}
	t := strings.TrimLeft(n.text, "+-")
	if len(t) > 1 && t[0] == '0' && t[1] >= '0' && t[1] <= '9' {
		d.errorf(n.pos, path, "ambiguous integer %q: a leading zero means octal in YAML 1.1; remove it", n.text)
		return 0, false
	}
	switch v := n.val.(type) {
	case int64:
		return v, true
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	}
	d.errorf(n.pos, path, "integer %s is out of range", truncate(n.text, 40))
	return 0, false
}

func looksNumeric(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// intRange reads an integer in [min, max].
func (d *decoder) intRange(n *node, path string, min, max int64) (int, bool) {
	v, ok := d.integer(n, path)
	if !ok {
		return 0, false
	}
	if v < min || v > max {
		if max == math.MaxInt32 {
			d.errorf(n.pos, path, "must be at least %d, got %d", min, v)
		} else {
			d.errorf(n.pos, path, "must be between %d and %d, got %d", min, max, v)
		}
		return 0, false
	}
	return int(v), true
}

// legacyBools are YAML 1.1 booleans that YAML 1.2 (and this parser) read as
// strings; LAVA's PyYAML reads them as booleans.
var legacyBools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "n": true, "N": true,
	"no": true, "No": true, "NO": true, "on": true, "On": true, "ON": true,
	"off": true, "Off": true, "OFF": true,
}

// boolean reads true or false; YAML 1.1 spellings are rejected explicitly.
func (d *decoder) boolean(n *node, path string) (bool, bool) {
	if n.kind == scalarNode && n.styp == boolScalar {
		return n.val.(bool), true
	}
	if n.kind == scalarNode && n.styp == strScalar && legacyBools[n.text] {
		d.errorf(n.pos, path, "expected a boolean (true/false), got %q, which YAML 1.1 and YAML 1.2 read differently", n.text)
		return false, false
	}
	d.expected(n, path, "a boolean (true/false)")
	return false, false
}

// boolPtr reads an optional boolean into a pointer.
func (d *decoder) boolPtr(n *node, path string) *bool {
	b, ok := d.boolean(n, path)
	if !ok {
		return nil
	}
	return &b
}

// strList reads a list of strings.
func (d *decoder) strList(n *node, path string) ([]string, bool) {
	if n.kind != seqNode {
		d.expected(n, path, "a list of strings")
		return nil, false
	}
	out := make([]string, 0, len(n.items))
	ok := true
	for i, it := range n.items {
		s, good := d.str(it, IndexPath(path, i))
		if !good {
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}

// nonEmptyList reads a list of non-empty strings with at least one item.
func (d *decoder) nonEmptyList(n *node, path string) ([]string, bool) {
	list, ok := d.strList(n, path)
	if !ok {
		return nil, false
	}
	if len(list) == 0 {
		d.errorf(n.pos, path, "must not be an empty list")
		return nil, false
	}
	for i, s := range list {
		if strings.TrimSpace(s) == "" {
			d.errorf(n.items[i].pos, IndexPath(path, i), "must not be empty")
			ok = false
		}
	}
	return list, ok
}

// strOrList reads a string or a list of strings (LAVA accepts both for
// prompts and similar keys).
func (d *decoder) strOrList(n *node, path string) ([]string, bool) {
	if n.kind == seqNode {
		return d.nonEmptyList(n, path)
	}
	if n.kind == scalarNode && n.styp != boolScalar {
		if n.text == "" {
			d.errorf(n.pos, path, "must not be empty")
			return nil, false
		}
		return []string{n.text}, true
	}
	d.expected(n, path, "a string or a list of strings")
	return nil, false
}

// scalarText stringifies a scalar as LAVA stores metadata: booleans as
// "true"/"false", numbers as written, null as "".
func scalarText(n *node) (string, bool) {
	switch n.kind {
	case nullNode:
		return "", true
	case scalarNode:
		return n.text, true
	}
	return "", false
}

// stringMap reads a mapping of scalars, stringified (see scalarText). With
// strict, only string values are accepted.
func (d *decoder) stringMap(n *node, path string, strict bool) map[string]string {
	m := d.asMap(n, path)
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(n.entries))
	for _, e := range n.entries {
		p := KeyPath(path, e.key)
		if strict {
			if e.val.kind != scalarNode || e.val.styp != strScalar {
				d.expected(e.val, p, "a string")
				continue
			}
			out[e.key] = e.val.text
			continue
		}
		s, ok := scalarText(e.val)
		if !ok {
			d.expected(e.val, p, "a scalar (string, number or boolean)")
			continue
		}
		out[e.key] = s
	}
	return out
}

// anyMap reads a mapping into plain Go values (see toAny).
func (d *decoder) anyMap(n *node, path string) map[string]any {
	if d.asMap(n, path) == nil {
		return nil
	}
	return toAny(n).(map[string]any)
}

// toAny converts a node to plain Go values: map[string]any, []any, string,
// int64, uint64, float64, bool or nil. Aliased subtrees are converted once
// per use; the alias-expansion limit bounds the total.
func toAny(n *node) any {
	switch n.kind {
	case mapNode:
		m := make(map[string]any, len(n.entries))
		for _, e := range n.entries {
			m[e.key] = toAny(e.val)
		}
		return m
	case seqNode:
		s := make([]any, len(n.items))
		for i, it := range n.items {
			s[i] = toAny(it)
		}
		return s
	case scalarNode:
		return n.val
	}
	return nil
}

// joinSorted formats names as a sorted, comma-separated list.
func joinSorted(names []string) string {
	s := append([]string(nil), names...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}
