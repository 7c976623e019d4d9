package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
	"github.com/basalt-lab/basalt/internal/testutil/tinyfs"
)

// Log lines of the conditions' episodes.
const (
	diskFullLog = "the server's disk is full"
	diskBackLog = "storage recovered"
	dbDownLog   = "the database is unavailable"
	dbBackLog   = "the database answers again"
	healthQuiet = time.Minute
)

// healthLab is an app with a clock, a captured log and, optionally, a log
// store, over st.
type healthLab struct {
	t      *testing.T
	ctx    context.Context
	clk    *clock
	app    *app.App
	logged *syncbuf.Buffer
}

func newHealthLab(t *testing.T, st store.Store, logs app.Logs) *healthLab {
	t.Helper()
	h := &healthLab{t: t, ctx: context.Background(), clk: &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}, logged: &syncbuf.Buffer{}}
	h.app = app.New(st, app.Config{Now: h.clk.Now, Logs: logs, HealthQuiet: healthQuiet,
		Logger: slog.New(slog.NewTextHandler(h.logged, nil))})
	return h
}

// count is how many times the app's log holds s.
func (h *healthLab) count(s string) int { return strings.Count(h.logged.String(), s) }

// TestConditionEpisodes: a condition that fails a thousand requests is
// logged once when it starts and once when it ends; it holds (Faults,
// Health) until the probe passes and no request failed with it for
// HealthQuiet; the next failure starts a new episode. Other errors are not
// conditions.
func TestConditionEpisodes(t *testing.T) {
	h := newHealthLab(t, labtest.OpenDSN(t, filepath.Join(t.TempDir(), "basalt.db")), nil)
	a := h.app
	if hl := a.Health(h.ctx); hl.Status != app.HealthOK || hl.Database != app.PartOK || len(hl.Faults) != 0 {
		t.Fatalf("health of a healthy server: %+v", hl)
	}
	if a.NoteFault(errors.New("a bug")) || a.NoteFault(fmt.Errorf("job 3: %w", lab.ErrNotFound)) || a.NoteFault(nil) {
		t.Error("NoteFault took an error that is no condition")
	}
	full := fmt.Errorf("append log of job 3: log store: %w: write: no space left on device", lab.ErrStorageFull)
	for range 1000 {
		if !a.NoteFault(full) {
			t.Fatal("NoteFault did not take a full disk")
		}
		h.clk.Add(time.Millisecond)
	}
	if c := h.count(diskFullLog); c != 1 {
		t.Errorf("a full disk failing 1000 requests was logged %d times, want once", c)
	}
	fs := a.Faults()
	if len(fs) != 1 || fs[0].Kind != app.FaultStorageFull || fs[0].Failures != 1000 || fs[0].Err != full.Error() {
		t.Fatalf("faults %+v", fs)
	}
	if hl := a.Health(h.ctx); hl.Status != app.HealthDegraded || hl.Storage != app.PartFull || hl.Database != app.PartOK {
		t.Errorf("health while the disk is full: %+v", hl)
	}

	// the probe passes, but requests failed too recently
	app.ProbeHealth(a, h.ctx)
	if len(a.Faults()) != 1 || h.count(diskBackLog) != 0 {
		t.Errorf("the episode ended within HealthQuiet of the last failure: %+v", a.Faults())
	}
	h.clk.Add(healthQuiet)
	app.ProbeHealth(a, h.ctx)
	if len(a.Faults()) != 0 || h.count(diskBackLog) != 1 {
		t.Errorf("the episode did not end after HealthQuiet without failures: %+v\n%s", a.Faults(), h.logged.String())
	}
	if hl := a.Health(h.ctx); hl.Status != app.HealthOK || hl.Storage != app.PartOK {
		t.Errorf("health after the episode: %+v", hl)
	}

	a.NoteFault(full)
	a.NoteFault(fmt.Errorf("look up token: %w", lab.ErrDatabaseUnavailable))
	if h.count(diskFullLog) != 2 || h.count(dbDownLog) != 1 {
		t.Errorf("new episodes not logged:\n%s", h.logged.String())
	}
	if hl := a.Health(h.ctx); hl.Status != app.HealthDown || hl.Database != app.PartUnavailable || len(hl.Faults) != 2 {
		t.Errorf("health with both conditions: %+v", hl)
	}
}

