package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/api/rest"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// The identities every endpoint is tried with.
const (
	anon   = labtest.Anon
	alice  = labtest.Alice
	bob    = labtest.Bob
	admin  = labtest.Admin
	worker = labtest.Worker
	nIdent = labtest.NIdent
)

var identNames = labtest.Names

var must = labtest.Must

// env is a server of /api/v1 over the standard lab (labtest.Lab): device
// type qemu (alias kvm) and board, tags fast and slow, device d1 (Good,
// tag fast), group team = {alice}, and jobs by alice: public, personal
// and group-visible.
type env struct {
	*labtest.Lab
	srv     *httptest.Server
	pubJob  int64
	privJob int64
	grpJob  int64
}

func job(name, visibility string) string {
	return labtest.Job(name, "qemu", "visibility: "+visibility+"\npriority: medium")
}

func newEnv(t testing.TB, b labtest.Backend) *env {
	t.Helper()
	ctx := context.Background()
	l := labtest.NewLab(t, b, labtest.Config{Team: true,
		Tags:   []lab.Tag{{Name: "fast"}, {Name: "slow"}}, // slow: on no device
		Device: lab.Device{Tags: []string{"fast"}, Health: lab.DeviceGood}})
	e := &env{Lab: l, srv: l.Serve(rest.New(l.App, nil))}
	ap := e.Principal(admin)
	must(t, l.App.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "board"}))
	must(t, l.App.CreateAlias(ctx, ap, lab.Alias{Name: "kvm", DeviceType: "qemu"}))
	e.pubJob = e.Submit(alice, job("public-job", "public"))
	e.privJob = e.Submit(alice, job("personal-job", "personal"))
	e.grpJob = e.Submit(alice, job("group-job", "{group: [team]}"))
	return e
}

var zero = lab.Token{}.Expires

