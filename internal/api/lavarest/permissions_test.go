package lavarest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/lavarest"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// seedResults gives the public job a log with results and returns the
// ids of its first suite and first case.
func (e *env) seedResults(job int64) (suite, tcase int64) {
	e.T.Helper()
	_, err := e.Logs.Append(context.Background(), job, 0, []byte(kciLog))
	must(e.T, err)
	suites, err := e.App.JobSuites(context.Background(), e.Principal(admin), job)
	must(e.T, err)
	cases, _, err := e.App.JobResults(context.Background(), e.Principal(admin), job, store.CaseFilter{Limit: 1})
	must(e.T, err)
	return suites[0].ID, cases[0].ID
}

// perm is one endpoint tried by each identity.
type perm struct {
	path func(e *env, who int) string
	body func(e *env, who int) string
	want [nIdent]int // anonymous, alice, bob, admin, worker
}

var (
	everyone  = [nIdent]int{200, 200, 200, 200, 200}
	publicJob = [nIdent]int{200, 200, 200, 200, 404} // a worker's token sees no job
)

func fixed(p string) func(*env, int) string { return func(*env, int) string { return p } }
func none(*env, int) string                 { return "" }

// freshJob submits a new public job of alice's for each identity to act
// on.
func freshJob(suffix string) func(*env, int) string {
	return func(e *env, who int) string {
		id := e.Submit(alice, job("fresh-"+identNames[who], "qemu", "public", ""))
		return jobPath(id, suffix)
	}
}

func perms(sid, tid int64) map[string]perm {
	pub := func(suffix string) func(*env, int) string {
		return func(e *env, _ int) string {
			s := strings.NewReplacer("{sid}", fmt.Sprint(sid), "{tid}", fmt.Sprint(tid)).Replace(suffix)
			return jobPath(e.pubJob, s)
		}
	}
	return map[string]perm{
		"GET /":                      {fixed("/"), none, everyone},
		"GET /system/":               {fixed("/system/"), none, everyone},
		"GET /system/version/":       {fixed("/system/version/"), none, everyone},
		"GET /system/whoami/":        {fixed("/system/whoami/"), none, everyone},
		"GET /system/master_config/": {fixed("/system/master_config/"), none, everyone},
		"POST /token/": {fixed("/token/"), func(_ *env, who int) string {
			if who == alice || who == bob || who == admin {
				return fmt.Sprintf(`{"username":%q,"password":"%s-password"}`, identNames[who], identNames[who])
			}
			return `{"username":"alice","password":"wrong-password"}`
		}, [nIdent]int{400, 200, 200, 200, 400}},

		"GET /jobs/":           {fixed("/jobs/"), none, [nIdent]int{200, 200, 200, 200, 403}},
		"POST /jobs/":          {fixed("/jobs/"), func(*env, int) string { return jsonDef(job("new", "qemu", "public", "")) }, [nIdent]int{401, 201, 201, 201, 403}},
		"POST /jobs/validate/": {fixed("/jobs/validate/"), func(*env, int) string { return jsonDef(job("v", "qemu", "public", "")) }, everyone},
		"POST /jobs/batch-cancel/": {fixed("/jobs/batch-cancel/"), func(e *env, who int) string {
			return fmt.Sprintf(`{"job_ids": [%d]}`, e.Submit(alice, job("batch", "qemu", "public", "")))
		}, [nIdent]int{401, 200, 200, 200, 200}},
		"GET /jobs/{id}/":           {pub(""), none, publicJob},
		"GET /jobs/{id}/cancel/":    {freshJob("cancel/"), none, [nIdent]int{401, 200, 403, 200, 404}},
		"POST /jobs/{id}/resubmit/": {pub("resubmit/"), none, [nIdent]int{401, 201, 403, 201, 404}},
		"GET /jobs/{id}/metadata/":  {pub("metadata/"), none, publicJob},
		"GET /jobs/{id}/logs/":      {pub("logs/"), none, publicJob},

		"GET /jobs/{id}/suites/":                   {pub("suites/"), none, publicJob},
		"GET /jobs/{id}/suites/{sid}/":             {pub("suites/{sid}/"), none, publicJob},
		"GET /jobs/{id}/suites/{sid}/tests/":       {pub("suites/{sid}/tests/"), none, publicJob},
		"GET /jobs/{id}/suites/{sid}/tests/{tid}/": {pub("suites/{sid}/tests/{tid}/"), none, publicJob},
		"GET /jobs/{id}/suites/{sid}/csv/":         {pub("suites/{sid}/csv/"), none, publicJob},
		"GET /jobs/{id}/suites/{sid}/yaml/":        {pub("suites/{sid}/yaml/"), none, publicJob},
		"GET /jobs/{id}/tests/":                    {pub("tests/"), none, publicJob},
		"GET /jobs/{id}/tests/{tid}/":              {pub("tests/{tid}/"), none, publicJob},
		"GET /jobs/{id}/csv/":                      {pub("csv/"), none, publicJob},
		"GET /jobs/{id}/yaml/":                     {pub("yaml/"), none, publicJob},
		"GET /jobs/{id}/junit/":                    {pub("junit/"), none, publicJob},
		"GET /jobs/{id}/tap13/":                    {pub("tap13/"), none, publicJob},

		"GET /devices/":            {fixed("/devices/"), none, everyone},
		"GET /devices/{name}/":     {fixed("/devices/d1/"), none, everyone},
		"GET /devicetypes/":        {fixed("/devicetypes/"), none, everyone},
		"GET /devicetypes/{name}/": {fixed("/devicetypes/qemu/"), none, everyone},
		"GET /workers/":            {fixed("/workers/"), none, everyone},
		"GET /workers/{name}/":     {fixed("/workers/w1/"), none, everyone},
		"GET /aliases/":            {fixed("/aliases/"), none, everyone},
		"GET /aliases/{name}/":     {fixed("/aliases/kvm/"), none, everyone},
		"GET /tags/":               {fixed("/tags/"), none, everyone},
		"GET /tags/{name}/":        {fixed("/tags/fast/"), none, everyone},
	}
}

