package rest

import (
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/lab"
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
	return out
}

func deviceJSON(d lab.Device) wire.Device {
	return wire.Device{Hostname: d.Hostname, DeviceType: d.DeviceType, Worker: d.Worker, Description: d.Description,
		Tags: nonNil(d.Tags), State: d.State.String(), Health: strings.ToUpper(d.Health.String()),
		Status: lab.SimpleDeviceStatus(d.State, d.Health), CurrentJob: d.CurrentJob, LastHealthReportJob: d.LastHealthReportJob}
}

func deviceTypeJSON(dt lab.DeviceType) wire.DeviceType {
	return wire.DeviceType{Name: dt.Name, Description: dt.Description, HealthFrequency: dt.HealthFrequency,
		HealthDenominator: dt.HealthDenominator.String(), DisableHealthCheck: dt.DisableHealthCheck,
		HasHealthCheck: dt.HealthCheck != "", Display: !dt.Hidden}
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
