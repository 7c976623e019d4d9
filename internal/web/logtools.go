package web

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// maxHits is how many matching lines a search lists; it still counts them
// all.
const maxHits = 1000

// Search snippets: the text around a line's first match, at most
// snippetRunes runes of it, starting up to snippetBefore runes before the
// match; at most maxMarks matches of a line are marked.
const (
	snippetRunes  = 200
	snippetBefore = 60
	maxMarks      = 100
)

// logView is a log window with the log tools' state: the search, the
// level filter and the live stream that extends it.
type logView struct {
	logWin
	Q        string
	Hits     []hit // the first maxHits matches
	HitCount int   // all matches
	// Tree is the window's lines folded by action (logfold.go).
	Tree []logNode
	// BootRun is the shortest run of boot output that folds (for the
	// script, which folds live lines the same way).
	BootRun int
	// Levels are the levels shown; empty means all. LevelOpts drive the
	// filter form.
	Levels    []string
	LevelOpts []levelOpt
	Hidden    int    // lines of the window the level filter left out
	Notice    string // e.g. "no error lines"
	// Events is the SSE stream of a job that is not finished; AtEnd says
	// the window reaches the log's end, so streamed lines can be appended.
	Events string
	AtEnd  bool
	Size   int // the window's requested size
}

// hit is one matching line: its number, the link that shows it, its
// level and the text around the match, with the matches marked.
type hit struct {
	N       int
	URL     string
	Level   string
	Snippet template.HTML
}

type levelOpt struct {
	Name    string
	Checked bool
}

// parseLevels reads ?levels= (comma separated, repeatable). All levels, or
// none, mean no filter.
func parseLevels(r *http.Request) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, v := range r.URL.Query()["levels"] {
		for _, l := range strings.Split(v, ",") {
			l = strings.TrimSpace(l)
			if l == "" || seen[l] {
				continue
			}
			if !validLevel(l) {
				return nil, fmt.Errorf("%w: unknown log level %q", lab.ErrInvalid, l)
			}
			seen[l] = true
			out = append(out, l)
		}
	}
	if len(out) == len(workerproto.Levels) {
		return nil, nil
	}
	return out, nil
}

func validLevel(l string) bool {
	for _, v := range workerproto.Levels {
		if string(v) == l {
			return true
		}
	}
	return false
}

// logPage serves /jobs/{id}/log: a window [start, end), filtered by
// ?levels=, searched by ?q=, or placed by ?first=error. Without start it
// opens at the first search hit, or at the end of a job that still runs.
func (u *UI) logPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	j, err := u.app.GetJob(ctx, p, id)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	levels, err := parseLevels(r)
	if err != nil {
		return err
	}
	size := logWindow
	start, err := httpparam.QueryInt(r, "start", 0)
	if err != nil {
		return err
	}
	if q.Has("end") {
		end, err := httpparam.QueryInt(r, "end", 0)
		if err != nil {
			return err
		}
		if end <= start {
			return fmt.Errorf("%w: end (%d) must be after start (%d)", lab.ErrInvalid, end, start)
		}
		size = min(end-start, maxLogWindow)
	}
	v := logView{Q: strings.TrimSpace(q.Get("q")), Levels: levels}
	extra := url.Values{}
	if len(levels) > 0 {
		extra.Set("levels", strings.Join(levels, ","))
	}
	if v.Q != "" {
		extra.Set("q", v.Q)
	}
	placed := q.Has("start")
	switch f := q.Get("first"); f {
	case "":
	case "error":
		n, err := u.firstError(ctx, p, id)
		if err != nil {
			return err
		}
		if n >= 0 {
			http.Redirect(w, r, logLineURL(id, n), http.StatusSeeOther)
			return nil
		}
		v.Notice = "This log has no error or exception lines."
	default:
		return fmt.Errorf("%w: first=%q: only first=error is known", lab.ErrInvalid, f)
	}
	if v.Q != "" {
		if v.Hits, v.HitCount, err = u.search(ctx, p, id, v.Q, size, extra); err != nil {
			return err
		}
		if v.HitCount == 0 {
			v.Notice = fmt.Sprintf("No line matches %q.", v.Q)
		} else if !placed {
			start, placed = max(0, v.Hits[0].N-size/2), true
		}
	}
	if !placed && j.State != lab.JobFinished {
		_, total, err := u.app.JobLog(ctx, p, id, 0, 0, 0)
		if err != nil {
			return err
		}
		start = max(0, total-size)
	}
	if v.logWin, err = u.window(ctx, p, id, start, start+size); err != nil {
		return err
	}
	u.finishView(&v, j, size, extra)
	title := fmt.Sprintf("Job %d log, lines %d–%d", id, start, max(start, v.End-1))
	u.show(w, r, p, "log", title, "jobs", v)
	return nil
}

