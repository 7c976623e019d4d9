package storetest

import (
	"context"
	"errors"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// InTx.

func testInTxCommit(f *fx) {
	var id int64
	err := f.s.InTx(f.ctx, func(q store.Queries) error {
		if err := q.CreateDeviceType(f.ctx, lab.DeviceType{Name: "qemu"}); err != nil {
			return err
		}
		if err := q.CreateDevice(f.ctx, lab.Device{Hostname: "qemu-01", DeviceType: "qemu"}); err != nil {
			return err
		}
		var err error
		if id, err = q.CreateJob(f.ctx, lab.Job{Submitter: "alice", SubmitTime: base, RequestedType: "qemu"}); err != nil {
			return err
		}
		// Reads inside the transaction see its writes.
		if _, err := q.GetJob(f.ctx, id); err != nil {
			return err
		}
		if _, err := q.TransitionJob(f.ctx, store.JobTransition{ID: id, From: from(lab.JobSubmitted), To: lab.JobScheduled, Device: "qemu-01"}); err != nil {
			return err
		}
		d, err := q.GetDevice(f.ctx, "qemu-01")
		if err != nil {
			return err
		}
		if d.CurrentJob != id {
			f.t.Errorf("inside the transaction the device holds job %d, want %d", d.CurrentJob, id)
		}
		jobs, total, err := q.ListJobs(f.ctx, store.JobFilter{})
		if err != nil {
			return err
		}
		if total != 1 || len(jobs) != 1 {
			f.t.Errorf("inside the transaction ListJobs sees %d jobs", total)
		}
		return nil
	})
	f.ok(err, "InTx")
	j := f.getJob(id)
	if j.State != lab.JobScheduled || j.ActualDevice != "qemu-01" {
		f.t.Errorf("committed job: %+v", j)
	}
	f.wantDevice("qemu-01", lab.DeviceReserved, id)
}

func testInTxRollback(f *fx) {
	f.deviceType("qemu")
	f.device("qemu-01", "qemu")
	f.worker("w1")
	_, err := f.s.CreateUser(f.ctx, lab.User{Username: "alice"})
	f.ok(err, "create alice")
	queued := f.job(lab.Job{RequestedType: "qemu"})

	boom := errors.New("boom")
	cases := []struct {
		name string
		last func(q store.Queries) error // the failing last step
		want error
	}{
		{"caller error", func(store.Queries) error { return boom }, boom},
		{"store conflict", func(q store.Queries) error { return q.CreateDeviceType(f.ctx, lab.DeviceType{Name: "qemu"}) }, lab.ErrConflict},
	}
	for _, c := range cases {
		err := f.s.InTx(f.ctx, func(q store.Queries) error {
			steps := []error{
				q.CreateDeviceType(f.ctx, lab.DeviceType{Name: "bbb"}),
				q.CreateTag(f.ctx, lab.Tag{Name: "usb"}),
				q.UpdateDevice(f.ctx, lab.Device{Hostname: "qemu-01", DeviceType: "qemu", Description: "changed"}),
				func() error {
					_, err := q.SetDeviceHealth(f.ctx, "qemu-01", lab.DeviceBad, "a", "b", 0)
					return err
				}(),
				func() error {
					_, err := q.SetWorkerStatus(f.ctx, "w1", lab.WorkerOffline, lab.WorkerRetired, "a", "b")
					return err
				}(),
				func() error {
					_, err := q.TransitionJob(f.ctx, store.JobTransition{ID: queued, From: from(lab.JobSubmitted), To: lab.JobScheduled, Device: "qemu-01"})
					return err
				}(),
				func() error {
					_, err := q.CreateJob(f.ctx, lab.Job{Submitter: "bob", SubmitTime: base})
					return err
				}(),
				q.CreateGroup(f.ctx, "g1"),
				q.AddGroupMember(f.ctx, "g1", "alice"),
				func() error {
					_, err := q.CreateToken(f.ctx, lab.Token{Kind: lab.TokenUser, Owner: "alice", Hash: hash("t")})
					return err
				}(),
			}
			for i, err := range steps {
				if err != nil {
					f.t.Fatalf("%s: step %d inside the transaction: %v", c.name, i, err)
				}
			}
			return c.last(q)
		})
		f.is(err, c.want, c.name+": InTx error")

		// Nothing of it stayed.
		_, err = f.s.GetDeviceType(f.ctx, "bbb")
		f.is(err, lab.ErrNotFound, c.name+": device type rolled back")
		_, err = f.s.GetTag(f.ctx, "usb")
		f.is(err, lab.ErrNotFound, c.name+": tag rolled back")
		_, err = f.s.GetGroup(f.ctx, "g1")
		f.is(err, lab.ErrNotFound, c.name+": group rolled back")
		_, err = f.s.TokenByHash(f.ctx, hash("t"))
		f.is(err, lab.ErrNotFound, c.name+": token rolled back")
		d := f.getDevice("qemu-01")
		if d.Description != "" || d.Health != lab.DeviceGood || d.State != lab.DeviceIdle || d.CurrentJob != 0 {
			f.t.Errorf("%s: device not rolled back: %+v", c.name, d)
		}
		hist, err := f.s.DeviceHistory(f.ctx, "qemu-01", 0)
		f.ok(err, "device history")
		if len(hist) != 0 {
			f.t.Errorf("%s: device transition not rolled back: %v", c.name, hist)
		}
		w, err := f.s.GetWorker(f.ctx, "w1")
		f.ok(err, "get worker")
		if w.State != lab.WorkerOnline || w.Health != lab.WorkerActive {
			f.t.Errorf("%s: worker not rolled back: %+v", c.name, w)
		}
		whist, err := f.s.WorkerHistory(f.ctx, "w1", 0)
		f.ok(err, "worker history")
		if len(whist) != 0 {
			f.t.Errorf("%s: worker transition not rolled back: %v", c.name, whist)
		}
		if j := f.getJob(queued); j.State != lab.JobSubmitted || j.ActualDevice != "" {
			f.t.Errorf("%s: job transition not rolled back: %+v", c.name, j)
		}
		_, total, err := f.s.ListJobs(f.ctx, store.JobFilter{})
		f.ok(err, "list jobs")
		if total != 1 {
			f.t.Errorf("%s: created job not rolled back: %d jobs", c.name, total)
		}
	}
}

// testPing: a healthy store answers Ping, also while a write transaction
// is open (SQLite has one writer; Ping must not wait for it).
func testPing(f *fx) {
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	f.ok(f.s.Ping(ctx), "ping")
	f.ok(f.s.InTx(f.ctx, func(q store.Queries) error {
		if err := q.CreateTag(f.ctx, lab.Tag{Name: "held"}); err != nil {
			return err
		}
		return f.s.Ping(ctx)
	}), "ping while a write transaction is open")
}
