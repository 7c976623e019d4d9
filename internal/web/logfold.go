package web

import (
	"bytes"
	"context"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// Folding a log window by action.
//
// The dispatcher logs "start: 2.1 name (timeout …)" and "end: 2.1 name
// (duration …)" info records around every action, and a results record of
// suite lava for it right after its end. A window of the log becomes a tree
// of sections, one per action, nested by level, each with its lines; a
// section also takes the lava results record that follows its end line,
// which gives its result. A start line closes the open sections that are
// not its ancestors (an action need not log an end, as validate does not),
// and an end line closes the sections nested in its own. Inside a boot
// action, a run of at least minBootRun consecutive target lines (the
// kernel's and bootloader's output) is one more section, a block.
//
// The same rules run in the browser (static/basalt.js) on lines that arrive
// live, from the marks renderLine puts on them (actionMark).

// minBootRun is the shortest run of target lines in a boot action that
// folds into a block of its own.
const minBootRun = 10

// maxActionDepth is the deepest action level ("1.2.3.4.5.6.7.8") that makes
// a section; deeper ones are ordinary lines, so nesting stays bounded.
const maxActionDepth = 8

// contextBudget is how many lines before a window are read to find the
// actions the window starts inside; contextFirstChunk is the first read.
// Variables for tests.
var (
	contextBudget     = 10000
	contextFirstChunk = 1000
)

// Kinds of action marks.
const (
	markStart  = "start"
	markEnd    = "end"
	markResult = "result"
)

// actionMark is what a log line says about an action: its start or end
// (info records) or its result (a results record of suite lava). The
// browser folds live lines with it, so it travels in the "lines" events.
type actionMark struct {
	Kind  string `json:"k"`           // markStart, markEnd or markResult
	Level string `json:"v,omitempty"` // "2.1"; results may lack it
	Name  string `json:"n,omitempty"` // the action's name (a result's case)
	Time  string `json:"d,omitempty"` // a start's timeout, an end's duration
}

// parseActionLine reads "start: 2.1 name (timeout 00:01:00)" or
// "end: 2.1 name (duration 00:00:03)"; other text gives nil.
func parseActionLine(text string) *actionMark {
	kind, rest, what := "", "", ""
	switch {
	case strings.HasPrefix(text, "start: "):
		kind, rest, what = markStart, text[len("start: "):], "(timeout "
	case strings.HasPrefix(text, "end: "):
		kind, rest, what = markEnd, text[len("end: "):], "(duration "
	default:
		return nil
	}
	level, rest, _ := strings.Cut(rest, " ")
	if !validActionLevel(level) {
		return nil
	}
	m := &actionMark{Kind: kind, Level: level, Name: strings.TrimSpace(rest)}
	if i := strings.Index(rest, " ("); i >= 0 {
		m.Name = strings.TrimSpace(rest[:i])
		if t, ok := strings.CutPrefix(rest[i+1:], what); ok {
			if j := strings.IndexByte(t, ')'); j >= 0 {
				m.Time = t[:j]
			}
		}
	}
	return m
}

// validActionLevel reports whether s is a level such as 1, 2.1 or 4.10.2:
// numbers joined by dots, at most maxActionDepth of them.
func validActionLevel(s string) bool {
	if s == "" || len(s) > 80 {
		return false
	}
	parts := 1
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && digits > 0:
			parts++
			digits = 0
		default:
			return false
		}
	}
	return digits > 0 && parts <= maxActionDepth
}

// isAncestorLevel reports whether level a is a proper ancestor of level b
// ("2" of "2.1" and "2.1.3", not of "20.1").
func isAncestorLevel(a, b string) bool {
	return len(b) > len(a) && strings.HasPrefix(b, a) && b[len(a)] == '.'
}

// logNode is one item of a folded window: a line or a section.
type logNode struct {
	Line *logLine
	Sec  *logSection
}

// logSection is a foldable part of a log window: an action, from its start
// line to its end line and result, or (Block) a run of boot output.
type logSection struct {
	Block    bool   // a block of boot output, not an action
	Level    string // the action's level, "2.1"
	Name     string
	Timeout  string
	Duration string // from the end line
	Result   string // pass, fail, skip or unknown; empty until known
	// First is the number of its first line (for an action that started
	// before the window, its start line there, 0 if not found); Last the
	// number of its last line in the window; Lines how many lines of the
	// window it holds, counting those the level filter hides.
	First, Last, Lines int
	Earlier            bool // started before the window
	Ended              bool // its end line was seen
	Closed             bool // closed by another action without an end line
	Open               bool // shown unfolded
	State              string
	StartURL           string // the start line of an earlier action
	Items              []logNode

	boot     bool        // inside a boot action: target runs fold
	run      *logSection // the block the next target line joins
	hasError bool        // holds an error or exception line
	hasHit   bool        // holds a search match
}

// Marker is the result as text, for the summary's badge.
func (s *logSection) Marker() string { return resultMarker(s.Result) }

