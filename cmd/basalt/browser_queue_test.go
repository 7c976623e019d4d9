package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserQueue drives a queued job's page in headless Chromium against
// the real server and worker binaries: the job waits behind a worker that
// went Offline and the page says so; the worker comes back and, without a
// reload, the page drops the reason and follows the job to its end.
func TestBrowserQueue(t *testing.T) {
	l := newLab(t)
	l.addDevices(t, "w1", 1, simDictionary("1s", 20))
	ctx := context.Background()
	waitWorker := func(state string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			w, err := l.api.GetWorker(ctx, "w1")
			if err == nil && w.State == state {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("worker w1 never became %s (%+v, %v)", state, w, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The worker connects once, then goes away.
	w := startWorker(t, l.url, "w1", l.workers["w1"], t.TempDir())
	waitWorker("Online")
	w.stop(t)
	waitWorker("Offline")

	id := l.submit(t, simJob("queued", "minutes: 2"))
	b := browser(t)
	if err := chromedp.Do(b, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", l.url, id))); err != nil {
		t.Fatal(err)
	}
	waitText(t, b, "Why is this job queued?", 10*time.Second)
	waitText(t, b, "Waiting: 0 of 1 sim device usable: w1-00 is on worker w1, Offline since ", 10*time.Second)
	// The devices table names the worker and the reason.
	row, err := chromedp.Run(b, chromedp.Evaluate[string](`(document.querySelector('.queue-devices tbody tr') || {}).innerText || ""`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(row, "w1-00\tw1\tw1-00 is on worker w1, Offline since ") {
		t.Errorf("queue devices row %q", row)
	}
	if q, err := l.api.JobQueue(ctx, id); err != nil || q.Verdict != "waiting" || q.Devices[0].Since == nil {
		t.Errorf("the API's explanation: %+v, %v", q, err)
	}
	screenshot(t, b, "job-queued")
	// A marker that a reload would lose.
	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}

	// The worker comes back: the job is scheduled and runs.
	startWorker(t, l.url, "w1", l.workers["w1"], t.TempDir())
	waitText(t, b, "This job has left the queue: it was assigned to w1-00.", 30*time.Second)
	waitText(t, b, "The job finished (Complete)", 60*time.Second)
	text := pageText(t, b)
	if strings.Contains(text, "Waiting:") {
		t.Errorf("the page still shows a reason to wait:\n%s", text)
	}
	still, err := chromedp.Run(b, chromedp.Evaluate[bool](`window.notReloaded === true`))
	if err != nil || !still {
		t.Errorf("the page was reloaded (%v)", err)
	}
	screenshot(t, b, "job-dequeued")
	if j := l.waitFinished(t, []int64{id}, 30*time.Second)[id]; j.Health != "Complete" {
		t.Errorf("job %d: %s %s", id, j.State, j.Health)
	}

	// The device tables' Status column, on a phone's screen too: the
	// pages must not need horizontal scrolling.
	if err := chromedp.Do(b, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"/devices", "/"} {
		if err := chromedp.Do(b, chromedp.Navigate(l.url+page)); err != nil {
			t.Fatal(err)
		}
		waitText(t, b, "Status", 10*time.Second)
		waitText(t, b, "idle", 10*time.Second)
		overflow, err := chromedp.Run(b, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
		if err != nil {
			t.Fatal(err)
		}
		if overflow {
			t.Errorf("%s scrolls sideways on a 390 px wide phone screen", page)
		}
	}
}
