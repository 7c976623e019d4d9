package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// mnMember is one job of a test group: its id, role and definition. The
// definition is a multinode submission: the job runs its role's sub-job
// (jobdef.Split), as the server gives it, or with submission the
// submission itself.
type mnMember struct {
	id         int64
	role       string
	def        string
	submission bool
}

// subJob returns the definition of the first job of role that Split makes
// of a submission, and its sub_id index.
func subJob(t *testing.T, submission, role string) (string, int) {
	t.Helper()
	job, err := jobdef.Parse([]byte(submission))
	if err != nil {
		return submission, 0 // an invalid definition: run it as it is
	}
	subs, err := jobdef.Split([]byte(submission), job, "5bd4c1a0-group")
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	for _, s := range subs {
		if s.Role == role {
			return s.Definition, s.Index
		}
	}
	t.Fatalf("no sub-job of role %s", role)
	return "", 0
}

// mnOutcome is what one member's job left.
type mnOutcome struct {
	res  Result
	recs []workerproto.Record
	dir  string
}

// runGroup runs the jobs of one multinode group side by side, each on its
// own simulated device, with a fakeGroup as their coordinator, and
// returns their outcomes by job id.
func runGroup(t *testing.T, g *fakeGroup, ctx context.Context, members ...mnMember) map[int64]mnOutcome {
	t.Helper()
	roles := map[string]string{}
	for _, m := range members {
		roles[itoa(m.id)] = m.role
	}
	out := map[int64]mnOutcome{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, m := range members {
		dir := t.TempDir()
		def, index := m.def, i
		if !m.submission {
			def, index = subJob(t, m.def, m.role)
		}
		a := workerproto.Assign{
			JobID:      m.id,
			Definition: def,
			Device:     workerproto.Device{Hostname: "sim-" + itoa(m.id), DeviceType: "qemu", Dictionary: simDict(fastDevice)},
			JobToken:   testToken,
			Multinode: &workerproto.Multinode{Group: "5bd4c1a0-group", SubID: itoa(members[0].id) + "." + itoa(int64(index)),
				Role: m.role, GroupSize: len(members), Roles: roles},
		}
		if err := WriteJob(dir, a); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := RunWith(ctx, dir, Options{Coordinator: g.client(itoa(m.id), m.role)})
			if err != nil {
				t.Errorf("job %d: RunWith: %v", m.id, err)
				return
			}
			recs, err := journal.ReadFile(filepath.Join(dir, JournalFile))
			if err != nil {
				t.Errorf("job %d: %v", m.id, err)
				return
			}
			mu.Lock()
			out[m.id] = mnOutcome{res: res, recs: recs, dir: dir}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// mnJob is a multinode submission: the roles (name: extra settings) and
// actions (YAML list items, each naming its roles).
func mnJob(roles map[string]string, protoExtra, actions string) string {
	s := "job_name: multinode\nvisibility: public\ntimeouts:\n  job:\n    minutes: 2\nprotocols:\n  lava-multinode:\n" + protoExtra + "    roles:\n"
	for _, name := range sortedKeys(roles) {
		s += "      " + name + ":\n        device_type: qemu\n        count: 1\n" + roles[name]
	}
	return s + "actions:\n" + actions
}

// mnBoot boots every role's device.
const mnBoot = "- boot:\n    role: [server, client]\n    method: qemu\n    prompts: [\"/ # \"]\n"

// mnTest is a test action of one role with one inline definition.
func mnTest(role, name string, steps ...string) string {
	s := "- test:\n    role: [" + role + "]\n    definitions:\n    - name: " + name + "\n      from: inline\n      path: inline/x.yaml\n" +
		"      repository:\n        metadata:\n          format: Lava-Test Test Definition 1.0\n          name: " + name + "\n        run:\n          steps:\n"
	for _, st := range steps {
		s += "          - '" + strings.ReplaceAll(st, "'", "''") + "'\n"
	}
	return s
}

var twoRoles = map[string]string{"server": "", "client": ""}

// TestMultinodeClientServer is LAVA's first multinode example on two
// simulated devices: the server sends its address, the client waits for
// it and reads it from the cache, both meet at a barrier.
func TestMultinodeClientServer(t *testing.T) {
	def := mnJob(twoRoles, "    timeout:\n      seconds: 30\n", mnBoot+
		mnTest("server", "server", `lava-send ipaddr ipaddr=10.0.0.1 "motd=hello multinode world" bogus`, "lava-sync done")+
		mnTest("client", "client", "lava-wait ipaddr", "cat "+MultinodeCacheForTests, "lava-sync done"))
	g := newFakeGroup(2)
	out := runGroup(t, g, context.Background(), mnMember{id: 12, role: "server", def: def}, mnMember{id: 13, role: "client", def: def})

	for id, o := range out {
		if !o.res.Passed() {
			t.Errorf("job %d: %+v", id, o.res)
		}
	}
	if diff := cmp.Diff([]workerproto.ResultMsg{
		{Definition: "0_server", Case: "multinode-send-ipaddr", Result: "pass"},
		{Definition: "0_server", Case: "multinode-sync-done", Result: "pass"},
	}, results(t, out[12].recs, "0_server")); diff != "" {
		t.Errorf("server results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]workerproto.ResultMsg{
		{Definition: "0_client", Case: "multinode-wait-ipaddr", Result: "pass"},
		{Definition: "0_client", Case: "multinode-sync-done", Result: "pass"},
	}, results(t, out[13].recs, "0_client")); diff != "" {
		t.Errorf("client results (-want +got):\n%s", diff)
	}
	// The client was answered with the server's data, and its cache
	// holds it, one pair per line.
	client := messages(out[13].recs)
	for _, want := range []string{
		"input <LAVA_WAIT_COMPLETE 12:ipaddr=10.0.0.1 12:motd=hello multinode world>",
		"target 12:ipaddr=10.0.0.1",
		"target 12:motd=hello multinode world",
		"input <LAVA_SYNC_COMPLETE>",
	} {
		if !slices.Contains(client, want) {
			t.Errorf("client journal lacks %q", want)
		}
	}
	// Both joined the group first and left it last.
	for _, id := range []string{"12", "13"} {
		calls := g.calls(id)
		if len(calls) < 2 || calls[0] != "group_data  → group_data" || calls[len(calls)-1] != "clear_group  → ack" {
			t.Errorf("job %s: coordinator calls %q: want group_data first and clear_group last", id, calls)
		}
	}
	if !slices.Contains(g.calls("12"), "lava_send ipaddr → ack") || !slices.Contains(g.calls("13"), "lava_wait ipaddr → ack") {
		t.Errorf("calls: %q", g.calls(""))
	}
	// The group's roles are in the log of each job.
	if !hasMessage(out[13].recs, workerproto.LevelInfo, "lava-multinode: group 5bd4c1a0-group, 2 jobs: 12 server, 13 client; this job (12.0) is client") {
		t.Errorf("client journal lacks the group's roles:\n%s", strings.Join(messages(out[13].recs), "\n"))
	}
}

// MultinodeCacheForTests is the simulated device's cache file.
const MultinodeCacheForTests = "/tmp/lava_multi_node_cache.txt"

// TestMultinodeTimeoutInTestShell: a lava-wait nobody answers fails its
// test case after the multinode timeout and ends the test shell; the job
// goes on (LAVA's behaviour: here, to finalize, as the device is still
// in lava-wait) and leaves its group.
func TestMultinodeTimeoutInTestShell(t *testing.T) {
	def := mnJob(map[string]string{"client": ""}, "    timeout:\n      seconds: 2\n",
		"- boot:\n    role: [client]\n    method: qemu\n    prompts: [\"/ # \"]\n"+
			mnTest("client", "client", "lava-test-case before --result pass", "lava-wait never", "lava-test-case after --result pass"))
	g := newFakeGroup(1)
	out := runGroup(t, g, context.Background(), mnMember{id: 7, role: "client", def: def})
	o := out[7]
	if !o.res.Passed() {
		t.Errorf("result %+v, want pass (a multinode timeout in a test shell does not end the job)", o.res)
	}
	if diff := cmp.Diff([]workerproto.ResultMsg{
		{Definition: "0_client", Case: "before", Result: "pass"},
		{Definition: "0_client", Case: "multinode-wait-never", Result: "fail"},
	}, results(t, o.recs, "0_client")); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if !hasMessage(o.recs, workerproto.LevelWarning, "Sync error in multinode signal: protocol lava-multinode timed out: lava_wait never got no answer in 2 seconds WAIT") {
		t.Errorf("no Sync error warning:\n%s", strings.Join(messages(o.recs), "\n"))
	}
	var lava []string
	for _, r := range results(t, o.recs, "lava") {
		lava = append(lava, r.Case+" "+r.Result)
	}
	for _, want := range []string{"0_client fail", "multinode-test pass"} {
		if !slices.Contains(lava, want) {
			t.Errorf("lava results %q lack %q", lava, want)
		}
	}
	calls := g.calls("7")
	if calls[len(calls)-1] != "clear_group  → ack" {
		t.Errorf("calls %q: want clear_group last", calls)
	}
}

// TestMultinodeClearGroupAlways: a job that fails, one whose definition
// is invalid and one canceled still leave their group.
func TestMultinodeClearGroupAlways(t *testing.T) {
	boot := "- boot:\n    role: [client]\n    method: qemu\n    prompts: [\"/ # \"]\n"
	tests := []struct {
		name     string
		def      string
		cancel   bool
		wantType lab.ErrorType
	}{
		{"test raises", mnJob(map[string]string{"client": ""}, "", boot+mnTest("client", "x", "lava-test-raise broken")), false, lab.ErrorTest},
		{"invalid definition", "job_name: [", false, lab.ErrorJob},
		{"canceled", mnJob(map[string]string{"client": ""}, "", boot+mnTest("client", "x", "sleep 600")), true, lab.ErrorCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGroup(1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				go func() {
					for !slices.Contains(g.calls("3"), "group_data  → group_data") {
						time.Sleep(10 * time.Millisecond)
					}
					time.Sleep(200 * time.Millisecond)
					cancel()
				}()
			}
			o := runGroup(t, g, ctx, mnMember{id: 3, role: "client", def: tt.def})[3]
			if o.res.ErrorType != tt.wantType {
				t.Errorf("result %+v, want %s", o.res, tt.wantType)
			}
			calls := g.calls("3")
			if len(calls) == 0 || calls[len(calls)-1] != "clear_group  → ack" {
				t.Errorf("calls %q: want clear_group last", calls)
			}
		})
	}
}

// TestMultinodeGroupDataTimeout: a group that never completes fails the
// job with LAVA's MultinodeTimeout error.
func TestMultinodeGroupDataTimeout(t *testing.T) {
	def := mnJob(map[string]string{"client": "        request: lava-start\n        host_role: server\n        expect_role: server\n        timeout:\n          seconds: 2\n", "server": ""}, "", mnBoot)
	g := newFakeGroup(2)
	o := runGroup(t, g, context.Background(), mnMember{id: 5, role: "client", def: def})[5]
	want := Result{Result: ResultFail, ErrorType: lab.ErrorMultinodeTimeout, ErrorMsg: "protocol lava-multinode timed out: group_data got no answer in 2 seconds"}
	if o.res != want {
		t.Errorf("result %+v, want %+v", o.res, want)
	}
	if !hasMessage(o.recs, workerproto.LevelError, "MultinodeProtocolTimeoutError: protocol lava-multinode timed out") {
		t.Errorf("no error record:\n%s", strings.Join(messages(o.recs), "\n"))
	}
	if calls := g.calls("5"); !slices.Equal(calls, []string{"group_data  → wait", "clear_group  → ack"}) {
		t.Errorf("calls %q", calls)
	}
}

// TestMultinodeDelayedStart: a role with request: lava-start waits,
// before its first action, until its expected role sends lava_start.
func TestMultinodeDelayedStart(t *testing.T) {
	def := mnJob(map[string]string{"client": "        request: lava-start\n        host_role: server\n        expect_role: server\n", "server": ""}, "    timeout:\n      seconds: 30\n", mnBoot+
		mnTest("server", "server", "sleep 0.3", "lava-send lava_start", "lava-wait client-up")+
		mnTest("client", "client", "lava-send client-up"))
	g := newFakeGroup(2)
	out := runGroup(t, g, context.Background(), mnMember{id: 20, role: "server", def: def}, mnMember{id: 21, role: "client", def: def})
	for id, o := range out {
		if !o.res.Passed() {
			t.Errorf("job %d: %+v", id, o.res)
		}
	}
	all := g.calls("")
	send := slices.Index(all, "20 lava_send lava_start → ack")
	start := slices.Index(all, "21 lava_wait_all lava_start → ack")
	if send < 0 || start < send {
		t.Errorf("the client started before the server sent lava_start: %q", all)
	}
	if !hasMessage(out[21].recs, workerproto.LevelInfo, "lava-multinode protocol initialised - start is delayed by up to 30 seconds") {
		t.Errorf("client journal:\n%s", strings.Join(messages(out[21].recs), "\n"))
	}
	// The client's boot started only after the wait.
	msgs := messages(out[21].recs)
	sent := slices.IndexFunc(msgs, func(m string) bool { return strings.HasPrefix(m, `debug sent {"messageID":"lava_start"`) })
	boot := slices.IndexFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "info start: 1 boot-qemu-image") })
	if sent < 0 || boot < sent {
		t.Errorf("boot at %d, lava_start at %d", boot, sent)
	}
}

