package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// The sender's use cases (internal/notify calls them): claim due
// deliveries, read what their messages are made of, record each try. They
// act for the server itself, never for a user: only the server's own
// sender calls them.

// ClaimNotifications claims up to limit deliveries due now for the
// sender named claim, for lease: no other sender gets them before the
// lease ends or the outcome is recorded.
func (a *App) ClaimNotifications(ctx context.Context, claim string, lease time.Duration, limit int) ([]lab.Delivery, error) {
	now := a.now()
	ds, err := a.st.ClaimDeliveries(ctx, store.DeliveryClaim{Claim: claim, Now: now, Until: now.Add(lease), Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	return ds, nil
}

// RecordNotification applies the outcome of a try of a claimed delivery;
// At defaults to now. lab.ErrConflict when the claim was lost (it
// expired and another sender took the delivery): the outcome is dropped.
func (a *App) RecordNotification(ctx context.Context, o store.DeliveryOutcome) (lab.Delivery, error) {
	if o.At.IsZero() {
		o.At = a.now()
	}
	d, err := a.st.RecordDeliveryAttempt(ctx, o)
	if err != nil {
		return lab.Delivery{}, fmt.Errorf("record notification %d: %w", o.ID, err)
	}
	return d, nil
}

// ReleaseNotifications drops the claims of a stopping sender, so that
// the next sender (this server restarted, or another one) takes its
// deliveries at once instead of after their lease.
func (a *App) ReleaseNotifications(ctx context.Context, claim string) error {
	if err := a.st.ReleaseDeliveries(ctx, claim); err != nil {
		return fmt.Errorf("release notifications: %w", err)
	}
	return nil
}

// NextNotificationDue is when the earliest pending delivery is due (zero
// when none is pending).
func (a *App) NextNotificationDue(ctx context.Context) (time.Time, error) {
	t, err := a.st.NextDeliveryDue(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("next notification due: %w", err)
	}
	return t, nil
}

// NotificationSubject is what a delivery's message tells of.
type NotificationSubject struct {
	// Job is the job as it was at the transition that queued the delivery:
	// its state and health then, and no end time before it Finished.
	Job lab.Job
	// Submitter is the job's submitter (only Username when the account is
	// gone).
	Submitter lab.User
	// Recipient is the user an e-mail goes to when the notify block named
	// a user (zero otherwise).
	Recipient lab.User
}

// NotificationSubject reads what delivery d's message is made of.
func (a *App) NotificationSubject(ctx context.Context, d lab.Delivery) (NotificationSubject, error) {
	var s NotificationSubject
	j, err := a.st.GetJob(ctx, d.JobID)
	if err != nil {
		return s, fmt.Errorf("notification %d: %w", d.ID, err)
	}
	j.State, j.Health = d.State, d.Health
	if d.State != lab.JobFinished {
		j.EndTime, j.FailureComment, j.ErrorType = time.Time{}, "", lab.ErrorNone
	}
	if d.State < lab.JobRunning {
		j.StartTime = time.Time{}
	}
	s.Job = j
	s.Submitter, err = a.st.GetUser(ctx, j.Submitter)
	if errors.Is(err, lab.ErrNotFound) {
		s.Submitter, err = lab.User{Username: j.Submitter}, nil
	}
	if err != nil {
		return s, fmt.Errorf("notification %d: submitter: %w", d.ID, err)
	}
	spec, err := ParseDeliverySpec(d)
	if err != nil {
		return s, err
	}
	if spec.User != "" && spec.User != deviceOwner {
		if u, err := a.st.GetUser(ctx, spec.User); err == nil {
			s.Recipient = u
		} else if !errors.Is(err, lab.ErrNotFound) {
			return s, fmt.Errorf("notification %d: recipient: %w", d.ID, err)
		}
	}
	return s, nil
}

// NotificationLog opens the job's whole stored log (its NDJSON records,
// one a line) for a callback's logs dataset; empty when it has none.
func (a *App) NotificationLog(ctx context.Context, jobID int64) (io.ReadCloser, int64, error) {
	if a.cfg.Logs == nil {
		return io.NopCloser(strings.NewReader("")), 0, nil
	}
	r, size, _, err := a.cfg.Logs.OpenLines(ctx, jobID, 0, math.MaxInt)
	if errors.Is(err, lab.ErrNotFound) {
		return io.NopCloser(strings.NewReader("")), 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open the log of job %d: %w", jobID, err)
	}
	return r, size, nil
}

// NotificationResults returns every test case of the job in log order,
// ingesting first what its log holds that is not stored yet (all of it
// for a Finished job).
func (a *App) NotificationResults(ctx context.Context, jobID int64) ([]lab.TestCase, error) {
	j, err := a.st.GetJob(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("results of job %d: %w", jobID, err)
	}
	if err := a.ingestResults(ctx, jobID, j.State == lab.JobFinished); err != nil {
		return nil, err
	}
	cases, _, err := a.st.ListTestCases(ctx, store.CaseFilter{JobID: jobID, NoCount: true})
	if err != nil {
		return nil, fmt.Errorf("results of job %d: %w", jobID, err)
	}
	return cases, nil
}

// JobNotification is a delivery of a job's notify block as the job's
// viewers see it: its parameters without the callback's token.
type JobNotification struct {
	lab.Delivery
	// Params are the delivery's parameters, Token emptied.
	Params DeliverySpec
	// HasToken says the callback sends a token.
	HasToken bool
}

// JobNotifications returns the deliveries of a job p may see, with their
// attempts, oldest first; invisible jobs are ErrNotFound.
func (a *App) JobNotifications(ctx context.Context, p auth.Principal, jobID int64) ([]JobNotification, error) {
	if _, err := a.GetJob(ctx, p, jobID); err != nil {
		return nil, err
	}
	ds, err := a.st.ListDeliveries(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("notifications of job %d: %w", jobID, err)
	}
	out := make([]JobNotification, 0, len(ds))
	for _, d := range ds {
		spec, err := ParseDeliverySpec(d)
		if err != nil {
			return nil, err
		}
		n := JobNotification{Delivery: d, Params: spec, HasToken: spec.Token != ""}
		n.Params.Token, n.Spec = "", ""
		out = append(out, n)
	}
	return out, nil
}
