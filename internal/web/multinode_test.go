package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// submitGroup adds to the env's lab device d2 (qemu) and device b1 (type
// bbb, in Maintenance), then submits as alice, with visibility vis and a
// high priority, a multinode job of one server (qemu) and one client
// (bbb). It returns the group's job ids and name. The group cannot start:
// b1 takes no jobs.
func (e *env) submitGroup(vis string) ([]int64, string) {
	e.T.Helper()
	ctx := context.Background()
	ap := e.Principal(admin)
	if _, err := e.App.GetDevice(ctx, ap, "d2"); err != nil {
		must(e.T, e.App.CreateDevice(ctx, ap, lab.Device{Hostname: "d2", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood}, "test"))
		must(e.T, e.App.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "bbb"}))
		must(e.T, e.App.CreateDevice(ctx, ap, lab.Device{Hostname: "b1", DeviceType: "bbb", Worker: "w1", Health: lab.DeviceMaintenance}, "test"))
	}
	def := strings.Replace(labtest.MultinodeJob("pair-"+vis,
		labtest.Role{Name: "server", DeviceType: "qemu", Count: 1, Extra: "essential: true"},
		labtest.Role{Name: "client", DeviceType: "bbb", Count: 1}), "visibility: public", "visibility: "+vis+"\npriority: high", 1)
	ids, _, err := e.App.SubmitJob(ctx, e.Principal(alice), def)
	must(e.T, err)
	if len(ids) != 2 {
		e.T.Fatalf("a group of 2 made jobs %v", ids)
	}
	return ids, e.Job(ids[0]).Multinode.TargetGroup
}

// TestMultinodeJobPage: a sub-job's page shows its role and links every
// job of its group; while the group waits, its queue box says what each
// role waits for. The jobs list marks sub-jobs and lists one group.
func TestMultinodeJobPage(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ids, group := e.submitGroup("public")
			server, client := ids[0], ids[1]

			_, body, _ := e.get(bob, fmt.Sprintf("/jobs/%d", client))
			for _, want := range []string{
				fmt.Sprintf(`<tr><th scope="row">Multinode</th><td>role <strong>client</strong>, sub-job %d.1 of 2</td></tr>`, server),
				fmt.Sprintf(`<table class="group" data-group="%s">`, group),
				fmt.Sprintf(`<a href="/jobs?target_group=%s"><code>%s</code></a>`, group, group),
				fmt.Sprintf(`<tr><td><a href="/jobs/%d">%d</a></td><td>%d.0</td><td>server</td>`, server, server, server),
				fmt.Sprintf(`<tr aria-current="page"><td><a href="/jobs/%d">%d</a></td><td>%d.1</td><td>client</td>`, client, client, server),
				// The queue box: the group, then each role.
				fmt.Sprintf(`<div class="queue-group" data-group="%s">`, group),
				fmt.Sprintf(`This job, role <strong>client</strong>, is one of the 2 jobs of a multinode group, which starts whole or not at all: 2 of them are queued (<a href="/jobs/%d">%d</a>, <a href="/jobs/%d">%d</a>).`,
					server, server, client, client),
				fmt.Sprintf(`<tr class="role-waits"><th scope="row">client</th><td><a href="/jobs/%d">%d</a></td><td>0 of 1</td><td>role client has no free bbb device</td></tr>`,
					client, client),
				fmt.Sprintf(`<tr class="role-ready"><th scope="row">server</th><td><a href="/jobs/%d">%d</a></td><td>1 of 1</td><td>role server is satisfiable</td></tr>`,
					server, server),
				fmt.Sprintf(`<strong>Waiting:</strong> the job (role client) is part of group %s, which cannot be placed whole: role client has no free bbb device; role server is satisfiable`, group),
				`<tr class="q-device_maintenance"><th scope="row"><a href="/devices/b1">b1</a></th>`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("sub-job's page lacks %q:\n%s", want, body)
				}
			}
			if err := checkHTML(body); err != nil {
				t.Errorf("sub-job's page: %v", err)
			}
			_, body, _ = e.get(bob, fmt.Sprintf("/jobs/%d", server))
			if !strings.Contains(body, `role <strong>server</strong> (essential), sub-job`) ||
				!strings.Contains(body, fmt.Sprintf(`<tr aria-current="page"><td><a href="/jobs/%d">%d</a></td><td>%d.0</td><td>server</td>`, server, server, server)) {
				t.Errorf("the server's page:\n%s", body)
			}
			// A single job's page has no group.
			if _, body, _ := e.get(bob, fmt.Sprintf("/jobs/%d", e.pubJob)); strings.Contains(body, "Multinode") || strings.Contains(body, "queue-group") {
				t.Errorf("a single job's page shows a group")
			}

			_, body, _ = e.get(bob, "/jobs")
			for _, id := range []int64{server, client} {
				role := map[int64]string{server: "0 server", client: "1 client"}[id]
				want := fmt.Sprintf(`<a href="/jobs/%d">#%d</a> <span class="badge sub-job" title="multinode sub-job %d.%s, role %s">%d.%s</span>`,
					id, id, server, role[:1], role[2:], server, role)
				if !strings.Contains(body, want) {
					t.Errorf("jobs list lacks %q:\n%s", want, body)
				}
			}
			_, body, _ = e.get(bob, "/jobs?target_group="+group)
			if !strings.Contains(body, "Jobs 1–2 of 2") || strings.Contains(body, fmt.Sprintf(`href="/jobs/%d"`, e.pubJob)) ||
				!strings.Contains(body, fmt.Sprintf(`name="target_group" value="%s"`, group)) {
				t.Errorf("the jobs of the group:\n%s", body)
			}
			if err := checkHTML(body); err != nil {
				t.Errorf("jobs of a group: %v", err)
			}
		})
	}
}

