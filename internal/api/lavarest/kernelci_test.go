package lavarest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// kernelCI is a client that does what KernelCI's LAVA runtime does
// (kernelci/runtime/lava): a session whose every request carries
// ?format=json&limit=256 and the headers "authorization: Token …" and
// "content-type: application/json", URLs joined without final slashes
// (jobs/<id>, devices, aliases) and redirects followed, lists read by
// following "next".
type kernelCI struct {
	t     *testing.T
	base  string // …/api/v0.2/
	token string
}

func (k kernelCI) do(method, rel string, body any) (int, []byte) {
	k.t.Helper()
	u, err := url.Parse(k.base + rel)
	must(k.t, err)
	q := u.Query()
	q.Set("format", "json")
	q.Set("limit", "256")
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		must(k.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u.String(), rd)
	must(k.t, err)
	req.Header.Set("authorization", "Token "+k.token)
	req.Header.Set("content-type", "application/json")
	client := http.DefaultClient
	if method == "POST" { // allow_redirects=False on submission
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := client.Do(req)
	must(k.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(k.t, err)
	return resp.StatusCode, b
}

// getAll reads every page of a list by following next.
func (k kernelCI) getAll(rel string) []map[string]any {
	k.t.Helper()
	var all []map[string]any
	for next := k.base + rel; next != ""; {
		rel := strings.TrimPrefix(next, k.base)
		st, body := k.do("GET", rel, nil)
		if st != 200 {
			k.t.Fatalf("GET %s: %d %s", next, st, body)
		}
		var page struct {
			Count   int              `json:"count"`
			Next    *string          `json:"next"`
			Results []map[string]any `json:"results"`
		}
		must(k.t, json.Unmarshal(body, &page))
		all = append(all, page.Results...)
		next = ""
		if page.Next != nil {
			next = *page.Next
		}
	}
	return all
}

// kciLog is the job's log as the worker uploads it: a boot, two results
// of the test definition and the lava suite's job result.
var kciLog = strings.Join([]string{
	`{"dt":"2026-05-01T10:00:00.5Z","lvl":"info","msg":"start: 1.1 tmpfs-deploy (timeout 00:10:00) [common]"}`,
	`{"dt":"2026-05-01T10:00:01Z","lvl":"target","msg":"Linux version 6.1.0 (kernelci@build) #1 SMP"}`,
	`{"dt":"2026-05-01T10:00:02Z","lvl":"results","msg":{"definition":"lava","case":"auto-login-action","result":"pass","duration":"2.50","level":"2.4"}}`,
	`{"dt":"2026-05-01T10:00:03Z","lvl":"target","msg":"<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=uname RESULT=pass>"}`,
	`{"dt":"2026-05-01T10:00:04Z","lvl":"results","msg":{"definition":"0_baseline","case":"uname","result":"pass","measurement":1.5,"units":"s"}}`,
	`{"dt":"2026-05-01T10:00:05Z","lvl":"target","msg":"dmesg: error: bad thing"}`,
	`{"dt":"2026-05-01T10:00:06Z","lvl":"results","msg":{"definition":"0_baseline","case":"dmesg","result":"fail","starttc":5,"endtc":6}}`,
	`{"dt":"2026-05-01T10:00:07Z","lvl":"results","msg":{"definition":"lava","case":"job","result":"pass"}}`,
}, "\n") + "\n"

// TestKernelCIFlow submits a job as KernelCI does, polls it by id while a
// worker runs it, then reads its log, its tests and its JUnit report, on
// SQLite and PostgreSQL.
func TestKernelCIFlow(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			ap := e.Principal(admin)
			must(t, e.App.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "kci"}))
			must(t, e.App.CreateDevice(ctx, ap, lab.Device{Hostname: "kci-01", DeviceType: "kci", Worker: "w1", Health: lab.DeviceGood}, "test"))
			k := kernelCI{t: t, base: e.srv.URL + "/api/v0.2/", token: e.Tokens[alice]}

			// The liveness probe and the device list KernelCI reads first.
			if st, body := k.do("GET", "system/version", nil); st != 200 || !strings.Contains(string(body), `"version":`) {
				t.Fatalf("system/version: %d %s", st, body)
			}
			online := map[string]bool{}
			for _, d := range k.getAll("devices") {
				online[d["device_type"].(string)] = online[d["device_type"].(string)] || d["health"] == "Good"
			}
			if !online["kci"] || !online["qemu"] || online["board"] {
				t.Errorf("online device types: %v", online)
			}
			aliases := map[string]string{}
			for _, a := range k.getAll("aliases") {
				aliases[a["name"].(string)] = a["device_type"].(string)
			}
			if len(aliases) != 1 || aliases["kvm"] != "qemu" {
				t.Errorf("aliases: %v", aliases)
			}

			// Submit: POST jobs/ {definition} → 201, job_ids[0].
			def := labtest.Job("kernelci-baseline", "kci", "metadata: {kernel.version: 6.1.0, tree: mainline}")
			st, body := k.do("POST", "jobs/", map[string]string{"definition": def})
			if st != http.StatusCreated {
				t.Fatalf("submit: %d %s", st, body)
			}
			var sub struct {
				Message string  `json:"message"`
				JobIDs  []int64 `json:"job_ids"`
			}
			must(t, json.Unmarshal(body, &sub))
			if sub.Message != "job(s) successfully submitted" || len(sub.JobIDs) != 1 {
				t.Fatalf("submitted: %s", body)
			}
			id := sub.JobIDs[0]

			poll := func() (string, string) {
				t.Helper()
				st, body := k.do("GET", fmt.Sprintf("jobs/%d", id), nil) // no final slash: redirected
				if st != 200 {
					t.Fatalf("poll job %d: %d %s", id, st, body)
				}
				var j map[string]any
				must(t, json.Unmarshal(body, &j))
				if j["requested_device_type"] != "kci" || j["submitter"] != "alice" || j["definition"] != def {
					t.Errorf("job: %s", body)
				}
				return j["state"].(string), j["health"].(string)
			}
			if s, h := poll(); s != "Submitted" || h != "Unknown" {
				t.Fatalf("new job is %s/%s", s, h)
			}

			// The worker comes online, takes the job, uploads its log and
			// finishes it.
			wp := auth.WorkerPrincipal("w1")
			_, err := e.App.Heartbeat(ctx, wp, "w1", "test")
			must(t, err)
			_, err = e.App.SchedulePass(ctx)
			must(t, err)
			if s, _ := poll(); s != "Scheduled" {
				t.Fatalf("job after a scheduling pass is %s", s)
			}
			_, err = e.App.StartJob(ctx, wp, id)
			must(t, err)
			if s, _ := poll(); s != "Running" {
				t.Fatalf("started job is %s", s)
			}
			_, err = e.App.AppendLog(ctx, wp, id, 0, []byte(kciLog))
			must(t, err)
			sum := sha256.Sum256([]byte(kciLog))
			_, err = e.App.FinishFromWorker(ctx, wp, id, app.WorkerFinish{LogSize: int64(len(kciLog)), LogSHA256: hex.EncodeToString(sum[:])})
			must(t, err)
			if s, h := poll(); s != "Finished" || h != "Complete" {
				t.Fatalf("finished job is %s/%s", s, h)
			}

			// The log, in LAVA's YAML: a list of {dt, lvl, msg}.
			st, body = k.do("GET", fmt.Sprintf("jobs/%d/logs/", id), nil)
			if st != 200 {
				t.Fatalf("logs: %d %s", st, body)
			}
			var records []map[string]any
			must(t, yaml.Unmarshal(body, &records))
			if len(records) != 8 || records[0]["dt"] != "2026-05-01T10:00:00.500000+00:00" || records[1]["lvl"] != "target" ||
				records[1]["msg"] != "Linux version 6.1.0 (kernelci@build) #1 SMP" {
				t.Fatalf("log records: %v", records)
			}
			if !strings.HasPrefix(string(body), `- {"dt": "2026-05-01T10:00:00.500000+00:00", "lvl": "info", "msg": "start: 1.1 tmpfs-deploy`) {
				t.Errorf("log text: %.200s", body)
			}
			st, body = k.do("GET", fmt.Sprintf("jobs/%d/logs/?start=1&end=2", id), nil)
			if st != 200 || string(body) != `- {"dt": "2026-05-01T10:00:01+00:00", "lvl": "target", "msg": "Linux version 6.1.0 (kernelci@build) #1 SMP"}`+"\n" {
				t.Errorf("log line 1: %d %q", st, body)
			}

			// The tests, and a filter on them.
			tests := k.getAll(fmt.Sprintf("jobs/%d/tests/", id))
			got := []string{}
			for _, c := range tests {
				got = append(got, fmt.Sprintf("%v=%v", c["name"], c["result"]))
			}
			if strings.Join(got, " ") != "auto-login-action=pass uname=pass dmesg=fail job=pass" {
				t.Errorf("tests: %v", got)
			}
			if failed := k.getAll(fmt.Sprintf("jobs/%d/tests/?result=fail", id)); len(failed) != 1 || failed[0]["name"] != "dmesg" {
				t.Errorf("failed tests: %v", failed)
			}

			// JUnit: one testsuite per suite, the failure holding its log.
			st, body = k.do("GET", fmt.Sprintf("jobs/%d/junit/", id), nil)
			if st != 200 {
				t.Fatalf("junit: %d %s", st, body)
			}
			var report struct {
				Failures int `xml:"failures,attr"`
				Tests    int `xml:"tests,attr"`
				Suites   []struct {
					Name  string `xml:"name,attr"`
					Tests int    `xml:"tests,attr"`
					Cases []struct {
						Name    string `xml:"name,attr"`
						Class   string `xml:"classname,attr"`
						Failure *struct {
							Message string `xml:"message,attr"`
							Text    string `xml:",chardata"`
						} `xml:"failure"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			must(t, xml.Unmarshal(body, &report))
			if report.Tests != 4 || report.Failures != 1 || len(report.Suites) != 2 || report.Suites[0].Name != "lava" ||
				report.Suites[1].Name != "0_baseline" || len(report.Suites[1].Cases) != 2 {
				t.Fatalf("junit report: %s", body)
			}
			dm := report.Suites[1].Cases[1]
			if dm.Name != "dmesg" || dm.Class != "0_baseline" || dm.Failure == nil || dm.Failure.Message != "failed" ||
				!strings.Contains(dm.Failure.Text, `"msg": "dmesg: error: bad thing"`) {
				t.Errorf("dmesg case: %+v", dm)
			}
		})
	}
}
