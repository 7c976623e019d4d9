package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// notifyDef is a job definition with notify block block (YAML, indented
// under notify:) and metadata meta (YAML flow mapping, "" for none).
func notifyDef(name, block, meta string) string {
	extra := "notify:\n" + block
	if meta != "" {
		extra += "\nmetadata: " + meta
	}
	return definition(name, "qemu", extra)
}

// submitNotify queues a job with a notify block as alice, straight into
// the store: past the submission's checks of the callbacks' hosts, which
// TestSubmissionChecks and TestNotifyAllowList test.
func (f *fixture) submitNotify(def string) int64 {
	f.t.Helper()
	d, err := jobdef.Parse([]byte(def))
	must(f.t, err)
	id, err := f.app.Store().CreateJob(f.ctx, lab.Job{Description: d.Name, Submitter: "alice", Visibility: lab.VisibilityPublic,
		State: lab.JobSubmitted, Priority: lab.PriorityMedium, RequestedType: "qemu", SubmitTime: f.clk.Now(),
		QueueTimeout: d.QueueTimeout(), Metadata: d.Metadata, Definition: def, OriginalDefinition: def})
	must(f.t, err)
	return id
}

// runTo schedules job id on the fixture's only device, starts it and
// finishes it with outcome o (cancel: canceled while running).
func (f *fixture) runTo(id int64, o app.JobOutcome, cancel bool) lab.Job {
	f.t.Helper()
	if r := f.pass(); len(r.Assigned) != 1 || r.Assigned[0].Job != id {
		f.t.Fatalf("job %d not assigned: %+v", id, r)
	}
	wp := auth.WorkerPrincipal("w1")
	_, err := f.app.StartJob(f.ctx, wp, id)
	must(f.t, err)
	if cancel {
		_, err := f.app.CancelJob(f.ctx, f.admin, id)
		must(f.t, err)
	}
	j, err := f.app.FinishJob(f.ctx, wp, id, o)
	must(f.t, err)
	return j
}

func (f *fixture) deliveries(id int64) []lab.Delivery {
	f.t.Helper()
	ds, err := f.app.Store().ListDeliveries(f.ctx, id)
	must(f.t, err)
	return ds
}

// summary is a delivery in short: kind, target, the job's state/health at
// queueing, status and, for those not sent, why.
func summary(ds []lab.Delivery) []string {
	var out []string
	for _, d := range ds {
		s := fmt.Sprintf("%s %s %s/%s %s", d.Kind, d.Target, d.State, d.Health, d.Status)
		if d.LastError != "" {
			s += ": " + d.LastError
		}
		out = append(out, s)
	}
	return out
}

