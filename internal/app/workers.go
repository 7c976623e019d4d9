package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// heartbeats is the last heartbeat of each worker this process received.
// The database gets a worker's heartbeat only every persistEvery (and on
// any change of state or version), so that heartbeats stay off the
// contended write path; readers and the liveness sweep take whichever is
// newer.
type heartbeats struct {
	mu sync.Mutex
	m  map[string]beat
}

// beat is one worker's last heartbeat and version.
type beat struct {
	at      time.Time
	version string
}

func (h *heartbeats) set(name string, b beat) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]beat{}
	}
	h.m[name] = b
}

// fresher returns w with the last heartbeat this process saw, when newer
// than the stored one.
func (h *heartbeats) fresher(w lab.Worker) lab.Worker {
	h.mu.Lock()
	b, ok := h.m[w.Name]
	h.mu.Unlock()
	if ok && b.at.After(w.LastHeartbeat) {
		w.LastHeartbeat, w.Version = b.at, b.version
	}
	return w
}

// persistEvery is how stale a worker's stored heartbeat may get while it
// keeps beating: a third of the heartbeat timeout, so that another server
// on the same database (or this one after a restart) never sees a live
// worker as silent.
func (a *App) persistEvery() time.Duration { return a.cfg.HeartbeatTimeout / 3 }

// ListWorkers returns every worker.
func (a *App) ListWorkers(ctx context.Context) ([]lab.Worker, error) {
	ws, err := a.st.ListWorkers(ctx)
	for i := range ws {
		ws[i] = a.beats.fresher(ws[i])
	}
	return ws, err
}

// GetWorker returns one worker.
func (a *App) GetWorker(ctx context.Context, name string) (lab.Worker, error) {
	w, err := a.st.GetWorker(ctx, name)
	if err != nil {
		return w, err
	}
	return a.beats.fresher(w), nil
}

