package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// historyLimit is how many transitions device and worker pages show.
const historyLimit = 50

func (u *UI) devices(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := u.labState(r.Context(), p, store.DeviceFilter{DeviceType: r.URL.Query().Get("device_type")})
	if err != nil {
		return err
	}
	u.show(w, r, p, "devices", "Devices", "devices", d)
	return nil
}

type deviceData struct {
	Device  deviceRow
	History []lab.DeviceTransition
	Jobs    []lab.Job
	Admin   bool // the caller may set the health (actions.go)
	// Dict is the device dictionary, numbered by line; it is filled only
	// for superusers (app.DeviceDictionary refuses everyone else).
	Dict []dictLine
	// Console is the web console of the reservation running on the
	// device, when the caller may see it (console.go); nil otherwise.
	Console *consoleView
	// Reservations lists the device's queued and current reservations,
	// with the reservation forms (reservations.go).
	Reservations reservationForms
}

// dictLine is one line of a device dictionary, N counting from 1.
type dictLine struct {
	N    int
	Text string
}

// numberLines splits text into numbered lines; a final newline does not
// start another line, and empty text has no lines.
func numberLines(text string) []dictLine {
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil
	}
	var out []dictLine
	for i, l := range strings.Split(text, "\n") {
		out = append(out, dictLine{N: i + 1, Text: strings.TrimSuffix(l, "\r")})
	}
	return out
}

func (u *UI) device(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	dev, err := u.app.GetDevice(ctx, p, r.PathValue("hostname"))
	if err != nil {
		return err
	}
	var wk *lab.Worker
	if dev.Worker != "" {
		if w, err := u.app.GetWorker(ctx, dev.Worker); err == nil {
			wk = &w
		}
	}
	d := deviceData{Device: newDeviceRow(dev, wk), Admin: auth.IsAdmin(p)}
	if d.Admin {
		dict, err := u.app.DeviceDictionary(ctx, p, dev.Hostname)
		if err != nil {
			return fmt.Errorf("device %s: %w", dev.Hostname, err)
		}
		d.Dict = numberLines(dict)
	}
	if err := u.deviceReservation(ctx, p, &d); err != nil {
		return err
	}
	if d.Reservations, err = u.deviceReservations(ctx, p, dev); err != nil {
		return err
	}
	if d.History, err = u.app.DeviceHistory(ctx, p, dev.Hostname, historyLimit); err != nil {
		return fmt.Errorf("device %s: %w", dev.Hostname, err)
	}
	if d.Jobs, _, err = u.app.ListJobs(ctx, p, store.JobFilter{Device: dev.Hostname, Limit: 20}); err != nil {
		return fmt.Errorf("device %s: %w", dev.Hostname, err)
	}
	u.show(w, r, p, "device", "Device "+dev.Hostname, "devices", d)
	return nil
}

func (u *UI) workers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := u.labState(r.Context(), p, store.DeviceFilter{})
	if err != nil {
		return err
	}
	u.show(w, r, p, "workers", "Workers", "workers", d)
	return nil
}

type workerData struct {
	Worker  workerRow
	Devices []lab.Device
	History []lab.WorkerTransition
	Admin   bool // the caller may put the worker in maintenance (actions.go)
}

func (u *UI) worker(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	wk, err := u.app.GetWorker(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	d := workerData{Worker: workerRow{Worker: wk}, Admin: auth.IsAdmin(p)}
	if !wk.LastHeartbeat.IsZero() {
		d.Worker.Silence = u.now().Sub(wk.LastHeartbeat)
	}
	if d.Devices, err = u.app.ListDevices(ctx, p, store.DeviceFilter{Worker: wk.Name}); err != nil {
		return fmt.Errorf("worker %s: %w", wk.Name, err)
	}
	for _, dev := range d.Devices {
		d.Worker.Devices++
		if dev.State != lab.DeviceIdle {
			d.Worker.Busy++
		}
	}
	if d.History, err = u.app.WorkerHistory(ctx, wk.Name, historyLimit); err != nil {
		return fmt.Errorf("worker %s: %w", wk.Name, err)
	}
	u.show(w, r, p, "worker", "Worker "+wk.Name, "workers", d)
	return nil
}
