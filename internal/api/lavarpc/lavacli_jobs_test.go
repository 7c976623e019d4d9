package lavarpc_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// lavacliLogLines is what `lavacli jobs logs` prints for jobLog (what it
// prints against LAVA for the same records).
var lavacliLogLines = []string{
	"2026-08-21T10:00:00 start: 1.1 download-retry (timeout 00:05:00) [common]\n",
	"2026-08-21T10:00:01+00:00 {'definition': 'lava', 'case': 'http-download', 'result': 'pass', 'duration': '0.51', 'level': '1.1.1'}\n",
	"2026-08-21T10:00:02 Linux version 6.1 \"quoted\" café\ttab\n",
	"2026-08-21T10:00:03+00:00 <host> hello\n",
	" garbage line\n",
	"2026-08-21T10:00:04+00:00 {'definition': '0_smoke', 'case': 'uname', 'result': 'pass'}\n",
	"2026-08-21T10:00:05+00:00 {'definition': '0_smoke', 'case': 'speed', 'result': 'fail', 'measurement': 1.5, 'units': 's'}\n",
	"2026-08-21T10:00:06+00:00 smoke failed\n",
	"2026-08-21T10:00:07+00:00 {'definition': 'lava', 'case': 'job', 'result': 'fail', 'error_type': 'Test', 'error_msg': 'smoke failed'}\n",
}

