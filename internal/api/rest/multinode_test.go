package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// submitGroup adds device d2 (qemu, Good) to the env's lab and submits a
// multinode job as alice with visibility vis: one server and one client,
// both qemu. It returns the group's job ids.
func (e *env) submitGroup(vis string) []int64 {
	e.T.Helper()
	ctx := context.Background()
	if _, err := e.App.GetDevice(ctx, e.Principal(admin), "d2"); err != nil {
		must(e.T, e.App.CreateDevice(ctx, e.Principal(admin), lab.Device{Hostname: "d2", DeviceType: "qemu", Worker: "w1",
			Health: lab.DeviceGood}, "test"))
	}
	def := strings.Replace(labtest.MultinodeJob("pair",
		labtest.Role{Name: "server", DeviceType: "qemu", Count: 1, Extra: "essential: true"},
		labtest.Role{Name: "client", DeviceType: "qemu", Count: 1}), "visibility: public", "visibility: "+vis, 1)
	ids, _, err := e.App.SubmitJob(ctx, e.Principal(alice), def)
	must(e.T, err)
	if len(ids) != 2 {
		e.T.Fatalf("a group of 2 made jobs %v", ids)
	}
	return ids
}

// TestMultinodeJobs: a sub-job's JSON places it in its group, with LAVA's
// sub id; ?target_group= lists exactly the group's jobs, to those who may
// see them.
func TestMultinodeJobs(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ids := e.submitGroup("public")
			priv := e.submitGroup("personal")

			status, body := e.do(bob, "GET", fmt.Sprintf("/jobs/%d", ids[1]), "")
			if status != 200 {
				t.Fatalf("GET a sub-job: %d %s", status, body)
			}
			var raw map[string]any
			must(t, json.Unmarshal(body, &raw))
			mn, ok := raw["multinode"].(map[string]any)
			if !ok {
				t.Fatalf("a sub-job's JSON has no multinode object: %s", body)
			}
			group, _ := mn["target_group"].(string)
			want := map[string]any{"target_group": group, "sub_id": fmt.Sprintf("%d.1", ids[0]), "role": "client",
				"group_size": float64(2), "essential": false}
			if fmt.Sprint(mn) != fmt.Sprint(want) || len(group) != 36 {
				t.Errorf("multinode = %v, want %v", mn, want)
			}
			// A job of no group has no multinode object.
			_, body = e.do(bob, "GET", fmt.Sprintf("/jobs/%d", e.pubJob), "")
			if strings.Contains(string(body), `"multinode"`) {
				t.Errorf("a single job's JSON has a multinode object: %s", body)
			}

			list := func(who int, group string) []int64 {
				t.Helper()
				status, body := e.do(who, "GET", "/jobs?target_group="+group, "")
				if status != 200 {
					t.Fatalf("list a group as %s: %d %s", identNames[who], status, body)
				}
				var l wire.List[wire.Job]
				must(t, json.Unmarshal(body, &l))
				var got []int64
				for _, j := range l.Results {
					if j.Multinode == nil || j.Multinode.TargetGroup != group {
						t.Errorf("listed job %d of group %q: %+v", j.ID, group, j.Multinode)
					}
					got = append(got, j.ID)
				}
				if l.Count != len(got) {
					t.Errorf("count %d, %d results", l.Count, len(got))
				}
				slices.Sort(got)
				return got
			}
			if got := list(bob, group); fmt.Sprint(got) != fmt.Sprint(ids) {
				t.Errorf("?target_group= lists %v, want %v", got, ids)
			}
			privGroup := e.Job(priv[0]).Multinode.TargetGroup
			if got := list(alice, privGroup); fmt.Sprint(got) != fmt.Sprint(priv) {
				t.Errorf("alice's personal group: %v, want %v", got, priv)
			}
			for _, who := range []int{anon, bob} {
				if got := list(who, privGroup); len(got) != 0 {
					t.Errorf("%s lists alice's personal group: %v", identNames[who], got)
				}
			}
			if got := list(bob, "no-such-group"); len(got) != 0 {
				t.Errorf("an unknown group lists %v", got)
			}
		})
	}
}

// TestMultinodeQueue: the queue explanation of a sub-job carries its
// group: the jobs queued, and per role what it waits for.
func TestMultinodeQueue(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ids := e.submitGroup("public")
	group := e.Job(ids[0]).Multinode.TargetGroup

	status, body := e.do(anon, "GET", fmt.Sprintf("/jobs/%d/queue", ids[0]), "")
	if status != 200 {
		t.Fatalf("queue of a sub-job: %d %s", status, body)
	}
	var raw map[string]any
	must(t, json.Unmarshal(body, &raw))
	g, ok := raw["group"].(map[string]any)
	if !ok {
		t.Fatalf("no group object: %s", body)
	}
	var keys []string
	for k := range g {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if fmt.Sprint(keys) != "[held name queued role roles size waits_for]" {
		t.Errorf("group keys %v", keys)
	}

	q := e.queue(anon, ids[0])
	// w1 never connected: no role can be placed.
	offline := "has no free qemu device"
	wantRoles := []wire.QueueRole{
		{Role: "client", Jobs: ids[1:], Placeable: 0, Detail: "role client " + offline},
		{Role: "server", Jobs: ids[:1], Placeable: 0, Detail: "role server " + offline},
	}
	if q.Verdict != "waiting" || q.Reasons[0].Code != "group_waits" || q.Group == nil || q.Group.Name != group ||
		q.Group.Role != "server" || q.Group.Size != 2 || fmt.Sprint(q.Group.Queued) != fmt.Sprint(ids) ||
		fmt.Sprintf("%+v", q.Group.Roles) != fmt.Sprintf("%+v", wantRoles) || len(q.Group.Held) != 0 || len(q.Group.WaitsFor) != 0 {
		t.Errorf("queue of a sub-job = %+v, group %+v", q, q.Group)
	}
	// A job of no group has "group": null.
	_, body = e.do(anon, "GET", fmt.Sprintf("/jobs/%d/queue", e.pubJob), "")
	must(t, json.Unmarshal(body, &raw))
	if v, ok := raw["group"]; !ok || v != nil {
		t.Errorf("queue of a single job: group %v (present: %v)", v, ok)
	}
}