// CreateWorker adds a worker (admin only), Offline and Active, and returns
// the secret of its worker token. The secret is shown only here; the store
// keeps its hash. The token can act only as this worker.
func (a *App) CreateWorker(ctx context.Context, p auth.Principal, w lab.Worker) (string, error) {
	if err := requireAdmin(p, "create worker"); err != nil {
		return "", err
	}
	if err := checkName("worker", w.Name); err != nil {
		return "", err
	}
	if err := lab.CheckJobLimit(w.JobLimit); err != nil {
		return "", err
	}
	if err := checkTexts("worker description", w.Description); err != nil {
		return "", err
	}
	w.State, w.Health = lab.WorkerOffline, lab.WorkerActive
	var secret string
	err := a.st.InTx(ctx, func(q store.Queries) error {
		if err := q.CreateWorker(ctx, w); err != nil {
			return err
		}
		var err error
		secret, err = a.newToken(ctx, q, lab.Token{Kind: lab.TokenWorker, Owner: w.Name, Description: "worker " + w.Name})
		return err
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// WorkerUpdate is a partial update of a worker; nil fields are unchanged.
type WorkerUpdate struct {
	Description *string
	JobLimit    *int
	Health      *lab.WorkerHealth
	Reason      string
}

// UpdateWorker applies u (admin only). A health change cascades to the
// worker's devices with LAVA's rules (back to Active re-checks Good
// devices; Retired retires them) and is recorded in both histories.
func (a *App) UpdateWorker(ctx context.Context, p auth.Principal, name string, u WorkerUpdate) (lab.Worker, error) {
	if err := requireAdmin(p, "update worker"); err != nil {
		return lab.Worker{}, err
	}
	if u.JobLimit != nil {
		if err := lab.CheckJobLimit(*u.JobLimit); err != nil {
			return lab.Worker{}, err
		}
	}
	if u.Description != nil {
		if err := checkTexts("worker description", *u.Description); err != nil {
			return lab.Worker{}, err
		}
	}
	if err := checkTexts("reason", u.Reason); err != nil {
		return lab.Worker{}, err
	}
	var out lab.Worker
	var cascaded []lab.DeviceTransition // devices whose health followed the worker's
	err := a.st.InTx(ctx, func(q store.Queries) error {
		cascaded = nil // InTx may run this more than once
		w, err := q.GetWorker(ctx, name)
		if err != nil {
			return err
		}
		if u.Description != nil || u.JobLimit != nil {
			if u.Description != nil {
				w.Description = *u.Description
			}
			if u.JobLimit != nil {
				w.JobLimit = *u.JobLimit
			}
			if err := q.UpdateWorker(ctx, w); err != nil {
				return err
			}
		}
		if u.Health != nil && *u.Health != w.Health {
			reason := u.Reason
			if reason == "" {
				reason = "set by " + p.Username
			}
			if _, err := q.SetWorkerStatus(ctx, name, w.State, *u.Health, p.Username, reason); err != nil {
				return err
			}
			if cascaded, err = cascadeWorkerHealth(ctx, q, name, w.Health, *u.Health, p.Username); err != nil {
				return err
			}
		}
		out, err = q.GetWorker(ctx, name)
		return err
	})
	if err != nil {
		return lab.Worker{}, err
	}
	a.emit(Event{Kind: "worker", Worker: name, State: out.State.String(), Health: out.Health.String()})
	for _, tr := range cascaded {
		a.emit(Event{Kind: "device", Device: tr.Device, State: tr.NewState.String(), Health: tr.NewHealth.String()})
	}
	a.Kick()
	return out, nil
}

// cascadeWorkerHealth applies a worker's change of health to its devices
// (lab.DeviceHealthOnWorkerHealth) and returns their transitions.
func cascadeWorkerHealth(ctx context.Context, q store.Queries, worker string, from, to lab.WorkerHealth, actor string) ([]lab.DeviceTransition, error) {
	devs, err := q.ListDevices(ctx, store.DeviceFilter{Worker: worker})
	if err != nil {
		return nil, err
	}
	var trs []lab.DeviceTransition
	for _, d := range devs {
		nh, changed := lab.DeviceHealthOnWorkerHealth(d.Health, from, to)
		if !changed {
			continue
		}
		reason := fmt.Sprintf("worker %s went %s → %s", worker, from, to)
		tr, err := q.SetDeviceHealth(ctx, d.Hostname, nh, actor, reason, 0)
		if err != nil {
			return nil, err
		}
		if tr.ID != 0 {
			trs = append(trs, tr)
		}
	}
	return trs, nil
}

// RotateWorkerToken revokes a worker's tokens and returns a new secret
// (admin only).
func (a *App) RotateWorkerToken(ctx context.Context, p auth.Principal, name string) (string, error) {
	if err := requireAdmin(p, "rotate worker token"); err != nil {
		return "", err
	}
	var secret string
	err := a.st.InTx(ctx, func(q store.Queries) error {
		if _, err := q.GetWorker(ctx, name); err != nil {
			return err
		}
		old, err := q.ListTokens(ctx, lab.TokenWorker, name)
		if err != nil {
			return err
		}
		for _, t := range old {
			if err := q.DeleteToken(ctx, t.ID); err != nil {
				return err
			}
		}
		secret, err = a.newToken(ctx, q, lab.Token{Kind: lab.TokenWorker, Owner: name, Description: "worker " + name})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("rotate token of worker %q: %w", name, err)
	}
	return secret, nil
}

// WorkerHistory returns a worker's transitions, newest first.
func (a *App) WorkerHistory(ctx context.Context, name string, limit int) ([]lab.WorkerTransition, error) {
	if _, err := a.GetWorker(ctx, name); err != nil {
		return nil, err
	}
	return a.st.WorkerHistory(ctx, name, limit)
}

// Heartbeat records that worker name is alive, running version. Only that
// worker's own token may send it. A worker coming back Online triggers a
// scheduling pass.
func (a *App) Heartbeat(ctx context.Context, p auth.Principal, name, version string) (lab.Worker, error) {
	if !auth.CanActAsWorker(p, name) {
		return lab.Worker{}, denied(p, "heartbeat")
	}
	now := a.now()
	a.beats.set(name, beat{at: now, version: version})
	// The common case, a live worker beating: no write at all, unless its
	// stored heartbeat is getting old. The read is on the readers' side.
	w, err := a.st.GetWorker(ctx, name)
	if err != nil {
		return lab.Worker{}, fmt.Errorf("heartbeat of %q: %w", name, err)
	}
	if w.State == lab.WorkerOnline && w.Version == version && now.Sub(w.LastHeartbeat) < a.persistEvery() {
		return a.beats.fresher(w), nil
	}
	// The worker link's writes go first (store.Urgent).
	ctx = store.Urgent(ctx)
	var out lab.Worker
	var cameOnline bool
	err = a.st.InTx(ctx, func(q store.Queries) error {
		cameOnline = false // InTx may run this more than once
		if err := q.TouchWorker(ctx, name, now, version); err != nil {
			return err
		}
		w, err := q.GetWorker(ctx, name)
		if err != nil {
			return err
		}
		if w.State != lab.WorkerOnline {
			if _, err := q.SetWorkerStatus(ctx, name, lab.WorkerOnline, w.Health, "worker:"+name, "heartbeat"); err != nil {
				return err
			}
			w.State = lab.WorkerOnline
			cameOnline = true
		}
		out = w
		return nil
	})
	if err != nil {
		return lab.Worker{}, fmt.Errorf("heartbeat of %q: %w", name, err)
	}
	if cameOnline {
		a.emit(Event{Kind: "worker", Worker: name, State: lab.WorkerOnline.String(), Health: out.Health.String()})
		a.Kick()
	}
	return out, nil
}

// markSilentWorkersOffline sets Offline every Online worker whose last
// heartbeat is older than the heartbeat timeout. Running jobs are left alone.
func (a *App) markSilentWorkersOffline(ctx context.Context) error {
	ws, err := a.st.ListWorkers(ctx)
	if err != nil {
		return fmt.Errorf("list workers: %w", err)
	}
	limit := a.now().Add(-a.cfg.HeartbeatTimeout)
	for _, w := range ws {
		w = a.beats.fresher(w) // this process may have seen a newer one
		if w.State != lab.WorkerOnline || w.LastHeartbeat.After(limit) {
			continue
		}
		reason := fmt.Sprintf("no heartbeat since %s", w.LastHeartbeat.Format("2006-01-02T15:04:05Z07:00"))
		if _, err := a.st.SetWorkerStatus(ctx, w.Name, lab.WorkerOffline, w.Health, lab.ActorScheduler, reason); err != nil {
			return fmt.Errorf("mark %q offline: %w", w.Name, err)
		}
		a.emit(Event{Kind: "worker", Worker: w.Name, State: lab.WorkerOffline.String(), Health: w.Health.String()})
	}
	return nil
}
