package jinja

import (
	"errors"
	"testing"
)

// FuzzRender parses and renders arbitrary sources (with a small loader so
// extends/include/import paths run): it must never panic or hang, and any
// failure must be an *Error.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"{{ 1 + 2 ** 3 }}", "{% for x in range(3) %}{{ loop.index }}{% endfor %}",
		"{% extends 'base' %}{% block b %}{{ super() }}{% endblock %}",
		"{% include 'self' %}", "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
		"{% set x %}{{ 'a' * 1000 }}{% endset %}{{ x | indent(4) }}",
		"{{ [1, 'a', none, {'k': (1,)}] }}", "{% raw %}{{ x }}{% endraw %}",
		"{%- if a -%} {{ b | default('c') }} {%+ endif %}", "{{ 'a' ~ x.y }}",
		"{% filter upper %}x{% endfilter %}{{ '%s' | format(1) }}",
	} {
		f.Add(s)
	}
	loader := MapLoader{
		"base": "{% block b %}B{% endblock %}{{ x }}",
		"self": "{% include 'self' %}",
		"loop": "{% extends 'loop' %}",
	}
	f.Fuzz(func(t *testing.T, src string) {
		env := New(Options{TrimBlocks: true, Loader: loader, Limits: Limits{
			MaxOutputBytes: 1 << 16, MaxIterations: 10000, MaxCallDepth: 20, MaxTemplateDepth: 8,
		}})
		_, err := env.RenderString("fuzz", src, map[string]any{"x": "v", "l": []any{int64(1), "a"}})
		if err != nil {
			var je *Error
			if !errors.As(err, &je) {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
		}
	})
}
