package lavarpc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/xmlrpc"
)

// labCase is one call and what it must answer: the exact result, or the
// exact fault (code and message; a message ending in "…" is a prefix).
type labCase struct {
	name   string
	who    int
	method string
	params []any
	want   any
	fault  int
	msg    string
	// check, when set, replaces the comparison with want.
	check func(t *testing.T, got any)
}

// run calls each case in order (later cases see the changes of earlier
// ones).
func (e *env) run(t *testing.T, cases []labCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.call(tc.who, tc.method, tc.params...)
			if tc.fault != 0 {
				var f *xmlrpc.Fault
				if !errors.As(err, &f) || f.Code != tc.fault {
					t.Fatalf("%s: got %v, %v; want fault %d %q", tc.method, got, err, tc.fault, tc.msg)
				}
				if prefix, ok := strings.CutSuffix(tc.msg, "…"); ok && !strings.HasPrefix(f.Message, prefix) || !ok && tc.msg != "" && f.Message != tc.msg {
					t.Errorf("%s: fault message %q, want %q", tc.method, f.Message, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.method, err)
			}
			if tc.check != nil {
				tc.check(t, got)
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.method, diff)
			}
		})
	}
}

// binary checks a base64 result against want.
func binary(want string) func(t *testing.T, got any) {
	return func(t *testing.T, got any) {
		t.Helper()
		b, ok := got.(xmlrpc.Binary)
		if !ok || string(b) != want {
			t.Errorf("got %T %q, want base64 %q", got, got, want)
		}
	}
}

// binaryWith checks that a base64 result holds each of parts.
func binaryWith(parts ...string) func(t *testing.T, got any) {
	return func(t *testing.T, got any) {
		t.Helper()
		b, ok := got.(xmlrpc.Binary)
		if !ok {
			t.Fatalf("got %T, want base64", got)
		}
		for _, p := range parts {
			if !strings.Contains(string(b), p) {
				t.Errorf("%q lacks %q", b, p)
			}
		}
	}
}

// labSetup adds what the lab tests need to newEnv's lab: a group "lab".
func labSetup(t *testing.T, e *env) {
	t.Helper()
	must(t, e.App.CreateGroup(context.Background(), e.Principal(admin), "lab"))
}

const (
	qemu01Dict  = "{% extends 'qemu.jinja2' %}\n{% set memory = 1024 %}\n"
	permsModel  = "Basalt has no per-object permissions: device types, devices and workers are visible to everyone, only superusers change them, and jobs are kept private with their visibility (personal, or {group: [...]}) (docs/lava-clients.md)"
	noConfig    = "Basalt workers have no dispatcher.yaml: a worker's settings are its command-line flags or its config file (--config), on the worker's host (basalt worker --help, docs/worker.md)."
	noEnv       = "Basalt workers have no env.yaml or env-dut.yaml: a job's environment is the worker's own (its proxy: --http-proxy, or HTTP_PROXY, HTTPS_PROXY and NO_PROXY), set on the worker's host (docs/worker.md)."
	noCert      = "Basalt has no ZMQ certificates: a worker authenticates with its own token over HTTPS (basalt workers join-token, docs/worker.md)"
	authMessage = "Authentication with user and token required for this API."
)

