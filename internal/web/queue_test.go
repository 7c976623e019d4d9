package web_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestQueueBox: the page of a queued job says why it waits and names the
// stream that keeps it current; other jobs' pages have no such box.
func TestQueueBox(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			_, body, _ := e.get(bob, fmt.Sprintf("/jobs/%d", e.pubJob))
			for _, want := range []string{
				fmt.Sprintf(`<section class="queue" aria-labelledby="queue-h" data-queue-events="/jobs/%d/queue/events">`, e.pubJob),
				// d1 holds alice's personal job, which bob may not see.
				`<strong>Waiting:</strong> no qemu device is free: d1 is reserved for a private job</p>`,
				`<tr class="q-device_reserved"><th scope="row"><a href="/devices/d1">d1</a></th><td><a href="/workers/w1">w1</a></td>`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("queued job's page lacks %q:\n%s", want, body)
				}
			}
			if err := checkHTML(body); err != nil {
				t.Errorf("queued job's page: %v", err)
			}
			if strings.Contains(body, fmt.Sprintf("job %d", e.privJob)) {
				t.Errorf("bob's page names alice's personal job %d", e.privJob)
			}
			// alice, who may see her job, gets its number.
			if _, body, _ := e.get(alice, fmt.Sprintf("/jobs/%d", e.pubJob)); !strings.Contains(body, fmt.Sprintf("d1 is reserved for job %d</p>", e.privJob)) {
				t.Errorf("alice's page of the queued job does not name her own job %d:\n%s", e.privJob, body)
			}
			if _, body, _ := e.get(alice, fmt.Sprintf("/jobs/%d", e.privJob)); strings.Contains(body, `class="queue"`) {
				t.Errorf("a scheduled job's page has a queue box")
			}
		})
	}
}

// TestQueueStream: the queue box's stream pushes the new reason after
// each change of the lab, and says where the job went once it left the
// queue, then ends. It answers 404 for a job the caller may not see.
func TestQueueStream(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ctx := context.Background()
	ap := e.Principal(admin)
	path := fmt.Sprintf("/jobs/%d/queue/events", e.pubJob)
	_, ch := e.stream(t, anon, path, "")
	expect := func(want string) {
		t.Helper()
		ev := next(t, ch, "queue")
		if !strings.Contains(ev.Data, want) {
			t.Fatalf("queue event lacks %q:\n%s", want, ev.Data)
		}
	}
	// The anonymous follower may not see the personal job holding d1.
	expect("no qemu device is free: d1 is reserved for a private job")
	_, err := e.App.StartJob(ctx, e.worker, e.privJob)
	must(t, err)
	expect("no qemu device is free: d1 is running a private job")
	_, err = e.App.UpdateWorker(ctx, ap, "w1", app.WorkerUpdate{Health: ptr(lab.WorkerMaintenance)})
	must(t, err)
	// The worker's health is the more lasting reason: it is the one given.
	expect("0 of 1 qemu device usable: d1 is on worker w1, in Maintenance")
	_, err = e.App.FinishJob(ctx, e.worker, e.privJob, app.JobOutcome{}) // the same reason: no event
	must(t, err)
	_, err = e.App.UpdateWorker(ctx, ap, "w1", app.WorkerUpdate{Health: ptr(lab.WorkerActive)})
	must(t, err)
	// Back to Active, LAVA's cascade makes d1 Unknown; the type has no
	// health check, so d1 takes jobs at once.
	expect("d1 is free: the next scheduling pass assigns the job to it")
	_, err = e.App.SchedulePass(ctx)
	must(t, err)
	expect("This job has left the queue: it was assigned to d1.")
	next(t, ch, "end")

	// A private queued job: not found for others, like its page.
	ids, _, err := e.App.SubmitJob(ctx, e.Principal(alice), labtest.Job("private", "qemu", "visibility: personal"))
	must(t, err)
	for _, who := range []int{anon, bob} {
		if code, _ := e.stream(t, who, fmt.Sprintf("/jobs/%d/queue/events", ids[0]), ""); code != 404 {
			t.Errorf("%s: queue stream of a private job: status %d, want 404", identNames[who], code)
		}
	}
	if code, ch := e.stream(t, alice, fmt.Sprintf("/jobs/%d/queue/events", ids[0]), ""); code != 200 {
		t.Errorf("alice: queue stream of her job: status %d", code)
	} else if ev := next(t, ch, "queue"); !strings.Contains(ev.Data, "Waiting:") {
		t.Errorf("alice's queue event: %s", ev.Data)
	}
}

// TestDeviceStatus: the device tables never call a device on a worker that
// cannot run jobs idle.
func TestDeviceStatus(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ctx := context.Background()
	ap := e.Principal(admin)
	_, err := e.App.CreateWorker(ctx, ap, lab.Worker{Name: "w2"}) // Offline until it connects
	must(t, err)
	must(t, e.App.CreateDevice(ctx, ap, lab.Device{Hostname: "d2", DeviceType: "qemu", Worker: "w2", Health: lab.DeviceGood}, "test"))
	_, body, _ := e.get(anon, "/devices")
	for _, re := range []string{
		`<th scope="row"><a href="/devices/d1">d1</a></th><td>qemu</td><td><span class="badge s-reserved">reserved</span></td>`,
		`<th scope="row"><a href="/devices/d2">d2</a></th><td>qemu</td><td><span class="badge s-offline">offline</span> <span class="status-detail">\(worker w2 Offline\)</span></td>`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("devices page: no match for %s", re)
		}
	}
	_, body, _ = e.get(anon, "/devices/d2")
	if !strings.Contains(body, `<tr><th scope="row">Status</th><td><span class="badge s-offline">offline</span> <span class="status-detail">(worker w2 Offline)</span></td></tr>`) {
		t.Errorf("device page of d2:\n%s", body)
	}
	if err := checkHTML(body); err != nil {
		t.Errorf("device page: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
