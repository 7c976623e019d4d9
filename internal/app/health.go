package app

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// The server's conditions: faults of its storage that make requests fail
// until they are repaired, whatever the request (Fault.Kind).
const (
	// FaultStorageFull: a write failed because a disk is full (the log
	// store's or the database's): lab.ErrStorageFull.
	FaultStorageFull = "storage_full"
	// FaultDatabase: the database does not answer: lab.ErrDatabaseUnavailable.
	FaultDatabase = "database_unavailable"
)

// The overall statuses of Health.
const (
	HealthOK       = "ok"       // everything works
	HealthDegraded = "degraded" // reads work, writes fail: a disk is full
	HealthDown     = "down"     // the database does not answer: nothing works
)

// The statuses of one part of the server in Health.
const (
	PartOK          = "ok"
	PartFull        = "full"        // writes are refused for want of space
	PartUnavailable = "unavailable" // it does not answer
	PartUnknown     = "unknown"     // not checked (no log store, or not on this platform)
)

// Fault is one episode of a condition of the server: from the first
// request (or health probe) that met it until it is repaired.
type Fault struct {
	Kind     string    // FaultStorageFull or FaultDatabase
	Since    time.Time // when the episode started
	Last     time.Time // the latest failure
	Failures int64     // requests (and probes) that failed with it
	Err      string    // the first error of the episode, for administrators
}

// Health is the server's health as its last probe saw it, with the
// conditions that hold: what /healthz reports and the web UI shows
// administrators.
type Health struct {
	Status   string        // HealthOK, HealthDegraded or HealthDown
	Checked  time.Time     // when the probe ran
	Database string        // PartOK or PartUnavailable
	Latency  time.Duration // the database's answer to the probe
	LogStore string        // PartOK, PartFull or PartUnknown
	Storage  string        // PartOK, or PartFull while a write fails for want of space
	DiskFree int64         // bytes available to the log store; -1 when unknown
	Faults   []Fault       // the conditions that hold, oldest first
}

// DiskFreer and Prober are what the health probe uses of a Logs that has
// them (internal/logstore does): the space available, and whether a
// write of one page succeeds.
type (
	DiskFreer interface{ DiskFree() (int64, error) }
	Prober    interface{ Probe() error }
)

// health is the App's record of its conditions and of the last probe.
type health struct {
	mu     sync.Mutex
	active map[string]*Fault
	last   Health
	probed bool
	wake   chan struct{} // a fault started: probe now
	probe  sync.Mutex    // one probe at a time
}

// lowDisk is the free space below which the probe checks with a write
// whether the log store's disk is full.
const lowDisk = 1 << 20

// faultKind says which condition err is, if any.
func faultKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, lab.ErrDatabaseUnavailable):
		return FaultDatabase
	case errors.Is(err, lab.ErrStorageFull):
		return FaultStorageFull
	}
	return ""
}

