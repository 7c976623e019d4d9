package yamltree_test

import (
	"errors"
	"testing"

	"github.com/basalt-lab/basalt/internal/yamltree"
)

// depth is the nesting depth of a tree (a scalar is 0).
func depth(n *yamltree.Node, seen map[*yamltree.Node]int) int {
	if d, ok := seen[n]; ok {
		return d
	}
	d := 0
	for _, it := range n.Items {
		d = max(d, 1+depth(it, seen))
	}
	for _, e := range n.Entries {
		d = max(d, 1+depth(e.Value, seen))
	}
	seen[n] = d
	return d
}

// FuzzRead checks that Read never panics, returns only *Error, and honours
// the limits: depth, size and expansion.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		"", "a: 1\n", "a: &x [1, 2]\nb: *x\nc: *x\n", "m:\n  <<: {a: 1}\n", "[[[[[[[[[[[]]]]]]]]]]]",
		"? [a]\n: b\n", "a: !!str 1\n", "a: !!int 1\nb: !!map {}\n~: \n", "a: 1\n...\n...\n", "---\na\n---\nb\n", "a: |\n  x\n", "{a: [b, {c: d}]}", "a: *b\n",
		"- - - - - - - - - - x\n", "a:\n  b:\n    c:\n      d:\n        e:\n          f: 1\n",
	} {
		f.Add([]byte(s))
	}
	lim := yamltree.Limits{MaxBytes: 4096, MaxDepth: 6, MaxKeys: 50, MaxExpansion: 200}
	f.Fuzz(func(t *testing.T, src []byte) {
		policies := []yamltree.Policy{
			{},
			{RefuseSecondHeader: true, RefuseTags: true, RefuseMergeKeys: true, RawKeys: true, KeysAtIndicator: true},
			{RefuseSecondHeader: true, RefuseSecondEnd: true, TypedTags: true, NullKeys: true, NullAtKey: true, KeysAtIndicator: true},
		}
		for _, pol := range policies {
			n, err := yamltree.ReadPolicy(src, lim, pol)
			if err != nil {
				var ye *yamltree.Error
				if !errors.As(err, &ye) {
					t.Fatalf("error %T is not a *yamltree.Error: %v", err, err)
				}
				if ye.Line < 1 || ye.Column < 1 {
					t.Fatalf("error without a position: %v", err)
				}
				continue
			}
			if len(src) > lim.MaxBytes {
				t.Fatalf("read %d bytes, over MaxBytes", len(src))
			}
			if n == nil {
				continue
			}
			if d := depth(n, map[*yamltree.Node]int{}); d > lim.MaxDepth+1 {
				t.Fatalf("tree depth %d over MaxDepth %d", d, lim.MaxDepth)
			}
			if n.Size > len(src)+lim.MaxExpansion+1 {
				t.Fatalf("tree size %d over source %d + expansion %d", n.Size, len(src), lim.MaxExpansion)
			}
		}
	})
}