// jobPageLog is the job page's log: the first window of a finished job,
// the last one of a job that may still log.
func (u *UI) jobPageLog(ctx context.Context, p auth.Principal, j lab.Job) (logView, error) {
	start := 0
	if j.State != lab.JobFinished {
		_, total, err := u.app.JobLog(ctx, p, j.ID, 0, 0, 0)
		if err != nil {
			return logView{}, err
		}
		start = max(0, total-logWindow)
	}
	win, err := u.window(ctx, p, j.ID, start, start+logWindow)
	if err != nil {
		return logView{}, err
	}
	v := logView{logWin: win}
	u.finishView(&v, j, logWindow, nil)
	return v, nil
}

// finishView applies the level filter to the window, rebuilds the pager
// links so they keep the tools' parameters, and sets up live following.
func (u *UI) finishView(v *logView, j lab.Job, size int, extra url.Values) {
	v.Size = size
	keep := map[string]bool{}
	for _, l := range v.Levels {
		keep[l] = true
	}
	for _, l := range workerproto.Levels {
		v.LevelOpts = append(v.LevelOpts, levelOpt{Name: string(l), Checked: len(keep) == 0 || keep[string(l)]})
	}
	if v.Q != "" {
		needle := foldCase(v.Q)
		for i := range v.Lines {
			l := &v.Lines[i]
			if ms := matchSpans(l.Text, needle, maxMarks); len(ms) > 0 {
				l.Hit, l.HTML = true, ansiHTML(l.Text, l.segs, ms)
			}
		}
	}
	var filter func(*logLine) bool
	if len(keep) > 0 {
		filter = func(l *logLine) bool { return keep[l.Level] }
	}
	f := newFolder(v.open, filter)
	shown := 0
	for i := range v.Lines {
		f.add(&v.Lines[i])
		if filter == nil || filter(&v.Lines[i]) {
			shown++
		}
	}
	v.Tree = f.finish(v.peek, foldInfo{more: v.End < v.Total, running: j.State != lab.JobFinished})
	v.Hidden = len(v.Lines) - shown
	v.BootRun = minBootRun
	suffix := ""
	if len(extra) > 0 {
		suffix = "&" + extra.Encode()
	}
	link := func(s int) string {
		return fmt.Sprintf("/jobs/%d/log?start=%d&end=%d%s", j.ID, s, s+size, suffix)
	}
	v.Prev, v.First, v.Next, v.Last = "", "", "", ""
	if v.Start > 0 {
		v.Prev, v.First = link(max(0, v.Start-size)), link(0)
	}
	if v.End < v.Total {
		v.Next, v.Last = link(v.End), link(max(0, v.Total-size))
	}
	if j.State != lab.JobFinished && v.Q == "" {
		v.AtEnd = v.Start <= v.Total && v.End >= v.Total
		v.Events = fmt.Sprintf("/jobs/%d/events?from=%d", j.ID, v.Total)
	}
}

