package lavarest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/lavawire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// names lists the value of key of each result of a page.
func names(t *testing.T, e *env, who int, path, key string) []string {
	t.Helper()
	var p lavawire.Page[map[string]any]
	e.get(who, path, &p)
	out := []string{}
	for _, r := range p.Results {
		out = append(out, r[key].(string))
	}
	if p.Count != len(out) {
		t.Errorf("%s: count %d for %d results", path, p.Count, len(out))
	}
	return out
}

// TestLabLists lists devices, device types, workers, aliases and tags
// with their filters, on SQLite and PostgreSQL.
func TestLabLists(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			cases := []struct {
				path, key, want string
			}{
				{"/devices/", "hostname", "b1 d1"},
				{"/devices/?all=1", "hostname", "b1 d1 d2"},
				{"/devices/?all=1&health=retired", "hostname", "d2"},
				{"/devices/?health=GOOD", "hostname", "d1"},
				{"/devices/?health__in=Good,maintenance", "hostname", "b1 d1"},
				{"/devices/?state=Idle", "hostname", "b1 d1"},
				{"/devices/?state=Running", "hostname", ""},
				{"/devices/?device_type=qemu", "hostname", "d1"},
				{"/devices/?device_type__name=board", "hostname", "b1"},
				{"/devices/?worker_host=w1", "hostname", "b1 d1"},
				{"/devices/?worker_host__hostname=w2", "hostname", ""},
				{"/devices/?tags=fast", "hostname", "d1"},
				{"/devices/?tags__name=slow", "hostname", ""},
				{"/devices/?hostname__startswith=d&all=yes", "hostname", "d1 d2"},
				{"/devices/?hostname__in=b1,d2,zz", "hostname", "b1"},
				{"/devices/?description__icontains=BOARD", "hostname", "b1"},
				{"/devices/?is_synced=false", "hostname", "b1 d1"},
				{"/devices/?ordering=-hostname", "hostname", "d1 b1"},
				{"/devices/?ordering=health", "hostname", "d1 b1"},
				{"/devices/?ordering=-health&all=1", "hostname", "d2 b1 d1"}, // Retired (5), Maintenance (4), Good (0)
				{"/devicetypes/", "name", "board qemu secret"},
				{"/devicetypes/?display=true", "name", "board qemu"},
				{"/devicetypes/?health_denominator=jobs", "name", "board"},
				{"/devicetypes/?name__icontains=E", "name", "qemu secret"},
				{"/devicetypes/?ordering=-name", "name", "secret qemu board"},
				{"/workers/", "hostname", "w1"},
				{"/workers/?state=online", "hostname", ""},
				{"/workers/?health=Active", "hostname", "w1"},
				{"/aliases/", "name", "kvm"},
				{"/aliases/?device_type=qemu", "name", "kvm"},
				{"/tags/", "name", "fast slow"},
				{"/tags/?name__in=slow", "name", "slow"},
				{"/tags/?ordering=-name&format=json", "name", "slow fast"},
			}
			for _, c := range cases {
				if got := strings.Join(names(t, e, anon, c.path, c.key), " "); got != c.want {
					t.Errorf("%s: %q, want %q", c.path, got, c.want)
				}
			}
			for _, c := range []struct{ path, field string }{
				{"/devices/?health=poorly", "health"}, {"/devices/?state__in=Idle,Sleeping", "state__in"},
				{"/workers/?health=gone", "health"}, {"/devicetypes/?display=perhaps", "display"},
			} {
				st, body := e.do(anon, "GET", c.path, "")
				var fields map[string][]string
				if st != 400 || json.Unmarshal(body, &fields) != nil || len(fields[c.field]) != 1 {
					t.Errorf("%s: %d %s, want 400 on %s", c.path, st, body, c.field)
				}
			}

			var d map[string]any
			e.get(anon, "/devices/d1/", &d)
			want := `map[description: device_type:qemu device_version:<nil> health:Good hostname:d1 is_synced:false last_health_report_job:<nil> physical_group:<nil> physical_owner:<nil> state:Idle tags:[fast] worker_host:w1]`
			if got := fmtMap(d); got != want {
				t.Errorf("device d1:\n got %s\nwant %s", got, want)
			}
			if st, _ := e.do(anon, "GET", "/devices/d2/", ""); st != 404 {
				t.Errorf("retired device without ?all: %d", st)
			}
			if st, _ := e.do(anon, "GET", "/devices/d2/?all=1", ""); st != 200 {
				t.Errorf("retired device with ?all: %d", st)
			}
			var w map[string]any
			e.get(anon, "/workers/w1/", &w)
			want = `map[description:the lab's worker health:Active hostname:w1 job_limit:0 last_ping:<nil> state:Offline version:<nil>]`
			if got := fmtMap(w); got != want {
				t.Errorf("worker w1:\n got %s\nwant %s", got, want)
			}
			var tag, alias map[string]any
			e.get(anon, "/tags/fast/", &tag)
			e.get(anon, "/aliases/kvm/", &alias)
			if fmtMap(tag) != "map[description:quick boards name:fast]" || fmtMap(alias) != "map[device_type:qemu name:kvm]" {
				t.Errorf("tag %v, alias %v", tag, alias)
			}
			for _, p := range []string{"/aliases/hid/", "/tags/nope/", "/workers/nope/", "/devicetypes/nope/", "/devices/nope/"} {
				if st, body := e.do(anon, "GET", p, ""); st != 404 || string(body) != `{"detail":"Not found."}`+"\n" {
					t.Errorf("%s: %d %s", p, st, body)
				}
			}
		})
	}
}

