package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Reservations and their console sessions (issue 15) on the pages: who
// holds a device until when (the lab tables, the device and job pages),
// and the web console of a running reservation on its device's page. The
// console follows the reservation's log through the job's live stream in
// its console form (/jobs/{id}/events?console=1: each record's message as
// it was written, so the script can replay the board's output as a
// terminal would); the holder's keys and power buttons post to
// /jobs/{id}/console, which calls app.ConsoleInput.

// consoleHistory is how many lines of the board's output the console
// starts with, before it follows the session live.
const consoleHistory = 100

// consoleScan bounds the records read back from the end of the session's
// log to find where its last consoleHistory lines start.
const consoleScan = 2000

// maxConsolePost bounds one post of the console (a paste): it is typed as
// inputs of lab.MaxConsoleInput bytes each.
const maxConsolePost = 64 << 10

// reservationView is a reservation as the pages show it.
type reservationView struct {
	JobID  int64
	Device string
	Holder string
	Reason string
	State  lab.JobState
	// Until is when it ends (zero until it runs); UntilText says it
	// briefly: "22:00 UTC" on the day it is shown, with the date
	// otherwise, and "" when it is zero.
	Until     time.Time
	UntilText string
}

// newReservationView is the view of job j, a reservation (nil for any
// other job), as shown at now.
func newReservationView(j lab.Job, now time.Time) *reservationView {
	if j.Reservation == nil {
		return nil
	}
	v := &reservationView{JobID: j.ID, Device: j.ActualDevice, Holder: j.Submitter, Reason: j.Reservation.Reason,
		State: j.State, Until: j.Reservation.Until, UntilText: untilText(j.Reservation.Until, now)}
	if v.Device == "" {
		v.Device = j.RequestedDevice
	}
	return v
}

// untilText formats the end of a reservation: the time alone on now's
// day (UTC), with the date on another.
func untilText(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	t, now = t.UTC(), now.UTC()
	if t.Year() == now.Year() && t.YearDay() == now.YearDay() {
		return t.Format("15:04 UTC")
	}
	return t.Format("2006-01-02 15:04 UTC")
}

// consoleView is the device page's console section.
type consoleView struct {
	*reservationView
	// CanType says the viewer holds the reservation: the page captures
	// keys and offers the power buttons.
	CanType bool
	// Events is the console's live stream, from the last consoleHistory
	// lines; Input is where keys and power actions are posted.
	Events, Input string
}