func eqStrings(t *testing.T, what string, want, got []string) {
	t.Helper()
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestNotifyCriteria is LAVA's criteria matrix, with the type compared
// with the previous job of the same metadata.
func TestNotifyCriteria(t *testing.T) {
	complete, incomplete := lab.JobHealthComplete, lab.JobHealthIncomplete
	type ev struct {
		state  lab.JobState
		health lab.JobHealth
	}
	running := ev{lab.JobRunning, lab.JobHealthUnknown}
	done := ev{lab.JobFinished, lab.JobHealthComplete}
	failed := ev{lab.JobFinished, lab.JobHealthIncomplete}
	canceled := ev{lab.JobFinished, lab.JobHealthCanceled}
	canceling := ev{lab.JobCanceling, lab.JobHealthUnknown}
	cases := []struct {
		status, typ string
		prev        *lab.JobHealth
		match       []ev
	}{
		{"all", "", nil, []ev{running, done, failed, canceled}},
		{"running", "", nil, []ev{running}},
		{"finished", "", nil, []ev{done, failed, canceled}},
		{"complete", "", nil, []ev{done}},
		{"incomplete", "", nil, []ev{failed}},
		{"canceled", "", nil, []ev{canceled}},
		{"incomplete", "regression", &complete, []ev{failed}},
		{"incomplete", "regression", &incomplete, nil},
		{"incomplete", "regression", nil, nil},
		{"complete", "regression", &complete, nil},
		{"complete", "progression", &incomplete, []ev{done}},
		{"complete", "progression", &complete, nil},
		{"complete", "progression", nil, nil},
		{"incomplete", "progression", &incomplete, nil},
	}
	all := []ev{{lab.JobSubmitted, lab.JobHealthUnknown}, {lab.JobScheduled, lab.JobHealthUnknown}, running, canceling, done, failed, canceled}
	for _, c := range cases {
		prev := "none"
		if c.prev != nil {
			prev = c.prev.String()
		}
		for _, e := range all {
			want := false
			for _, m := range c.match {
				want = want || m == e
			}
			got := app.NotifyMatches(jobdef.NotifyCriteria{Status: c.status, Type: c.typ}, e.state, e.health, c.prev)
			if got != want {
				t.Errorf("status %s type %q (previous %s) on %s/%s: %v, want %v", c.status, c.typ, prev, e.state, e.health, got, want)
			}
		}
	}
}

// TestNotifyQueued: the deliveries a job's transitions queue — callbacks
// on every matching transition, recipients on the first one only,
// resolved to addresses, and the submitter when the block names nobody.
func TestNotifyQueued(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		f.online("w1")
		_, err := f.app.CreateUser(f.ctx, f.admin, app.NewUser{Username: "bob", Email: "bob@example.org"})
		must(t, err)
		_, err = f.app.CreateUser(f.ctx, f.admin, app.NewUser{Username: "carol"})
		must(t, err)
		id := f.submitNotify(notifyDef("all", `  criteria: {status: all}
  recipients:
  - to: {method: email, email: qa@example.org}
  - to: {method: email, user: bob}
  - to: {method: email, user: carol}
  - to: {method: email, user: "{LAVA_DEVICE_OWNER}"}
  - to: {method: irc, handle: bob-irc, server: irc.example.org}
  callbacks:
  - url: http://127.0.0.1:9/cb/{ID}
    method: POST
    token: s3cret
    dataset: all
    content-type: json
  - url: http://127.0.0.1:9/get`, ""))
		if ds := f.deliveries(id); len(ds) != 0 {
			t.Fatalf("queued before the job ran: %v", summary(ds))
		}
		f.runTo(id, app.JobOutcome{}, false)
		eqStrings(t, "deliveries", []string{
			"callback http://127.0.0.1:9/cb/{ID} Running/Unknown pending",
			"callback http://127.0.0.1:9/get Running/Unknown pending",
			"email qa@example.org Running/Unknown pending",
			"email bob@example.org Running/Unknown pending",
			`email carol Running/Unknown not_sent: not sent: user "carol" has no e-mail address`,
			"email {LAVA_DEVICE_OWNER} Running/Unknown not_sent: not sent: devices have no physical owner in Basalt",
			"irc bob-irc Running/Unknown not_sent: not sent: Basalt has no IRC client",
			"callback http://127.0.0.1:9/cb/{ID} Finished/Complete pending",
			"callback http://127.0.0.1:9/get Finished/Complete pending",
		}, summary(f.deliveries(id)))
		ds := f.deliveries(id)
		spec, err := app.ParseDeliverySpec(ds[0])
		must(t, err)
		if spec != (app.DeliverySpec{Method: "POST", Token: "s3cret", Header: "Authorization", Dataset: "all", ContentType: "json"}) {
			t.Errorf("first callback's spec: %+v", spec)
		}
		spec, err = app.ParseDeliverySpec(ds[1])
		must(t, err)
		if spec != (app.DeliverySpec{Method: "GET", Header: "Authorization", Dataset: "minimal", ContentType: "urlencoded"}) {
			t.Errorf("second callback's spec: %+v", spec)
		}
		spec, err = app.ParseDeliverySpec(ds[3])
		must(t, err)
		if spec != (app.DeliverySpec{Verbosity: "quiet", User: "bob"}) {
			t.Errorf("bob's spec: %+v", spec)
		}

		// Nobody named: the submitter, by e-mail; alice has no address.
		id = f.submitNotify(notifyDef("default", "  criteria: {status: finished}\n  verbosity: verbose", ""))
		f.runTo(id, app.JobOutcome{Failed: true, ErrorType: lab.ErrorTest}, false)
		eqStrings(t, "default recipient", []string{
			`email alice Finished/Incomplete not_sent: not sent: user "alice" has no e-mail address`,
		}, summary(f.deliveries(id)))

		// Callbacks only: nobody is mailed.
		id = f.submitNotify(notifyDef("cb", "  criteria: {status: complete}\n  callback: {url: 'https://ci.example.org/x'}", ""))
		f.runTo(id, app.JobOutcome{Failed: true}, false)
		if ds := f.deliveries(id); len(ds) != 0 {
			t.Errorf("complete criteria on an incomplete job: %v", summary(ds))
		}
		id = f.submitNotify(notifyDef("cb", "  criteria: {status: canceled}\n  callback: {url: 'https://ci.example.org/x'}", ""))
		f.runTo(id, app.JobOutcome{}, true)
		eqStrings(t, "canceled", []string{"callback https://ci.example.org/x Finished/Canceled pending"}, summary(f.deliveries(id)))

		// Canceled in the queue: Finished without running.
		id = f.submitNotify(notifyDef("queued", "  criteria: {status: all}\n  callback: {url: 'https://ci.example.org/q'}", ""))
		_, err = f.app.CancelJob(f.ctx, f.user, id)
		must(t, err)
		eqStrings(t, "canceled in the queue", []string{"callback https://ci.example.org/q Finished/Canceled pending"}, summary(f.deliveries(id)))

		// A job without a notify block queues nothing.
		id = f.submit(definition("plain", "qemu", ""))
		f.runTo(id, app.JobOutcome{}, false)
		if ds := f.deliveries(id); len(ds) != 0 {
			t.Errorf("a job without notify: %v", summary(ds))
		}
	})
}

