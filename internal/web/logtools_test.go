package web_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

func TestLogTools(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	logURL := fmt.Sprintf("/jobs/%d/log", e.pubJob)
	for _, tc := range []struct {
		name, query    string
		code           int
		want, unwanted []string
	}{
		{"search is case-insensitive and escapes", "?q=LINUX+VERSION+%3C6", 200,
			[]string{"1 line match", `<li><a href="` + logURL + `?start=0&amp;end=500&amp;q=LINUX&#43;VERSION&#43;%3C6#L1">line 1</a> <span class="hl">target</span> <span class="hm"><mark>Linux version &lt;6</mark>.1&gt;</span></li>`,
				`<li id="L1" class="lvl-target hit">`, `<span class="m"><mark>Linux version &lt;6</mark>.1&gt;</span>`, `value="LINUX VERSION &lt;6"`},
			[]string{`<mark>start`, `id="L0" class="lvl-info hit"`}},
		{"search of results text", "?q=echo-ok", 200, []string{`<span class="m">smoke/<mark>echo-ok</mark>: pass 1.5 s</span>`}, nil},
		{"search without a match", "?q=nowhere", 200, []string{"No line matches &#34;nowhere&#34;."}, []string{`<mark`}},
		{"search keeps an explicit window", "?q=broke&start=4&end=6", 200,
			[]string{`<a href="` + logURL + `?start=1&amp;end=3&amp;q=broke#L2">line 2</a> <span class="hl">error</span> <span class="hm">something <mark>broke</mark></span>`, "Lines 4–5 of 6"}, []string{`id="L2"`}},
		{"level filter on the server", "?levels=info,target", 200,
			[]string{`id="L0"`, `id="L1"`, "levels info,target (4 other lines hidden)",
				`value="info" checked="checked"`, `value="error" /> error`},
			[]string{`id="L2"`, `id="L3"`, `id="L4"`}},
		{"level filter as repeated checkboxes, kept by the pager", "?levels=error&levels=results&start=0&end=3", 200,
			[]string{`id="L2"`, logURL + `?start=3&amp;end=6&amp;levels=error%2Cresults`}, []string{`id="L0"`, `id="L1"`}},
		{"all levels is no filter", "?levels=exception,error,warning,info,debug,input,target,feedback,results,event", 200,
			[]string{`id="L4"`}, []string{"hidden)"}},
		{"unknown level", "?levels=loud", 400, nil, nil},
		{"unknown first", "?first=warning", 400, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := e.get(anon, logURL+tc.query)
			if code != tc.code {
				t.Fatalf("status %d, want %d", code, tc.code)
			}
			if code == 200 {
				if err := checkHTML(body); err != nil {
					t.Errorf("invalid page: %v", err)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("lacks %q", w)
				}
			}
			for _, u := range tc.unwanted {
				if strings.Contains(body, u) {
					t.Errorf("has %q", u)
				}
			}
		})
	}
}

