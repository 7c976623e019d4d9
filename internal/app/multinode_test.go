package app_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/coordinator"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// serverClients is a group of one essential server and two clients.
var serverClients = labtest.MultinodeJob("pair",
	labtest.Role{Name: "server", DeviceType: "qemu", Count: 1, Extra: "essential: true"},
	labtest.Role{Name: "client", DeviceType: "qemu", Count: 2})

// submitGroup submits def as the fixture's user and returns its jobs' ids.
func (f *fixture) submitGroup(def string) []int64 {
	f.t.Helper()
	ids, _, err := f.app.SubmitJob(f.ctx, f.user, def)
	must(f.t, err)
	return ids
}

// TestMultinodeSubmission: a multinode job becomes one job per role
// instance, created together with LAVA's sub ids, each running its role's
// split definition; a group the lab cannot hold at once, an unknown device
// type in a role and a dynamic connection role are refused with their
// place in the submission.
func TestMultinodeSubmission(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1", "d2", "d3")
		ids := f.submitGroup(serverClients)
		if len(ids) != 3 {
			t.Fatalf("%d jobs, want 3", len(ids))
		}
		var group string
		for i, id := range ids {
			j := f.job(id)
			mn := j.Multinode
			if mn == nil {
				t.Fatalf("job %d has no group", id)
			}
			if i == 0 {
				group = mn.TargetGroup
			}
			role, essential := "client", false
			if i == 0 {
				role, essential = "server", true
			}
			want := lab.MultinodeJob{TargetGroup: group, SubID: fmt.Sprintf("%d.%d", ids[0], i), Role: role, GroupSize: 3,
				Essential: essential}
			if *mn != want {
				t.Errorf("job %d: %+v, want %+v", id, *mn, want)
			}
			if j.State != lab.JobSubmitted || j.RequestedType != "qemu" || j.OriginalDefinition != serverClients {
				t.Errorf("job %d: %s type %q, original definition kept: %v", id, j.State, j.RequestedType, j.OriginalDefinition == serverClients)
			}
			def, err := jobdef.Parse([]byte(j.Definition), jobdef.ServerGenerated())
			if err != nil {
				t.Fatalf("job %d's definition: %v", id, err)
			}
			if m := def.Member(); m == nil || m.Role != role || m.SubID != i || m.TargetGroup != group {
				t.Errorf("job %d's definition places it as %+v", id, m)
			}
		}
		if len(group) != 36 {
			t.Errorf("target group %q is not a UUID", group)
		}

		tooBig := labtest.MultinodeJob("too big",
			labtest.Role{Name: "server", DeviceType: "qemu", Count: 2}, labtest.Role{Name: "client", DeviceType: "qemu", Count: 2})
		if _, _, err := f.app.SubmitJob(f.ctx, f.user, tooBig); !errors.Is(err, lab.ErrUnavailable) ||
			!strings.Contains(err.Error(), "4 devices at once") {
			t.Errorf("a group of 4 on 3 devices: %v", err)
		}

		unknown := labtest.MultinodeJob("unknown type",
			labtest.Role{Name: "server", DeviceType: "qemu", Count: 1}, labtest.Role{Name: "client", DeviceType: "bbb", Count: 1})
		_, _, err := f.app.SubmitJob(f.ctx, f.user, unknown)
		var de *jobdef.Errors
		if !errors.As(err, &de) || len(de.Items) != 1 {
			t.Fatalf("unknown device type in a role: %v", err)
		}
		if it := de.Items[0]; it.Path != "$.protocols.lava-multinode.roles.client.device_type" || it.Line != 12 || it.Column != 22 ||
			it.Msg != `device type "bbb" does not exist` {
			t.Errorf("unknown device type in a role: %d:%d %s: %s", it.Line, it.Column, it.Path, it.Msg)
		}

		conn := strings.Replace(serverClients, "      client:\n        device_type: qemu\n        count: 2\n",
			"      client:\n        connection: ssh\n        count: 1\n        host_role: server\n        expect_role: server\n", 1)
		if _, _, err := f.app.SubmitJob(f.ctx, f.user, conn); err == nil || !strings.Contains(err.Error(), "dynamic connection roles") {
			t.Errorf("a connection role: %v", err)
		}
		if _, err := f.app.ValidateJob(f.ctx, f.user, serverClients, true); err != nil {
			t.Errorf("validate: %v", err)
		}
	})
}

