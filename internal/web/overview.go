package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// typeRow is one device type on the overview.
type typeRow struct {
	Name                string
	Idle, Busy, Offline int
	Retired             int
	Queued              int // visible Submitted jobs requesting the type
}

// deviceRow is one device as the caller may see it: CurrentJob is 0 when
// the device runs a job the caller may not see (app.ListDevices), which
// the pages call "a private job" (lab.Device.BusyWithPrivateJob).
type deviceRow struct {
	lab.Device
	// WorkerOnline is false when the device's worker is Offline or absent.
	WorkerOnline bool
	// Status is LAVA's one-word summary given the device's worker, and
	// StatusDetail why a device that would be idle is offline
	// (lab.SimpleDeviceStatus).
	Status, StatusDetail string
	// Reserved is the reservation holding the device, when it is busy
	// with one the caller may see (console.go); nil otherwise.
	Reserved *reservationView
}

// newDeviceRow is the row of device d, whose worker is w (nil: none or
// unknown).
func newDeviceRow(d lab.Device, w *lab.Worker) deviceRow {
	row := deviceRow{Device: d, WorkerOnline: w != nil && w.State == lab.WorkerOnline}
	row.Status, row.StatusDetail = lab.SimpleDeviceStatus(d, w)
	return row
}

// workerRow is one worker with its load.
type workerRow struct {
	lab.Worker
	Busy, Devices int
	Silence       time.Duration // since the last heartbeat (0: never seen)
}

type overviewData struct {
	Types   []typeRow
	Devices []deviceRow
	Workers []workerRow
}

func (u *UI) overview(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := u.labState(r.Context(), p, store.DeviceFilter{})
	if err != nil {
		return err
	}
	u.show(w, r, p, "overview", "Lab overview", "overview", d)
	return nil
}

// labState gathers device types, the devices f selects and all workers.
func (u *UI) labState(ctx context.Context, p auth.Principal, f store.DeviceFilter) (overviewData, error) {
	var out overviewData
	types, err := u.app.ListDeviceTypes(ctx)
	if err != nil {
		return out, fmt.Errorf("overview: %w", err)
	}
	devices, err := u.app.ListDevices(ctx, p, f)
	if err != nil {
		return out, fmt.Errorf("overview: %w", err)
	}
	workers, err := u.app.ListWorkers(ctx)
	if err != nil {
		return out, fmt.Errorf("overview: %w", err)
	}
	byName := map[string]*lab.Worker{}
	wi := map[string]int{}
	now := u.now()
	for i, wk := range workers {
		byName[wk.Name] = &workers[i]
		wi[wk.Name] = i
		row := workerRow{Worker: wk}
		if !wk.LastHeartbeat.IsZero() {
			row.Silence = now.Sub(wk.LastHeartbeat)
		}
		out.Workers = append(out.Workers, row)
	}
	ti := map[string]int{}
	for _, dt := range types {
		if dt.Hidden {
			continue
		}
		ti[dt.Name] = len(out.Types)
		out.Types = append(out.Types, typeRow{Name: dt.Name})
	}
	held, err := u.heldDevices(ctx, p, devices)
	if err != nil {
		return out, fmt.Errorf("overview: %w", err)
	}
	for _, d := range devices {
		row := newDeviceRow(d, byName[d.Worker])
		row.Reserved = held[d.Hostname]
		out.Devices = append(out.Devices, row)
		if i, ok := wi[d.Worker]; ok && d.Worker != "" {
			out.Workers[i].Devices++
			if d.State != lab.DeviceIdle {
				out.Workers[i].Busy++
			}
		}
		i, ok := ti[d.DeviceType]
		if !ok {
			continue
		}
		t := &out.Types[i]
		switch {
		case d.Health == lab.DeviceRetired:
			t.Retired++
		case d.State != lab.DeviceIdle:
			t.Busy++
		case row.Status != "idle": // Bad, Maintenance, Looping, or a worker that cannot run jobs
			t.Offline++
		default:
			t.Idle++
		}
	}
	for i := range out.Types {
		_, n, err := u.app.ListJobs(ctx, p, store.JobFilter{States: []lab.JobState{lab.JobSubmitted}, DeviceType: out.Types[i].Name, Limit: 1})
		if err != nil {
			return out, fmt.Errorf("overview: queue of %s: %w", out.Types[i].Name, err)
		}
		out.Types[i].Queued = n
	}
	return out, nil
}
