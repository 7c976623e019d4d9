package lavarpc_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/xmlrpc"
)

// jobLog is the log alice's public job writes: Basalt's records, one JSON
// object per line, and a line that is not one.
var jobLog = []string{
	`{"dt":"2026-08-21T10:00:00.123456Z","lvl":"info","msg":"start: 1.1 download-retry (timeout 00:05:00) [common]"}`,
	`{"dt":"2026-08-21T10:00:01Z","lvl":"results","msg":{"definition":"lava","case":"http-download","result":"pass","duration":"0.51","level":"1.1.1"}}`,
	`{"dt":"2026-08-21T10:00:02.5Z","lvl":"target","msg":"Linux version 6.1 \"quoted\" café\ttab"}`,
	`{"dt":"2026-08-21T10:00:03Z","lvl":"feedback","msg":"hello","ns":"host"}`,
	`garbage line`,
	`{"dt":"2026-08-21T10:00:04Z","lvl":"results","msg":{"definition":"0_smoke","case":"uname","result":"pass"}}`,
	`{"dt":"2026-08-21T10:00:05Z","lvl":"results","msg":{"definition":"0_smoke","case":"speed","result":"fail","measurement":"1.5","units":"s"}}`,
	`{"dt":"2026-08-21T10:00:06Z","lvl":"error","msg":"smoke failed"}`,
	`{"dt":"2026-08-21T10:00:07Z","lvl":"results","msg":{"definition":"lava","case":"job","result":"fail","error_type":"Test","error_msg":"smoke failed"}}`,
}

// jobLogYAML is jobLog as LAVA's output.yaml holds it.
var jobLogYAML = []string{
	`- {"dt": "2026-08-21T10:00:00.123456+00:00", "lvl": "info", "msg": "start: 1.1 download-retry (timeout 00:05:00) [common]"}` + "\n",
	`- {"dt": "2026-08-21T10:00:01+00:00", "lvl": "results", "msg": {"definition": "lava", "case": "http-download", "result": "pass", "duration": "0.51", "level": "1.1.1"}}` + "\n",
	`- {"dt": "2026-08-21T10:00:02.500000+00:00", "lvl": "target", "msg": "Linux version 6.1 \"quoted\" caf\xE9\ttab"}` + "\n",
	`- {"dt": "2026-08-21T10:00:03+00:00", "lvl": "feedback", "msg": "hello", "ns": "host"}` + "\n",
	`- {"dt": "", "lvl": "debug", "msg": "garbage line"}` + "\n",
	`- {"dt": "2026-08-21T10:00:04+00:00", "lvl": "results", "msg": {"definition": "0_smoke", "case": "uname", "result": "pass"}}` + "\n",
	`- {"dt": "2026-08-21T10:00:05+00:00", "lvl": "results", "msg": {"definition": "0_smoke", "case": "speed", "result": "fail", "measurement": ! "1.5", "units": "s"}}` + "\n",
	`- {"dt": "2026-08-21T10:00:06+00:00", "lvl": "error", "msg": "smoke failed"}` + "\n",
	`- {"dt": "2026-08-21T10:00:07+00:00", "lvl": "results", "msg": {"definition": "lava", "case": "job", "result": "fail", "error_type": "Test", "error_msg": "smoke failed"}}` + "\n",
}

// jobEnv is newEnv's lab after a job ran: alice's public job ran on
// qemu-01, wrote jobLog and finished Incomplete (a test error); her
// personal job and bob's public job are queued.
type jobEnv struct {
	*env
	bobJob int64
}

var worker = auth.WorkerPrincipal("w1")

func newJobEnv(t testing.TB, b labtest.Backend) *jobEnv {
	t.Helper()
	e := &jobEnv{env: newEnv(t, b)}
	e.runJob(e.pubJob)
	e.appendLog(e.pubJob, jobLog...)
	_, err := e.App.FinishJob(context.Background(), worker, e.pubJob, app.JobOutcome{Failed: true, ErrorType: lab.ErrorTest})
	must(t, err)
	e.bobJob = e.Submit(bob, labtest.Job("bob's job", "qemu", ""))
	return e
}