// TestMultinodePrivateGroup: the jobs of a personal group are found by no
// one else: not their pages, not the group's listing, not the jobs list.
func TestMultinodePrivateGroup(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ids, group := e.submitGroup("personal")
	for who := range nIdent {
		sees := who == alice || who == admin
		for _, id := range ids {
			want := 404
			if sees {
				want = 200
			}
			if code, _, _ := e.get(who, fmt.Sprintf("/jobs/%d", id)); code != want {
				t.Errorf("%s: page of sub-job %d: %d, want %d", identNames[who], id, code, want)
			}
		}
		for _, path := range []string{"/jobs", "/jobs?target_group=" + group, "/"} {
			_, body, _ := e.get(who, path)
			shown := strings.Contains(body, fmt.Sprintf(`href="/jobs/%d"`, ids[0])) || strings.Contains(body, "pair-personal")
			if shown && !sees || !shown && sees && path != "/" { // the overview lists no queued jobs
				t.Errorf("%s: %s shows the personal group: %v, want %v", identNames[who], path, shown, sees)
			}
		}
	}
	// Alice's page of her sub-job lists both jobs of her group.
	_, body, _ := e.get(alice, fmt.Sprintf("/jobs/%d", ids[1]))
	for _, id := range ids {
		if !strings.Contains(body, fmt.Sprintf(`<td><a href="/jobs/%d">%d</a></td>`, id, id)) {
			t.Errorf("alice's page of her sub-job does not list job %d", id)
		}
	}
}

// TestMultinodeHold: once a group has waited past the hold delay, its
// queue box lists the devices held for it and those it waits for; the
// page of a job behind it names the group holding a device only to those
// who may see the group's jobs.
func TestMultinodeHold(t *testing.T) {
	e := newEnvConfig(t, labtest.Backends()[0], labtest.Config{GroupHoldAfter: time.Nanosecond})
	ctx := context.Background()
	must(t, e.App.CreateDevice(ctx, e.Principal(admin), lab.Device{Hostname: "d2", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood}, "test"))
	def := strings.Replace(labtest.MultinodeJob("held-pair",
		labtest.Role{Name: "server", DeviceType: "qemu", Count: 1},
		labtest.Role{Name: "client", DeviceType: "qemu", Count: 1}), "visibility: public", "visibility: personal\npriority: high", 1)
	ids, _, err := e.App.SubmitJob(ctx, e.Principal(alice), def)
	must(t, err)
	group := e.Job(ids[0]).Multinode.TargetGroup
	time.Sleep(time.Millisecond) // the hold delay passes

	// d1 runs alice's personal job: the group holds d2 and waits for d1.
	_, body, _ := e.get(alice, fmt.Sprintf("/jobs/%d", ids[0]))
	for _, want := range []string{
		`<p class="queue-hold">Held for the group: <a href="/devices/d2">d2</a>.</p>`,
		`<p class="queue-hold">The group waits for: <a href="/devices/d1">d1</a>.</p>`,
		"the pass holds d2 for it, and it waits for d1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the held group's page lacks %q:\n%s", want, body)
		}
	}
	if err := checkHTML(body); err != nil {
		t.Errorf("the held group's page: %v", err)
	}
	for _, c := range []struct {
		who  int
		want string
	}{
		{bob, "d2 is held for a private group, ahead in the queue"},
		{alice, "d2 is held for group " + group + ", ahead in the queue"},
	} {
		_, body, _ := e.get(c.who, fmt.Sprintf("/jobs/%d", e.pubJob))
		if !strings.Contains(body, `<tr class="q-held_for_group"><th scope="row"><a href="/devices/d2">d2</a></th><td><a href="/workers/w1">w1</a></td><td>`+c.want+`</td></tr>`) {
			t.Errorf("%s's page of the job behind the group lacks %q:\n%s", identNames[c.who], c.want, body)
		}
		if c.who == bob && strings.Contains(body, group) {
			t.Errorf("bob's page names alice's personal group %s", group)
		}
	}
}
