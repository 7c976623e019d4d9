package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Reservations (issue 15). A reservation is a job: it names one device
// (RequestedDevice), is submitted by its holder, waits in the queue by its
// priority, and holds the device while it runs, so that the scheduler
// places nothing else there. The worker runs a console session for it
// instead of a pipeline (Assignment.Reservation). It ends when its holder
// releases it, an admin ends it, or its time is up (ExpireReservations);
// then its device goes back to service through a health check, unless its
// type says otherwise (lab.DeviceType.NoHealthCheckAfterReservation).

// DefaultMaxReservation is Config.MaxReservation's default: the longest a
// reservation may hold a device, and the most time an extension may leave
// it.
const DefaultMaxReservation = 24 * time.Hour

// MinReservation is the shortest reservation.
const MinReservation = time.Minute

// MaxReservationReason is the longest reason, in characters (a job
// name's limit).
const MaxReservationReason = 200

// ReservationCommand is the name of the command action in a reservation's
// definition: the definition is a valid job (LAVA's APIs, the job page
// and the device configuration read it) whose one action says what runs;
// the worker runs the console session instead (Assign.Console).
const ReservationCommand = "console"

// MaxReservation returns the longest a reservation may hold a device
// (Config.MaxReservation).
func (a *App) MaxReservation() time.Duration { return a.cfg.MaxReservation }

// Reserve queues a reservation of device for p, for duration from its
// start, with a reason (may be empty) and a priority (0–100;
// lab.PriorityMedium is a job's default). The device must exist and be
// usable by a job naming it (not Retired, on a worker that is not
// Retired); the duration is from MinReservation to the maximum
// (Config.MaxReservation). It returns the queued job; the scheduler is
// kicked. Errors: ErrUnauthenticated / ErrForbidden when p may not submit
// jobs; ErrNotFound for an unknown device; ErrInvalid for a bad duration,
// reason or priority; ErrUnavailable when the device cannot run jobs.
func (a *App) Reserve(ctx context.Context, p auth.Principal, device string, duration time.Duration, reason string, priority int) (lab.Job, error) {
	if !auth.CanSubmit(p) {
		return lab.Job{}, denied(p, "reserve a device")
	}
	if err := a.checkReservationDuration("reservation", duration); err != nil {
		return lab.Job{}, err
	}
	if err := checkReason(reason); err != nil {
		return lab.Job{}, err
	}
	if priority < lab.PriorityLow || priority > lab.PriorityHigh {
		return lab.Job{}, fmt.Errorf("%w: priority %d is not within 0–100", lab.ErrInvalid, priority)
	}
	d, err := a.st.GetDevice(ctx, device)
	if err != nil {
		return lab.Job{}, fmt.Errorf("reserve %s: %w", device, err)
	}
	j := lab.Job{
		Description:     reservationName(d.Hostname, p.Username, reason),
		Submitter:       p.Username,
		Visibility:      lab.VisibilityPublic,
		State:           lab.JobSubmitted,
		Health:          lab.JobHealthUnknown,
		Priority:        priority,
		RequestedType:   d.DeviceType,
		RequestedDevice: d.Hostname,
		SubmitTime:      a.now(),
		QueueTimeout:    a.cfg.DefaultQueueTimeout,
		Reservation:     &lab.Reservation{Duration: duration, Reason: reason},
	}
	j.Definition = reservationDefinition(j, a.cfg.MaxReservation)
	j.OriginalDefinition = j.Definition
	def, err := parseStored(j.Definition)
	if err != nil { // a bug: the definition is ours
		return lab.Job{}, fmt.Errorf("reserve %s: the reservation's definition does not parse: %w", device, err)
	}
	// The rules of a job naming the device, but not its action, which
	// the console session does not run.
	def.Actions = nil
	if err := a.checkUsableDevice(ctx, single(def), d.DeviceType); err != nil {
		var de *jobdef.Errors
		if errors.As(err, &de) && len(de.Items) > 0 {
			return lab.Job{}, fmt.Errorf("reserve %s: %s: %w", device, de.Items[0].Msg, lab.ErrInvalid)
		}
		return lab.Job{}, fmt.Errorf("reserve %s: %w", device, err)
	}
	ids, err := a.createJobs(ctx, []lab.Job{j})
	if err != nil {
		return lab.Job{}, fmt.Errorf("reserve %s: %w", device, err)
	}
	j.ID = ids[0]
	return j, nil
}