// do sends a request as identity who and returns status and body.
func (e *env) do(who int, method, path, body string) (int, []byte) {
	e.T.Helper()
	resp, err := http.DefaultClient.Do(e.Request(who, method, e.srv.URL+rest.Prefix+path, body))
	must(e.T, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(e.T, err)
	return resp.StatusCode, b
}

// A case builds the request of one route for one identity; names are made
// unique per identity so that writes by one do not collide with another's.
type matrixCase struct {
	path func(e *env, who int) string
	body func(e *env, who int) string
	want [nIdent]int // anonymous, alice, bob, admin, worker
}

func fixed(p string) func(*env, int) string { return func(*env, int) string { return p } }
func none(*env, int) string                 { return "" }
func per(format string) func(*env, int) string {
	return func(_ *env, who int) string { return fmt.Sprintf(format, identNames[who]) }
}

var (
	allOK       = [nIdent]int{200, 200, 200, 200, 200}
	adminOnly   = func(ok int) [nIdent]int { return [nIdent]int{401, 403, 403, ok, 403} }
	usersOnly   = func(ok int) [nIdent]int { return [nIdent]int{401, ok, ok, ok, 403} }
	ownerOnly   = func(ok int) [nIdent]int { return [nIdent]int{401, ok, 403, ok, 403} }
	anyReadable = [nIdent]int{200, 200, 200, 200, 403}
	// a public job: workers see no jobs through the user API
	publicJob = [nIdent]int{200, 200, 200, 200, 404}
	jobOwner  = func(ok int) [nIdent]int { return [nIdent]int{401, ok, 403, ok, 404} }
)

func matrix() map[string]matrixCase {
	jobPath := func(suffix string) func(*env, int) string {
		return func(e *env, _ int) string { return fmt.Sprintf("/jobs/%d%s", e.pubJob, suffix) }
	}
	return map[string]matrixCase{
		"GET /openapi.json":   {fixed("/openapi.json"), none, allOK},
		"GET /system/version": {fixed("/system/version"), none, allOK},
		"GET /system/whoami":  {fixed("/system/whoami"), none, allOK},
		"POST /token": {fixed("/token"), func(_ *env, who int) string {
			if who == alice || who == bob || who == admin {
				return fmt.Sprintf(`{"username":%q,"password":"%s-password"}`, identNames[who], identNames[who])
			}
			return `{"username":"alice","password":"wrong-password"}`
		}, [nIdent]int{401, 201, 201, 201, 401}},

		"GET /jobs":  {fixed("/jobs"), none, anyReadable},
		"POST /jobs": {fixed("/jobs"), func(*env, int) string { return jsonDef(job("m", "public")) }, usersOnly(201)},
		"POST /jobs/validate": {fixed("/jobs/validate"), func(*env, int) string { return jsonDef(job("m", "public")) },
			allOK},
		"GET /jobs/{id}":            {jobPath(""), none, publicJob},
		"GET /jobs/{id}/definition": {jobPath("/definition"), none, publicJob},
		"GET /jobs/{id}/queue":      {jobPath("/queue"), none, publicJob},
		"POST /jobs/{id}/cancel": {func(e *env, who int) string {
			// each identity cancels its own fresh copy of alice's public job
			ids, _, err := e.App.SubmitJob(context.Background(), e.Principal(alice), job("c", "public"))
			must(e.T, err)
			return fmt.Sprintf("/jobs/%d/cancel", ids[0])
		}, none, jobOwner(200)},
		"POST /jobs/{id}/resubmit":     {jobPath("/resubmit"), none, jobOwner(201)},
		"GET /jobs/{id}/logs":          {jobPath("/logs"), none, publicJob},
		"GET /jobs/{id}/results":       {jobPath("/results"), none, publicJob},
		"GET /jobs/{id}/suites":        {jobPath("/suites"), none, publicJob},
		"GET /jobs/{id}/notifications": {jobPath("/notifications"), none, publicJob},

		"POST /devices/{hostname}/reservations": {fixed("/devices/d1/reservations"), fixed(`{"duration":"1h","reason":"matrix"}`),
			usersOnly(201)},
		"GET /reservations":      {fixed("/reservations"), none, anyReadable},
		"GET /reservations/{id}": {reservationPath(""), none, publicJob},
		"POST /reservations/{id}/extend": {reservationPath("/extend"), fixed(`{"duration":"30m"}`),
			jobOwner(200)},
		"POST /reservations/{id}/release": {reservationPath("/release"), none, jobOwner(200)},

		"GET /devices": {fixed("/devices"), none, allOK},
		"POST /devices": {fixed("/devices"), func(_ *env, who int) string {
			return fmt.Sprintf(`{"hostname":"new-%s","device_type":"qemu","worker_host":"w1"}`, identNames[who])
		}, adminOnly(201)},
		"GET /devices/{hostname}":            {fixed("/devices/d1"), none, allOK},
		"PATCH /devices/{hostname}":          {fixed("/devices/d1"), fixed(`{"description":"patched"}`), adminOnly(200)},
		"POST /devices/{hostname}/health":    {fixed("/devices/d1/health"), fixed(`{"health":"GOOD","reason":"checked"}`), adminOnly(200)},
		"GET /devices/{hostname}/dictionary": {fixed("/devices/d1/dictionary"), none, adminOnly(200)},
		"PUT /devices/{hostname}/dictionary": {fixed("/devices/d1/dictionary"), fixed(`{"dictionary":"{% extends 'qemu.jinja2' %}"}`), adminOnly(200)},
		"GET /devices/{hostname}/history":    {fixed("/devices/d1/history"), none, allOK},

		"GET /device-types":                     {fixed("/device-types"), none, allOK},
		"POST /device-types":                    {fixed("/device-types"), per(`{"name":"type-%s"}`), adminOnly(201)},
		"GET /device-types/{name}":              {fixed("/device-types/qemu"), none, allOK},
		"PATCH /device-types/{name}":            {fixed("/device-types/qemu"), fixed(`{"health_frequency":12}`), adminOnly(200)},
		"DELETE /device-types/{name}":           {per("/device-types/unused-%s"), none, adminOnly(204)},
		"GET /device-types/{name}/health-check": {fixed("/device-types/qemu/health-check"), none, allOK},
		"PUT /device-types/{name}/health-check": {fixed("/device-types/qemu/health-check"),
			func(*env, int) string { return jsonDef(job("health", "public")) }, adminOnly(200)},
		"GET /device-types/{name}/template": {fixed("/device-types/board/template"), none, allOK},
		"PUT /device-types/{name}/template": {fixed("/device-types/board/template"),
			fixed(`{"template":"{% extends 'base.jinja2' %}\n"}`), adminOnly(200)},
		"GET /device-templates": {fixed("/device-templates"), none, adminOnly(200)},

		"GET /aliases":           {fixed("/aliases"), none, allOK},
		"POST /aliases":          {fixed("/aliases"), per(`{"name":"alias-%s","device_type":"qemu"}`), adminOnly(201)},
		"DELETE /aliases/{name}": {per("/aliases/old-%s"), none, adminOnly(204)},

		"GET /tags":           {fixed("/tags"), none, allOK},
		"POST /tags":          {fixed("/tags"), per(`{"name":"tag-%s"}`), adminOnly(201)},
		"GET /tags/{name}":    {fixed("/tags/fast"), none, allOK},
		"DELETE /tags/{name}": {per("/tags/old-%s"), none, adminOnly(204)},

		"GET /workers":                    {fixed("/workers"), none, allOK},
		"POST /workers":                   {fixed("/workers"), per(`{"hostname":"worker-%s"}`), adminOnly(201)},
		"GET /workers/{name}":             {fixed("/workers/w1"), none, allOK},
		"PATCH /workers/{name}":           {fixed("/workers/w1"), fixed(`{"job_limit":2}`), adminOnly(200)},
		"POST /workers/{name}/token":      {per("/workers/rot-%s/token"), none, adminOnly(201)},
		"POST /workers/{name}/join-token": {fixed("/workers/w1/join-token"), fixed(`{}`), adminOnly(201)},
		"GET /workers/{name}/history":     {fixed("/workers/w1/history"), none, allOK},
		"POST /workers/{name}/heartbeat":  {fixed("/workers/w1/heartbeat"), fixed(`{"version":"test"}`), [nIdent]int{401, 403, 403, 403, 200}},

		"GET /users":               {fixed("/users"), none, adminOnly(200)},
		"POST /users":              {fixed("/users"), per(`{"username":"user-%s","password":"long-enough-password"}`), adminOnly(201)},
		"GET /users/{username}":    {fixed("/users/alice"), none, ownerOnly(200)},
		"PATCH /users/{username}":  {fixed("/users/alice"), fixed(`{"first_name":"Alice"}`), ownerOnly(200)},
		"DELETE /users/{username}": {per("/users/gone-%s"), none, adminOnly(204)},

		"GET /groups":                              {fixed("/groups"), none, adminOnly(200)},
		"POST /groups":                             {fixed("/groups"), per(`{"name":"group-%s"}`), adminOnly(201)},
		"GET /groups/{name}":                       {fixed("/groups/team"), none, adminOnly(200)},
		"DELETE /groups/{name}":                    {per("/groups/old-%s"), none, adminOnly(204)},
		"PUT /groups/{name}/members/{username}":    {fixed("/groups/team/members/bob"), none, adminOnly(200)},
		"DELETE /groups/{name}/members/{username}": {fixed("/groups/team/members/bob"), none, adminOnly(200)},

		"GET /tokens":  {fixed("/tokens"), none, usersOnly(200)},
		"POST /tokens": {fixed("/tokens"), fixed(`{"description":"extra"}`), usersOnly(201)},
		"DELETE /tokens/{id}": {func(e *env, who int) string {
			// every user deletes a fresh token of alice's: only alice and admin may
			tok, _, err := e.App.CreateToken(context.Background(), e.Principal(alice), "alice", "to delete", zero)
			must(e.T, err)
			return fmt.Sprintf("/tokens/%d", tok.ID)
		}, none, [nIdent]int{401, 204, 404, 204, 403}},
	}
}

// reservationPath is the path of a fresh reservation of d1 by alice,
// one per identity, followed by suffix.
func reservationPath(suffix string) func(*env, int) string {
	return func(e *env, _ int) string {
		j, err := e.App.Reserve(context.Background(), e.Principal(alice), "d1", time.Hour, "matrix", lab.PriorityMedium)
		must(e.T, err)
		return fmt.Sprintf("/reservations/%d%s", j.ID, suffix)
	}
}

func jsonDef(def string) string {
	b, _ := json.Marshal(wire.DefinitionInput{Definition: def})
	return string(b)
}

// seedMatrix creates the objects the delete/rotate cases remove.
func (e *env) seedMatrix() {
	ctx := context.Background()
	ap := e.Principal(admin)
	must(e.T, e.App.SetDeviceTypeTemplate(ctx, ap, "board", "{% extends 'base.jinja2' %}\n"))
	for _, who := range identNames {
		must(e.T, e.App.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "unused-" + who}))
		must(e.T, e.App.CreateAlias(ctx, ap, lab.Alias{Name: "old-" + who, DeviceType: "qemu"}))
		must(e.T, e.App.CreateTag(ctx, ap, lab.Tag{Name: "old-" + who}))
		_, err := e.App.CreateWorker(ctx, ap, lab.Worker{Name: "rot-" + who})
		must(e.T, err)
		_, err = e.App.CreateUser(ctx, ap, app.NewUser{Username: "gone-" + who})
		must(e.T, err)
		must(e.T, e.App.CreateGroup(ctx, ap, "old-"+who))
	}
}