// runJob starts job id on qemu-01: the oldest queued job must be id.
func (e *env) runJob(id int64) {
	e.T.Helper()
	ctx := context.Background()
	_, err := e.App.Heartbeat(ctx, worker, "w1", "test")
	must(e.T, err)
	_, err = e.App.SchedulePass(ctx)
	must(e.T, err)
	j, err := e.App.StartJob(ctx, worker, id)
	must(e.T, err)
	if j.State != lab.JobRunning || j.ActualDevice != "qemu-01" {
		e.T.Fatalf("job %d is %s on %q, want Running on qemu-01", id, j.State, j.ActualDevice)
	}
}

// appendLog appends lines to a running job's log, as its worker does.
func (e *env) appendLog(id int64, lines ...string) {
	e.T.Helper()
	size, err := e.App.LogSize(context.Background(), id)
	must(e.T, err)
	_, err = e.App.AppendLog(context.Background(), worker, id, size, []byte(strings.Join(lines, "\n")+"\n"))
	must(e.T, err)
}

// secs is a time as XML-RPC carries it: to the second.
func secs(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Second)
}

// pyTime is str() of a Python datetime in UTC.
func pyTime(t time.Time) string {
	if t.Nanosecond()/1000 == 0 {
		return t.UTC().Format("2006-01-02 15:04:05+00:00")
	}
	return t.UTC().Format("2006-01-02 15:04:05.000000+00:00")
}

type rpcCase struct {
	name   string
	who    int
	method string
	params []any
	want   any
	fault  int
	msg    string // the fault's message, when given
}

