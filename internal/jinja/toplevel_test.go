package jinja

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// showDecls prints declarations and errors one per line for comparisons.
func showDecls(decls []Decl, errs []*Error) []string {
	kinds := map[DeclKind]string{DeclExtends: "extends", DeclSet: "set", DeclText: "text", DeclOutput: "output", DeclOther: "other"}
	var out []string
	for _, d := range decls {
		s := fmt.Sprintf("%s %d:%d", kinds[d.Kind], d.Line, d.Column)
		if d.Tag != "" {
			s += " tag=" + d.Tag
		}
		if d.Name != "" || d.NameLine != 0 {
			s += fmt.Sprintf(" name=%s@%d:%d", d.Name, d.NameLine, d.NameColumn)
		}
		if d.Value != nil {
			s += " value=" + showLiteral(d.Value)
		}
		if d.Context != "" {
			s += " context=" + d.Context
		}
		if d.Text != "" {
			s += fmt.Sprintf(" text=%q", d.Text)
		}
		if p := d.Problem; p != nil {
			s += fmt.Sprintf(" problem=%d:%d/%d/%s", p.Line, p.Column, p.Reason, p.Name)
		}
		out = append(out, s)
	}
	for _, e := range errs {
		out = append(out, fmt.Sprintf("error %d:%d %s", e.Line, e.Column, e.Msg))
	}
	return out
}

// showLiteral prints a literal with the position of every part, checking
// that Value agrees with Items and Entries.
func showLiteral(l *Literal) string {
	at := fmt.Sprintf("@%d:%d", l.Line, l.Column)
	switch v := l.Value.(type) {
	case []any:
		parts := make([]string, len(l.Items))
		for i, it := range l.Items {
			parts[i] = showLiteral(it)
			if !cmp.Equal(v[i], it.Value) {
				parts[i] += "!MISMATCH"
			}
		}
		return "[" + strings.Join(parts, ",") + "]" + at
	case map[string]any:
		parts := make([]string, len(l.Entries))
		for i, e := range l.Entries {
			parts[i] = fmt.Sprintf("%s@%d:%d:%s", e.Key, e.Line, e.Column, showLiteral(e.Value))
			if !cmp.Equal(v[e.Key], e.Value.Value) {
				parts[i] += "!MISMATCH"
			}
		}
		if len(v) != len(l.Entries) {
			parts = append(parts, "!MISMATCH")
		}
		return "{" + strings.Join(parts, ",") + "}" + at
	}
	j, _ := json.Marshal(l.Value)
	return fmt.Sprintf("%s(%T)%s", j, l.Value, at)
}