// TestMultinodeInteractiveAndPipelineCalls: interactive lava-send and
// lava-wait (with the received values substituted in later commands) and
// a boot block's protocols call collecting a value.
func TestMultinodeInteractiveAndPipelineCalls(t *testing.T) {
	interactive := func(role string, script string) string {
		return "- test:\n    role: [" + role + "]\n    interactive:\n    - name: " + role + "-script\n      prompts: [\"/ # \"]\n      script:\n" + script
	}
	clientBoot := "- boot:\n    role: [client]\n    method: qemu\n    prompts: [\"/ # \"]\n    protocols:\n      lava-multinode:\n" +
		"      - action: boot-qemu-image\n        request: lava-wait\n        messageID: ipv4\n        message:\n          ipaddr: $ipaddr\n"
	serverBoot := "- boot:\n    role: [server]\n    method: qemu\n    prompts: [\"/ # \"]\n"
	def := mnJob(twoRoles, "    timeout:\n      seconds: 30\n", serverBoot+clientBoot+
		interactive("server", "      - lava-send: ipv4 ipaddr=10.1.2.3\n      - lava-wait: thanks\n")+
		interactive("client", "      - lava-wait: ipv4\n      - command: echo client sees {ipaddr}\n        name: echoed\n        successes:\n        - message: client sees 10.1.2.3\n      - lava-send: thanks\n"))
	g := newFakeGroup(2)
	out := runGroup(t, g, context.Background(), mnMember{id: 30, role: "server", def: def}, mnMember{id: 31, role: "client", def: def})
	for id, o := range out {
		if !o.res.Passed() {
			t.Fatalf("job %d: %+v\n%s", id, o.res, strings.Join(messages(o.recs), "\n"))
		}
	}
	if diff := cmp.Diff([]workerproto.ResultMsg{{Definition: "0_client-script", Case: "echoed", Result: "pass"}},
		results(t, out[31].recs, "0_client-script")); diff != "" {
		t.Errorf("client results (-want +got):\n%s", diff)
	}
	client := messages(out[31].recs)
	for _, want := range []string{
		"info Making protocol call for boot-qemu-image using lava-multinode",
		"info Setting namespace data key ipv4 to {ipaddr: 10.1.2.3}",
		"input echo client sees 10.1.2.3",
	} {
		if !slices.Contains(client, want) {
			t.Errorf("client journal lacks %q:\n%s", want, strings.Join(client, "\n"))
		}
	}
	if !hasMessage(out[30].recs, workerproto.LevelInfo, `wait result: {"response":"ack","message":{"31":{}}}`) {
		t.Errorf("server journal:\n%s", strings.Join(messages(out[30].recs), "\n"))
	}
}