// TestMultinodeScheduling: a group starts only when all its devices can
// be taken at once, in one pass; meanwhile a smaller job takes a free
// device (backfill, before the hold).
func TestMultinodeScheduling(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1", "d2", "d3")
		f.online("w1")
		first := f.submit(definition("first", "qemu", "priority: high"))
		ids := f.submitGroup(serverClients)
		r := f.pass()
		if len(r.Assigned) != 1 || r.Assigned[0].Job != first {
			t.Fatalf("assigned %+v, want the first job only: the group needs 3 devices", r.Assigned)
		}
		later := f.submit(definition("later", "qemu", "priority: low"))
		r = f.pass()
		if len(r.Assigned) != 1 || r.Assigned[0].Job != later {
			t.Fatalf("assigned %+v, want the later job (backfill)", r.Assigned)
		}
		for _, id := range ids {
			if j := f.job(id); j.State != lab.JobSubmitted {
				t.Fatalf("group job %d %s while the group cannot start", id, j.State)
			}
		}
		for _, id := range []int64{first, later} {
			_, err := f.app.FinishJob(f.ctx, auth.WorkerPrincipal("w1"), id, app.JobOutcome{})
			must(t, err)
		}
		r = f.pass()
		if len(r.Assigned) != 3 {
			t.Fatalf("assigned %+v, want the whole group", r.Assigned)
		}
		devices := map[string]bool{}
		for _, id := range ids {
			j := f.job(id)
			if j.State != lab.JobScheduled || devices[j.ActualDevice] {
				t.Errorf("group job %d: %s on %q", id, j.State, j.ActualDevice)
			}
			devices[j.ActualDevice] = true
		}
		as, err := f.app.Assign(f.ctx, ids[1])
		must(t, err)
		wantRoles := map[string]string{fmt.Sprint(ids[0]): "server", fmt.Sprint(ids[1]): "client", fmt.Sprint(ids[2]): "client"}
		if as.Multinode == nil || as.Multinode.Role != "client" || fmt.Sprint(as.Roles) != fmt.Sprint(wantRoles) {
			t.Errorf("assignment of a group job: %+v roles %v", as.Multinode, as.Roles)
		}
	})
}

// TestMultinodeGroupEnds: canceling one job cancels its group; an
// essential role ending Incomplete cancels its siblings, a non-essential
// one does not; resubmitting a job submits its whole group again.
func TestMultinodeGroupEnds(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1", "d2", "d3")
		queued := f.submitGroup(serverClients)
		_, err := f.app.CancelJob(f.ctx, f.user, queued[2])
		must(t, err)
		for _, id := range queued {
			if j := f.job(id); j.State != lab.JobFinished || j.Health != lab.JobHealthCanceled {
				t.Errorf("queued group job %d after a cancel of one: %s %s", id, j.State, j.Health)
			}
		}

		f.online("w1")
		wp := auth.WorkerPrincipal("w1")
		start := func(ids []int64) {
			if r := f.pass(); len(r.Assigned) != len(ids) {
				t.Fatalf("assigned %+v", r.Assigned)
			}
			for _, id := range ids {
				_, err := f.app.StartJob(f.ctx, wp, id)
				must(t, err)
			}
		}
		ids := f.submitGroup(serverClients)
		start(ids)
		_, err = f.app.FinishJob(f.ctx, wp, ids[1], app.JobOutcome{Failed: true, ErrorType: lab.ErrorTest, Comment: "a client fails"})
		must(t, err)
		for _, id := range []int64{ids[0], ids[2]} {
			if j := f.job(id); j.State != lab.JobRunning {
				t.Errorf("job %d after a non-essential role failed: %s", id, j.State)
			}
		}
		_, err = f.app.FinishJob(f.ctx, wp, ids[0], app.JobOutcome{Failed: true, ErrorType: lab.ErrorInfrastructure, Comment: "the server fails"})
		must(t, err)
		if j := f.job(ids[2]); j.State != lab.JobCanceling || !strings.Contains(j.FailureComment, "essential role server") {
			t.Errorf("the other client after the essential server failed: %s %q", j.State, j.FailureComment)
		}
		j, err := f.app.FinishJob(f.ctx, wp, ids[2], app.JobOutcome{Failed: true, ErrorType: lab.ErrorCanceled})
		must(t, err)
		if j.Health != lab.JobHealthCanceled {
			t.Errorf("the canceled client ends %s", j.Health)
		}

		again, err := f.app.ResubmitJob(f.ctx, f.user, ids[1])
		must(t, err)
		if len(again) != 3 {
			t.Fatalf("resubmitting a group job made %d jobs, want the whole group", len(again))
		}
		a, b := f.job(again[0]), f.job(ids[0])
		if a.Multinode == nil || a.Multinode.TargetGroup == b.Multinode.TargetGroup || a.Metadata["job.original"] != fmt.Sprintf("/api/v1/jobs/%d", ids[1]) {
			t.Errorf("resubmitted group: %+v metadata %v", a.Multinode, a.Metadata)
		}
	})
}

