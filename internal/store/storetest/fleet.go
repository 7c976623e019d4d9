package storetest

import (
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Workers and devices.

func testWorkerCRUD(f *fx) {
	w1 := lab.Worker{Name: "w1", Description: "rack 1", State: lab.WorkerOnline, Health: lab.WorkerMaintenance,
		JobLimit: 3, LastHeartbeat: base, Version: "2026.1"}
	w0 := lab.Worker{Name: "w0", State: lab.WorkerOffline, Health: lab.WorkerActive}
	f.ok(f.s.CreateWorker(f.ctx, w1), "create w1")
	f.ok(f.s.CreateWorker(f.ctx, w0), "create w0")
	f.is(f.s.CreateWorker(f.ctx, lab.Worker{Name: "w1"}), lab.ErrConflict, "duplicate")
	f.is(f.s.CreateWorker(f.ctx, lab.Worker{}), lab.ErrInvalid, "empty name")
	f.is(f.s.CreateWorker(f.ctx, lab.Worker{Name: "x", State: 9}), lab.ErrInvalid, "bad state")
	f.is(f.s.CreateWorker(f.ctx, lab.Worker{Name: "x", Health: 9}), lab.ErrInvalid, "bad health")
	f.is(f.s.CreateWorker(f.ctx, lab.Worker{Name: "x", JobLimit: -1}), lab.ErrInvalid, "negative job limit")

	want1 := w1
	want1.LastHeartbeat = stored(base)
	got, err := f.s.GetWorker(f.ctx, "w1")
	f.ok(err, "get w1")
	f.eq(want1, got, "w1 round trip")
	_, err = f.s.GetWorker(f.ctx, "nope")
	f.is(err, lab.ErrNotFound, "get missing")

	list, err := f.s.ListWorkers(f.ctx)
	f.ok(err, "list")
	f.eq([]lab.Worker{w0, want1}, list, "workers by name")

	// UpdateWorker changes description and job limit only.
	f.ok(f.s.UpdateWorker(f.ctx, lab.Worker{Name: "w1", Description: "rack 2", JobLimit: 0,
		State: lab.WorkerOffline, Health: lab.WorkerRetired, Version: "x"}), "update")
	want1.Description, want1.JobLimit = "rack 2", 0
	got, err = f.s.GetWorker(f.ctx, "w1")
	f.ok(err, "get after update")
	f.eq(want1, got, "w1 after update")
	f.is(f.s.UpdateWorker(f.ctx, lab.Worker{Name: "nope"}), lab.ErrNotFound, "update missing")
	f.is(f.s.UpdateWorker(f.ctx, lab.Worker{Name: "w1", JobLimit: -2}), lab.ErrInvalid, "update negative limit")
}

func testWorkerStatus(f *fx) {
	f.ok(f.s.CreateWorker(f.ctx, lab.Worker{Name: "w1", State: lab.WorkerOffline, Health: lab.WorkerActive}), "create")
	lo := time.Now()
	tr, err := f.s.SetWorkerStatus(f.ctx, "w1", lab.WorkerOnline, lab.WorkerActive, "scheduler", "heartbeat")
	hi := time.Now()
	f.ok(err, "go online")
	f.between(tr.Time, lo, hi, "transition time")
	if tr.ID == 0 {
		f.t.Error("transition has no ID")
	}
	first := lab.WorkerTransition{ID: tr.ID, Worker: "w1", Time: tr.Time, Actor: "scheduler", Reason: "heartbeat",
		OldState: lab.WorkerOffline, NewState: lab.WorkerOnline, OldHealth: lab.WorkerActive, NewHealth: lab.WorkerActive}
	f.eq(first, tr, "first transition")

	// Unchanged: nothing recorded.
	tr, err = f.s.SetWorkerStatus(f.ctx, "w1", lab.WorkerOnline, lab.WorkerActive, "scheduler", "again")
	f.ok(err, "unchanged")
	f.eq(lab.WorkerTransition{}, tr, "unchanged status transition")

	second, err := f.s.SetWorkerStatus(f.ctx, "w1", lab.WorkerOnline, lab.WorkerMaintenance, "admin", "repairs")
	f.ok(err, "maintenance")
	w, err := f.s.GetWorker(f.ctx, "w1")
	f.ok(err, "get")
	if w.State != lab.WorkerOnline || w.Health != lab.WorkerMaintenance {
		f.t.Errorf("worker is %s/%s, want Online/Maintenance", w.State, w.Health)
	}

	hist, err := f.s.WorkerHistory(f.ctx, "w1", 0)
	f.ok(err, "history")
	f.eq([]lab.WorkerTransition{second, first}, hist, "history newest first")
	hist, err = f.s.WorkerHistory(f.ctx, "w1", 1)
	f.ok(err, "history limit 1")
	f.eq([]lab.WorkerTransition{second}, hist, "history limit 1")

	_, err = f.s.SetWorkerStatus(f.ctx, "nope", lab.WorkerOnline, lab.WorkerActive, "a", "b")
	f.is(err, lab.ErrNotFound, "status of missing worker")
	_, err = f.s.SetWorkerStatus(f.ctx, "w1", 5, lab.WorkerActive, "a", "b")
	f.is(err, lab.ErrInvalid, "bad state")
	_, err = f.s.WorkerHistory(f.ctx, "nope", 0)
	f.is(err, lab.ErrNotFound, "history of missing worker")
}

func testWorkerTouch(f *fx) {
	f.worker("w1")
	at := base.Add(time.Hour)
	f.ok(f.s.TouchWorker(f.ctx, "w1", at, "2026.2"), "touch")
	w, err := f.s.GetWorker(f.ctx, "w1")
	f.ok(err, "get")
	f.eq(stored(at), w.LastHeartbeat, "last heartbeat")
	f.eq("2026.2", w.Version, "version")
	f.is(f.s.TouchWorker(f.ctx, "nope", at, "x"), lab.ErrNotFound, "touch missing")
	hist, err := f.s.WorkerHistory(f.ctx, "w1", 0)
	f.ok(err, "history")
	if len(hist) != 0 {
		f.t.Errorf("a heartbeat recorded transitions: %v", hist)
	}
}

func testDeviceCRUD(f *fx) {
	f.deviceType("qemu")
	f.deviceType("bbb")
	f.worker("w1")
	f.worker("w2")
	for _, t := range []string{"usb", "arm", "fast"} {
		f.tag(t)
	}
	d := lab.Device{Hostname: "qemu-01", DeviceType: "qemu", Worker: "w1", Description: "first",
		Tags: []string{"usb", "arm", "usb"}, Health: lab.DeviceMaintenance, Dictionary: "{% extends 'qemu.jinja2' %}",
		// Job-derived fields are not taken from the caller.
		State: lab.DeviceRunning, CurrentJob: 42, LastHealthReportJob: 41}
	f.ok(f.s.CreateDevice(f.ctx, d), "create")
	want := lab.Device{Hostname: "qemu-01", DeviceType: "qemu", Worker: "w1", Description: "first",
		Tags: []string{"arm", "usb"}, State: lab.DeviceIdle, Health: lab.DeviceMaintenance, Dictionary: d.Dictionary}
	f.eq(want, f.getDevice("qemu-01"), "created device")

	// No worker, no tags.
	f.ok(f.s.CreateDevice(f.ctx, lab.Device{Hostname: "bbb-01", DeviceType: "bbb", Health: lab.DeviceGood}), "create bare")
	bare := lab.Device{Hostname: "bbb-01", DeviceType: "bbb", Health: lab.DeviceGood}
	f.eq(bare, f.getDevice("bbb-01"), "bare device")

	// UpdateDevice changes description, type, worker, tags and dictionary,
	// never state, health or current job.
	upd := lab.Device{Hostname: "qemu-01", DeviceType: "bbb", Worker: "w2", Description: "moved", Tags: []string{"fast"},
		Dictionary: "new", Health: lab.DeviceGood, State: lab.DeviceReserved, CurrentJob: 7}
	f.ok(f.s.UpdateDevice(f.ctx, upd), "update")
	want = lab.Device{Hostname: "qemu-01", DeviceType: "bbb", Worker: "w2", Description: "moved", Tags: []string{"fast"},
		State: lab.DeviceIdle, Health: lab.DeviceMaintenance, Dictionary: "new"}
	f.eq(want, f.getDevice("qemu-01"), "updated device")
	upd = want
	upd.Worker, upd.Tags = "", nil
	f.ok(f.s.UpdateDevice(f.ctx, upd), "detach worker and tags")
	want.Worker, want.Tags = "", nil
	f.eq(want, f.getDevice("qemu-01"), "detached device")

	list, err := f.s.ListDevices(f.ctx, allDevices)
	f.ok(err, "list")
	f.eq([]lab.Device{bare, want}, list, "devices by hostname")
}

func testDeviceErrors(f *fx) {
	f.deviceType("qemu")
	f.worker("w1")
	f.tag("usb")
	f.device("qemu-01", "qemu")
	good := lab.Device{Hostname: "qemu-02", DeviceType: "qemu", Worker: "w1", Tags: []string{"usb"}}
	with := func(change func(d *lab.Device)) lab.Device {
		d := good
		change(&d)
		return d
	}
	cases := []struct {
		name string
		d    lab.Device
		want error
	}{
		{"duplicate", with(func(d *lab.Device) { d.Hostname = "qemu-01" }), lab.ErrConflict},
		{"empty hostname", with(func(d *lab.Device) { d.Hostname = "" }), lab.ErrInvalid},
		{"missing type", with(func(d *lab.Device) { d.DeviceType = "nope" }), lab.ErrInvalid},
		{"missing worker", with(func(d *lab.Device) { d.Worker = "nope" }), lab.ErrInvalid},
		{"missing tag", with(func(d *lab.Device) { d.Tags = []string{"usb", "nope"} }), lab.ErrInvalid},
		{"bad health", with(func(d *lab.Device) { d.Health = 17 }), lab.ErrInvalid},
	}
	for _, c := range cases {
		f.is(f.s.CreateDevice(f.ctx, c.d), c.want, "create: "+c.name)
	}
	_, err := f.s.GetDevice(f.ctx, "qemu-02")
	f.is(err, lab.ErrNotFound, "no device created by failed creates")

	upd := []struct {
		name string
		d    lab.Device
		want error
	}{
		{"missing device", with(func(d *lab.Device) { d.Hostname = "nope" }), lab.ErrNotFound},
		{"missing type", with(func(d *lab.Device) { d.Hostname, d.DeviceType = "qemu-01", "nope" }), lab.ErrInvalid},
		{"missing worker", with(func(d *lab.Device) { d.Hostname, d.Worker = "qemu-01", "nope" }), lab.ErrInvalid},
		{"missing tag", with(func(d *lab.Device) { d.Hostname, d.Tags = "qemu-01", []string{"nope"} }), lab.ErrInvalid},
	}
	for _, c := range upd {
		f.is(f.s.UpdateDevice(f.ctx, c.d), c.want, "update: "+c.name)
	}
	f.eq(lab.Device{Hostname: "qemu-01", DeviceType: "qemu", Health: lab.DeviceGood}, f.getDevice("qemu-01"),
		"device unchanged by failed updates")
}

func testDeviceList(f *fx) {
	f.deviceType("qemu")
	f.deviceType("bbb")
	f.worker("w1")
	f.worker("w2")
	f.tag("usb")
	mk := func(host, dt, worker string, h lab.DeviceHealth, tags ...string) {
		f.ok(f.s.CreateDevice(f.ctx, lab.Device{Hostname: host, DeviceType: dt, Worker: worker, Health: h, Tags: tags}), "create "+host)
	}
	mk("a", "qemu", "w1", lab.DeviceGood, "usb")
	mk("b", "qemu", "w2", lab.DeviceBad)
	mk("c", "bbb", "w1", lab.DeviceUnknown)
	mk("d", "bbb", "", lab.DeviceRetired, "usb")
	id := f.job(lab.Job{RequestedType: "qemu"})
	f.assign(id, "a")

	cases := []struct {
		name   string
		filter store.DeviceFilter
		want   []string
	}{
		{"all", store.DeviceFilter{}, []string{"a", "b", "c", "d"}},
		{"type", store.DeviceFilter{DeviceType: "bbb"}, []string{"c", "d"}},
		{"worker", store.DeviceFilter{Worker: "w1"}, []string{"a", "c"}},
		{"health", store.DeviceFilter{Health: []lab.DeviceHealth{lab.DeviceGood, lab.DeviceUnknown}}, []string{"a", "c"}},
		{"state", store.DeviceFilter{State: []lab.DeviceState{lab.DeviceReserved}}, []string{"a"}},
		{"idle", store.DeviceFilter{State: []lab.DeviceState{lab.DeviceIdle}}, []string{"b", "c", "d"}},
		{"combined", store.DeviceFilter{DeviceType: "qemu", Worker: "w1", Health: []lab.DeviceHealth{lab.DeviceGood}}, []string{"a"}},
		{"none", store.DeviceFilter{DeviceType: "qemu", Worker: "nope"}, nil},
	}
	for _, c := range cases {
		list, err := f.s.ListDevices(f.ctx, c.filter)
		f.ok(err, c.name)
		var got []string
		for _, d := range list {
			got = append(got, d.Hostname)
		}
		f.eq(c.want, got, "filter "+c.name)
	}
	list, err := f.s.ListDevices(f.ctx, store.DeviceFilter{Worker: "w1"})
	f.ok(err, "list w1")
	f.eq([]string{"usb"}, list[0].Tags, "tags in list")
	f.eq([]string(nil), list[1].Tags, "no tags in list")
	f.eq(id, list[0].CurrentJob, "current job in list")
}

func testDeviceHealth(f *fx) {
	f.deviceType("qemu")
	f.device("qemu-01", "qemu")
	job := f.job(lab.Job{RequestedType: "qemu"})
	f.assign(job, "qemu-01")

	lo := time.Now()
	tr, err := f.s.SetDeviceHealth(f.ctx, "qemu-01", lab.DeviceBad, "admin", "broken", job)
	hi := time.Now()
	f.ok(err, "to Bad")
	f.between(tr.Time, lo, hi, "transition time")
	first := lab.DeviceTransition{ID: tr.ID, Device: "qemu-01", Time: tr.Time, Actor: "admin", Reason: "broken",
		OldHealth: lab.DeviceGood, NewHealth: lab.DeviceBad, OldState: lab.DeviceReserved, NewState: lab.DeviceReserved, Job: job}
	f.eq(first, tr, "first transition")
	d := f.getDevice("qemu-01")
	if d.Health != lab.DeviceBad || d.State != lab.DeviceReserved || d.CurrentJob != job {
		f.t.Errorf("device after health change: %+v", d)
	}

	tr, err = f.s.SetDeviceHealth(f.ctx, "qemu-01", lab.DeviceBad, "admin", "still broken", 0)
	f.ok(err, "unchanged")
	f.eq(lab.DeviceTransition{}, tr, "unchanged health transition")

	second, err := f.s.SetDeviceHealth(f.ctx, "qemu-01", lab.DeviceUnknown, "bob", "fixed", 0)
	f.ok(err, "to Unknown")
	if second.Job != 0 || second.OldHealth != lab.DeviceBad || second.NewHealth != lab.DeviceUnknown {
		f.t.Errorf("second transition: %+v", second)
	}
	hist, err := f.s.DeviceHistory(f.ctx, "qemu-01", 0)
	f.ok(err, "history")
	f.eq([]lab.DeviceTransition{second, first}, hist, "history newest first")
	hist, err = f.s.DeviceHistory(f.ctx, "qemu-01", 1)
	f.ok(err, "history limit 1")
	f.eq([]lab.DeviceTransition{second}, hist, "history limit 1")

	_, err = f.s.SetDeviceHealth(f.ctx, "nope", lab.DeviceGood, "a", "b", 0)
	f.is(err, lab.ErrNotFound, "missing device")
	_, err = f.s.SetDeviceHealth(f.ctx, "qemu-01", 99, "a", "b", 0)
	f.is(err, lab.ErrInvalid, "bad health")
	_, err = f.s.SetDeviceHealth(f.ctx, "qemu-01", lab.DeviceGood, "a", "b", 9999)
	f.is(err, lab.ErrInvalid, "missing job")
	_, err = f.s.DeviceHistory(f.ctx, "nope", 0)
	f.is(err, lab.ErrNotFound, "history of missing device")
	hist, err = f.s.DeviceHistory(f.ctx, "qemu-01", 0)
	f.ok(err, "history after failures")
	if len(hist) != 2 {
		f.t.Errorf("failed changes were recorded: %d transitions", len(hist))
	}
}