// TestMultinodeRefusals: what validation refuses.
func TestMultinodeRefusals(t *testing.T) {
	tests := []struct {
		name, def, msg string
	}{
		{"protocols on a single-node job",
			job("", "    protocols:\n      lava-multinode:\n      - {action: boot-qemu-image, request: lava-send, messageID: x}\n", ""),
			"action 1: protocols: lava-multinode calls need a multinode job"},
		{"multinode step in a single-node job: refused by jobdef",
			job("", "", "- test:\n    interactive:\n    - name: x\n      prompts: [\"/ # \"]\n      script:\n      - lava-send: x\n"),
			"the job definition is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := runSim(t, tt.def, simDict(fastDevice))
			if res.ErrorType != lab.ErrorJob || !strings.Contains(res.ErrorMsg, tt.msg) {
				t.Errorf("result %+v, want a Job error with %q", res, tt.msg)
			}
		})
	}
	// A role's request: lava-start expecting itself.
	def := mnJob(map[string]string{"client": "        request: lava-start\n        host_role: client\n        expect_role: client\n"}, "", "- boot:\n    role: [client]\n    method: qemu\n    prompts: [\"/ # \"]\n")
	g := newFakeGroup(1)
	o := runGroup(t, g, context.Background(), mnMember{id: 9, role: "client", def: def})[9]
	if o.res.ErrorType != lab.ErrorJob || o.res.ErrorMsg != "expect_role must not match the role declaring lava_start" {
		t.Errorf("result %+v", o.res)
	}
	if calls := g.calls("9"); !slices.Equal(calls, []string{"clear_group  → ack"}) {
		t.Errorf("calls %q", calls)
	}
}

