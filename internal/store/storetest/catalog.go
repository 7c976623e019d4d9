package storetest

import (
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Device types, aliases and tags.

func testDeviceTypeCRUD(f *fx) {
	qemu := lab.DeviceType{Name: "qemu", Description: "QEMU", HealthFrequency: 10, HealthDenominator: lab.PerJobs,
		DisableHealthCheck: true, HealthCheck: "job_name: hc\n", Hidden: true, NoHealthCheckAfterReservation: true}
	bbb := lab.DeviceType{Name: "bbb", HealthFrequency: 24}
	f.ok(f.s.CreateDeviceType(f.ctx, qemu), "create qemu")
	f.ok(f.s.CreateDeviceType(f.ctx, bbb), "create bbb")

	got, err := f.s.GetDeviceType(f.ctx, "qemu")
	f.ok(err, "get qemu")
	f.eq(qemu, got, "qemu round trip")

	list, err := f.s.ListDeviceTypes(f.ctx)
	f.ok(err, "list")
	f.eq([]lab.DeviceType{bbb, qemu}, list, "list by name")

	qemu.Description, qemu.HealthFrequency, qemu.HealthDenominator = "changed", 48, lab.PerHours
	qemu.DisableHealthCheck, qemu.HealthCheck, qemu.Hidden, qemu.NoHealthCheckAfterReservation = false, "", false, false
	f.ok(f.s.UpdateDeviceType(f.ctx, qemu), "update")
	got, err = f.s.GetDeviceType(f.ctx, "qemu")
	f.ok(err, "get after update")
	f.eq(qemu, got, "updated qemu")

	f.ok(f.s.DeleteDeviceType(f.ctx, "bbb"), "delete bbb")
	_, err = f.s.GetDeviceType(f.ctx, "bbb")
	f.is(err, lab.ErrNotFound, "get deleted")
	list, err = f.s.ListDeviceTypes(f.ctx)
	f.ok(err, "list after delete")
	f.eq([]lab.DeviceType{qemu}, list, "list after delete")
}

func testDeviceTypeErrors(f *fx) {
	f.deviceType("qemu")
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"create duplicate", f.s.CreateDeviceType(f.ctx, lab.DeviceType{Name: "qemu"}), lab.ErrConflict},
		{"create empty name", f.s.CreateDeviceType(f.ctx, lab.DeviceType{}), lab.ErrInvalid},
		{"create bad denominator", f.s.CreateDeviceType(f.ctx, lab.DeviceType{Name: "x", HealthDenominator: 7}), lab.ErrInvalid},
		{"update missing", f.s.UpdateDeviceType(f.ctx, lab.DeviceType{Name: "nope"}), lab.ErrNotFound},
		{"update bad denominator", f.s.UpdateDeviceType(f.ctx, lab.DeviceType{Name: "qemu", HealthDenominator: -1}), lab.ErrInvalid},
		{"delete missing", f.s.DeleteDeviceType(f.ctx, "nope"), lab.ErrNotFound},
	}
	_, err := f.s.GetDeviceType(f.ctx, "nope")
	cases = append(cases, struct {
		name string
		err  error
		want error
	}{"get missing", err, lab.ErrNotFound})
	for _, c := range cases {
		f.is(c.err, c.want, c.name)
	}
}

func testDeviceTypeDeleteInUse(f *fx) {
	f.deviceType("qemu")
	f.deviceType("bbb")
	f.deviceType("free")
	f.device("qemu-01", "qemu")
	f.job(lab.Job{RequestedType: "bbb"})
	f.ok(f.s.CreateAlias(f.ctx, lab.Alias{Name: "emu", DeviceType: "free"}), "alias")

	f.is(f.s.DeleteDeviceType(f.ctx, "qemu"), lab.ErrConflict, "delete type used by a device")
	f.is(f.s.DeleteDeviceType(f.ctx, "bbb"), lab.ErrConflict, "delete type used by a job")
	if _, err := f.s.GetDeviceType(f.ctx, "qemu"); err != nil {
		f.t.Errorf("type qemu gone after refused delete: %v", err)
	}
	f.ok(f.s.DeleteDeviceType(f.ctx, "free"), "delete unused type")
	aliases, err := f.s.ListAliases(f.ctx)
	f.ok(err, "list aliases")
	if len(aliases) != 0 {
		f.t.Errorf("aliases of a deleted type remain: %v", aliases)
	}
}

