package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestReservations: a reservation's life through /api/v1 (reserve, show,
// list, extend, release), who may do what to it, and the errors of bad
// requests, on SQLite and PostgreSQL.
func TestReservations(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			decode := func(status, want int, body []byte, v any) {
				t.Helper()
				if status != want {
					t.Fatalf("status %d, want %d: %s", status, want, body)
				}
				if v != nil {
					must(t, json.Unmarshal(body, v))
				}
			}

			var res wire.Reservation
			st, body := e.do(alice, "POST", "/devices/d1/reservations", `{"duration":"2h","reason":"u-boot bisect","priority":70}`)
			decode(st, http.StatusCreated, body, &res)
			if res.ID == 0 || res.Device != "d1" || res.DeviceType != "qemu" || res.Holder != "alice" || res.State != "Submitted" ||
				res.Priority != 70 || res.Reason != "u-boot bisect" || res.Duration != 7200 || res.Until != nil ||
				res.SubmitTime == nil || res.EndedBy != "" {
				t.Errorf("reserved: %+v", res)
			}
			// The default priority is a job's.
			var other wire.Reservation
			st, body = e.do(bob, "POST", "/devices/d1/reservations", `{"duration":"30m"}`)
			decode(st, http.StatusCreated, body, &other)
			if other.Priority != 50 || other.Holder != "bob" {
				t.Errorf("bob's: %+v", other)
			}

			// Shown as a reservation, and as a job.
			var got wire.Reservation
			st, body = e.do(anon, "GET", fmt.Sprintf("/reservations/%d", res.ID), "")
			decode(st, http.StatusOK, body, &got)
			if got.ID != res.ID || got.Reason != res.Reason {
				t.Errorf("shown: %+v", got)
			}
			var j wire.Job
			st, body = e.do(alice, "GET", fmt.Sprintf("/jobs/%d", res.ID), "")
			decode(st, http.StatusOK, body, &j)
			if j.Reservation == nil || j.Reservation.Duration != 7200 || j.RequestedDevice != "d1" {
				t.Errorf("as a job: %+v", j)
			}

			var list wire.List[wire.Reservation]
			st, body = e.do(anon, "GET", "/reservations?device=d1", "")
			decode(st, http.StatusOK, body, &list)
			if list.Count != 2 || len(list.Results) != 2 || list.Results[0].ID != res.ID || list.Results[1].ID != other.ID {
				t.Errorf("list: %+v", list)
			}
			st, body = e.do(anon, "GET", "/reservations?holder=bob", "")
			decode(st, http.StatusOK, body, &list)
			if list.Count != 1 || list.Results[0].ID != other.ID {
				t.Errorf("bob's list: %+v", list)
			}

			// Others may not extend or release it; its holder and admins may.
			path := fmt.Sprintf("/reservations/%d", res.ID)
			for _, c := range []struct {
				who         int
				method, url string
				body        string
				want        int
			}{
				{bob, "POST", path + "/extend", `{"duration":"1h"}`, http.StatusForbidden},
				{bob, "POST", path + "/release", "", http.StatusForbidden},
				{bob, "POST", fmt.Sprintf("/jobs/%d/cancel", res.ID), "", http.StatusForbidden},
				{worker, "POST", path + "/release", "", http.StatusNotFound},
				{anon, "POST", path + "/release", "", http.StatusUnauthorized},
			} {
				if st, body := e.do(c.who, c.method, c.url, c.body); st != c.want {
					t.Errorf("%s %s %s: %d, want %d: %s", identNames[c.who], c.method, c.url, st, c.want, body)
				}
			}
			st, body = e.do(alice, "POST", path+"/extend", `{"duration":"1h"}`)
			decode(st, http.StatusOK, body, &got)
			if got.Duration != 3*3600 {
				t.Errorf("extended queued: %+v", got)
			}
			st, body = e.do(admin, "POST", path+"/release", "")
			decode(st, http.StatusOK, body, &got)
			if got.State != "Finished" || got.Health != "Canceled" || got.EndedBy != "admin" || got.EndTime == nil {
				t.Errorf("ended by the admin: %+v", got)
			}
			if st, body := e.do(alice, "POST", path+"/release", ""); st != http.StatusConflict {
				t.Errorf("release again: %d %s", st, body)
			}

			// Ended ones are listed on request only.
			st, body = e.do(alice, "GET", "/reservations", "")
			decode(st, http.StatusOK, body, &list)
			if list.Count != 1 || list.Results[0].ID != other.ID {
				t.Errorf("current reservations: %+v", list)
			}
			st, body = e.do(alice, "GET", "/reservations?finished=true", "")
			decode(st, http.StatusOK, body, &list)
			if list.Count != 2 || list.Results[0].ID != other.ID || list.Results[1].ID != res.ID {
				t.Errorf("all reservations: %+v", list)
			}

			// Bad requests.
			for _, c := range []struct {
				name, method, url, body string
				want                    int
			}{
				{"no duration", "POST", "/devices/d1/reservations", `{}`, http.StatusBadRequest},
				{"bad duration", "POST", "/devices/d1/reservations", `{"duration":"two hours"}`, http.StatusBadRequest},
				{"too short", "POST", "/devices/d1/reservations", `{"duration":"30s"}`, http.StatusBadRequest},
				{"too long", "POST", "/devices/d1/reservations", `{"duration":"25h"}`, http.StatusBadRequest},
				{"bad priority", "POST", "/devices/d1/reservations", `{"duration":"1h","priority":101}`, http.StatusBadRequest},
				{"unknown field", "POST", "/devices/d1/reservations", `{"duration":"1h","for":"1h"}`, http.StatusBadRequest},
				{"long reason", "POST", "/devices/d1/reservations", `{"duration":"1h","reason":"` + strings.Repeat("x", 201) + `"}`, http.StatusBadRequest},
				{"unknown device", "POST", "/devices/nope/reservations", `{"duration":"1h"}`, http.StatusNotFound},
				{"extend too far", "POST", fmt.Sprintf("/reservations/%d/extend", other.ID), `{"duration":"24h"}`, http.StatusBadRequest},
				{"bad finished", "GET", "/reservations?finished=maybe", "", http.StatusBadRequest},
				{"bad id", "GET", "/reservations/x", "", http.StatusNotFound},
				{"too large", "POST", "/devices/d1/reservations", `{"duration":"1h","reason":"` + strings.Repeat("x", 5<<20) + `"}`, http.StatusRequestEntityTooLarge},
			} {
				who := bob
				if st, body := e.do(who, c.method, c.url, c.body); st != c.want {
					t.Errorf("%s: %d, want %d: %.300s", c.name, st, c.want, body)
				}
			}

			// Nothing leaks about jobs the caller may not see: a private
			// job answers exactly as a missing reservation does.
			_, missing := e.do(bob, "GET", "/reservations/999999", "")
			stPriv, priv := e.do(bob, "GET", fmt.Sprintf("/reservations/%d", e.privJob), "")
			if stPriv != http.StatusNotFound || !sameShape(priv, missing) {
				t.Errorf("bob reads alice's personal job as a reservation: %d %s (missing: %s)", stPriv, priv, missing)
			}
			if st, _ := e.do(alice, "GET", fmt.Sprintf("/reservations/%d", e.pubJob), ""); st != http.StatusNotFound {
				t.Errorf("an ordinary job as a reservation: %d", st)
			}
		})
	}
}