func TestMultinodeOf(t *testing.T) {
	sec := func(n int) *jobdef.Timeout { return &jobdef.Timeout{Duration: time.Duration(n) * time.Second} }
	group := &workerproto.Multinode{Group: "g", SubID: "1.0", Role: "guest", GroupSize: 2, Roles: map[string]string{"1": "guest", "2": "host"}}
	tests := []struct {
		name        string
		proto       *jobdef.Multinode
		wantTimeout time.Duration
		wantSystem  time.Duration
		wantExpect  string
	}{
		{"no protocols block", nil, MultinodeDefaultTimeout, MultinodeSystemTimeout, ""},
		{"block timeout", &jobdef.Multinode{Timeout: sec(40), Roles: map[string]jobdef.Role{"guest": {}}}, 40 * time.Second, MultinodeSystemTimeout, ""},
		{"role timeout", &jobdef.Multinode{Roles: map[string]jobdef.Role{"guest": {Timeout: sec(50)}}}, 50 * time.Second, MultinodeSystemTimeout, ""},
		{"block timeout wins", &jobdef.Multinode{Timeout: sec(40), Roles: map[string]jobdef.Role{"guest": {Timeout: sec(50)}}}, 40 * time.Second, MultinodeSystemTimeout, ""},
		{"delayed start", &jobdef.Multinode{Roles: map[string]jobdef.Role{"guest": {Request: "lava-start", ExpectRole: "host", Timeout: sec(600)}}}, 600 * time.Second, 600 * time.Second, "host"},
		{"delayed start, default timeout", &jobdef.Multinode{Roles: map[string]jobdef.Role{"guest": {Request: "lava-start", ExpectRole: "host"}}}, MultinodeDefaultTimeout, MultinodeSystemTimeout, "host"},
		{"expect_role without request", &jobdef.Multinode{Roles: map[string]jobdef.Role{"guest": {ExpectRole: "host"}}}, MultinodeDefaultTimeout, MultinodeSystemTimeout, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := multinodeOf(workerproto.Assign{Multinode: group}, &jobdef.Job{Protocols: jobdef.Protocols{Multinode: tt.proto}}, newFakeGroup(2).client("1", "guest"))
			if err != nil {
				t.Fatal(err)
			}
			if m.timeout != tt.wantTimeout || m.system != tt.wantSystem || m.expectRole != tt.wantExpect || m.role != "guest" {
				t.Errorf("timeout %s, system %s, expect %q, role %q", m.timeout, m.system, m.expectRole, m.role)
			}
		})
	}
	if m, err := multinodeOf(workerproto.Assign{}, &jobdef.Job{}, nil); m != nil || err != nil {
		t.Errorf("single-node job: %v, %v", m, err)
	}
}

