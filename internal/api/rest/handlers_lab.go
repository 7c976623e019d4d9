package rest

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

var zeroTime time.Time

func listOf[T, J any](items []T, conv func(T) J) wire.List[J] {
	out := wire.List[J]{Count: len(items), Limit: len(items), Results: make([]J, 0, len(items))}
	for _, it := range items {
		out.Results = append(out.Results, conv(it))
	}
	return out
}

// --- devices

func (api *API) listDevices(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	f := store.DeviceFilter{DeviceType: q.Get("device_type"), Worker: q.Get("worker")}
	for _, s := range splitList(q.Get("health")) {
		h, err := lab.ParseDeviceHealth(s)
		if err != nil {
			return err
		}
		f.Health = append(f.Health, h)
	}
	for _, s := range splitList(q.Get("state")) {
		st, err := lab.ParseDeviceState(s)
		if err != nil {
			return err
		}
		f.State = append(f.State, st)
	}
	devs, err := api.app.ListDevices(r.Context(), p, f)
	if err != nil {
		return err
	}
	workers, err := api.app.ListWorkers(r.Context())
	if err != nil {
		return err
	}
	byName := make(map[string]*lab.Worker, len(workers))
	for i := range workers {
		byName[workers[i].Name] = &workers[i]
	}
	held, err := api.app.HeldDevices(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(devs, func(d lab.Device) wire.Device {
		var res *lab.Job
		if j, ok := held[d.Hostname]; ok {
			res = &j
		}
		return deviceJSON(d, byName[d.Worker], res)
	}))
	return nil
}

// writeDevice answers with device d and the status its worker gives it.
func (api *API) writeDevice(w http.ResponseWriter, r *http.Request, p auth.Principal, status int, d lab.Device) error {
	var wk *lab.Worker
	if d.Worker != "" {
		found, err := api.app.GetWorker(r.Context(), d.Worker)
		switch {
		case err == nil:
			wk = &found
		case !errors.Is(err, lab.ErrNotFound):
			return err
		}
	}
	var res *lab.Job
	if d.CurrentJob != 0 {
		// A device's current job is visible to the reader here (the app
		// hides the others): a reservation says who holds the device.
		if j, err := api.app.GetJob(r.Context(), p, d.CurrentJob); err == nil && j.Reservation != nil {
			res = &j
		}
	}
	writeJSON(w, status, deviceJSON(d, wk, res))
	return nil
}

func (api *API) createDevice(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.DeviceInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	d := lab.Device{Hostname: in.Hostname, Health: lab.DeviceMaintenance}
	applyDevice(&d, in)
	if in.Health != nil {
		h, err := lab.ParseDeviceHealth(*in.Health)
		if err != nil {
			return err
		}
		d.Health = h
	}
	if err := api.app.CreateDevice(r.Context(), p, d, "created"); err != nil {
		return err
	}
	d, err := api.app.GetDevice(r.Context(), p, d.Hostname)
	if err != nil {
		return err
	}
	return api.writeDevice(w, r, p, http.StatusCreated, d)
}

func applyDevice(d *lab.Device, in wire.DeviceInput) {
	if in.DeviceType != nil {
		d.DeviceType = *in.DeviceType
	}
	if in.Worker != nil {
		d.Worker = *in.Worker
	}
	if in.Description != nil {
		d.Description = *in.Description
	}
	if in.Tags != nil {
		d.Tags = *in.Tags
	}
	if in.Dictionary != nil {
		d.Dictionary = *in.Dictionary
	}
}

func (api *API) getDevice(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := api.app.GetDevice(r.Context(), p, r.PathValue("hostname"))
	if err != nil {
		return err
	}
	return api.writeDevice(w, r, p, http.StatusOK, d)
}

func (api *API) updateDevice(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.DeviceInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Health != nil {
		return invalidf("change health with POST %s/devices/{hostname}/health, which records a reason", wire.Prefix)
	}
	d, err := api.app.UpdateDeviceWith(r.Context(), p, r.PathValue("hostname"), func(d *lab.Device) error {
		applyDevice(d, in)
		return nil
	})
	if err != nil {
		return err
	}
	return api.writeDevice(w, r, p, http.StatusOK, d)
}

func (api *API) setDeviceHealth(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.HealthInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	h, err := lab.ParseDeviceHealth(in.Health)
	if err != nil {
		return err
	}
	if _, err := api.app.SetDeviceHealth(r.Context(), p, r.PathValue("hostname"), h, in.Reason); err != nil {
		return err
	}
	d, err := api.app.GetDevice(r.Context(), p, r.PathValue("hostname"))
	if err != nil {
		return err
	}
	return api.writeDevice(w, r, p, http.StatusOK, d)
}

