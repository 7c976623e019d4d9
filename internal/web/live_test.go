package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/web"
)

// sseEvent is one event read off a stream.
type sseEvent struct {
	Name, ID, Data string
}

// stream opens an SSE endpoint as who and returns its events as they
// arrive; the channel closes when the server ends the stream.
func (e *env) stream(t *testing.T, who int, path, lastID string) (int, <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
	must(t, err)
	if who != anon {
		req.Header.Set("Authorization", "Token "+e.Tokens[who])
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	ch := make(chan sseEvent, 100)
	if resp.StatusCode != 200 {
		resp.Body.Close()
		close(ch)
		return resp.StatusCode, ch
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("%s: Content-Type %q", path, ct)
	}
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var ev sseEvent
		var data []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if data != nil {
					ev.Data = strings.Join(data, "\n")
					ch <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[len("data: "):])
			}
		}
	}()
	return resp.StatusCode, ch
}

// next waits for the next event named name, skipping others.
func next(t *testing.T, ch <-chan sseEvent, name string) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended while waiting for %q", name)
			}
			if ev.Name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event within 10 s", name)
		}
	}
}

type gotLine struct {
	N     int    `json:"n"`
	Level string `json:"l"`
	Text  string `json:"m"`
}

func lines(t *testing.T, ev sseEvent) []gotLine {
	t.Helper()
	var out []gotLine
	must(t, json.Unmarshal([]byte(ev.Data), &out))
	return out
}

func logRec(msg string) string {
	return fmt.Sprintf(`{"dt":"2026-01-02T03:04:05Z","lvl":"info","msg":%q}`+"\n", msg)
}

func TestJobStream(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ctx := context.Background()
	_, err := e.App.StartJob(ctx, e.worker, e.privJob)
	must(t, err)
	path := fmt.Sprintf("/jobs/%d/events", e.privJob)

	// Visibility: the stream answers 404 exactly like the page.
	for _, who := range []int{anon, bob} {
		if code, _ := e.stream(t, who, path, ""); code != 404 {
			t.Errorf("%s: stream of a private job: status %d, want 404", identNames[who], code)
		}
	}

	code, ch := e.stream(t, alice, path, "")
	if code != 200 {
		t.Fatalf("alice's stream: status %d", code)
	}
	if st := next(t, ch, "state"); !strings.Contains(st.Data, `"state":"Running"`) {
		t.Errorf("first state event %q", st.Data)
	}
	// The line stored before connecting comes first, with id = lines sent.
	ev := next(t, ch, "lines")
	if got := lines(t, ev); ev.ID != "1" || len(got) != 1 || got[0].Text != "secret-line" || got[0].N != 0 {
		t.Fatalf("first lines event id %q: %+v", ev.ID, got)
	}
	// Lines appended after connecting are pushed.
	size, err := e.Logs.Size(context.Background(), e.privJob)
	must(t, err)
	_, err = e.Logs.Append(context.Background(), e.privJob, size, []byte(logRec("second")+logRec("third <b>")))
	must(t, err)
	ev = next(t, ch, "lines")
	got := lines(t, ev)
	for len(got) < 2 { // the two lines may come in two events
		more := next(t, ch, "lines")
		got, ev = append(got, lines(t, more)...), more
	}
	if ev.ID != "3" || got[0].N != 1 || got[1].Text != "third <b>" {
		t.Fatalf("pushed lines: id %q, %+v", ev.ID, got)
	}

	// Last-Event-ID resumes after the lines the browser has.
	_, ch2 := e.stream(t, alice, path, "2")
	ev = next(t, ch2, "lines")
	if got := lines(t, ev); len(got) != 1 || got[0].N != 2 || ev.ID != "3" {
		t.Fatalf("resumed at 2: id %q, %+v", ev.ID, got)
	}

	// Finishing the job ends both streams with its final state.
	_, err = e.App.FinishJob(ctx, e.worker, e.privJob, app.JobOutcome{})
	must(t, err)
	for _, c := range []<-chan sseEvent{ch, ch2} {
		end := next(t, c, "end")
		if !strings.Contains(end.Data, `"state":"Finished"`) || !strings.Contains(end.Data, `"health":"Complete"`) {
			t.Errorf("end event %q", end.Data)
		}
		select {
		case _, ok := <-c:
			if ok {
				t.Error("an event after end")
			}
		case <-time.After(5 * time.Second):
			t.Error("the stream did not close after end")
		}
	}
	// A finished job's stream sends what is left and ends at once.
	_, ch3 := e.stream(t, alice, path, "1")
	if got := lines(t, next(t, ch3, "lines")); len(got) != 2 {
		t.Errorf("finished job from 1: %+v", got)
	}
	next(t, ch3, "end")

	// A bad resume point is a 400, not a stream.
	if code, _ := e.stream(t, alice, path, "x"); code != 400 {
		t.Errorf("Last-Event-ID x: status %d", code)
	}
}

