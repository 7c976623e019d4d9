package jobdef

import (
	"errors"
	"fmt"
	"strings"

	"github.com/basalt-lab/basalt/internal/yamltree"
)

// Resource limits applied before and while reading the YAML. They keep Parse
// linear-time and bounded in memory on hostile input.
const (
	// MaxSourceSize is the largest job definition accepted, in bytes.
	MaxSourceSize = 1 << 20
	// MaxDepth is the deepest nesting of mappings and sequences accepted.
	MaxDepth = 64
	// MaxKeys is the largest number of keys accepted in one block mapping.
	MaxKeys = 1000
	// MaxAliasExpansion is the total number of nodes that alias (*name) and
	// merge-key (<<) expansion may add to the document; it defeats
	// "billion laughs" style alias bombs.
	MaxAliasExpansion = 100_000
)

type nodeKind uint8

const (
	nullNode nodeKind = iota
	scalarNode
	mapNode
	seqNode
)

type scalarType uint8

const (
	strScalar scalarType = iota
	intScalar
	floatScalar
	boolScalar
)

// node is a YAML value with its source position, after anchors, aliases,
// merge keys and tags have been resolved. Aliased subtrees are shared, never
// copied.
type node struct {
	kind    nodeKind
	pos     Pos
	styp    scalarType
	text    string // scalar: source text (for strings, the decoded value)
	quoted  bool   // scalar: written in quotes
	val     any    // scalar: string, int64, uint64, float64 or bool
	entries []entry
	items   []*node
}

// entry is one key/value pair of a mapping, in document order.
type entry struct {
	key    string
	keyPos Pos
	val    *node
	// repeats are where the key is written again in the same mapping
	// (the last value is val).
	repeats []Pos
}

// describe names the kind of value for "expected X, got Y" messages.
func (n *node) describe() string {
	switch n.kind {
	case nullNode:
		return "null"
	case mapNode:
		return "a mapping"
	case seqNode:
		return "a list"
	}
	switch n.styp {
	case intScalar:
		return "an integer"
	case floatScalar:
		return "a number"
	case boolScalar:
		return "a boolean"
	}
	return fmt.Sprintf("the string %q", truncate(n.text, 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// treeLimits and treePolicy are what a job definition may be and use:
// typed core-schema tags, merge keys, null keys, one document, keys
// written twice read as PyYAML reads them (the last value wins; Parse
// warns).
var (
	treeLimits = yamltree.Limits{MaxBytes: MaxSourceSize, MaxDepth: MaxDepth, MaxKeys: MaxKeys, MaxExpansion: MaxAliasExpansion}
	treePolicy = yamltree.Policy{
		RefuseSecondHeader: true,
		RefuseSecondEnd:    true,
		TypedTags:          true,
		NullKeys:           true,
		NullAtKey:          true,
		KeysAtIndicator:    true,
		LastKeyWins:        true,
		Check:              refuseNUL,
	}
)

// refuseNUL refuses a scalar whose value holds a NUL character, written
// as an escape ("\0", "\x00", "\u0000"): a job's text is stored, shown
// and passed to shells, and none of them can hold one. (yamltree refuses
// a NUL byte in the source itself.)
func refuseNUL(n *yamltree.Node) string {
	if strings.IndexByte(n.Text, 0) >= 0 {
		return "a NUL character (\\0) is not allowed in a job definition"
	}
	return ""
}

// secondDocument is the message for a stream of several YAML documents.
const secondDocument = "job definition must be a single YAML document, found a second one"

// readTree reads src with yamltree and returns the single document's root
// (nil when it cannot be read). Problems are added to errs.
func readTree(src []byte, errs *errList) *node {
	root, err := yamltree.ReadPolicy(src, treeLimits, treePolicy)
	if err != nil {
		var ye *yamltree.Error
		if !errors.As(err, &ye) {
			errs.add(Pos{1, 1}, "", err.Error())
			return nil
		}
		msg := ye.Msg
		switch ye.Code {
		case yamltree.TooLarge:
			msg = fmt.Sprintf("job definition is %d bytes, larger than the %d bytes allowed", len(src), MaxSourceSize)
		case yamltree.MultipleDocuments:
			msg = secondDocument
		case yamltree.BadKey:
			msg = "mapping keys must be scalars, got " + fromTree(ye.Node, map[*yamltree.Node]*node{}).describe()
		}
		errs.add(Pos{ye.Line, ye.Column}, "", msg)
		return nil
	}
	if root == nil {
		errs.add(Pos{1, 1}, "$", "job definition is empty")
		return nil
	}
	return fromTree(root, map[*yamltree.Node]*node{})
}

// fromTree converts a yamltree node; seen keeps aliased subtrees shared.
func fromTree(t *yamltree.Node, seen map[*yamltree.Node]*node) *node {
	if n, ok := seen[t]; ok {
		return n
	}
	n := &node{pos: Pos{t.Line, t.Column}, text: t.Text, quoted: t.Quoted, val: t.Value}
	switch t.Kind {
	case yamltree.Null:
		n.kind = nullNode
	case yamltree.Scalar:
		n.kind = scalarNode
		switch t.Type {
		case yamltree.Int:
			n.styp = intScalar
		case yamltree.Float:
			n.styp = floatScalar
		case yamltree.Bool:
			n.styp = boolScalar
		}
	case yamltree.Map:
		n.kind = mapNode
		for _, e := range t.Entries {
			en := entry{key: e.Key, keyPos: Pos{e.Line, e.Column}, val: fromTree(e.Value, seen)}
			for _, r := range e.Repeats {
				en.repeats = append(en.repeats, Pos{r.Line, r.Column})
			}
			n.entries = append(n.entries, en)
		}
	case yamltree.Seq:
		n.kind = seqNode
		for _, it := range t.Items {
			n.items = append(n.items, fromTree(it, seen))
		}
	}
	seen[t] = n
	return n
}

// duplicateKeys reports every mapping key written more than once: PyYAML,
// and so LAVA, keeps the last value without a word, which hides typos and
// pasted blocks. Each place is reported once, under the first path that
// reaches it (an aliased mapping is walked once).
func (d *decoder) duplicateKeys(root *node) {
	walked := map[*node]bool{}
	reported := map[Pos]bool{}
	var walk func(n *node, path string)
	walk = func(n *node, path string) {
		if walked[n] {
			return
		}
		walked[n] = true
		switch n.kind {
		case mapNode:
			for _, e := range n.entries {
				p := KeyPath(path, e.key)
				for _, r := range e.repeats {
					if reported[r] {
						continue
					}
					reported[r] = true
					k := truncate(e.key, 60)
					d.lenient(r, p,
						fmt.Sprintf("key %q is written again (first at %s): the last value is used, as LAVA reads it", k, e.keyPos),
						fmt.Sprintf("key %q is written more than once in this mapping (first at %s)", k, e.keyPos))
				}
				walk(e.val, p)
			}
		case seqNode:
			for i, it := range n.items {
				walk(it, IndexPath(path, i))
			}
		}
	}
	walk(root, "$")
}