// xmlrpcTime is a time as lavacli prints an XML-RPC dateTime.
func xmlrpcTime(t time.Time) string { return t.UTC().Format("20060102T15:04:05") }

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	must(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

// TestLavacliJobs runs Debian's lavacli jobs and results commands against
// the API and checks what they print.
func TestLavacliJobs(t *testing.T) {
	e := newJobEnv(t, labtest.Backends()[0])
	pub, bobs := e.Job(e.pubJob), e.Job(e.bobJob)
	pubID, privID, bobID := fmt.Sprint(e.pubJob), fmt.Sprint(e.privJob), fmt.Sprint(e.bobJob)
	tm := xmlrpcTime
	for _, tc := range []struct {
		who  int
		args []string
		want string
	}{
		{bob, []string{"jobs", "show", pubID}, "id          : " + pubID + "\n" +
			"description : public job\n" +
			"submitter   : alice\n" +
			"device-type : qemu\n" +
			"device      : qemu-01\n" +
			"health-check: False\n" +
			"state       : Finished\n" +
			"Health      : Incomplete\n" +
			"pipeline    : True\n" +
			"tags        : []\n" +
			"visibility  : Public\n" +
			"submit time : " + tm(pub.SubmitTime) + "\n" +
			"start time  : " + tm(pub.StartTime) + "\n" +
			"end time    : " + tm(pub.EndTime) + "\n"},
		{alice, []string{"jobs", "show", bobID}, "id          : " + bobID + "\n" +
			"description : bob's job\n" +
			"submitter   : bob\n" +
			"device-type : qemu\n" +
			"device      : None\n" +
			"health-check: False\n" +
			"state       : Submitted\n" +
			"Health      : Unknown\n" +
			"pipeline    : True\n" +
			"tags        : []\n" +
			"visibility  : Public\n" +
			"submit time : " + tm(bobs.SubmitTime) + "\n" +
			"start time  : None\n" +
			"end time    : None\n"},
		{bob, []string{"jobs", "show", "--json", pubID}, `{"id": ` + pubID + `, "description": "public job", "device": "qemu-01", "device_type": "qemu", ` +
			`"health_check": false, "pipeline": true, "health": "Incomplete", "state": "Finished", "submitter": "alice", ` +
			`"submit_time": "` + tm(pub.SubmitTime) + `", "start_time": "` + tm(pub.StartTime) + `", "end_time": "` + tm(pub.EndTime) + `", ` +
			`"tags": [], "visibility": "Public", "failure_comment": null, "error_msg": "smoke failed", "error_type": "Test"}` + "\n"},
		{bob, []string{"jobs", "show", "--yaml", pubID}, "description: public job\ndevice: qemu-01\ndevice_type: qemu\n" +
			"end_time: " + tm(pub.EndTime) + "\nerror_msg: smoke failed\nerror_type: Test\nfailure_comment: null\nhealth: Incomplete\n" +
			"health_check: false\nid: " + pubID + "\npipeline: true\nstart_time: " + tm(pub.StartTime) + "\nstate: Finished\n" +
			"submit_time: " + tm(pub.SubmitTime) + "\nsubmitter: alice\ntags: []\nvisibility: Public\n"},
		{alice, []string{"jobs", "list"}, "Jobs (from 1 to 25):\n" +
			"* " + bobID + ": Submitted,Unknown [bob] (bob's job) - qemu\n" +
			"* " + privID + ": Submitted,Unknown [alice] (personal job) - qemu\n" +
			"* " + pubID + ": Finished,Incomplete [alice] (public job) - qemu\n"},
		{bob, []string{"jobs", "list", "--state", "FINISHED", "--verbose"}, "Jobs (from 1 to 25):\n" +
			"* " + pubID + ": Finished,Incomplete [alice] (public job) - qemu qemu-01 <" + pyTime(pub.StartTime) + "> <" + pyTime(pub.EndTime) +
			"> Test: smoke failed\n"},
		{anon, []string{"jobs", "list", "--start", "1", "--limit", "1"}, "Jobs (from 2 to 2):\n" +
			"* " + pubID + ": Finished,Incomplete [alice] (public job) - qemu\n"},
		{bob, []string{"jobs", "definition", pubID}, pub.OriginalDefinition + "\n"},
		{bob, []string{"jobs", "logs", pubID}, strings.Join(lavacliLogLines, "")},
		{bob, []string{"jobs", "logs", "--start", "5", "--end", "7", pubID}, strings.Join(lavacliLogLines[5:7], "")},
		{bob, []string{"jobs", "logs", "--filters", "results", pubID},
			lavacliLogLines[1] + lavacliLogLines[5] + lavacliLogLines[6] + lavacliLogLines[8]},
		{bob, []string{"jobs", "logs", "--raw", "--end", "4", pubID},
			`- {"dt": "2026-08-21T10:00:00.123456+00:00", "lvl": "info", "msg": "start: 1.1 download-retry (timeout 00:05:00) [common]"}` + "\n" +
				`- {"dt": "2026-08-21T10:00:01+00:00", "lvl": "results", "msg": {"case": "http-download", "definition": "lava", "duration": "0.51", "level": "1.1.1", "result": "pass"}}` + "\n" +
				`- {"dt": "2026-08-21T10:00:02.500000+00:00", "lvl": "target", "msg": "Linux version 6.1 \"quoted\" caf\xE9\ttab"}` + "\n" +
				`- {"dt": "2026-08-21T10:00:03+00:00", "lvl": "feedback", "msg": "hello", "ns": "host"}` + "\n"},
		{alice, []string{"jobs", "queue"}, "Jobs (from 1 to 25):\n" +
			"* " + bobID + ": bob (bob's job) - qemu\n" +
			"* " + privID + ": alice (personal job) - qemu\n"},
		{bob, []string{"jobs", "queue", "qemu"}, "Jobs (from 1 to 25):\n* " + bobID + ": bob (bob's job) - qemu\n"},
		{bob, []string{"results", pubID}, "Results:\n* lava.http-download [pass]\n* lava.job [fail]\n* 0_smoke.uname [pass]\n* 0_smoke.speed [fail]\n"},
		{bob, []string{"results", pubID, "0_smoke"}, "Results:\n* 0_smoke.uname [pass]\n* 0_smoke.speed [fail]\n"},
		{bob, []string{"results", pubID, "0_smoke", "speed"}, "fail\n"},
		{bob, []string{"results", pubID, "lava", "http-download"}, "pass\n"},
	} {
		out, err := e.lavacli(tc.who, tc.args...)
		if err != nil {
			t.Errorf("lavacli %v: %v", tc.args, err)
			continue
		}
		if out != tc.want {
			t.Errorf("lavacli %v:\n got %q\nwant %q", tc.args, out, tc.want)
		}
	}

	// what is refused, and how lavacli says it
	for _, tc := range []struct {
		who  int
		args []string
		want string
	}{
		{bob, []string{"jobs", "show", privID}, fmt.Sprintf("Unable to call 'jobs.show': <Fault 404: \"Job '%s' was not found.\">\n", privID)},
		{anon, []string{"jobs", "logs", privID}, fmt.Sprintf("Unable to call 'jobs.logs': <Fault 404: \"Job '%s' was not found.\">\n", privID)},
		{bob, []string{"results", privID}, "Unable to call 'results': <Fault 404: 'Specified job not found.'>\n"},
		{anon, []string{"results", pubID}, "Unable to call 'results': <Fault 401: 'Authentication with user and token required for this API.'>\n"},
		{alice, []string{"jobs", "validate", writeFile(t, "bad.yaml", labtest.Job("bad", "nope", ""))},
			"key: ['device_type']\nmsg: device type \"nope\" does not exist\n"},
	} {
		out, err := e.lavacli(tc.who, tc.args...)
		if err == nil {
			t.Errorf("lavacli %v succeeded: %q", tc.args, out)
		}
		if out != tc.want {
			t.Errorf("lavacli %v:\n got %q\nwant %q", tc.args, out, tc.want)
		}
	}

	// submit, validate, resubmit and cancel
	def := writeFile(t, "job.yaml", labtest.Job("from lavacli", "qemu", ""))
	out, err := e.lavacli(alice, "jobs", "validate", def)
	if err != nil || out != "" {
		t.Errorf("jobs validate: %q, %v", out, err)
	}
	out, err = e.lavacli(alice, "jobs", "submit", def)
	must(t, err)
	var id int64
	if _, err := fmt.Sscanf(out, "%d\n", &id); err != nil || fmt.Sprintf("%d\n", id) != out {
		t.Fatalf("jobs submit printed %q", out)
	}
	if j := e.Job(id); j.Description != "from lavacli" || j.Submitter != "alice" || j.State != lab.JobSubmitted {
		t.Errorf("submitted job: %+v", j)
	}
	bad := writeFile(t, "bad.yaml", labtest.Job("bad", "nope", ""))
	out, err = e.lavacli(alice, "jobs", "submit", bad)
	if want := "Unable to submit " + bad + `: <Fault 400: 'Problem with submitted job data: 2:14: $.device_type: device type "nope" does not exist'>` + "\n"; err != nil || out != want {
		t.Errorf("jobs submit of a bad definition: %q, %v; want %q", out, err, want)
	}
	out, err = e.lavacli(alice, "jobs", "resubmit", pubID)
	must(t, err)
	if _, err := fmt.Sscanf(out, "%d\n", &id); err != nil || e.Job(id).OriginalDefinition != pub.OriginalDefinition {
		t.Errorf("jobs resubmit printed %q", out)
	}
	out, err = e.lavacli(bob, "jobs", "cancel", privID, bobID)
	if err != nil || out != fmt.Sprintf("Unable to cancel job %s: <Fault 404: \"Job '%s' was not found.\">\n", privID, privID) {
		t.Errorf("jobs cancel as bob: %q, %v", out, err)
	}
	if e.Job(e.bobJob).Health != lab.JobHealthCanceled || e.Job(e.privJob).State != lab.JobSubmitted {
		t.Errorf("after bob's cancel: bob's job %s, alice's %s", e.Job(e.bobJob).Health, e.Job(e.privJob).State)
	}
	out, err = e.lavacli(alice, "jobs", "cancel", privID)
	if err != nil || out != "" || e.Job(e.privJob).Health != lab.JobHealthCanceled {
		t.Errorf("jobs cancel: %q, %v", out, err)
	}
}

// lavacliStart starts lavacli as who with args, unbuffered, and returns
// it with a reader of its standard output.
func (e *env) lavacliStart(ctx context.Context, who int, args ...string) (*exec.Cmd, *bufio.Reader, *bytes.Buffer) {
	e.T.Helper()
	bin, err := exec.LookPath("lavacli")
	must(e.T, err)
	home := e.T.TempDir()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--uri", e.uri(who)}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost", "PYTHONUNBUFFERED=1")
	stdout, err := cmd.StdoutPipe()
	must(e.T, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(e.T, cmd.Start())
	return cmd, bufio.NewReader(stdout), &stderr
}

// TestLavacliFollow: `lavacli jobs logs` follows a running job's log until
// the job finishes, and `lavacli jobs wait` waits for it, both polling the
// API as they do against LAVA.
func TestLavacliFollow(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	e.runJob(e.pubJob)
	e.appendLog(e.pubJob, jobLog[:3]...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound on a hung client, not an assertion
	defer cancel()
	id := fmt.Sprint(e.pubJob)
	logs, out, logsErr := e.lavacliStart(ctx, bob, "jobs", "logs", "--polling", "1", id)
	wait, waitOut, waitErr := e.lavacliStart(ctx, bob, "jobs", "wait", "--polling", "1", id)

	var got strings.Builder
	for range 3 { // the lines already logged
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("jobs logs: %v after %q\n%s", err, got.String(), logsErr)
		}
		got.WriteString(line)
	}
	state, err := waitOut.ReadString('g') // "Running"
	if err != nil || state != "Running" {
		t.Fatalf("jobs wait: %q, %v\n%s", state, err, waitErr)
	}
	// the job goes on and ends while both poll
	e.appendLog(e.pubJob, jobLog[3:]...)
	_, err = e.App.FinishJob(context.Background(), worker, e.pubJob, app.JobOutcome{Failed: true, ErrorType: lab.ErrorTest})
	must(t, err)
	rest, err := io.ReadAll(out)
	must(t, err)
	got.Write(rest)
	if err := logs.Wait(); err != nil {
		t.Fatalf("jobs logs: %v\n%s", err, logsErr)
	}
	if want := strings.Join(lavacliLogLines, ""); got.String() != want {
		t.Errorf("jobs logs followed:\n got %q\nwant %q", got.String(), want)
	}
	dots, err := io.ReadAll(waitOut)
	must(t, err)
	if err := wait.Wait(); err != nil {
		t.Fatalf("jobs wait: %v\n%s", err, waitErr)
	}
	if !regexp.MustCompile(`^\.*\n$`).Match(dots) {
		t.Errorf("jobs wait printed %q after Running, want dots and a newline", dots)
	}
}