func TestOverviewStream(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	code, ch := e.stream(t, anon, "/overview/events", "")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	first := next(t, ch, "lab")
	if !strings.Contains(first.Data, `<h2 id="workers-h">Workers</h2>`) || !strings.Contains(first.Data, "a private job") {
		t.Fatalf("first overview event lacks the lab:\n%s", first.Data)
	}
	// A state change is pushed: the private job starts, then finishes, and
	// d1 is idle again.
	ctx := context.Background()
	_, err := e.App.StartJob(ctx, e.worker, e.privJob)
	must(t, err)
	_, err = e.App.FinishJob(ctx, e.worker, e.privJob, app.JobOutcome{})
	must(t, err)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("stream ended")
			}
			if ev.Name == "lab" && !strings.Contains(ev.Data, "a private job") {
				return // d1 no longer shows the job
			}
		case <-deadline:
			t.Fatal("no overview event showing d1 without its job")
		}
	}
}

// TestCloseStreams: closing the UI's streams ends open ones at once, so a
// server shutdown does not wait for open pages.
func TestCloseStreams(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ui := web.New(e.App, nil)
	e2 := *e
	e2.srv = httptest.NewServer(ui)
	t.Cleanup(e2.srv.Close)
	_, err := e.App.StartJob(context.Background(), e.worker, e.privJob)
	must(t, err)
	_, job := e2.stream(t, alice, fmt.Sprintf("/jobs/%d/events", e.privJob), "")
	_, lab := e2.stream(t, anon, "/overview/events", "")
	next(t, job, "lines")
	next(t, lab, "lab")
	ui.CloseStreams()
	for name, ch := range map[string]<-chan sseEvent{"job": job, "overview": lab} {
		select {
		case <-drain(ch):
		case <-time.After(5 * time.Second):
			t.Errorf("%s stream still open after CloseStreams", name)
		}
	}
}

// drain closes its result once ch is closed.
func drain(ch <-chan sseEvent) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	return done
}

// jobGets counts the store's reads of one job.
type jobGets struct {
	store.Store
	id atomic.Int64
	n  atomic.Int64
}

func (s *jobGets) GetJob(ctx context.Context, id int64) (lab.Job, error) {
	if id == s.id.Load() {
		s.n.Add(1)
	}
	return s.Store.GetJob(ctx, id)
}

// TestJobStreamReadsTheJobOnlyWhenItChanges: a live job page following a
// busy log reads the job (its visibility, its state) when it opens and
// when the job changes, not on every chunk of log lines it pushes.
func TestJobStreamReadsTheJobOnlyWhenItChanges(t *testing.T) {
	counted := &jobGets{}
	e := newEnvOver(t, labtest.Backends()[0], func(s store.Store) store.Store { counted.Store = s; return counted })
	ctx := context.Background()
	_, err := e.App.StartJob(ctx, e.worker, e.privJob)
	must(t, err)
	code, ch := e.stream(t, alice, fmt.Sprintf("/jobs/%d/events", e.privJob), "")
	if code != 200 {
		t.Fatalf("stream: %d", code)
	}
	next(t, ch, "state")
	seen := len(lines(t, next(t, ch, "lines")))
	counted.id.Store(e.privJob)
	const chunks = 30
	for i := range chunks {
		size, err := e.Logs.Size(context.Background(), e.privJob)
		must(t, err)
		_, err = e.Logs.Append(context.Background(), e.privJob, size, []byte(logRec(fmt.Sprintf("chunk %d", i))))
		must(t, err)
		for seen < i+2 { // wait for it to be pushed before the next one
			seen += len(lines(t, next(t, ch, "lines")))
		}
	}
	if n := counted.n.Load(); n > 2 {
		t.Errorf("%d reads of the job while pushing %d chunks, want at most 2 (its changes only)", n, chunks)
	}
	// The job changing is read, and pushed.
	_, err = e.App.FinishJob(ctx, e.worker, e.privJob, app.JobOutcome{})
	must(t, err)
	if end := next(t, ch, "end"); !strings.Contains(end.Data, `"state":"Finished"`) {
		t.Errorf("end %q", end.Data)
	}
}
