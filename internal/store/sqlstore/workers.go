package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

const workerCols = "name, description, state, health, job_limit, last_heartbeat, version"

func scanWorker(r scanner) (lab.Worker, error) {
	var w lab.Worker
	err := r.Scan(&w.Name, &w.Description, asInt(&w.State), asInt(&w.Health), &w.JobLimit, timeDest{&w.LastHeartbeat}, &w.Version)
	return w, err
}

func validWorkerStatus(s lab.WorkerState, h lab.WorkerHealth) error {
	if s != lab.WorkerOnline && s != lab.WorkerOffline {
		return fmt.Errorf("%w: worker state %d", lab.ErrInvalid, s)
	}
	if h < lab.WorkerActive || h > lab.WorkerRetired {
		return fmt.Errorf("%w: worker health %d", lab.ErrInvalid, h)
	}
	return nil
}

// CreateWorker adds a worker with every field as given; ErrConflict when
// the name is taken.
func (q *queries) CreateWorker(ctx context.Context, w lab.Worker) error {
	op := fmt.Sprintf("create worker %q", w.Name)
	if w.Name == "" {
		return wrap(op, fmt.Errorf("%w: worker name is empty", lab.ErrInvalid))
	}
	if err := lab.CheckJobLimit(w.JobLimit); err != nil {
		return wrap(op, err)
	}
	if err := validWorkerStatus(w.State, w.Health); err != nil {
		return wrap(op, err)
	}
	return wrap(op, q.write(ctx, func(c conn) error {
		_, err := q.exec(ctx, c, "INSERT INTO workers ("+workerCols+") VALUES (?, ?, ?, ?, ?, ?, ?)",
			w.Name, w.Description, int(w.State), int(w.Health), w.JobLimit, q.d.ts(w.LastHeartbeat), w.Version)
		return err
	}))
}

// GetWorker returns one worker.
func (q *queries) GetWorker(ctx context.Context, name string) (lab.Worker, error) {
	w, err := scanWorker(q.row(ctx, q.r(), "SELECT "+workerCols+" FROM workers WHERE name = ?", name))
	return w, wrap(fmt.Sprintf("get worker %q", name), notFound(err))
}

// ListWorkers returns every worker by name.
func (q *queries) ListWorkers(ctx context.Context) ([]lab.Worker, error) {
	rows, err := q.query(ctx, q.r(), "SELECT "+workerCols+" FROM workers ORDER BY name")
	ws, err := collect(rows, err, scanWorker)
	return ws, wrap("list workers", err)
}

// UpdateWorker changes description and job limit only.
func (q *queries) UpdateWorker(ctx context.Context, w lab.Worker) error {
	op := fmt.Sprintf("update worker %q", w.Name)
	if err := lab.CheckJobLimit(w.JobLimit); err != nil {
		return wrap(op, err)
	}
	return wrap(op, q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, "UPDATE workers SET description = ?, job_limit = ? WHERE name = ?", w.Description, w.JobLimit, w.Name)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}

