package events

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// uuid1RE is a version 1 UUID with the RFC 4122 variant.
var uuid1RE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// pyTimeRE is Python's isoformat() of an aware UTC datetime.
var pyTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$`)

// jobJSON is the payload LAVA sends for job j in state and health, given
// the job's stored times (those it has at that point).
func jobJSON(j lab.Job, state, health string, device, start, end bool) string {
	s := fmt.Sprintf(`{"health": %q, "state": %q, "job": %d, "description": %q, "priority": %d, "submit_time": %q, "submitter": %q, "health_check": false`,
		health, state, j.ID, j.Description, j.Priority, pyfmt.IsoformatUTC(j.SubmitTime), j.Submitter)
	if device {
		s += `, "device": "qemu-01", "worker": "w1"`
	}
	s += `, "device_type": "qemu"`
	if start {
		s += fmt.Sprintf(`, "start_time": %q`, pyfmt.IsoformatUTC(j.StartTime))
	}
	if end {
		s += fmt.Sprintf(`, "end_time": %q`, pyfmt.IsoformatUTC(j.EndTime))
	}
	return s + "}"
}

// deviceJSON is the payload of a device event of qemu-01; job 0: none.
func deviceJSON(state, health string, job int64) string {
	s := fmt.Sprintf(`{"health": %q, "state": %q, "device": "qemu-01", "device_type": "qemu", "worker": "w1"`, health, state)
	if job != 0 {
		s += fmt.Sprintf(`, "job": %d`, job)
	}
	return s + "}"
}

// jobLife is what a listener who may see alice's job j sees from w1 coming
// Online to the end of env.runJob(j.ID).
func jobLife(j lab.Job) []string {
	return []string{
		TopicWorker + " lavaserver " + `{"hostname": "w1", "health": "Active", "state": "Online"}`,
		TopicJob + " alice " + jobJSON(j, "Submitted", "Unknown", false, false, false),
		TopicJob + " alice " + jobJSON(j, "Scheduled", "Unknown", true, false, false),
		TopicDevice + " lavaserver " + deviceJSON("Reserved", "Good", j.ID),
		TopicJob + " alice " + jobJSON(j, "Running", "Unknown", true, true, false),
		TopicDevice + " lavaserver " + deviceJSON("Running", "Good", j.ID),
		TopicEvent + " lavaserver " + fmt.Sprintf(`{"message": "ready \"now\"", "job": %d}`, j.ID),
		TopicJob + " alice " + jobJSON(j, "Finished", "Complete", true, true, true),
		TopicDevice + " lavaserver " + deviceJSON("Idle", "Good", 0),
	}
}

// TestJobEvents: a WebSocket listener sees a job's life — submitted,
// scheduled, running, its test event, finished — in order, as LAVA's
// publisher sends it: the testjob events with the submitter as username
// and LAVA's payload fields and display strings, the device events of the
// job taking and leaving its device, the worker coming Online; each
// message [topic, uuid1, ISO datetime, username, JSON]. On SQLite and
// PostgreSQL.
func TestJobEvents(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, Config{})
			c := e.dial(anon)
			e.heartbeat()
			id := e.Submit(alice, labtest.Job("public job", "qemu", "priority: 60"))
			e.runJob(id)
			marker := e.Submit(bob, labtest.Job("marker", "qemu", ""))

			got := c.until(func(m msg) bool { return m.topic == TopicJob && m.fields["job"] == float64(marker) })
			want := jobLife(e.Job(id))
			var short []string
			ids := map[string]bool{}
			for _, m := range got {
				short = append(short, m.short())
				if !uuid1RE.MatchString(m.id) || ids[m.id] {
					t.Errorf("uuid %q: not a version 1 UUID, or not unique", m.id)
				}
				ids[m.id] = true
				if !pyTimeRE.MatchString(m.dt) {
					t.Errorf("datetime %q: not Python's isoformat() of a UTC time", m.dt)
				}
				if !strings.HasPrefix(m.raw, `["org.lavasoftware.`) || !strings.Contains(m.raw, `", "{\"`) {
					t.Errorf("message %s: not json.dumps' form", m.raw)
				}
			}
			if diff := cmp.Diff(want, short); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPrivateJobEvents: a personal job's events — its testjob events and
// its test event — reach its submitter and administrators only; other
// users and anonymous listeners see the device it runs on change state,
// without the job's id, as the API shows that device to them. On SQLite
// and PostgreSQL.
func TestPrivateJobEvents(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, Config{})
			var cs [nIdent]*client
			for who := range nIdent {
				cs[who] = e.dial(who)
			}
			e.heartbeat()
			id := e.Submit(alice, labtest.Job("secret job", "qemu", "visibility: personal"))
			e.runJob(id)
			marker := e.Submit(bob, labtest.Job("marker", "qemu", ""))
			seen := jobLife(e.Job(id))
			hidden := []string{
				TopicWorker + " lavaserver " + `{"hostname": "w1", "health": "Active", "state": "Online"}`,
				TopicDevice + " lavaserver " + deviceJSON("Reserved", "Good", 0),
				TopicDevice + " lavaserver " + deviceJSON("Running", "Good", 0),
				TopicDevice + " lavaserver " + deviceJSON("Idle", "Good", 0),
			}
			want := [nIdent][]string{anon: hidden, alice: seen, bob: hidden, admin: seen}
			for who, c := range cs {
				var short []string
				for _, m := range c.until(func(m msg) bool { return m.topic == TopicJob && m.fields["job"] == float64(marker) }) {
					short = append(short, m.short())
				}
				if diff := cmp.Diff(want[who], short); diff != "" {
					t.Errorf("%s (-want +got):\n%s", identNames[who], diff)
				}
			}
		})
	}
}

