package lab_test

import (
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
)

// TestSimpleDeviceStatus: LAVA's summary, except that a device whose worker
// cannot run jobs is never called idle.
func TestSimpleDeviceStatus(t *testing.T) {
	online := &lab.Worker{Name: "lab-1", State: lab.WorkerOnline, Health: lab.WorkerActive}
	worker := func(s lab.WorkerState, h lab.WorkerHealth) *lab.Worker {
		return &lab.Worker{Name: "lab-1", State: s, Health: h}
	}
	dev := func(s lab.DeviceState, h lab.DeviceHealth) lab.Device {
		return lab.Device{Hostname: "qemu01", Worker: "lab-1", State: s, Health: h}
	}
	cases := []struct {
		name           string
		d              lab.Device
		w              *lab.Worker
		status, detail string
	}{
		{"idle Good", dev(lab.DeviceIdle, lab.DeviceGood), online, "idle", ""},
		{"idle Unknown", dev(lab.DeviceIdle, lab.DeviceUnknown), online, "idle", ""},
		{"reserved", dev(lab.DeviceReserved, lab.DeviceGood), online, "reserved", ""},
		{"running on an Offline worker", dev(lab.DeviceRunning, lab.DeviceGood), worker(lab.WorkerOffline, lab.WorkerActive), "running", ""},
		{"Retired", dev(lab.DeviceIdle, lab.DeviceRetired), online, "retired", ""},
		{"Maintenance", dev(lab.DeviceIdle, lab.DeviceMaintenance), online, "offline", ""},
		{"Bad", dev(lab.DeviceIdle, lab.DeviceBad), online, "offline", ""},
		{"Looping", dev(lab.DeviceIdle, lab.DeviceLooping), online, "offline", ""},
		{"worker Offline", dev(lab.DeviceIdle, lab.DeviceGood), worker(lab.WorkerOffline, lab.WorkerActive), "offline", "worker lab-1 Offline"},
		{"worker Maintenance", dev(lab.DeviceIdle, lab.DeviceUnknown), worker(lab.WorkerOnline, lab.WorkerMaintenance), "offline", "worker lab-1 Maintenance"},
		{"worker Retired and Offline", dev(lab.DeviceIdle, lab.DeviceGood), worker(lab.WorkerOffline, lab.WorkerRetired), "offline", "worker lab-1 Retired"},
		{"no worker", lab.Device{Hostname: "qemu01", Health: lab.DeviceGood}, nil, "offline", "no worker"},
		{"unknown worker", dev(lab.DeviceIdle, lab.DeviceGood), nil, "offline", "worker lab-1 does not exist"},
	}
	for _, c := range cases {
		if s, d := lab.SimpleDeviceStatus(c.d, c.w); s != c.status || d != c.detail {
			t.Errorf("%s: SimpleDeviceStatus = %q, %q; want %q, %q", c.name, s, d, c.status, c.detail)
		}
	}
}