// TestPermissions calls every endpoint as every kind of caller —
// anonymous, two users, a superuser, a worker's token — and checks the
// status, on SQLite and PostgreSQL. Every route has a case.
func TestPermissions(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			cases := perms(e.seedResults(e.pubJob))
			for _, r := range lavarest.Routes() {
				key := r.Method + " " + r.Pattern
				c, ok := cases[key]
				if !ok {
					t.Errorf("route %s has no case", key)
					continue
				}
				delete(cases, key)
				for who := range nIdent {
					st, body := e.do(who, r.Method, c.path(e, who), c.body(e, who))
					if st != c.want[who] {
						t.Errorf("%s as %s: status %d, want %d: %s", key, identNames[who], st, c.want[who], body)
					}
					if st >= 400 && !json.Valid(body) {
						t.Errorf("%s as %s: error body is not JSON: %s", key, identNames[who], body)
					}
				}
			}
			for key := range cases {
				t.Errorf("case %s has no route", key)
			}
		})
	}
}

// TestCredentials: a bad token is refused everywhere but on the version
// probe, which reads no credentials; writes need a token; errors are
// DRF's bodies.
func TestCredentials(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	bad := func(method, path, body string) *http.Response {
		t.Helper()
		return e.request(anon, method, lavarest.Prefix+path, body, "Authorization", "Token not-a-token")
	}
	resp := bad("GET", "/system/version/", "")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("version with a bad token: %d", resp.StatusCode)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/system/whoami/", ""}, {"GET", "/jobs/", ""}, {"POST", "/jobs/", jsonDef("x")},
	} {
		resp := bad(c.method, c.path, c.body)
		var body map[string]string
		must(t, json.NewDecoder(resp.Body).Decode(&body))
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(body["detail"], "invalid token") {
			t.Errorf("%s %s with a bad token: %d %v %q", c.method, c.path, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	}
	st, body := e.do(anon, "POST", "/jobs/", jsonDef("x"))
	if st != 401 || string(body) != `{"detail":"Authentication credentials were not provided."}`+"\n" {
		t.Errorf("anonymous submission: %d %s", st, body)
	}
	var who struct{ User string }
	e.get(alice, "/system/whoami/", &who)
	if who.User != "alice" {
		t.Errorf("whoami as alice: %q", who.User)
	}
	e.get(anon, "/system/whoami/", &who)
	if who.User != "" {
		t.Errorf("whoami anonymous: %q", who.User)
	}
}

// TestPrivateJobs: a job its reader may not see is not found on every
// endpoint, exactly like a missing job, and absent from lists; its
// submitter, the members of its groups and superusers see it.
func TestPrivateJobs(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.seedResults(e.privJob)
			e.seedResults(e.grpJob)
			suffixes := []string{"", "metadata/", "logs/", "suites/", "tests/", "csv/", "yaml/", "junit/", "tap13/", "cancel/"}
			for _, c := range []struct {
				job  int64
				who  int
				seen bool
			}{
				{e.privJob, alice, true}, {e.privJob, admin, true}, {e.privJob, bob, false}, {e.privJob, anon, false},
				{e.grpJob, alice, true}, {e.grpJob, bob, false}, {e.grpJob, anon, false},
			} {
				for _, s := range suffixes {
					if s == "cancel/" && c.seen {
						continue // would cancel it
					}
					st, body := e.do(c.who, "GET", jobPath(c.job, s), "")
					switch {
					case c.seen && st != 200:
						t.Errorf("job %d/%s as %s: %d %s", c.job, s, identNames[c.who], st, body)
					case !c.seen && s == "cancel/" && c.who == anon:
						if st != 401 {
							t.Errorf("job %d/%s as anonymous: %d %s", c.job, s, st, body)
						}
					case !c.seen && (st != 404 || string(body) != `{"detail":"Not found."}`+"\n"):
						t.Errorf("job %d/%s as %s: %d %s, want not found", c.job, s, identNames[c.who], st, body)
					}
				}
				st, _ := e.do(c.who, "POST", jobPath(c.job, "resubmit/"), "")
				if !c.seen && c.who != anon && st != 404 {
					t.Errorf("resubmit job %d as %s: %d", c.job, identNames[c.who], st)
				}
				var list struct {
					Results []struct{ ID int64 }
				}
				e.get(c.who, fmt.Sprintf("/jobs/?id=%d", c.job), &list)
				if got := len(list.Results) == 1; got != c.seen {
					t.Errorf("job %d listed for %s: %v", c.job, identNames[c.who], got)
				}
			}
			// batch-cancel counts a hidden job as invalid, like a missing one.
			st, body := e.do(bob, "POST", "/jobs/batch-cancel/", fmt.Sprintf(`{"job_ids": [%d, "%d", 99999]}`, e.privJob, e.grpJob))
			if st != 200 || string(body) != fmt.Sprintf(`{"message":"Job cancel signal sent for job ids.","job_ids":[],"invalid_job_ids":[%d,%d,99999]}`+"\n", e.privJob, e.grpJob) {
				t.Errorf("bob's batch cancel: %d %s", st, body)
			}
		})
	}
}