// SetWorkerStatus sets state and health and records the change; it records
// nothing and returns the zero transition when neither changed.
func (q *queries) SetWorkerStatus(ctx context.Context, name string, state lab.WorkerState, health lab.WorkerHealth, actor, reason string) (lab.WorkerTransition, error) {
	op := fmt.Sprintf("set status of worker %q to %s/%s", name, state, health)
	if err := validWorkerStatus(state, health); err != nil {
		return lab.WorkerTransition{}, wrap(op, err)
	}
	var tr lab.WorkerTransition
	err := q.write(ctx, func(c conn) error {
		tr = lab.WorkerTransition{}
		var cur lab.WorkerTransition
		if err := q.row(ctx, c, "SELECT state, health FROM workers WHERE name = ?"+q.d.forUpdate, name).
			Scan(asInt(&cur.OldState), asInt(&cur.OldHealth)); err != nil {
			return notFound(err)
		}
		if cur.OldState == state && cur.OldHealth == health {
			return nil
		}
		if _, err := q.exec(ctx, c, "UPDATE workers SET state = ?, health = ? WHERE name = ?", int(state), int(health), name); err != nil {
			return err
		}
		cur.Worker, cur.Time, cur.Actor, cur.Reason, cur.NewState, cur.NewHealth = name, now(), actor, reason, state, health
		if err := q.row(ctx, c, `INSERT INTO worker_transitions (worker, time, actor, reason, old_state, new_state, old_health, new_health)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			name, q.d.ts(cur.Time), actor, reason, int(cur.OldState), int(state), int(cur.OldHealth), int(health)).Scan(&cur.ID); err != nil {
			return err
		}
		tr = cur
		return nil
	})
	return tr, wrap(op, err)
}

// TouchWorker records a heartbeat: last heartbeat time and version.
func (q *queries) TouchWorker(ctx context.Context, name string, at time.Time, version string) error {
	return wrap(fmt.Sprintf("touch worker %q", name), q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, "UPDATE workers SET last_heartbeat = ?, version = ? WHERE name = ?", q.d.ts(at), version, name)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}

// WorkerHistory returns a worker's transitions, newest first; limit ≤ 0
// means all.
func (q *queries) WorkerHistory(ctx context.Context, name string, limit int) ([]lab.WorkerTransition, error) {
	var out []lab.WorkerTransition
	err := q.view(ctx, func(c conn) error {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM workers WHERE name = ?", name); err != nil || !ok {
			return firstErr(err, lab.ErrNotFound)
		}
		rows, err := q.query(ctx, c, `SELECT id, worker, time, actor, reason, old_state, new_state, old_health, new_health
			FROM worker_transitions WHERE worker = ? ORDER BY id DESC`+limitClause(limit), name)
		out, err = collect(rows, err, func(r scanner) (lab.WorkerTransition, error) {
			var t lab.WorkerTransition
			return t, r.Scan(&t.ID, &t.Worker, timeDest{&t.Time}, &t.Actor, &t.Reason,
				asInt(&t.OldState), asInt(&t.NewState), asInt(&t.OldHealth), asInt(&t.NewHealth))
		})
		return err
	})
	return out, wrap(fmt.Sprintf("history of worker %q", name), err)
}

// DeleteWorker removes a worker with its history (by cascade) and its
// worker and join tokens, which would otherwise act as a new worker of
// the same name; its devices stay, attached to no worker (LAVA's
// SET_NULL). ErrConflict while one of its devices is not Idle or a job
// requested the worker: jobs are kept.
func (q *queries) DeleteWorker(ctx context.Context, name string) error {
	return wrap(fmt.Sprintf("delete worker %q", name), q.write(ctx, func(c conn) error {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM workers WHERE name = ?"+q.d.forUpdate, name); err != nil || !ok {
			return firstErr(err, lab.ErrNotFound)
		}
		if busy, err := q.exists(ctx, c, "SELECT 1 FROM devices WHERE worker = ? AND state <> ? LIMIT 1", name, int(lab.DeviceIdle)); err != nil || busy {
			return firstErr(err, fmt.Errorf("%w: a device of the worker is busy", lab.ErrConflict))
		}
		if used, err := q.exists(ctx, c, "SELECT 1 FROM jobs WHERE requested_worker = ? LIMIT 1", name); err != nil || used {
			return firstErr(err, fmt.Errorf("%w: jobs requested the worker", lab.ErrConflict))
		}
		if _, err := q.exec(ctx, c, "UPDATE devices SET worker = NULL WHERE worker = ?", name); err != nil {
			return err
		}
		if _, err := q.exec(ctx, c, "DELETE FROM tokens WHERE kind IN ('worker', 'join') AND owner = ?", name); err != nil {
			return err
		}
		_, err := q.exec(ctx, c, "DELETE FROM workers WHERE name = ?", name)
		if kind(err) == errForeignKey { // a job or device appeared meanwhile
			return fmt.Errorf("%w: in use (%v)", lab.ErrConflict, err)
		}
		return err
	}))
}