func TestDeclarations(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"literals", "{% extends 'qemu.jinja2' %}\n{# c #}\n{% set a = 1 %}{% set b = -2.5 %}\n{%- set  c = [1, ('x', +3), {'k': none, \"j\" 'oin': true}] -%}\n",
			[]string{
				"extends 1:1 tag=extends name=qemu.jinja2@1:12",
				"set 3:1 tag=set name=a@3:8 value=1(int)@3:12",
				"set 3:16 tag=set name=b@3:23 value=-2.5(float64)@3:27",
				`set 4:1 tag=set name=c@4:10 value=[1(int)@4:15,["x"(string)@4:19,3(int)@4:24]@4:19,{k@4:30:null(<nil>)@4:35,join@4:41:true(bool)@4:52}@4:29]@4:14`,
			}},
		{"default", "{% set arch = arch | default('amd64') %}{% set x = y|d([1]) %}",
			[]string{
				`set 1:1 tag=set name=arch@1:8 value="amd64"(string)@1:30 context=arch`,
				"set 1:41 tag=set name=x@1:48 value=[1(int)@1:57]@1:56 context=y",
			}},
		{"other constructs", "{{ x }}\n{% if a %}{% set z = 1 %}{% endif %}\n  text\n# yaml\n{% block b %}{% endblock %}{% print 1, 2 %}{% raw %}{{ r }}{% endraw %}",
			[]string{
				"output 1:1",
				"other 2:1 tag=if",
				`text 3:1 text="  text\n# yaml\n"`,
				"other 5:1 tag=block",
				"other 5:28 tag=print",
				`text 5:53 text="{{ r }}"`,
			}},
		{"problems", "{% extends name %}{% set a = b %}{% set c = [d] %}{% set e = 1 + 2 %}{% set f = g | upper %}{% set h = 'x' | default(1) %}" +
			"{% set i = j | default() %}{% set k = l | default(1, 2) %}{% set m = {1: 2} %}{% set n = {'a': 1, 'a': 2} %}" +
			"{% set o, p = 1, 2 %}{% set ns.q = 1 %}{% set r %}x{% endset %}{% set s = -t %}{% set u = a == b %}{% set v = j | default(1, boolean=true) %}",
			[]string{
				"extends 1:1 tag=extends problem=1:12/13/",
				"set 1:19 tag=set name=a@1:26 problem=1:30/1/b",
				"set 1:34 tag=set name=c@1:41 problem=1:46/2/d",
				"set 1:51 tag=set name=e@1:58 problem=1:64/3/+",
				"set 1:70 tag=set name=f@1:77 problem=1:85/4/upper",
				"set 1:93 tag=set name=h@1:100 problem=1:110/5/default",
				"set 1:123 tag=set name=i@1:130 problem=1:138/6/default",
				"set 1:150 tag=set name=k@1:157 problem=1:176/7/default",
				"set 1:181 tag=set name=m@1:188 problem=1:193/8/a number",
				"set 1:201 tag=set name=n@1:208 problem=1:221/9/a",
				"set 1:231 tag=set name=o@1:238 problem=1:238/10/o",
				"set 1:252 tag=set name=ns@1:259 problem=1:259/11/ns.q",
				"set 1:270 tag=set name=r@1:277 problem=1:277/12/r",
				"set 1:294 tag=set name=s@1:301 problem=1:305/3/-",
				"set 1:310 tag=set name=u@1:317 problem=1:321/3/==",
				"set 1:330 tag=set name=v@1:337 problem=1:364/7/default",
			}},
		{"resume after errors in bodiless tags", "{% frob %}{% set a = 1 2 %}{% set b = x | nofilter %}{{ 1 + }}{% endif %}{% set c = 3 %}",
			[]string{
				"set 1:74 tag=set name=c@1:81 value=3(int)@1:85",
				"error 1:4 Encountered unknown tag 'frob'.",
				"error 1:24 expected token 'end of statement block', got 'integer'",
				"error 1:43 No filter named 'nofilter'.",
				"error 1:61 unexpected 'end of print statement'",
				"error 1:66 Encountered unknown tag 'endif'.",
			}},
		{"an error in a body ends the reading", "{% set a = 1 %}{% if x %}{% frob %}{% endif %}{% set b = 2 %}",
			[]string{
				"set 1:1 tag=set name=a@1:8 value=1(int)@1:12",
				"error 1:29 Encountered unknown tag 'frob'. The innermost block that needs to be closed is 'if'.",
			}},
		{"an error before a body opens ends the reading", "{% for x y %}{% set a = 1 %}{% endfor %}",
			[]string{"error 1:10 expected token 'in', got 'y'"}},
		{"a block set ends the reading", "{% set a | nofilter %}x{% endset %}{% endset %}",
			[]string{"error 1:12 No filter named 'nofilter'."}},
		{"lexical error: what precedes it, then the error", "{% set a = 1 %}\n{% frob %}\n{% set b = 'open %}\n{% set c = 3 %}",
			[]string{
				"set 1:1 tag=set name=a@1:8 value=1(int)@1:12",
				"error 2:4 Encountered unknown tag 'frob'.",
				"error 3:12 unexpected char \"'\"",
			}},
		{"unclosed tag", "{% set a = 1 %}\n{% set b = 2\n", []string{
			"set 1:1 tag=set name=a@1:8 value=1(int)@1:12",
			"error 2:13 unexpected end of template, expected end of statement block",
		}},
		{"unclosed block", "{% block b %}{% set a = 1 %}", []string{
			"error 1:29 unexpected end of template, expected 'endblock'. The innermost block that needs to be closed is 'block'.",
		}},
		{"whitespace only", " \n\t{# c #}\r\n", nil},
	}
	env := NewLAVA(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decls, errs := env.Declarations("dict", tt.src)
			if diff := cmp.Diff(tt.want, showDecls(decls, errs)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			for _, e := range errs {
				if e.Template != "dict" {
					t.Errorf("error %v names template %q", e, e.Template)
				}
			}
		})
	}
}

