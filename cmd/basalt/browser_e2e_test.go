package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium, which make test installs.
const chromiumPath = "/usr/bin/chromium"

// screenshotDir is where the browser tests leave screenshots of the main
// pages (test-output/screenshots at the repository root, or
// $BASALT_TEST_OUTPUT/screenshots).
func screenshotDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("BASALT_TEST_OUTPUT")
	if base == "" {
		base = filepath.Join("..", "..", "test-output")
	}
	dir := filepath.Join(base, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Chromium and returns its context.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium is required for the browser tests (make test installs it): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	return ctx
}

// pageText is the visible text of the page.
func pageText(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitText waits until the page (without reloading) shows want.
func waitText(t *testing.T, ctx context.Context, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if strings.Contains(pageText(t, ctx), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never showed %q within %s; it shows:\n%s", want, within, pageText(t, ctx))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// screenshot saves the page as name.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG (below, JPEG)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir(t), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// adminPassword reads the bootstrap administrator's password.
func adminPassword(t *testing.T, s *server) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir, "admin-credentials"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "password: "); ok {
			return v
		}
	}
	t.Fatal("no password in admin-credentials")
	return ""
}

// TestBrowser drives the web UI in headless Chromium against the real
// server and worker binaries: log in, see the worker Online, watch a
// running job's log lines arrive without reloading, see its results
// table, cancel a job with the button, and see the worker go Offline when
// it stops. Screenshots of the main pages go to test-output/screenshots.
func TestBrowser(t *testing.T) {
	l := newLab(t)
	// A device that prints 300 boot lines over 6 s: the log grows while
	// the page is open.
	l.addDevices(t, "w1", 2, simDictionary("6s", 300))
	w := startWorker(t, l.url, "w1", l.workers["w1"], t.TempDir())
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/login")); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "login")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), adminPassword(t, l.server)),
		chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "admin", 10*time.Second)

	// The overview: the worker is Online.
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "Online", 10*time.Second)
	screenshot(t, ctx, "overview")
	// On a phone's screen the page must not need horizontal scrolling.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "Online", 10*time.Second)
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Errorf("the overview scrolls sideways on a 390 px wide phone screen")
	}
	screenshot(t, ctx, "overview-phone")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}

	// Submit through the submit page: an invalid definition first (the
	// error is shown at its line), then a good one, which opens the job's
	// page while it runs; its log lines arrive live.
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/jobs/new")); err != nil {
		t.Fatal(err)
	}
	submitDefinition(t, ctx, strings.Replace(simJob("browser", "minutes: 2"), "visibility: public", "visibility: publik", 1))
	waitText(t, ctx, "Line 3", 10*time.Second)
	screenshot(t, ctx, "submit-error")
	submitDefinition(t, ctx, simJob("browser", "minutes: 2"))
	var id int64
	deadline := time.Now().Add(10 * time.Second)
	for id == 0 {
		loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Sscanf(loc, "/jobs/%d", &id)
		if time.Now().After(deadline) {
			t.Fatalf("the submit page did not lead to a job page (at %s):\n%s", loc, pageText(t, ctx))
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitText(t, ctx, "boot message 300/300", 60*time.Second)
	waitText(t, ctx, "Complete", 60*time.Second)
	screenshot(t, ctx, "job")
	// The results table.
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d/results", l.url, id))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"uname", "always-fails", "throughput"} {
		waitText(t, ctx, c, 5*time.Second)
	}
	screenshot(t, ctx, "results")

	// Cancel a running job with the page's button.
	long := l.submit(t, simJob("to cancel", "minutes: 5"))
	l.waitState(t, long, "Running", 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", l.url, long))); err != nil {
		t.Fatal(err)
	}
	clicked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const b = [...document.querySelectorAll('button')].find(b => b.textContent.trim().startsWith('Cancel'));
		if (!b) return false; b.click(); return true; })()`))
	if err != nil || !clicked {
		t.Fatalf("no Cancel button on the running job's page (%v):\n%s", err, pageText(t, ctx))
	}
	jobs := l.waitFinished(t, []int64{long}, 30*time.Second)
	if j := jobs[long]; j.Health != "Canceled" {
		t.Errorf("job after the Cancel button: %s %s", j.State, j.Health)
	}

	// The job list, then the worker going Offline.
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/jobs")); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "to cancel", 5*time.Second)
	screenshot(t, ctx, "jobs")
	w.stop(t)
	deadline = time.Now().Add(30 * time.Second)
	for {
		if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/workers/w1")); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(pageText(t, ctx), "Offline") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker page never showed Offline:\n%s", pageText(t, ctx))
		}
		time.Sleep(500 * time.Millisecond)
	}
	screenshot(t, ctx, "worker")
}

// submitDefinition fills the submit page's text area and submits it.
func submitDefinition(t *testing.T, ctx context.Context, def string) {
	t.Helper()
	js, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		document.querySelector('textarea[name="definition"]').value = `+string(js)+`;
		document.querySelector('form.submit button[type="submit"]').click(); return true; })()`)); err != nil {
		t.Fatal(err)
	}
}
