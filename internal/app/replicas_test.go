package app_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/store/sqlstore"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

// replicaFailAfter bounds the waits of the replica tests: reaching it is
// a failure, never a measurement.
const replicaFailAfter = 30 * time.Second

// eventTap collects the events an App delivers to its listeners.
func eventTap(a *app.App) <-chan app.Event {
	ch := make(chan app.Event, 1024)
	a.Subscribe(func(e app.Event) {
		select {
		case ch <- e:
		default:
		}
	})
	return ch
}

// waitEvent returns the first event of ch that match accepts, failing t
// when none comes.
func waitEvent(t *testing.T, ch <-chan app.Event, what string, match func(app.Event) bool) app.Event {
	t.Helper()
	limit := time.After(replicaFailAfter)
	for {
		select {
		case e := <-ch:
			if match(e) {
				return e
			}
		case <-limit:
			t.Fatalf("%s: no such event", what)
		}
	}
}

func jobEvent(id int64, state lab.JobState) func(app.Event) bool {
	return func(e app.Event) bool { return e.Kind == "job" && e.JobID == id && e.State == state.String() }
}

// replicaPair is two Apps (replicas) on one private PostgreSQL, each with
// its own notifier and log store, as two server processes have.
func replicaPair(t *testing.T, bCfg app.Config) (f *fixture, b *app.App, dsn string, nb *sqlstore.PGNotifier) {
	t.Helper()
	dsn = pgtest.DSN(t)
	notifier := func() *sqlstore.PGNotifier {
		n, err := sqlstore.NewPGNotifier(dsn, nil)
		must(t, err)
		t.Cleanup(func() { n.Close() })
		return n
	}
	logs := func() *logstore.Store {
		l, err := logstore.Open(t.TempDir())
		must(t, err)
		t.Cleanup(func() { l.Close() })
		return l
	}
	na, nb := notifier(), notifier()
	f = newFixtureConfig(t, labtest.OpenDSN(t, dsn), app.Config{Logs: logs(), Notifier: na})
	bCfg.Now, bCfg.Logs, bCfg.Notifier = f.clk.Now, logs(), nb
	b = app.New(labtest.OpenDSN(t, dsn), bCfg)
	ctx, cancel := context.WithTimeout(context.Background(), replicaFailAfter)
	defer cancel()
	must(t, na.Listening(ctx, app.EventsChannel))
	must(t, nb.Listening(ctx, app.EventsChannel))
	return f, b, dsn, nb
}