func qemu01(extra map[string]any) map[string]any {
	m := map[string]any{"hostname": "qemu-01", "device_type": "qemu", "health": "Good", "state": "Idle", "health_job": false,
		"description": "", "pipeline": true, "has_device_dict": true, "worker": "w1", "current_job": nil, "tags": []any{}, "permissions": []any{}}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func qemuType(extra map[string]any) map[string]any {
	m := map[string]any{"name": "qemu", "description": "", "display": true, "health_disabled": false, "health_denominator": "hours",
		"health_frequency": int64(24), "aliases": []any{}, "devices": []any{"qemu-01"}, "default_template": true, "permissions": []any{}}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

var zeroTime = time.Time{}

func w1(extra map[string]any) map[string]any {
	m := map[string]any{"hostname": "w1", "description": "", "state": "Offline", "health": "Active", "devices": []any{"qemu-01"},
		"last_ping": zeroTime, "job_limit": int64(0), "version": nil, "default_config": true, "default_env": true, "default_env_dut": true}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// TestLabReads: what anyone may read, and what is for superusers only.
func TestLabReads(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			labSetup(t, e)
			rendered, err := e.App.RenderDeviceConfig(context.Background(), e.Principal(admin), "qemu-01", nil)
			must(t, err)
			e.run(t, []labCase{
				// scheduler.devices.*
				{name: "devices.list", who: anon, method: "scheduler.devices.list", want: []any{map[string]any{
					"hostname": "qemu-01", "type": "qemu", "health": "Good", "state": "Idle", "current_job": nil, "pipeline": true}}},
				{name: "devices.list show_all offline_info", who: bob, method: "scheduler.devices.list", params: []any{true, true}, want: []any{map[string]any{
					"hostname": "qemu-01", "type": "qemu", "health": "Good", "state": "Idle", "current_job": nil, "pipeline": true}}},
				{name: "devices.list bad show_all", who: bob, method: "scheduler.devices.list", params: []any{"yes"}, fault: -32602},
				{name: "devices.show", who: anon, method: "scheduler.devices.show", params: []any{"qemu-01"}, want: qemu01(nil)},
				{name: "devices.show missing", who: bob, method: "scheduler.devices.show", params: []any{"nope"}, fault: 404, msg: "Device 'nope' was not found."},
				{name: "get_dictionary anonymous", who: anon, method: "scheduler.devices.get_dictionary", params: []any{"qemu-01"}, fault: 403,
					msg: "Device 'qemu-01' not available to user 'AnonymousUser': Basalt shows device dictionaries to superusers only (they hold lab secrets)."},
				{name: "get_dictionary user", who: bob, method: "scheduler.devices.get_dictionary", params: []any{"qemu-01", true}, fault: 403,
					msg: "Device 'qemu-01' not available to user 'bob': Basalt shows device dictionaries to superusers only (they hold lab secrets)."},
				{name: "get_dictionary missing", who: admin, method: "scheduler.devices.get_dictionary", params: []any{"nope"}, fault: 404, msg: "Device 'nope' was not found."},
				{name: "get_dictionary", who: admin, method: "scheduler.devices.get_dictionary", params: []any{"qemu-01"}, check: binary(qemu01Dict)},
				{name: "get_dictionary render", who: admin, method: "scheduler.devices.get_dictionary", params: []any{"qemu-01", true}, check: binary(rendered)},
				{name: "get_dictionary render context", who: admin, method: "scheduler.devices.get_dictionary", params: []any{"qemu-01", true, "{arch: arm64}"},
					check: binaryWith("hostname: 'qemu-01'", "qemu-system-aarch64", "- -m 1024")},
				{name: "get_dictionary render empty context", who: admin, method: "scheduler.devices.get_dictionary", params: []any{"qemu-01", true, ""}, check: binary(rendered)},
				{name: "get_dictionary bad context", who: admin, method: "scheduler.devices.get_dictionary", params: []any{"qemu-01", true, "{arch: ["}, fault: 400,
					msg: "Job Context '{arch: [' is not valid: …"},
				{name: "get_dictionary context not a mapping", who: admin, method: "scheduler.devices.get_dictionary", params: []any{"qemu-01", true, "- arm64"}, fault: 400,
					msg: "Job Context '- arm64' is not valid: the context must be a mapping, not a list"},
				{name: "devices.tags.list", who: anon, method: "scheduler.devices.tags.list", params: []any{"qemu-01"}, want: []any{}},
				{name: "devices.tags.list missing", who: anon, method: "scheduler.devices.tags.list", params: []any{"nope"}, fault: 404, msg: "Device 'nope' was not found."},
				{name: "devices.perms_list anonymous", who: anon, method: "scheduler.devices.perms_list", params: []any{"qemu-01"}, fault: 401, msg: authMessage},
				{name: "devices.perms_list user", who: bob, method: "scheduler.devices.perms_list", params: []any{"qemu-01"}, fault: 403, msg: "forbidden"},
				{name: "devices.perms_list", who: admin, method: "scheduler.devices.perms_list", params: []any{"qemu-01"}, want: []any{}},
				{name: "devices.perms_add", who: admin, method: "scheduler.devices.perms_add", params: []any{"qemu-01", "lab", "view_device"}, fault: 400,
					msg: "Permission 'view_device' for group 'lab' on device 'qemu-01' cannot be set: " + permsModel + "."},
				{name: "devices.perms_add unknown group", who: admin, method: "scheduler.devices.perms_add", params: []any{"qemu-01", "nogroup", "view_device"}, fault: 404,
					msg: "Group 'nogroup' was not found."},
				{name: "devices.perms_add user", who: alice, method: "scheduler.devices.perms_add", params: []any{"qemu-01", "lab", "view_device"}, fault: 403, msg: "forbidden"},
				{name: "devices.perms_delete", who: admin, method: "scheduler.devices.perms_delete", params: []any{"qemu-01", "lab", "view_device"}, want: nil},
				{name: "devices.perms_delete missing device", who: admin, method: "scheduler.devices.perms_delete", params: []any{"nope", "lab", "view_device"}, fault: 404,
					msg: "Device 'nope' was not found."},

				// scheduler.device_types.*
				{name: "device_types.list", who: anon, method: "scheduler.device_types.list", want: []any{
					map[string]any{"name": "qemu", "devices": int64(1), "installed": true, "template": true}}},
				{name: "device_types.list show_all", who: anon, method: "scheduler.device_types.list", params: []any{true}, want: []any{
					map[string]any{"name": "qemu", "devices": int64(1), "installed": true, "template": true},
					map[string]any{"name": "beaglebone-black", "devices": int64(0), "installed": false, "template": true},
					map[string]any{"name": "qemu-ipxe-x86_64", "devices": int64(0), "installed": false, "template": true},
					map[string]any{"name": "qemu-uboot-x86_64", "devices": int64(0), "installed": false, "template": true},
					map[string]any{"name": "x86", "devices": int64(0), "installed": false, "template": true}}},
				{name: "device_types.show", who: anon, method: "scheduler.device_types.show", params: []any{"qemu"}, want: qemuType(nil)},
				{name: "device_types.show missing", who: anon, method: "scheduler.device_types.show", params: []any{"nope"}, fault: 404, msg: "Device-type 'nope' was not found."},
				{name: "device_types.devices", who: anon, method: "scheduler.device_types.devices", params: []any{"qemu"},
					want: []any{map[string]any{"hostname": "qemu-01", "health": "Good", "state": "Idle"}}},
				{name: "device_types.devices good", who: anon, method: "scheduler.device_types.devices", params: []any{"qemu", "good"},
					want: []any{map[string]any{"hostname": "qemu-01", "health": "Good", "state": "Idle"}}},
				{name: "device_types.devices bad", who: anon, method: "scheduler.device_types.devices", params: []any{"qemu", "BAD"}, want: []any{}},
				{name: "device_types.devices invalid health", who: anon, method: "scheduler.device_types.devices", params: []any{"qemu", "weird"}, fault: 400, msg: "Invalid health 'weird'"},
				{name: "device_types.devices missing", who: anon, method: "scheduler.device_types.devices", params: []any{"nope"}, fault: 404, msg: "Device-type 'nope' was not found."},
				{name: "get_template shipped", who: anon, method: "scheduler.device_types.get_template", params: []any{"qemu"},
					check: binaryWith("{#- Basalt device-type template: qemu.jinja2", "{% extends 'base.jinja2' %}")},
				{name: "get_template of a base", who: anon, method: "scheduler.device_types.get_template", params: []any{"base-uboot.jinja2"}, check: binaryWith("u-boot")},
				{name: "get_template path", who: anon, method: "scheduler.device_types.get_template", params: []any{"../qemu"}, fault: 400, msg: "Invalid device-type '../qemu'"},
				{name: "get_template hidden", who: anon, method: "scheduler.device_types.get_template", params: []any{".qemu"}, fault: 400, msg: "Invalid device-type '.qemu'"},
				{name: "get_template missing", who: anon, method: "scheduler.device_types.get_template", params: []any{"nope"}, fault: 404, msg: "Device-type 'nope' was not found."},
				{name: "get_health_check none", who: anon, method: "scheduler.device_types.get_health_check", params: []any{"qemu"}, fault: 404, msg: "Device-type 'qemu' was not found."},
				{name: "device_types.aliases.list", who: anon, method: "scheduler.device_types.aliases.list", params: []any{"qemu"}, want: []any{}},
				{name: "device_types.perms_list", who: admin, method: "scheduler.device_types.perms_list", params: []any{"qemu"}, want: []any{}},
				{name: "device_types.perms_list user", who: bob, method: "scheduler.device_types.perms_list", params: []any{"qemu"}, fault: 403, msg: "forbidden"},
				{name: "device_types.perms_add", who: admin, method: "scheduler.device_types.perms_add", params: []any{"qemu", "lab", "submit_to_devicetype"}, fault: 400,
					msg: "Permission 'submit_to_devicetype' for group 'lab' on device-type 'qemu' cannot be set: " + permsModel + "."},
				{name: "device_types.perms_delete", who: admin, method: "scheduler.device_types.perms_delete", params: []any{"qemu", "lab", "submit_to_devicetype"}, want: nil},
				{name: "device_types.perms_delete unknown group", who: admin, method: "scheduler.device_types.perms_delete", params: []any{"qemu", "nogroup", "x"}, fault: 404,
					msg: "Group 'nogroup' was not found."},

				// scheduler.workers.*
				{name: "workers.list", who: anon, method: "scheduler.workers.list", want: []any{"w1"}},
				{name: "workers.show", who: anon, method: "scheduler.workers.show", params: []any{"w1"}, want: w1(nil)},
				{name: "workers.show to a superuser (no token)", who: admin, method: "scheduler.workers.show", params: []any{"w1"}, want: w1(nil)},
				{name: "workers.show missing", who: anon, method: "scheduler.workers.show", params: []any{"nope"}, fault: 404, msg: "Worker 'nope' was not found."},
				{name: "get_config", who: anon, method: "scheduler.workers.get_config", params: []any{"w1"}, fault: 404, msg: "Worker 'w1' does not have a dispatcher configuration"},
				{name: "get_config path", who: anon, method: "scheduler.workers.get_config", params: []any{"a/b"}, fault: 400, msg: "Invalid worker name"},
				{name: "get_config missing", who: anon, method: "scheduler.workers.get_config", params: []any{"nope"}, fault: 404, msg: "Worker 'nope' was not found."},
				{name: "get_env", who: bob, method: "scheduler.workers.get_env", params: []any{"w1"}, fault: 404, msg: "Worker 'w1' does not have an env file"},
				{name: "get_env_dut", who: bob, method: "scheduler.workers.get_env_dut", params: []any{"w1"}, fault: 404, msg: "Worker 'w1' does not have an env-dut file"},
				{name: "set_config anonymous", who: anon, method: "scheduler.workers.set_config", params: []any{"w1", "a: 1"}, fault: 401, msg: authMessage},
				{name: "set_config user", who: bob, method: "scheduler.workers.set_config", params: []any{"w1", "a: 1"}, fault: 403,
					msg: "User 'bob' is missing permission lava_scheduler_app.change_worker."},
				{name: "set_config", who: admin, method: "scheduler.workers.set_config", params: []any{"w1", "a: 1"}, fault: 400, msg: noConfig},
				{name: "set_config missing", who: admin, method: "scheduler.workers.set_config", params: []any{"nope", ""}, fault: 404, msg: "Worker 'nope' was not found."},
				{name: "set_env", who: admin, method: "scheduler.workers.set_env", params: []any{"w1", "a: 1"}, fault: 400, msg: noEnv},
				{name: "set_env_dut", who: admin, method: "scheduler.workers.set_env_dut", params: []any{"w1", "a: 1"}, fault: 400, msg: noEnv},
				{name: "get_certificate user", who: bob, method: "scheduler.workers.get_certificate", params: []any{"w1"}, fault: 403,
					msg: "Insufficient permissions. Please contact system administrator."},
				{name: "get_certificate", who: admin, method: "scheduler.workers.get_certificate", params: []any{"w1"}, fault: 404,
					msg: "Worker 'w1' does not have a certificate uploaded (" + noCert + ")"},
				{name: "set_certificate", who: admin, method: "scheduler.workers.set_certificate", params: []any{"w1", "key"}, fault: 400, msg: noCert + "."},

				// scheduler.tags.*, scheduler.aliases.*
				{name: "tags.list", who: anon, method: "scheduler.tags.list", want: []any{}},
				{name: "tags.show missing", who: anon, method: "scheduler.tags.show", params: []any{"usb"}, fault: 404, msg: "Tag 'usb' was not found."},
				{name: "aliases.list", who: anon, method: "scheduler.aliases.list", want: []any{}},
				{name: "aliases.show missing", who: anon, method: "scheduler.aliases.show", params: []any{"kvm"}, fault: 404, msg: "Alias 'kvm' was not found."},

				// the older scheduler.* methods
				{name: "all_devices", who: anon, method: "scheduler.all_devices", want: []any{[]any{"qemu-01", "qemu", "idle", nil, true}}},
				{name: "all_device_types", who: anon, method: "scheduler.all_device_types", want: []any{
					map[string]any{"name": "qemu", "idle": int64(0), "busy": int64(0), "offline": int64(1)}}},
				{name: "get_device_status", who: anon, method: "scheduler.get_device_status", params: []any{"qemu-01"}, want: map[string]any{
					"hostname": "qemu-01", "status": "idle", "job": nil, "offline_since": nil, "offline_by": nil, "is_pipeline": true}},
				{name: "get_device_status no hostname", who: anon, method: "scheduler.get_device_status", params: []any{""}, fault: 400, msg: "Bad request: Hostname was not specified."},
				{name: "get_device_status missing", who: anon, method: "scheduler.get_device_status", params: []any{"nope"}, fault: 404, msg: "Device 'nope' was not found."},
				{name: "get_device_type_by_alias none", who: anon, method: "scheduler.get_device_type_by_alias", params: []any{"kv"}, want: map[string]any{"kv": []any{}}},
				{name: "get_device_config anonymous", who: anon, method: "scheduler.get_device_config", params: []any{"qemu-01"}, fault: 401,
					msg: "Permission denied for user to device qemu-01: Basalt shows device configurations to superusers only (they hold lab secrets)."},
				{name: "get_device_config user", who: bob, method: "scheduler.get_device_config", params: []any{"qemu-01"}, fault: 401,
					msg: "Permission denied for user to device qemu-01: Basalt shows device configurations to superusers only (they hold lab secrets)."},
				{name: "get_device_config", who: admin, method: "scheduler.get_device_config", params: []any{"qemu-01"}, check: binary(rendered)},
				{name: "get_device_config context", who: admin, method: "scheduler.get_device_config", params: []any{"qemu-01", "{arch: arm64}"}, check: binaryWith("qemu-system-aarch64")},
				{name: "get_device_config bad context", who: admin, method: "scheduler.get_device_config", params: []any{"qemu-01", "[a"}, fault: 400, msg: "Job context '[a' is not valid. …"},
				{name: "get_device_config no hostname", who: admin, method: "scheduler.get_device_config", params: []any{""}, fault: 400,
					msg: "Bad request: Device hostname was not specified."},
				{name: "get_device_config missing", who: admin, method: "scheduler.get_device_config", params: []any{"nope"}, fault: 404, msg: "Specified device was not found."},
				{name: "export_device_dictionary anonymous", who: anon, method: "scheduler.export_device_dictionary", params: []any{"qemu-01"}, fault: 401, msg: authMessage},
				{name: "export_device_dictionary user", who: bob, method: "scheduler.export_device_dictionary", params: []any{"qemu-01"}, fault: 403,
					msg: "Permission denied for user to retrieve device dictionary for 'qemu-01'."},
				{name: "export_device_dictionary", who: admin, method: "scheduler.export_device_dictionary", params: []any{"qemu-01"}, check: binary(qemu01Dict)},
				{name: "validate_pipeline_devices user", who: bob, method: "scheduler.validate_pipeline_devices", fault: 403,
					msg: "Basalt validates device configurations for superusers only: their problems quote the device dictionaries, which hold lab secrets."},
				{name: "validate_pipeline_devices", who: admin, method: "scheduler.validate_pipeline_devices", check: binary("qemu-01:\n  Valid: null\n")},
				{name: "validate_pipeline_devices by type", who: admin, method: "scheduler.validate_pipeline_devices", params: []any{"qemu"}, check: binary("qemu-01:\n  Valid: null\n")},
				{name: "validate_pipeline_devices by hostname", who: admin, method: "scheduler.validate_pipeline_devices", params: []any{"qemu-01"}, check: binary("qemu-01:\n  Valid: null\n")},
				{name: "validate_pipeline_devices nothing", who: admin, method: "scheduler.validate_pipeline_devices", params: []any{"nothing"}, fault: 404,
					msg: "No devices found with hostname or device type name nothing, visible by the user"},
				{name: "get_publisher_event_socket", who: anon, method: "scheduler.get_publisher_event_socket", fault: 404,
					msg: "Basalt has no ZMQ event socket: LAVA's events are a WebSocket at /ws/ on its main port, which lavacli events listen (2020.09 and later) uses (docs/lava-clients.md)."},
			})
		})
	}
}