// checkReservationDuration refuses a duration outside MinReservation to
// the maximum.
func (a *App) checkReservationDuration(what string, d time.Duration) error {
	if d < MinReservation || d > a.cfg.MaxReservation {
		return fmt.Errorf("%w: a %s lasts from %s to %s, not %s", lab.ErrInvalid, what,
			durationText(MinReservation), durationText(a.cfg.MaxReservation), durationText(d))
	}
	return nil
}

// checkReason refuses a reason that is not text or is too long.
func checkReason(reason string) error {
	if err := lab.CheckText("reason", reason); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(reason); n > MaxReservationReason {
		return fmt.Errorf("%w: the reason has %d characters, more than %d", lab.ErrInvalid, n, MaxReservationReason)
	}
	return nil
}

// reservationName is a reservation's job name: "reservation of DEV by
// USER: REASON", cut to a job name's 200 characters.
func reservationName(device, user, reason string) string {
	s := "reservation of " + device + " by " + user
	if reason != "" {
		s += ": " + reason
	}
	if utf8.RuneCountInString(s) <= 200 {
		return s
	}
	r := []rune(s)
	return string(r[:199]) + "…"
}

// reservationDefinition is the job definition stored with reservation j:
// a valid job that names the device, whose job timeout is the worker's
// safety net (the duration plus the maximum), and whose one action is the
// console command.
func reservationDefinition(j lab.Job, maxRes time.Duration) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // JSON strings are YAML
	minutes := int((j.Reservation.Duration + maxRes + time.Minute - 1) / time.Minute)
	var b strings.Builder
	fmt.Fprintf(&b, "# A reservation: %s holds %s and has its console through the server;\n", j.Submitter, j.RequestedDevice)
	b.WriteString("# no pipeline runs. Made by the server (basalt devices reserve).\n")
	fmt.Fprintf(&b, "job_name: %s\n", q(j.Description))
	fmt.Fprintf(&b, "device_type: %s\n", q(j.RequestedType))
	fmt.Fprintf(&b, "device: %s\n", q(j.RequestedDevice))
	fmt.Fprintf(&b, "priority: %d\n", j.Priority)
	b.WriteString("visibility: public\n")
	fmt.Fprintf(&b, "timeouts:\n  job:\n    minutes: %d\n", minutes)
	fmt.Fprintf(&b, "actions:\n- command:\n    name: %s\n", ReservationCommand)
	return b.String()
}

// durationText writes d as "2h", "1h30m", "45m" or "90s".
func durationText(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if s == "" {
		return "0s"
	}
	return s
}

// GetReservation returns reservation id as p may see it; a job that is
// not a reservation is ErrNotFound.
func (a *App) GetReservation(ctx context.Context, p auth.Principal, id int64) (lab.Job, error) {
	j, err := a.GetJob(ctx, p, id)
	if err != nil {
		return lab.Job{}, err
	}
	if j.Reservation == nil {
		return lab.Job{}, fmt.Errorf("reservation %d: %w", id, lab.ErrNotFound)
	}
	return j, nil
}

// HeldDevices returns the reservations that hold devices now (Scheduled,
// Running or Canceling on them) that p may see, by device hostname: who
// holds each device until when, for device listings (one query).
func (a *App) HeldDevices(ctx context.Context, p auth.Principal) (map[string]lab.Job, error) {
	yes := true
	jobs, _, err := a.st.ListJobs(ctx, store.JobFilter{Reservation: &yes,
		States: []lab.JobState{lab.JobScheduling, lab.JobScheduled, lab.JobRunning, lab.JobCanceling}, Limit: 1 << 20})
	if err != nil {
		return nil, fmt.Errorf("reservations holding devices: %w", err)
	}
	out := make(map[string]lab.Job, len(jobs))
	for _, j := range jobs {
		if j.ActualDevice != "" && auth.CanViewJob(p, j) {
			out[j.ActualDevice] = j
		}
	}
	return out, nil
}

// ReservationFilter selects reservations for ListReservations.
type ReservationFilter struct {
	// Device keeps the reservations of one device.
	Device string
	// Holder keeps the reservations of one user.
	Holder string
	// Finished includes the reservations that ended (newest first after
	// the others); without it only queued and current ones are listed.
	Finished bool
	Limit    int // 0 = 50
	Offset   int
}