// TestNotifyQueueTimeout: a job that expires in the queue is Finished
// Canceled, and its notifications go with the move.
func TestNotifyQueueTimeout(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		// The worker stays Offline: the job waits out timeouts.queue.
		id := f.submitNotify(strings.Replace(notifyDef("expires", "  criteria: {status: canceled}\n  callback: {url: 'https://ci.example.org/t'}", ""),
			"  job: {minutes: 10}", "  job: {minutes: 10}\n  queue: {minutes: 1}", 1))
		f.clk.Add(2 * time.Minute)
		r := f.pass()
		if len(r.Expired) != 1 || r.Expired[0] != id {
			t.Fatalf("expired %v, want [%d]", r.Expired, id)
		}
		eqStrings(t, "expired", []string{"callback https://ci.example.org/t Finished/Canceled pending"}, summary(f.deliveries(id)))
	})
}

// TestNotifyRegression: type regression and progression compare a job
// with the latest earlier job, Complete or Incomplete, of exactly the same
// metadata; a job without metadata has none to compare with.
func TestNotifyRegression(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		f.online("w1")
		regression := "  criteria: {status: incomplete, type: regression}\n  callback: {url: 'https://ci.example.org/r'}"
		progression := "  criteria: {status: complete, type: progression}\n  callback: {url: 'https://ci.example.org/p'}"
		pass, fail := app.JobOutcome{}, app.JobOutcome{Failed: true, ErrorType: lab.ErrorTest}
		steps := []struct {
			name, block, meta string
			outcome           app.JobOutcome
			cancel            bool
			want              int
		}{
			{"first failure: nothing to compare", regression, "{kernel: '6.1'}", fail, false, 0},
			{"failure after failure", regression, "{kernel: '6.1'}", fail, false, 0},
			{"progression", progression, "{kernel: '6.1'}", pass, false, 1},
			{"pass after pass", progression, "{kernel: '6.1'}", pass, false, 0},
			{"other metadata: its own history", regression, "{kernel: '6.2'}", fail, false, 0},
			{"a canceled job does not count", regression, "{kernel: '6.1'}", pass, true, 0},
			{"regression", regression, "{kernel: '6.1'}", fail, false, 1},
			{"superset metadata is another kind", progression, "{kernel: '6.1', board: x}", pass, false, 0},
			{"no metadata", regression, "", pass, false, 0},
			{"no metadata, failing", regression, "", fail, false, 0},
		}
		for _, s := range steps {
			id := f.submitNotify(notifyDef(strings.ReplaceAll(s.name, " ", "-"), s.block, s.meta))
			f.runTo(id, s.outcome, s.cancel)
			if got := len(f.deliveries(id)); got != s.want {
				t.Errorf("%s: %d deliveries, want %d", s.name, got, s.want)
			}
		}
	})
}

