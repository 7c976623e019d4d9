package notify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/notify"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// jobLog is a job's log as the worker uploads it: a message and two
// results records of two suites.
const jobLog = `{"dt":"2026-10-01T12:00:01Z","lvl":"info","msg":"start: 1 deploy"}
{"dt":"2026-10-01T12:00:02Z","lvl":"results","msg":{"definition":"lava","case":"tmpfs-deploy","result":"pass","duration":"1.00","level":"1"}}
{"dt":"2026-10-01T12:00:03Z","lvl":"results","msg":{"definition":"0_smoke","case":"uname","result":"fail","starttc":0,"endtc":1}}
`

// minimalFields are LAVA's fields of the minimal dataset, in its order.
var minimalFields = []string{"id", "status", "status_string", "state", "state_string", "health", "health_string",
	"submit_time", "start_time", "end_time", "submitter_username", "submitter_email", "failure_comment", "priority",
	"description", "actual_device_id", "definition", "metadata", "health_check"}

// jsonKeys returns the keys of a JSON object in order.
func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", b)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		must(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		must(t, dec.Decode(&skip))
	}
	return keys
}

// TestCallbackPayloads: a POST callback carries LAVA's fields for its
// dataset, as JSON or form-encoded as LAVA sends them; a GET carries none.
func TestCallbackPayloads(t *testing.T) {
	st := labtest.Backends()[0].Open(t)
	e := newEnv(t, st, loopback, filepath.Join(t.TempDir(), "logs"))
	rc := listen(t, "127.0.0.1:0", nil)
	stop := run(t, e.sender(notify.Config{}))
	defer stop()

	cases := []struct {
		dataset, ctype string
		log, results   bool
	}{
		{"minimal", "json", false, false},
		{"logs", "json", true, false},
		{"results", "json", false, true},
		{"all", "json", true, true},
		{"minimal", "urlencoded", false, false},
		{"all", "urlencoded", true, true},
	}
	for _, c := range cases {
		t.Run(c.dataset+"/"+c.ctype, func(t *testing.T) {
			before := len(rc.requests())
			id := e.submit(job("payload", callbackBlock("finished", rc.url("/cb"),
				"method: POST, dataset: "+c.dataset+", content-type: "+c.ctype), "{kernel: '6.1', board: bbb}"))
			j := e.runJob(id, jobLog, app.JobOutcome{})
			waitFor(t, "the delivery", func() bool { return e.done(id) })
			reqs := rc.requests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Header.Get(notify.DeliveryHeader) != strconv.FormatInt(e.deliveries(id)[0].ID, 10) {
				t.Errorf("request %s, delivery header %q", r.Method, r.Header.Get(notify.DeliveryHeader))
			}
			wantKeys := append([]string{}, minimalFields...)
			if c.log {
				wantKeys = append(wantKeys, "log")
			}
			if c.results {
				wantKeys = append(wantKeys, "results")
			}
			end := strings.Replace(j.EndTime.UTC().Format("2006-01-02 15:04:05.000000+00:00"), ".000000", "", 1)
			if c.ctype == "json" {
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("content type %q", ct)
				}
				if got := jsonKeys(t, r.Body); strings.Join(got, ",") != strings.Join(wantKeys, ",") {
					t.Errorf("fields %v, want %v", got, wantKeys)
				}
				var d map[string]any
				must(t, json.Unmarshal(r.Body, &d))
				want := map[string]any{"id": float64(id), "status": float64(2), "status_string": "complete", "state": float64(5),
					"state_string": "Finished", "health": float64(1), "health_string": "Complete", "end_time": end,
					"submitter_username": "alice", "submitter_email": "alice@example.org", "failure_comment": nil,
					"priority": float64(40), "description": "payload", "actual_device_id": "qemu01", "health_check": false}
				for k, v := range want {
					if d[k] != v {
						t.Errorf("%s = %#v, want %#v", k, d[k], v)
					}
				}
				if md, _ := d["metadata"].(map[string]any); md["kernel"] != "6.1" || md["board"] != "bbb" || len(md) != 2 {
					t.Errorf("metadata %v", d["metadata"])
				}
				if def, _ := d["definition"].(string); !strings.Contains(def, "job_name: payload") {
					t.Errorf("definition %q", def)
				}
				if c.log {
					l, _ := d["log"].(string)
					if !strings.HasPrefix(l, `- {"dt": "2026-10-01T12:00:01+00:00", "lvl": "info", "msg": "start: 1 deploy"}`) || strings.Count(l, "\n") != 3 {
						t.Errorf("log in LAVA's form:\n%s", l)
					}
				}
				if c.results {
					res, _ := d["results"].(map[string]any)
					if len(res) != 2 {
						t.Fatalf("results %v", d["results"])
					}
					var smoke []map[string]any
					must(t, yaml.Unmarshal([]byte(res["0_smoke"].(string)), &smoke))
					if len(smoke) != 1 || smoke[0]["name"] != "uname" || smoke[0]["result"] != "fail" || smoke[0]["suite"] != "0_smoke" || smoke[0]["job"] != strconv.FormatInt(id, 10) {
						t.Errorf("0_smoke's export: %v", smoke)
					}
					var lava []map[string]any
					must(t, yaml.Unmarshal([]byte(res["lava"].(string)), &lava))
					if len(lava) != 1 || lava[0]["name"] != "tmpfs-deploy" || lava[0]["result"] != "pass" {
						t.Errorf("lava's export: %v", lava)
					}
				}
				return
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("content type %q", ct)
			}
			var keys []string
			for _, kv := range strings.Split(string(r.Body), "&") {
				k, _, _ := strings.Cut(kv, "=")
				if len(keys) == 0 || keys[len(keys)-1] != k {
					keys = append(keys, k)
				}
			}
			// failure_comment is None: requests leaves it out.
			want := strings.Replace(strings.Join(wantKeys, ","), "failure_comment,", "", 1)
			if strings.Join(keys, ",") != want {
				t.Errorf("fields %v, want %s", keys, want)
			}
			v, err := url.ParseQuery(string(r.Body))
			must(t, err)
			for k, want := range map[string]string{"id": strconv.FormatInt(id, 10), "status": "2", "status_string": "complete",
				"state": "5", "health_string": "Complete", "end_time": end, "health_check": "False", "priority": "40",
				"actual_device_id": "qemu01", "start_time": strings.Replace(j.StartTime.UTC().Format("2006-01-02 15:04:05.000000+00:00"), ".000000", "", 1)} {
				if v.Get(k) != want {
					t.Errorf("%s = %q, want %q", k, v.Get(k), want)
				}
			}
			if got := strings.Join(v["metadata"], ","); got != "board,kernel" {
				t.Errorf("metadata %q: LAVA's sender sends the keys", got)
			}
			if c.results {
				if got := strings.Join(v["results"], ","); got != "lava,0_smoke" {
					t.Errorf("results %q: LAVA's sender sends the suite names", got)
				}
				if !strings.Contains(v.Get("log"), "start: 1 deploy") {
					t.Errorf("log %q", v.Get("log"))
				}
			}
		})
	}

	t.Run("GET", func(t *testing.T) {
		before := len(rc.requests())
		id := e.submit(job("get", callbackBlock("all", rc.url("/get"), "dataset: all"), ""))
		e.runJob(id, jobLog, app.JobOutcome{Failed: true, ErrorType: lab.ErrorTest})
		waitFor(t, "the deliveries", func() bool { return e.done(id) })
		reqs := rc.requests()[before:]
		if len(reqs) != 2 {
			t.Fatalf("%d requests, want one when Running and one when Finished", len(reqs))
		}
		for _, r := range reqs {
			if r.Method != http.MethodGet || len(r.Body) != 0 || r.Header.Get("Content-Type") != "" {
				t.Errorf("GET callback: %s with %d bytes (%q)", r.Method, len(r.Body), r.Header.Get("Content-Type"))
			}
		}
	})
}