func TestDeclarationsLimits(t *testing.T) {
	env := New(Options{Limits: Limits{MaxSourceBytes: 10}})
	_, errs := env.Declarations("dict", "{% set a = 1 %}")
	if got := showDecls(nil, errs); !cmp.Equal(got, []string{"error 1:1 template is larger than 10 bytes"}) {
		t.Errorf("got %q", got)
	}
	_, errs = NewLAVA(nil).Declarations("dict", strings.Repeat("{% x %}", 150))
	if len(errs) != maxDeclErrors {
		t.Errorf("%d errors, want %d", len(errs), maxDeclErrors)
	}
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	_, errs = NewLAVA(nil).Declarations("dict", "{% set a = "+deep+" %}")
	if got := showDecls(nil, errs); !cmp.Equal(got, []string{"error 1:78 template nesting exceeds the limit of 200"}) {
		t.Errorf("got %q", got)
	}
}

// checkAgreesWithParse checks that Declarations reads src as Parse does:
// no error exactly when Parse succeeds, and Parse's error among its own
// (first for a syntax error, last for a lexical one).
func checkAgreesWithParse(t *testing.T, env *Env, src string) {
	t.Helper()
	decls, errs := env.Declarations("t", src)
	_, perr := env.Parse("t", src)
	for _, d := range decls {
		if d.Line < 1 || d.Column < 1 || (d.Value != nil && (d.Value.Line < 1 || d.Value.Column < 1)) {
			t.Fatalf("declaration without a position: %+v", d)
		}
	}
	if perr == nil {
		if len(errs) > 0 {
			t.Fatalf("Parse accepts, Declarations reports %v", errs)
		}
		return
	}
	if len(errs) == 0 {
		t.Fatalf("Parse reports %v, Declarations none", perr)
	}
	var pe *Error
	if !errors.As(perr, &pe) {
		t.Fatalf("Parse error %T", perr)
	}
	want := errs[0]
	if _, lexErr := tokenize("t", normalizeSource(src), env.opts.TrimBlocks, env.opts.LStripBlocks, len(src)+16); lexErr != nil {
		if len(errs) == maxDeclErrors {
			return
		}
		want = errs[len(errs)-1]
	}
	if want.Error() != pe.Error() || want.Line != pe.Line || want.Column != pe.Column {
		t.Fatalf("Parse reports %v, Declarations %v", pe, want)
	}
}

func TestDeclarationsAgreeWithParse(t *testing.T) {
	env := NewLAVA(nil)
	for _, src := range []string{
		"", "{% set a = 1 %}", "{% frob %}", "{% frob %}{% set a = 'x", "{% if %}", "{{ }}", "{% set %}",
		"{% block a %}{% endblock %}{% block a %}{% endblock %}", "{% set a = 1 %}{% endset %}",
	} {
		checkAgreesWithParse(t, env, src)
	}
}

// FuzzDeclarations checks that Declarations never panics, gives positions,
// and agrees with Parse.
func FuzzDeclarations(f *testing.F) {
	for _, s := range []string{
		"{% extends 'qemu.jinja2' %}{% set a = [1, {'b': -2.5}] %}{% set c = c | default('x') %}",
		"{% frob %}{% set a = 1 2 %}{{ x }}", "{% if a %}{% set b = 1 %}{% endif %}text", "{% set a = 'open",
		"{% set ns.a = 1 %}{% set a, b = 1, 2 %}{% set c %}x{% endset %}", "{#", "{%- raw -%}{{{% endraw %}",
	} {
		f.Add(s)
	}
	env := NewLAVA(nil)
	f.Fuzz(func(t *testing.T, src string) {
		checkAgreesWithParse(t, env, src)
	})
}