// Failed reports a result other than pass and skip.
func (s *logSection) Failed() bool { return s.Result == "fail" || s.Result == "unknown" }

// Ends reports that the section has ended (with its end line or without).
func (s *logSection) Ends() bool { return s.Ended || s.Closed }

// newAction opens an action section under parent.
func newAction(parent *logSection, m *actionMark, first int) *logSection {
	return &logSection{Level: m.Level, Name: m.Name, Timeout: m.Time, First: first,
		boot: parent.boot || strings.Contains(m.Name, "boot")}
}

// folder builds the section tree of a window, line by line.
type folder struct {
	root      logSection
	stack     []*logSection          // the open actions, outermost first
	justEnded *logSection            // the action whose end line was the last line
	ended     map[string]*logSection // level → the last action of that level that ended
	keep      func(*logLine) bool    // the level filter; nil keeps every line
}

// newFolder starts a tree inside the actions open opened before the window
// (outermost first, as openActions returns them).
func newFolder(open []*logSection, keep func(*logLine) bool) *folder {
	f := &folder{ended: map[string]*logSection{}, keep: keep}
	parent := &f.root
	for _, s := range open {
		s.boot = parent.boot || strings.Contains(s.Name, "boot")
		parent.Items = append(parent.Items, logNode{Sec: s})
		f.stack = append(f.stack, s)
		parent = s
	}
	return f
}

func (f *folder) top() *logSection {
	if len(f.stack) == 0 {
		return &f.root
	}
	return f.stack[len(f.stack)-1]
}

// closeTo closes the open actions above depth n of the stack (they end
// without an end line of their own).
func (f *folder) closeTo(n int) {
	for _, s := range f.stack[n:] {
		s.Closed = true
	}
	f.stack = f.stack[:n]
}

// add puts the next line of the window into the tree.
func (f *folder) add(l *logLine) {
	shown := f.keep == nil || f.keep(l)
	m := l.Mark
	just := f.justEnded
	f.justEnded = nil
	switch {
	case m != nil && m.Kind == markStart:
		n := len(f.stack)
		for n > 0 && !isAncestorLevel(f.stack[n-1].Level, m.Level) {
			n--
		}
		f.closeTo(n)
		parent := f.top()
		s := newAction(parent, m, l.N)
		parent.run = nil
		parent.Items = append(parent.Items, logNode{Sec: s})
		f.stack = append(f.stack, s)
		f.put(s, l, shown)
		return
	case m != nil && m.Kind == markEnd:
		for i := len(f.stack) - 1; i >= 0; i-- {
			if s := f.stack[i]; s.Level == m.Level {
				f.closeTo(i + 1)
				f.put(s, l, shown)
				s.Ended, s.Duration = true, m.Time
				f.stack = f.stack[:i]
				f.justEnded, f.ended[s.Level] = s, s
				return
			}
		}
	case m != nil && m.Kind == markResult:
		if just != nil && resultFor(just, m) {
			just.Result = l.Result
			f.put(just, l, shown)
			return
		}
		if s := f.resultTarget(m); s != nil && s.Result == "" {
			s.Result = l.Result
		}
	}
	f.put(f.top(), l, shown)
}

// resultFor reports whether the result mark m is section s's: same level,
// or, for results without a level (validate's), same name.
func resultFor(s *logSection, m *actionMark) bool {
	if m.Level != "" {
		return s.Level == m.Level
	}
	return s.Name == m.Name
}

// resultTarget is the action a result that does not follow its end line
// belongs to: an open one, or the last that ended, with its level or name.
func (f *folder) resultTarget(m *actionMark) *logSection {
	for i := len(f.stack) - 1; i >= 0; i-- {
		if resultFor(f.stack[i], m) {
			return f.stack[i]
		}
	}
	if m.Level != "" {
		return f.ended[m.Level]
	}
	return nil
}

// put adds line l to section s (a boot block in it for target output) and
// counts it in s and in every open action.
func (f *folder) put(s *logSection, l *logLine, shown bool) {
	count := func(x *logSection) {
		x.Lines++
		x.Last = l.N
		if l.Level == "error" || l.Level == "exception" {
			x.hasError = true
		}
		x.hasHit = x.hasHit || l.Hit
	}
	for _, x := range f.stack {
		count(x)
	}
	if s != &f.root && !onStack(f.stack, s) {
		count(s)
	}
	if s.boot && s != &f.root && l.Level == "target" {
		if s.run == nil {
			s.run = &logSection{Block: true, First: l.N}
			s.Items = append(s.Items, logNode{Sec: s.run})
		}
		count(s.run)
		if shown {
			s.run.Items = append(s.run.Items, logNode{Line: l})
		}
		return
	}
	s.run = nil
	if shown {
		s.Items = append(s.Items, logNode{Line: l})
	}
}

func onStack(stack []*logSection, s *logSection) bool {
	for _, x := range stack {
		if x == s {
			return true
		}
	}
	return false
}

