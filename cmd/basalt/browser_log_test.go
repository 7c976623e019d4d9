package main_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

// logViewerJob is a simulated job whose log has what the log viewer must
// handle: a boot with kernel output (60 lines, one block), nested actions
// (finalize 4 > 4.1), target output with terminal colours, a cursor
// position query and a window title, a failing test case, and a test
// action that fails (lava-test-raise).
const logViewerJob = `job_name: log viewer
device_type: sim
visibility: public
timeouts:
  job: {minutes: 2}
actions:
- deploy:
    to: tmpfs
    images:
      kernel: {url: "http://127.0.0.1/vmlinuz"}
- boot:
    method: minimal
    prompts: ["/ # "]
- test:
    definitions:
    - name: colours
      from: inline
      path: inline/colours.yaml
      repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: colours}
        run:
          steps:
          - "echo \e[1;31mFAILED\e[0m to mount \e[32m/data\e[0m \e[6n"
          - "echo \e]0;root@sim: ~\a\e[38;5;208mwarm\e[0m"
          - lava-test-case always-fails --result fail
          - lava-test-case uname --shell uname -a
          - lava-test-raise disk-missing
`

// logShape is what the script computes from the page: each line's
// sections (levels, outermost first, "boot" for the boot output block),
// so the live page and the served one can be compared.
const logShape = `(() => {
	const out = [];
	for (const li of document.querySelectorAll('ol.log li[id]')) {
		const path = [];
		for (let s = li.parentElement.closest('li.sec'); s; s = s.parentElement.closest('li.sec')) {
			path.unshift(s.classList.contains('blk') ? 'boot' : s.dataset.level);
		}
		out.push(li.id + ':' + path.join('/'));
	}
	return out.join(' ');
})()`

// sectionInfo describes an action's section as the browser renders it.
type sectionInfo struct {
	Found   bool   `json:"found"`
	Open    bool   `json:"open"`
	Classes string `json:"classes"`
	Badge   string `json:"badge"`
	Visible bool   `json:"visible"` // its first line is rendered
}