// TestDiskFullHealth: with the database and the log store on a real full
// disk (a small tmpfs), a log upload fails with lab.ErrStorageFull (507),
// the probe finds the disk full by itself, and everything recovers once
// space is freed: the same upload is stored, the finish accepted, the
// stored log is the journal.
func TestDiskFullHealth(t *testing.T) {
	dir := tinyfs.Mount(t, 8<<20)
	st := labtest.OpenDSN(t, filepath.Join(dir, "basalt.db"))
	logs, err := logstore.Open(filepath.Join(dir, "logs"))
	must(t, err)
	t.Cleanup(func() { logs.Close() })
	h := newHealthLab(t, st, logs)
	a := h.app
	job := runningJob(t, h)
	worker := auth.WorkerPrincipal("w1")
	journal := []byte(strings.Repeat(`{"dt":"2026-11-24T12:00:00Z","lvl":"target","msg":"a line of the job's console output, long enough"}`+"\n", 400))
	half := int64(len(journal) / 2)
	if n, err := a.AppendLog(h.ctx, worker, job, 0, journal[:half]); err != nil || n != half {
		t.Fatalf("append: %d, %v", n, err)
	}
	app.ProbeHealth(a, h.ctx)
	if hl := a.Health(h.ctx); hl.Status != app.HealthOK || hl.LogStore != app.PartOK || hl.DiskFree <= 0 {
		t.Fatalf("health before the disk filled up: %+v", hl)
	}

	filler := tinyfs.Fill(t, dir)
	n, err := a.AppendLog(h.ctx, worker, job, half, journal[half:])
	if !errors.Is(err, lab.ErrStorageFull) || n != half {
		t.Fatalf("append on a full disk: stored %d, %v; want %d and lab.ErrStorageFull", n, err, half)
	}
	// no request reported it yet: the probe finds it
	app.ProbeHealth(a, h.ctx)
	hl := a.Health(h.ctx)
	if hl.Status != app.HealthDegraded || hl.LogStore != app.PartFull || hl.Storage != app.PartFull || hl.DiskFree >= 4096 {
		t.Errorf("health on a full disk: %+v", hl)
	}
	for range 10 {
		a.NoteFault(err)
	}
	if c := h.count(diskFullLog); c != 1 {
		t.Errorf("the full disk was logged %d times, want once:\n%s", c, h.logged.String())
	}

	tinyfs.Free(t, filler)
	if n, err := a.AppendLog(h.ctx, worker, job, half, journal[half:]); err != nil || n != int64(len(journal)) {
		t.Fatalf("the same upload after space was freed: %d, %v", n, err)
	}
	h.clk.Add(healthQuiet)
	app.ProbeHealth(a, h.ctx)
	if hl := a.Health(h.ctx); hl.Status != app.HealthOK || hl.LogStore != app.PartOK || hl.Storage != app.PartOK {
		t.Errorf("health after space was freed: %+v", hl)
	}
	if c := h.count(diskBackLog); c != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", c, h.logged.String())
	}
	sum := sha256.Sum256(journal)
	j, err := a.FinishFromWorker(h.ctx, worker, job, app.WorkerFinish{LogSize: int64(len(journal)), LogSHA256: hex.EncodeToString(sum[:])})
	if err != nil || j.State != lab.JobFinished || j.Health != lab.JobHealthComplete {
		t.Fatalf("finish after recovery: %+v, %v", j, err)
	}
	stored, err := logs.SHA256(context.Background(), job)
	if err != nil || stored != hex.EncodeToString(sum[:]) {
		t.Errorf("stored log %s, %v; want the journal's %x", stored, err, sum)
	}
}