// scanLog calls fn with each complete line of a visible job's log
// (without its newline) and its 0-based number; fn returns false to stop.
// line is only valid during the call.
func (u *UI) scanLog(ctx context.Context, p auth.Principal, id int64, fn func(n int, line []byte) bool) error {
	return u.eachLine(ctx, p, id, 0, math.MaxInt, fn)
}

// eachLine calls fn with each complete line [start, end) of a visible
// job's log (without its newline) and its 0-based number; fn returns false
// to stop. The lines are streamed (app.OpenJobLog) through a 64 KiB
// buffer, so memory holds one line at a time whatever the range's size;
// line is only valid during the call.
func (u *UI) eachLine(ctx context.Context, p auth.Principal, id int64, start, end int, fn func(n int, line []byte) bool) error {
	stream, err := u.app.OpenJobLog(ctx, p, id, start, end, 0)
	if err != nil {
		return err
	}
	defer stream.Close()
	br := bufio.NewReaderSize(stream, 64<<10)
	var long []byte // a line longer than the buffer, put together
	for n := max(start, 0); ; n++ {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err == io.EOF {
			return nil // the stream holds complete lines only
		}
		if err != nil {
			return fmt.Errorf("read log lines of job %d: %w", id, err)
		}
		if !fn(n, line[:len(line)-1]) {
			return nil
		}
		if n%scanCheck == scanCheck-1 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("read log lines of job %d: %w", id, err)
			}
		}
	}
}

var (
	errorLevel     = []byte(`"error"`)
	exceptionLevel = []byte(`"exception"`)
)

// firstError is the 0-based number of the first error or exception line
// of a visible job's log, or -1 when it has none.
func (u *UI) firstError(ctx context.Context, p auth.Principal, id int64) (int, error) {
	found := -1
	err := u.scanLog(ctx, p, id, func(n int, l []byte) bool {
		if !bytes.Contains(l, errorLevel) && !bytes.Contains(l, exceptionLevel) {
			return true
		}
		rec, err := workerproto.DecodeRecord(l)
		if err == nil && (rec.Level == workerproto.LevelError || rec.Level == workerproto.LevelException) {
			found = n
			return false
		}
		return true
	})
	return found, err
}

// search finds the lines whose displayed text contains q, ignoring case.
// It returns the first maxHits matches, each with its text around the
// match and linked to the size-line window centred on it, and the number
// of all matches.
func (u *UI) search(ctx context.Context, p auth.Principal, id int64, q string, size int, extra url.Values) ([]hit, int, error) {
	needle := foldCase(q)
	// A raw line can only match if it holds the query's bytes, unless JSON
	// escaping changed them: prefilter only queries JSON leaves alone.
	prefilter := true
	for _, c := range []byte(q) {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			prefilter = false
		}
	}
	asciiNeedle := strings.ToLower(q)
	suffix := "&" + extra.Encode()
	var hits []hit
	count := 0
	err := u.scanLog(ctx, p, id, func(n int, l []byte) bool {
		// Removing escape sequences and controls from the text can join
		// the query's parts: lines with escaped controls are not
		// prefiltered.
		if prefilter && !containsFold(l, asciiNeedle) && !hasEscapedControl(l) {
			return true
		}
		line := renderLine(n, l)
		if !strings.Contains(foldCase(line.Text), needle) {
			return true
		}
		count++
		if len(hits) < maxHits {
			s := max(0, n-size/2)
			hits = append(hits, hit{N: n, URL: fmt.Sprintf("/jobs/%d/log?start=%d&end=%d%s#L%d", id, s, s+size, suffix, n),
				Level: line.Level, Snippet: snippet(line.Text, needle)})
		}
		return true
	})
	return hits, count, err
}

// foldCase lowers s rune by rune, so every rune keeps its place: search
// matches found in foldCase(text) map back to text (matchSpans).
func foldCase(s string) string { return strings.Map(unicode.ToLower, s) }