func section(t *testing.T, ctx context.Context, level string) sectionInfo {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[sectionInfo](`(() => {
		const li = document.querySelector('li.act[data-level="`+level+`"]');
		if (!li) return {found: false};
		const b = li.querySelector(':scope > details > summary .badge');
		const first = li.querySelector('li[id]');
		return {found: true, open: li.firstElementChild.open, classes: li.className, badge: b ? b.textContent : '',
			visible: !!first && first.checkVisibility()};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func evalBool(t *testing.T, ctx context.Context, js string) bool {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func evalString(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// TestBrowserLog drives the log viewer in headless Chromium against the
// real server and worker: the job page of a queued job follows its whole
// log live (the worker starts after the page opened), folding it by
// action in the browser exactly as the server folds it on reload; a
// failing result and a failed action are styled as failures with their
// word; terminal escapes are rendered or removed, never shown; sections
// fold and unfold on click; the search lists matching text and its links
// unfold the line they point at. Screenshots go to test-output/screenshots.
func TestBrowserLog(t *testing.T) {
	l := newLab(t)
	l.addDevices(t, "w1", 1, simDictionary("2s", 60))
	id := l.submit(t, logViewerJob)
	ctx := browser(t)
	jobURL := fmt.Sprintf("%s/jobs/%d", l.url, id)

	// The page of the queued job, then the worker: every line arrives
	// over the stream and the script files it.
	if err := chromedp.Do(ctx, chromedp.Navigate(jobURL)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "Following the log live.", 10*time.Second)
	startWorker(t, l.url, "w1", l.workers["w1"], t.TempDir())
	waitText(t, ctx, "The job finished (", 60*time.Second)
	if n := evalString(t, ctx, `String(document.querySelectorAll('ol.log li[id]').length)`); n == "0" {
		t.Fatal("no lines arrived live")
	}
	live := evalString(t, ctx, logShape)
	if !evalBool(t, ctx, `document.querySelectorAll('.fold-tools button').length === 2`) {
		t.Error("the live page has no Unfold all / Fold all buttons")
	}
	screenshot(t, ctx, "log-live")
	checkLogPage(t, ctx, "live page", true)

	// The same log served: the same sections, passing ones folded.
	if err := chromedp.Do(ctx, chromedp.Navigate(jobURL)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "Definition", 10*time.Second)
	if served := evalString(t, ctx, logShape); served != live {
		t.Errorf("the live page folded the log differently from the server:\nlive:   %s\nserved: %s", live, served)
	}
	checkLogPage(t, ctx, "served page", false)
	screenshot(t, ctx, "log-folded")

	// Folding on click: deploy (passed) is folded; a click unfolds it, a
	// second folds it again.
	if s := section(t, ctx, "1"); !s.Found || s.Open || s.Visible {
		t.Errorf("deploy section before the click: %+v", s)
	}
	deploy := `li.act[data-level="1"] > details > summary`
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(deploy))); err != nil {
		t.Fatal(err)
	}
	if s := section(t, ctx, "1"); !s.Open || !s.Visible {
		t.Errorf("deploy section after a click: %+v", s)
	}
	boot := `li.act[data-level="2"] > details > summary`
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(boot))); err != nil {
		t.Fatal(err)
	}
	if !evalBool(t, ctx, `(() => { const b = document.querySelector('li.blk'); return !!b && !b.firstElementChild.open &&
		/60 lines|6[0-9] lines/.test(b.querySelector('summary').textContent) && !b.querySelector('li[id]').checkVisibility(); })()`) {
		t.Errorf("the boot output is not one folded block of its lines: %s", evalString(t, ctx, `String(document.querySelector('li.blk') && document.querySelector('li.blk').outerHTML.slice(0, 300))`))
	}
	screenshot(t, ctx, "log-unfolded")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(deploy))); err != nil {
		t.Fatal(err)
	}
	if s := section(t, ctx, "1"); s.Open || s.Visible {
		t.Errorf("deploy section after a second click: %+v", s)
	}

	// The buttons unfold and fold every section.
	for _, b := range []struct {
		label string
		open  string
	}{{"Unfold all", "true"}, {"Fold all", "false"}} {
		if got := evalString(t, ctx, `(() => { [...document.querySelectorAll('.fold-tools button')].find(b => b.textContent === '`+b.label+`').click();
			const ds = [...document.querySelectorAll('ol.log details')]; return ds.length > 5 && ds.every(d => d.open === `+b.open+`) ? 'ok' : ds.map(d => d.open).join(); })()`); got != "ok" {
			t.Errorf("%s: sections open: %s", b.label, got)
		}
	}

	// Search: the matching text with the match marked, linked to its line.
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d/log?q=failed+to+mount", l.url, id))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "match “failed to mount”", 10*time.Second)
	hits := evalString(t, ctx, `[...document.querySelectorAll('ol.hits li')].map(li => li.querySelector('.hm').textContent.trim() +
		' [' + [...li.querySelectorAll('mark')].map(m => m.textContent).join('|') + ']').join('\n')`)
	if !strings.Contains(hits, "\nFAILED to mount /data [FAILED to mount]") || strings.Contains(hits, "[6n") || strings.ContainsRune(hits, 0x1b) {
		t.Errorf("search hits:\n%s", hits)
	}
	screenshot(t, ctx, "log-search")
	// The last hit (the output, not the echoed command) through its link:
	// its line is shown, marked.
	href := evalString(t, ctx, `[...document.querySelectorAll('ol.hits li a')].pop().href`)
	if !strings.Contains(href, "#L") {
		t.Fatalf("hit link %q", href)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(href)); err != nil {
		t.Fatal(err)
	}
	if !evalBool(t, ctx, `(() => { const li = document.getElementById(location.hash.slice(1));
		return !!li && li.checkVisibility() && li.classList.contains('hit') && li.querySelector('mark') !== null &&
			li.querySelector('.a-f1.a-bo').textContent === 'FAILED'; })()`) {
		t.Errorf("the hit's line is not shown marked: %s", evalString(t, ctx, `location.href`))
	}
}

// checkLogPage asserts what both the live and the served job page show:
// results styled by result with their word, the failed test action open
// and marked, nested actions, colours as styled spans and no escape
// sequence anywhere in the log's text (folded parts included).
func checkLogPage(t *testing.T, ctx context.Context, name string, live bool) {
	t.Helper()
	type resultLine struct {
		Found  bool   `json:"found"`
		Class  string `json:"class"`
		Marker string `json:"marker"`
		Color  string `json:"color"`
	}
	r, err := chromedp.Run(ctx, chromedp.Evaluate[resultLine](`(() => {
		const li = [...document.querySelectorAll('ol.log li.lvl-results')].find(li => li.textContent.includes('colours/always-fails: fail'));
		if (!li) return {found: false};
		return {found: true, class: li.className, marker: li.querySelector('.rm').textContent, color: getComputedStyle(li).color};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	// #ff8a80, the log's failure colour (a passing result is #7ee2b8).
	if !r.Found || !strings.Contains(r.Class, "r-fail") || r.Marker != "✗ fail" || r.Color != "rgb(255, 138, 128)" {
		t.Errorf("%s: the failing result: %+v", name, r)
	}
	pass := evalString(t, ctx, `(() => { const li = [...document.querySelectorAll('ol.log li.lvl-results')].find(li => li.textContent.includes('colours/uname: pass'));
		return li ? li.querySelector('.rm').textContent + ' ' + getComputedStyle(li).color : ''; })()`)
	if pass != "✓ pass rgb(126, 226, 184)" {
		t.Errorf("%s: the passing result: %q", name, pass)
	}
	if s := section(t, ctx, "3"); !s.Found || !s.Open || !strings.Contains(s.Classes, "r-fail") || s.Badge != "✗ fail" {
		t.Errorf("%s: the failed test action: %+v", name, s)
	}
	if s := section(t, ctx, "4.1"); !s.Found || !strings.Contains(s.Classes, "r-pass") ||
		!evalBool(t, ctx, `document.querySelector('li.act[data-level="4.1"]').parentElement.closest('li.act').dataset.level === "4"`) {
		t.Errorf("%s: power-off is not nested in finalize: %+v", name, s)
	}
	if s := section(t, ctx, "1"); !s.Found || !strings.Contains(s.Classes, "r-pass") || s.Open != live {
		t.Errorf("%s: the deploy action: %+v", name, s)
	}
	colour := evalString(t, ctx, `(() => { const s = [...document.querySelectorAll('ol.log li.lvl-target .a-f1.a-bo')].find(s => s.textContent === 'FAILED');
		return s ? getComputedStyle(s).color + ' ' + getComputedStyle(s).fontWeight : ''; })()`)
	if colour != "rgb(240, 96, 90) 700" {
		t.Errorf("%s: the red bold FAILED: %q", name, colour)
	}
	if !evalBool(t, ctx, `[...document.querySelectorAll('ol.log .a-f208')].some(s => s.textContent === 'warm')`) {
		t.Errorf("%s: no 256-colour span", name)
	}
	// The log's text, folded parts included (the definition section shows
	// the job's YAML source, \e escapes and all).
	text := evalString(t, ctx, `document.querySelector('ol.log').textContent`)
	for _, bad := range []string{"\x1b", "\u241b", "[6n", "[0m", "[1;31m", "38;5;208", "root@sim: ~"} {
		if strings.Contains(text, bad) {
			t.Errorf("%s: the page shows %q", name, bad)
		}
	}
	if !strings.Contains(text, "FAILED to mount /data ") {
		t.Errorf("%s: the coloured line's text is missing", name)
	}
}

// startReplica starts another server process on s's PostgreSQL database
// (args must name it), with its own data directory holding a copy of s's
// admin credentials, as a second replica of one lab.
func startReplica(t testing.TB, s *server, args ...string) *server {
	t.Helper()
	dir := t.TempDir()
	copyAdminCredentials(t, s.dataDir, dir)
	return startServerIn(t, http.DefaultClient, dir, args...)
}

// copyAdminCredentials copies the admin-credentials file the first
// replica of a lab wrote into another replica's data directory, so that
// startServerIn finds the administrator's token there.
func copyAdminCredentials(t testing.TB, from, to string) {
	t.Helper()
	creds, err := os.ReadFile(filepath.Join(from, "admin-credentials"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(to, "admin-credentials"), creds, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserLogOtherReplica follows a job's log live in the browser
// through one server replica while the job's worker streams to another
// (two replicas on one PostgreSQL, logs kept in the database): every line
// arrives live, the page ends when the job does, and the live page files
// the log as the served page does.
func TestBrowserLogOtherReplica(t *testing.T) {
	cl := pgtest.NewCluster(t)
	args := []string{"--database", cl.DSN(t), "--log-store", "database", "--heartbeat-interval", "500ms", "--sweep-interval", "500ms"}
	a := startServer(t, args...)
	b := startReplica(t, a, args...)
	l := attachLab(t, a)
	l.addDevices(t, "w1", 1, simDictionary("2s", 60))
	id := l.submit(t, logViewerJob)
	ctx := browser(t)
	jobURL := fmt.Sprintf("%s/jobs/%d", b.url, id) // the page on B

	if err := chromedp.Do(ctx, chromedp.Navigate(jobURL)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "Following the log live.", 10*time.Second)
	startWorker(t, a.url, "w1", l.workers["w1"], t.TempDir()) // the worker on A only
	waitText(t, ctx, "The job finished (", 60*time.Second)
	live := evalString(t, ctx, logShape)
	got := evalString(t, ctx, `String(document.querySelectorAll('ol.log li[id]').length)`)
	_, total, err := l.api.JobLogs(t.Context(), id, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got != fmt.Sprint(total) || total < 60 {
		t.Errorf("the live page on B shows %s lines; the log stored through A has %d", got, total)
	}
	screenshot(t, ctx, "log-live-other-replica")
	checkLogPage(t, ctx, "live page on another replica", true)
	if err := chromedp.Do(ctx, chromedp.Navigate(jobURL)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "Definition", 10*time.Second)
	if served := evalString(t, ctx, logShape); served != live {
		t.Errorf("the live page on B filed the log differently from the served page:\nlive:   %s\nserved: %s", live, served)
	}
}