// TestPermissionMatrix calls every endpoint as every kind of caller and
// checks the status, on SQLite and PostgreSQL.
func TestPermissionMatrix(t *testing.T) {
	cases := matrix()
	for _, r := range rest.Routes() {
		if _, ok := cases[r.Method+" "+r.Pattern]; !ok {
			t.Errorf("route %s %s has no permission-matrix case", r.Method, r.Pattern)
		}
	}
	if len(cases) != len(rest.Routes()) {
		t.Errorf("matrix has %d cases for %d routes", len(cases), len(rest.Routes()))
	}
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.seedMatrix()
			for _, r := range rest.Routes() {
				key := r.Method + " " + r.Pattern
				c := cases[key]
				for who := range nIdent {
					got, body := e.do(who, r.Method, c.path(e, who), c.body(e, who))
					if got != c.want[who] {
						t.Errorf("%s as %s: status %d, want %d; body %s", key, identNames[who], got, c.want[who], body)
					}
				}
			}
		})
	}
}

// TestJobVisibility: private jobs are not found for others, in show and in
// lists; group jobs are visible to members of every listed group.
func TestJobVisibility(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			cases := []struct {
				job  int64
				want [nIdent]int
			}{
				{e.pubJob, [nIdent]int{200, 200, 200, 200, 404}},
				{e.privJob, [nIdent]int{404, 200, 404, 200, 404}},
				{e.grpJob, [nIdent]int{404, 200, 404, 200, 404}},
			}
			for _, c := range cases {
				for who := range nIdent {
					for _, suffix := range []string{"", "/definition", "/notifications"} {
						got, body := e.do(who, "GET", fmt.Sprintf("/jobs/%d%s", c.job, suffix), "")
						if got != c.want[who] {
							t.Errorf("job %d%s as %s: %d, want %d (%s)", c.job, suffix, identNames[who], got, c.want[who], body)
						}
					}
				}
			}
			listed := func(who int) map[int64]bool {
				code, body := e.do(who, "GET", "/jobs", "")
				if code != 200 {
					t.Fatalf("list as %s: %d %s", identNames[who], code, body)
				}
				var l wire.List[wire.Job]
				must(t, json.Unmarshal(body, &l))
				m := map[int64]bool{}
				for _, j := range l.Results {
					m[j.ID] = true
				}
				if l.Count != len(l.Results) {
					t.Errorf("list as %s: count %d but %d results", identNames[who], l.Count, len(l.Results))
				}
				return m
			}
			for who, want := range map[int]map[int64]bool{
				anon:  {e.pubJob: true},
				alice: {e.pubJob: true, e.privJob: true, e.grpJob: true},
				bob:   {e.pubJob: true},
				admin: {e.pubJob: true, e.privJob: true, e.grpJob: true},
			} {
				got := listed(who)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("jobs listed for %s: %v, want %v", identNames[who], got, want)
				}
			}
			// bob joins team: group job becomes visible to him too.
			ctx := context.Background()
			must(t, e.App.SetGroupMember(ctx, e.Principal(admin), "team", "bob", true))
			if code, _ := e.do(bob, "GET", fmt.Sprintf("/jobs/%d", e.grpJob), ""); code != 200 {
				t.Errorf("group member bob: %d, want 200", code)
			}
		})
	}
}

