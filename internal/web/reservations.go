package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// The device page's reservation forms (docs/reservations.md): reserve the
// device, and extend or release a reservation of it. The app decides who
// may do what (app.Reserve, app.ExtendReservation,
// app.ReleaseReservation); the page offers the forms to those it would
// let: any user who may submit jobs reserves, the holder and admins
// extend and release.

// reservationsShown bounds the queued and current reservations a device
// page lists.
const reservationsShown = 50

// sessionsShown bounds the past console sessions (ended reservations) a
// device page links to, newest first.
const sessionsShown = 10

// pastSession is an ended reservation on its device's page: the record
// of its console session is its job's log.
type pastSession struct {
	JobID      int64
	Holder     string
	Reason     string
	Start, End time.Time
	Health     lab.JobHealth
	EndedBy    string
}

// reservationRow is one queued or current reservation on a device page.
type reservationRow struct {
	*reservationView
	Duration time.Duration // as asked, extensions of a queued one included
	// CanManage says the caller may extend and release it.
	CanManage bool
	// Back is "job" when the forms are on the reservation's job page,
	// which they then send the caller back to.
	Back string
}

// newReservationRow is reservation j's row for p.
func newReservationRow(p auth.Principal, j lab.Job, now time.Time) reservationRow {
	return reservationRow{reservationView: newReservationView(j, now), Duration: j.Reservation.Duration,
		CanManage: auth.CanCancelJob(p, j) && (j.State == lab.JobSubmitted || j.State == lab.JobScheduling || j.State == lab.JobScheduled || j.State == lab.JobRunning)}
}

// reservationForms is the device page's reservations section.
type reservationForms struct {
	Hostname string
	Rows     []reservationRow
	// Total counts the device's queued and current reservations the
	// caller may see (Rows may list fewer).
	Total int
	// CanReserve says the caller may reserve the device: a user who may
	// submit jobs, the device not retired.
	CanReserve bool
	// Max is the longest reservation, as a duration ("24h0m0s").
	Max time.Duration
	// Past are the latest ended reservations, newest first: their
	// recorded console sessions.
	Past []pastSession
}

// deviceReservations fills the device page's reservations section for p.
func (u *UI) deviceReservations(ctx context.Context, p auth.Principal, dev lab.Device) (reservationForms, error) {
	out := reservationForms{Hostname: dev.Hostname, Max: u.app.MaxReservation(),
		CanReserve: auth.CanSubmit(p) && dev.Health != lab.DeviceRetired}
	jobs, total, err := u.app.ListReservations(ctx, p, app.ReservationFilter{Device: dev.Hostname, Limit: reservationsShown})
	if err != nil {
		return out, fmt.Errorf("reservations of %s: %w", dev.Hostname, err)
	}
	out.Total = total
	now := u.now()
	for _, j := range jobs {
		out.Rows = append(out.Rows, newReservationRow(p, j, now))
	}
	// The ended ones come after the others, newest first.
	all, _, err := u.app.ListReservations(ctx, p, app.ReservationFilter{Device: dev.Hostname, Finished: true,
		Limit: total + sessionsShown})
	if err != nil {
		return out, fmt.Errorf("past reservations of %s: %w", dev.Hostname, err)
	}
	for _, j := range all {
		if j.State == lab.JobFinished && len(out.Past) < sessionsShown {
			out.Past = append(out.Past, pastSession{JobID: j.ID, Holder: j.Submitter, Reason: j.Reservation.Reason,
				Start: j.StartTime, End: j.EndTime, Health: j.Health, EndedBy: j.Reservation.EndedBy})
		}
	}
	return out, nil
}

// reserveDevice is the device page's reserve form: a duration ("2h",
// "90m") and a reason. It sends the caller back to the device, where the
// reservation is listed.
func (u *UI) reserveDevice(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	host := r.PathValue("hostname")
	if err := reservationForm(w, r); err != nil {
		return err
	}
	d, err := formDuration(r, "duration")
	if err != nil {
		return err
	}
	if _, err := u.app.Reserve(r.Context(), p, host, d, strings.TrimSpace(r.PostForm.Get("reason")), lab.PriorityMedium); err != nil {
		return err
	}
	http.Redirect(w, r, "/devices/"+url.PathEscape(host)+"#reservations", http.StatusSeeOther)
	return nil
}

// extendReservation gives reservation {id} more time ("by").
func (u *UI) extendReservation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	if err := reservationForm(w, r); err != nil {
		return err
	}
	by, err := formDuration(r, "by")
	if err != nil {
		return err
	}
	j, err := u.app.ExtendReservation(r.Context(), p, id, by)
	if err != nil {
		return err
	}
	http.Redirect(w, r, reservationPage(r, j), http.StatusSeeOther)
	return nil
}

// releaseReservation ends reservation {id} (its holder's, or an admin's
// for anyone's).
func (u *UI) releaseReservation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	if err := reservationForm(w, r); err != nil {
		return err
	}
	j, err := u.app.ReleaseReservation(r.Context(), p, id)
	if err != nil {
		return err
	}
	http.Redirect(w, r, reservationPage(r, j), http.StatusSeeOther)
	return nil
}

// reservationForm parses a reservation form's post.
func reservationForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: reservation form: %v", lab.ErrInvalid, err)
	}
	return nil
}

// formDuration reads a duration field of a form ("2h", "90m").
func formDuration(r *http.Request, field string) (time.Duration, error) {
	s := strings.TrimSpace(r.PostForm.Get(field))
	if s == "" {
		return 0, fmt.Errorf("%w: %s is required (a duration such as 2h or 90m)", lab.ErrInvalid, field)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not a duration such as 2h or 90m", lab.ErrInvalid, field, s)
	}
	return d, nil
}

// reservationPage is where a reservation form sends the caller back: the
// page it was posted from (form field "back": "job" for the job page),
// else the reservation's device.
func reservationPage(r *http.Request, j lab.Job) string {
	if r.PostForm.Get("back") == "job" {
		return fmt.Sprintf("/jobs/%d", j.ID)
	}
	dev := j.ActualDevice
	if dev == "" {
		dev = j.RequestedDevice
	}
	return "/devices/" + url.PathEscape(dev) + "#reservations"
}