// TestDeviceAndWorkerEvents: an administrator's changes of a device's and
// a worker's health are events, with the health a worker's change gives
// its devices (Active again: Good devices become Unknown, as LAVA); a
// change that changes neither state nor health is none. On SQLite and
// PostgreSQL.
func TestDeviceAndWorkerEvents(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, Config{})
			c := e.dial(bob)
			ctx := context.Background()
			ap := e.Principal(admin)
			_, err := e.App.SetDeviceHealth(ctx, ap, "qemu-01", lab.DeviceMaintenance, "cabling")
			must(t, err)
			_, err = e.App.SetDeviceHealth(ctx, ap, "qemu-01", lab.DeviceMaintenance, "still cabling") // no change
			must(t, err)
			_, err = e.App.SetDeviceHealth(ctx, ap, "qemu-01", lab.DeviceGood, "done")
			must(t, err)
			health := func(h lab.WorkerHealth) app.WorkerUpdate { return app.WorkerUpdate{Health: &h, Reason: "test"} }
			_, err = e.App.UpdateWorker(ctx, ap, "w1", health(lab.WorkerMaintenance))
			must(t, err)
			desc := "rack 2"
			_, err = e.App.UpdateWorker(ctx, ap, "w1", app.WorkerUpdate{Description: &desc}) // neither state nor health
			must(t, err)
			_, err = e.App.UpdateWorker(ctx, ap, "w1", health(lab.WorkerActive))
			must(t, err)
			e.heartbeat()
			got := c.until(func(m msg) bool { return m.topic == TopicWorker && m.fields["state"] == "Online" })
			var short []string
			for _, m := range got {
				short = append(short, m.short())
			}
			want := []string{
				TopicDevice + " lavaserver " + deviceJSON("Idle", "Maintenance", 0),
				TopicDevice + " lavaserver " + deviceJSON("Idle", "Good", 0),
				TopicWorker + " lavaserver " + `{"hostname": "w1", "health": "Maintenance", "state": "Offline"}`,
				TopicWorker + " lavaserver " + `{"hostname": "w1", "health": "Active", "state": "Offline"}`,
				TopicDevice + " lavaserver " + deviceJSON("Idle", "Unknown", 0),
			}
			if diff := cmp.Diff(want, short); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAuthentication: credentials LAVA's publisher refuses get its
// {"error": …} message and the connection is closed; an API token also
// works as "Authorization: Token"; and a listener whose token is deleted
// is disconnected at its next ping.
func TestAuthentication(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0], Config{PingInterval: 20 * time.Millisecond})
	cases := []struct{ name, header, want string }{
		{"wrong token", basic("alice", "nope"), "Unknown user"},
		{"another user's token", basic("bob", e.Tokens[alice]), "Unknown user"},
		{"unknown token", "Token nope", "Unknown user"},
		{"malformed basic", "Basic %%%", "Invalid basic authentication"},
		{"other scheme", "Digest username=alice", "Only Basic authentication is supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.dialHeader(http.Header{"Authorization": {tc.header}})
			must(t, err)
			cl := &client{t: t, name: tc.name, c: c}
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			_, b, err := c.Read(ctx)
			must(t, err)
			if want := fmt.Sprintf(`{"error": %q}`, tc.want); string(b) != want {
				t.Errorf("message %s, want %s", b, want)
			}
			if m := cl.next(); !m.closed || m.closeCode != websocket.StatusPolicyViolation {
				t.Errorf("then %+v, want a close with 1008", m)
			}
		})
	}
	t.Run("token scheme", func(t *testing.T) {
		c, err := e.dialHeader(http.Header{"Authorization": {"Token " + e.Tokens[alice]}})
		must(t, err)
		cl := &client{t: t, name: "alice by Token", c: c}
		id := e.Submit(alice, labtest.Job("private", "qemu", "visibility: personal"))
		if m := cl.next(); m.topic != TopicJob || m.fields["job"] != float64(id) {
			t.Errorf("got %s, want the submission of job %d", m.raw, id)
		}
	})
	t.Run("token deleted", func(t *testing.T) {
		ctx := context.Background()
		p := e.Principal(bob)
		tok, secret, err := e.App.CreateToken(ctx, p, "bob", "short-lived", time.Time{})
		must(t, err)
		c, err := e.dialHeader(http.Header{"Authorization": {basic("bob", secret)}})
		must(t, err)
		must(t, e.App.DeleteToken(ctx, p, tok.ID))
		m := (&client{t: t, name: "bob", c: c}).next()
		if !m.closed || m.closeCode != websocket.StatusPolicyViolation || m.closeReason != "Unknown user" {
			t.Errorf("got %+v, want a close with 1008 Unknown user", m)
		}
	})
}

// TestHTTP: the publisher's health probe, and what is not a WebSocket.
func TestHTTP(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0], Config{})
	cases := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", HealthPath, 200, `{"health": "good"}`},
		{"GET", Path, http.StatusUpgradeRequired, ""},
		{"POST", Path, http.StatusMethodNotAllowed, `"code":"invalid"`},
		{"GET", "/ws/v2/nothing", http.StatusNotFound, `"code":"not_found"`},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, e.srv.URL+tc.path, nil)
			must(t, err)
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
				t.Errorf("%d %s, want %d with %s", resp.StatusCode, b, tc.status, tc.body)
			}
			if tc.path == HealthPath {
				var v map[string]string
				if json.Unmarshal(b, &v) != nil || v["health"] != "good" || string(b) != tc.body {
					t.Errorf("health %s", b)
				}
			}
		})
	}
}