func runCases(t *testing.T, e *env, cases []rpcCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.call(tt.who, tt.method, tt.params...)
			if tt.fault != 0 {
				f, _ := err.(*xmlrpc.Fault)
				if f == nil || f.Code != tt.fault || (tt.msg != "" && f.Message != tt.msg) {
					t.Fatalf("got %v, %v; want fault %d %q", got, err, tt.fault, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestJobReadMethods(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newJobEnv(t, b)
			pub, priv, bobs := e.Job(e.pubJob), e.Job(e.privJob), e.Job(e.bobJob)
			pubID, privID, bobID := e.pubJob, e.privJob, e.bobJob
			notFound := func(id any) string { return fmt.Sprintf("Job '%v' was not found.", id) }
			show := map[string]any{
				"id": pubID, "description": "public job", "device": "qemu-01", "device_type": "qemu", "health_check": false,
				"pipeline": true, "health": "Incomplete", "state": "Finished", "submitter": "alice",
				"submit_time": secs(pub.SubmitTime), "start_time": secs(pub.StartTime), "end_time": secs(pub.EndTime),
				"tags": []any{}, "visibility": "Public", "failure_comment": nil, "error_msg": "smoke failed", "error_type": "Test",
			}
			showPriv := map[string]any{
				"id": privID, "description": "personal job", "device": nil, "device_type": "qemu", "health_check": false,
				"pipeline": true, "health": "Unknown", "state": "Submitted", "submitter": "alice",
				"submit_time": secs(priv.SubmitTime), "start_time": nil, "end_time": nil,
				"tags": []any{}, "visibility": "Personal", "failure_comment": nil, "error_msg": nil, "error_type": nil,
			}
			item := func(j lab.Job) map[string]any {
				return map[string]any{"id": j.ID, "description": j.Description, "device_type": "qemu", "health": j.Health.String(),
					"state": j.State.String(), "submitter": j.Submitter}
			}
			verbose := item(pub)
			for k, v := range map[string]any{"actual_device": "qemu-01", "start_time": pyTime(pub.StartTime), "end_time": pyTime(pub.EndTime),
				"error_msg": "smoke failed", "error_type": "Test"} {
				verbose[k] = v
			}
			verboseBob := item(bobs)
			for k, v := range map[string]any{"actual_device": nil, "start_time": nil, "end_time": nil, "error_msg": nil, "error_type": nil} {
				verboseBob[k] = v
			}
			logText := strings.Join(jobLogYAML, "")
			queued := func(j lab.Job) map[string]any {
				return map[string]any{"id": j.ID, "description": j.Description, "requested_device_type": "qemu", "submitter": j.Submitter}
			}
			runCases(t, e.env, []rpcCase{
				// show: a personal job is not found by others, whatever its id's form
				{"show", anon, "scheduler.jobs.show", []any{pubID}, show, 0, ""},
				{"show by a string id", bob, "scheduler.jobs.show", []any{fmt.Sprint(pubID)}, show, 0, ""},
				{"show personal as its owner", alice, "scheduler.jobs.show", []any{privID}, showPriv, 0, ""},
				{"show personal as admin", admin, "scheduler.jobs.show", []any{privID}, showPriv, 0, ""},
				{"show personal as another user", bob, "scheduler.jobs.show", []any{privID}, nil, 404, notFound(privID)},
				{"show personal anonymously", anon, "scheduler.jobs.show", []any{fmt.Sprint(privID)}, nil, 404, notFound(privID)},
				{"show missing", alice, "scheduler.jobs.show", []any{int64(999999)}, nil, 404, notFound(999999)},
				{"show not an id", alice, "scheduler.jobs.show", []any{"abc"}, nil, 404, notFound("abc")},
				{"show multinode id", alice, "scheduler.jobs.show", []any{"12.0"}, nil, 404, notFound("12.0")},
				{"definition", bob, "scheduler.jobs.definition", []any{pubID}, pub.OriginalDefinition, 0, ""},
				{"definition personal", bob, "scheduler.jobs.definition", []any{privID}, nil, 404, notFound(privID)},

				// list: visible jobs, newest first, LAVA's filters
				{"list anonymously", anon, "scheduler.jobs.list", nil, []any{item(bobs), item(pub)}, 0, ""},
				{"list as the owner", alice, "scheduler.jobs.list", nil, []any{item(bobs), item(priv), item(pub)}, 0, ""},
				{"list as another user", bob, "scheduler.jobs.list", nil, []any{item(bobs), item(pub)}, 0, ""},
				{"list as admin", admin, "scheduler.jobs.list", nil, []any{item(bobs), item(priv), item(pub)}, 0, ""},
				{"list by state", alice, "scheduler.jobs.list", []any{"submitted"}, []any{item(bobs), item(priv)}, 0, ""},
				{"list by state in capitals", alice, "scheduler.jobs.list", []any{"FINISHED"}, []any{item(pub)}, 0, ""},
				{"list by health", alice, "scheduler.jobs.list", []any{nil, "Incomplete"}, []any{item(pub)}, 0, ""},
				{"list by state and health", alice, "scheduler.jobs.list", []any{"FINISHED", "COMPLETE"}, []any{}, 0, ""},
				{"list, empty filters", alice, "scheduler.jobs.list", []any{"", ""}, []any{item(bobs), item(priv), item(pub)}, 0, ""},
				{"list, bad state", alice, "scheduler.jobs.list", []any{"Lost"}, nil, 400, "Invalid state 'Lost'"},
				{"list, bad health", alice, "scheduler.jobs.list", []any{nil, "GOOD"}, nil, 400, "Invalid health 'GOOD'"},
				{"list, state not a string", alice, "scheduler.jobs.list", []any{int64(3)}, nil, 400, "Invalid state '3'"},
				{"list, a page", alice, "scheduler.jobs.list", []any{nil, nil, int64(1), int64(1)}, []any{item(priv)}, 0, ""},
				{"list, start below 0", alice, "scheduler.jobs.list", []any{nil, nil, int64(-5), int64(1)}, []any{item(bobs)}, 0, ""},
				{"list, limit 0", alice, "scheduler.jobs.list", []any{nil, nil, int64(0), int64(0)}, []any{}, 0, ""},
				{"list, since", alice, "scheduler.jobs.list", []any{nil, nil, int64(0), int64(25), int64(60)}, []any{item(pub)}, 0, ""},
				{"list, since 0 is no filter", alice, "scheduler.jobs.list", []any{nil, nil, int64(0), int64(25), int64(0)},
					[]any{item(bobs), item(priv), item(pub)}, 0, ""},
				{"list, since in the future", alice, "scheduler.jobs.list", []any{nil, nil, int64(0), int64(25), int64(-60)}, []any{}, 0, ""},
				{"list, verbose", bob, "scheduler.jobs.list", []any{nil, nil, int64(0), int64(25), int64(0), true},
					[]any{verboseBob, verbose}, 0, ""},
				{"list, duration at least 0: started", alice, "scheduler.jobs.list", []any{nil, nil, int64(0), int64(25), int64(0), false, int64(0)},
					[]any{item(pub)}, 0, ""},
				{"list, duration at least an hour", alice, "scheduler.jobs.list", []any{nil, nil, int64(0), int64(25), int64(0), false, int64(60)},
					[]any{}, 0, ""},
				{"list, duration at least, a double", alice, "scheduler.jobs.list", []any{nil, nil, int64(0), int64(25), nil, false, 0.5},
					[]any{}, 0, ""},
				{"list, bad since", alice, "scheduler.jobs.list", []any{nil, nil, int64(0), int64(25), "soon"}, nil, -32602, ""},

				// queue: Submitted jobs, newest first
				{"queue", alice, "scheduler.jobs.queue", nil, []any{queued(bobs), queued(priv)}, 0, ""},
				{"queue as another user", bob, "scheduler.jobs.queue", nil, []any{queued(bobs)}, 0, ""},
				{"queue of a type", anon, "scheduler.jobs.queue", []any{[]any{"qemu", "bbb"}}, []any{queued(bobs)}, 0, ""},
				{"queue of another type", alice, "scheduler.jobs.queue", []any{[]any{"bbb"}}, []any{}, 0, ""},
				{"queue of no type", alice, "scheduler.jobs.queue", []any{[]any{}}, []any{}, 0, ""},
				{"queue, a page", alice, "scheduler.jobs.queue", []any{nil, int64(1), int64(5)}, []any{queued(priv)}, 0, ""},

				// logs: LAVA's YAML lines and the finished flag
				{"logs", anon, "scheduler.jobs.logs", []any{pubID}, []any{true, xmlrpc.Binary(logText)}, 0, ""},
				{"logs, a range", anon, "scheduler.jobs.logs", []any{pubID, int64(2), int64(4)},
					[]any{true, xmlrpc.Binary(jobLogYAML[2] + jobLogYAML[3])}, 0, ""},
				{"logs, from a line", anon, "scheduler.jobs.logs", []any{pubID, int64(8)}, []any{true, xmlrpc.Binary(jobLogYAML[8])}, 0, ""},
				{"logs, past the end", anon, "scheduler.jobs.logs", []any{pubID, int64(9)}, []any{true, xmlrpc.Binary("")}, 0, ""},
				{"logs, end before start", anon, "scheduler.jobs.logs", []any{pubID, int64(5), int64(2)}, []any{true, xmlrpc.Binary("")}, 0, ""},
				{"logs of a queued job", alice, "scheduler.jobs.logs", []any{privID}, []any{false, xmlrpc.Binary("[]")}, 0, ""},
				{"logs of a personal job", bob, "scheduler.jobs.logs", []any{privID}, nil, 404, notFound(privID)},
				{"job_output", bob, "scheduler.job_output", []any{pubID}, xmlrpc.Binary(logText), 0, ""},
				{"job_output from an offset", bob, "scheduler.job_output", []any{pubID, int64(len(jobLogYAML[0]))},
					xmlrpc.Binary(logText[len(jobLogYAML[0]):]), 0, ""},
				{"job_output past the end", bob, "scheduler.job_output", []any{pubID, int64(100000)}, xmlrpc.Binary{}, 0, ""},
				{"job_output of a queued job", alice, "scheduler.job_output", []any{privID}, nil, 404, "Job output not found."},
				{"job_output of a personal job", bob, "scheduler.job_output", []any{privID}, nil, 404, notFound(privID)},

				// older methods
				{"job_health", anon, "scheduler.job_health", []any{pubID}, map[string]any{"job_id": pubID, "job_health": "Incomplete"}, 0, ""},
				{"job_state", anon, "scheduler.job_state", []any{fmt.Sprint(privID)}, nil, 404, notFound(privID)},
				{"job_state as the owner", alice, "scheduler.job_state", []any{privID}, map[string]any{"job_id": privID, "job_state": "Submitted"}, 0, ""},
				{"job_status", bob, "scheduler.job_status", []any{pubID},
					map[string]any{"job_id": pubID, "job_status": "Incomplete", "bundle_sha1": ""}, 0, ""},
				{"job_status of a queued job", alice, "scheduler.job_status", []any{privID},
					map[string]any{"job_id": privID, "job_status": "Submitted", "bundle_sha1": ""}, 0, ""},
				{"job_status anonymously", anon, "scheduler.job_status", []any{pubID}, nil, 401, ""},
				{"job_status of a personal job", bob, "scheduler.job_status", []any{privID}, nil, 404, "Specified job not found."},
				{"job_status without an id", bob, "scheduler.job_status", []any{""}, nil, 400, "Bad request: TestJob id was not specified."},
				{"all_jobs", alice, "scheduler.all_jobs", nil, []any{
					[]any{bobID, "bob's job", "submitted", nil, "qemu", ""},
					[]any{privID, "personal job", "submitted", nil, "qemu", ""}}, 0, ""},
				{"all_jobs anonymously", anon, "scheduler.all_jobs", nil, []any{[]any{bobID, "bob's job", "submitted", nil, "qemu", ""}}, 0, ""},
				{"pending_jobs_by_device_type", alice, "scheduler.pending_jobs_by_device_type", nil, map[string]any{"qemu": int64(2)}, 0, ""},
				{"pending_jobs_by_device_type anonymously", anon, "scheduler.pending_jobs_by_device_type", []any{true}, map[string]any{"qemu": int64(1)}, 0, ""},
				{"recent jobs of a type", anon, "scheduler.get_recent_jobs_for_device_type", []any{"qemu"},
					[]any{map[string]any{"id": pubID, "description": "public job", "status": "Incomplete", "device": "qemu-01"}}, 0, ""},
				{"recent jobs of a type, mine", bob, "scheduler.get_recent_jobs_for_device_type", []any{"qemu", int64(5), true}, []any{}, 0, ""},
				{"recent jobs of a type, mine anonymously", anon, "scheduler.get_recent_jobs_for_device_type", []any{"qemu", int64(5), true}, []any{}, 0, ""},
				{"recent jobs of a type, none", alice, "scheduler.get_recent_jobs_for_device_type", []any{"qemu", int64(0)}, []any{}, 0, ""},
				{"recent jobs of a type, negative count", alice, "scheduler.get_recent_jobs_for_device_type", []any{"qemu", int64(-1)}, nil, 400,
					"Bad request: count must not be negative."},
				{"recent jobs of no type", alice, "scheduler.get_recent_jobs_for_device_type", []any{""}, nil, 400,
					"Bad request: device_type was not specified."},
				{"recent jobs of an unknown type", alice, "scheduler.get_recent_jobs_for_device_type", []any{"bbb"}, nil, 404, "DeviceType 'bbb' was not found."},
				{"recent jobs of a device", alice, "scheduler.get_recent_jobs_for_device", []any{"qemu-01", int64(3), true},
					[]any{map[string]any{"id": pubID, "description": "public job", "status": "Incomplete"}}, 0, ""},
				{"recent jobs of an unknown device", alice, "scheduler.get_recent_jobs_for_device", []any{"qemu-99"}, nil, 404, "Device 'qemu-99' was not found."},
			})

			t.Run("job_details", func(t *testing.T) {
				addr := "alice@example.org"
				_, err := e.App.UpdateUser(context.Background(), e.Principal(admin), "alice", app.UserUpdate{Email: &addr})
				must(t, err)
				for _, who := range []int{anon, bob, alice, admin} {
					got, err := e.call(who, "scheduler.job_details", pubID)
					must(t, err)
					d := got.(map[string]any)
					email := "" // a user's address is for that user and administrators
					if who == alice || who == admin {
						email = addr
					}
					want := map[string]any{"id": pubID, "sub_id": "", "is_public": true, "visibility": "Public", "target_group": nil,
						"submitter_username": "alice", "submitter_email": email, "description": "public job", "health_check": false,
						"requested_device_type_id": "qemu", "requested_device_id": nil, "requested_worker_id": nil, "actual_device_id": "qemu-01",
						"tags": []any{}, "priority": int64(50), "submit_time": secs(pub.SubmitTime), "start_time": secs(pub.StartTime),
						"end_time": secs(pub.EndTime), "state": "Finished", "health": "Incomplete", "status": "Incomplete",
						"definition": pub.Definition, "original_definition": pub.OriginalDefinition, "multinode_definition": "",
						"metadata": map[string]any{}, "failure_comment": nil, "error_msg": "smoke failed", "error_type": "Test",
						"is_pipeline": true, "absolute_url": fmt.Sprintf("/jobs/%d", pubID)}
					if diff := cmp.Diff(want, d); diff != "" {
						t.Errorf("as %d (-want +got):\n%s", who, diff)
					}
				}
				if _, err := e.call(bob, "scheduler.job_details", privID); fault(err) != 404 {
					t.Errorf("details of a personal job as another user: %v", err)
				}
			})

			t.Run("configuration", func(t *testing.T) {
				got, err := e.call(admin, "scheduler.jobs.configuration", pubID)
				must(t, err)
				l := got.([]any)
				if len(l) != 5 || string(l[0].(xmlrpc.Binary)) != pub.Definition || l[2] != nil || l[3] != nil || l[4] != nil {
					t.Fatalf("configuration as admin: %v", got)
				}
				if dev, _ := l[1].(xmlrpc.Binary); !strings.Contains(string(dev), "qemu-system-x86_64") || !strings.Contains(string(dev), "1024") {
					t.Errorf("device configuration as admin: %q", l[1])
				}
				got, err = e.call(alice, "scheduler.jobs.configuration", fmt.Sprint(pubID))
				must(t, err)
				if diff := cmp.Diff([]any{xmlrpc.Binary(pub.Definition), nil, nil, nil, nil}, got); diff != "" {
					t.Errorf("configuration as the owner (-want +got):\n%s", diff)
				}
				_, err = e.call(alice, "scheduler.jobs.configuration", privID)
				if f, _ := err.(*xmlrpc.Fault); f == nil || f.Code != 404 || f.Message != fmt.Sprintf("Job '%d' has not started yet", privID) {
					t.Errorf("configuration of a queued job: %v", err)
				}
				if _, err = e.call(bob, "scheduler.jobs.configuration", privID); fault(err) != 404 {
					t.Errorf("configuration of a personal job as another user: %v", err)
				}
			})
		})
	}
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	must(t, err)
	return string(b)
}

func TestJobWriteMethods(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newJobEnv(t, b)
			ctx := context.Background()
			must(t, e.App.CreateDeviceType(ctx, e.Principal(admin), lab.DeviceType{Name: "bbb"}))
			pubID, privID, bobID := e.pubJob, e.privJob, e.bobJob
			good := labtest.Job("submitted", "qemu", "")
			unknownType := labtest.Job("nope", "nope", "")
			noDevice := labtest.Job("no device", "bbb", "")
			// a key LAVA's loose schema lets through: a warning, an error strictly
			extraKey := strings.Replace(good, "    to: tmpfs\n", "    to: tmpfs\n    flavour: vanilla\n", 1)
			const authRequired = "Authentication with user and token required for this API."
			badType := `2:14: $.device_type: device type "nope" does not exist`
			runCases(t, e.env, []rpcCase{
				{"submit anonymously", anon, "scheduler.jobs.submit", []any{good}, nil, 401, authRequired},
				{"submit an unknown type", alice, "scheduler.jobs.submit", []any{unknownType}, nil, 400, "Problem with submitted job data: " + badType},
				{"submit without a device", alice, "scheduler.jobs.submit", []any{noDevice}, nil, 400, `Device unavailable: no usable device of type "bbb"`},
				{"submit multinode on too few devices", alice, "scheduler.jobs.submit", []any{readTestdata(t, "multinode.yaml")}, nil, 400,
					"Device unavailable: the group needs 2 devices at once, and only 1 can ever be used together: its roles compete for the same devices or worker job limits"},
				{"submit_job anonymously", anon, "scheduler.submit_job", []any{good}, nil, 401, authRequired},
				{"submit_job an unknown type", bob, "scheduler.submit_job", []any{unknownType}, nil, 400, "Problem with submitted job data: " + badType},
				{"submit not a string", alice, "scheduler.jobs.submit", []any{int64(1)}, nil, -32602, ""},

				{"validate", anon, "scheduler.jobs.validate", []any{good}, map[string]any{}, 0, ""},
				{"validate strictly", alice, "scheduler.jobs.validate", []any{good, true}, map[string]any{}, 0, ""},
				{"validate an extra key", alice, "scheduler.jobs.validate", []any{extraKey}, map[string]any{}, 0, ""},
				{"validate an extra key strictly", alice, "scheduler.jobs.validate", []any{extraKey, true},
					map[string]any{"path": "['actions', 0, 'deploy', 'flavour']", "msg": `unknown key "flavour" (expected one of: authorize, connection-namespace, failure_retry, failure_retry_interval, images, namespace, os, overlay_backend, protocols, repeat, role, timeout, timeouts, to)`}, 0, ""},
				{"validate an unknown type", alice, "scheduler.jobs.validate", []any{unknownType},
					map[string]any{"path": "['device_type']", "msg": `device type "nope" does not exist`}, 0, ""},
				{"validate without a device", alice, "scheduler.jobs.validate", []any{noDevice},
					map[string]any{"path": "['device_type']", "msg": `no usable device of type "bbb"`}, 0, ""},
				{"validate multinode on too few devices", alice, "scheduler.jobs.validate", []any{readTestdata(t, "multinode.yaml")},
					map[string]any{"path": "['protocols', 'lava-multinode', 'roles']", "msg": "the group needs 2 devices at once, and only 1 can ever be used together: its roles compete for the same devices or worker job limits"}, 0, ""},
				{"validate_yaml", anon, "scheduler.validate_yaml", []any{good}, nil, 0, ""},
				{"validate_yaml an unknown type", anon, "scheduler.validate_yaml", []any{unknownType}, nil, 400, "Invalid YAML submission: " + badType},

				{"resubmit anonymously", anon, "scheduler.jobs.resubmit", []any{pubID}, nil, 401, authRequired},
				{"resubmit another user's job", bob, "scheduler.jobs.resubmit", []any{pubID}, nil, 403, ""},
				{"resubmit another user's personal job", bob, "scheduler.resubmit_job", []any{privID}, nil, 404, fmt.Sprintf("Job '%d' was not found.", privID)},

				{"cancel anonymously", anon, "scheduler.jobs.cancel", []any{privID}, nil, 401, authRequired},
				{"cancel another user's personal job", bob, "scheduler.jobs.cancel", []any{privID}, nil, 404, fmt.Sprintf("Job '%d' was not found.", privID)},
				{"cancel another user's job", alice, "scheduler.jobs.cancel", []any{bobID}, nil, 403, "Permission denied."},
				{"cancel a finished job", bob, "scheduler.jobs.cancel", []any{pubID}, true, 0, ""},
				{"cancel without an id", alice, "scheduler.cancel_job", []any{""}, nil, 400, "Bad request: TestJob id was not specified."},
				{"cancel a missing job", alice, "scheduler.cancel_job", []any{int64(999999)}, nil, 404, "Job '999999' was not found."},
			})

			// submit, resubmit and cancel that work
			got, err := e.call(alice, "scheduler.jobs.submit", good)
			must(t, err)
			id, ok := got.(int64)
			if j := e.Job(id); !ok || j.State != lab.JobSubmitted || j.Submitter != "alice" || j.OriginalDefinition != good {
				t.Fatalf("submit: %v: %+v", got, j)
			}
			got, err = e.call(bob, "scheduler.submit_job", good)
			must(t, err)
			if j := e.Job(got.(int64)); j.Submitter != "bob" {
				t.Fatalf("submit_job: %v: %+v", got, j)
			}
			for _, m := range []string{"scheduler.jobs.resubmit", "scheduler.resubmit_job"} {
				got, err = e.call(alice, m, fmt.Sprint(pubID))
				must(t, err)
				j := e.Job(got.(int64))
				if j.State != lab.JobSubmitted || j.Submitter != "alice" || j.OriginalDefinition != e.Job(pubID).OriginalDefinition {
					t.Errorf("%s: %v: %+v", m, got, j)
				}
			}
			for _, m := range []string{"scheduler.jobs.cancel", "scheduler.cancel_job", "scheduler.jobs.cancel"} {
				got, err = e.call(alice, m, privID)
				if err != nil || got != true {
					t.Fatalf("%s: %v, %v", m, got, err)
				}
				if j := e.Job(privID); j.State != lab.JobFinished || j.Health != lab.JobHealthCanceled {
					t.Errorf("%s: the job is %s, %s", m, j.State, j.Health)
				}
			}
			// canceled in the queue, it never ran: no configuration, as LAVA
			got, err = e.call(alice, "scheduler.jobs.configuration", privID)
			if err != nil || cmp.Diff([]any{nil, nil, nil, nil, nil}, got) != "" {
				t.Errorf("configuration of a job canceled in the queue: %v, %v", got, err)
			}
			got, err = e.call(admin, "scheduler.jobs.cancel", bobID)
			if err != nil || got != true || e.Job(bobID).Health != lab.JobHealthCanceled {
				t.Errorf("cancel as admin: %v, %v", got, err)
			}
		})
	}
}