// TestDatabaseOutageHealth: PostgreSQL stopped under the app: the probe
// finds it (Health down, logged once), a request with a valid token fails
// with lab.ErrDatabaseUnavailable rather than as a wrong token, a worker's
// join is not refused; once PostgreSQL is back the probe ends the episode
// and requests work again.
func TestDatabaseOutageHealth(t *testing.T) {
	cl := pgtest.NewCluster(t)
	st := labtest.OpenDSN(t, cl.DSN(t))
	h := newHealthLab(t, st, nil)
	a := h.app
	must(t, a.Bootstrap(h.ctx))
	adm, err := a.CreateSuperuser(h.ctx, "admin", "", "")
	must(t, err)
	admin := principalOf(t, adm)
	_, secret, err := a.CreateToken(h.ctx, admin, "admin", "test", time.Time{})
	must(t, err)
	_, err = a.CreateWorker(h.ctx, admin, lab.Worker{Name: "w1"})
	must(t, err)
	join, err := a.CreateJoinToken(h.ctx, admin, "w1", time.Hour)
	must(t, err)

	cl.Stop(t)
	app.ProbeHealth(a, h.ctx)
	if hl := a.Health(h.ctx); hl.Status != app.HealthDown || hl.Database != app.PartUnavailable {
		t.Errorf("health with the database stopped: %+v", hl)
	}
	for range 3 {
		if _, err := a.Authenticate(h.ctx, "", secret); !errors.Is(err, lab.ErrDatabaseUnavailable) || errors.Is(err, lab.ErrUnauthenticated) {
			t.Errorf("authenticate with the database stopped: %v, want lab.ErrDatabaseUnavailable", err)
		} else {
			a.NoteFault(err)
		}
	}
	if _, err := a.Login(h.ctx, "admin", "whatever", "127.0.0.1"); !errors.Is(err, lab.ErrDatabaseUnavailable) || errors.Is(err, lab.ErrUnauthenticated) {
		t.Errorf("login with the database stopped: %v, want lab.ErrDatabaseUnavailable", err)
	}
	if _, err := a.JoinWorker(h.ctx, "w1", join); !errors.Is(err, lab.ErrDatabaseUnavailable) || errors.Is(err, lab.ErrUnauthenticated) {
		t.Errorf("join with the database stopped: %v, want lab.ErrDatabaseUnavailable (a refused join stops the worker)", err)
	}
	if c := h.count(dbDownLog); c != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", c, h.logged.String())
	}

	cl.Start(t)
	h.clk.Add(healthQuiet)
	deadline := time.Now().Add(30 * time.Second)
	for app.ProbeHealth(a, h.ctx); a.Health(h.ctx).Status != app.HealthOK; app.ProbeHealth(a, h.ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("health after PostgreSQL restarted: %+v", a.Health(h.ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c := h.count(dbBackLog); c != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", c, h.logged.String())
	}
	if _, err := a.Authenticate(h.ctx, "", secret); err != nil {
		t.Errorf("authenticate after the restart: %v", err)
	}
}

// runningJob sets up worker w1 with device d1 and one job Running on it.
func runningJob(t *testing.T, h *healthLab) int64 {
	t.Helper()
	a := h.app
	must(t, a.Bootstrap(h.ctx))
	adm, err := a.CreateSuperuser(h.ctx, "admin", "", "")
	must(t, err)
	admin := principalOf(t, adm)
	must(t, a.CreateDeviceType(h.ctx, admin, lab.DeviceType{Name: "qemu"}))
	_, err = a.CreateWorker(h.ctx, admin, lab.Worker{Name: "w1"})
	must(t, err)
	must(t, a.CreateDevice(h.ctx, admin, lab.Device{Hostname: "d1", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood}, "test"))
	worker := auth.WorkerPrincipal("w1")
	_, err = a.Heartbeat(h.ctx, worker, "w1", "test")
	must(t, err)
	ids, _, err := a.SubmitJob(h.ctx, admin, labtest.Job("full", "qemu", ""))
	must(t, err)
	_, err = a.SchedulePass(h.ctx)
	must(t, err)
	_, err = a.StartJob(h.ctx, worker, ids[0])
	must(t, err)
	return ids[0]
}