// TestDeviceTypeAvailability: a device type shows its devices by
// availability and the jobs waiting for it that the caller may see.
func TestDeviceTypeAvailability(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			qemu := func(who int) lavawire.DeviceType {
				t.Helper()
				var dt lavawire.DeviceType
				e.get(who, "/devicetypes/qemu/", &dt)
				return dt
			}
			dt := qemu(admin)
			want := lavawire.DeviceType{Name: "qemu", Aliases: []string{"kvm"}, Cores: []string{}, Description: "QEMU",
				HealthFrequency: 24, HealthDenominator: "hours", Display: true, Offline: 1, Retired: 1, QueuedJobs: 3}
			if !equalJSON(dt, want) {
				t.Errorf("qemu with its worker offline:\n got %+v\nwant %+v", dt, want)
			}
			// Bob sees only the public one of alice's three queued jobs;
			// a worker's token sees none.
			if q := qemu(bob).QueuedJobs; q != 1 {
				t.Errorf("qemu queue for bob: %d", q)
			}
			if q := qemu(worker).QueuedJobs; q != 0 {
				t.Errorf("qemu queue for a worker: %d", q)
			}
			ctx := context.Background()
			_, err := e.App.Heartbeat(ctx, auth.WorkerPrincipal("w1"), "w1", "test")
			must(t, err)
			if dt := qemu(admin); dt.Idle != 1 || dt.Offline != 0 || dt.Busy != 0 {
				t.Errorf("qemu with its worker online: %+v", dt)
			}
			_, err = e.App.SchedulePass(ctx)
			must(t, err)
			if dt := qemu(admin); dt.Idle != 0 || dt.Busy != 1 || dt.QueuedJobs != 2 {
				t.Errorf("qemu running a job: %+v", dt)
			}
			var all lavawire.Page[lavawire.DeviceType]
			e.get(anon, "/devicetypes/?name=board", &all)
			if len(all.Results) != 1 || all.Results[0].Offline != 1 || all.Results[0].QueuedJobs != 1 || all.Results[0].HealthDenominator != "jobs" {
				t.Errorf("board: %+v", all.Results)
			}
		})
	}
}

// fmtMap prints a map with its keys sorted.
func fmtMap(m map[string]any) string { return fmt.Sprint(m) }

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
