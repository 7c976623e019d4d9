package client_test

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/rest"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/client"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

func TestMain(m *testing.M) {
	// Cheap password hashing: these tests are about the client, not argon2.
	auth.Argon2 = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	os.Exit(m.Run())
}

func mustNew(t *testing.T, uri, user, token string, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.New(uri, user, token, opts)
	if err != nil {
		t.Fatalf("client.New(%q): %v", uri, err)
	}
	return c
}

func TestNewNormalisesURI(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  string
	}{
		{in: "http://lab:8000", want: "http://lab:8000"},
		{in: "http://lab:8000/", want: "http://lab:8000"},
		{in: "https://lab.example.com/api/v1", want: "https://lab.example.com"},
		{in: "https://lab.example.com/api/v1/", want: "https://lab.example.com"},
		{in: "https://lab.example.com/RPC2/", want: "https://lab.example.com"},
		{in: "https://proxy.example.com/basalt/api/v1", want: "https://proxy.example.com/basalt"},
		{in: " http://lab ", want: "http://lab"},
		{in: "ftp://lab", wantErr: "scheme must be http or https"},
		{in: "lab.example.com", wantErr: "scheme must be http or https"},
		{in: "http://", wantErr: "no host"},
		{in: "https://alice:secret@lab/RPC2", wantErr: "not in the URI"},
		{in: "http://lab/?x=1", wantErr: "query"},
		{in: "", wantErr: "scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := client.New(tt.in, "", "", client.Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tt.in, err)
			}
			if c.URI() != tt.want {
				t.Errorf("URI() = %q, want %q", c.URI(), tt.want)
			}
		})
	}
}

// recorder is a fake server that matches requests against the real route
// table and remembers which routes were called and how.
type recorder struct {
	mu      sync.Mutex
	hits    map[string]int // "METHOD /pattern" → count
	auth    []string
	queries []string
}