// TestErrors checks the error shape and codes for bad input.
func TestErrors(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	cases := []struct {
		name, method, path, body string
		who                      int
		status                   int
		code                     string
	}{
		{"unknown route", "GET", "/nope", "", alice, 404, "not_found"},
		{"bad json", "POST", "/jobs", `{"definition":`, alice, 400, "invalid"},
		{"unknown field", "POST", "/jobs", `{"definitio":"x"}`, alice, 400, "invalid"},
		{"empty body", "POST", "/tags", ``, admin, 400, "invalid"},
		{"bad id", "GET", "/jobs/abc", "", alice, 404, "not_found"},
		{"missing job", "GET", "/jobs/999999", "", alice, 404, "not_found"},
		{"bad health", "POST", "/devices/d1/health", `{"health":"SHINY","reason":"x"}`, admin, 400, "invalid"},
		{"health without reason", "POST", "/devices/d1/health", `{"health":"BAD"}`, admin, 400, "invalid"},
		{"duplicate tag", "POST", "/tags", `{"name":"fast"}`, admin, 409, "conflict"},
		{"device of unknown type", "POST", "/devices", `{"hostname":"x1","device_type":"nope","worker_host":"w1"}`, admin, 400, "invalid"},
		{"bad state filter", "GET", "/jobs?state=Flying", "", alice, 400, "invalid"},
		{"bad limit", "GET", "/jobs?limit=-1", "", alice, 400, "invalid"},
		{"unknown tag", "POST", "/jobs", jsonDef(strings.Replace(job("t", "public"), "priority: medium", "priority: medium\ntags: [fast, fast2]", 1)), alice, 400, "invalid_definition"},
		{"no usable device", "POST", "/jobs", jsonDef(strings.Replace(job("t", "public"), "priority: medium", "priority: medium\ntags: [fast, slow]", 1)), alice, 422, "unavailable"},
		{"invalid definition", "POST", "/jobs", jsonDef("job_name: x\n"), alice, 400, "invalid_definition"},
		{"cancel finished", "POST", "/jobs/{canceled}/cancel", "", alice, 409, "conflict"},
	}
	ids, _, err := e.App.SubmitJob(context.Background(), e.Principal(alice), job("x", "public"))
	must(t, err)
	if _, err := e.App.CancelJob(context.Background(), e.Principal(alice), ids[0]); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := strings.Replace(c.path, "{canceled}", fmt.Sprint(ids[0]), 1)
			status, body := e.do(c.who, c.method, path, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			var ej wire.ErrorResponse
			if err := json.Unmarshal(body, &ej); err != nil {
				t.Fatalf("error body is not wire.ErrorResponse: %v: %s", err, body)
			}
			if ej.Error.Code != c.code || ej.Error.Message == "" {
				t.Errorf("error %+v, want code %q and a message", ej.Error, c.code)
			}
		})
	}
}

