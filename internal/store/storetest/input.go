package storetest

import (
	"math"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Values that one database would store and the other refuse: the store
// refuses them on both, with lab.ErrInvalid, before the database sees them.

const (
	nulText     = "before\x00after"
	invalidUTF8 = "caf\xe9 \xff\xfe"
	// goodText is Unicode both databases keep: accents, symbols, an emoji,
	// control characters other than NUL.
	goodText = "café ✓ \U0001F600 \t\x01\x7f"
)

// testInputText: text that is not UTF-8 or holds NUL characters is refused
// in every kind of field, writes and reads alike, and leaves nothing
// behind; other Unicode text round-trips.
func testInputText(f *fx) {
	f.deviceType("qemu")
	f.worker("w1")
	f.device("d1", "qemu")
	_, err := f.s.CreateUser(f.ctx, lab.User{Username: "alice"})
	f.ok(err, "create alice")
	for _, bad := range []string{nulText, invalidUTF8} {
		cases := []struct {
			name string
			err  func() error
		}{
			{"device type description", func() error {
				return f.s.CreateDeviceType(f.ctx, lab.DeviceType{Name: "x", Description: bad})
			}},
			{"device type name", func() error { return f.s.CreateDeviceType(f.ctx, lab.DeviceType{Name: bad}) }},
			{"health check", func() error {
				return f.s.UpdateDeviceType(f.ctx, lab.DeviceType{Name: "qemu", HealthFrequency: 24, HealthCheck: bad})
			}},
			{"tag", func() error { return f.s.CreateTag(f.ctx, lab.Tag{Name: "t", Description: bad}) }},
			{"worker description", func() error { return f.s.CreateWorker(f.ctx, lab.Worker{Name: "w2", Description: bad}) }},
			{"worker version", func() error { return f.s.TouchWorker(f.ctx, "w1", base, bad) }},
			{"device dictionary", func() error {
				return f.s.CreateDevice(f.ctx, lab.Device{Hostname: "d2", DeviceType: "qemu", Health: lab.DeviceGood, Dictionary: bad})
			}},
			{"device update", func() error {
				return f.s.UpdateDevice(f.ctx, lab.Device{Hostname: "d1", DeviceType: "qemu", Description: bad})
			}},
			{"device health reason", func() error {
				_, err := f.s.SetDeviceHealth(f.ctx, "d1", lab.DeviceBad, "admin", bad, 0)
				return err
			}},
			{"get device", func() error { _, err := f.s.GetDevice(f.ctx, bad); return err }},
			{"job definition", func() error {
				_, err := f.s.CreateJob(f.ctx, lab.Job{Submitter: "alice", SubmitTime: base, Priority: 50, RequestedType: "qemu", Definition: bad})
				return err
			}},
			{"job name", func() error {
				_, err := f.s.CreateJob(f.ctx, lab.Job{Submitter: "alice", SubmitTime: base, Priority: 50, RequestedType: "qemu", Description: bad})
				return err
			}},
			{"job metadata", func() error {
				_, err := f.s.CreateJob(f.ctx, lab.Job{Submitter: "alice", SubmitTime: base, Priority: 50, RequestedType: "qemu",
					Metadata: map[string]string{"k": bad}})
				return err
			}},
			{"job list text", func() error { _, _, err := f.s.ListJobs(f.ctx, store.JobFilter{Text: bad}); return err }},
			{"user name", func() error { _, err := f.s.CreateUser(f.ctx, lab.User{Username: "bob", FirstName: bad}); return err }},
			{"user update", func() error { return f.s.UpdateUser(f.ctx, lab.User{Username: "alice", Email: bad, IsActive: true}) }},
			{"get user", func() error { _, err := f.s.GetUser(f.ctx, bad); return err }},
			{"group", func() error { return f.s.CreateGroup(f.ctx, bad) }},
			{"token description", func() error {
				_, err := f.s.CreateToken(f.ctx, lab.Token{Kind: lab.TokenUser, Owner: "alice", Description: bad, Hash: hash("t"), Created: base})
				return err
			}},
		}
		for _, c := range cases {
			f.is(c.err(), lab.ErrInvalid, c.name+" "+quote(bad))
		}
	}
	// Nothing was written.
	dts, err := f.s.ListDeviceTypes(f.ctx)
	f.ok(err, "list device types")
	f.eq(1, len(dts), "device types after refused writes")
	_, total, err := f.s.ListJobs(f.ctx, store.JobFilter{})
	f.ok(err, "list jobs")
	f.eq(0, total, "jobs after refused writes")
	d := f.getDevice("d1")
	f.eq(lab.DeviceGood, d.Health, "d1 health after a refused change")
	f.eq("", d.Description, "d1 description after a refused update")
	if _, err := f.s.GetUser(f.ctx, "bob"); err == nil {
		f.t.Error("a refused user was stored")
	}

	// Other Unicode text is kept as given.
	dt := lab.DeviceType{Name: "unicode", Description: goodText, HealthFrequency: 24, HealthCheck: "# " + goodText + "\n"}
	f.ok(f.s.CreateDeviceType(f.ctx, dt), "create a type with Unicode text")
	got, err := f.s.GetDeviceType(f.ctx, "unicode")
	f.ok(err, "get it")
	f.eq(dt, got, "Unicode round trip")
	id := f.job(lab.Job{RequestedType: "qemu", Description: goodText, Definition: goodText, Metadata: map[string]string{"k": goodText}})
	j := f.getJob(id)
	f.eq([]string{goodText, goodText, goodText}, []string{j.Description, j.Definition, j.Metadata["k"]}, "job Unicode round trip")
}

// testInputRanges: integers over what PostgreSQL's INTEGER holds and
// times outside the years 1 to 9999 are refused on both databases; the
// largest allowed values round-trip.
func testInputRanges(f *fx) {
	f.deviceType("qemu")
	f.worker("w1")
	over := lab.MaxSetting + 1
	cases := []struct {
		name string
		err  error
	}{
		{"create type with health frequency 2^31", f.s.CreateDeviceType(f.ctx, lab.DeviceType{Name: "x", HealthFrequency: over})},
		{"update type with health frequency 2^31", f.s.UpdateDeviceType(f.ctx, lab.DeviceType{Name: "qemu", HealthFrequency: over})},
		{"health frequency max int", f.s.UpdateDeviceType(f.ctx, lab.DeviceType{Name: "qemu", HealthFrequency: math.MaxInt})},
		{"negative health frequency", f.s.UpdateDeviceType(f.ctx, lab.DeviceType{Name: "qemu", HealthFrequency: -1})},
		{"create worker with job limit 2^31", f.s.CreateWorker(f.ctx, lab.Worker{Name: "w2", JobLimit: over})},
		{"update worker with job limit 2^31", f.s.UpdateWorker(f.ctx, lab.Worker{Name: "w1", JobLimit: over})},
		{"negative job limit", f.s.UpdateWorker(f.ctx, lab.Worker{Name: "w1", JobLimit: -1})},
		{"priority 101", func() error {
			_, err := f.s.CreateJob(f.ctx, lab.Job{Submitter: "alice", SubmitTime: base, Priority: 101, RequestedType: "qemu"})
			return err
		}()},
		{"submit time in year 10000", func() error {
			_, err := f.s.CreateJob(f.ctx, lab.Job{Submitter: "alice", SubmitTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
				Priority: 50, RequestedType: "qemu"})
			return err
		}()},
		{"token expiring in year 10000", func() error {
			_, err := f.s.CreateToken(f.ctx, lab.Token{Kind: lab.TokenWorker, Owner: "w1", Hash: hash("t"), Created: base,
				Expires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
			return err
		}()},
		{"heartbeat before year 1", f.s.TouchWorker(f.ctx, "w1", time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC), "v")},
	}
	for _, c := range cases {
		f.is(c.err, lab.ErrInvalid, c.name)
	}
	dts, err := f.s.ListDeviceTypes(f.ctx)
	f.ok(err, "list device types")
	f.eq(1, len(dts), "device types after refused writes")
	f.eq(24, dts[0].HealthFrequency, "health frequency after refused updates")
	ws, err := f.s.ListWorkers(f.ctx)
	f.ok(err, "list workers")
	f.eq(1, len(ws), "workers after refused writes")
	f.eq(0, ws[0].JobLimit, "job limit after refused updates")
	f.eq(time.Time{}, ws[0].LastHeartbeat, "heartbeat after a refused touch")

	// The largest values round-trip.
	f.ok(f.s.UpdateDeviceType(f.ctx, lab.DeviceType{Name: "qemu", HealthFrequency: lab.MaxSetting}), "health frequency 2^31-1")
	dt, err := f.s.GetDeviceType(f.ctx, "qemu")
	f.ok(err, "get qemu")
	f.eq(lab.MaxSetting, dt.HealthFrequency, "health frequency 2^31-1 round trip")
	f.ok(f.s.UpdateWorker(f.ctx, lab.Worker{Name: "w1", JobLimit: lab.MaxSetting}), "job limit 2^31-1")
	w, err := f.s.GetWorker(f.ctx, "w1")
	f.ok(err, "get w1")
	f.eq(lab.MaxSetting, w.JobLimit, "job limit 2^31-1 round trip")
	late := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	f.ok(f.s.TouchWorker(f.ctx, "w1", late, "v"), "heartbeat at the end of 9999")
	w, err = f.s.GetWorker(f.ctx, "w1")
	f.ok(err, "get w1")
	f.eq(late, w.LastHeartbeat, "late heartbeat round trip")
}

// quote names a bad value in messages.
func quote(s string) string {
	if s == nulText {
		return "with NUL"
	}
	return "not UTF-8"
}
