package lavarest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/lavarest"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// send posts body with a content type as who and returns status and
// body.
func (e *env) send(who int, method, path, ctype string, body []byte) (int, string) {
	e.T.Helper()
	req, err := http.NewRequest(method, e.srv.URL+lavarest.Prefix+path, bytes.NewReader(body))
	must(e.T, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if who != anon {
		req.Header.Set("Authorization", "Token "+e.Tokens[who])
	}
	resp, err := http.DefaultClient.Do(req)
	must(e.T, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(e.T, err)
	return resp.StatusCode, string(b)
}

// TestSubmit submits jobs as JSON and as forms, and the refusals LAVA
// answers with a message.
func TestSubmit(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			def := job("form-job", "qemu", "public", "")
			var mp bytes.Buffer
			mw := multipart.NewWriter(&mp)
			must(t, mw.WriteField("definition", def))
			must(t, mw.Close())
			for _, c := range []struct {
				name, ctype string
				body        []byte
			}{
				{"json", "application/json", []byte(jsonDef(def))},
				{"json without a content type", "", []byte(jsonDef(def))},
				{"json with more fields", "application/json; charset=utf-8", []byte(`{"definition": ` + mustJSON(def) + `, "unknown": 1}`)},
				{"urlencoded form", "application/x-www-form-urlencoded", []byte(url.Values{"definition": {def}}.Encode())},
				{"multipart form", mw.FormDataContentType(), mp.Bytes()},
			} {
				st, body := e.send(alice, "POST", "/jobs/", c.ctype, c.body)
				var out struct {
					Message string  `json:"message"`
					JobIDs  []int64 `json:"job_ids"`
				}
				if st != 201 || json.Unmarshal([]byte(body), &out) != nil || out.Message != "job(s) successfully submitted" || len(out.JobIDs) != 1 {
					t.Errorf("%s: %d %s", c.name, st, body)
					continue
				}
				j, err := e.App.GetJob(context.Background(), e.Principal(alice), out.JobIDs[0])
				must(t, err)
				if j.Description != "form-job" || j.Submitter != "alice" || j.State != lab.JobSubmitted {
					t.Errorf("%s: job %+v", c.name, j)
				}
			}
			for _, c := range []struct {
				name, ctype, body string
				status            int
				want              string
			}{
				{"no definition", "application/json", `{}`, 400, `{"definition":["This field is required."]}`},
				{"empty body", "application/json", ``, 400, `{"definition":["This field is required."]}`},
				{"definition not a string", "application/json", `{"definition": 5}`, 400, `{"definition":["Not a valid string."]}`},
				{"not JSON", "application/json", `{"definition": `, 400, `"detail":"JSON parse error`},
				{"a list", "application/json", `[1]`, 400, `"detail":"JSON parse error`},
				{"other media type", "text/plain", `x`, 400, `Unsupported media type`},
				{"bad definition", "application/json", jsonDef("job_name: x\n"), 400,
					`{"message":"Problem with submitted job data: 1:1: $: missing required key \"actions\"`},
				{"unknown type", "application/json", jsonDef(job("u", "nope", "public", "")), 400, `device type \"nope\" does not exist`},
				{"no usable device", "application/json", jsonDef(job("u", "secret", "public", "")), 422,
					`{"message":"Devices unavailable: no usable device of type \"secret\"`},
			} {
				st, body := e.send(alice, "POST", "/jobs/", c.ctype, []byte(c.body))
				if st != c.status || !strings.Contains(body, c.want) {
					t.Errorf("%s: %d %s, want %d with %s", c.name, st, body, c.status, c.want)
				}
			}
			st, body := e.send(alice, "POST", "/jobs/", "application/json", []byte(jsonDef(strings.Repeat("#", 5<<20))))
			if st != 413 || !json.Valid([]byte(body)) {
				t.Errorf("a body over 4 MiB: %d %.200s", st, body)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestValidate: validate/ always answers 200 with LAVA's verdict.
func TestValidate(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	for _, c := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"valid", jsonDef(job("v", "qemu", "public", "")), 200, `{"message":"Job valid."}`},
		{"valid, strict", `{"definition": ` + mustJSON(job("v", "qemu", "public", "")) + `, "strict": true}`, 200, `{"message":"Job valid."}`},
		{"invalid", jsonDef("job_name: x\n"), 200, `{"message":"Job invalid: missing required key \"actions\" @ $","errors":[{"line":1,"column":1,"path":"$"`},
		{"wrong value", jsonDef(strings.Replace(job("v", "qemu", "public", ""), "priority: medium", "priority: urgent", 1)), 200,
			`{"message":"Job invalid: `},
		{"no device", jsonDef(job("v", "secret", "public", "")), 200, `{"message":"Job invalid: no usable device of type \"secret\"`},
		{"missing", `{}`, 400, `{"definition":"Test job definition is required."}`},
		{"not a string", `{"definition": ["a"]}`, 400, `{"definition":"Test job definition should be a string."}`},
		{"strict not a boolean", `{"definition": "a: b", "strict": "very"}`, 400, `{"strict":["Must be a valid boolean."]}`},
	} {
		for _, who := range []int{anon, bob} {
			st, body := e.do(who, "POST", "/jobs/validate/", c.body)
			if st != c.status || !strings.HasPrefix(string(body), c.want) {
				t.Errorf("%s as %s: %d %s, want %d %s", c.name, identNames[who], st, body, c.status, c.want)
			}
		}
	}
}

// TestCancelResubmit cancels with GET jobs/<id>/cancel/ and in batches,
// and resubmits.
func TestCancelResubmit(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			state := func(id int64) string {
				j, err := e.App.GetJob(ctx, e.Principal(admin), id)
				must(t, err)
				return j.State.String() + "/" + j.Health.String()
			}
			st, body := e.do(alice, "GET", jobPath(e.pubJob, "cancel/"), "")
			if st != 200 || string(body) != `{"message":"Job cancel signal sent."}`+"\n" || state(e.pubJob) != "Finished/Canceled" {
				t.Errorf("cancel: %d %s, job %s", st, body, state(e.pubJob))
			}
			// Again: already finished, answered as LAVA does.
			if st, body := e.do(alice, "GET", jobPath(e.pubJob, "cancel/"), ""); st != 200 {
				t.Errorf("cancel again: %d %s", st, body)
			}
			if st, _ := e.do(bob, "GET", jobPath(e.privJob, "cancel/"), ""); st != 404 {
				t.Errorf("bob cancels alice's personal job: %d", st)
			}
			if st, _ := e.do(alice, "GET", jobPath(e.bobJob, "cancel/"), ""); st != 403 || state(e.bobJob) != "Submitted/Unknown" {
				t.Errorf("alice cancels bob's job: %d, job %s", st, state(e.bobJob))
			}

			st, body = e.do(alice, "POST", "/jobs/batch-cancel/", fmt.Sprintf(`{"job_ids": [%d, %d, %d, 0, 424242]}`, e.privJob, e.pubJob, e.bobJob))
			want := fmt.Sprintf(`{"message":"Job cancel signal sent for job ids.","job_ids":[%d,%d],"invalid_job_ids":[%d,0,424242]}`+"\n",
				e.privJob, e.pubJob, e.bobJob)
			if st != 200 || string(body) != want || state(e.privJob) != "Finished/Canceled" {
				t.Errorf("batch cancel: %d %s, want %s", st, body, want)
			}
			st2, body2 := e.send(admin, "POST", "/jobs/batch-cancel/", "application/x-www-form-urlencoded",
				[]byte(url.Values{"job_ids": {fmt.Sprint(e.grpJob), fmt.Sprint(e.bobJob)}}.Encode()))
			if st2 != 200 || !strings.Contains(body2, fmt.Sprintf(`"job_ids":[%d,%d]`, e.grpJob, e.bobJob)) || state(e.bobJob) != "Finished/Canceled" {
				t.Errorf("batch cancel as a form: %d %s", st2, body2)
			}
			for _, c := range []struct{ body, want string }{
				{`{}`, `{"job_ids":["This field is required."]}`},
				{`{"job_ids": "1,2"}`, `{"job_ids":["Expected a list of job ids."]}`},
				{`{"job_ids": [1.5]}`, `{"job_ids":["Expected a list of job ids."]}`},
				{`{"job_ids": [` + strings.Repeat("1,", 1000) + `1]}`, `{"job_ids":["At most 1000 job ids at once."]}`},
			} {
				if st, body := e.do(alice, "POST", "/jobs/batch-cancel/", c.body); st != 400 || string(body) != c.want+"\n" {
					t.Errorf("batch cancel %.40s: %d %s", c.body, st, body)
				}
			}

			st, body = e.do(bob, "POST", jobPath(e.pubJob, "resubmit/"), "")
			if st != 403 {
				t.Errorf("bob resubmits alice's job: %d %s", st, body)
			}
			st, body = e.do(alice, "POST", jobPath(e.pubJob, "resubmit/"), "")
			var out struct {
				JobIDs []int64 `json:"job_ids"`
			}
			if st != 201 || json.Unmarshal(body, &out) != nil || len(out.JobIDs) != 1 || state(out.JobIDs[0]) != "Submitted/Unknown" {
				t.Errorf("resubmit: %d %s", st, body)
			}
		})
	}
}

