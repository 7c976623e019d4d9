package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// ---- notifications (migration 0005) ----

const deliveryCols = "id, job_id, kind, target, job_state, job_health, spec, status, attempts, created, next_attempt, done, last_error"

func scanDelivery(r scanner) (lab.Delivery, error) {
	var d lab.Delivery
	var kind, status string
	err := r.Scan(&d.ID, &d.JobID, &kind, &d.Target, asInt(&d.State), asInt(&d.Health), &d.Spec, &status, &d.Attempts,
		timeDest{&d.Created}, timeDest{&d.NextAttempt}, timeDest{&d.Done}, &d.LastError)
	d.Kind, d.Status = lab.DeliveryKind(kind), lab.DeliveryStatus(status)
	return d, err
}

// validDelivery checks what the schema's constraints would refuse, so
// both databases give the same error.
func validDelivery(d lab.Delivery) error {
	switch {
	case !d.Kind.Valid():
		return fmt.Errorf("%w: delivery kind %q", lab.ErrInvalid, d.Kind)
	case !d.Status.Valid():
		return fmt.Errorf("%w: delivery status %q", lab.ErrInvalid, d.Status)
	case (d.Status == lab.DeliveryPending) != !d.NextAttempt.IsZero():
		return fmt.Errorf("%w: a delivery has a next attempt if and only if it is pending", lab.ErrInvalid)
	case d.State < lab.JobSubmitted || d.State > lab.JobFinished:
		return fmt.Errorf("%w: job state %d", lab.ErrInvalid, d.State)
	case d.Health < lab.JobHealthUnknown || d.Health > lab.JobHealthCanceled:
		return fmt.Errorf("%w: job health %d", lab.ErrInvalid, d.Health)
	case d.Attempts < 0:
		return fmt.Errorf("%w: negative attempts", lab.ErrInvalid)
	case d.Created.IsZero():
		return fmt.Errorf("%w: a delivery needs its creation time", lab.ErrInvalid)
	}
	return nil
}

