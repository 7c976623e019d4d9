package jobdef

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// subBase is a sub-job as Split writes it, for a device role.
const subBase = `job_name: sub
device_type: qemu
context:
  arch: amd64
visibility: public
timeouts:
  job:
    minutes: 5
protocols:
  lava-multinode:
    target_group: 5f0c3a52
    role: client
    group_size: 3
    sub_id: 1
    tags: [kvm]
    environment: {A: b}
    worker: worker-02
    essential: true
    timeout:
      minutes: 2
actions:
- command:
    name: relay_on
    role: client
`

// subConn is a sub-job of a dynamic connection role.
const subConn = `job_name: sub
connection: ssh
host_role: server
visibility: public
timeouts:
  job:
    minutes: 5
protocols:
  lava-multinode:
    target_group: 5f0c3a52
    role: guest
    group_size: 3
    sub_id: 2
    expect_role: server
    request: lava-start
actions:
- test:
    role: guest
    interactive:
    - name: api
      prompts: ["$ "]
      script:
      - lava-send: ready
      - lava-wait: go
      - lava-wait-all: go
      - lava-sync: done
`

// parseServer parses src with ServerGenerated and returns the error items
// (nil if it parsed).
func parseServer(t *testing.T, src string) (*Job, []Error) {
	t.Helper()
	job, err := Parse([]byte(src), ServerGenerated())
	if err == nil {
		return job, nil
	}
	var list *Errors
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, want *Errors: %v", err, err)
	}
	checkErrors(t, list)
	return nil, list.Items
}

func TestSubJobParse(t *testing.T) {
	job, errs := parseServer(t, subBase)
	if errs != nil {
		t.Fatalf("unexpected errors:\n%v", (&Errors{Items: errs}).Error())
	}
	want := &Member{TargetGroup: "5f0c3a52", Role: "client", SubID: 1, GroupSize: 3, Essential: true}
	if diff := cmp.Diff(want, job.Member()); diff != "" {
		t.Errorf("Member (-want +got):\n%s", diff)
	}
	if job.DeviceType != "qemu" || job.Worker != "worker-02" || job.Device != "" ||
		!cmp.Equal(job.Tags, []string{"kvm"}) || !cmp.Equal(job.Environment, map[string]any{"A": "b"}) ||
		!cmp.Equal(job.Context, map[string]any{"arch": "amd64"}) {
		t.Errorf("job fields from the role: %+v", job)
	}
	if tm := job.Protocols.Multinode.Timeout; tm == nil || tm.Duration.Minutes() != 2 {
		t.Errorf("multinode timeout %v", tm)
	}
	if job.Protocols.Multinode.Roles != nil {
		t.Errorf("a sub-job has roles %v", job.Protocols.Multinode.Roles)
	}
	if !cmp.Equal(job.Actions[0].Role, []string{"client"}) {
		t.Errorf("action role %v", job.Actions[0].Role)
	}

	conn, errs := parseServer(t, subConn)
	if errs != nil {
		t.Fatalf("connection sub-job: unexpected errors:\n%v", (&Errors{Items: errs}).Error())
	}
	wantConn := &Member{TargetGroup: "5f0c3a52", Role: "guest", SubID: 2, GroupSize: 3,
		Connection: "ssh", HostRole: "server", ExpectRole: "server", Request: "lava-start"}
	if diff := cmp.Diff(wantConn, conn.Member()); diff != "" {
		t.Errorf("connection Member (-want +got):\n%s", diff)
	}
	if conn.DeviceType != "" {
		t.Errorf("connection sub-job has device_type %q", conn.DeviceType)
	}
	var kinds []StepKind
	for _, st := range conn.Actions[0].Test.Interactive[0].Script {
		kinds = append(kinds, st.Kind)
	}
	if !cmp.Equal(kinds, []StepKind{StepSend, StepWait, StepWaitAll, StepSync}) {
		t.Errorf("interactive steps %v", kinds)
	}

	// Other jobs are not concerned by the option.
	if _, errs := parseServer(t, base); errs != nil {
		t.Errorf("single-node job refused with ServerGenerated: %v", errs)
	}
	if j, _ := parseErrs(t, base); j.Member() != nil {
		t.Errorf("single-node job has a Member")
	}
}

// TestSubJobSubmittedByUser: the sub-job form, submitted as a job, is
// refused at every key only the server writes, and only there.
func TestSubJobSubmittedByUser(t *testing.T) {
	for _, src := range []string{subBase, subConn} {
		_, errs := parseErrs(t, src)
		var paths []string
		for _, e := range errs {
			if !strings.Contains(e.Msg, "is set by the server in the jobs it makes of a multinode submission") {
				t.Errorf("unexpected error %v", e)
			}
			paths = append(paths, e.Path)
		}
		want := []string{"$.protocols.lava-multinode.target_group", "$.protocols.lava-multinode.role",
			"$.protocols.lava-multinode.group_size", "$.protocols.lava-multinode.sub_id"}
		if !cmp.Equal(paths, want) {
			t.Errorf("errors at %v, want %v", paths, want)
		}
	}
}