// failingDeliveries is a store whose transactions cannot add deliveries:
// a fake that shows the deliveries are part of the job's move.
type failingDeliveries struct{ store.Store }

type failingQueries struct{ store.Queries }

var errNoDeliveries = errors.New("deliveries refused")

func (failingQueries) AddDeliveries(context.Context, []lab.Delivery) ([]int64, error) {
	return nil, errNoDeliveries
}

func (s failingDeliveries) InTx(ctx context.Context, fn func(q store.Queries) error) error {
	return s.Store.InTx(ctx, func(q store.Queries) error { return fn(failingQueries{q}) })
}

// TestNotifySameTransaction: when the deliveries cannot be written, the
// job does not move either.
func TestNotifySameTransaction(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			f := newFixture(t, st)
			f.lab("qemu", "w1", "d1")
			f.online("w1")
			id := f.submitNotify(notifyDef("tx", "  criteria: {status: running}\n  callback: {url: 'https://ci.example.org/x'}", ""))
			if r := f.pass(); len(r.Assigned) != 1 {
				t.Fatalf("not assigned: %+v", r)
			}
			broken := app.New(failingDeliveries{st}, app.Config{Now: f.clk.Now})
			_, err := broken.StartJob(f.ctx, auth.WorkerPrincipal("w1"), id)
			if !errors.Is(err, errNoDeliveries) {
				t.Fatalf("start with deliveries refused: %v", err)
			}
			if j := f.job(id); j.State != lab.JobScheduled {
				t.Errorf("the job moved to %s without its deliveries", j.State)
			}
			_, err = f.app.StartJob(f.ctx, auth.WorkerPrincipal("w1"), id)
			must(t, err)
			select {
			case <-f.app.NotificationsQueued():
			default:
				t.Error("no signal to the sender after queueing")
			}
			eqStrings(t, "after a good start", []string{"callback https://ci.example.org/x Running/Unknown pending"}, summary(f.deliveries(id)))
		})
	}
}

// TestNotifyAllowList: with allowed callback hosts, a submission may call
// those only (at any address), and is refused, with the position, for
// another; a compare block is accepted with a warning.
func TestNotifyAllowList(t *testing.T) {
	st := labtest.Backends()[0].Open(t)
	a := app.New(st, app.Config{Callbacks: app.CallbackPolicy{Hosts: []string{"127.0.0.1", "*.ci.example.org"}}})
	f := newFixture(t, st)
	f.app = a
	f.lab("qemu", "w1", "d1")
	block := func(url string) string {
		return notifyDef("cb", "  criteria: {status: finished}\n  callback:\n    url: "+url, "")
	}
	for _, ok := range []string{"http://127.0.0.1:8080/cb", "https://build.ci.example.org/cb/{ID}", "https://A.CI.EXAMPLE.ORG/x"} {
		if _, _, err := a.SubmitJob(f.ctx, f.user, block(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"https://ci.example.org/cb", "http://10.0.0.1/cb", "https://example.com/ci.example.org"} {
		_, _, err := a.SubmitJob(f.ctx, f.user, block(bad))
		var de *jobdef.Errors
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "$.notify.callback.url: callback host") ||
			!strings.Contains(err.Error(), "is not in the server's allowed callback hosts") || de.Items[0].Line != 6 {
			t.Errorf("%s: %v", bad, err)
		}
	}
	_, warnings, err := a.SubmitJob(f.ctx, f.user, notifyDef("cmp", "  criteria: {status: finished}\n  compare:\n    blacklist: [x]", ""))
	must(t, err)
	if len(warnings) != 1 || warnings[0].Path != "$.notify.compare" || !strings.Contains(warnings[0].Msg, "compare is not supported") {
		t.Errorf("warnings %+v", warnings)
	}
}