func (api *API) getDictionary(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	dict, err := api.app.DeviceDictionary(r.Context(), p, r.PathValue("hostname"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.Dictionary{Dictionary: dict})
	return nil
}

func (api *API) putDictionary(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.Dictionary
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if err := api.app.SetDeviceDictionary(r.Context(), p, r.PathValue("hostname"), in.Dictionary); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

func (api *API) deviceHistory(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit, err := httpparam.QueryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	trs, err := api.app.DeviceHistory(r.Context(), p, r.PathValue("hostname"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(trs, func(t lab.DeviceTransition) wire.DeviceTransition {
		return wire.DeviceTransition{Time: t.Time.UTC(), Actor: t.Actor, Reason: t.Reason,
			OldHealth: strings.ToUpper(t.OldHealth.String()), NewHealth: strings.ToUpper(t.NewHealth.String()), Job: t.Job}
	}))
	return nil
}

// --- device types

func (api *API) listDeviceTypes(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	dts, err := api.app.ListDeviceTypes(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(dts, deviceTypeJSON))
	return nil
}

func applyDeviceType(dt *lab.DeviceType, in wire.DeviceTypeInput) error {
	if in.Description != nil {
		dt.Description = *in.Description
	}
	if in.HealthFrequency != nil {
		dt.HealthFrequency = *in.HealthFrequency
	}
	if in.HealthDenominator != nil {
		d, err := lab.ParseHealthDenominator(*in.HealthDenominator)
		if err != nil {
			return err
		}
		dt.HealthDenominator = d
	}
	if in.DisableHealthCheck != nil {
		dt.DisableHealthCheck = *in.DisableHealthCheck
	}
	if in.Display != nil {
		dt.Hidden = !*in.Display
	}
	if in.HealthCheckAfterReservation != nil {
		dt.NoHealthCheckAfterReservation = !*in.HealthCheckAfterReservation
	}
	return nil
}

func (api *API) createDeviceType(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.DeviceTypeInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	dt := lab.DeviceType{Name: in.Name}
	if err := applyDeviceType(&dt, in); err != nil {
		return err
	}
	if err := api.app.CreateDeviceType(r.Context(), p, dt); err != nil {
		return err
	}
	dt, err := api.app.GetDeviceType(r.Context(), dt.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, deviceTypeJSON(dt))
	return nil
}

func (api *API) getDeviceType(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	dt, err := api.app.GetDeviceType(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, deviceTypeJSON(dt))
	return nil
}

func (api *API) updateDeviceType(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.DeviceTypeInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Name != "" && in.Name != r.PathValue("name") {
		return invalidf("device types cannot be renamed")
	}
	dt, err := api.app.UpdateDeviceTypeWith(r.Context(), p, r.PathValue("name"), func(dt *lab.DeviceType) error {
		return applyDeviceType(dt, in)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, deviceTypeJSON(dt))
	return nil
}

func (api *API) deleteDeviceType(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := api.app.DeleteDeviceType(r.Context(), p, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (api *API) getHealthCheck(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	dt, err := api.app.GetDeviceType(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.DefinitionInput{Definition: dt.HealthCheck})
	return nil
}

func (api *API) putHealthCheck(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.DefinitionInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if err := api.app.SetHealthCheck(r.Context(), p, r.PathValue("name"), in.Definition); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

// --- aliases and tags

func (api *API) listAliases(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	as, err := api.app.ListAliases(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(as, func(a lab.Alias) wire.Alias { return wire.Alias(a) }))
	return nil
}

func (api *API) createAlias(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.Alias
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if err := api.app.CreateAlias(r.Context(), p, lab.Alias{Name: in.Name, DeviceType: in.DeviceType}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, in)
	return nil
}

func (api *API) deleteAlias(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := api.app.DeleteAlias(r.Context(), p, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func tagJSON(t lab.Tag) wire.Tag { return wire.Tag(t) }

func (api *API) listTags(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ts, err := api.app.ListTags(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(ts, tagJSON))
	return nil
}

func (api *API) createTag(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.Tag
	if err := readJSON(r, &in); err != nil {
		return err
	}
	t := lab.Tag(in)
	if err := api.app.CreateTag(r.Context(), p, t); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tagJSON(t))
	return nil
}

func (api *API) getTag(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	t, err := api.app.GetTag(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tagJSON(t))
	return nil
}

func (api *API) deleteTag(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := api.app.DeleteTag(r.Context(), p, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// --- workers

func (api *API) listWorkers(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ws, err := api.app.ListWorkers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(ws, workerJSON))
	return nil
}

func (api *API) createWorker(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.WorkerInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	wk := lab.Worker{Name: in.Name}
	if in.Description != nil {
		wk.Description = *in.Description
	}
	if in.JobLimit != nil {
		wk.JobLimit = *in.JobLimit
	}
	if in.Health != nil {
		return invalidf("a new worker is Active; change its health afterwards")
	}
	secret, err := api.app.CreateWorker(r.Context(), p, wk)
	if err != nil {
		return err
	}
	wk, err = api.app.GetWorker(r.Context(), wk.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.NewWorker{Worker: workerJSON(wk), Token: secret})
	return nil
}

func (api *API) getWorker(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	wk, err := api.app.GetWorker(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workerJSON(wk))
	return nil
}

func (api *API) updateWorker(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.WorkerInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Name != "" && in.Name != r.PathValue("name") {
		return invalidf("workers cannot be renamed")
	}
	u := app.WorkerUpdate{Description: in.Description, JobLimit: in.JobLimit, Reason: in.Reason}
	if in.Health != nil {
		h, err := lab.ParseWorkerHealth(*in.Health)
		if err != nil {
			return err
		}
		u.Health = &h
	}
	wk, err := api.app.UpdateWorker(r.Context(), p, r.PathValue("name"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workerJSON(wk))
	return nil
}

func (api *API) rotateWorkerToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	secret, err := api.app.RotateWorkerToken(r.Context(), p, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.WorkerToken{Token: secret})
	return nil
}

func (api *API) workerHistory(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	limit, err := httpparam.QueryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	trs, err := api.app.WorkerHistory(r.Context(), r.PathValue("name"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(trs, func(t lab.WorkerTransition) wire.WorkerTransition {
		return wire.WorkerTransition{Time: t.Time.UTC(), Actor: t.Actor, Reason: t.Reason,
			OldState: t.OldState.String(), NewState: t.NewState.String(),
			OldHealth: t.OldHealth.String(), NewHealth: t.NewHealth.String()}
	}))
	return nil
}

func (api *API) heartbeat(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.HeartbeatInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	wk, err := api.app.Heartbeat(r.Context(), p, r.PathValue("name"), in.Version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workerJSON(wk))
	return nil
}
