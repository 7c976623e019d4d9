package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/web"
)

// rec is one log record of level lvl with a string message.
func rec(lvl, msg string) string {
	b, _ := json.Marshal(msg)
	return fmt.Sprintf(`{"dt":"2026-01-02T03:04:05Z","lvl":%q,"msg":%s}`+"\n", lvl, b)
}

// result is a results record.
func result(suite, name, res, level string) string {
	lv := ""
	if level != "" {
		lv = fmt.Sprintf(`,"level":%q`, level)
	}
	return fmt.Sprintf(`{"dt":"2026-01-02T03:04:05Z","lvl":"results","msg":{"definition":%q,"case":%q,"result":%q%s}}`+"\n", suite, name, res, lv)
}

// kernelLog is a job log with nested actions, a boot with coloured output
// and terminal queries, a failing test action and a failing test case.
func kernelLog() string {
	var b strings.Builder
	b.WriteString(rec("info", "start: 1 tmpfs-deploy (timeout 00:05:00)"))
	b.WriteString(rec("info", "end: 1 tmpfs-deploy (duration 00:00:01)"))
	b.WriteString(result("lava", "tmpfs-deploy", "pass", "1"))
	b.WriteString(rec("info", "start: 2 minimal-boot (timeout 00:03:00)"))
	b.WriteString(rec("info", "start: 2.1 auto-login-action (timeout 00:01:00)"))
	for i := 1; i <= 40; i++ {
		b.WriteString(rec("target", fmt.Sprintf("[    0.%06d] kernel message %d", i, i)))
	}
	b.WriteString(rec("target", "[\x1b[0;32m  OK  \x1b[0m] Started \x1b[0;1;39mJournal Service\x1b[0m."))
	b.WriteString(rec("target", "sim login: \x1b[6n"))
	b.WriteString(rec("input", "root"))
	b.WriteString(rec("info", "end: 2.1 auto-login-action (duration 00:00:05)"))
	b.WriteString(result("lava", "auto-login-action", "pass", "2.1"))
	b.WriteString(rec("info", "end: 2 minimal-boot (duration 00:00:06)"))
	b.WriteString(result("lava", "minimal-boot", "pass", "2"))
	b.WriteString(rec("info", "start: 3 lava-test-shell (timeout 00:05:00)"))
	b.WriteString(rec("target", "\x1b]0;root@sim: ~\x07\x1b[01;31mERR\x1b[0mOR: disk missing"))
	b.WriteString(result("0_smoke", "always-fails", "fail", ""))
	b.WriteString(result("0_smoke", "uname", "pass", ""))
	b.WriteString(result("0_smoke", "ping", "skip", ""))
	b.WriteString(rec("error", "lava-test-raise: disk missing"))
	b.WriteString(rec("info", "end: 3 lava-test-shell (duration 00:00:09)"))
	b.WriteString(result("lava", "lava-test-shell", "fail", "3"))
	return b.String()
}

// newLogJob submits a public job and stores log as its log.
func newLogJob(t *testing.T, e *env, log string) int64 {
	t.Helper()
	ids, _, err := e.App.SubmitJob(context.Background(), e.Principal(alice), labtest.Job("log-job", "qemu", "visibility: public"))
	must(t, err)
	_, err = e.Logs.Append(context.Background(), ids[0], 0, []byte(log))
	must(t, err)
	return ids[0]
}