// ListReservations returns one page of the reservations p may see, in
// the order of their ids (oldest first), and how many match in all.
func (a *App) ListReservations(ctx context.Context, p auth.Principal, f ReservationFilter) ([]lab.Job, int, error) {
	yes := true
	jf := store.JobFilter{Reservation: &yes, RequestedDevice: f.Device, Submitter: f.Holder, Limit: f.Limit, Offset: f.Offset,
		Order: store.OrderID}
	if !f.Finished {
		jf.States = []lab.JobState{lab.JobSubmitted, lab.JobScheduling, lab.JobScheduled, lab.JobRunning, lab.JobCanceling}
	} else {
		jf.Order = store.OrderIDDesc
	}
	jobs, total, err := a.ListJobs(ctx, p, jf)
	if err != nil {
		return nil, 0, fmt.Errorf("list reservations: %w", err)
	}
	return jobs, total, nil
}

// ExtendReservation gives reservation id more time: by is added to its
// duration while it is queued, and to its end (Until) while it runs.
// Only its holder and admins may. Once it is extended, what is left of it
// may not exceed the maximum (Config.MaxReservation) from now, nor may it
// run longer than its duration plus the maximum in all (the worker's
// safety net). It returns the reservation as extended.
func (a *App) ExtendReservation(ctx context.Context, p auth.Principal, id int64, by time.Duration) (lab.Job, error) {
	if by < MinReservation {
		return lab.Job{}, fmt.Errorf("extend reservation %d: %w: extend by %s at least, not %s", id, lab.ErrInvalid,
			durationText(MinReservation), durationText(by))
	}
	now := a.now()
	var out lab.Job
	err := a.st.InTx(ctx, func(q store.Queries) error {
		j, err := a.reservationFor(ctx, q, p, id, "extend")
		if err != nil {
			return err
		}
		r := *j.Reservation
		switch j.State {
		case lab.JobSubmitted, lab.JobScheduling, lab.JobScheduled:
			r.Duration += by
			if err := a.checkReservationDuration("reservation", r.Duration); err != nil {
				return err
			}
		case lab.JobRunning:
			r.Until = r.Until.Add(by)
			if left := r.Until.Sub(now); left > a.cfg.MaxReservation {
				return fmt.Errorf("%w: %s would be left, more than the maximum of %s", lab.ErrInvalid,
					durationText(left.Round(time.Second)), durationText(a.cfg.MaxReservation))
			}
			if total := r.Until.Sub(j.StartTime); total > r.Duration+a.cfg.MaxReservation {
				return fmt.Errorf("%w: it would last %s in all, more than its duration (%s) plus the maximum (%s)", lab.ErrInvalid,
					durationText(total.Round(time.Second)), durationText(r.Duration), durationText(a.cfg.MaxReservation))
			}
		default:
			return fmt.Errorf("%w: reservation %d is %s", lab.ErrConflict, id, j.State)
		}
		if err := q.UpdateReservation(ctx, id, *j.Reservation, r); err != nil { // ErrConflict: changed meanwhile
			return err
		}
		j.Reservation = &r
		out = j
		return nil
	})
	if err != nil {
		return lab.Job{}, fmt.Errorf("extend reservation %d: %w", id, err)
	}
	if !out.Reservation.Until.IsZero() {
		a.noteUntil(out.Reservation.Until)
	}
	a.emit(Event{Kind: "job", JobID: id, Device: out.ActualDevice, State: out.State.String(), Health: out.Health.String(), Job: &out})
	return out, nil
}

// reservationFor reads reservation id for an action of p that only its
// holder and admins may do (extend, release).
func (a *App) reservationFor(ctx context.Context, q store.Queries, p auth.Principal, id int64, what string) (lab.Job, error) {
	j, err := q.GetJob(ctx, id)
	if err != nil {
		return lab.Job{}, err
	}
	if !auth.CanViewJob(p, j) || j.Reservation == nil {
		return lab.Job{}, fmt.Errorf("reservation %d: %w", id, lab.ErrNotFound)
	}
	if !auth.CanCancelJob(p, j) {
		return lab.Job{}, denied(p, what+" reservation")
	}
	return j, nil
}