// AddDeliveries stores new deliveries and returns their ids.
func (q *queries) AddDeliveries(ctx context.Context, ds []lab.Delivery) ([]int64, error) {
	op := "add notification deliveries"
	for _, d := range ds {
		if err := validDelivery(d); err != nil {
			return nil, wrap(op, err)
		}
	}
	ids := make([]int64, len(ds))
	err := q.write(ctx, func(c conn) error {
		for i, d := range ds {
			if ok, err := q.exists(ctx, c, "SELECT 1 FROM jobs WHERE id = ?", d.JobID); err != nil || !ok {
				return firstErr(err, fmt.Errorf("%w: job %d does not exist", lab.ErrInvalid, d.JobID))
			}
			var done any
			if d.Status != lab.DeliveryPending {
				done = q.d.ts(firstTime(d.Done, d.Created))
			}
			if err := q.row(ctx, c, `INSERT INTO notification_deliveries (job_id, kind, target, job_state, job_health, spec, status,
				attempts, created, next_attempt, done, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				d.JobID, string(d.Kind), d.Target, int(d.State), int(d.Health), d.Spec, string(d.Status), d.Attempts,
				q.d.ts(d.Created), q.d.ts(d.NextAttempt), done, d.LastError).Scan(&ids[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return ids, nil
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// ListDeliveries returns a job's deliveries with their attempts.
func (q *queries) ListDeliveries(ctx context.Context, jobID int64) ([]lab.Delivery, error) {
	var out []lab.Delivery
	err := q.view(ctx, func(c conn) error {
		rows, err := q.query(ctx, c, "SELECT "+deliveryCols+" FROM notification_deliveries WHERE job_id = ? ORDER BY id", jobID)
		ds, err := collect(rows, err, scanDelivery)
		if err != nil || len(ds) == 0 {
			return err
		}
		idx := make(map[int64]int, len(ds))
		for i, d := range ds {
			idx[d.ID] = i
		}
		rows, err = q.query(ctx, c, `SELECT a.delivery_id, a.attempt, a.at, a.duration_us, a.status_code, a.error
			FROM notification_attempts a JOIN notification_deliveries d ON d.id = a.delivery_id
			WHERE d.job_id = ? ORDER BY a.delivery_id, a.attempt`, jobID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, us int64
			var a lab.DeliveryAttempt
			if err := rows.Scan(&id, &a.Attempt, timeDest{&a.At}, &us, &a.StatusCode, &a.Error); err != nil {
				return err
			}
			a.Duration = time.Duration(us) * time.Microsecond
			if i, ok := idx[id]; ok {
				ds[i].Log = append(ds[i].Log, a)
			}
		}
		out = ds
		return rows.Err()
	})
	return out, wrap(fmt.Sprintf("list notifications of job %d", jobID), err)
}

// ClaimDeliveries claims due deliveries no live claim holds. The SELECT
// skips rows other transactions hold (PostgreSQL), and the UPDATE repeats
// its conditions, so that a delivery another sender claimed meanwhile is
// left alone: under READ COMMITTED, PostgreSQL evaluates them again on
// the row as the other transaction committed it.
func (q *queries) ClaimDeliveries(ctx context.Context, cl store.DeliveryClaim) ([]lab.Delivery, error) {
	op := "claim notification deliveries"
	if cl.Claim == "" || cl.Now.IsZero() || !cl.Until.After(cl.Now) {
		return nil, wrap(op, fmt.Errorf("%w: a claim needs a name, a time and a later expiry", lab.ErrInvalid))
	}
	limit := cl.Limit
	if limit <= 0 {
		limit = 16
	}
	now := q.d.ts(cl.Now)
	free := " status = 'pending' AND next_attempt <= ? AND (claimed_until IS NULL OR claimed_until <= ?)"
	var out []lab.Delivery
	err := q.write(ctx, func(c conn) error {
		out = nil // the transaction may run again
		rows, err := q.query(ctx, c, "SELECT id FROM notification_deliveries WHERE"+free+
			" ORDER BY next_attempt, id LIMIT ?"+q.d.skipLocked, now, now, limit)
		ids, err := collect(rows, err, func(r scanner) (int64, error) {
			var id int64
			return id, r.Scan(&id)
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			n, err := q.execN(ctx, c, "UPDATE notification_deliveries SET claim = ?, claimed_until = ? WHERE id = ? AND"+free,
				cl.Claim, q.d.ts(cl.Until), id, now, now)
			if err != nil {
				return err
			}
			if n != 1 {
				continue // another sender has it
			}
			d, err := scanDelivery(q.row(ctx, c, "SELECT "+deliveryCols+" FROM notification_deliveries WHERE id = ?", id))
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// RecordDeliveryAttempt applies the outcome of a try under its claim.
func (q *queries) RecordDeliveryAttempt(ctx context.Context, r store.DeliveryOutcome) (lab.Delivery, error) {
	op := fmt.Sprintf("record notification delivery %d", r.ID)
	switch {
	case r.Claim == "" || r.At.IsZero():
		return lab.Delivery{}, wrap(op, fmt.Errorf("%w: an outcome needs its claim and time", lab.ErrInvalid))
	case !r.Status.Valid():
		return lab.Delivery{}, wrap(op, fmt.Errorf("%w: delivery status %q", lab.ErrInvalid, r.Status))
	case (r.Status == lab.DeliveryPending) != !r.NextAttempt.IsZero():
		return lab.Delivery{}, wrap(op, fmt.Errorf("%w: a delivery has a next attempt if and only if it is pending", lab.ErrInvalid))
	case r.Attempt != nil && r.Attempt.Duration < 0:
		return lab.Delivery{}, wrap(op, fmt.Errorf("%w: negative duration", lab.ErrInvalid))
	}
	var out lab.Delivery
	err := q.write(ctx, func(c conn) error {
		var status string
		var claim string
		var attempts int
		if err := q.row(ctx, c, "SELECT status, claim, attempts FROM notification_deliveries WHERE id = ?"+q.d.forUpdate, r.ID).
			Scan(&status, strDest{&claim}, &attempts); err != nil {
			return notFound(err)
		}
		if status != string(lab.DeliveryPending) {
			return fmt.Errorf("%w: the delivery is %s already", lab.ErrConflict, status)
		}
		if claim != r.Claim {
			return fmt.Errorf("%w: the delivery's claim went to another sender", lab.ErrConflict)
		}
		if r.Attempt != nil {
			attempts++
			a := r.Attempt
			if _, err := q.exec(ctx, c, `INSERT INTO notification_attempts (delivery_id, attempt, at, duration_us, status_code, error)
				VALUES (?, ?, ?, ?, ?, ?)`, r.ID, attempts, q.d.ts(firstTime(a.At, r.At)), a.Duration.Microseconds(), a.StatusCode, a.Error); err != nil {
				return err
			}
		}
		var done any
		if r.Status != lab.DeliveryPending {
			done = q.d.ts(r.At)
		}
		n, err := q.execN(ctx, c, `UPDATE notification_deliveries SET status = ?, attempts = ?, next_attempt = ?, done = ?, last_error = ?,
			claim = NULL, claimed_until = NULL WHERE id = ? AND status = 'pending' AND claim = ?`,
			string(r.Status), attempts, q.d.ts(r.NextAttempt), done, r.Error, r.ID, r.Claim)
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%w: the delivery changed meanwhile", lab.ErrConflict)
		}
		out, err = scanDelivery(q.row(ctx, c, "SELECT "+deliveryCols+" FROM notification_deliveries WHERE id = ?", r.ID))
		return err
	})
	return out, wrap(op, err)
}

// ReleaseDeliveries drops the claims named claim.
func (q *queries) ReleaseDeliveries(ctx context.Context, claim string) error {
	return wrap("release notification deliveries", q.write(ctx, func(c conn) error {
		_, err := q.exec(ctx, c, "UPDATE notification_deliveries SET claim = NULL, claimed_until = NULL WHERE claim = ? AND status = 'pending'", claim)
		return err
	}))
}

// NextDeliveryDue returns the earliest due time of the pending deliveries.
func (q *queries) NextDeliveryDue(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := q.row(ctx, q.r(), "SELECT MIN(next_attempt) FROM notification_deliveries WHERE status = 'pending'").Scan(timeDest{&t})
	return t, wrap("next notification due", err)
}

// LatestFinishedJob returns the last Finished job with exactly the given
// metadata. Metadata is stored as the JSON of the map (keys sorted), so
// equal maps have equal text.
func (q *queries) LatestFinishedJob(ctx context.Context, f store.PreviousJobFilter) (lab.Job, error) {
	op := "find the previous job with the same metadata"
	w := "state = ? AND end_time IS NOT NULL AND id <> ?"
	args := []any{int(lab.JobFinished), f.Exclude}
	if len(f.Metadata) == 0 {
		w += " AND metadata IS NULL"
	} else {
		b, err := json.Marshal(f.Metadata)
		if err != nil {
			return lab.Job{}, wrap(op, fmt.Errorf("%w: metadata: %v", lab.ErrInvalid, err))
		}
		w += " AND metadata = ?"
		args = append(args, string(b))
	}
	if len(f.Health) > 0 {
		w += " AND health IN (" + placeholders(len(f.Health)) + ")"
		args = append(args, ints(f.Health)...)
	}
	var j lab.Job
	err := q.view(ctx, func(c conn) error {
		var id int64
		if err := q.row(ctx, c, "SELECT id FROM jobs WHERE "+w+" ORDER BY end_time DESC, id DESC LIMIT 1", args...).Scan(&id); err != nil {
			return notFound(err)
		}
		var err error
		j, err = q.getJob(ctx, c, id)
		return err
	})
	return j, wrap(op, err)
}