// TestToken exchanges a username and a password for a token.
func TestToken(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	for _, c := range []struct {
		name, ctype, body string
	}{
		{"json", "application/json", `{"username": "alice", "password": "alice-password"}`},
		{"form", "application/x-www-form-urlencoded", "username=alice&password=alice-password"},
	} {
		st, body := e.send(anon, "POST", "/token/", c.ctype, []byte(c.body))
		var tok struct{ Token string }
		if st != 200 || json.Unmarshal([]byte(body), &tok) != nil || tok.Token == "" {
			t.Fatalf("%s: %d %s", c.name, st, body)
		}
		e.Tokens[anon] = tok.Token // try it: anon's requests carry no token, so as alice
		st, body = e.send(alice, "GET", "/system/whoami/", "", nil)
		req, _ := http.NewRequest("GET", e.srv.URL+lavarest.Prefix+"/system/whoami/", nil)
		req.Header.Set("Authorization", "Token "+tok.Token)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != `{"user":"alice"}`+"\n" {
			t.Errorf("%s: whoami with the new token: %s (%d %s)", c.name, b, st, body)
		}
	}
	toks, err := e.App.ListTokens(context.Background(), e.Principal(alice), "alice")
	must(t, err)
	n := 0
	for _, tk := range toks {
		if tk.Description == "Created by REST API call" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d tokens created by the REST call", n)
	}
	for _, c := range []struct{ body, want string }{
		{`{"username": "alice", "password": "nope"}`, `{"non_field_errors":["Unable to log in with provided credentials."]}`},
		{`{"username": "nobody", "password": "nope"}`, `{"non_field_errors":["Unable to log in with provided credentials."]}`},
		{`{"username": "alice"}`, `{"password":["This field is required."]}`},
		{`{"password": "x"}`, `{"username":["This field is required."]}`},
	} {
		if st, body := e.do(anon, "POST", "/token/", c.body); st != 400 || string(body) != c.want+"\n" {
			t.Errorf("token %s: %d %s", c.body, st, body)
		}
	}
}