// TestSubmitErrorsCarryPositions: an invalid definition's problems come
// back with line, column and YAML path.
func TestSubmitErrorsCarryPositions(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	def := strings.Replace(job("pos", "public"), "method: qemu", "method: fastboot", 1)
	status, body := e.do(alice, "POST", "/jobs", jsonDef(def))
	if status != 400 {
		t.Fatalf("status %d: %s", status, body)
	}
	var ej wire.ErrorResponse
	must(t, json.Unmarshal(body, &ej))
	if len(ej.Error.Details) == 0 {
		t.Fatalf("no details: %s", body)
	}
	d := ej.Error.Details[0]
	if d.Line != 13 || d.Column == 0 || !strings.Contains(d.Path, "actions[1].boot.method") || !strings.Contains(d.Message, "fastboot") {
		t.Errorf("problem %+v: want line 13, a column, path …actions[1].boot.method, message naming fastboot", d)
	}
	// validate answers 200 with the same problems
	status, body = e.do(anon, "POST", "/jobs/validate", jsonDef(def))
	var v wire.Validation
	must(t, json.Unmarshal(body, &v))
	if status != 200 || v.Valid || len(v.Errors) == 0 || v.Errors[0].Line != 13 {
		t.Errorf("validate: %d %+v", status, v)
	}
}