// TestMultinodeCalls: a group's jobs reach the coordinator through the
// app as their worker: it names them (client name, group, role, host), a
// held wait wakes when the message is sent, another worker or a job of no
// group is refused, a new App over the same store (a server restart) keeps
// the group's messages, and the group is forgotten once all its jobs
// ended.
func TestMultinodeCalls(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1", "d2", "d3")
		f.online("w1")
		pair := labtest.MultinodeJob("pair", labtest.Role{Name: "server", DeviceType: "qemu", Count: 1},
			labtest.Role{Name: "client", DeviceType: "qemu", Count: 1})
		ids := f.submitGroup(pair)
		single := f.submit(definition("single", "qemu", ""))
		if r := f.pass(); len(r.Assigned) != 3 {
			t.Fatalf("assigned %+v", r.Assigned)
		}
		wp := auth.WorkerPrincipal("w1")
		call := func(a *app.App, id int64, c app.MultinodeCall) coordinatorAnswer {
			t.Helper()
			r, err := a.MultinodeCall(f.ctx, wp, id, c)
			must(t, err)
			return coordinatorAnswer{r.Response, string(r.Message), r.Roles}
		}
		server, client := ids[0], ids[1]
		if r := call(f.app, server, app.MultinodeCall{Request: "group_data"}); r.Response != "wait" {
			t.Errorf("group_data before the client: %+v", r)
		}
		r := call(f.app, client, app.MultinodeCall{Request: "group_data"})
		if r.Response != "group_data" || r.Roles[fmt.Sprint(server)] != "server" || r.Roles[fmt.Sprint(client)] != "client" {
			t.Errorf("group_data: %+v", r)
		}
		// The client waits; the server's message wakes it.
		got := make(chan coordinatorAnswer, 1)
		go func() {
			r, err := f.app.MultinodeCall(f.ctx, wp, client, app.MultinodeCall{Request: "lava_wait", MessageID: "ready", Hold: time.Minute})
			if err != nil {
				t.Error(err)
			}
			got <- coordinatorAnswer{r.Response, string(r.Message), r.Roles}
		}()
		if r := call(f.app, server, app.MultinodeCall{Request: "lava_send", MessageID: "ready", Message: map[string]any{"ip": "10.0.0.1"}}); r.Response != "ack" {
			t.Errorf("lava_send: %+v", r)
		}
		select {
		case r := <-got:
			if want := fmt.Sprintf(`{"%d":{"ip":"10.0.0.1"}}`, server); r.Response != "ack" || r.Message != want {
				t.Errorf("the held wait: %+v, want ack %s", r, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the held lava_wait did not wake when the message was sent")
		}
		if _, err := f.app.MultinodeCall(f.ctx, auth.WorkerPrincipal("w2"), client, app.MultinodeCall{Request: "lava_wait"}); !errors.Is(err, lab.ErrForbidden) {
			t.Errorf("another worker's call: %v", err)
		}
		if _, err := f.app.MultinodeCall(f.ctx, wp, single, app.MultinodeCall{Request: "group_data"}); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("a call of a job of no group: %v", err)
		}
		if _, err := f.app.MultinodeCall(f.ctx, wp, client, app.MultinodeCall{Request: "aggregate"}); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("LAVA v1's aggregate: %v", err)
		}

		// A restarted server: the server sends again and the message is
		// still there for the client; a barrier spans the restart.
		restarted := app.New(f.app.Store(), app.Config{Now: f.clk.Now})
		if r := call(restarted, client, app.MultinodeCall{Request: "lava_wait", MessageID: "ready"}); r.Response != "ack" {
			t.Errorf("lava_wait after a restart: %+v", r)
		}
		if r := call(restarted, server, app.MultinodeCall{Request: "lava_sync", MessageID: "done"}); r.Response != "wait" {
			t.Errorf("first of the barrier: %+v", r)
		}
		again := app.New(f.app.Store(), app.Config{Now: f.clk.Now})
		if r := call(again, client, app.MultinodeCall{Request: "lava_sync", MessageID: "done", Hold: time.Second}); r.Response != "ack" {
			t.Errorf("second of the barrier, after another restart: %+v", r)
		}

		for _, id := range ids {
			_, err := again.FinishJob(f.ctx, wp, id, app.JobOutcome{})
			must(t, err)
		}
		groups, err := f.app.Store().ListCoordinatorGroups(f.ctx)
		must(t, err)
		if len(groups) != 0 {
			t.Errorf("the coordinator still keeps %d groups once the group's jobs ended", len(groups))
		}
		if _, err := again.MultinodeCall(f.ctx, wp, client, app.MultinodeCall{Request: "lava_wait"}); !errors.Is(err, lab.ErrConflict) {
			t.Errorf("a call of a finished job: %v", err)
		}
	})
}