// TestPaths: a path without its final slash is redirected as Django's
// APPEND_SLASH does; unknown paths and methods answer DRF's errors.
func TestPaths(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	for _, c := range []struct {
		method, path string
		status       int
		location     string
	}{
		{"GET", "/api/v0.2/jobs", 301, "/api/v0.2/jobs/"},
		{"GET", "/api/v0.2/jobs/1?format=json&limit=256", 301, "/api/v0.2/jobs/1/?format=json&limit=256"},
		{"HEAD", "/api/v0.2/system/version", 301, "/api/v0.2/system/version/"},
		{"POST", "/api/v0.2/jobs", 308, "/api/v0.2/jobs/"},
		{"GET", "/api/v0.2", 301, "/api/v0.2/"},
		{"GET", "/api/v0.2/nope", 404, ""},
		{"GET", "/api/v0.2/jobs/1/nope/", 404, ""},
		{"GET", "/api/v0.2/token/anything/", 405, ""},
	} {
		resp := e.request(anon, c.method, c.path, "")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Location") != c.location {
			t.Errorf("%s %s: %d to %q, want %d to %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Location"), c.status, c.location)
		}
		if c.status >= 400 && !json.Valid(body) {
			t.Errorf("%s %s: body %s", c.method, c.path, body)
		}
	}
	resp := e.request(alice, "DELETE", "/api/v0.2/jobs/1/", "")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 405 || string(body) != `{"detail":"Method \"DELETE\" not allowed."}`+"\n" || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
		t.Errorf("DELETE a job: %d %s, Allow %q", resp.StatusCode, body, resp.Header.Get("Allow"))
	}
	resp = e.request(anon, "OPTIONS", "/api/v0.2/jobs/", "")
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Allow") != "GET, HEAD, POST, OPTIONS" {
		t.Errorf("OPTIONS jobs/: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestVersionWithoutDatabase: system/version/ answers with the database
// gone (KernelCI's liveness probe costs no query); the rest says the
// database is unavailable.
func TestVersionWithoutDatabase(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			must(t, e.App.Store().Close())
			st, body := e.do(alice, "GET", "/system/version/", "")
			if st != 200 || !strings.HasPrefix(string(body), `{"version":`) {
				t.Errorf("version: %d %s", st, body)
			}
			if st, body := e.do(anon, "GET", "/devices/", ""); st < 500 || !json.Valid(body) {
				t.Errorf("devices with the database closed: %d %s", st, body)
			}
		})
	}
}

