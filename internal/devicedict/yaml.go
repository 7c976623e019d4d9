package devicedict

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/yamltree"
)

// Limits of the YAML reader besides MaxSize and MaxDepth: the parser's cost
// grows with the square of the keys of one block mapping, and aliases could
// otherwise expand a small text into a huge value.
const (
	maxKeys           = 1000
	maxAliasExpansion = 100_000
)

// ExtendsKey is the key of a YAML dictionary that names its template.
const ExtendsKey = "extends"

// yamlLimits bounds yamltree for device dictionaries (Parse checks MaxSize).
var yamlLimits = yamltree.Limits{MaxDepth: MaxDepth, MaxKeys: maxKeys, MaxExpansion: maxAliasExpansion}

// yamlPolicy is what a device dictionary may use of YAML: anchors and
// aliases, but no tags, no merge keys and a single document. Number and
// boolean keys keep their spelling.
var yamlPolicy = yamltree.Policy{
	RefuseSecondHeader: true,
	RefuseTags:         true,
	RefuseMergeKeys:    true,
	RawKeys:            true,
	KeysAtIndicator:    true,
	Check:              checkInt,
}

// checkInt refuses integers that do not fit an int.
func checkInt(n *yamltree.Node) string {
	if n.Type != yamltree.Int {
		return ""
	}
	switch x := n.Value.(type) {
	case int64:
		return ""
	case uint64:
		if x <= math.MaxInt64 {
			return ""
		}
	}
	return fmt.Sprintf("integer %s is too large", n.Text)
}

// parseYAML reads the plain form into d.
func parseYAML(text string, d *Dict, errs *errList) {
	root, err := yamltree.ReadPolicy([]byte(text), yamlLimits, yamlPolicy)
	if err != nil {
		var ye *yamltree.Error
		if !errors.As(err, &ye) {
			errs.add(pos{1, 1}, "", err.Error())
			return
		}
		errs.add(pos{ye.Line, ye.Column}, "", yamlMessage(ye))
		return
	}
	if root == nil {
		return
	}
	switch root.Kind {
	case yamltree.Null:
		return
	case yamltree.Map:
	default:
		errs.add(pos{root.Line, root.Column}, "", fmt.Sprintf("a device dictionary in YAML is a mapping of variable names to values, got %s", fromTree(root, nil).describe()))
		return
	}
	d.Form = FormYAML
	seen := map[*yamltree.Node]*node{}
	for _, te := range root.Entries {
		e := entryFromTree(te, seen)
		if e.key == ExtendsKey {
			if e.val.kind != strNode || e.val.s == "" {
				errs.add(resolve(e.val.src.or(e.keySrc)), "$."+ExtendsKey, fmt.Sprintf("expected the template name (extends: qemu), got %s", e.val.describe()))
				continue
			}
			name := strings.TrimSuffix(e.val.s, ".jinja2")
			if name == "" || strings.ContainsAny(name, "/\\") {
				errs.add(resolve(e.val.src), "$."+ExtendsKey, fmt.Sprintf("template name %s must be a device-type name like qemu", strconv.Quote(e.val.s)))
				continue
			}
			d.Template = name
			d.templateSrc = e.val.src
			continue
		}
		p := resolve(e.keySrc)
		d.Vars = append(d.Vars, Var{Name: e.key, Value: e.val.value(), Line: p.line, Column: p.col, n: e.val})
	}
}

// yamlMessage words a yamltree error for device dictionaries.
func yamlMessage(ye *yamltree.Error) string {
	switch ye.Code {
	case yamltree.MultipleDocuments:
		return "a device dictionary is a single YAML document, found a second one"
	case yamltree.Expansion:
		return fmt.Sprintf("aliases expand to more than %d values", maxAliasExpansion)
	case yamltree.Tag:
		return "YAML tags are not supported in a device dictionary"
	case yamltree.MergeKey:
		return "merge keys (<<) are not supported in a device dictionary"
	case yamltree.BadKey:
		return fmt.Sprintf("mapping keys must be strings, got %s", fromTree(ye.Node, nil).describe())
	case yamltree.DuplicateKey:
		return fmt.Sprintf("key %s is written twice", strconv.Quote(ye.Name))
	}
	return ye.Msg
}

// fromTree converts a yamltree node into a dictionary value; seen, when
// not nil, keeps aliased subtrees shared.
func fromTree(t *yamltree.Node, seen map[*yamltree.Node]*node) *node {
	if n, ok := seen[t]; ok {
		return n
	}
	n := &node{src: lineCol(t.Line, t.Column)}
	switch t.Kind {
	case yamltree.Null:
		n.kind = nullNode
	case yamltree.Scalar:
		switch x := t.Value.(type) {
		case string:
			n.kind, n.s = strNode, x
		case int64:
			n.kind, n.i = intNode, int(x)
		case uint64: // at most math.MaxInt64: checkInt refused the others
			n.kind, n.i = intNode, int(x)
		case float64:
			n.kind, n.f = floatNode, x
		case bool:
			n.kind, n.b = boolNode, x
		}
	case yamltree.Map:
		n.kind = dictNode
		for _, te := range t.Entries {
			n.entries = append(n.entries, entryFromTree(te, seen))
		}
	case yamltree.Seq:
		n.kind = listNode
		for _, it := range t.Items {
			n.items = append(n.items, fromTree(it, seen))
		}
	}
	if seen != nil {
		seen[t] = n
	}
	return n
}

// entryFromTree converts a mapping entry; a null value ("key:") is placed
// at its key.
func entryFromTree(te yamltree.Entry, seen map[*yamltree.Node]*node) entry {
	keySrc := lineCol(te.Line, te.Column)
	val := fromTree(te.Value, seen)
	if val.kind == nullNode {
		val = &node{kind: nullNode, src: keySrc}
	}
	return entry{key: te.Key, keySrc: keySrc, val: val}
}
