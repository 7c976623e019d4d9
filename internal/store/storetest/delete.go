package storetest

import (
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Deleting devices and workers (LAVA's scheduler.devices.delete and
// scheduler.workers.delete): jobs are kept, so what they refer to stays.

func testDeviceDelete(f *fx) {
	f.deviceType("qemu")
	f.worker("w1")
	f.tag("usb")
	f.ok(f.s.CreateDevice(f.ctx, lab.Device{Hostname: "free", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood,
		Tags: []string{"usb"}}), "create free")
	_, err := f.s.SetDeviceHealth(f.ctx, "free", lab.DeviceBad, "admin", "broken", 0)
	f.ok(err, "history of free")
	f.device("ran", "qemu")
	f.device("requested", "qemu")
	job := f.job(lab.Job{RequestedType: "qemu"})
	f.move(store.JobTransition{ID: job, From: from(lab.JobSubmitted), To: lab.JobScheduled, Device: "ran"})
	f.job(lab.Job{RequestedType: "qemu", RequestedDevice: "requested"})

	f.is(f.s.DeleteDevice(f.ctx, "nope"), lab.ErrNotFound, "delete missing")
	f.is(f.s.DeleteDevice(f.ctx, "ran"), lab.ErrConflict, "delete a device holding a job")
	f.move(store.JobTransition{ID: job, From: from(lab.JobScheduled), To: lab.JobFinished, Health: lab.JobHealthComplete})
	f.is(f.s.DeleteDevice(f.ctx, "ran"), lab.ErrConflict, "delete a device a finished job ran on")
	f.is(f.s.DeleteDevice(f.ctx, "requested"), lab.ErrConflict, "delete a device a job requested")
	f.getDevice("ran")
	f.getDevice("requested")

	f.ok(f.s.DeleteDevice(f.ctx, "free"), "delete free")
	_, err = f.s.GetDevice(f.ctx, "free")
	f.is(err, lab.ErrNotFound, "get deleted")
	f.is(f.s.DeleteDevice(f.ctx, "free"), lab.ErrNotFound, "delete twice")
	_, err = f.s.DeviceHistory(f.ctx, "free", 0)
	f.is(err, lab.ErrNotFound, "history of deleted")
	if _, err := f.s.GetTag(f.ctx, "usb"); err != nil {
		f.t.Errorf("tag of a deleted device: %v", err)
	}
	// The name is free again, with a fresh history and no tags.
	f.device("free", "qemu")
	trs, err := f.s.DeviceHistory(f.ctx, "free", 0)
	f.ok(err, "history of new free")
	f.eq(0, len(trs), "transitions of a new device of a deleted one's name")
	f.eq([]string(nil), f.getDevice("free").Tags, "tags of a new device of a deleted one's name")
}

func testWorkerDelete(f *fx) {
	f.deviceType("qemu")
	f.worker("w1")
	f.worker("busy")
	f.worker("requested")
	f.worker("other")
	_, err := f.s.SetWorkerStatus(f.ctx, "w1", lab.WorkerOffline, lab.WorkerMaintenance, "admin", "repair")
	f.ok(err, "history of w1")
	for _, d := range []lab.Device{{Hostname: "d1", Worker: "w1"}, {Hostname: "d2", Worker: "w1"}, {Hostname: "b1", Worker: "busy"}, {Hostname: "o1", Worker: "other"}} {
		d.DeviceType, d.Health = "qemu", lab.DeviceGood
		f.ok(f.s.CreateDevice(f.ctx, d), "create "+d.Hostname)
	}
	job := f.job(lab.Job{RequestedType: "qemu"})
	f.move(store.JobTransition{ID: job, From: from(lab.JobSubmitted), To: lab.JobScheduled, Device: "b1"})
	f.job(lab.Job{RequestedType: "qemu", RequestedWorker: "requested"})
	for _, tk := range []lab.Token{
		{Kind: lab.TokenWorker, Owner: "w1", Hash: hash("w1 worker")},
		{Kind: lab.TokenJoin, Owner: "w1", Hash: hash("w1 join")},
		{Kind: lab.TokenWorker, Owner: "other", Hash: hash("other worker")},
		{Kind: lab.TokenUser, Owner: "w1", Hash: hash("a user named w1")},
	} {
		_, err := f.s.CreateToken(f.ctx, tk)
		f.ok(err, "create token")
	}

	f.is(f.s.DeleteWorker(f.ctx, "nope"), lab.ErrNotFound, "delete missing")
	f.is(f.s.DeleteWorker(f.ctx, "busy"), lab.ErrConflict, "delete a worker whose device holds a job")
	f.is(f.s.DeleteWorker(f.ctx, "requested"), lab.ErrConflict, "delete a worker a job requested")
	f.eq("busy", f.getDevice("b1").Worker, "device of a worker not deleted")

	f.ok(f.s.DeleteWorker(f.ctx, "w1"), "delete w1")
	_, err = f.s.GetWorker(f.ctx, "w1")
	f.is(err, lab.ErrNotFound, "get deleted")
	f.is(f.s.DeleteWorker(f.ctx, "w1"), lab.ErrNotFound, "delete twice")
	f.eq("", f.getDevice("d1").Worker, "d1 detached")
	f.eq("", f.getDevice("d2").Worker, "d2 detached")
	f.eq("other", f.getDevice("o1").Worker, "device of another worker")
	for _, tc := range []struct {
		secret string
		gone   bool
	}{{"w1 worker", true}, {"w1 join", true}, {"other worker", false}, {"a user named w1", false}} {
		_, err := f.s.TokenByHash(f.ctx, hash(tc.secret))
		if tc.gone {
			f.is(err, lab.ErrNotFound, "token "+tc.secret+" after delete")
		} else {
			f.ok(err, "token "+tc.secret+" after delete")
		}
	}
	// The name is free again, with a fresh history.
	f.worker("w1")
	trs, err := f.s.WorkerHistory(f.ctx, "w1", 0)
	f.ok(err, "history of new w1")
	f.eq(0, len(trs), "transitions of a new worker of a deleted one's name")
}