// NoteFault records err when it is one of the server's conditions
// (lab.ErrStorageFull, lab.ErrDatabaseUnavailable) and reports whether it
// is. The first failure of an episode is logged, with its error, and
// wakes the health probe; the others are only counted, so a condition that
// fails thousands of requests is logged once, and once more when it ends
// (the probe decides: the database answers, the disk takes a write, and
// no request failed with it for a while). Transports call it for the
// errors they answer 503 or 507; errors that are not conditions are left
// to the caller.
func (a *App) NoteFault(err error) bool {
	kind := faultKind(err)
	if kind == "" {
		return false
	}
	now := a.cfg.Now().UTC()
	h := &a.health
	h.mu.Lock()
	if h.active == nil {
		h.active = map[string]*Fault{}
	}
	f := h.active[kind]
	start := f == nil
	if start {
		f = &Fault{Kind: kind, Since: now, Err: err.Error()}
		h.active[kind] = f
	}
	f.Last = now
	f.Failures++
	h.mu.Unlock()
	if start {
		a.log.Error(faultStarts[kind], "condition", kind, "err", err)
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	return true
}

var faultStarts = map[string]string{
	FaultStorageFull: "the server's disk is full: every request that stores something fails (507) until space is freed; " +
		"logged once, and again when it recovers",
	FaultDatabase: "the database is unavailable: requests fail (503) until it answers again; " +
		"logged once, and again when it recovers",
}

var faultEnds = map[string]string{
	FaultStorageFull: "the server's disk takes writes again: storage recovered",
	FaultDatabase:    "the database answers again: recovered",
}

// logError logs a failure of background work (the scheduler loop, results
// ingestion), unless it is one of the server's conditions, which NoteFault
// logs once per episode.
func (a *App) logError(level slog.Level, msg string, err error, args ...any) {
	if a.NoteFault(err) {
		return
	}
	a.log.Log(context.Background(), level, msg, append(args, "err", err)...)
}

// Faults returns the conditions that hold, oldest first.
func (a *App) Faults() []Fault {
	h := &a.health
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.faultsLocked()
}

func (h *health) faultsLocked() []Fault {
	out := make([]Fault, 0, len(h.active))
	for _, f := range h.active {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// Health returns the server's health as the last probe saw it, with the
// conditions that hold now. It never waits for the database, except for
// the very first probe when none ran yet (bounded by the probe timeout).
func (a *App) Health(ctx context.Context) Health {
	h := &a.health
	h.mu.Lock()
	probed := h.probed
	h.mu.Unlock()
	if !probed {
		a.probeHealth(ctx)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.last
	out.Faults = h.faultsLocked()
	out.Storage = PartOK
	for _, f := range out.Faults {
		switch f.Kind {
		case FaultDatabase:
			out.Database = PartUnavailable
		case FaultStorageFull:
			out.Storage = PartFull
		}
	}
	switch {
	case out.Database == PartUnavailable:
		out.Status = HealthDown
	case out.Storage == PartFull || out.LogStore == PartFull:
		out.Status = HealthDegraded
	default:
		out.Status = HealthOK
	}
	return out
}

// runHealth probes the server's health every HealthInterval, and at once
// when a condition starts, until ctx ends.
func (a *App) runHealth(ctx context.Context) {
	t := time.NewTicker(a.cfg.HealthInterval)
	defer t.Stop()
	for {
		a.probeHealth(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.health.wake:
		}
	}
}

// probeHealth checks the database (Ping, on its own connection, within
// HealthTimeout) and the log store's disk (its free space; a write of one
// page when space is low or a storage condition holds), records the
// result for Health, starts the episode of a condition it finds, and ends
// those that are over: the probe passes and no request failed with them
// during HealthQuiet.
func (a *App) probeHealth(ctx context.Context) {
	h := &a.health
	h.probe.Lock()
	defer h.probe.Unlock()

	res := Health{Database: PartOK, LogStore: PartUnknown, DiskFree: -1}
	pctx, cancel := context.WithTimeout(ctx, a.cfg.HealthTimeout)
	start := time.Now()
	dbErr := a.st.Ping(pctx)
	res.Latency = time.Since(start)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: a failed ping says nothing
	}
	if dbErr != nil {
		res.Database = PartUnavailable
		if faultKind(dbErr) == "" {
			dbErr = errors.Join(lab.ErrDatabaseUnavailable, dbErr)
		}
		a.NoteFault(dbErr)
	}

	h.mu.Lock()
	_, storageFault := h.active[FaultStorageFull]
	h.mu.Unlock()
	var logErr error
	if df, ok := a.cfg.Logs.(DiskFreer); ok {
		if free, err := df.DiskFree(); err == nil {
			res.DiskFree = free
			res.LogStore = PartOK
		}
	}
	if p, ok := a.cfg.Logs.(Prober); ok && (storageFault || (res.DiskFree >= 0 && res.DiskFree < lowDisk)) {
		if logErr = p.Probe(); logErr != nil {
			res.LogStore = PartFull
			if faultKind(logErr) == FaultStorageFull {
				a.NoteFault(logErr)
			} else {
				a.log.Warn("log store health probe failed", "err", logErr)
			}
		} else {
			res.LogStore = PartOK
		}
	}

	now := a.cfg.Now().UTC()
	res.Checked = now
	var ended []Fault
	h.mu.Lock()
	for kind, f := range h.active {
		healthy := (kind == FaultDatabase && dbErr == nil) || (kind == FaultStorageFull && dbErr == nil && logErr == nil)
		if healthy && now.Sub(f.Last) >= a.cfg.HealthQuiet {
			ended = append(ended, *f)
			delete(h.active, kind)
		}
	}
	h.last, h.probed = res, true
	h.mu.Unlock()
	for _, f := range ended {
		a.log.Info(faultEnds[f.Kind], "condition", f.Kind, "since", f.Since, "lasted", now.Sub(f.Since).Round(time.Millisecond), "failures", f.Failures)
	}
}
