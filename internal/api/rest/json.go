package rest

import (
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/scheduler"
)

// Conversions from lab types to the wire shapes of package wire.

func tptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func jobJSON(j lab.Job, withDefinition bool) wire.Job {
	out := wire.Job{
		ID: j.ID, Description: j.Description, Submitter: j.Submitter, Visibility: j.Visibility.String(),
		ViewingGroups: nonNil(j.ViewingGroups), State: j.State.String(), Health: j.Health.String(), Priority: j.Priority,
		DeviceType: j.RequestedType, RequestedDevice: j.RequestedDevice, RequestedWorker: j.RequestedWorker,
		Tags: nonNil(j.Tags), ActualDevice: j.ActualDevice, HealthCheck: j.HealthCheck,
		SubmitTime: tptr(j.SubmitTime), StartTime: tptr(j.StartTime), EndTime: tptr(j.EndTime),
		QueueTimeout: int64(j.QueueTimeout / time.Second), FailureComment: j.FailureComment,
		ErrorType: string(j.ErrorType), Metadata: j.Metadata,
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if withDefinition {
		out.Definition = j.Definition
	}
	if mn := j.Multinode; mn != nil {
		out.Multinode = &wire.Multinode{TargetGroup: mn.TargetGroup, SubID: mn.SubID, Role: mn.Role, GroupSize: mn.GroupSize,
			Essential: mn.Essential}
	}
	if r := j.Reservation; r != nil {
		out.Reservation = &wire.JobReservation{Duration: int64(r.Duration / time.Second), Until: tptr(r.Until), Reason: r.Reason,
			EndedBy: r.EndedBy}
	}
	return out
}

// deviceJSON shows device d attached to worker w (nil: none, or unknown),
// held by reservation res when it is one (nil otherwise).
func deviceJSON(d lab.Device, w *lab.Worker, res *lab.Job) wire.Device {
	status, detail := lab.SimpleDeviceStatus(d, w)
	out := wire.Device{Hostname: d.Hostname, DeviceType: d.DeviceType, Worker: d.Worker, Description: d.Description,
		Tags: nonNil(d.Tags), State: d.State.String(), Health: strings.ToUpper(d.Health.String()),
		Status: status, StatusDetail: detail, CurrentJob: d.CurrentJob, LastHealthReportJob: d.LastHealthReportJob}
	if res != nil && res.Reservation != nil && res.ID == d.CurrentJob {
		out.Reservation = &wire.DeviceReservation{ID: res.ID, Holder: res.Submitter, Until: tptr(res.Reservation.Until),
			Reason: res.Reservation.Reason}
	}
	return out
}

func deviceTypeJSON(dt lab.DeviceType) wire.DeviceType {
	return wire.DeviceType{Name: dt.Name, Description: dt.Description, HealthFrequency: dt.HealthFrequency,
		HealthDenominator: dt.HealthDenominator.String(), DisableHealthCheck: dt.DisableHealthCheck,
		HasHealthCheck: dt.HealthCheck != "", Display: !dt.Hidden, HealthCheckAfterReservation: !dt.NoHealthCheckAfterReservation}
}

// reservationJSON shows reservation j.
func reservationJSON(j lab.Job) wire.Reservation {
	out := wire.Reservation{ID: j.ID, Device: j.RequestedDevice, DeviceType: j.RequestedType, Holder: j.Submitter,
		State: j.State.String(), Health: j.Health.String(), Priority: j.Priority,
		SubmitTime: tptr(j.SubmitTime), StartTime: tptr(j.StartTime), EndTime: tptr(j.EndTime), FailureComment: j.FailureComment}
	if r := j.Reservation; r != nil {
		out.Reason, out.Duration, out.Until, out.EndedBy = r.Reason, int64(r.Duration/time.Second), tptr(r.Until), r.EndedBy
	}
	return out
}

func workerJSON(w lab.Worker) wire.Worker {
	return wire.Worker{Name: w.Name, Description: w.Description, State: w.State.String(), Health: w.Health.String(),
		JobLimit: w.JobLimit, LastHeartbeat: tptr(w.LastHeartbeat), Version: w.Version}
}

func userJSON(u lab.User) wire.User {
	return wire.User{ID: u.ID, Username: u.Username, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
		IsSuperuser: u.IsSuperuser, IsActive: u.IsActive, Groups: nonNil(u.Groups), DateJoined: u.DateJoined.UTC()}
}

func tokenJSON(t lab.Token) wire.Token {
	return wire.Token{ID: t.ID, Owner: t.Owner, Description: t.Description, Created: t.Created.UTC(),
		LastUsed: tptr(t.LastUsed), Expires: tptr(t.Expires)}
}

// queueJSON shows the explanation e of job j.
func queueJSON(j lab.Job, e scheduler.Explanation) wire.Queue {
	out := wire.Queue{Job: j.ID, State: j.State.String(), Verdict: string(e.Verdict), Summary: e.Summary, Device: e.Device,
		Reasons: make([]wire.QueueReason, 0, len(e.Reasons)), Devices: make([]wire.QueueDevice, 0, len(e.Devices)),
		JobsAhead: e.Ahead, JobsAheadHigherPriority: e.AheadHigher, ExpiresAt: tptr(e.ExpiresAt)}
	for _, r := range e.Reasons {
		out.Reasons = append(out.Reasons, wire.QueueReason{Code: string(r.Code), Detail: r.Detail})
	}
	for _, d := range e.Devices {
		out.Devices = append(out.Devices, wire.QueueDevice{Hostname: d.Device, Worker: d.Worker, Code: string(d.Code),
			Detail: d.Detail, Job: d.Job, Group: d.Group, Since: tptr(d.Since), MissingTags: nonNil(d.MissingTags),
			ReservedBy: d.Holder, ReservedUntil: tptr(d.Until)})
	}
	if g := e.Group; g != nil {
		out.Group = &wire.QueueGroup{Name: g.Name, Role: g.Role, Size: g.Size, Queued: nonNilIDs(g.Queued),
			Roles: make([]wire.QueueRole, 0, len(g.Roles)), Held: nonNil(g.Held), WaitsFor: nonNil(g.Waits)}
		for _, r := range g.Roles {
			out.Group.Roles = append(out.Group.Roles, wire.QueueRole{Role: r.Role, Jobs: nonNilIDs(r.Jobs), Placeable: r.Placeable,
				Detail: r.Detail})
		}
	}
	return out
}

func nonNilIDs(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}