// TestSubmitWarnings: a definition LAVA accepts with a key written twice
// is queued, and the answer carries the warning with its position;
// validate returns it too, and refuses it with strict.
func TestSubmitWarnings(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	def := job("warned", "public") + "- test:\n    monitors: [{name: m, start: a, end: b, pattern: c}]\n    colour: blue\n"
	want := []wire.Problem{{Line: 17, Column: 5, Path: "$.actions[2].test.colour",
		Message: `unknown key "colour" is ignored (expected one of: connection-namespace, definitions, failure_retry, failure_retry_interval, interactive, monitors, namespace, protocols, repeat, role, timeout, timeouts)`}}
	status, body := e.do(alice, "POST", "/jobs", jsonDef(def))
	var sub wire.Submitted
	must(t, json.Unmarshal(body, &sub))
	if status != 201 || len(sub.JobIDs) != 1 || !cmp.Equal(sub.Warnings, want) {
		t.Fatalf("submit: %d %s; want 201 with the warning %+v", status, body, want)
	}
	// A clean definition: an empty list, not null.
	status, body = e.do(alice, "POST", "/jobs", jsonDef(job("clean", "public")))
	if status != 201 || !strings.Contains(string(body), `"warnings": []`) {
		t.Errorf("clean submit: %d %s", status, body)
	}
	for _, strict := range []bool{false, true} {
		in, _ := json.Marshal(wire.ValidateInput{Definition: def, Strict: strict})
		status, body = e.do(anon, "POST", "/jobs/validate", string(in))
		var v wire.Validation
		must(t, json.Unmarshal(body, &v))
		switch {
		case status != 200:
			t.Errorf("validate (strict %v): status %d %s", strict, status, body)
		case !strict && (!v.Valid || len(v.Errors) != 0 || !cmp.Equal(v.Warnings, want)):
			t.Errorf("validate: %s; want valid with the warning", body)
		case strict && (v.Valid || len(v.Errors) != 1 || v.Errors[0].Line != 17 || !strings.HasPrefix(v.Errors[0].Message, `unknown key "colour" (expected`) || len(v.Warnings) != 0):
			t.Errorf("validate strict: %s; want invalid with one error at 17", body)
		}
	}
	// strict is for validation only: submit refuses the field (strict decoding).
	in, _ := json.Marshal(wire.ValidateInput{Definition: def, Strict: true})
	if status, body := e.do(alice, "POST", "/jobs", string(in)); status != 400 {
		t.Errorf("submit with strict: %d %s, want 400", status, body)
	}
}

