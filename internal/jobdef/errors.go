package jobdef

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Pos is a 1-based position in the job definition source. Columns count
// characters from the start of the line. The zero Pos means "unknown".
type Pos struct {
	Line   int
	Column int
}

// String formats the position as "line:column".
func (p Pos) String() string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column) }

// MarshalJSON encodes the position as the string "line:column", which keeps
// golden files and API payloads compact.
func (p Pos) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// UnmarshalJSON decodes the "line:column" form written by MarshalJSON.
func (p *Pos) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decode position: %w", err)
	}
	line, col, ok := strings.Cut(s, ":")
	l, err1 := strconv.Atoi(line)
	c, err2 := strconv.Atoi(col)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("decode position %q: want line:column", s)
	}
	*p = Pos{Line: l, Column: c}
	return nil
}

// Error is one problem found in a job definition. Line and Column are 1-based
// and always set; Path locates the offending value in the document in the
// form "$.actions[1].boot.method" (empty for YAML syntax errors, which have no
// meaningful path); Msg says what was wrong and what was expected.
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

// Errors is the error Parse returns for an invalid job definition: every
// problem found in one pass, sorted by position (then path and message),
// without duplicates. It is never empty. errors.Is(err, lab.ErrInvalid) holds.
type Errors struct {
	Items []Error
}

// Error lists the problems, one per line.
func (e *Errors) Error() string {
	if e == nil || len(e.Items) == 0 {
		return "invalid job definition"
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

// Warning is something in a job definition that Parse accepted, as LAVA's
// submission accepts it, but that is most likely a mistake: a mapping key
// written twice (the last value is used, as PyYAML does), a key that is
// ignored, auto_login without prompts. It has the shape of Error; Strict
// makes every warning an error.
type Warning struct {
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Path   string `json:"path"`
	Msg    string `json:"message"`
}

// String formats the warning as "line:col: path: message", like Error.
func (w Warning) String() string { return Error(w).Error() }

// maxErrors bounds the number of problems (and, apart, of warnings)
// reported for one document; beyond it the list ends with a "too many"
// item.
const maxErrors = 100

// errList collects problems during one Parse call.
type errList struct {
	items   []Error
	dropped int
	total   int // problems reported, including dropped ones

	warnings    []Warning
	warnDropped int
}

// warn records a warning (see Warning).
func (l *errList) warn(pos Pos, path, msg string) {
	if len(l.warnings) >= maxErrors {
		l.warnDropped++
		return
	}
	pos = clampPos(pos)
	l.warnings = append(l.warnings, Warning{Line: pos.Line, Column: pos.Column, Path: path, Msg: msg})
}

// warningList returns the warnings sorted like errors, without duplicates;
// nil when there are none.
func (l *errList) warningList() []Warning {
	if len(l.warnings) == 0 {
		return nil
	}
	items := make([]Error, len(l.warnings))
	for i, w := range l.warnings {
		items[i] = Error(w)
	}
	items = sortProblems(items)
	out := make([]Warning, len(items), len(items)+1)
	for i, it := range items {
		out[i] = Warning(it)
	}
	if l.warnDropped > 0 {
		last := out[len(out)-1]
		out = append(out, Warning{Line: last.Line, Column: last.Column,
			Msg: fmt.Sprintf("too many warnings; %d more not shown", l.warnDropped)})
	}
	return out
}

// clampPos makes a position 1-based.
func clampPos(pos Pos) Pos {
	if pos.Line < 1 {
		pos.Line = 1
	}
	if pos.Column < 1 {
		pos.Column = 1
	}
	return pos
}

func (l *errList) add(pos Pos, path, msg string) {
	l.total++
	if len(l.items) >= maxErrors {
		l.dropped++
		return
	}
	pos = clampPos(pos)
	l.items = append(l.items, Error{Line: pos.Line, Column: pos.Column, Path: path, Msg: msg})
}

// result returns the sorted, de-duplicated list as *Errors, or nil.
func (l *errList) result() error {
	if len(l.items) == 0 {
		return nil
	}
	out := sortProblems(l.items)
	if l.dropped > 0 {
		last := out[len(out)-1]
		out = append(out, Error{Line: last.Line, Column: last.Column,
			Msg: fmt.Sprintf("too many errors; %d more not shown", l.dropped)})
	}
	return &Errors{Items: out}
}

// sortProblems returns a sorted copy of items (by position, then path and
// message) without duplicates; items is not empty.
func sortProblems(in []Error) []Error {
	items := append([]Error(nil), in...)
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
	return out
}

// plainKey matches map keys that need no quoting in a path.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// KeyPath appends a mapping key to a path: KeyPath("$.a", "b") is "$.a.b".
// Keys that are not made of letters, digits, '_' and '-' are written in
// bracket form with single quotes: KeyPath("$", "a b") is "$['a b']", with
// backslash and single quote escaped by a backslash.
func KeyPath(parent, key string) string {
	if plainKey.MatchString(key) {
		return parent + "." + key
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return parent + "['" + r.Replace(key) + "']"
}

// IndexPath appends a 0-based sequence index to a path: IndexPath("$.a", 2)
// is "$.a[2]".
func IndexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// pathStep is one element of a parsed path: a key or an index.
type pathStep struct {
	key   string
	index int
	isKey bool
}

// PathSteps splits a path written by KeyPath and IndexPath into its
// steps from the root: keys as strings, indexes as ints
// ($.actions[0]['a b'] is "actions", 0, "a b"); ok is false for a path
// they did not write.
func PathSteps(path string) (steps []any, ok bool) {
	split, ok := splitPath(path)
	if !ok {
		return nil, false
	}
	steps = make([]any, len(split))
	for i, s := range split {
		if s.isKey {
			steps[i] = s.key
		} else {
			steps[i] = s.index
		}
	}
	return steps, true
}

// splitPath parses a path written by KeyPath/IndexPath back into steps.
func splitPath(path string) ([]pathStep, bool) {
	if !strings.HasPrefix(path, "$") {
		return nil, false
	}
	var steps []pathStep
	s := path[1:]
	for s != "" {
		switch {
		case s[0] == '.':
			i := 1
			for i < len(s) && s[i] != '.' && s[i] != '[' {
				i++
			}
			if !plainKey.MatchString(s[1:i]) {
				return nil, false
			}
			steps = append(steps, pathStep{key: s[1:i], isKey: true})
			s = s[i:]
		case strings.HasPrefix(s, "['"):
			var b strings.Builder
			i := 2
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed || i+1 >= len(s) || s[i+1] != ']' {
				return nil, false
			}
			steps = append(steps, pathStep{key: b.String(), isKey: true})
			s = s[i+2:]
		case s[0] == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, false
			}
			n, err := strconv.Atoi(s[1:end])
			if err != nil || n < 0 {
				return nil, false
			}
			steps = append(steps, pathStep{index: n})
			s = s[end+1:]
		default:
			return nil, false
		}
	}
	return steps, true
}