// TestLabWrites: adding, changing and deleting, with LAVA's permission
// faults for anonymous callers and users.
func TestLabWrites(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			labSetup(t, e)
			check := labtest.Job("health check", "qemu", "")
			e.run(t, []labCase{
				// devices
				{name: "devices.add anonymous", who: anon, method: "scheduler.devices.add", params: []any{"qemu-02", "qemu", "w1"}, fault: 401, msg: authMessage},
				{name: "devices.add user", who: bob, method: "scheduler.devices.add", params: []any{"qemu-02", "qemu", "w1"}, fault: 403,
					msg: "User 'bob' is missing permission lava_scheduler_app.change_device."},
				{name: "devices.add", who: admin, method: "scheduler.devices.add", params: []any{"qemu-02", "qemu", "w1", nil, nil, true, nil, "spare"}, want: nil},
				{name: "devices.add again", who: admin, method: "scheduler.devices.add", params: []any{"qemu-02", "qemu", "w1"}, fault: 400, msg: "Bad request: device already exists?"},
				{name: "devices.add missing type", who: admin, method: "scheduler.devices.add", params: []any{"x", "nope", "w1"}, fault: 404, msg: "DeviceType 'nope' was not found."},
				{name: "devices.add missing worker", who: admin, method: "scheduler.devices.add", params: []any{"x", "qemu", "nope"}, fault: 404, msg: "Worker 'nope' was not found."},
				{name: "devices.add lower-case health", who: admin, method: "scheduler.devices.add", params: []any{"x", "qemu", "w1", nil, nil, true, "good"}, fault: 400, msg: "Invalid health"},
				{name: "devices.add bad name", who: admin, method: "scheduler.devices.add", params: []any{"a b", "qemu", "w1"}, fault: 400, msg: "…"},
				{name: "devices.show new", who: bob, method: "scheduler.devices.show", params: []any{"qemu-02"}, want: qemu01(map[string]any{
					"hostname": "qemu-02", "health": "Unknown", "description": "spare", "has_device_dict": false})},
				{name: "devices.update anonymous", who: anon, method: "scheduler.devices.update", params: []any{"qemu-02"}, fault: 403,
					msg: "User 'AnonymousUser' needs admin permission on device qemu-02."},
				{name: "devices.update user", who: bob, method: "scheduler.devices.update", params: []any{"qemu-02"}, fault: 403,
					msg: "User 'bob' needs admin permission on device qemu-02."},
				{name: "devices.update missing", who: admin, method: "scheduler.devices.update", params: []any{"nope"}, fault: 404, msg: "Device 'nope' was not found."},
				{name: "devices.update", who: admin, method: "scheduler.devices.update", params: []any{"qemu-02", nil, "alice", nil, nil, "MAINTENANCE", "repaired", nil, "bench"}, want: nil},
				{name: "devices.show updated", who: bob, method: "scheduler.devices.show", params: []any{"qemu-02"}, want: qemu01(map[string]any{
					"hostname": "qemu-02", "health": "Maintenance", "description": "repaired", "has_device_dict": false})},
				{name: "devices.update bad health", who: admin, method: "scheduler.devices.update", params: []any{"qemu-02", nil, nil, nil, nil, "weird"}, fault: 400, msg: "Health 'weird' is invalid"},
				{name: "devices.update missing worker", who: admin, method: "scheduler.devices.update", params: []any{"qemu-02", "nope"}, fault: 404, msg: "Unable to find worker 'nope'"},
				{name: "devices.update missing user", who: admin, method: "scheduler.devices.update", params: []any{"qemu-02", nil, "nope"}, fault: 404, msg: "Unable to find username 'nope'"},
				{name: "devices.update missing type", who: admin, method: "scheduler.devices.update", params: []any{"qemu-02", nil, nil, nil, nil, nil, nil, "nope"}, fault: 404,
					msg: "Unable to find device-type 'nope'"},
				{name: "get_dictionary none", who: admin, method: "scheduler.devices.get_dictionary", params: []any{"qemu-02"}, fault: 404, msg: "Device 'qemu-02' does not have a configuration"},
				{name: "get_dictionary render none", who: admin, method: "scheduler.devices.get_dictionary", params: []any{"qemu-02", true}, fault: 404, msg: "Device 'qemu-02' does not have a configuration"},
				{name: "export_device_dictionary none", who: admin, method: "scheduler.export_device_dictionary", params: []any{"qemu-02"}, fault: 404,
					msg: "Device 'qemu-02' does not have a device dictionary"},
				{name: "validate_pipeline_devices without dictionary", who: admin, method: "scheduler.validate_pipeline_devices",
					check: binary("qemu-01:\n  Valid: null\nqemu-02:\n  Invalid: Missing device dictionary\n")},
				{name: "set_dictionary user", who: bob, method: "scheduler.devices.set_dictionary", params: []any{"qemu-02", qemu01Dict}, fault: 403,
					msg: "User 'bob' needs admin permission on device qemu-02."},
				{name: "set_dictionary broken", who: admin, method: "scheduler.devices.set_dictionary", params: []any{"qemu-02", "{% extends 'nothing.jinja2' %}\n"}, fault: 400,
					msg: "device qemu-02: device dictionary: …"},
				{name: "set_dictionary", who: admin, method: "scheduler.devices.set_dictionary", params: []any{"qemu-02", qemu01Dict}, want: true},
				{name: "import_device_dictionary user", who: bob, method: "scheduler.import_device_dictionary", params: []any{"qemu-02", qemu01Dict}, fault: 403,
					msg: "Permission denied for user to store the configuration for qemu-02 on disk."},
				{name: "import_device_dictionary", who: admin, method: "scheduler.import_device_dictionary", params: []any{"qemu-02", qemu01Dict},
					want: "Device dictionary updated for qemu-02"},
				{name: "get_dictionary set", who: admin, method: "scheduler.devices.get_dictionary", params: []any{"qemu-02"}, check: binary(qemu01Dict)},

				// device tags
				{name: "devices.tags.add user", who: bob, method: "scheduler.devices.tags.add", params: []any{"qemu-02", "usb"}, fault: 403,
					msg: "User 'bob' is missing permission lava_scheduler_app.add_tag."},
				{name: "devices.tags.add new tag", who: admin, method: "scheduler.devices.tags.add", params: []any{"qemu-02", "usb"}, want: nil},
				{name: "devices.tags.add twice", who: admin, method: "scheduler.devices.tags.add", params: []any{"qemu-02", "usb"}, want: nil},
				{name: "devices.tags.list", who: anon, method: "scheduler.devices.tags.list", params: []any{"qemu-02"}, want: []any{"usb"}},
				{name: "tags.show", who: anon, method: "scheduler.tags.show", params: []any{"usb"}, want: map[string]any{"name": "usb", "description": nil, "devices": []any{"qemu-02"}}},
				{name: "devices.tags.delete user", who: bob, method: "scheduler.devices.tags.delete", params: []any{"qemu-02", "usb"}, fault: 403,
					msg: "User 'bob' needs admin permission on device qemu-02."},
				{name: "devices.tags.delete missing tag", who: admin, method: "scheduler.devices.tags.delete", params: []any{"qemu-02", "nope"}, fault: 404, msg: "Tag 'nope' was not found."},
				{name: "devices.tags.delete", who: admin, method: "scheduler.devices.tags.delete", params: []any{"qemu-02", "usb"}, want: nil},
				{name: "devices.tags.list after delete", who: anon, method: "scheduler.devices.tags.list", params: []any{"qemu-02"}, want: []any{}},

				// tags
				{name: "tags.add user", who: alice, method: "scheduler.tags.add", params: []any{"fast"}, fault: 403, msg: "User 'alice' is missing permission lava_scheduler_app.add_tag."},
				{name: "tags.add", who: admin, method: "scheduler.tags.add", params: []any{"fast", "Fast ones"}, want: nil},
				{name: "tags.add again", who: admin, method: "scheduler.tags.add", params: []any{"fast"}, fault: 400, msg: "Bad request: tag already exists?"},
				{name: "tags.list", who: anon, method: "scheduler.tags.list", want: []any{
					map[string]any{"name": "fast", "description": "Fast ones"}, map[string]any{"name": "usb", "description": nil}}},
				{name: "tags.delete user", who: alice, method: "scheduler.tags.delete", params: []any{"fast"}, fault: 403, msg: "User 'alice' is missing permission lava_scheduler_app.delete_tag."},
				{name: "tags.delete", who: admin, method: "scheduler.tags.delete", params: []any{"fast"}, want: nil},
				{name: "tags.delete again", who: admin, method: "scheduler.tags.delete", params: []any{"fast"}, fault: 404, msg: "Tag 'fast' was not found."},

				// aliases
				{name: "aliases.add user", who: bob, method: "scheduler.aliases.add", params: []any{"kvm", "qemu"}, fault: 403, msg: "User 'bob' is missing permission lava_scheduler_app.add_alias."},
				{name: "aliases.add", who: admin, method: "scheduler.aliases.add", params: []any{"kvm", "qemu"}, want: nil},
				{name: "aliases.add again", who: admin, method: "scheduler.aliases.add", params: []any{"kvm", "qemu"}, fault: 400, msg: "Bad request. Alias or DeviceType name already exists."},
				{name: "aliases.add missing type", who: admin, method: "scheduler.aliases.add", params: []any{"emu", "nope"}, fault: 400, msg: "Bad request. DeviceType does not exist"},
				{name: "aliases.show", who: anon, method: "scheduler.aliases.show", params: []any{"kvm"}, want: map[string]any{"name": "kvm", "device_type": "qemu"}},
				{name: "aliases.list", who: anon, method: "scheduler.aliases.list", want: []any{"kvm"}},
				{name: "get_device_type_by_alias", who: anon, method: "scheduler.get_device_type_by_alias", params: []any{"kv"}, want: map[string]any{"kv": []any{"qemu"}}},
				{name: "device_types.aliases.add user", who: bob, method: "scheduler.device_types.aliases.add", params: []any{"qemu", "emu"}, fault: 403,
					msg: "User 'bob' is missing permission lava_scheduler_app.add_alias."},
				{name: "device_types.aliases.add", who: admin, method: "scheduler.device_types.aliases.add", params: []any{"qemu", "emu"}, want: nil},
				{name: "device_types.aliases.add existing", who: admin, method: "scheduler.device_types.aliases.add", params: []any{"qemu", "emu"}, want: nil},
				{name: "device_types.aliases.list", who: anon, method: "scheduler.device_types.aliases.list", params: []any{"qemu"}, want: []any{"emu", "kvm"}},
				{name: "device_types.aliases.delete user", who: bob, method: "scheduler.device_types.aliases.delete", params: []any{"qemu", "emu"}, fault: 403,
					msg: "No 'admin' permissions for device-type 'qemu'."},
				{name: "device_types.aliases.delete", who: admin, method: "scheduler.device_types.aliases.delete", params: []any{"qemu", "emu"}, want: nil},
				{name: "device_types.aliases.delete again", who: admin, method: "scheduler.device_types.aliases.delete", params: []any{"qemu", "emu"}, fault: 404, msg: "Alias 'emu' was not found."},
				{name: "aliases.delete user", who: bob, method: "scheduler.aliases.delete", params: []any{"kvm"}, fault: 403, msg: "User 'bob' is missing permission lava_scheduler_app.delete_alias."},

				// device types
				{name: "device_types.add user", who: bob, method: "scheduler.device_types.add", params: []any{"bbb", "", true, false, int64(24), "hours"}, fault: 403,
					msg: "User 'bob' is missing permission lava_scheduler_app.change_devicetype."},
				{name: "device_types.add", who: admin, method: "scheduler.device_types.add", params: []any{"bbb", "Beagle", true, false, int64(12), "jobs"}, want: nil},
				{name: "device_types.add again", who: admin, method: "scheduler.device_types.add", params: []any{"bbb", "", true, false, int64(24), "hours"}, fault: 400,
					msg: "Bad request: device-type name is already used."},
				{name: "device_types.add bad denominator", who: admin, method: "scheduler.device_types.add", params: []any{"x", "", true, false, int64(24), "weeks"}, fault: 400,
					msg: "Bad request: invalid health_denominator."},
				{name: "device_types.update user", who: bob, method: "scheduler.device_types.update", params: []any{"bbb", "x"}, fault: 403, msg: "No 'admin' permissions for device-type 'bbb'."},
				{name: "device_types.update anonymous", who: anon, method: "scheduler.device_types.update", params: []any{"bbb", "x"}, fault: 403, msg: "No 'admin' permissions for device-type 'bbb'."},
				{name: "device_types.update", who: admin, method: "scheduler.device_types.update", params: []any{"bbb", nil, false, nil, nil, "hours", true}, want: nil},
				{name: "device_types.update bad denominator", who: admin, method: "scheduler.device_types.update", params: []any{"bbb", nil, nil, nil, nil, "x", nil}, fault: 400,
					msg: "Bad request: invalid health_denominator."},
				{name: "device_types.show updated", who: anon, method: "scheduler.device_types.show", params: []any{"bbb"}, want: qemuType(map[string]any{
					"name": "bbb", "description": "Beagle", "display": false, "health_disabled": true, "health_frequency": int64(12), "devices": []any{}})},
				{name: "set_template user", who: bob, method: "scheduler.device_types.set_template", params: []any{"bbb", "x"}, fault: 403, msg: "No 'change' permissions for device-type 'bbb'."},
				{name: "set_template missing", who: admin, method: "scheduler.device_types.set_template", params: []any{"nope", "x"}, fault: 404, msg: "Device-type 'nope' was not found."},
				{name: "set_template", who: admin, method: "scheduler.device_types.set_template", params: []any{"bbb", "{% extends 'base-uboot.jinja2' %}\n"}, want: nil},
				{name: "get_template stored", who: anon, method: "scheduler.device_types.get_template", params: []any{"bbb"}, check: binary("{% extends 'base-uboot.jinja2' %}\n")},
				{name: "device_types.show stored template", who: anon, method: "scheduler.device_types.show", params: []any{"bbb"}, want: qemuType(map[string]any{
					"name": "bbb", "description": "Beagle", "display": false, "health_disabled": true, "health_frequency": int64(12), "devices": []any{},
					"default_template": false})},
				{name: "device_types.list with bbb", who: anon, method: "scheduler.device_types.list", want: []any{
					map[string]any{"name": "bbb", "devices": int64(0), "installed": true, "template": true},
					map[string]any{"name": "qemu", "devices": int64(2), "installed": true, "template": true}}},
				{name: "set_health_check user", who: bob, method: "scheduler.device_types.set_health_check", params: []any{"qemu", check}, fault: 403,
					msg: "No 'change' permissions for device-type 'qemu'."},
				{name: "set_health_check of another type", who: admin, method: "scheduler.device_types.set_health_check", params: []any{"bbb", check}, fault: 400, msg: "…"},
				{name: "set_health_check", who: admin, method: "scheduler.device_types.set_health_check", params: []any{"qemu", check}, want: nil},
				{name: "get_health_check", who: anon, method: "scheduler.device_types.get_health_check", params: []any{"qemu"}, check: binary(check)},
				{name: "devices.show health_job", who: anon, method: "scheduler.devices.show", params: []any{"qemu-01"}, want: qemu01(map[string]any{"health_job": true})},

				// workers
				{name: "workers.add user", who: bob, method: "scheduler.workers.add", params: []any{"w2"}, fault: 403, msg: "User 'bob' is missing permission lava_scheduler_app.add_worker."},
				{name: "workers.add", who: admin, method: "scheduler.workers.add", params: []any{"w2", "second"}, want: nil},
				{name: "workers.add again", who: admin, method: "scheduler.workers.add", params: []any{"w2"}, fault: 400, msg: "Bad request: worker already exists?"},
				{name: "workers.add disabled", who: admin, method: "scheduler.workers.add", params: []any{"w3", nil, true}, want: nil},
				{name: "workers.list", who: anon, method: "scheduler.workers.list", want: []any{"w1", "w2"}},
				{name: "workers.list show_all", who: anon, method: "scheduler.workers.list", params: []any{true}, want: []any{"w1", "w2", "w3"}},
				{name: "workers.update user", who: bob, method: "scheduler.workers.update", params: []any{"w2"}, fault: 403, msg: "User 'bob' is missing permission lava_scheduler_app.change_worker."},
				{name: "workers.update", who: admin, method: "scheduler.workers.update", params: []any{"w2", nil, "MAINTENANCE", int64(3)}, want: nil},
				{name: "workers.update bad health", who: admin, method: "scheduler.workers.update", params: []any{"w2", nil, "Active"}, fault: 400, msg: "Invalid health: Active"},
				{name: "workers.update negative job limit", who: admin, method: "scheduler.workers.update", params: []any{"w2", nil, nil, int64(-1)}, fault: 400, msg: "Invalid job limit"},
				{name: "workers.update job limit as text", who: admin, method: "scheduler.workers.update", params: []any{"w2", nil, nil, "3"}, fault: 400, msg: "Invalid job limit"},
				{name: "workers.update missing", who: admin, method: "scheduler.workers.update", params: []any{"nope"}, fault: 404, msg: "Worker 'nope' was not found."},
				{name: "devices.update worker", who: admin, method: "scheduler.devices.update", params: []any{"qemu-02", "w2"}, want: nil},
				{name: "workers.show", who: anon, method: "scheduler.workers.show", params: []any{"w2"}, want: w1(map[string]any{
					"hostname": "w2", "description": "second", "health": "Maintenance", "job_limit": int64(3), "devices": []any{"qemu-02"}})},
				{name: "workers.show retired", who: anon, method: "scheduler.workers.show", params: []any{"w3"}, want: w1(map[string]any{
					"hostname": "w3", "health": "Retired", "devices": []any{}})},
				{name: "workers.delete user", who: bob, method: "scheduler.workers.delete", params: []any{"w2"}, fault: 403, msg: "User 'bob' is missing permission lava_scheduler_app.delete_worker."},
				{name: "workers.delete", who: admin, method: "scheduler.workers.delete", params: []any{"w2"}, want: nil},
				{name: "workers.delete again", who: admin, method: "scheduler.workers.delete", params: []any{"w2"}, fault: 404, msg: "Worker 'w2' was not found."},
				{name: "device of a deleted worker", who: anon, method: "scheduler.devices.show", params: []any{"qemu-02"}, want: qemu01(map[string]any{
					"hostname": "qemu-02", "health": "Maintenance", "description": "repaired", "worker": nil, "health_job": true})},

				// health through the older methods
				{name: "put_into_maintenance_mode anonymous", who: anon, method: "scheduler.put_into_maintenance_mode", params: []any{"qemu-01", "why"}, fault: 401, msg: authMessage},
				{name: "put_into_maintenance_mode user", who: bob, method: "scheduler.put_into_maintenance_mode", params: []any{"qemu-01", "why"}, fault: 403,
					msg: "Permission denied for user to put qemu-01 into maintenance mode."},
				{name: "put_into_maintenance_mode no reason", who: admin, method: "scheduler.put_into_maintenance_mode", params: []any{"qemu-01", ""}, fault: 400,
					msg: "Bad request: Reason was not specified."},
				{name: "put_into_maintenance_mode", who: admin, method: "scheduler.put_into_maintenance_mode", params: []any{"qemu-01", "cable", "a@example.org"}, want: nil},
				{name: "status in maintenance", who: anon, method: "scheduler.get_device_status", params: []any{"qemu-01"}, want: map[string]any{
					"hostname": "qemu-01", "status": "offline", "job": nil, "offline_since": nil, "offline_by": nil, "is_pipeline": true}},
				{name: "put_into_online_mode user", who: bob, method: "scheduler.put_into_online_mode", params: []any{"qemu-01", "fixed"}, fault: 403,
					msg: "Permission denied for user to put qemu-01 into online mode."},
				{name: "put_into_online_mode", who: admin, method: "scheduler.put_into_online_mode", params: []any{"qemu-01", "fixed", true}, want: nil},
				{name: "devices.list online", who: anon, method: "scheduler.devices.list", want: []any{
					map[string]any{"hostname": "qemu-01", "type": "qemu", "health": "Unknown", "state": "Idle", "current_job": nil, "pipeline": true},
					map[string]any{"hostname": "qemu-02", "type": "qemu", "health": "Maintenance", "state": "Idle", "current_job": nil, "pipeline": true}}},
				{name: "retire", who: admin, method: "scheduler.devices.update", params: []any{"qemu-02", nil, nil, nil, nil, "RETIRED"}, want: nil},
				{name: "devices.list without retired", who: anon, method: "scheduler.devices.list", want: []any{
					map[string]any{"hostname": "qemu-01", "type": "qemu", "health": "Unknown", "state": "Idle", "current_job": nil, "pipeline": true}}},
				{name: "all_devices without retired", who: anon, method: "scheduler.all_devices", want: []any{[]any{"qemu-01", "qemu", "idle", nil, true}}},

				// deleting
				{name: "devices.delete user", who: bob, method: "scheduler.devices.delete", params: []any{"qemu-02"}, fault: 403,
					msg: "User 'bob' is missing permission lava_scheduler_app.delete_device."},
				{name: "devices.delete", who: admin, method: "scheduler.devices.delete", params: []any{"qemu-02"}, want: nil},
				{name: "devices.delete again", who: admin, method: "scheduler.devices.delete", params: []any{"qemu-02"}, fault: 404, msg: "Device 'qemu-02' was not found."},
				{name: "aliases.delete", who: admin, method: "scheduler.aliases.delete", params: []any{"kvm"}, want: nil},
				{name: "aliases.delete again", who: admin, method: "scheduler.aliases.delete", params: []any{"kvm"}, fault: 404, msg: "Alias 'kvm' was not found."},
			})
		})
	}
}