func TestFirstError(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(e.srv.URL + fmt.Sprintf("/jobs/%d/log?first=error", e.pubJob))
	must(t, err)
	resp.Body.Close()
	if want := fmt.Sprintf("/jobs/%d/log?start=0&end=500#L2", e.pubJob); resp.StatusCode != 303 || resp.Header.Get("Location") != want {
		t.Errorf("first error: %d to %q, want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// No error line: the log with a notice. Another user: not found.
	_, body, _ := e.get(alice, fmt.Sprintf("/jobs/%d/log?first=error", e.privJob))
	if !strings.Contains(body, "This log has no error or exception lines.") || !strings.Contains(body, "secret-line") {
		t.Errorf("no error lines:\n%s", body)
	}
	if code, _, _ := e.get(bob, fmt.Sprintf("/jobs/%d/log?first=error", e.privJob)); code != 404 {
		t.Errorf("bob: status %d", code)
	}
	if code, _, _ := e.get(bob, fmt.Sprintf("/jobs/%d/log?q=secret", e.privJob)); code != 404 {
		t.Errorf("bob searching: status %d", code)
	}
}

// TestLogOpensAtEnd: a running job's log opens at its end, ready to follow;
// a finished one opens at the start.
func TestLogOpensAtEnd(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	var b strings.Builder
	for i := 1; i <= 1200; i++ {
		b.WriteString(logRec(fmt.Sprintf("line-%d", i)))
	}
	size, err := e.Logs.Size(context.Background(), e.privJob)
	must(t, err)
	_, err = e.Logs.Append(context.Background(), e.privJob, size, []byte(b.String()))
	must(t, err)
	events := fmt.Sprintf(`data-events="/jobs/%d/events?from=1201" data-follow=""`, e.privJob)
	for _, path := range []string{fmt.Sprintf("/jobs/%d", e.privJob), fmt.Sprintf("/jobs/%d/log", e.privJob)} {
		_, body, _ := e.get(alice, path)
		for _, w := range []string{"Lines 701–1200 of 1201", `id="L1200"`, events} {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
	// An earlier window of a running job streams but does not follow.
	_, body, _ := e.get(alice, fmt.Sprintf("/jobs/%d/log?start=0&end=10", e.privJob))
	if strings.Contains(body, "data-follow") || !strings.Contains(body, "?from=1201") {
		t.Errorf("earlier window: follow marker wrong")
	}
}

// TestLogScanLongLines: searching and finding the first error read lines
// longer than the scan's buffer whole, and count the lines after them
// right.
func TestLogScanLongLines(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ids, _, err := e.App.SubmitJob(context.Background(), e.Principal(alice), labtest.Job("long", "qemu", "visibility: public"))
	must(t, err)
	id := ids[0]
	log := `{"dt":"2026-01-02T03:04:05Z","lvl":"info","msg":"short"}` + "\n" +
		`{"dt":"2026-01-02T03:04:05Z","lvl":"target","msg":"` + strings.Repeat("x", 300<<10) + ` needle-long"}` + "\n" +
		`{"dt":"2026-01-02T03:04:05Z","lvl":"target","msg":"` + strings.Repeat("y", 70<<10) + `"}` + "\n" +
		`{"dt":"2026-01-02T03:04:05Z","lvl":"error","msg":"needle-after"}` + "\n"
	_, err = e.Logs.Append(context.Background(), id, 0, []byte(log))
	must(t, err)
	_, body, _ := e.get(anon, fmt.Sprintf("/jobs/%d/log?q=needle", id))
	if !strings.Contains(body, "2 lines match") || !strings.Contains(body, `#L1">line 1</a>`) || !strings.Contains(body, `#L3">line 3</a>`) {
		t.Errorf("search across long lines: want matches on lines 1 and 3:\n%s", strings.ReplaceAll(body, strings.Repeat("x", 1000), ""))
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(e.srv.URL + fmt.Sprintf("/jobs/%d/log?first=error", id))
	must(t, err)
	resp.Body.Close()
	if want := fmt.Sprintf("/jobs/%d/log?start=0&end=500#L3", id); resp.Header.Get("Location") != want {
		t.Errorf("first error after long lines: %d to %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

// TestLogScanMemoryBound: a search and a first-error scan of a 64 MiB log
// of 2 KiB lines, and a window deep in it (whose open actions are looked
// for in the 10,000 lines before it), allocate under 8 MiB each, counted
// exactly over the whole request: the log is streamed a line at a time,
// where reading it 10,000 lines at a time allocated the whole log for a
// scan (and more), and 20 MiB for the window.
func TestLogScanMemoryBound(t *testing.T) {
	const bound = 8 << 20
	e := newEnv(t, labtest.Backends()[0])
	ids, _, err := e.App.SubmitJob(context.Background(), e.Principal(alice), labtest.Job("big", "qemu", "visibility: public"))
	must(t, err)
	id := ids[0]
	var off int64
	pad := strings.Repeat("z", 2000)
	for n := 0; off < 64<<20; {
		var b strings.Builder
		for ; b.Len() < 4<<20; n++ {
			fmt.Fprintf(&b, `{"dt":"2026-01-02T03:04:05Z","lvl":"target","msg":"line %d %s"}`+"\n", n, pad)
		}
		off, err = e.Logs.Append(context.Background(), id, off, []byte(b.String()))
		must(t, err)
	}
	lines, err := e.Logs.Lines(context.Background(), id)
	must(t, err)
	deep := fmt.Sprintf("?start=%d&end=%d", lines-20, lines-10)
	for _, q := range []string{"?q=no+such+text&start=0&end=10", "?first=error&start=0&end=10", deep} {
		url := fmt.Sprintf("/jobs/%d/log%s", id, q)
		e.get(anon, url) // warm up
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		code, _, _ := e.get(anon, url)
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s on a %d MiB log: %.1f MiB allocated", q, off>>20, float64(allocated)/(1<<20))
		if code != 200 || allocated > bound {
			t.Errorf("%s on a %d MiB log: status %d, %d MiB allocated, want under %d MiB", q, off>>20, code, allocated>>20, bound>>20)
		}
	}
}
