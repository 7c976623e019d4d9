package jinja

import (
	"fmt"
	"strings"
)

// Error is a template syntax or render error. Template, Line and Column
// locate it (Column is 0 when only the line is known); Chain lists the
// templates that led to it through extends, include and import, outermost
// first. The message never contains the template source.
type Error struct {
	Template string
	Line     int
	Column   int
	Msg      string
	Chain    []string

	cause error
}

// Unwrap returns the underlying error (for example one wrapping
// ErrNotFound when a template is missing), or nil.
func (e *Error) Unwrap() error { return e.cause }

// Error formats the error as "template:line:column: message", followed by
// the include/extends chain when there is one.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Template)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if len(e.Chain) > 0 {
		b.WriteString(" (via ")
		b.WriteString(strings.Join(e.Chain, " -> "))
		b.WriteString(")")
	}
	return b.String()
}

// pyErr is a Python-level exception raised while evaluating; the renderer
// attaches the position of the node being evaluated.
type pyErr struct {
	kind string // TypeError, UndefinedError, ...
	msg  string
}

func (e *pyErr) Error() string { return e.kind + ": " + e.msg }

func typeErr(format string, a ...any) error {
	return &pyErr{kind: "TypeError", msg: fmt.Sprintf(format, a...)}
}

func undefErr(format string, a ...any) error {
	return &pyErr{kind: "UndefinedError", msg: fmt.Sprintf(format, a...)}
}

func valueErr(format string, a ...any) error {
	return &pyErr{kind: "ValueError", msg: fmt.Sprintf(format, a...)}
}

func limitErr(format string, a ...any) error {
	return &pyErr{kind: "LimitError", msg: fmt.Sprintf(format, a...)}
}