// TestSubmitMultinode: a multinode submission answers its jobs' sub_ids,
// as LAVA's (strings "<parent>.<n>"), and so does its resubmission.
func TestSubmitMultinode(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			must(t, e.App.CreateDevice(ctx, e.Principal(admin), lab.Device{Hostname: "qemu-02", DeviceType: "qemu", Worker: "w1",
				Health: lab.DeviceGood}, "test"))
			def := labtest.MultinodeJob("pair", labtest.Role{Name: "server", DeviceType: "qemu", Count: 1},
				labtest.Role{Name: "client", DeviceType: "qemu", Count: 1})
			var out struct {
				JobIDs []any `json:"job_ids"`
			}
			st, body := e.send(alice, "POST", "/jobs/", "application/json", []byte(jsonDef(def)))
			if st != 201 || json.Unmarshal([]byte(body), &out) != nil || len(out.JobIDs) != 2 {
				t.Fatalf("submit: %d %s", st, body)
			}
			first, ok := out.JobIDs[0].(string)
			parent, isSub := strings.CutSuffix(first, ".0")
			if !ok || !isSub || out.JobIDs[1] != parent+".1" {
				t.Fatalf("job_ids %v, want two sub_ids", out.JobIDs)
			}
			st, body = e.send(alice, "POST", "/jobs/"+parent+"/resubmit/", "", nil)
			out.JobIDs = nil
			if st != 201 || json.Unmarshal([]byte(body), &out) != nil || len(out.JobIDs) != 2 || out.JobIDs[0] == first {
				t.Errorf("resubmit: %d %s", st, body)
			}
		})
	}
}