func newRecorder(t *testing.T) (*recorder, *httptest.Server) {
	rec := &recorder{hits: map[string]int{}}
	mux := http.NewServeMux()
	for _, r := range rest.Routes() {
		key := r.Method + " " + r.Pattern
		mux.HandleFunc(r.Method+" "+wire.Prefix+r.Pattern, func(w http.ResponseWriter, req *http.Request) {
			rec.mu.Lock()
			rec.hits[key]++
			rec.auth = append(rec.auth, req.Header.Get("Authorization"))
			rec.queries = append(rec.queries, req.URL.RawQuery)
			rec.mu.Unlock()
			if req.Body != nil && req.Method != "GET" && req.Method != "DELETE" && req.ContentLength > 0 {
				if ct := req.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("%s: Content-Type %q", key, ct)
				}
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{}"))
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return rec, srv
}

// TestEveryRouteHasAMethod calls every client method against a server built
// from rest.Routes and checks that each route is reached exactly once: a
// route added to the API without a client method fails here.
func TestEveryRouteHasAMethod(t *testing.T) {
	rec, srv := newRecorder(t)
	c := mustNew(t, srv.URL, "", "tok", client.Options{})
	ctx := context.Background()
	s := func(v string) *string { return &v }
	calls := []func() error{
		func() error { _, err := c.OpenAPI(ctx); return err },
		func() error { _, err := c.Version(ctx); return err },
		func() error { _, err := c.Whoami(ctx); return err },
		func() error { _, err := c.Login(ctx, wire.LoginInput{Username: "u", Password: "p"}); return err },
		func() error { _, err := c.ListJobs(ctx, client.JobFilter{}); return err },
		func() error { _, err := c.SubmitJob(ctx, "job_name: x"); return err },
		func() error { _, err := c.ValidateJob(ctx, "job_name: x", false); return err },
		func() error { _, err := c.GetJob(ctx, 1); return err },
		func() error { _, err := c.JobQueue(ctx, 1); return err },
		func() error { _, err := c.JobNotifications(ctx, 1); return err },
		func() error { _, err := c.JobDefinition(ctx, 1, true); return err },
		func() error { _, err := c.CancelJob(ctx, 1); return err },
		func() error { _, err := c.ResubmitJob(ctx, 1); return err },
		func() error { _, err := c.ListDevices(ctx, client.DeviceFilter{}); return err },
		func() error { _, err := c.CreateDevice(ctx, wire.DeviceInput{Hostname: "d"}); return err },
		func() error { _, err := c.GetDevice(ctx, "d"); return err },
		func() error { _, err := c.UpdateDevice(ctx, "d", wire.DeviceInput{Description: s("x")}); return err },
		func() error { _, err := c.SetDeviceHealth(ctx, "d", "Good", "ok"); return err },
		func() error { _, err := c.DeviceDictionary(ctx, "d"); return err },
		func() error { _, err := c.SetDeviceDictionary(ctx, "d", "{}"); return err },
		func() error { _, err := c.DeviceHistory(ctx, "d", 5); return err },
		func() error { _, err := c.Reserve(ctx, "d", wire.ReserveInput{Duration: "1h"}); return err },
		func() error {
			_, err := c.ListReservations(ctx, client.ReservationFilter{Device: "d", Holder: "u", Finished: true, Limit: 5})
			return err
		},
		func() error { _, err := c.GetReservation(ctx, 1); return err },
		func() error { _, err := c.ExtendReservation(ctx, 1, "1h"); return err },
		func() error { _, err := c.ReleaseReservation(ctx, 1); return err },
		func() error { _, err := c.ConsoleInput(ctx, 1, wire.ConsoleInput{Data: "x"}); return err },
		func() error { _, err := c.ListDeviceTypes(ctx); return err },
		func() error { _, err := c.CreateDeviceType(ctx, wire.DeviceTypeInput{Name: "t"}); return err },
		func() error { _, err := c.GetDeviceType(ctx, "t"); return err },
		func() error {
			_, err := c.UpdateDeviceType(ctx, "t", wire.DeviceTypeInput{Description: s("x")})
			return err
		},
		func() error { return c.DeleteDeviceType(ctx, "t") },
		func() error { _, err := c.HealthCheck(ctx, "t"); return err },
		func() error { _, err := c.SetHealthCheck(ctx, "t", "job_name: hc"); return err },
		func() error { _, err := c.DeviceTypeTemplate(ctx, "t"); return err },
		func() error { _, err := c.SetDeviceTypeTemplate(ctx, "t", "{% extends 'base.jinja2' %}"); return err },
		func() error { _, err := c.ListDeviceTemplates(ctx); return err },
		func() error { _, err := c.ListAliases(ctx); return err },
		func() error { _, err := c.CreateAlias(ctx, wire.Alias{Name: "a", DeviceType: "t"}); return err },
		func() error { return c.DeleteAlias(ctx, "a") },
		func() error { _, err := c.ListTags(ctx); return err },
		func() error { _, err := c.CreateTag(ctx, wire.Tag{Name: "g"}); return err },
		func() error { _, err := c.GetTag(ctx, "g"); return err },
		func() error { return c.DeleteTag(ctx, "g") },
		func() error { _, err := c.ListWorkers(ctx); return err },
		func() error { _, err := c.CreateWorker(ctx, wire.WorkerInput{Name: "w"}); return err },
		func() error { _, err := c.GetWorker(ctx, "w"); return err },
		func() error { _, err := c.UpdateWorker(ctx, "w", wire.WorkerInput{Description: s("x")}); return err },
		func() error { _, err := c.RotateWorkerToken(ctx, "w"); return err },
		func() error { _, err := c.WorkerHistory(ctx, "w", 0); return err },
		func() error { _, err := c.Heartbeat(ctx, "w", "1.0"); return err },
		func() error { _, err := c.CreateJoinToken(ctx, "w", time.Hour); return err },
		func() error { _, _, err := c.JobLogs(ctx, 1, 0, 10); return err },
		func() error { _, err := c.JobResults(ctx, 1, client.ResultsFilter{Suite: "s", Limit: 5}); return err },
		func() error { _, err := c.JobSuites(ctx, 1); return err },
		func() error { _, err := c.ListUsers(ctx); return err },
		func() error { _, err := c.CreateUser(ctx, wire.UserInput{Username: "u"}); return err },
		func() error { _, err := c.GetUser(ctx, "u"); return err },
		func() error { _, err := c.UpdateUser(ctx, "u", wire.UserInput{Email: s("u@x")}); return err },
		func() error { return c.DeleteUser(ctx, "u") },
		func() error { _, err := c.ListGroups(ctx); return err },
		func() error { _, err := c.CreateGroup(ctx, "g"); return err },
		func() error { _, err := c.GetGroup(ctx, "g"); return err },
		func() error { return c.DeleteGroup(ctx, "g") },
		func() error { _, err := c.AddGroupMember(ctx, "g", "u"); return err },
		func() error { _, err := c.RemoveGroupMember(ctx, "g", "u"); return err },
		func() error { _, err := c.ListTokens(ctx, "u"); return err },
		func() error { _, err := c.CreateToken(ctx, wire.TokenInput{Description: "d"}); return err },
		func() error { return c.DeleteToken(ctx, 7) },
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	var missing, twice []string
	for _, r := range rest.Routes() {
		switch n := rec.hits[r.Method+" "+r.Pattern]; {
		case n == 0:
			missing = append(missing, r.Method+" "+r.Pattern)
		case n > 1:
			twice = append(twice, r.Method+" "+r.Pattern)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes no client method reached: %v", missing)
	}
	if len(twice) > 0 {
		t.Errorf("routes reached by several methods: %v", twice)
	}
	if len(calls) != len(rest.Routes()) {
		t.Errorf("%d calls for %d routes", len(calls), len(rest.Routes()))
	}
}

func TestQueryParameters(t *testing.T) {
	rec, srv := newRecorder(t)
	c := mustNew(t, srv.URL, "", "", client.Options{})
	ctx := context.Background()
	yes := true
	_, err := c.ListJobs(ctx, client.JobFilter{States: []string{"Submitted", "Running"}, Health: []string{"Unknown"},
		DeviceType: "qemu", Device: "d1", Submitter: "alice", TargetGroup: "g1", HealthCheck: &yes, Search: "boot fail", Limit: 10, Offset: 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListDevices(ctx, client.DeviceFilter{DeviceType: "qemu", Worker: "w1", Health: []string{"Good", "Bad"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListJobs(ctx, client.JobFilter{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"device=d1&device_type=qemu&health=Unknown&health_check=true&limit=10&offset=20&q=boot+fail&state=Submitted%2CRunning&submitter=alice&target_group=g1",
		"device_type=qemu&health=Good%2CBad&worker=w1",
		"",
	}
	for i, w := range want {
		if rec.queries[i] != w {
			t.Errorf("query %d = %q, want %q", i, rec.queries[i], w)
		}
	}
}

func TestAuthorizationHeader(t *testing.T) {
	tests := []struct {
		name, user, token, want string
	}{
		{"anonymous", "", "", ""},
		{"token", "", "bst_secret", "Token bst_secret"},
		{"basic", "alice", "bst_secret", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:bst_secret"))},
		{"username without token", "alice", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := newRecorder(t)
			c := mustNew(t, srv.URL, tt.user, tt.token, client.Options{})
			if _, err := c.Whoami(context.Background()); err != nil {
				t.Fatal(err)
			}
			if rec.auth[0] != tt.want {
				t.Errorf("Authorization = %q, want %q", rec.auth[0], tt.want)
			}
		})
	}
}

func TestErrorDecoding(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		ctype      string
		body       string
		wantCode   string
		wantErr    string // Error() must contain it
		wantDetail int
	}{
		{
			name: "not found", status: 404, ctype: "application/json",
			body:     `{"error":{"code":"not_found","message":"device \"x\": not found"}}`,
			wantCode: "not_found", wantErr: `device "x": not found (HTTP 404)`,
		},
		{
			name: "invalid definition", status: 400, ctype: "application/json",
			body: `{"error":{"code":"invalid_definition","message":"3:13: $.visibility: bad\n9:5: $.actions[0].deploy: missing","details":[` +
				`{"line":3,"column":13,"path":"$.visibility","message":"bad"},` +
				`{"line":9,"column":5,"path":"$.actions[0].deploy","message":"missing"},` +
				`{"line":0,"column":0,"path":"","message":"no device"}]}}`,
			wantCode:   "invalid_definition",
			wantErr:    "invalid job definition:\n3:13: $.visibility: bad\n9:5: $.actions[0].deploy: missing\nno device",
			wantDetail: 3,
		},
		{
			name: "invalid dictionary", status: 400, ctype: "application/json",
			body: `{"error":{"code":"invalid_dictionary","message":"device qemu01: device dictionary: 2:8: $.memroy: unknown variable","details":[` +
				`{"line":1,"column":12,"path":"","message":"device type template \"bbb\" is not supported yet"},` +
				`{"line":2,"column":8,"path":"$.memroy","message":"unknown variable \"memroy\""}]}}`,
			wantCode:   "invalid_dictionary",
			wantErr:    "invalid device dictionary:\n1:12: device type template \"bbb\" is not supported yet\n2:8: $.memroy: unknown variable \"memroy\"",
			wantDetail: 2,
		},
		{
			name: "proxy page", status: 502, ctype: "text/html",
			body:    "<html>upstream down</html>",
			wantErr: "Bad Gateway: <html>upstream down</html> (HTTP 502)",
		},
		{
			name: "empty body", status: 503, ctype: "text/plain",
			wantErr: "Service Unavailable (HTTP 503)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			_, err := mustNew(t, srv.URL, "", "", client.Options{}).GetDevice(context.Background(), "x")
			var ae *client.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %T %v, want *client.APIError", err, err)
			}
			if ae.Status != tt.status || ae.Code != tt.wantCode || len(ae.Details) != tt.wantDetail {
				t.Errorf("APIError = %+v, want status %d code %q and %d details", ae, tt.status, tt.wantCode, tt.wantDetail)
			}
			if !strings.Contains(ae.Error(), tt.wantErr) {
				t.Errorf("Error() = %q, want it to contain %q", ae.Error(), tt.wantErr)
			}
			if got := client.IsNotFound(err); got != (tt.status == 404) {
				t.Errorf("IsNotFound = %v", got)
			}
		})
	}
}

// TestAPIErrorHeading: an answer with details is printed under a heading
// naming what was invalid, chosen by the error code, never "job
// definition" for something else; without details the message and status.
func TestAPIErrorHeading(t *testing.T) {
	details := []wire.Problem{
		{Line: 2, Column: 8, Path: "$.memroy", Message: "unknown variable"},
		{Message: "no position"},
	}
	const problems = "\n2:8: $.memroy: unknown variable\nno position"
	tests := []struct {
		name string
		err  client.APIError
		want string
	}{
		{"job definition", client.APIError{Status: 400, Code: "invalid_definition", Message: "m", Details: details},
			"invalid job definition:" + problems},
		{"device dictionary", client.APIError{Status: 400, Code: "invalid_dictionary", Message: "m", Details: details},
			"invalid device dictionary:" + problems},
		{"unknown code with details", client.APIError{Status: 400, Code: "invalid_health_check", Message: "m", Details: details},
			"invalid request (invalid_health_check):" + problems},
		{"no code with details", client.APIError{Status: 400, Details: details},
			"invalid request:" + problems},
		{"dictionary code without details", client.APIError{Status: 400, Code: "invalid_dictionary", Message: "device d1: bad"},
			"device d1: bad (HTTP 400)"},
		{"no message", client.APIError{Status: 409, Code: "conflict"},
			"Conflict (HTTP 409)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConnectionError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	uri := srv.URL
	srv.Close() // nothing listens there any more
	_, err := mustNew(t, uri, "", "", client.Options{}).Version(context.Background())
	var ce *client.ConnectionError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v, want *client.ConnectionError", err, err)
	}
	if ce.URI != uri || !strings.Contains(err.Error(), "cannot reach the Basalt server at "+uri) {
		t.Errorf("error %q does not name %s", err, uri)
	}
}

func TestUndecodableAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>login page</html>"))
	}))
	defer srv.Close()
	_, err := mustNew(t, srv.URL, "", "", client.Options{}).Version(context.Background())
	if err == nil || !strings.Contains(err.Error(), "decode answer") {
		t.Fatalf("error = %v, want a decode error", err)
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"version":"tls-test"}`))
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(notPEM, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		opts    client.Options
		wantErr bool
	}{
		{"untrusted certificate is refused", client.Options{}, true},
		{"CA file", client.Options{CAFile: caFile}, false},
		{"explicit insecure", client.Options{Insecure: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := mustNew(t, srv.URL, "", "", tt.opts).Version(context.Background())
			if tt.wantErr {
				var ce *client.ConnectionError
				if !errors.As(err, &ce) {
					t.Fatalf("error = %v, want a ConnectionError", err)
				}
				return
			}
			if err != nil || v.Version != "tls-test" {
				t.Fatalf("Version = %+v, %v", v, err)
			}
		})
	}
	for _, f := range []string{notPEM, filepath.Join(t.TempDir(), "missing.pem")} {
		if _, err := client.New(srv.URL, "", "", client.Options{CAFile: f}); err == nil {
			t.Errorf("New with CA file %s: no error", f)
		}
	}
}

// TestAgainstServer runs the client against the real API over a real store.
func TestAgainstServer(t *testing.T) {
	ctx := context.Background()
	_, srv, secret := labtest.APIServer(t, labtest.OpenDSN(t, filepath.Join(t.TempDir(), "basalt.db")))

	for _, user := range []string{"", "admin"} { // Token and Basic authentication
		c := mustNew(t, srv.URL+"/api/v1/", user, secret, client.Options{})
		w, err := c.Whoami(ctx)
		if err != nil || w.User != "admin" || !w.IsSuperuser {
			t.Errorf("user %q: Whoami = %+v, %v", user, w, err)
		}
	}
	c := mustNew(t, srv.URL, "", secret, client.Options{})
	if _, err := c.CreateDeviceType(ctx, wire.DeviceTypeInput{Name: "qemu"}); err != nil {
		t.Fatal(err)
	}
	dt, err := c.GetDeviceType(ctx, "qemu")
	if err != nil || dt.Name != "qemu" || !dt.Display {
		t.Errorf("GetDeviceType = %+v, %v", dt, err)
	}

	_, err = c.SubmitJob(ctx, "job_name: x\ndevice_type: qemu\nvisibility: publik\n")
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != "invalid_definition" || len(ae.Details) == 0 {
		t.Fatalf("invalid submission: error %v, want a 400 invalid_definition with details", err)
	}
	found := false
	for _, d := range ae.Details {
		if d.Path == "$.visibility" && d.Line == 3 {
			found = true
		}
	}
	if !found || !strings.Contains(ae.Error(), "3:") {
		t.Errorf("details %+v lack $.visibility on line 3; Error() = %q", ae.Details, ae.Error())
	}

	_, err = c.GetDevice(ctx, "nope")
	if !client.IsNotFound(err) {
		t.Errorf("GetDevice(nope) error = %v, want 404", err)
	}
	anon := mustNew(t, srv.URL, "", "", client.Options{})
	_, err = anon.CreateTag(ctx, wire.Tag{Name: "x"})
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("anonymous CreateTag error = %v, want 401", err)
	}
	bad := mustNew(t, srv.URL, "", "bst_wrong", client.Options{})
	_, err = bad.ListTags(ctx)
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("wrong token: error = %v, want 401", err)
	}
	doc, err := c.OpenAPI(ctx)
	if err != nil || !strings.Contains(string(doc), `"openapi"`) {
		t.Errorf("OpenAPI = %.80s…, %v", doc, err)
	}
}