// matchSpans returns where the folded needle occurs in text, at most limit
// times, as byte ranges of text.
func matchSpans(text, needle string, limit int) []span {
	if needle == "" {
		return nil
	}
	low := foldCase(text)
	if !strings.Contains(low, needle) {
		return nil
	}
	// orig[i] is the offset in text of the rune byte i of low comes from.
	orig := make([]int, 0, len(low)+1)
	for i, r := range text {
		for range utf8.RuneLen(unicode.ToLower(r)) {
			orig = append(orig, i)
		}
	}
	orig = append(orig, len(text))
	var out []span
	for pos := 0; len(out) < limit; {
		k := strings.Index(low[pos:], needle)
		if k < 0 {
			break
		}
		a, b := pos+k, pos+k+len(needle)
		out = append(out, span{orig[a], orig[b]})
		pos = b
	}
	return out
}

// oneLine puts a text on one line, keeping its length (snippet's marks).
var oneLine = strings.NewReplacer("\n", " ", "\t", " ")

// snippet is the text around the first match of needle in text, as HTML
// with the matches marked and "…" where it is cut.
func snippet(text, needle string) template.HTML {
	text = oneLine.Replace(text)
	ms := matchSpans(text, needle, maxMarks)
	from := 0
	if len(ms) > 0 {
		// Up to snippetBefore runes before the first match.
		from = ms[0].from
		for k := 0; k < snippetBefore && from > 0; k++ {
			_, size := utf8.DecodeLastRuneInString(text[:from])
			from -= size
		}
	}
	to := from
	for k := 0; k < snippetRunes && to < len(text); k++ {
		_, size := utf8.DecodeRuneInString(text[to:])
		to += size
	}
	var marks []span
	for _, m := range ms {
		if m.from >= to {
			break
		}
		marks = append(marks, span{m.from - from, min(m.to, to) - from})
	}
	var b strings.Builder
	if from > 0 {
		b.WriteString("…")
	}
	b.WriteString(string(ansiHTML(text[from:to], nil, marks)))
	if to < len(text) {
		b.WriteString("…")
	}
	return template.HTML(b.String()) //nolint:gosec // built by ansiHTML, which escapes the text
}

// hasEscapedControl reports whether a raw log line may hold a control
// character that the displayed text leaves out, which can join the parts
// of a match: JSON escapes them as \u00XX, \r, \b or \f; a line that is
// not JSON may hold them as they are.
func hasEscapedControl(l []byte) bool {
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case c == '\\' && i+1 < len(l):
			switch l[i+1] {
			case 'r', 'b', 'f':
				return true
			case 'u':
				if i+5 < len(l) && l[i+2] == '0' && l[i+3] == '0' &&
					(l[i+4] <= '1' || l[i+4] == '8' || l[i+4] == '9' || (l[i+4] == '7' && (l[i+5] == 'f' || l[i+5] == 'F'))) {
					return true
				}
			}
			i++ // the escaped character, a backslash included
		case (c < 0x20 && c != '\t') || c == 0x7f:
			return true
		case c == 0xc2 && i+1 < len(l) && l[i+1] >= 0x80 && l[i+1] <= 0x9f:
			return true
		}
	}
	return false
}

// containsFold reports whether s contains the lower-case ASCII needle,
// ignoring ASCII case in s.
func containsFold(s []byte, needle string) bool {
	if len(needle) == 0 {
		return true
	}
	first := needle[0]
	for i := 0; i+len(needle) <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < len(needle) && lowerASCII(s[i+j]) == needle[j] {
			j++
		}
		if j == len(needle) {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// TreeHTML is the folded window as HTML (logrender.go).
func (v logView) TreeHTML() template.HTML { return treeHTML(v.Tree) }

// LevelList is the level filter as a comma-separated list.
func (v logView) LevelList() string { return strings.Join(v.Levels, ",") }

// WindowEnd is the requested end of the window (not clipped to the log),
// so the level form keeps the window's size.
func (v logView) WindowEnd() int { return v.Start + v.Size }
