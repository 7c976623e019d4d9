package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/web"
)

// resEnv is a UI over a lab whose device d1 runs alice's reservation.
type resEnv struct {
	*env
	res   int64 // the reservation's job
	until time.Time
	size  int64 // bytes of its log
}

// newResEnv starts a reservation of d1 by alice with the visibility given
// (public, as app.Reserve makes them, or personal), running on w1, with
// its log holding console output.
func newResEnv(t *testing.T, b labtest.Backend, visibility lab.Visibility) *resEnv {
	t.Helper()
	ctx := context.Background()
	l := labtest.NewLab(t, b, labtest.Config{})
	e := &resEnv{env: &env{Lab: l, worker: l.Principal(labtest.Worker)}}
	_, err := l.App.Heartbeat(ctx, e.worker, "w1", "1.2.3")
	must(t, err)
	if visibility == lab.VisibilityPublic { // as every reservation is
		j, err := l.App.Reserve(ctx, l.Principal(alice), "d1", time.Hour, "bisect <the> bug", lab.PriorityMedium)
		must(t, err)
		e.res = j.ID
		_, err = l.App.SchedulePass(ctx)
		must(t, err)
	} else { // one the store holds, to check that who may not see it is not shown it
		st := l.App.Store()
		e.res, err = st.CreateJob(ctx, lab.Job{Description: "reservation of d1", Submitter: "alice", Visibility: visibility,
			State: lab.JobSubmitted, Priority: lab.PriorityMedium, RequestedType: "qemu", RequestedDevice: "d1",
			SubmitTime: time.Now(), Definition: "job_name: r\n", OriginalDefinition: "job_name: r\n",
			Reservation: &lab.Reservation{Duration: time.Hour, Reason: "bisect <the> bug"}})
		must(t, err)
		_, err = st.TransitionJob(ctx, store.JobTransition{ID: e.res, From: []lab.JobState{lab.JobSubmitted}, To: lab.JobScheduled, Device: "d1", At: time.Now()})
		must(t, err)
	}
	j, err := l.App.StartJob(ctx, e.worker, e.res)
	must(t, err)
	if j.Reservation == nil {
		t.Fatalf("job %d started without its reservation", e.res)
	}
	if e.until = j.Reservation.Until; e.until.IsZero() {
		t.Fatalf("running reservation %d has no end", e.res)
	}
	e.appendLog(t, consoleRec("info", "console session of d1 started"), consoleRec("target", "U-Boot 2024.01\r\n"), consoleRec("target", "=> "))
	e.srv = l.Serve(web.New(l.App, nil))
	return e
}

// consoleRec is one record of a console session's log.
func consoleRec(level, msg string) string {
	m, _ := json.Marshal(msg)
	return fmt.Sprintf(`{"dt":"2026-01-02T03:04:05Z","lvl":%q,"msg":%s}`, level, m)
}

func (e *resEnv) appendLog(t *testing.T, recs ...string) {
	t.Helper()
	var err error
	e.size, err = e.Logs.Append(context.Background(), e.res, e.size, []byte(strings.Join(recs, "\n")+"\n"))
	must(t, err)
}

// typed is what the worker is handed of the session's input.
func (e *resEnv) typed(t *testing.T) []app.ConsoleDelivery {
	t.Helper()
	ins, err := e.App.WorkerConsoleInput(context.Background(), e.worker, e.res, 0, 0)
	must(t, err)
	return ins
}

func TestConsoleSection(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newResEnv(t, b, lab.VisibilityPublic)
			input := fmt.Sprintf(`data-console-input="/jobs/%d/console"`, e.res)
			events := fmt.Sprintf(`data-console-events="/jobs/%d/events?console=1&amp;from=0"`, e.res)
			for _, c := range []struct {
				who      int
				readOnly bool
			}{{alice, false}, {bob, true}, {admin, true}, {anon, true}} {
				code, body, _ := e.get(c.who, "/devices/d1")
				if code != 200 {
					t.Fatalf("%s: device page: status %d", identNames[c.who], code)
				}
				checkPage(t, identNames[c.who]+"'s device page", body)
				if !strings.Contains(body, `id="console"`) || !strings.Contains(body, events) {
					t.Errorf("%s: no console following the session from its start:\n%s", identNames[c.who], body)
				}
				if got := strings.Contains(body, input); got == c.readOnly {
					t.Errorf("%s: console input offered %v, want %v", identNames[c.who], got, !c.readOnly)
				}
				if got := strings.Contains(body, "held by alice — read-only"); got != c.readOnly {
					t.Errorf("%s: read-only note %v, want %v", identNames[c.who], got, c.readOnly)
				}
				if got := strings.Contains(body, "Hard reset"); got == c.readOnly {
					t.Errorf("%s: power buttons %v, want %v", identNames[c.who], got, !c.readOnly)
				}
				for _, want := range []string{"held by <strong>alice</strong> until", "bisect &lt;the&gt; bug",
					`<span class="reserved" data-reserved="alice">reserved by alice until ` + e.until.Format("15:04") + ` UTC</span>`} {
					if !strings.Contains(body, want) && !strings.Contains(body, strings.Replace(want, e.until.Format("15:04")+" UTC", e.until.Format("2006-01-02 15:04")+" UTC", 1)) {
						t.Errorf("%s: the device page does not say %q", identNames[c.who], want)
					}
				}
			}
		})
	}
}