// runUntilEnd runs fn until the test ends.
func runUntilEnd(t *testing.T, fn func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { fn(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// TestReplicaEvents: a job submitted and scheduled on replica A reaches
// the listeners of replica B (the worker link pushes assignments on the
// job's Scheduled event), named by id without the job; a log line
// appended on A wakes a follower of the job's log waiting on B.
func TestReplicaEvents(t *testing.T) {
	f, b, _, _ := replicaPair(t, app.Config{})
	runUntilEnd(t, f.app.RunReplicaEvents)
	runUntilEnd(t, b.RunReplicaEvents)
	onB := eventTap(b)
	onA := eventTap(f.app)

	f.lab("qemu", "w1", "d1")
	f.online("w1")
	waitEvent(t, onB, "worker online on B", func(e app.Event) bool {
		return e.Kind == "worker" && e.Worker == "w1" && e.State == lab.WorkerOnline.String()
	})
	id := f.submit(definition("replicated", "qemu", ""))
	e := waitEvent(t, onB, "job submitted on B", jobEvent(id, lab.JobSubmitted))
	if e.Job != nil {
		t.Errorf("remote event carries a job: %+v", e.Job)
	}
	// B's event stream reads the job of a remote event, and reads it again
	// for the next one (what it remembers is older than the event)
	res := b.NewEventResolver()
	se, err := res.Resolve(f.ctx, e)
	must(t, err)
	if se.Job == nil || se.Job.State != lab.JobSubmitted {
		t.Fatalf("resolved submission on B: %+v", se.Job)
	}
	if r := f.pass(); len(r.Assigned) != 1 {
		t.Fatalf("pass on A assigned %+v", r.Assigned)
	}
	e = waitEvent(t, onB, "job scheduled on B", jobEvent(id, lab.JobScheduled))
	if e.Device != "d1" {
		t.Errorf("scheduled event on B names device %q, want d1", e.Device)
	}
	se, err = res.Resolve(f.ctx, e)
	must(t, err)
	if se.Job == nil || se.Job.State != lab.JobScheduled || se.Device == nil || se.Device.Hostname != "d1" {
		t.Errorf("resolved scheduling on B: job %+v device %+v", se.Job, se.Device)
	}
	// A's own events reach its listeners once, locally: its notification
	// is not re-emitted. B's listener saw the Scheduled event after A's
	// notification of it went out; A's own copy came back at most as fast.
	if got := waitEvent(t, onA, "A's own event", jobEvent(id, lab.JobScheduled)); got.Job == nil {
		t.Errorf("A's local event lost its job")
	}

	// a follower on B waits for line 1; A stores it
	waiting := make(chan struct{})
	var once sync.Once
	app.OnLogWait(b, func(j int64) {
		if j == id {
			once.Do(func() { close(waiting) })
		}
	})
	fol, err := b.FollowJobLog(f.ctx, f.admin, id)
	must(t, err)
	woke := make(chan struct{})
	go func() {
		fol.Wait(context.Background(), 0, time.Hour) // only a wake ends it within the test
		close(woke)
	}()
	select {
	case <-waiting:
	case <-time.After(replicaFailAfter):
		t.Fatal("the follower on B never waited")
	}
	if _, err := f.app.AppendLog(f.ctx, auth.WorkerPrincipal("w1"), id, 0, []byte("- {dt: 2026-11-24T12:00:00, lvl: info, msg: hello}\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woke:
	case <-time.After(replicaFailAfter):
		t.Fatal("a log line appended on A did not wake the follower on B")
	}
}

// TestReplicaKick: the scheduler of replica B (its sweep an hour away)
// schedules at once the jobs submitted on replica A: their events kick
// it.
func TestReplicaKick(t *testing.T) {
	f, b, _, _ := replicaPair(t, app.Config{SweepInterval: time.Hour})
	runUntilEnd(t, f.app.RunReplicaEvents)
	onA := eventTap(f.app)
	f.lab("qemu", "w1", "d1", "d2")
	f.online("w1")
	runUntilEnd(t, b.Run)
	// The first job may be scheduled by the pass B runs on starting; the
	// second is submitted after that pass read its queue (the first's
	// Scheduled event came from it), so only a kick schedules it.
	first := f.submit(definition("first", "qemu", ""))
	waitEvent(t, onA, "first job scheduled by B", jobEvent(first, lab.JobScheduled))
	second := f.submit(definition("second", "qemu", ""))
	waitEvent(t, onA, "second job scheduled by B", jobEvent(second, lab.JobScheduled))
}

// TestReplicaResync: when B's listening connection is terminated, B's
// listeners get a resync event, and events from A reach B again after.
func TestReplicaResync(t *testing.T) {
	f, b, dsn, nb := replicaPair(t, app.Config{})
	runUntilEnd(t, f.app.RunReplicaEvents)
	runUntilEnd(t, b.RunReplicaEvents)
	onB := eventTap(b)
	ctx, cancel := context.WithTimeout(context.Background(), replicaFailAfter)
	defer cancel()
	db, err := sql.Open("pgx", dsn)
	must(t, err)
	defer db.Close()
	// every replica's listening backend: both reconnect
	if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'`); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, onB, "resync on B", func(e app.Event) bool { return e.Kind == app.KindResync })
	must(t, nb.Listening(ctx, app.EventsChannel))
	f.lab("qemu", "w1", "d1")
	id := f.submit(definition("after", "qemu", ""))
	waitEvent(t, onB, "job submitted on A after B reconnected", jobEvent(id, lab.JobSubmitted))
}

// TestReplicaMultinode: the two jobs of a multinode group call the
// coordinator through different replicas (their workers stream to
// different servers): registration, a message and a barrier each span
// both, and a held call on one replica wakes at the other's change, not
// at its hold's end.
func TestReplicaMultinode(t *testing.T) {
	f, b, _, _ := replicaPair(t, app.Config{})
	runUntilEnd(t, f.app.RunReplicaEvents)
	runUntilEnd(t, b.RunReplicaEvents)
	f.lab("qemu", "w1", "d1", "d2")
	f.online("w1")
	pair := labtest.MultinodeJob("pair", labtest.Role{Name: "server", DeviceType: "qemu", Count: 1},
		labtest.Role{Name: "client", DeviceType: "qemu", Count: 1})
	ids := f.submitGroup(pair)
	if r := f.pass(); len(r.Assigned) != 2 {
		t.Fatalf("assigned %+v", r.Assigned)
	}
	server, client := ids[0], ids[1]
	wp := auth.WorkerPrincipal("w1")
	const hold = time.Minute // far beyond what any wake-up takes
	held := func(a *app.App, id int64, c app.MultinodeCall) <-chan coordinatorAnswer {
		got := make(chan coordinatorAnswer, 1)
		go func() {
			c.Hold = hold
			r, err := a.MultinodeCall(f.ctx, wp, id, c)
			if err != nil {
				t.Error(err)
			}
			got <- coordinatorAnswer{r.Response, string(r.Message), r.Roles}
		}()
		return got
	}
	answer := func(ch <-chan coordinatorAnswer, what string) coordinatorAnswer {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(hold / 2):
			t.Fatalf("%s: the held call on one replica did not wake at the other's change", what)
			return coordinatorAnswer{}
		}
	}
	first := held(f.app, server, app.MultinodeCall{Request: "group_data"})
	// B registers the client once A holds the server's call.
	waitFor(t, func() bool { // the server's group_data is held on A
		groups, err := f.app.Store().ListCoordinatorGroups(f.ctx)
		return err == nil && len(groups) == 1
	})
	r, err := b.MultinodeCall(f.ctx, wp, client, app.MultinodeCall{Request: "group_data", Hold: hold})
	must(t, err)
	if r.Response != "group_data" || len(r.Roles) != 2 {
		t.Fatalf("group_data on B: %+v", r)
	}
	if r := answer(first, "group_data"); r.Response != "group_data" || r.Roles[fmt.Sprint(client)] != "client" {
		t.Errorf("group_data on A: %+v", r)
	}

	wait := held(b, client, app.MultinodeCall{Request: "lava_wait", MessageID: "ready"})
	r, err = f.app.MultinodeCall(f.ctx, wp, server, app.MultinodeCall{Request: "lava_send", MessageID: "ready", Message: map[string]any{"ip": "10.0.0.1"}})
	must(t, err)
	if r.Response != "ack" {
		t.Errorf("lava_send on A: %+v", r)
	}
	if r, want := answer(wait, "lava_wait"), fmt.Sprintf(`{"%d":{"ip":"10.0.0.1"}}`, server); r.Response != "ack" || r.Message != want {
		t.Errorf("lava_wait on B: %+v, want ack %s", r, want)
	}

	sync1 := held(f.app, server, app.MultinodeCall{Request: "lava_sync", MessageID: "done"})
	sync2 := held(b, client, app.MultinodeCall{Request: "lava_sync", MessageID: "done"})
	for i, ch := range []<-chan coordinatorAnswer{sync1, sync2} {
		if r := answer(ch, "lava_sync"); r.Response != "ack" {
			t.Errorf("lava_sync of job %d: %+v", ids[i], r)
		}
	}
	for _, id := range ids {
		_, err := b.FinishJob(f.ctx, wp, id, app.JobOutcome{})
		must(t, err)
	}
	groups, err := f.app.Store().ListCoordinatorGroups(f.ctx)
	must(t, err)
	if len(groups) != 0 {
		t.Errorf("the coordinators still keep %d groups once the group's jobs ended", len(groups))
	}
	if _, err := f.app.MultinodeCall(f.ctx, wp, client, app.MultinodeCall{Request: "lava_wait"}); !errors.Is(err, lab.ErrConflict) {
		t.Errorf("a call of a finished job on A: %v", err)
	}
}