// foldInfo is what finishing the tree needs to know about the window.
type foldInfo struct {
	more    bool // the log goes on after the window
	running bool // the job is not finished: open actions may still log
}

// finish completes the tree: the result a peeked line (the one after the
// window) gives the action that ended last, blocks too short to fold put
// back inline, empty sections dropped, and which sections start open.
func (f *folder) finish(peek *logLine, info foldInfo) []logNode {
	if peek != nil && peek.Mark != nil && peek.Mark.Kind == markResult && f.justEnded != nil && resultFor(f.justEnded, peek.Mark) {
		f.justEnded.Result = peek.Result
	}
	return finishItems(&f.root, f.root.Items, info)
}

func finishItems(parent *logSection, items []logNode, info foldInfo) []logNode {
	out := make([]logNode, 0, len(items))
	for k, it := range items {
		s := it.Sec
		if s == nil {
			out = append(out, it)
			continue
		}
		if s.Block && s.Lines < minBootRun {
			out = append(out, s.Items...)
			continue
		}
		s.Items = finishItems(s, s.Items, info)
		if len(s.Items) == 0 {
			continue
		}
		last := k == len(items)-1
		if s.Block {
			// Open when its action failed, a match is in it, or it is
			// the output still growing (or going on in the next window).
			s.Open = parent.Failed() || parent.hasError || s.hasHit || (last && !parent.Ends())
		} else {
			switch {
			case s.Ended:
				s.State = s.Duration
			case s.Closed:
			case info.more:
				s.State = "continues after line " + strconv.Itoa(s.Last)
			case info.running:
				s.State = "running"
			default:
				s.State = "did not end"
			}
			s.Open = s.Failed() || s.hasError || s.hasHit || s.Earlier || !s.Ends()
		}
		out = append(out, it)
	}
	return out
}

// openActions finds the actions a window starting at 0-based line start
// begins inside, outermost first: it reads up to contextBudget lines
// backwards for start and end lines, until it meets an action of level 1
// (before which nothing matters). Actions started earlier than that are
// not found; the window then shows the innermost ones it found.
func (u *UI) openActions(ctx context.Context, p auth.Principal, id int64, start int) ([]*logSection, error) {
	type at struct {
		n int
		m *actionMark
	}
	var marks []at // newest first
	lo := start
	for lo > 0 && start-lo < contextBudget {
		chunk := max(contextFirstChunk, 3*(start-lo))
		from := max(0, lo-chunk, start-contextBudget)
		// The chunk's start and end marks, oldest first: the lines are
		// streamed, and only the marks are kept.
		var found []at
		read := 0
		err := u.eachLine(ctx, p, id, from, lo, func(n int, l []byte) bool {
			read++
			if !bytes.Contains(l, startWord) && !bytes.Contains(l, endWord) {
				return true
			}
			if r := renderLine(n, l); r.Mark != nil && r.Mark.Kind != markResult {
				found = append(found, at{r.N, r.Mark})
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		if read == 0 {
			break
		}
		top := false
		for i := len(found) - 1; i >= 0 && !top; i-- {
			marks = append(marks, found[i])
			top = found[i].m.Kind == markStart && !strings.Contains(found[i].m.Level, ".")
		}
		if top {
			break
		}
		lo = from
	}
	// Replay them forwards, as the folder would.
	var stack []*logSection
	for k := len(marks) - 1; k >= 0; k-- {
		m := marks[k].m
		switch m.Kind {
		case markStart:
			n := len(stack)
			for n > 0 && !isAncestorLevel(stack[n-1].Level, m.Level) {
				n--
			}
			stack = append(stack[:n], &logSection{Level: m.Level, Name: m.Name, Timeout: m.Time,
				First: marks[k].n, Earlier: true, StartURL: logLineURL(id, marks[k].n)})
		case markEnd:
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i].Level == m.Level {
					stack = stack[:i]
					break
				}
			}
		}
	}
	return stack, nil
}

var (
	startWord = []byte("start: ")
	endWord   = []byte("end: ")
)

// resultClass is the style of a result: pass, fail, skip, or unknown for
// anything else.
func resultClass(r string) string {
	switch r = strings.ToLower(r); r {
	case "pass", "fail", "skip":
		return r
	}
	return "unknown"
}

// resultMarker is a result class as text, so it does not rest on colour.
func resultMarker(class string) string {
	switch class {
	case "pass":
		return "✓ pass"
	case "fail":
		return "✗ fail"
	case "skip":
		return "− skip"
	case "":
		return ""
	}
	return "? unknown"
}

// resultMark is the mark of a results record: lava's results are actions'.
func resultMark(c lab.TestCase) *actionMark {
	if c.Suite != lab.LAVASuite {
		return nil
	}
	if c.Level != "" && !validActionLevel(c.Level) {
		return nil
	}
	return &actionMark{Kind: markResult, Level: c.Level, Name: c.Name}
}
