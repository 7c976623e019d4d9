package devicedict

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Error is one problem found in a device dictionary. Line and Column are
// 1-based (columns count characters) and always set; Path locates the
// offending value as "$.variable", "$.user_commands.reboot.do" or
// "$.extra_options[1]" (empty for syntax errors); Msg says what was wrong
// and what was expected. It has the shape of jobdef.Error so that the API
// reports both the same way.
type Error struct {
	Line   int
	Column int
	Path   string
	Msg    string
}

// Error formats the problem as "line:col: path: message".
func (e Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%d:%d: %s: %s", e.Line, e.Column, e.Path, e.Msg)
}

// Unwrap makes errors.Is(e, lab.ErrInvalid) true.
func (e Error) Unwrap() error { return lab.ErrInvalid }

// Errors is the error Parse and Validate return for an invalid dictionary:
// every problem found in one pass, sorted by position (then path and
// message), without duplicates. It is never empty.
// errors.Is(err, lab.ErrInvalid) holds.
type Errors struct {
	Items []Error
}

// Error lists the problems, one per line.
func (e *Errors) Error() string {
	if e == nil || len(e.Items) == 0 {
		return "invalid device dictionary"
	}
	var b strings.Builder
	for i, it := range e.Items {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(it.Error())
	}
	return b.String()
}

// Unwrap makes errors.Is(err, lab.ErrInvalid) true.
func (e *Errors) Unwrap() error { return lab.ErrInvalid }

// maxErrors bounds the problems reported for one dictionary; beyond it the
// list ends with a "too many errors" item.
const maxErrors = 100

// pos is a resolved 1-based source position.
type pos struct{ line, col int }

// errList collects problems during one Parse or Validate call.
type errList struct {
	items   []Error
	dropped int
}

func (l *errList) add(p pos, path, msg string) {
	if len(l.items) >= maxErrors {
		l.dropped++
		return
	}
	l.items = append(l.items, Error{Line: max(p.line, 1), Column: max(p.col, 1), Path: path, Msg: msg})
}

// full reports whether further problems are only counted; callers skip
// building their messages.
func (l *errList) full() bool { return len(l.items) >= maxErrors }

func (l *errList) empty() bool { return len(l.items) == 0 }

// result returns the sorted, de-duplicated list as *Errors, or nil.
func (l *errList) result() error {
	if len(l.items) == 0 {
		return nil
	}
	items := append([]Error(nil), l.items...)
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Msg < b.Msg
	})
	out := items[:1]
	for _, it := range items[1:] {
		if it != out[len(out)-1] {
			out = append(out, it)
		}
	}
	if l.dropped > 0 {
		last := out[len(out)-1]
		out = append(out, Error{Line: last.Line, Column: last.Column,
			Msg: fmt.Sprintf("too many errors; %d more not shown", l.dropped)})
	}
	return &Errors{Items: out}
}

// plainKey matches keys that need no quoting in a path.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// keyPath appends a mapping key to a path, like jobdef.KeyPath.
func keyPath(parent, key string) string {
	if plainKey.MatchString(key) {
		return parent + "." + key
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return parent + "['" + r.Replace(key) + "']"
}

// indexPath appends a 0-based index to a path.
func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// varPath is the path of a top-level variable.
func varPath(name string) string { return keyPath("$", name) }