// TestLabPrivateJobs: a device running a job the caller may not see shows
// it busy with no job id; one that jobs ran on is not deleted.
func TestLabPrivateJobs(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			must(t, e.App.CreateDevice(ctx, e.Principal(admin), lab.Device{Hostname: "qemu-02", DeviceType: "qemu", Worker: "w1",
				Health: lab.DeviceGood, Dictionary: qemu01Dict}, "test"))
			_, err := e.App.Heartbeat(ctx, auth.WorkerPrincipal("w1"), "w1", "test")
			must(t, err)
			_, err = e.App.SchedulePass(ctx)
			must(t, err)
			priv, err := e.App.GetJob(ctx, e.Principal(alice), e.privJob)
			must(t, err)
			pub, err := e.App.GetJob(ctx, e.Principal(alice), e.pubJob)
			must(t, err)
			if priv.ActualDevice == "" || pub.ActualDevice == "" {
				t.Fatalf("jobs not scheduled: %+v %+v", priv, pub)
			}
			device := func(host string, job any) map[string]any {
				return map[string]any{"hostname": host, "type": "qemu", "health": "Good", "state": "Reserved", "current_job": job, "pipeline": true}
			}
			list := func(privJob any) []any {
				byHost := map[string]any{priv.ActualDevice: privJob, pub.ActualDevice: e.pubJob}
				return []any{device("qemu-01", byHost["qemu-01"]), device("qemu-02", byHost["qemu-02"])}
			}
			e.run(t, []labCase{
				{name: "devices.list by another user", who: bob, method: "scheduler.devices.list", want: list(nil)},
				{name: "devices.list by the submitter", who: alice, method: "scheduler.devices.list", want: list(e.privJob)},
				{name: "devices.show by another user", who: bob, method: "scheduler.devices.show", params: []any{priv.ActualDevice},
					check: func(t *testing.T, got any) {
						if m, _ := got.(map[string]any); m["current_job"] != nil || m["state"] != "Reserved" {
							t.Errorf("show: %v", got)
						}
					}},
				{name: "get_device_status by another user", who: bob, method: "scheduler.get_device_status", params: []any{priv.ActualDevice}, want: map[string]any{
					"hostname": priv.ActualDevice, "status": "reserved", "job": nil, "offline_since": nil, "offline_by": nil, "is_pipeline": true}},
				{name: "all_device_types busy", who: anon, method: "scheduler.all_device_types", want: []any{
					map[string]any{"name": "qemu", "idle": int64(0), "busy": int64(2), "offline": int64(0)}}},
				{name: "devices.delete a device that jobs ran on", who: admin, method: "scheduler.devices.delete", params: []any{pub.ActualDevice}, fault: 409,
					msg: fmt.Sprintf("delete device %q: conflict: jobs ran on it (Basalt keeps every job with the device it ran on: set the device's health to Retired instead)", pub.ActualDevice)},
				{name: "workers.delete with busy devices", who: admin, method: "scheduler.workers.delete", params: []any{"w1"}, fault: 409, msg: "…"},
			})
		})
	}
}

