package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/basalt-lab/basalt/internal/app"
	basaltlab "github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/web"
)

// TestBrowserConsole drives the web console of a running reservation in
// headless Chromium, against the web UI on a real app (SQLite) whose
// reservation's log the test writes as a worker's console session would:
// the page shows the board's output as a terminal (a prompt, a rewritten
// progress line, colours dropped) and follows it live; the holder's keys
// (a letter, Enter, Ctrl-C, an arrow) and the Hard reset button reach the
// worker's side (app.WorkerConsoleInput) in order; a watcher sees the
// same output read-only; the end of the reservation is said. The QEMU
// board through a real worker is the lead's end-to-end test.
func TestBrowserConsole(t *testing.T) {
	ctx := context.Background()
	l := labtest.NewLab(t, labtest.Backends()[0], labtest.Config{})
	wk := l.Principal(labtest.Worker)
	if _, err := l.App.Heartbeat(ctx, wk, "w1", "1.2.3"); err != nil {
		t.Fatal(err)
	}
	res, err := l.App.Reserve(ctx, l.Principal(labtest.Alice), "d1", time.Hour, "poke u-boot", basaltlab.PriorityMedium)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.App.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.App.StartJob(ctx, wk, res.ID); err != nil {
		t.Fatal(err)
	}
	var size int64
	board := func(recs ...[2]string) {
		t.Helper()
		var b strings.Builder
		for _, r := range recs {
			m, _ := json.Marshal(r[1])
			fmt.Fprintf(&b, `{"dt":%q,"lvl":%q,"msg":%s}`+"\n", time.Now().UTC().Format(time.RFC3339Nano), r[0], m)
		}
		var err error
		if size, err = l.Logs.Append(ctx, res.ID, size, []byte(b.String())); err != nil {
			t.Fatal(err)
		}
	}
	board([2]string{"info", "console session of d1 started"}, [2]string{"target", "U-Boot 2024.01\r\n"},
		[2]string{"target", "\x1b[1;32mready\x1b[0m\r\n=> "})
	url := l.Serve(web.New(l.App, nil)).URL

	// typed waits until the worker is handed want, in order, from the
	// page b. The wait is generous: the machine may be busy with other
	// tests, and reaching it is a failure, never a measurement.
	typed := func(b context.Context, want string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		var got string
		for time.Now().Before(deadline) {
			ins, err := l.App.WorkerConsoleInput(ctx, wk, res.ID, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			got = ""
			for _, in := range ins {
				if in.Power != "" {
					got += "<power " + in.Power + ">"
				}
				got += string(in.Data)
			}
			if got == want {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		page, _ := chromedp.Run(b, chromedp.Evaluate[string](`[document.querySelector('[data-console-status]').textContent,
			document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : "",
			document.querySelector('pre.term').textContent.slice(-500)].join("\n---\n")`))
		t.Fatalf("the worker is handed %q, want %q; the page's status, focus and console end:\n%s", got, want, page)
	}
	term := func(b context.Context) string {
		t.Helper()
		s, err := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector('pre.term').textContent`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitTerm := func(b context.Context, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(term(b), want) {
			if time.Now().After(deadline) {
				t.Fatalf("the console never showed %q; it shows:\n%s", want, term(b))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Alice, the holder.
	b := browser(t)
	if err := chromedp.Do(b, chromedp.Navigate(url+"/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "alice-password"),
		chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, b, "Signed in as alice", 10*time.Second)
	if err := chromedp.Do(b, chromedp.Navigate(url+"/devices/d1")); err != nil {
		t.Fatal(err)
	}
	waitText(t, b, "Live. Click the console to type.", 10*time.Second)
	waitTerm(b, "U-Boot 2024.01\nready\n=> ")
	if s := term(b); strings.Contains(s, "\x1b") || strings.Contains(s, "[1;32m") || !strings.Contains(s, "[basalt] console session of d1 started") {
		t.Errorf("the console shows:\n%q", s)
	}

	// Keys: a letter, Enter, Ctrl-C and an arrow, in order.
	if err := chromedp.Do(b, chromedp.Click(chromedp.CSS("pre.term")),
		chromedp.KeyEvent("v"), chromedp.KeyEvent("\r"),
		chromedp.KeyEvent("c", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent("\u0304"), // kb.ArrowUp
	); err != nil {
		t.Fatal(err)
	}
	typed(b, "v\r\x03\x1b[A")

	// The board answers: echoed, a progress line rewritten in place.
	board([2]string{"input", "v\r"}, [2]string{"target", "v"}, [2]string{"target", "\r\nloading 10%\rloading 99%\r\n=> "})
	waitTerm(b, "=> v\nloading 99%\n=> ")
	if strings.Contains(term(b), "10%") {
		t.Errorf("the rewritten progress line is still there:\n%s", term(b))
	}
	if got, err := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector('[data-console-typed]').textContent`)); err != nil || got != `"v\r"` {
		t.Errorf("the typed-input box lists %q (%v)", got, err)
	}

	// A paste types the clipboard, its newlines as Enter; keys typed
	// faster than the requests complete arrive whole and in order.
	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](`(() => {
		const dt = new DataTransfer();
		dt.setData("text/plain", "echo 1\necho 2\n");
		return document.querySelector("pre.term").dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
	})()`)); err != nil {
		t.Fatal(err)
	}
	typed(b, "v\r\x03\x1b[Aecho 1\recho 2\r")
	if err := chromedp.Do(b, chromedp.KeyEvent("printenv bootcmd\r")); err != nil {
		t.Fatal(err)
	}
	typed(b, "v\r\x03\x1b[Aecho 1\recho 2\rprintenv bootcmd\r")

	// Hard reset, confirmed.
	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b, chromedp.Click(chromedp.CSS(`form[data-power="reset"] button`))); err != nil {
		t.Fatal(err)
	}
	typed(b, "v\r\x03\x1b[Aecho 1\recho 2\rprintenv bootcmd\r<power reset>")
	board([2]string{"info", "hard reset (power)"}, [2]string{"target", "U-Boot 2024.01\r\n"})
	waitTerm(b, "[basalt] hard reset (power)\nU-Boot 2024.01\n")
	screenshot(t, b, "console-holder")

	// A watcher: the same output, read-only; keys send nothing.
	w := browser(t)
	if err := chromedp.Do(w, chromedp.Navigate(url+"/devices/d1")); err != nil {
		t.Fatal(err)
	}
	waitText(t, w, "held by alice — read-only", 10*time.Second)
	waitTerm(w, "[basalt] hard reset (power)\nU-Boot 2024.01\n")
	if err := chromedp.Do(w, chromedp.Click(chromedp.CSS("pre.term")), chromedp.KeyEvent("x")); err != nil {
		t.Fatal(err)
	}
	waitText(t, w, "Read-only: d1 is held by alice.", 10*time.Second)
	if n, err := chromedp.Run(w, chromedp.Evaluate[int](`document.querySelectorAll('form[data-power]').length`)); err != nil || n != 0 {
		t.Errorf("the watcher has %d power buttons (%v)", n, err)
	}
	screenshot(t, w, "console-watcher")

	// The reservation ends: both pages say so.
	if _, err := l.App.FinishJob(ctx, wk, res.ID, app.JobOutcome{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []context.Context{b, w} {
		waitTerm(p, "[basalt] the reservation of d1 ended (Complete)")
		waitText(t, p, "The reservation ended.", 10*time.Second)
	}
}