// TestOpenAPIIsTrue checks the served description against the route table
// and real responses: every route is documented, and the JSON objects the
// server returns carry exactly the documented properties.
func TestOpenAPIIsTrue(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	status, body := e.do(anon, "GET", "/openapi.json", "")
	if status != 200 {
		t.Fatal(status)
	}
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	must(t, json.Unmarshal(body, &doc))
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	n := 0
	for path, item := range doc.Paths {
		for method := range item {
			n++
			found := false
			for _, r := range rest.Routes() {
				found = found || (rest.Prefix+r.Pattern == path && strings.ToLower(r.Method) == method)
			}
			if !found {
				t.Errorf("documented %s %s is not a route", method, path)
			}
		}
	}
	if n != len(rest.Routes()) {
		t.Errorf("%d documented operations, %d routes", n, len(rest.Routes()))
	}
	checkShape := func(schema string, obj map[string]any) {
		s, ok := doc.Components.Schemas[schema]
		if !ok {
			t.Fatalf("no schema %s", schema)
		}
		for k := range obj {
			if _, ok := s.Properties[k]; !ok {
				t.Errorf("%s: response has undocumented field %q", schema, k)
			}
		}
		for _, k := range s.Required {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s: documented field %q missing from response", schema, k)
			}
		}
	}
	get := func(path string) map[string]any {
		_, b := e.do(admin, "GET", path, "")
		var m map[string]any
		must(t, json.Unmarshal(b, &m))
		return m
	}
	checkShape("Job", get(fmt.Sprintf("/jobs/%d", e.pubJob)))
	queue := get(fmt.Sprintf("/jobs/%d/queue", e.pubJob))
	checkShape("Queue", queue)
	checkShape("QueueReason", queue["reasons"].([]any)[0].(map[string]any))
	checkShape("QueueDevice", queue["devices"].([]any)[0].(map[string]any))
	group := e.submitGroup("public") // a multinode sub-job and its queue
	sub := get(fmt.Sprintf("/jobs/%d", group[0]))
	checkShape("Job", sub)
	checkShape("Multinode", sub["multinode"].(map[string]any))
	queue = get(fmt.Sprintf("/jobs/%d/queue", group[0]))
	checkShape("Queue", queue)
	checkShape("QueueGroup", queue["group"].(map[string]any))
	checkShape("QueueRole", queue["group"].(map[string]any)["roles"].([]any)[0].(map[string]any))
	checkShape("Device", get("/devices/d1"))
	checkShape("Worker", get("/workers/w1"))
	checkShape("DeviceType", get("/device-types/qemu"))
	checkShape("User", get("/users/alice"))
	checkShape("Group", get("/groups/team"))
	checkShape("Whoami", get("/system/whoami"))
	list := get("/jobs")
	checkShape("List_Job", list)
	for _, r := range list["results"].([]any) {
		checkShape("Job", r.(map[string]any))
	}
	_, err := e.Logs.Append(context.Background(), e.pubJob, 0, []byte(resultsLog))
	must(t, err)
	for schema, path := range map[string]string{"Result": "/results", "Suite": "/suites"} {
		list := get(fmt.Sprintf("/jobs/%d%s", e.pubJob, path))
		checkShape("List_"+schema, list)
		if len(list["results"].([]any)) == 0 {
			t.Errorf("%s: empty list", path)
		}
		for _, r := range list["results"].([]any) {
			checkShape(schema, r.(map[string]any))
		}
	}
	seedNotifications(t, e, e.pubJob)
	notes := get(fmt.Sprintf("/jobs/%d/notifications", e.pubJob))
	checkShape("List_Notification", notes)
	for _, r := range notes["results"].([]any) {
		checkShape("Notification", r.(map[string]any))
		for _, a := range r.(map[string]any)["log"].([]any) {
			checkShape("NotificationAttempt", a.(map[string]any))
		}
	}
	_, b := e.do(admin, "GET", "/nope", "")
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	checkShape("ErrorResponse", m)
	checkShape("ErrorBody", m["error"].(map[string]any))
}

