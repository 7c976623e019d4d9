package sqlstore

import (
	"context"
	"fmt"

	"github.com/basalt-lab/basalt/internal/lab"
)

// ---- console input of reservations (migration 0012) ----

// AppendConsoleInput numbers and stores one input of a job's console
// session. The job's row is locked (FOR UPDATE on PostgreSQL; SQLite has
// one writer) while the next number is read, so concurrent appends on
// several replicas number without gaps or duplicates.
func (q *queries) AppendConsoleInput(ctx context.Context, in lab.ConsoleInput) (lab.ConsoleInput, error) {
	op := fmt.Sprintf("append console input of job %d", in.JobID)
	switch {
	case in.User == "":
		return lab.ConsoleInput{}, wrap(op, fmt.Errorf("%w: console input needs a user", lab.ErrInvalid))
	case in.Power != "" && !lab.ValidPower(in.Power):
		return lab.ConsoleInput{}, wrap(op, fmt.Errorf("%w: unknown power action %q", lab.ErrInvalid, in.Power))
	case (in.Power == "") == (len(in.Data) == 0):
		return lab.ConsoleInput{}, wrap(op, fmt.Errorf("%w: console input is either data or a power action", lab.ErrInvalid))
	case len(in.Data) > lab.MaxConsoleInput:
		return lab.ConsoleInput{}, wrap(op, fmt.Errorf("%w: console input of %d bytes is over the limit of %d", lab.ErrInvalid, len(in.Data), lab.MaxConsoleInput))
	}
	if in.Time.IsZero() {
		in.Time = now()
	}
	in.Time = normTime(in.Time)
	err := q.write(ctx, func(c conn) error {
		ok, err := q.exists(ctx, c, "SELECT 1 FROM jobs WHERE id = ?"+q.d.forUpdate, in.JobID)
		if err != nil {
			return err
		}
		if !ok {
			return lab.ErrNotFound
		}
		var last int64
		if err := q.row(ctx, c, "SELECT COALESCE(MAX(seq), 0) FROM console_input WHERE job_id = ?", in.JobID).Scan(&last); err != nil {
			return err
		}
		if last >= lab.MaxConsoleInputs {
			return fmt.Errorf("%w: the session has %d inputs, the limit", lab.ErrConflict, last)
		}
		in.Seq = last + 1
		data := in.Data
		if data == nil {
			data = []byte{}
		}
		_, err = q.exec(ctx, c, "INSERT INTO console_input (job_id, seq, received, username, data, power) VALUES (?, ?, ?, ?, ?, ?)",
			in.JobID, in.Seq, q.d.ts(in.Time), in.User, data, in.Power)
		return err
	})
	if err != nil {
		return lab.ConsoleInput{}, wrap(op, err)
	}
	return in, nil
}

// ConsoleInputAfter returns up to limit inputs of a job's session
// numbered after seq, in order.
func (q *queries) ConsoleInputAfter(ctx context.Context, jobID, seq int64, limit int) ([]lab.ConsoleInput, error) {
	if limit <= 0 {
		limit = 1
	}
	rows, err := q.query(ctx, q.r(), "SELECT seq, received, username, data, power FROM console_input WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
		jobID, seq, limit)
	out, err := collect(rows, err, func(r scanner) (lab.ConsoleInput, error) {
		in := lab.ConsoleInput{JobID: jobID}
		err := r.Scan(&in.Seq, timeDest{&in.Time}, &in.User, &in.Data, &in.Power)
		if len(in.Data) == 0 {
			in.Data = nil
		}
		return in, err
	})
	return out, wrap(fmt.Sprintf("read console input of job %d", jobID), err)
}

// LastConsoleInput returns the number of a job's last input (0: none).
func (q *queries) LastConsoleInput(ctx context.Context, jobID int64) (int64, error) {
	var last int64
	err := q.row(ctx, q.r(), "SELECT COALESCE(MAX(seq), 0) FROM console_input WHERE job_id = ?", jobID).Scan(&last)
	return last, wrap(fmt.Sprintf("read console input of job %d", jobID), err)
}

// DeleteConsoleInput removes every input of a job's session.
func (q *queries) DeleteConsoleInput(ctx context.Context, jobID int64) error {
	return wrap(fmt.Sprintf("delete console input of job %d", jobID), q.write(ctx, func(c conn) error {
		_, err := q.exec(ctx, c, "DELETE FROM console_input WHERE job_id = ?", jobID)
		return err
	}))
}