// TestConsoleHidden: a viewer who may not see the reservation sees no
// console and no holder; the device is busy with a private job.
func TestConsoleHidden(t *testing.T) {
	e := newResEnv(t, labtest.Backends()[0], lab.VisibilityPersonal)
	for _, who := range []int{bob, anon} {
		code, body, _ := e.get(who, "/devices/d1")
		if code != 200 {
			t.Fatalf("%s: status %d", identNames[who], code)
		}
		for _, leak := range []string{`id="console"`, "data-console", "alice", "bisect"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: the device page shows %q of a reservation they may not see", identNames[who], leak)
			}
		}
		if code, _ := e.stream(t, who, fmt.Sprintf("/jobs/%d/events?console=1", e.res), ""); code != 404 {
			t.Errorf("%s: console stream: status %d, want 404", identNames[who], code)
		}
		if resp, _ := e.post(who, fmt.Sprintf("/jobs/%d/console", e.res), url.Values{"data": {"x"}}); resp.StatusCode/100 != 4 || resp.StatusCode == 204 {
			t.Errorf("%s: console input: status %d, want 4xx", identNames[who], resp.StatusCode)
		}
	}
	if code, body, _ := e.get(alice, "/devices/d1"); code != 200 || !strings.Contains(body, fmt.Sprintf(`data-console-input="/jobs/%d/console"`, e.res)) {
		t.Errorf("alice: status %d, no console input on her personal reservation's device", code)
	}
	if len(e.typed(t)) != 0 {
		t.Errorf("input stored from someone who may not see the reservation: %+v", e.typed(t))
	}
}