// heldDevices returns the reservations holding the devices, by hostname,
// among those p may see: only devices busy with a job p may see are
// looked at.
func (u *UI) heldDevices(ctx context.Context, p auth.Principal, devices []lab.Device) (map[string]*reservationView, error) {
	n := 0
	for _, d := range devices {
		if d.CurrentJob != 0 {
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	yes := true
	jobs, _, err := u.app.ListJobs(ctx, p, store.JobFilter{Reservation: &yes, Limit: n,
		States: []lab.JobState{lab.JobScheduled, lab.JobRunning, lab.JobCanceling}})
	if err != nil {
		return nil, fmt.Errorf("reservations: %w", err)
	}
	cur := map[string]int64{}
	for _, d := range devices {
		cur[d.Hostname] = d.CurrentJob
	}
	now := u.now()
	out := map[string]*reservationView{}
	for _, j := range jobs {
		if j.ActualDevice != "" && cur[j.ActualDevice] == j.ID {
			out[j.ActualDevice] = newReservationView(j, now)
		}
	}
	return out, nil
}

// deviceReservation fills the device page's reservation and console for
// p: the device's current job, when p may see it and it is a reservation.
func (u *UI) deviceReservation(ctx context.Context, p auth.Principal, d *deviceData) error {
	dev := d.Device.Device
	if dev.CurrentJob == 0 {
		return nil
	}
	j, err := u.app.GetJob(ctx, p, dev.CurrentJob)
	if errors.Is(err, lab.ErrNotFound) {
		return nil // it ended and went meanwhile, or p may not see it
	}
	if err != nil {
		return fmt.Errorf("device %s: job %d: %w", dev.Hostname, dev.CurrentJob, err)
	}
	v := newReservationView(j, u.now())
	if v == nil {
		return nil
	}
	d.Device.Reserved = v
	if j.State != lab.JobRunning {
		return nil
	}
	from, err := u.consoleStart(ctx, p, j.ID)
	if err != nil {
		return fmt.Errorf("device %s: console: %w", dev.Hostname, err)
	}
	d.Console = &consoleView{reservationView: v, CanType: p.Kind == auth.KindUser && p.Username == j.Submitter,
		Events: fmt.Sprintf("/jobs/%d/events?console=1&from=%d", j.ID, from), Input: fmt.Sprintf("/jobs/%d/console", j.ID)}
	return nil
}

// consoleStart returns the record of job id's log where its last
// consoleHistory lines of console output start (looking back at most
// consoleScan records).
func (u *UI) consoleStart(ctx context.Context, p auth.Principal, id int64) (int, error) {
	_, total, err := u.app.JobLog(ctx, p, id, 0, 0, 0)
	if err != nil {
		return 0, err
	}
	start := max(total-consoleScan, 0)
	recs, _, err := u.app.JobLog(ctx, p, id, start, total, 0)
	if err != nil {
		return 0, err
	}
	lines := 0
	for i := len(recs) - 1; i >= 0; i-- {
		rec, err := workerproto.DecodeRecord(recs[i])
		if err != nil {
			continue
		}
		if rec.Level != workerproto.LevelTarget {
			if consoleSays(rec.Level) { // a line of its own
				if lines++; lines > consoleHistory {
					return start + i + 1, nil
				}
			}
			continue
		}
		var s string
		if json.Unmarshal(rec.Msg, &s) != nil {
			continue
		}
		// Counted from the end: the consoleHistory+1st newline back ends
		// the line before the first one shown.
		for k := len(s) - 1; k >= 0; k-- {
			if s[k] != '\n' {
				continue
			}
			if lines++; lines > consoleHistory {
				return start + i + 1, nil // the rest of this record is older
			}
		}
	}
	return start, nil
}

// consoleSays reports whether the console shows records of level as
// "[basalt] …" lines (the session's own messages), as basalt console does.
func consoleSays(l workerproto.Level) bool {
	switch l {
	case workerproto.LevelInfo, workerproto.LevelWarning, workerproto.LevelError, workerproto.LevelException:
		return true
	}
	return false
}

// consoleText is what the console stream carries of a record: its message
// as written when it is a string (line terminators and terminal
// sequences kept), else the message's JSON.
func consoleText(line []byte) (level, text string) {
	rec, err := workerproto.DecodeRecord(line)
	if err != nil {
		return "raw", string(line)
	}
	var s string
	if json.Unmarshal(rec.Msg, &s) == nil {
		return string(rec.Level), s
	}
	return string(rec.Level), string(rec.Msg)
}

// consoleInput is the web console's input: form field data (the bytes to
// type, in inputs of lab.MaxConsoleInput bytes) or power (on, off,
// reset), for the holder of running reservation {id}. It answers 204, or
// the error's status with its message as plain text, which the page
// shows.
func (u *UI) consoleInput(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	err := u.typeInto(w, r, p)
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	m := apierr.Map(err)
	if m.Internal() || m.Condition() {
		return err // logged or noted by fail, like any page's
	}
	m.SetHeaders(w.Header())
	w.Header().Set("X-Content-Type-Options", "nosniff")
	msg := m.Message
	if m.Status == http.StatusNotFound {
		msg = "There is no such reservation, or you may not see it."
	}
	http.Error(w, msg, m.Status)
	return nil
}

// typeInto parses a console post and hands it to the app.
func (u *UI) typeInto(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxConsolePost+1024)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: console input: %v", lab.ErrInvalid, err)
	}
	data, power := []byte(r.PostForm.Get("data")), strings.TrimSpace(r.PostForm.Get("power"))
	if power != "" && !lab.ValidPower(power) {
		return fmt.Errorf("%w: console: power %q is not on, off or reset", lab.ErrInvalid, power)
	}
	if len(data) == 0 && power == "" {
		return fmt.Errorf("%w: console input: nothing to type", lab.ErrInvalid)
	}
	for len(data) > 0 {
		chunk := data[:min(len(data), lab.MaxConsoleInput)]
		data = data[len(chunk):]
		if _, err := u.app.ConsoleInput(r.Context(), p, id, chunk, ""); err != nil {
			return err
		}
	}
	if power != "" {
		if _, err := u.app.ConsoleInput(r.Context(), p, id, nil, power); err != nil {
			return err
		}
	}
	return nil
}