// coordinatorAnswer is a coordinator answer in comparable form.
type coordinatorAnswer struct {
	Response, Message string
	Roles             map[string]string
}

// TestCoordinatorSweep: a group idle for CoordinatorIdle that no
// unfinished job belongs to (a dead LAVA dispatcher's) is dropped by the
// sweep; a group of running jobs stays however long it is idle.
func TestCoordinatorSweep(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1", "d2")
		f.online("w1")
		ids := f.submitGroup(labtest.MultinodeJob("pair", labtest.Role{Name: "server", DeviceType: "qemu", Count: 1},
			labtest.Role{Name: "client", DeviceType: "qemu", Count: 1}))
		f.pass()
		wp := auth.WorkerPrincipal("w1")
		_, err := f.app.MultinodeCall(f.ctx, wp, ids[0], app.MultinodeCall{Request: "group_data"})
		must(t, err)
		co, err := f.app.Coordinator(f.ctx)
		must(t, err)
		ext := coordinator.Request{Request: "group_data", ClientName: "77", GroupName: "lava-dispatchers", Role: "r", Hostname: "h",
			GroupSize: 2}
		if r, err := co.Handle(f.ctx, ext); err != nil || r.Response != "wait" {
			t.Fatalf("external group_data: %+v %v", r, err)
		}
		must(t, app.SweepCoordinator(f.app, f.ctx))
		if len(co.Groups()) != 2 {
			t.Fatalf("groups %v after a sweep with nothing idle", co.Groups())
		}
		f.clk.Add(app.CoordinatorIdle + time.Minute)
		must(t, app.SweepCoordinator(f.app, f.ctx))
		j := f.job(ids[0])
		if got := co.Groups(); len(got) != 1 || got[0] != j.Multinode.TargetGroup {
			t.Errorf("groups %v after the sweep, want only the running group %s", got, j.Multinode.TargetGroup)
		}
		saved, err := f.app.Store().ListCoordinatorGroups(f.ctx)
		must(t, err)
		if _, ok := saved["lava-dispatchers"]; ok || len(saved) != 1 {
			t.Errorf("saved groups after the sweep: %d", len(saved))
		}
	})
}

// TestMultinodeMethodError: a role's action a device cannot run is
// refused at its place in the submission, not in the role's split
// definition (where it has another index).
func TestMultinodeMethodError(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1")
		for _, h := range []string{"q1", "q2"} {
			must(t, f.app.CreateDevice(f.ctx, f.admin, lab.Device{Hostname: h, DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood,
				Dictionary: "{% extends 'qemu.jinja2' %}\n"}, "test"))
		}
		def := labtest.MultinodeJob("pair", labtest.Role{Name: "server", DeviceType: "qemu", Count: 1},
			labtest.Role{Name: "client", DeviceType: "qemu", Count: 1}) + `- boot:
    role: [server]
    method: qemu
    prompts: ["/ # "]
- boot:
    role: [client]
    method: u-boot
    commands: ramdisk
    prompts: ["/ # "]
`
		_, err := f.app.ValidateJob(f.ctx, f.user, def, false)
		var de *jobdef.Errors
		if !errors.As(err, &de) || len(de.Items) != 1 {
			t.Fatalf("a role's boot method the device lacks: %v", err)
		}
		// The client's own definition has it at actions[2] (the server's
		// second boot is not in it); the submission at actions[3].
		if it := de.Items[0]; it.Path != "$.actions[3].boot.method" || it.Line != 31 || it.Column != 13 {
			t.Errorf("%d:%d %s: %s", it.Line, it.Column, it.Path, it.Msg)
		}
	})
}