// TestJobListLimit: scheduler.jobs.list and queue return at most 100 jobs.
func TestJobListLimit(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ctx := context.Background()
	for i := range 120 {
		_, err := e.App.Store().CreateJob(ctx, lab.Job{Description: fmt.Sprint("job ", i), Submitter: "bob", RequestedType: "qemu",
			Priority: 50, SubmitTime: time.Now(), Definition: "d", OriginalDefinition: "d"})
		must(t, err)
	}
	for _, m := range []struct {
		method string
		params []any
	}{
		{"scheduler.jobs.list", []any{nil, nil, int64(0), int64(1000)}},
		{"scheduler.jobs.queue", []any{nil, int64(0), int64(1000)}},
	} {
		got, err := e.call(bob, m.method, m.params...)
		must(t, err)
		if l := got.([]any); len(l) != 100 || l[0].(map[string]any)["description"] != "job 119" {
			t.Errorf("%s: %d jobs, the first %v", m.method, len(l), l[0])
		}
	}
}

// TestMultinodeSubmitAndShow: a multinode submission answers the list of
// its sub_ids, as LAVA's; each job shows its sub_id, target group, its own
// (split) definition as original_definition and the whole submission as
// multinode_definition, and all_jobs lists the sub_ids.
func TestMultinodeSubmitAndShow(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			must(t, e.App.CreateDevice(ctx, e.Principal(admin), lab.Device{Hostname: "qemu-02", DeviceType: "qemu", Worker: "w1",
				Health: lab.DeviceGood}, "test"))
			def := readTestdata(t, "multinode.yaml")
			got, err := e.call(alice, "scheduler.jobs.submit", def)
			must(t, err)
			subs, ok := got.([]any)
			if !ok || len(subs) != 2 {
				t.Fatalf("submit answered %#v, want two sub_ids", got)
			}
			parent, _ := strings.CutSuffix(subs[0].(string), ".0")
			if subs[1] != parent+".1" {
				t.Errorf("sub_ids %v", subs)
			}
			var first int64
			fmt.Sscan(parent, &first)
			show, err := e.call(alice, "scheduler.jobs.show", parent+".1")
			must(t, err)
			if id := show.(map[string]any)["id"]; id != parent+".1" {
				t.Errorf("jobs.show of a sub-job by its sub_id: id %#v, want its sub_id (LAVA's display_id)", id)
			}
			details, err := e.call(alice, "scheduler.job_details", first+1)
			must(t, err)
			fields, ok := details.(map[string]any)
			if !ok {
				t.Fatalf("job_details answered %T", details)
			}
			j, err := e.App.GetJob(ctx, e.Principal(alice), first+1)
			must(t, err)
			if fields["sub_id"] != parent+".1" || fields["target_group"] != j.Multinode.TargetGroup ||
				fields["multinode_definition"] != def || fields["original_definition"] != j.Definition ||
				!strings.Contains(j.Definition, "role: client") {
				t.Errorf("show of a sub-job: sub_id %v target_group %v multinode_definition kept %v original is the split %v",
					fields["sub_id"], fields["target_group"], fields["multinode_definition"] == def, fields["original_definition"] == j.Definition)
			}
			can, err := e.call(bob, "system.user_can_view_jobs", []any{parent + ".1", parent + ".9"})
			must(t, err)
			if fmt.Sprint(can) != fmt.Sprintf("map[%s.1:true]", parent) {
				t.Errorf("user_can_view_jobs of sub_ids: %v", can)
			}
			all, err := e.call(alice, "scheduler.all_jobs")
			must(t, err)
			seen := map[any]bool{}
			for _, row := range all.([]any) {
				r := row.([]any)
				seen[r[5]] = true
			}
			if !seen[parent+".0"] || !seen[parent+".1"] {
				t.Errorf("all_jobs sub_ids: %v", seen)
			}
		})
	}
}
