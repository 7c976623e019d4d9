package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/basalt-lab/basalt/internal/api/wire"
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

// groupJob is a multinode job of two simulated devices: a server, which
// needs tag big, and a client.
const groupJob = `job_name: pair
visibility: public
timeouts:
  job: {minutes: 2}
protocols:
  lava-multinode:
    roles:
      server: {device_type: sim, count: 1, tags: [big]}
      client: {device_type: sim, count: 1}
    timeout: {minutes: 1}
actions:
- deploy:
    role: [server, client]
    to: tmpfs
    images:
      kernel: {url: "http://127.0.0.1/vmlinuz"}
- boot:
    role: [server, client]
    method: minimal
    prompts: ["/ # "]
`

// TestBrowserQueueGroup: the page of a queued multinode sub-job, in
// headless Chromium against the real binaries, says what each role of
// its group waits for; when the device the server role needs comes back,
// the page, without a reload, says the job left the queue.
func TestBrowserQueueGroup(t *testing.T) {
	l := newLab(t)
	l.addDevices(t, "w1", 2, simDictionary("1s", 5))
	ctx := context.Background()
	if _, err := l.api.CreateTag(ctx, wire.Tag{Name: "big"}); err != nil {
		t.Fatal(err)
	}
	tags := []string{"big"}
	if _, err := l.api.UpdateDevice(ctx, "w1-00", wire.DeviceInput{Tags: &tags}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.api.SetDeviceHealth(ctx, "w1-00", "MAINTENANCE", "repair"); err != nil {
		t.Fatal(err)
	}
	startWorker(t, l.url, "w1", l.workers["w1"], t.TempDir())
	sub, err := l.api.SubmitJob(ctx, groupJob)
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.JobIDs) != 2 {
		t.Fatalf("a group of 2 made jobs %v", sub.JobIDs)
	}
	server, client := sub.JobIDs[0], sub.JobIDs[1]

	b := browser(t)
	if err := chromedp.Do(b, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", l.url, client))); err != nil {
		t.Fatal(err)
	}
	waitText(t, b, "Why is this job queued?", 10*time.Second)
	waitText(t, b, "role server has no free sim device with tags [big]", 30*time.Second)
	rows, err := chromedp.Run(b, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('.queue-roles tbody tr')).map(r => r.className + ' ' + r.innerText)`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("role-ready client\t%d\t1 of 1\trole client is satisfiable", client),
		fmt.Sprintf("role-waits server\t%d\t0 of 1\trole server has no free sim device with tags [big]", server),
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("the roles table:\n%q\nwant\n%q", rows, want)
	}
	text := pageText(t, b)
	for _, s := range []string{"This job, role client, is one of the 2 jobs of a multinode group",
		fmt.Sprintf("Multinode\trole client, sub-job %d.1 of 2", server)} {
		if !strings.Contains(text, s) {
			t.Errorf("the page lacks %q:\n%s", s, text)
		}
	}
	screenshot(t, b, "job-queued-group")
	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}

	// The board comes back: the group is placed whole.
	if _, err := l.api.SetDeviceHealth(ctx, "w1-00", "GOOD", "repaired"); err != nil {
		t.Fatal(err)
	}
	waitText(t, b, "This job has left the queue: it was assigned to w1-01.", 30*time.Second)
	if still, err := chromedp.Run(b, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !still {
		t.Errorf("the page was reloaded (%v)", err)
	}
	for id, j := range l.waitFinished(t, sub.JobIDs, 60*time.Second) {
		if j.ActualDevice == "" {
			t.Errorf("job %d of the group never got a device: %+v", id, j)
		}
	}
}
