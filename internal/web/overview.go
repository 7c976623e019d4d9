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

// deviceRow is one device with its current job, if the caller may see it.
type deviceRow struct {
	lab.Device
	// JobVisible says CurrentJob may be linked (the caller can see it).
	JobVisible bool
	// WorkerOnline is false when the device's worker is Offline or absent.
	WorkerOnline bool
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

// offline says whether a device counts as offline on the overview: health
// Bad or Maintenance, or its worker Offline or missing.
func offline(d lab.Device, workerOnline bool) bool {
	return d.Health == lab.DeviceBad || d.Health == lab.DeviceMaintenance || !workerOnline
}

// labState gathers device types, the devices f selects and all workers.
func (u *UI) labState(ctx context.Context, p auth.Principal, f store.DeviceFilter) (overviewData, error) {
	var out overviewData
	types, err := u.app.ListDeviceTypes(ctx)
	if err != nil {
		return out, fmt.Errorf("overview: %w", err)
	}
	devices, err := u.app.ListDevices(ctx, f)
	if err != nil {
		return out, fmt.Errorf("overview: %w", err)
	}
	workers, err := u.app.ListWorkers(ctx)
	if err != nil {
		return out, fmt.Errorf("overview: %w", err)
	}
	online := map[string]bool{}
	wi := map[string]int{}
	now := u.now()
	for i, wk := range workers {
		online[wk.Name] = wk.State == lab.WorkerOnline
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
	for _, d := range devices {
		row := deviceRow{Device: d, WorkerOnline: d.Worker != "" && online[d.Worker]}
		if d.CurrentJob != 0 {
			_, err := u.app.GetJob(ctx, p, d.CurrentJob)
			row.JobVisible = err == nil
		}
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
		case offline(d, row.WorkerOnline):
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