// TestBasicAuth: lavacli-style HTTP Basic user:token works; a token used
// under another user's name, a bad token and an unknown scheme are refused.
func TestBasicAuth(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	try := func(set func(*http.Request)) (int, string) {
		req, _ := http.NewRequest("GET", e.srv.URL+rest.Prefix+"/system/whoami", nil)
		set(req)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		var w wire.Whoami
		_ = json.NewDecoder(resp.Body).Decode(&w)
		return resp.StatusCode, w.User
	}
	cases := []struct {
		name   string
		set    func(*http.Request)
		status int
		user   string
	}{
		{"basic", func(r *http.Request) { r.SetBasicAuth("alice", e.Tokens[alice]) }, 200, "alice"},
		{"basic wrong user", func(r *http.Request) { r.SetBasicAuth("bob", e.Tokens[alice]) }, 401, ""},
		{"token", func(r *http.Request) { r.Header.Set("Authorization", "Token "+e.Tokens[bob]) }, 200, "bob"},
		{"bad token", func(r *http.Request) { r.Header.Set("Authorization", "Token bst_nope") }, 401, ""},
		{"scheme", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, 401, ""},
		{"none", func(r *http.Request) {}, 200, ""},
	}
	for _, c := range cases {
		status, user := try(c.set)
		if status != c.status || user != c.user {
			t.Errorf("%s: %d %q, want %d %q", c.name, status, user, c.status, c.user)
		}
	}
}

// TestTokensAreShownOnce: a created token's secret appears only in the
// creating response; listings never carry it, and the store holds a hash.
func TestTokensAreShownOnce(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	status, body := e.do(alice, "POST", "/tokens", `{"description":"ci"}`)
	if status != 201 {
		t.Fatal(status, string(body))
	}
	var tok wire.Token
	must(t, json.Unmarshal(body, &tok))
	if !strings.HasPrefix(tok.Secret, auth.SecretPrefix) {
		t.Fatalf("secret %q", tok.Secret)
	}
	_, body = e.do(alice, "GET", "/tokens", "")
	if bytes.Contains(body, []byte(tok.Secret)) {
		t.Error("token listing contains the secret")
	}
	stored, err := e.App.Store().TokenByHash(context.Background(), auth.HashSecret(tok.Secret))
	must(t, err)
	if bytes.Contains(stored.Hash, []byte(tok.Secret)) || len(stored.Hash) != 32 {
		t.Errorf("stored hash %x", stored.Hash)
	}
	// the new token authenticates; after DELETE it does not
	req := func() int {
		r, _ := http.NewRequest("GET", e.srv.URL+rest.Prefix+"/tokens", nil)
		r.Header.Set("Authorization", "Token "+tok.Secret)
		resp, err := http.DefaultClient.Do(r)
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := req(); got != 200 {
		t.Fatalf("new token: %d", got)
	}
	if st, b := e.do(alice, "DELETE", fmt.Sprintf("/tokens/%d", tok.ID), ""); st != 204 {
		t.Fatal(st, string(b))
	}
	if got := req(); got != 401 {
		t.Errorf("revoked token: %d, want 401", got)
	}
}

// TestWorkerTokensNotDeletableAsUserTokens: DELETE /tokens/{id} reaches
// user tokens only; a worker's token survives even an admin's attempt.
func TestWorkerTokensNotDeletableAsUserTokens(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	toks, err := e.App.Store().ListTokens(context.Background(), lab.TokenWorker, "w1")
	must(t, err)
	if len(toks) != 1 {
		t.Fatalf("worker tokens: %d", len(toks))
	}
	if st, body := e.do(admin, "DELETE", fmt.Sprintf("/tokens/%d", toks[0].ID), ""); st != 404 {
		t.Errorf("admin deleting a worker token: %d %s, want 404", st, body)
	}
	if st, body := e.do(worker, "POST", "/workers/w1/heartbeat", `{"version":"x"}`); st != 200 {
		t.Errorf("worker token after the attempt: %d %s", st, body)
	}
}