func TestSubJobRules(t *testing.T) {
	tests := []struct {
		name, src, path, msg string
	}{
		{"no target group", strings.Replace(subBase, "    target_group: 5f0c3a52\n", "", 1),
			"$.protocols.lava-multinode", `missing required key "target_group"`},
		{"long target group", strings.Replace(subBase, "5f0c3a52", strings.Repeat("a", MaxTargetGroup+1), 1),
			"$.protocols.lava-multinode.target_group", "at most 64"},
		{"no role", strings.Replace(subBase, "    role: client\n    group_size", "    group_size", 1),
			"$.protocols.lava-multinode", `missing required key "role"`},
		{"sub_id out of the group", strings.Replace(subBase, "sub_id: 1", "sub_id: 3", 1),
			"$.protocols.lava-multinode.sub_id", "not below group_size 3"},
		{"group too large", strings.Replace(subBase, "group_size: 3", "group_size: 101", 1),
			"$.protocols.lava-multinode.group_size", "between 1 and 100"},
		{"action of another role", strings.Replace(subBase, "relay_on\n    role: client\n", "relay_on\n    role: server\n", 1),
			"$.actions[0].command.role", `role "server" is not the sub-job's role "client"`},
		{"action role as a list", strings.Replace(subBase, "relay_on\n    role: client\n", "relay_on\n    role: [client]\n", 1),
			"$.actions[0].command.role", "expected a string"},
		{"action without role", strings.Replace(subBase, "relay_on\n    role: client\n", "relay_on\n", 1),
			"$.actions[0].command", `missing required key "role"`},
		{"top-level tags", strings.Replace(subBase, "visibility: public\n", "visibility: public\ntags: [kvm]\n", 1),
			"$.tags", "its role's tags is in protocols.lava-multinode"},
		{"top-level device", strings.Replace(subBase, "visibility: public\n", "visibility: public\ndevice: qemu-01\n", 1),
			"$.device", "its role's device is in protocols.lava-multinode"},
		{"no device type", strings.Replace(subBase, "device_type: qemu\n", "", 1),
			"$", `missing required key "device_type" (or connection`},
		{"device type and connection", strings.Replace(subConn, "connection: ssh\n", "connection: ssh\ndevice_type: qemu\n", 1),
			"$.connection", "either device_type or connection"},
		{"connection with a device", strings.Replace(subConn, "    request: lava-start\n", "    request: lava-start\n    device: qemu-01\n", 1),
			"$.protocols.lava-multinode.device", "cannot set device"},
		{"host_role alone", strings.Replace(subConn, "    expect_role: server\n", "", 1),
			"$.host_role", "host_role and expect_role go together"},
		{"bad request", strings.Replace(subConn, "request: lava-start", "request: lava-stop", 1),
			"$.protocols.lava-multinode.request", `unknown request "lava-stop"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parseServer(t, tt.src)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), (&Errors{Items: errs}).Error())
			}
			if errs[0].Path != tt.path || !strings.Contains(errs[0].Msg, tt.msg) {
				t.Errorf("got %v, want path %q and a message containing %q", errs[0], tt.path, tt.msg)
			}
		})
	}
}

// TestMultinodeSubmissionRules are the rules Split relies on.
func TestMultinodeSubmissionRules(t *testing.T) {
	mn := `job_name: mn
visibility: public
timeouts: {job: {minutes: 10}}
protocols:
  lava-multinode:
    roles:
      a: {device_type: qemu, count: 1}
      b: {device_type: qemu, count: 1}
`
	both := "actions:\n- command: {name: x, role: [a, b]}\n"
	wantOneError(t, mn+"actions:\n- command: {name: x, role: [a]}\n",
		"$.protocols.lava-multinode.roles.b", `role "b" has no action`)
	wantOneError(t, strings.Replace(mn, "count: 1}\n      b", "count: 1, sub_id: 4}\n      b", 1)+both,
		"$.protocols.lava-multinode.roles.a.sub_id", "set by the server in each job of the group")
	wantOneError(t, strings.Replace(mn, "    roles:\n", "    target_group: mine\n    roles:\n", 1)+both,
		"$.protocols.lava-multinode.target_group", "set by the server")
	wantOneError(t, strings.Replace(mn, "count: 1}\n      b", "count: 100}\n      b", 1)+both,
		"$.protocols.lava-multinode.roles", "add up to 101: a multinode job makes at most 100 jobs")
	job := wantOneWarning(t, strings.Replace(mn, "visibility: public\n", "visibility: public\ndevice: qemu-01\n", 1)+both,
		"$.device", "ignored with protocols.lava-multinode")
	if job.Device != "" {
		t.Errorf("multinode submission has Device %q", job.Device)
	}
	wantOneWarning(t, strings.Replace(mn, "visibility: public\n", "visibility: public\nworker: w1\n", 1)+both,
		"$.worker", "ignored with protocols.lava-multinode")
	// A role of count 0 needs no action.
	if _, errs := parseErrs(t, strings.Replace(mn, "b: {device_type: qemu, count: 1}", "b: {device_type: qemu, count: 0}", 1)+
		"actions:\n- command: {name: x, role: [a]}\n"); errs != nil {
		t.Errorf("count 0 role without action refused: %v", errs)
	}
}