func testAliases(f *fx) {
	f.deviceType("qemu")
	f.deviceType("bbb")
	f.ok(f.s.CreateAlias(f.ctx, lab.Alias{Name: "kvm", DeviceType: "qemu"}), "create kvm")
	f.ok(f.s.CreateAlias(f.ctx, lab.Alias{Name: "beaglebone", DeviceType: "bbb"}), "create beaglebone")
	f.is(f.s.CreateAlias(f.ctx, lab.Alias{Name: "kvm", DeviceType: "bbb"}), lab.ErrConflict, "duplicate alias")
	f.is(f.s.CreateAlias(f.ctx, lab.Alias{Name: "x", DeviceType: "nope"}), lab.ErrInvalid, "alias of missing type")
	f.is(f.s.CreateAlias(f.ctx, lab.Alias{DeviceType: "qemu"}), lab.ErrInvalid, "empty alias name")

	list, err := f.s.ListAliases(f.ctx)
	f.ok(err, "list")
	f.eq([]lab.Alias{{Name: "beaglebone", DeviceType: "bbb"}, {Name: "kvm", DeviceType: "qemu"}}, list, "aliases by name")

	f.ok(f.s.DeleteAlias(f.ctx, "kvm"), "delete kvm")
	f.is(f.s.DeleteAlias(f.ctx, "kvm"), lab.ErrNotFound, "delete twice")
	list, err = f.s.ListAliases(f.ctx)
	f.ok(err, "list after delete")
	f.eq([]lab.Alias{{Name: "beaglebone", DeviceType: "bbb"}}, list, "aliases after delete")
}

func testResolveDeviceType(f *fx) {
	qemu := f.deviceType("qemu")
	bbb := f.deviceType("bbb")
	f.ok(f.s.CreateAlias(f.ctx, lab.Alias{Name: "kvm", DeviceType: "qemu"}), "alias kvm")
	// An alias named like a type wins: aliases are looked up first.
	f.ok(f.s.CreateAlias(f.ctx, lab.Alias{Name: "bbb", DeviceType: "qemu"}), "alias bbb")
	cases := []struct {
		name string
		want lab.DeviceType
	}{
		{"kvm", qemu},
		{"qemu", qemu},
		{"bbb", qemu},
	}
	for _, c := range cases {
		got, err := f.s.ResolveDeviceType(f.ctx, c.name)
		f.ok(err, "resolve "+c.name)
		f.eq(c.want, got, "resolve "+c.name)
	}
	f.ok(f.s.DeleteAlias(f.ctx, "bbb"), "delete alias bbb")
	got, err := f.s.ResolveDeviceType(f.ctx, "bbb")
	f.ok(err, "resolve bbb as a type")
	f.eq(bbb, got, "resolve bbb as a type")
	_, err = f.s.ResolveDeviceType(f.ctx, "nope")
	f.is(err, lab.ErrNotFound, "resolve unknown")
}

func testTags(f *fx) {
	f.ok(f.s.CreateTag(f.ctx, lab.Tag{Name: "usb", Description: "has USB"}), "create usb")
	f.ok(f.s.CreateTag(f.ctx, lab.Tag{Name: "arm"}), "create arm")
	f.is(f.s.CreateTag(f.ctx, lab.Tag{Name: "usb"}), lab.ErrConflict, "duplicate")
	f.is(f.s.CreateTag(f.ctx, lab.Tag{}), lab.ErrInvalid, "empty name")

	got, err := f.s.GetTag(f.ctx, "usb")
	f.ok(err, "get usb")
	f.eq(lab.Tag{Name: "usb", Description: "has USB"}, got, "usb")
	_, err = f.s.GetTag(f.ctx, "nope")
	f.is(err, lab.ErrNotFound, "get missing")

	list, err := f.s.ListTags(f.ctx)
	f.ok(err, "list")
	f.eq([]lab.Tag{{Name: "arm"}, {Name: "usb", Description: "has USB"}}, list, "tags by name")

	f.ok(f.s.DeleteTag(f.ctx, "arm"), "delete")
	f.is(f.s.DeleteTag(f.ctx, "arm"), lab.ErrNotFound, "delete twice")
}

func testTagDeleteDetaches(f *fx) {
	f.deviceType("qemu")
	f.tag("usb")
	f.tag("arm")
	f.device("qemu-01", "qemu", "usb", "arm")
	id := f.job(lab.Job{RequestedType: "qemu", Tags: []string{"usb", "arm"}})
	f.ok(f.s.DeleteTag(f.ctx, "usb"), "delete usb")
	f.eq([]string{"arm"}, f.getDevice("qemu-01").Tags, "device tags after delete")
	f.eq([]string{"arm"}, f.getJob(id).Tags, "job tags after delete")
}

// DeviceFilter zero value sanity: used by several tests.
var allDevices = store.DeviceFilter{}