// sameShape reports whether two error bodies have the same code (their
// messages name the ids asked for).
func sameShape(a, b []byte) bool {
	var x, y struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && x.Error.Code != "" && x.Error.Code == y.Error.Code
}

// TestReservationInQueue: a job waiting for a device a reservation holds
// says who holds it until when, in the summary and the device's fields.
func TestReservationInQueue(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			_, err := e.App.Heartbeat(ctx, auth.WorkerPrincipal("w1"), "w1", "test")
			must(t, err)
			res, err := e.App.Reserve(ctx, e.Principal(bob), "d1", time.Hour, "", lab.PriorityHigh) // ahead of alice's jobs
			must(t, err)
			if _, err := e.App.SchedulePass(ctx); err != nil {
				t.Fatal(err)
			}
			_, err = e.App.StartJob(ctx, auth.WorkerPrincipal("w1"), res.ID)
			must(t, err)
			var q wire.Queue
			st, body := e.do(alice, "GET", fmt.Sprintf("/jobs/%d/queue", e.pubJob), "")
			if st != http.StatusOK {
				t.Fatalf("queue: %d %s", st, body)
			}
			must(t, json.Unmarshal(body, &q))
			if !strings.Contains(q.Summary, "d1 is reserved by bob until ") || len(q.Devices) != 1 ||
				q.Devices[0].ReservedBy != "bob" || q.Devices[0].ReservedUntil == nil || q.Devices[0].Job != res.ID {
				t.Errorf("queue of a job waiting for the reserved device: %s", body)
			}
			// The device says who holds it until when, shown or listed.
			var d wire.Device
			st, body = e.do(anon, "GET", "/devices/d1", "")
			if st != http.StatusOK {
				t.Fatalf("device: %d %s", st, body)
			}
			must(t, json.Unmarshal(body, &d))
			if d.Reservation == nil || d.Reservation.ID != res.ID || d.Reservation.Holder != "bob" || d.Reservation.Until == nil {
				t.Errorf("reserved device: %s", body)
			}
			var devs wire.List[wire.Device]
			st, body = e.do(alice, "GET", "/devices", "")
			must(t, json.Unmarshal(body, &devs))
			if st != http.StatusOK || len(devs.Results) != 1 || devs.Results[0].Reservation == nil || devs.Results[0].Reservation.Holder != "bob" {
				t.Errorf("device list: %d %s", st, body)
			}
		})
	}
}