// TestCallbackURLAndToken: placeholders take the job's values (each
// percent-encoded) as of the transition; the token goes raw in the header
// the definition names, Authorization by default.
func TestCallbackURLAndToken(t *testing.T) {
	st := labtest.Backends()[0].Open(t)
	e := newEnv(t, st, loopback, filepath.Join(t.TempDir(), "logs"))
	rc := listen(t, "127.0.0.1:0", nil)

	block := "  criteria: {status: all}\n  callbacks:\n" +
		"  - {url: '" + rc.url("/job/{ID}/{ STATUS }?s={STATUS_STRING}&d={DESCRIPTION}&h={HEALTH}&x={NOPE}&y={lower}&z={}") + "', token: 's3cret value'}\n" +
		"  - {url: '" + rc.url("/hdr") + "', token: tok, header: X-Ci-Token}"
	id := e.submit(job("a b&c/d", block, ""))
	e.runJob(id, "", app.JobOutcome{})
	// Sent after the job finished, the Running callbacks still tell of
	// the job as it was when it started.
	if n, err := e.sender(notify.Config{}).RunOnce(e.ctx); n != 4 || err != nil {
		t.Fatalf("sent %d deliveries (%v), want 4", n, err)
	}
	var got []string
	for _, r := range rc.requests() {
		got = append(got, r.Path+"?"+r.Query+" auth="+r.Header.Get("Authorization")+" x="+r.Header.Get("X-Ci-Token"))
	}
	n := strconv.FormatInt(id, 10)
	want := []string{
		"/job/" + n + "/1?s=running&d=a%20b%26c%2Fd&h=0&x={NOPE}&y={lower}&z={} auth=s3cret value x=",
		"/hdr? auth= x=tok",
		"/job/" + n + "/2?s=complete&d=a%20b%26c%2Fd&h=1&x={NOPE}&y={lower}&z={} auth=s3cret value x=",
		"/hdr? auth= x=tok",
	}
	slices.Sort(got) // the deliveries go out side by side
	slices.Sort(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCallbackSignature: with a secret, the receiver can verify every
// callback's body with HMAC-SHA256.
func TestCallbackSignature(t *testing.T) {
	st := labtest.Backends()[0].Open(t)
	e := newEnv(t, st, loopback, filepath.Join(t.TempDir(), "logs"))
	secret := []byte("lab secret")
	verified := 0
	rc := listen(t, "127.0.0.1:0", func(r *http.Request, n int) int {
		return http.StatusOK
	})
	stop := run(t, e.sender(notify.Config{Secret: secret}))
	defer stop()
	id := e.submit(job("signed", "  criteria: {status: all}\n  callbacks:\n"+
		"  - {url: '"+rc.url("/post")+"', method: POST, content-type: json}\n"+
		"  - {url: '"+rc.url("/get")+"'}", ""))
	e.runJob(id, jobLog, app.JobOutcome{})
	waitFor(t, "the deliveries", func() bool { return e.done(id) })
	for _, r := range rc.requests() {
		sig, ok := strings.CutPrefix(r.Header.Get(notify.SignatureHeader), "sha256=")
		raw, err := hex.DecodeString(sig)
		m := hmac.New(sha256.New, secret)
		m.Write(r.Body)
		if !ok || err != nil || !hmac.Equal(raw, m.Sum(nil)) {
			t.Errorf("%s %s: signature %q does not verify", r.Method, r.Path, r.Header.Get(notify.SignatureHeader))
			continue
		}
		verified++
		// A body changed in transit would not verify.
		m = hmac.New(sha256.New, secret)
		m.Write(append(r.Body, ' '))
		if hmac.Equal(raw, m.Sum(nil)) {
			t.Error("a changed body verifies")
		}
	}
	if verified != 4 {
		t.Errorf("%d requests verified, want 4", verified)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("x"))
	if got := notify.Sign(secret, []byte("x")); got != "sha256="+hex.EncodeToString(m.Sum(nil)) || len(got) != 71 {
		t.Errorf("signature format: %s", got)
	}
}