func TestConsoleInput(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newResEnv(t, b, lab.VisibilityPublic)
			path := fmt.Sprintf("/jobs/%d/console", e.res)

			// The holder's keys, control codes and escape sequences
			// included, are stored in order, byte for byte.
			for _, data := range []string{"l", "s\r", "\x03\x7f\x1b[A\x00", "ünï"} {
				if resp, body := e.post(alice, path, url.Values{"data": {data}}); resp.StatusCode != 204 {
					t.Fatalf("alice types %q: status %d\n%s", data, resp.StatusCode, body)
				}
			}
			if resp, body := e.post(alice, path, url.Values{"power": {"reset"}}); resp.StatusCode != 204 {
				t.Fatalf("alice resets: status %d\n%s", resp.StatusCode, body)
			}
			// A paste larger than one input is typed in several.
			paste := strings.Repeat("p", lab.MaxConsoleInput+10)
			if resp, body := e.post(alice, path, url.Values{"data": {paste}}); resp.StatusCode != 204 {
				t.Fatalf("alice pastes: status %d\n%s", resp.StatusCode, body)
			}
			ins := e.typed(t)
			var got []string
			for _, in := range ins {
				if in.User != "alice" {
					t.Errorf("input %d by %q", in.Seq, in.User)
				}
				if in.Power != "" {
					got = append(got, "power:"+in.Power)
				} else {
					got = append(got, string(in.Data))
				}
			}
			want := []string{"l", "s\r", "\x03\x7f\x1b[A\x00", "ünï", "power:reset", paste[:lab.MaxConsoleInput], paste[lab.MaxConsoleInput:]}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
				t.Errorf("worker is handed %q, want %q", got, want)
			}

			// Refused: another user (who may watch), anonymous, bad
			// power actions, empty posts, cross-origin posts, and a
			// job that is not a reservation.
			other := e.Submit(alice, labtest.Job("plain", "qemu", "visibility: public"))
			for _, c := range []struct {
				name string
				who  int
				path string
				form url.Values
				hdr  map[string]string
				code int
			}{
				{"bob", bob, path, url.Values{"data": {"x"}}, nil, 403},
				{"admin", admin, path, url.Values{"power": {"off"}}, nil, 403},
				{"anonymous", anon, path, url.Values{"data": {"x"}}, nil, 401},
				{"bad power", alice, path, url.Values{"power": {"explode"}}, nil, 400},
				{"nothing", alice, path, url.Values{}, nil, 400},
				{"not a reservation", alice, fmt.Sprintf("/jobs/%d/console", other), url.Values{"data": {"x"}}, nil, 400},
				{"cross-site", alice, path, url.Values{"data": {"x"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
				{"cross-origin", alice, path, url.Values{"data": {"x"}}, map[string]string{"Origin": "https://evil.example"}, 403},
			} {
				hdr := map[string]string{}
				if c.who != anon {
					hdr["Authorization"] = "Token " + e.Tokens[c.who]
				}
				for k, v := range c.hdr {
					hdr[k] = v
				}
				resp, body := e.send("POST", c.path, "", c.form, hdr)
				if resp.StatusCode != c.code {
					t.Errorf("%s: status %d, want %d\n%s", c.name, resp.StatusCode, c.code, body)
				}
			}
			if n := len(e.typed(t)); n != len(want) {
				t.Errorf("refused posts stored input: %d inputs, want %d", n, len(want))
			}

			// With a session cookie, as the page's script posts.
			resp, _ := e.send("POST", "/login", "", url.Values{"username": {"alice"}, "password": {"alice-password"}}, nil)
			c := sessionCookie(resp)
			if c == nil {
				t.Fatal("no session cookie")
			}
			if resp, body := e.send("POST", path, c.Value, url.Values{"data": {"w"}}, map[string]string{"Sec-Fetch-Site": "same-origin"}); resp.StatusCode != 204 {
				t.Errorf("alice's session types: status %d\n%s", resp.StatusCode, body)
			}
			if resp, _ := e.send("POST", path, c.Value, url.Values{"data": {"evil"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != 403 {
				t.Errorf("cross-site post with alice's session: status %d, want 403", resp.StatusCode)
			}
			if ins := e.typed(t); len(ins) != len(want)+1 || string(ins[len(ins)-1].Data) != "w" {
				t.Errorf("after the session's posts: %d inputs", len(ins))
			}

			// Once the reservation ended, its console takes nothing.
			_, err := e.App.FinishJob(context.Background(), e.worker, e.res, app.JobOutcome{})
			must(t, err)
			if resp, body := e.post(alice, path, url.Values{"data": {"x"}}); resp.StatusCode != 409 {
				t.Errorf("typing into an ended reservation: status %d, want 409\n%s", resp.StatusCode, body)
			}
			if _, body, _ := e.get(alice, "/devices/d1"); strings.Contains(body, `id="console"`) {
				t.Error("the device page still shows the console of an ended reservation")
			}
		})
	}
}

// TestConsoleStream: the console form of the job's stream carries each
// record's message exactly as written, from the page's start, then live.
func TestConsoleStream(t *testing.T) {
	e := newResEnv(t, labtest.Backends()[0], lab.VisibilityPublic)
	code, ch := e.stream(t, bob, fmt.Sprintf("/jobs/%d/events?console=1&from=1", e.res), "")
	if code != 200 {
		t.Fatalf("bob's console stream: status %d", code)
	}
	ls := lines(t, next(t, ch, "lines"))
	if len(ls) != 2 || ls[0].N != 1 || ls[0].Level != "target" || ls[0].Text != "U-Boot 2024.01\r\n" || ls[1].Text != "=> " {
		t.Fatalf("first lines %+v", ls)
	}
	e.appendLog(t, consoleRec("input", "ls\r"), consoleRec("target", "l"), consoleRec("target", "s\r\n\x1b[01;34mbin\x1b[0m\r\n=> "),
		consoleRec("warning", "3 bytes of console output lost (link down)"))
	var got []gotLine
	for len(got) < 4 {
		got = append(got, lines(t, next(t, ch, "lines"))...)
	}
	want := []gotLine{{3, "input", "ls\r"}, {4, "target", "l"}, {5, "target", "s\r\n\x1b[01;34mbin\x1b[0m\r\n=> "}, {6, "warning", "3 bytes of console output lost (link down)"}}
	if !slices.Equal(got, want) {
		t.Errorf("live console lines\n%#v\nwant\n%#v", got, want)
	}
}

// TestConsoleHistory: the console starts with the last lines of a long
// session, not its whole log.
func TestConsoleHistory(t *testing.T) {
	e := newResEnv(t, labtest.Backends()[0], lab.VisibilityPublic)
	var recs []string
	for i := 0; i < 300; i++ {
		recs = append(recs, consoleRec("target", fmt.Sprintf("line %d\r\n", i)))
	}
	e.appendLog(t, recs...)
	// The log now has 3 + 300 records; the last 100 lines are the last
	// 100 records.
	_, body, _ := e.get(bob, "/devices/d1")
	if want := fmt.Sprintf("events?console=1&amp;from=%d", 3+300-100); !strings.Contains(body, want) {
		t.Errorf("the console does not start at the last 100 lines (%s)", want)
	}
}

// TestReservationDisplay: who holds a device, until when, on the lab
// tables, and the job page of a reservation.
func TestReservationDisplay(t *testing.T) {
	e := newResEnv(t, labtest.Backends()[0], lab.VisibilityPublic)
	held := "reserved by alice until "
	for _, path := range []string{"/", "/devices", "/devices?device_type=qemu"} {
		if _, body, _ := e.get(bob, path); !strings.Contains(body, held) {
			t.Errorf("%s does not say %q", path, held)
		}
	}
	_, body, _ := e.get(bob, fmt.Sprintf("/jobs/%d", e.res))
	checkPage(t, "reservation's job page", body)
	for _, want := range []string{`A reservation of <a href="/devices/d1">d1</a> by <strong>alice</strong> until`, "bisect &lt;the&gt; bug",
		`<a href="/devices/d1#console">Its console</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the job page does not say %q", want)
		}
	}
	// The overview's live stream says it too.
	_, ch := e.stream(t, bob, "/overview/events", "")
	if ev := next(t, ch, "lab"); !strings.Contains(ev.Data, held) {
		t.Errorf("the overview stream does not say %q", held)
	}
	// Someone who may not see the reservation is not told who holds it.
	p := newResEnv(t, labtest.Backends()[0], lab.VisibilityPersonal)
	if _, body, _ := p.get(bob, "/"); strings.Contains(body, "reserved by") || !strings.Contains(body, "a private job") {
		t.Error("the overview shows bob a reservation he may not see")
	}
	if _, body, _ := p.get(alice, "/"); !strings.Contains(body, held) {
		t.Error("the overview does not show alice her own reservation")
	}
}

// TestReservationForms: reserve, extend and release from the device and
// job pages, offered to whom the app lets do them.
func TestReservationForms(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			l := labtest.NewLab(t, b, labtest.Config{})
			e := &env{Lab: l, worker: l.Principal(labtest.Worker)}
			_, err := l.App.Heartbeat(ctx, e.worker, "w1", "1.2.3")
			must(t, err)
			e.srv = l.Serve(web.New(l.App, nil))

			// Who is offered the reserve form.
			for who, want := range map[int]bool{anon: false, bob: true, alice: true, admin: true} {
				_, body, _ := e.get(who, "/devices/d1")
				checkPage(t, identNames[who]+"'s device page", body)
				if got := strings.Contains(body, `action="/devices/d1/reserve"`); got != want {
					t.Errorf("%s: reserve form %v, want %v", identNames[who], got, want)
				}
			}
			// Refused reservations change nothing.
			for _, c := range []struct {
				name string
				who  int
				form url.Values
				hdr  map[string]string
				code int
			}{
				{"anonymous", anon, url.Values{"duration": {"1h"}}, nil, 401},
				{"no duration", alice, url.Values{"reason": {"x"}}, nil, 400},
				{"not a duration", alice, url.Values{"duration": {"soon"}}, nil, 400},
				{"too long", alice, url.Values{"duration": {"1000h"}}, nil, 400},
				{"too short", alice, url.Values{"duration": {"10s"}}, nil, 400},
				{"cross-site", alice, url.Values{"duration": {"1h"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
			} {
				hdr := map[string]string{}
				if c.who != anon {
					hdr["Authorization"] = "Token " + e.Tokens[c.who]
				}
				for k, v := range c.hdr {
					hdr[k] = v
				}
				if resp, body := e.send("POST", "/devices/d1/reserve", "", c.form, hdr); resp.StatusCode != c.code {
					t.Errorf("reserve, %s: status %d, want %d\n%s", c.name, resp.StatusCode, c.code, body)
				}
			}
			if _, n, err := l.App.ListReservations(ctx, e.Principal(admin), app.ReservationFilter{}); err != nil || n != 0 {
				t.Fatalf("after refused reservations: %d, %v", n, err)
			}

			resp, body := e.post(alice, "/devices/d1/reserve", url.Values{"duration": {"2h"}, "reason": {"poke u-boot"}})
			if resp.StatusCode != 303 || resp.Header.Get("Location") != "/devices/d1#reservations" {
				t.Fatalf("alice reserves: status %d, to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			rs, _, err := l.App.ListReservations(ctx, e.Principal(admin), app.ReservationFilter{})
			must(t, err)
			if len(rs) != 1 || rs[0].Submitter != "alice" || rs[0].Reservation.Duration != 2*time.Hour || rs[0].Reservation.Reason != "poke u-boot" {
				t.Fatalf("reservations: %+v", rs)
			}
			id := rs[0].ID
			extend, release := fmt.Sprintf(`action="/jobs/%d/extend"`, id), fmt.Sprintf(`action="/jobs/%d/release"`, id)
			for who, manage := range map[int]bool{anon: false, bob: false, alice: true, admin: true} {
				for _, path := range []string{"/devices/d1", fmt.Sprintf("/jobs/%d", id)} {
					_, body, _ := e.get(who, path)
					checkPage(t, path, body)
					if !strings.Contains(body, "poke u-boot") {
						t.Errorf("%s: %s does not list the reservation", identNames[who], path)
					}
					if got := strings.Contains(body, extend) && strings.Contains(body, release); got != manage {
						t.Errorf("%s: %s: extend and release forms %v, want %v", identNames[who], path, got, manage)
					}
				}
			}

			// Extend: bob may not; alice does, back to the job page from it.
			if resp, body := e.post(bob, fmt.Sprintf("/jobs/%d/extend", id), url.Values{"by": {"30m"}}); resp.StatusCode != 403 {
				t.Errorf("bob extends alice's reservation: status %d\n%s", resp.StatusCode, body)
			}
			if resp, body := e.post(alice, fmt.Sprintf("/jobs/%d/extend", id), url.Values{"by": {"never"}}); resp.StatusCode != 400 {
				t.Errorf("extend by never: status %d\n%s", resp.StatusCode, body)
			}
			resp, body = e.post(alice, fmt.Sprintf("/jobs/%d/extend", id), url.Values{"by": {"30m"}, "back": {"job"}})
			if resp.StatusCode != 303 || resp.Header.Get("Location") != fmt.Sprintf("/jobs/%d", id) {
				t.Errorf("alice extends: status %d, to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if j := l.Job(id); j.Reservation.Duration != 150*time.Minute {
				t.Errorf("extended queued reservation lasts %s, want 2h30m", j.Reservation.Duration)
			}

			// It runs: the device page says who holds it until when.
			_, err = l.App.SchedulePass(ctx)
			must(t, err)
			_, err = l.App.StartJob(ctx, e.worker, id)
			must(t, err)
			_, body, _ = e.get(bob, "/devices/d1")
			if !strings.Contains(body, "reserved by alice until") || !strings.Contains(body, "held by alice — read-only") {
				t.Errorf("bob's device page during the reservation:\n%s", body)
			}

			// Release: bob may not; admin ends it.
			if resp, body := e.post(bob, fmt.Sprintf("/jobs/%d/release", id), nil); resp.StatusCode != 403 {
				t.Errorf("bob releases alice's reservation: status %d\n%s", resp.StatusCode, body)
			}
			resp, body = e.post(admin, fmt.Sprintf("/jobs/%d/release", id), nil)
			if resp.StatusCode != 303 || resp.Header.Get("Location") != "/devices/d1#reservations" {
				t.Errorf("admin releases: status %d, to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if j := l.Job(id); j.State != lab.JobCanceling || j.Reservation.EndedBy != "admin" {
				t.Errorf("released reservation: %s, ended by %q", j.State, j.Reservation.EndedBy)
			}
		})
	}
}

// TestPastSessions: once a reservation ended, its device's page links to
// its recorded console session (the job's log).
func TestPastSessions(t *testing.T) {
	e := newResEnv(t, labtest.Backends()[0], lab.VisibilityPublic)
	if _, body, _ := e.get(bob, "/devices/d1"); strings.Contains(body, "Past console sessions") {
		t.Error("the device page lists past sessions while the only one runs")
	}
	_, err := e.App.FinishJob(context.Background(), e.worker, e.res, app.JobOutcome{})
	must(t, err)
	_, body, _ := e.get(bob, "/devices/d1")
	checkPage(t, "device page after a reservation", body)
	for _, want := range []string{"Past console sessions", fmt.Sprintf(`<a href="/jobs/%d/log">its log</a>`, e.res), "bisect &lt;the&gt; bug"} {
		if !strings.Contains(body, want) {
			t.Errorf("the device page does not say %q", want)
		}
	}
}
