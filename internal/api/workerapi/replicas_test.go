package workerapi_test

import (
	"context"
	"database/sql"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/workerapi"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/store/sqlstore"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

// TestAssignmentFromAnotherReplica: replicas A and B share one
// PostgreSQL; the worker's stream is on B. A job submitted and scheduled
// on A is pushed to the worker by B at once (no heartbeat: the worker
// sends none here). A job scheduled by a server whose events B never
// heard (one without a notifier, as if its notification were lost) is
// pushed when B's listening connection is terminated and B resyncs.
func TestAssignmentFromAnotherReplica(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	dsn := pgtest.DSN(t)
	replica := func(withNotifier bool) (*app.App, *sqlstore.PGNotifier) {
		logs, err := logstore.Open(t.TempDir())
		must(t, err)
		t.Cleanup(func() { logs.Close() })
		cfg := app.Config{Logs: logs}
		var n *sqlstore.PGNotifier
		if withNotifier {
			n, err = sqlstore.NewPGNotifier(dsn, nil)
			must(t, err)
			t.Cleanup(func() { n.Close() })
			cfg.Notifier = n
		}
		a := app.New(labtest.OpenDSN(t, dsn), cfg)
		if withNotifier {
			wg.Go(func() { a.RunReplicaEvents(ctx) })
		}
		return a, n
	}
	a, na := replica(true)
	b, nb := replica(true)
	silent, _ := replica(false)
	for _, n := range []*sqlstore.PGNotifier{na, nb} {
		lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
		must(t, n.Listening(lctx, app.EventsChannel))
		lcancel()
	}
	must(t, a.Bootstrap(ctx))
	u, err := a.CreateSuperuser(ctx, "admin", "", "")
	must(t, err)
	adm, err := auth.UserPrincipal(u)
	must(t, err)
	must(t, a.CreateDeviceType(ctx, adm, lab.DeviceType{Name: "sim"}))
	tok, err := a.CreateWorker(ctx, adm, lab.Worker{Name: "w1"})
	must(t, err)
	for _, d := range []string{"d1", "d2"} {
		must(t, a.CreateDevice(ctx, adm, lab.Device{Hostname: d, DeviceType: "sim", Worker: "w1", Health: lab.DeviceGood}, "t"))
	}
	ws := workerapi.New(b, nil, time.Hour) // no repush by heartbeats within the test
	wg.Go(func() { ws.Run(ctx) })
	srv := httptest.NewServer(ws)
	t.Cleanup(srv.Close)
	e := &env{t: t, handler: ws, app: b, srv: srv, admin: adm, wtoken: tok}
	frames, stop := e.connect(tok)
	defer stop()
	next(t, frames, wp.FrameHello)

	schedule := func(on *app.App) int64 {
		t.Helper()
		ids, _, err := on.SubmitJob(ctx, adm, jobYAML)
		must(t, err)
		r, err := on.SchedulePass(ctx)
		must(t, err)
		if len(r.Assigned) != 1 || r.Assigned[0].Job != ids[0] {
			t.Fatalf("pass assigned %+v, want job %d", r.Assigned, ids[0])
		}
		return ids[0]
	}
	id := schedule(a)
	if got := next(t, frames, wp.FrameAssign).Assign.JobID; got != id {
		t.Fatalf("worker on B got job %d, want %d (scheduled on A)", got, id)
	}

	unheard := schedule(silent)
	db, err := sql.Open("pgx", dsn)
	must(t, err)
	defer db.Close()
	if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'`); err != nil {
		t.Fatal(err)
	}
	if got := next(t, frames, wp.FrameAssign).Assign.JobID; got != unheard {
		t.Fatalf("after the resync the worker got job %d, want %d", got, unheard)
	}
}
