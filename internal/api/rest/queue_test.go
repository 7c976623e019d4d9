package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// queue reads GET /jobs/{id}/queue as who.
func (e *env) queue(who int, id int64) wire.Queue {
	e.T.Helper()
	status, body := e.do(who, "GET", fmt.Sprintf("/jobs/%d/queue", id), "")
	if status != 200 {
		e.T.Fatalf("GET /jobs/%d/queue: %d %s", id, status, body)
	}
	var q wire.Queue
	must(e.T, json.Unmarshal(body, &q))
	return q
}

func (e *env) device(name string) wire.Device {
	e.T.Helper()
	_, body := e.do(admin, "GET", "/devices/"+name, "")
	var d wire.Device
	must(e.T, json.Unmarshal(body, &d))
	return d
}

// TestJobQueue follows a queued job's explanation, and its device's
// status, through the lab's changes, on SQLite and PostgreSQL: the worker
// never connected, then Online, Offline again, the device in Maintenance,
// and the job scheduled.
func TestJobQueue(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			ap := e.Principal(admin)

			// w1 was created Offline and never sent a heartbeat.
			q := e.queue(anon, e.pubJob)
			want := "0 of 1 qemu device usable: d1 is on worker w1, Offline (never connected)"
			if q.Job != e.pubJob || q.State != "Submitted" || q.Verdict != "waiting" || q.Summary != want ||
				len(q.Reasons) != 1 || q.Reasons[0].Code != "no_usable_device" || q.Reasons[0].Detail != want ||
				len(q.Devices) != 1 || q.Devices[0].Hostname != "d1" || q.Devices[0].Worker != "w1" ||
				q.Devices[0].Code != "worker_offline" || q.Devices[0].Since != nil || q.JobsAhead != 0 || q.ExpiresAt != nil {
				t.Errorf("queue of the first job = %+v", q)
			}
			if d := e.device("d1"); d.Status != "offline" || d.StatusDetail != "worker w1 Offline" {
				t.Errorf("d1 on an Offline worker: status %q (%q)", d.Status, d.StatusDetail)
			}
			// Alice's personal job is behind her public one, submitted earlier.
			q = e.queue(alice, e.privJob)
			if q.JobsAhead != 1 || q.JobsAheadHigherPriority != 0 ||
				!strings.HasSuffix(q.Summary, "; 1 job of equal priority submitted earlier ahead") ||
				q.Reasons[len(q.Reasons)-1].Code != "jobs_ahead" {
				t.Errorf("queue of the second job = %+v", q)
			}
			if status, _ := e.do(bob, "GET", fmt.Sprintf("/jobs/%d/queue", e.privJob), ""); status != 404 {
				t.Errorf("another user's personal job: %d, want 404", status)
			}

			// The worker comes Online: the next pass would schedule the job.
			if status, body := e.do(worker, "POST", "/workers/w1/heartbeat", `{"version":"test"}`); status != 200 {
				t.Fatalf("heartbeat: %d %s", status, body)
			}
			q = e.queue(anon, e.pubJob)
			if q.Verdict != "schedulable" || q.Device != "d1" || q.Devices[0].Code != "free" ||
				q.Summary != "d1 is free: the next scheduling pass assigns the job to it" {
				t.Errorf("queue with the worker Online = %+v", q)
			}
			if d := e.device("d1"); d.Status != "idle" || d.StatusDetail != "" {
				t.Errorf("d1 on an Online worker: status %q (%q)", d.Status, d.StatusDetail)
			}

			// Offline again: since when is in the worker's history.
			before := time.Now().Add(-time.Second)
			_, err := e.App.Store().SetWorkerStatus(ctx, "w1", lab.WorkerOffline, lab.WorkerActive, lab.ActorScheduler, "no heartbeat")
			must(t, err)
			q = e.queue(anon, e.pubJob)
			dq := q.Devices[0]
			if q.Verdict != "waiting" || dq.Code != "worker_offline" || dq.Since == nil || dq.Since.Before(before) ||
				!strings.Contains(dq.Detail, "d1 is on worker w1, Offline since "+dq.Since.UTC().Format("15:04")+" UTC") {
				t.Errorf("queue with the worker Offline again = %+v", q)
			}

			// Online, and the device in Maintenance.
			e.do(worker, "POST", "/workers/w1/heartbeat", `{"version":"test"}`)
			_, err = e.App.SetDeviceHealth(ctx, ap, "d1", lab.DeviceMaintenance, "fan")
			must(t, err)
			if q = e.queue(anon, e.pubJob); q.Summary != "0 of 1 qemu device usable: d1 is in Maintenance" || q.Devices[0].Code != "device_maintenance" {
				t.Errorf("queue with the device in Maintenance = %+v", q)
			}
			if d := e.device("d1"); d.Status != "offline" || d.StatusDetail != "" {
				t.Errorf("d1 in Maintenance: status %q (%q)", d.Status, d.StatusDetail)
			}

			// Good again, and a pass schedules the job: it is no longer queued.
			_, err = e.App.SetDeviceHealth(ctx, ap, "d1", lab.DeviceGood, "fixed")
			must(t, err)
			res, err := e.App.SchedulePass(ctx)
			must(t, err)
			if len(res.Assigned) != 1 || res.Assigned[0].Job != e.pubJob {
				t.Fatalf("pass: %+v", res)
			}
			q = e.queue(anon, e.pubJob)
			if q.Verdict != "not_queued" || q.State != "Scheduled" || len(q.Devices) != 0 ||
				q.Summary != fmt.Sprintf("job %d is not queued: it is Scheduled on d1", e.pubJob) {
				t.Errorf("queue of the scheduled job = %+v", q)
			}
			// The next job now waits for the busy device.
			q = e.queue(alice, e.privJob)
			if q.Verdict != "waiting" || q.Summary != fmt.Sprintf("no qemu device is free: d1 is reserved for job %d", e.pubJob) ||
				q.Devices[0].Job != e.pubJob || q.JobsAhead != 0 {
				t.Errorf("queue behind the scheduled job = %+v", q)
			}
			if d := e.device("d1"); d.Status != "reserved" {
				t.Errorf("d1 reserved: status %q", d.Status)
			}
		})
	}
}