// TestLogFolded: the job page's log is folded by action, nested by level;
// a failed action is open and marked, a passed one folded; the boot's
// kernel output is one folded block; results are styled by result with
// their word; terminal colours become classes and other escapes go.
func TestLogFolded(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	id := newLogJob(t, e, kernelLog())
	for _, path := range []string{fmt.Sprintf("/jobs/%d", id), fmt.Sprintf("/jobs/%d/log", id)} {
		code, body, _ := e.get(anon, path)
		if code != 200 {
			t.Fatalf("%s: status %d", path, code)
		}
		if err := checkHTML(body); err != nil {
			t.Errorf("%s: invalid page: %v", path, err)
		}
		for _, want := range []string{
			`<li class="sec act r-pass" data-level="1" data-name="tmpfs-deploy" data-ended=""><details><summary><span class="sl">1</span> <span class="sn">tmpfs-deploy</span> <span class="badge r-pass">✓ pass</span> <span class="took">00:00:01</span></summary>`,
			`<li class="sec act r-pass" data-level="2" data-name="minimal-boot" data-ended="" data-boot=""><details><summary>`,
			`<li class="sec act r-pass" data-level="2.1" data-name="auto-login-action" data-ended="" data-boot=""><details><summary>`,
			`<li class="sec blk" data-first="5" data-lines="42"><details><summary><span class="sn">Boot output</span> <span class="took">42 lines, 5–46</span></summary>`,
			`<li class="sec act r-fail" data-level="3" data-name="lava-test-shell" data-ended=""><details open="open"><summary><span class="sl">3</span> <span class="sn">lava-test-shell</span> <span class="badge r-fail">✗ fail</span> <span class="took">00:00:09</span></summary>`,
			`class="lvl-results r-fail"><a class="ln" href="#L54">54</a> <span class="t">03:04:05.000</span> <span class="lv">results</span> <span class="rm">✗ fail</span> <span class="m">0_smoke/always-fails: fail</span>`,
			`class="lvl-results r-pass"><a class="ln" href="#L55">55</a>`, `<span class="rm">✓ pass</span> <span class="m">0_smoke/uname: pass</span>`,
			`class="lvl-results r-skip"><a class="ln" href="#L56">56</a>`, `<span class="rm">− skip</span>`,
			`[<span class="a-f2">  OK  </span>] Started <span class="a-bo">Journal Service</span>.`,
			`<span class="m">sim login: </span>`,
			`<span class="m"><span class="a-f1 a-bo">ERR</span>OR: disk missing</span>`,
			`<link rel="stylesheet" href="/static/ansi.css" />`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %s", path, want)
			}
		}
		for _, bad := range []string{"\x1b", "[6n", "[0m", "root@sim: ~", "\u241b"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s shows %q", path, bad)
			}
		}
	}
	code, css, h := e.get(anon, "/static/ansi.css")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/css") || !strings.Contains(css, ".a-f2{color:") || !strings.Contains(css, ".a-bo{font-weight:700}") {
		t.Errorf("ansi.css: %d %q", code, h.Get("Content-Type"))
	}
}

// TestLogWindowInsideActions: a window in the middle of a long action
// shows the actions it starts inside, linked to their start lines, as far
// as the backward scan reaches.
func TestLogWindowInsideActions(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	var b strings.Builder
	b.WriteString(rec("info", "start: 1 lava-test-shell (timeout 00:05:00)"))
	b.WriteString(rec("info", "start: 1.1 run-tests (timeout 00:05:00)"))
	for i := 0; i < 3000; i++ {
		b.WriteString(rec("target", fmt.Sprintf("test output %d", i)))
	}
	b.WriteString(rec("info", "end: 1.1 run-tests (duration 00:01:00)"))
	b.WriteString(result("lava", "run-tests", "fail", "1.1"))
	id := newLogJob(t, e, b.String())
	path := fmt.Sprintf("/jobs/%d/log?start=2000&end=2100", id)
	_, body, _ := e.get(anon, path)
	for _, want := range []string{
		`<span class="sn">lava-test-shell</span> <span class="took">continues after line 2099</span> <a class="from" href="/jobs/` + fmt.Sprint(id) + `/log?start=0&amp;end=500#L0">started at line 0</a>`,
		`<span class="sn">run-tests</span> <span class="took">continues after line 2099</span> <a class="from" href="/jobs/` + fmt.Sprint(id) + `/log?start=0&amp;end=500#L1">started at line 1</a></summary>
<ol class="sec">
<li id="L2000"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("window 2000–2100 lacks %s", want)
		}
	}
	if err := checkHTML(body); err != nil {
		t.Errorf("invalid page: %v", err)
	}
	// The window whose last line is the end line: the result comes from
	// the line after it.
	_, body, _ = e.get(anon, fmt.Sprintf("/jobs/%d/log?start=2900&end=3003", id))
	if !strings.Contains(body, `<li class="sec act r-fail" data-level="1.1" data-name="run-tests" data-ended=""><details open="open">`) {
		t.Errorf("window ending at an end line lacks the action's result")
	}
	// Out of reach of the backward scan, the lines are shown unfolded.
	defer web.SetContextBudget(500)()
	_, body, _ = e.get(anon, path)
	_, after, _ := strings.Cut(body, `<ol class="log" start="2000"`)
	if _, first, _ := strings.Cut(after, "\n"); strings.Contains(body, "started at line") || !strings.HasPrefix(first, `<li id="L2000"`) {
		t.Errorf("window out of the scan's reach: %s", body)
	}
}

// TestLogFilterKeepsSections: the level filter keeps the actions of the
// lines it shows, and drops the others.
func TestLogFilterKeepsSections(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	id := newLogJob(t, e, kernelLog())
	_, body, _ := e.get(anon, fmt.Sprintf("/jobs/%d/log?levels=error", id))
	if !strings.Contains(body, `data-level="3"`) || strings.Contains(body, `data-level="2"`) || !strings.Contains(body, `id="L57"`) ||
		!strings.Contains(body, "(59 other lines hidden)") {
		t.Errorf("error lines only: %s", body)
	}
}

// TestLogSearchText: search reads the text as shown, escapes removed: the
// parts of a word split by a colour match, a terminal query does not; each
// hit shows its text with the match marked.
func TestLogSearchText(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	id := newLogJob(t, e, kernelLog())
	url := fmt.Sprintf("/jobs/%d/log", id)
	_, body, _ := e.get(anon, url+"?q=error:+disk")
	for _, want := range []string{"1 line match “error: disk”", `<a href="` + url + `?start=0&amp;end=500&amp;q=error%3A&#43;disk#L53">line 53</a> <span class="hl">target</span> <span class="hm"><mark>ERROR: disk</mark> missing</span>`,
		`<li id="L53" class="lvl-target hit">`, `<span class="m"><mark><span class="a-f1 a-bo">ERR</span></mark><mark>OR: disk</mark> missing</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("search lacks %s", want)
		}
	}
	_, body, _ = e.get(anon, url+"?q=%5B6n")
	if !strings.Contains(body, "No line matches") {
		t.Errorf("[6n matched the removed escape")
	}
	// A long line: the text around the match, cut with an ellipsis.
	long := newLogJob(t, e, rec("target", strings.Repeat("x", 500)+" needle "+strings.Repeat("y", 500)))
	_, body, _ = e.get(anon, fmt.Sprintf("/jobs/%d/log?q=NEEDLE", long))
	want := `<span class="hm">…` + strings.Repeat("x", 59) + ` <mark>needle</mark> ` + strings.Repeat("y", 133) + `…</span>`
	if !strings.Contains(body, want) {
		t.Errorf("long line's snippet: want %s", want)
	}
}

