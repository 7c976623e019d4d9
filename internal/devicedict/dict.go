package devicedict

import (
	"errors"
	"fmt"
	"strings"

	"github.com/basalt-lab/basalt/internal/yamltree"
)

// Limits applied by Parse, so that a hostile dictionary costs bounded time
// and memory.
const (
	// MaxSize is the largest dictionary accepted, in bytes.
	MaxSize = 1 << 20
	// MaxDepth is the deepest nesting of lists and mappings accepted.
	MaxDepth = 64
)

// Form is how a dictionary is written.
type Form string

// Forms of a dictionary.
const (
	FormEmpty Form = ""       // no text (or only blanks and YAML comments)
	FormJinja Form = "jinja2" // LAVA's {% extends %} / {% set %} form
	FormYAML  Form = "yaml"   // a YAML mapping of variables
)

// Dict is a parsed device dictionary. Vars are in source order and each
// name appears once.
type Dict struct {
	// Form is how the dictionary is written.
	Form Form
	// Template is the device-type template it extends, without ".jinja2"
	// ("qemu"); empty when a YAML dictionary has no extends: key (the
	// device type then names the template) or the dictionary is empty.
	Template string
	// Vars are the variables it sets.
	Vars []Var

	templateSrc srcPos // where the template is named
}

// Var is one variable of a dictionary.
type Var struct {
	// Name is the variable name ("memory").
	Name string
	// Value is the literal value: nil, string, int, float64, bool, []any or
	// map[string]any. With FromContext it is the default.
	Value any
	// FromContext is true for NAME | default(VALUE): the job's context
	// variable ContextName, when the job sets it, replaces Value.
	FromContext bool
	// ContextName is the context variable read by FromContext values
	// (usually Name itself).
	ContextName string
	// Line and Column are where the variable name is written (1-based).
	Line, Column int

	n *node // Value with positions; nil when the Var was built by hand
}

// Lookup returns the variable called name.
func (d *Dict) Lookup(name string) (Var, bool) {
	if d == nil {
		return Var{}, false
	}
	for _, v := range d.Vars {
		if v.Name == name {
			return v, true
		}
	}
	return Var{}, false
}

// Parse reads a device dictionary in either form and checks its syntax.
// Problems are returned as *Errors, with positions. Text whose first
// non-blank, non-comment content is a Jinja2 tag ({%, {#, {{) is LAVA's
// form; any other text is YAML. Texts larger than MaxSize and values nested
// deeper than MaxDepth are refused.
func Parse(text string) (*Dict, error) {
	var errs errList
	d := &Dict{}
	if len(text) > MaxSize {
		errs.add(pos{1, 1}, "", fmt.Sprintf("device dictionary is %d bytes, larger than the %d bytes allowed", len(text), MaxSize))
		return nil, errs.result()
	}
	text = strings.TrimPrefix(text, "\ufeff")
	var ye *yamltree.Error
	if err := yamltree.CheckEncoding(text); errors.As(err, &ye) {
		errs.add(pos{ye.Line, ye.Column}, "", ye.Msg)
		return nil, errs.result()
	}
	switch {
	case isJinja(text):
		d.Form = FormJinja
		parseJinja(text, d, &errs)
	default:
		parseYAML(text, d, &errs)
	}
	if err := errs.result(); err != nil {
		return nil, err
	}
	return d, nil
}

// Check parses text and validates it for a device of type deviceType:
// Parse followed by Dict.Validate. Problems are *Errors.
func Check(text, deviceType string) error {
	d, err := Parse(text)
	if err != nil {
		return err
	}
	return d.Validate(deviceType)
}

// isJinja reports whether the first content of text, past blank lines and
// YAML comment lines, is a Jinja2 tag.
func isJinja(text string) bool {
	for text != "" {
		line, rest, _ := strings.Cut(text, "\n")
		t := strings.TrimLeft(line, " \t\r\f\v")
		switch {
		case t == "" || t[0] == '#':
			text = rest
			continue
		case strings.HasPrefix(t, "{%"), strings.HasPrefix(t, "{#"), strings.HasPrefix(t, "{{"):
			return true
		}
		return false
	}
	return false
}

// Kind says what kind of device the dictionary describes on a device of
// the given type: "simulated" when it sets simulated (whatever the type),
// "qemu" when its template is qemu (a YAML dictionary without extends takes
// the device type as its template), "" otherwise (no dictionary, or a
// template without an implementation).
func Kind(d *Dict, deviceType string) string {
	if d == nil {
		return ""
	}
	if _, ok := d.Lookup(SimulatedVar); ok {
		return KindSimulated
	}
	if d.template(deviceType) == TemplateQEMU {
		return KindQEMU
	}
	return ""
}

// Device kinds returned by Kind.
const (
	KindQEMU      = "qemu"
	KindSimulated = "simulated"
)

// template is the dictionary's template on a device of type deviceType.
func (d *Dict) template(deviceType string) string {
	switch {
	case d.Template != "":
		return d.Template
	case d.Form == FormYAML && len(d.Vars) > 0:
		return deviceType
	}
	return ""
}

// Resolve returns the effective variables for a job, with LAVA's Jinja2
// semantics: every context variable, overridden by each variable the
// dictionary sets, except that NAME | default(VALUE) takes the context's
// NAME when the job sets it (or a variable the dictionary set before) and
// VALUE otherwise. The context is not modified; values are shared with it.
func (d *Dict) Resolve(context map[string]any) map[string]any {
	out := make(map[string]any, len(context)+len(d.vars()))
	for k, v := range context {
		out[k] = v
	}
	local := map[string]any{}
	for _, v := range d.vars() {
		val := v.Value
		if v.FromContext {
			name := v.ContextName
			if name == "" {
				name = v.Name
			}
			if lv, ok := local[name]; ok {
				val = lv
			} else if cv, ok := context[name]; ok {
				val = cv
			}
		}
		local[v.Name] = val
		out[v.Name] = val
	}
	return out
}

func (d *Dict) vars() []Var {
	if d == nil {
		return nil
	}
	return d.Vars
}