// TestLabHelp: the method table's help and signatures of this namespace.
func TestLabHelp(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	got, err := e.call(anon, "system.methodHelp", "scheduler.devices.get_dictionary")
	must(t, err)
	if s, _ := got.(string); !strings.HasPrefix(s, "scheduler.devices.get_dictionary(hostname, render=None, context=None)\n\n[superuser only] The device dictionary") {
		t.Errorf("methodHelp: %q", got)
	}
	got, err = e.call(anon, "system.methodSignature", "scheduler.devices.update")
	must(t, err)
	want := []any{[]any{"nil", "string", "string", "string", "string", "boolean", "string", "string", "string", "string"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("methodSignature (-want +got):\n%s", diff)
	}
}

// TestLavacliLab runs Debian's lavacli's device, device-type, worker, tag
// and alias commands and checks what each prints.
func TestLavacliLab(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	dir := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	dict := file("qemu-02.jinja2", "{% extends 'qemu.jinja2' %}\n{% set memory = 2048 %}\n")
	template := file("bbb.jinja2", "{% extends 'base-uboot.jinja2' %}\n{% set console_device = 'ttyS0' %}\n")
	check := labtest.Job("health check", "qemu", "")
	health := file("qemu.yaml", check)
	for _, tc := range []struct {
		who  int
		args []string
		want string
	}{
		{anon, []string{"devices", "list"}, "Devices:\n* qemu-01 (qemu): Idle,Good\n"},
		{bob, []string{"devices", "show", "qemu-01"}, "name        : qemu-01\ndevice-type : qemu\nstate       : Idle\nhealth      : Good\n" +
			"health job  : False\ndescription : \npipeline    : True\ndevice-dict : True\nworker      : w1\ncurrent job : None\ntags        : []\n"},
		{admin, []string{"devices", "dict", "get", "qemu-01"}, "{% extends 'qemu.jinja2' %}\n{% set memory = 1024 %}\n"},
		{admin, []string{"devices", "dict", "get", "qemu-01", "memory"}, "1024\n"},
		{admin, []string{"devices", "dict", "get", "--render", "qemu-01", "actions.boot.methods.qemu.parameters.command"}, "qemu-system-x86_64\n"},
		{admin, []string{"devices", "dict", "get", "--render", "--context", "{arch: arm64}", "qemu-01", "actions.boot.methods.qemu.parameters.command"}, "qemu-system-aarch64\n"},
		{admin, []string{"devices", "add", "--type", "qemu", "--worker", "w1", "--description", "spare", "--health", "MAINTENANCE", "qemu-02"}, ""},
		{admin, []string{"devices", "dict", "set", "qemu-02", dict}, ""},
		{admin, []string{"devices", "dict", "get", "qemu-02", "memory"}, "2048\n"},
		{admin, []string{"devices", "update", "--health", "GOOD", "--description", "second", "qemu-02"}, ""},
		{admin, []string{"devices", "tags", "add", "qemu-02", "usb"}, ""},
		{admin, []string{"devices", "tags", "add", "qemu-02", "arm"}, ""},
		{anon, []string{"devices", "tags", "list", "qemu-02"}, "Tags:\n* arm\n* usb\n"},
		{admin, []string{"devices", "tags", "delete", "qemu-02", "arm"}, ""},
		{anon, []string{"devices", "tags", "list", "qemu-02"}, "Tags:\n* usb\n"},
		{anon, []string{"devices", "show", "qemu-02"}, "name        : qemu-02\ndevice-type : qemu\nstate       : Idle\nhealth      : Good\n" +
			"health job  : False\ndescription : second\npipeline    : True\ndevice-dict : True\nworker      : w1\ncurrent job : None\ntags        : ['usb']\n"},
		{admin, []string{"devices", "maintenance", "qemu-02"}, ""},
		{anon, []string{"devices", "list"}, "Devices:\n* qemu-01 (qemu): Idle,Good\n* qemu-02 (qemu): Idle,Maintenance\n"},
		{anon, []string{"devices", "list", "--json"}, `[{"hostname": "qemu-01", "type": "qemu", "health": "Good", "state": "Idle", "current_job": null, "pipeline": true}, ` +
			`{"hostname": "qemu-02", "type": "qemu", "health": "Maintenance", "state": "Idle", "current_job": null, "pipeline": true}]` + "\n"},

		{anon, []string{"device-types", "list"}, "Device-Types:\n* qemu (2)\n"},
		{anon, []string{"device-types", "list", "--all"}, "Device-Types:\n* qemu (2)\n* beaglebone-black (0)\n* qemu-ipxe-x86_64 (0)\n* qemu-uboot-x86_64 (0)\n* x86 (0)\n"},
		{admin, []string{"device-types", "add", "bbb", "--description", "BeagleBone Black", "--health-frequency", "10", "--health-denominator", "jobs"}, ""},
		{admin, []string{"device-types", "update", "bbb", "--hide", "--health-disabled"}, ""},
		{anon, []string{"device-types", "show", "bbb"}, "name            : bbb\ndescription     : BeagleBone Black\ndisplay         : False\n" +
			"health disabled : True\naliases         : []\ndevices         : []\n"},
		{admin, []string{"device-types", "template", "set", "bbb", template}, ""},
		{anon, []string{"device-types", "template", "get", "bbb"}, "{% extends 'base-uboot.jinja2' %}\n{% set console_device = 'ttyS0' %}\n"},
		{admin, []string{"device-types", "health-check", "set", "qemu", health}, ""},
		{anon, []string{"device-types", "health-check", "get", "qemu"}, strings.TrimRight(check, "\n") + "\n"},
		{admin, []string{"device-types", "aliases", "add", "qemu", "kvm"}, ""},
		{admin, []string{"device-types", "aliases", "add", "qemu", "emu"}, ""},
		{anon, []string{"device-types", "aliases", "list", "qemu"}, "Aliases:\n* emu\n* kvm\n"},
		{admin, []string{"device-types", "aliases", "delete", "qemu", "emu"}, ""},
		{anon, []string{"device-types", "show", "qemu"}, "name            : qemu\ndescription     : \ndisplay         : True\n" +
			"health disabled : False\naliases         : ['kvm']\ndevices         : ['qemu-01', 'qemu-02']\n"},
		{anon, []string{"device-types", "list"}, "Device-Types:\n* bbb (0)\n* qemu (2)\n"},

		{anon, []string{"workers", "list"}, "Workers:\n* w1\n"},
		{anon, []string{"workers", "show", "w1"}, "hostname    : w1\ndescription : \nstate       : Offline\nhealth      : Active\n" +
			"devices     : qemu-01, qemu-02\nlast ping   : 00010101T00:00:00\njob limit   : 0\nversion     : None\n"},
		{admin, []string{"workers", "add", "w2", "--description", "rack 2"}, ""},
		{admin, []string{"workers", "update", "w2", "--job-limit", "2", "--description", "rack two"}, ""},
		{admin, []string{"workers", "maintenance", "w2"}, ""},
		{admin, []string{"workers", "show", "w2"}, "hostname    : w2\ndescription : rack two\nstate       : Offline\nhealth      : Maintenance\n" +
			"devices     : \nlast ping   : 00010101T00:00:00\njob limit   : 2\nversion     : None\n"},
		{admin, []string{"workers", "update", "w2", "--health", "RETIRED"}, ""},
		{anon, []string{"workers", "list"}, "Workers:\n* w1\n"},

		{admin, []string{"tags", "add", "fast", "--description", "Fast ones"}, ""},
		{anon, []string{"tags", "list"}, "Tags:\n* arm\n* fast (Fast ones)\n* usb\n"},
		{anon, []string{"tags", "show", "usb"}, "name       : usb\ndescription: None\ndevices    :\n* qemu-02\n"},
		{admin, []string{"tags", "delete", "fast"}, ""},
		{anon, []string{"tags", "list"}, "Tags:\n* arm\n* usb\n"},

		{admin, []string{"aliases", "add", "beaglebone", "bbb"}, ""},
		{anon, []string{"aliases", "list"}, "Aliases:\n* beaglebone\n* kvm\n"},
		{anon, []string{"aliases", "show", "beaglebone"}, "name       : beaglebone\ndevice-type: bbb\n"},
		{admin, []string{"aliases", "delete", "beaglebone"}, ""},
		{anon, []string{"aliases", "list"}, "Aliases:\n* kvm\n"},
	} {
		out, err := e.lavacli(tc.who, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if out != tc.want {
			t.Errorf("lavacli %v:\n%q\nwant\n%q", tc.args, out, tc.want)
		}
	}

	// Refusals print LAVA's faults and exit 1.
	for _, tc := range []struct {
		who  int
		args []string
		want string
	}{
		{bob, []string{"devices", "dict", "get", "qemu-01"}, "Unable to call 'devices.dict': <Fault 403: \"Device 'qemu-01' not available to user 'bob': " +
			"Basalt shows device dictionaries to superusers only (they hold lab secrets).\">\n"},
		{bob, []string{"devices", "add", "--type", "qemu", "--worker", "w1", "qemu-03"}, "Unable to call 'devices.add': <Fault 403: " +
			"\"User 'bob' is missing permission lava_scheduler_app.change_device.\">\n"},
		{admin, []string{"workers", "config", "get", "w1"}, "Unable to call 'workers.config': <Fault 404: \"Worker 'w1' does not have a dispatcher configuration\">\n"},
		{admin, []string{"workers", "env", "set", "w1", dict}, "Unable to call 'workers.env': <Fault 400: \"" + noEnv + "\">\n"},
	} {
		out, err := e.lavacli(tc.who, tc.args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("lavacli %v: %v, want exit status 1", tc.args, err)
		}
		if out != tc.want {
			t.Errorf("lavacli %v:\n%q\nwant\n%q", tc.args, out, tc.want)
		}
	}
}