// ReleaseReservation ends reservation id: its holder releases it, an
// admin ends anyone's. A queued one is canceled at once; one on its
// device goes through the job cancel path (the worker ends the session),
// with who ended it recorded (lab.Reservation.EndedBy). It finishes
// Complete when its holder released it, Canceled when someone else ended
// it.
func (a *App) ReleaseReservation(ctx context.Context, p auth.Principal, id int64) (lab.Job, error) {
	if _, err := a.reservationFor(ctx, a.st, p, id, "release"); err != nil {
		return lab.Job{}, fmt.Errorf("release reservation %d: %w", id, err)
	}
	j, err := a.CancelJob(ctx, p, id)
	if err != nil {
		return lab.Job{}, fmt.Errorf("release reservation %d: %w", id, err)
	}
	return j, nil
}

// ReleaseDevice releases p's current or queued reservation of device: the
// one on the device if p holds it, else p's oldest queued one.
// ErrNotFound when p has none.
func (a *App) ReleaseDevice(ctx context.Context, p auth.Principal, device string) (lab.Job, error) {
	if !auth.CanSubmit(p) {
		return lab.Job{}, denied(p, "release a device")
	}
	jobs, _, err := a.ListReservations(ctx, p, ReservationFilter{Device: device, Holder: p.Username})
	if err != nil {
		return lab.Job{}, err
	}
	var pick *lab.Job
	for i := range jobs {
		j := &jobs[i]
		if j.State == lab.JobCanceling {
			continue
		}
		if pick == nil || (j.State != lab.JobSubmitted && pick.State == lab.JobSubmitted) {
			pick = j
		}
	}
	if pick == nil {
		return lab.Job{}, fmt.Errorf("release %s: %s holds no reservation of it: %w", device, p.Username, lab.ErrNotFound)
	}
	return a.ReleaseReservation(ctx, p, pick.ID)
}

// startReservation sets the end of reservation j, which has just started
// at at: its start plus its duration. An extension that commits meanwhile
// (the duration read is stale: ErrConflict) is read again, a few times.
func startReservation(ctx context.Context, q store.Queries, j lab.Job, at time.Time) (lab.Job, error) {
	for range 5 {
		from := *j.Reservation
		to := from
		to.Until = at.Add(from.Duration)
		err := q.UpdateReservation(ctx, j.ID, from, to)
		if err == nil {
			j.Reservation = &to
			return j, nil
		}
		if !errors.Is(err, lab.ErrConflict) {
			return j, err
		}
		if j, err = q.GetJob(ctx, j.ID); err != nil {
			return j, err
		}
		if j.Reservation == nil {
			return j, fmt.Errorf("%w: job %d is no longer a reservation", lab.ErrConflict, j.ID)
		}
	}
	return j, fmt.Errorf("%w: reservation %d kept changing", lab.ErrConflict, j.ID)
}

// endReservationComment is the failure comment of a reservation ended by
// user (the cancel path).
func endReservationComment(j lab.Job, user string) string {
	if user == j.Submitter {
		return "reservation released by its holder " + user
	}
	return "reservation of " + j.Submitter + " ended by " + user
}

// reservationHealth is the health of a reservation that was Canceling
// when it finished: Complete when it expired or its holder released it,
// Canceled when someone else ended it.
func reservationHealth(j lab.Job) lab.JobHealth {
	if r := j.Reservation; r.EndedBy == "" || r.EndedBy == j.Submitter {
		return lab.JobHealthComplete
	}
	return lab.JobHealthCanceled
}

// afterReservation is the health of a device whose reservation just
// ended, from h (its health by the job rules), and why it changed: a Good
// device becomes Unknown, so that the scheduler runs its type's health
// check before any other job, unless the type says not to.
func afterReservation(h lab.DeviceHealth, dt lab.DeviceType, id int64) (lab.DeviceHealth, string) {
	if h != lab.DeviceGood || dt.NoHealthCheckAfterReservation {
		return h, ""
	}
	return lab.DeviceUnknown, fmt.Sprintf("reservation ended (job %d): health check before the next job", id)
}