func TestParseMultinodeCall(t *testing.T) {
	tests := []struct {
		line string
		want *bridgeCall
	}{
		{"<LAVA_MULTI_NODE> <LAVA_SEND ipaddr>", &bridgeCall{api: "SEND", args: []string{"ipaddr"}}},
		{"[  12.3] x <LAVA_MULTI_NODE> <LAVA_SEND msg ip=1.2.3.4 motd=hello big world k2=v>", &bridgeCall{api: "SEND", args: []string{"msg", "ip=1.2.3.4", "motd=hello big world", "k2=v"}}},
		{"<LAVA_MULTI_NODE> <LAVA_WAIT_ALL id role>", &bridgeCall{api: "WAIT_ALL", args: []string{"id", "role"}}},
		{"<LAVA_MULTI_NODE> <LAVA_SYNC  done >", &bridgeCall{api: "SYNC", args: []string{"done"}}},
		{"<LAVA_MULTI_NODE> <LAVA_SYNC>", nil},
		{"<LAVA_WAIT_COMPLETE 12:ip=1>", nil},
		{"<LAVA_SIGNAL_ENDRUN x y>", nil},
	}
	for _, tt := range tests {
		c, ok := parseMultinodeCall(tt.line)
		if ok != (tt.want != nil) || ok && (c.api != tt.want.api || !slices.Equal(c.args, tt.want.args)) {
			t.Errorf("parseMultinodeCall(%q) = %+v, %v; want %+v", tt.line, c, ok, tt.want)
		}
	}
	if got := (bridgeCall{api: "WAIT_ALL", args: []string{"MsgID"}}).caseName(); got != "multinode-wait_all-msgid" {
		t.Errorf("caseName = %q", got)
	}
}