// TestLogStreamMarks: streamed lines carry what the script needs to fold
// and style them: action marks, results, and colours as escaped HTML.
func TestLogStreamMarks(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	id := newLogJob(t, e, kernelLog())
	code, ch := e.stream(t, anon, fmt.Sprintf("/jobs/%d/events", id), "")
	if code != 200 {
		t.Fatalf("stream: %d", code)
	}
	type line struct {
		N int               `json:"n"`
		L string            `json:"l"`
		M string            `json:"m"`
		H string            `json:"h"`
		R string            `json:"r"`
		S map[string]string `json:"s"`
	}
	var got []line
	must(t, json.Unmarshal([]byte(next(t, ch, "lines").Data), &got))
	byN := map[int]line{}
	for _, l := range got {
		byN[l.N] = l
	}
	if s := byN[3].S; s["k"] != "start" || s["v"] != "2" || s["n"] != "minimal-boot" || s["d"] != "00:03:00" {
		t.Errorf("start mark: %+v", byN[3])
	}
	if s := byN[48].S; s["k"] != "end" || s["v"] != "2.1" || s["d"] != "00:00:05" {
		t.Errorf("end mark: %+v", byN[48])
	}
	if l := byN[49]; l.R != "pass" || l.S["k"] != "result" || l.S["v"] != "2.1" {
		t.Errorf("result mark: %+v", l)
	}
	if l := byN[54]; l.R != "fail" || l.S != nil {
		t.Errorf("a test case's result: %+v", l)
	}
	if l := byN[45]; l.M != "[  OK  ] Started Journal Service." || l.H != `[<span class="a-f2">  OK  </span>] Started <span class="a-bo">Journal Service</span>.` {
		t.Errorf("coloured line: %+v", l)
	}
	if l := byN[46]; l.M != "sim login: " || l.H != "" {
		t.Errorf("line with a query: %+v", l)
	}
}

// TestLogNumericMeasurement: a results record whose measurement is a JSON
// number (as LAVA writes some) reads like any other result, with the
// number as written and its units, on its 0-based line.
func TestLogNumericMeasurement(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	id := newLogJob(t, e, rec("info", "start: 1 lava-test-shell (timeout 00:05:00)")+
		`{"dt":"2026-01-02T03:04:05Z","lvl":"results","msg":{"definition":"0_net","case":"bandwidth","result":"pass","measurement":12.50,"units":"MB/s"}}`+"\n")
	_, body, _ := e.get(anon, fmt.Sprintf("/jobs/%d/log", id))
	want := `class="lvl-results r-pass"><a class="ln" href="#L1">1</a> <span class="t">03:04:05.000</span> <span class="lv">results</span> <span class="rm">✓ pass</span> <span class="m">0_net/bandwidth: pass 12.50 MB/s</span>`
	if !strings.Contains(body, want) {
		t.Errorf("log lacks %s:\n%s", want, body)
	}
}