// ExpireReservations ends every running reservation whose time is up (at
// or past its Until), through the job cancel path, with no EndedBy (it
// finishes Complete). It returns when the next running reservation ends
// (zero: none runs). The scheduler leader calls it at every sweep and
// when the earliest end it knows of comes (Run).
func (a *App) ExpireReservations(ctx context.Context) (time.Time, error) {
	yes := true
	jobs, _, err := a.st.ListJobs(ctx, store.JobFilter{Reservation: &yes, States: []lab.JobState{lab.JobRunning}, Limit: 1 << 20})
	if err != nil {
		return time.Time{}, fmt.Errorf("expire reservations: %w", err)
	}
	now := a.now()
	var next time.Time
	for _, j := range jobs {
		until := j.Reservation.Until
		if until.IsZero() {
			continue
		}
		if now.Before(until) {
			if next.IsZero() || until.Before(next) {
				next = until
			}
			continue
		}
		out, err := a.expire(ctx, j.ID, now)
		if errors.Is(err, lab.ErrConflict) {
			continue // extended, released or finished meanwhile: the next sweep looks again
		} else if err != nil {
			return next, err
		}
		a.log.Info("reservation expired", "job", j.ID, "device", j.ActualDevice, "holder", j.Submitter, "until", until)
		a.emit(Event{Kind: "job", JobID: j.ID, State: out.State.String(), Health: out.Health.String(), Device: out.ActualDevice, Job: &out})
	}
	return next, nil
}

// expire moves running reservation id, whose Until is not after now, to
// Canceling; ErrConflict when it is no longer running or was extended.
func (a *App) expire(ctx context.Context, id int64, now time.Time) (lab.Job, error) {
	var out lab.Job
	err := a.st.InTx(ctx, func(q store.Queries) error {
		j, err := q.GetJob(ctx, id)
		if err != nil {
			return err
		}
		if j.Reservation == nil || j.State != lab.JobRunning || now.Before(j.Reservation.Until) {
			return fmt.Errorf("%w: reservation %d is %s, or was extended", lab.ErrConflict, id, j.State)
		}
		// Unchanged since read, or ErrConflict: an extension committed
		// meanwhile wins.
		if err := q.UpdateReservation(ctx, id, *j.Reservation, *j.Reservation); err != nil {
			return err
		}
		out, _, err = a.moveJob(ctx, q, store.JobTransition{ID: id, From: []lab.JobState{lab.JobRunning}, To: lab.JobCanceling,
			At: now, FailureComment: "reservation expired at " + j.Reservation.Until.Format(time.RFC3339)})
		return err
	})
	return out, err
}

// expiries is when the next reservation ends, as this process knows it,
// for Run's timer.
type expiries struct {
	mu   sync.Mutex
	next time.Time
	wake chan struct{} // next moved earlier: Run resets its timer
}

// noteUntil tells Run that a reservation ends at t.
func (a *App) noteUntil(t time.Time) {
	a.expiry.mu.Lock()
	earlier := a.expiry.next.IsZero() || t.Before(a.expiry.next)
	if earlier {
		a.expiry.next = t
	}
	a.expiry.mu.Unlock()
	if earlier {
		select {
		case a.expiry.wake <- struct{}{}:
		default:
		}
	}
}

// setNextExpiry records the next end found by ExpireReservations.
func (a *App) setNextExpiry(t time.Time) {
	a.expiry.mu.Lock()
	a.expiry.next = t
	a.expiry.mu.Unlock()
}

// nextExpiry returns how long until the next known end (false: none).
func (a *App) nextExpiry() (time.Duration, bool) {
	a.expiry.mu.Lock()
	defer a.expiry.mu.Unlock()
	if a.expiry.next.IsZero() {
		return 0, false
	}
	return max(a.expiry.next.Sub(a.now()), 0), true
}

// expireDue runs ExpireReservations on the leader and keeps its next end;
// other replicas forget theirs (the leader's sweep and timer expire
// reservations).
func (a *App) expireDue(ctx context.Context) {
	if !a.Leader() {
		a.setNextExpiry(time.Time{})
		return
	}
	next, err := a.ExpireReservations(ctx)
	if err != nil && ctx.Err() == nil {
		a.logError(slog.LevelError, "reservation expiry", err)
		next = a.now().Add(a.cfg.SweepInterval) // try again, no sooner than a sweep
	}
	a.setNextExpiry(next)
}