func TestDecodeMessage(t *testing.T) {
	msg, err := decodeMessage(json.RawMessage(`{"13":{"z":"last","a":1,"n":null,"b":true,"f":1.0,"l":["x",2]},"12":{"ip":"10.0.0.1"},"14":"not a mapping"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := replyPairs(msg), " 13:z=last 13:a=1 13:n=None 13:b=True 13:f=1.0 13:l=['x', 2] 12:ip=10.0.0.1"; got != want {
		t.Errorf("replyPairs = %q, want %q", got, want)
	}
	if msg, err := decodeMessage(json.RawMessage(`"sync-id"`)); err != nil || msg != nil {
		t.Errorf("a lava_sync message: %v, %v", msg, err)
	}
}

// TestGoldenMultinode compares the journal of a one-member group's job
// with testdata/golden/multinode.ndjson (-update rewrites it).
func TestGoldenMultinode(t *testing.T) {
	g := newFakeGroup(1)
	o := runGroup(t, g, context.Background(), mnMember{77, "solo", readTestdata(t, "jobs/multinode.yaml"), true})[77]
	if !o.res.Passed() {
		t.Errorf("result %+v", o.res)
	}
	if diff := cmp.Diff([]workerproto.ResultMsg{
		{Definition: "0_alone", Case: "multinode-wait-ready", Result: "pass"},
		{Definition: "0_alone", Case: "multinode-sync-done", Result: "pass"},
	}, results(t, o.recs, "0_alone")); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"group_data  → group_data", "lava_send ready → ack", "lava_wait ready → ack", "lava_sync done → ack", "clear_group  → ack"}, g.calls("77")); diff != "" {
		t.Errorf("coordinator calls (-want +got):\n%s", diff)
	}
	raw, err := os.ReadFile(filepath.Join(o.dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	norm := normalise(t, raw)
	golden := filepath.Join("testdata", "golden", "multinode.ndjson")
	if *update {
		if err := os.WriteFile(golden, norm, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(norm, want) {
		t.Errorf("journal differs from %s (-want +got):\n%s", golden, cmp.Diff(string(want), string(norm)))
	}
}

func TestProtocolCallsOf(t *testing.T) {
	call := func(m map[string]any) *jobdef.Action {
		return &jobdef.Action{Protocols: map[string]any{"lava-multinode": []any{m}}}
	}
	tests := []struct {
		name    string
		a       *jobdef.Action
		multi   bool
		want    protocolCall
		wantErr string
	}{
		{"send", call(map[string]any{"action": "customise", "request": "lava-send", "messageID": "x", "message": map[string]any{"k": "v"}}), true,
			protocolCall{action: "customise", request: "lava_send", messageID: "x", message: map[string]any{"k": "v"}}, ""},
		{"wait-all with role and timeout", call(map[string]any{"action": "a", "request": "lava_wait_all", "messageID": "x", "role": "server", "timeout": map[string]any{"minutes": int64(2)}}), true,
			protocolCall{action: "a", request: "lava_wait_all", messageID: "x", role: "server", timeout: 2 * time.Minute}, ""},
		{"timeout in seconds", call(map[string]any{"action": "a", "request": "lava-sync", "messageID": "x", "timeout": float64(1.5)}), true,
			protocolCall{action: "a", request: "lava_sync", messageID: "x", timeout: 1500 * time.Millisecond}, ""},
		{"single-node", call(map[string]any{"action": "a", "request": "lava-send", "messageID": "x"}), false, protocolCall{}, "need a multinode job"},
		{"other protocol", &jobdef.Action{Protocols: map[string]any{"lava-xnbd": []any{}}}, true, protocolCall{}, "lava-xnbd is not supported"},
		{"not a list", &jobdef.Action{Protocols: map[string]any{"lava-multinode": map[string]any{}}}, true, protocolCall{}, "must be a list"},
		{"aggregate", call(map[string]any{"action": "a", "request": "aggregate", "messageID": "x"}), true, protocolCall{}, "aggregate"},
		{"unknown request", call(map[string]any{"action": "a", "request": "lava-shout", "messageID": "x"}), true, protocolCall{}, `request "lava-shout"`},
		{"no messageID", call(map[string]any{"action": "a", "request": "lava-send"}), true, protocolCall{}, "missing messageID"},
		{"no action", call(map[string]any{"request": "lava-send", "messageID": "x"}), true, protocolCall{}, "missing action"},
		{"bad message", call(map[string]any{"action": "a", "request": "lava-send", "messageID": "x", "message": "k=v"}), true, protocolCall{}, "message must be a mapping"},
		{"bad timeout", call(map[string]any{"action": "a", "request": "lava-send", "messageID": "x", "timeout": map[string]any{"weeks": int64(1)}}), true, protocolCall{}, "timeout: expected days"},
		{"unknown key", call(map[string]any{"action": "a", "request": "lava-send", "messageID": "x", "extra": 1}), true, protocolCall{}, `unknown key "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, err := protocolCallsOf(tt.a, tt.multi)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(calls) != 1 {
				t.Fatalf("%v, %v", calls, err)
			}
			if diff := cmp.Diff(tt.want, calls[0], cmp.AllowUnexported(protocolCall{})); diff != "" {
				t.Errorf("call (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckMultinodeStep(t *testing.T) {
	tests := []struct {
		kind    jobdef.StepKind
		msg     string
		wantErr string
	}{
		{jobdef.StepSend, "id k=v k2=v2", ""},
		{jobdef.StepSend, "id novalue", `"novalue" is not key=value`},
		{jobdef.StepWait, "id", ""},
		{jobdef.StepWaitAll, "id role=server", ""},
		{jobdef.StepWaitAll, "id server", "2nd param must be role=<rolename>"},
		{jobdef.StepWaitAll, "id role=a extra", "expects 1 or 2 params"},
		{jobdef.StepSync, " ", "needs a message ID"},
	}
	for _, tt := range tests {
		err := checkMultinodeStep(jobdef.InteractiveStep{Kind: tt.kind, Message: tt.msg})
		if (tt.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s %q: %v, want %q", tt.kind, tt.msg, err, tt.wantErr)
		}
	}
	if got := substitute("ping {ip} {ipaddr}", map[string]string{"{ip}": "A", "{ipaddr}": "B"}); got != "ping A B" {
		t.Errorf("substitute = %q", got)
	}
}

// FuzzMultinodeConsole feeds console lines to the call parser and
// coordinator messages to the decoder: neither may panic; a parsed call
// has a message ID and arguments without '>'; a lava-send's pairs come
// back whole.
func FuzzMultinodeConsole(f *testing.F) {
	f.Add("<LAVA_MULTI_NODE> <LAVA_SEND id k=v w k2=x>", `{"12":{"k":"v","n":1}}`)
	f.Add("x <LAVA_MULTI_NODE> <LAVA_WAIT_ALL id role>", `{"a":"b"}`)
	f.Add("<LAVA_MULTI_NODE> <LAVA_SYNC  >", `"id"`)
	f.Add("<LAVA_MULTI_NODE> <LAVA_SEND =>", `{"1":{"k":[1,{"x":null}]}}`)
	f.Fuzz(func(t *testing.T, line, msg string) {
		if c, ok := parseMultinodeCall(line); ok {
			if len(c.args) == 0 || c.args[0] == "" {
				t.Fatalf("call without a message ID from %q", line)
			}
			for _, a := range c.args {
				if strings.Contains(a, ">") {
					t.Fatalf("argument %q with '>' from %q", a, line)
				}
			}
			_ = c.caseName()
		}
		decoded, err := decodeMessage(json.RawMessage(msg))
		if err == nil {
			_ = replyPairs(decoded)
		}
	})
}

// TestMultinodeSubJobChecks: the sub-job of a connection role is refused,
// and so is a sub-job the assignment gives another role; both still leave
// their group.
func TestMultinodeSubJobChecks(t *testing.T) {
	roles := map[string]string{
		"host":  "",
		"guest": "        connection: ssh\n        host_role: host\n        expect_role: host\n        request: lava-start\n",
	}
	sub := strings.Replace(mnJob(roles, "", "- boot:\n    role: [host, guest]\n    method: qemu\n    prompts: [\"/ # \"]\n"), "        device_type: qemu\n        count: 1\n        connection: ssh", "        count: 1\n        connection: ssh", 1)
	guest, _ := subJob(t, sub, "guest")
	host, _ := subJob(t, sub, "host")
	tests := []struct {
		name, def, role string
		want            Result
	}{
		{"connection role", guest, "guest", Result{Result: ResultFail, ErrorType: lab.ErrorJob,
			ErrorMsg: "the job of the dynamic connection role guest (connection: ssh) cannot run: Basalt runs the jobs of device roles only"}},
		{"another role", host, "guest", Result{Result: ResultFail, ErrorType: lab.ErrorInfrastructure,
			ErrorMsg: `the definition is the job of role "host", the assignment places it in role "guest"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGroup(1)
			o := runGroup(t, g, context.Background(), mnMember{id: 4, role: tt.role, def: tt.def, submission: true})[4]
			if o.res != tt.want {
				t.Errorf("result %+v, want %+v", o.res, tt.want)
			}
			if calls := g.calls("4"); !slices.Equal(calls, []string{"clear_group  → ack"}) {
				t.Errorf("calls %q", calls)
			}
		})
	}
}
