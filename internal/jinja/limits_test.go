package jinja

import (
	"errors"
	"strings"
	"testing"
)

// TestLimits checks that hostile templates end in a positioned *Error
// naming the limit, never a panic or a hang.
func TestLimits(t *testing.T) {
	lim := Limits{MaxSourceBytes: 4096, MaxNesting: 50, MaxTemplateDepth: 5, MaxOutputBytes: 1000, MaxIterations: 500, MaxCallDepth: 10}
	loader := MapLoader{
		"cycle-a": "{% extends 'cycle-b' %}",
		"cycle-b": "{% extends 'cycle-a' %}",
		"self":    "{% include 'self' %}",
	}
	for _, tc := range []struct{ name, src, want string }{
		{"source size", strings.Repeat("x", 5000), "larger than 4096 bytes"},
		{"expression nesting", "{{ " + strings.Repeat("(", 60) + "1" + strings.Repeat(")", 60) + " }}", "nesting exceeds the limit of 50"},
		{"statement nesting", strings.Repeat("{% if 1 %}", 60) + strings.Repeat("{% endif %}", 60), "nesting exceeds the limit of 50"},
		{"extends cycle", "{% extends 'cycle-a' %}", "nest deeper than 5"},
		{"include cycle", "{% include 'self' %}", "nest deeper than 5"},
		{"output size", "{% for i in range(200) %}0123456789{% endfor %}", "output exceeds 1000 bytes"},
		{"string size", "{{ 'x' * 100000 }}", "exceeds 1000 bytes"},
		{"iterations", "{% for i in range(400) %}{% for j in range(2) %}{% endfor %}{% endfor %}", "more than 500 loop iterations"},
		{"sandbox range", "{{ range(200000) }}", "Range too big"},
		{"macro recursion", "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}", "nest deeper than 10"},
		{"block recursion", "{% block b %}{{ self.b() }}{% endblock %}", "nest deeper than 10"},
		{"integer overflow", "{{ 2 ** 64 }}", "integer overflow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := New(Options{TrimBlocks: true, Loader: loader, Limits: lim})
			out, err := env.RenderString("hostile.jinja2", tc.src, nil)
			if err == nil {
				t.Fatalf("rendered %d bytes, want an error containing %q", len(out), tc.want)
			}
			var je *Error
			if !errors.As(err, &je) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.src) && len(tc.src) > 40 {
				t.Fatalf("error message contains the template source")
			}
		})
	}
}

// TestErrorFormat checks the "template:line:column: message" form.
func TestErrorFormat(t *testing.T) {
	env := NewLAVA(MapLoader{})
	_, err := env.RenderString("beaglebone-black.jinja2", "a\n{% if x %}\nnever closed\n", nil)
	want := "beaglebone-black.jinja2:3:13: unexpected end of template, expected 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'."
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// TestDirLoaderConfined checks that names cannot leave the directory.
func TestDirLoaderConfined(t *testing.T) {
	l := DirLoader(t.TempDir())
	for _, name := range []string{"../etc/passwd", "/etc/passwd", "a/../../x", ""} {
		if _, err := l.Load(name); !errors.Is(err, ErrNotFound) {
			t.Errorf("Load(%q) = %v, want ErrNotFound", name, err)
		}
	}
}
