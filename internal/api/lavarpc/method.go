package lavarpc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/xmlrpc"
)

// Method is one XML-RPC method.
type Method struct {
	// Name is the full name (scheduler.jobs.show).
	Name string
	// Params are the positional parameters, required ones first.
	Params []Param
	// Returns is the XML-RPC type of the result (system.methodSignature).
	Returns string
	// Help is the method's documentation (system.methodHelp).
	Help string
	// Auth says the method needs an authenticated caller (fault 401
	// otherwise, as LAVA's _authenticate); the app still checks what the
	// caller may do.
	Auth bool
	// Call runs the method.
	Call func(c *Call) (any, error)
}

// Param is one parameter of a method.
type Param struct {
	// Name is the parameter's name in LAVA's signature.
	Name string
	// Type is its XML-RPC type (string, int, boolean, array, struct,
	// base64, or "any").
	Type string
	// Optional parameters may be left out (the method's default applies).
	Optional bool
}

// checkArity refuses a call with too few or too many parameters.
func (m *Method) checkArity(params []any) error {
	required := 0
	for _, p := range m.Params {
		if !p.Optional {
			required++
		}
	}
	if len(params) >= required && len(params) <= len(m.Params) {
		return nil
	}
	names := make([]string, len(m.Params))
	for i, p := range m.Params {
		names[i] = p.Name
		if p.Optional {
			names[i] += "=…"
		}
	}
	want := fmt.Sprint(required)
	if len(m.Params) != required {
		want = fmt.Sprintf("%d to %d", required, len(m.Params))
	}
	return &xmlrpc.Fault{Code: FaultBadParams, Message: fmt.Sprintf("%s(%s) takes %s arguments, got %d", m.Name, strings.Join(names, ", "), want, len(params))}
}

// signature is the method's system.methodSignature: the return type,
// then the parameter types.
func (m *Method) signature() []any {
	sig := []any{orAny(m.Returns)}
	for _, p := range m.Params {
		sig = append(sig, orAny(p.Type))
	}
	return sig
}

func orAny(t string) string {
	if t == "" {
		return "any"
	}
	return t
}

// Call is one call of a method: who calls, with which parameters.
type Call struct {
	ctx    context.Context
	method *Method
	args   []any
	// P is the caller.
	P auth.Principal
	// App is the application the method calls.
	App *app.App
	// Server is the API (system.* methods read its table).
	Server *Server
}

// Context is the request's context.
func (c *Call) Context() context.Context { return c.ctx }

// badParam is a fault for parameter i.
func (c *Call) badParam(i int, format string, args ...any) error {
	name := fmt.Sprint(i)
	if i < len(c.method.Params) {
		name = c.method.Params[i].Name
	}
	return &xmlrpc.Fault{Code: FaultBadParams, Message: fmt.Sprintf("%s: %s: %s", c.method.Name, name, fmt.Sprintf(format, args...))}
}

// Has reports whether parameter i was given and is not None.
func (c *Call) Has(i int) bool { return i < len(c.args) && c.args[i] != nil }

// String returns parameter i as a string (def when it was not given or is
// None).
func (c *Call) String(i int, def string) (string, error) {
	if !c.Has(i) {
		return def, nil
	}
	switch v := c.args[i].(type) {
	case string:
		return v, nil
	case xmlrpc.Binary:
		return string(v), nil
	}
	return "", c.badParam(i, "want a string, got %s", typeName(c.args[i]))
}

// Int returns parameter i as an integer (def when it was not given or is
// None). Numeric strings are accepted, as LAVA's int() does.
func (c *Call) Int(i int, def int64) (int64, error) {
	if !c.Has(i) {
		return def, nil
	}
	switch v := c.args[i].(type) {
	case int64:
		return v, nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case string:
		var n int64
		if _, err := fmt.Sscan(strings.TrimSpace(v), &n); err == nil && fmt.Sprint(n) == strings.TrimSpace(v) {
			return n, nil
		}
	}
	return 0, c.badParam(i, "want an integer, got %s", typeName(c.args[i]))
}

// Bool returns parameter i as a boolean (def when it was not given or is
// None).
func (c *Call) Bool(i int, def bool) (bool, error) {
	if !c.Has(i) {
		return def, nil
	}
	switch v := c.args[i].(type) {
	case bool:
		return v, nil
	case int64:
		return v != 0, nil
	}
	return false, c.badParam(i, "want a boolean, got %s", typeName(c.args[i]))
}

// Strings returns parameter i as a list of strings (nil when it was not
// given or is None).
func (c *Call) Strings(i int) ([]string, error) {
	if !c.Has(i) {
		return nil, nil
	}
	list, ok := c.args[i].([]any)
	if !ok {
		return nil, c.badParam(i, "want an array of strings, got %s", typeName(c.args[i]))
	}
	out := make([]string, 0, len(list))
	for _, it := range list {
		s, ok := it.(string)
		if !ok {
			return nil, c.badParam(i, "want an array of strings, got an item of type %s", typeName(it))
		}
		out = append(out, s)
	}
	return out, nil
}

// Struct returns parameter i as a struct (nil when it was not given or is
// None).
func (c *Call) Struct(i int) (map[string]any, error) {
	if !c.Has(i) {
		return nil, nil
	}
	m, ok := c.args[i].(map[string]any)
	if !ok {
		return nil, c.badParam(i, "want a struct, got %s", typeName(c.args[i]))
	}
	return m, nil
}

// Arg returns parameter i as it came (nil when not given).
func (c *Call) Arg(i int) any {
	if i < len(c.args) {
		return c.args[i]
	}
	return nil
}

// lavaFault is a fault as LAVA's methods raise them: an HTTP status as its
// code, and LAVA's message.
func lavaFault(code int, format string, args ...any) error {
	return &xmlrpc.Fault{Code: code, Message: fmt.Sprintf(format, args...)}
}

// orNone is s, or None when s is empty (LAVA's nullable text fields).
func orNone(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// typeName names an XML-RPC value's type in messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return "string"
	case int64:
		return "int"
	case bool:
		return "boolean"
	case float64:
		return "double"
	case time.Time:
		return "dateTime.iso8601"
	case xmlrpc.Binary:
		return "base64"
	case []any:
		return "array"
	case map[string]any:
		return "struct"
	}
	return fmt.Sprintf("%T", v)
}
