package workerapi_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/workerapi"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

func TestMain(m *testing.M) { labtest.Main(m) }

type env struct {
	t       testing.TB
	handler http.Handler
	app     *app.App
	srv     *httptest.Server
	logs    *logstore.Store
	admin   auth.Principal
	wtoken  string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logs, err := logstore.Open(t.TempDir())
	must(t, err)
	t.Cleanup(func() { logs.Close() })
	a := app.New(labtest.Backends()[0].Open(t), app.Config{Logs: logs})
	must(t, a.Bootstrap(ctx))
	u, err := a.CreateSuperuser(ctx, "admin", "", "")
	must(t, err)
	adm, err := auth.UserPrincipal(u)
	must(t, err)
	ws := workerapi.New(a, nil, 200*time.Millisecond)
	go ws.Run(ctx)
	go a.Run(ctx)
	srv := httptest.NewServer(ws)
	t.Cleanup(srv.Close)
	must(t, a.CreateDeviceType(ctx, adm, lab.DeviceType{Name: "sim"}))
	tok, err := a.CreateWorker(ctx, adm, lab.Worker{Name: "w1"})
	must(t, err)
	must(t, a.CreateDevice(ctx, adm, lab.Device{Hostname: "d1", DeviceType: "sim", Worker: "w1", Health: lab.DeviceGood}, "t"))
	return &env{t: t, handler: ws, app: a, srv: srv, logs: logs, admin: adm, wtoken: tok}
}

// waitScheduled waits until the scheduler loop has scheduled job id.
func (e *env) waitScheduled(id int64) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, _ := e.app.Store().GetJob(context.Background(), id)
		if j.State == lab.JobScheduled {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %d not scheduled", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) req(method, path, token, body string) (int, []byte) {
	e.t.Helper()
	r, _ := http.NewRequest(method, e.srv.URL+wp.Prefix+path, strings.NewReader(body))
	r.Header.Set(wp.VersionHeader, strconv.Itoa(wp.Version))
	if token != "" {
		r.Header.Set("Authorization", "Token "+token)
	}
	resp, err := http.DefaultClient.Do(r)
	must(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// connect opens the stream and returns a channel of its frames.
func (e *env) connect(token string) (<-chan wp.Frame, func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+wp.Prefix+wp.PathConnect+"?name=w1&version=test", nil)
	r.Header.Set(wp.VersionHeader, strconv.Itoa(wp.Version))
	r.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(r)
	must(e.t, err)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("connect: %d %s", resp.StatusCode, b)
	}
	ch := make(chan wp.Frame, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var f wp.Frame
			if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
				e.t.Errorf("bad frame %q: %v", sc.Text(), err)
				return
			}
			ch <- f
		}
	}()
	return ch, cancel
}

func next(t *testing.T, ch <-chan wp.Frame, want wp.FrameType) wp.Frame {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-ch:
			if !ok {
				t.Fatalf("stream closed waiting for %s", want)
			}
			if f.Type == want {
				return f
			}
		case <-deadline:
			t.Fatalf("no %s frame", want)
		}
	}
}

const jobYAML = `job_name: sim
device_type: sim
visibility: public
timeouts:
  job: {minutes: 7}
actions:
- boot:
    method: minimal
    prompts: ["/ # "]
`

// TestJobThroughTheLink: a job submitted while the worker is connected is
// pushed to it, started, its log uploaded idempotently, and finished only
// with a matching checksum.
func TestJobThroughTheLink(t *testing.T) {
	e := newEnv(t)
	frames, stop := e.connect(e.wtoken)
	defer stop()
	hello := next(t, frames, wp.FrameHello)
	if hello.Hello.Protocol != wp.Version || len(hello.Hello.Jobs) != 0 || hello.Hello.HeartbeatInterval != 200*time.Millisecond {
		t.Fatalf("hello %+v", hello.Hello)
	}
	u, _ := e.app.Store().GetUser(context.Background(), "admin")
	p, _ := auth.UserPrincipal(u)
	ids, _, err := e.app.SubmitJob(context.Background(), p, jobYAML)
	must(t, err)
	as := next(t, frames, wp.FrameAssign).Assign
	if as.JobID != ids[0] || as.Device.Hostname != "d1" || as.Timeout != 7*time.Minute || as.JobToken == "" || as.Definition != jobYAML {
		t.Fatalf("assign %+v", as)
	}
	id := as.JobID
	if st, b := e.req("POST", fmt.Sprintf("/jobs/%d/start", id), e.wtoken, ""); st != 200 {
		t.Fatalf("start: %d %s", st, b)
	}
	if st, _ := e.req("POST", fmt.Sprintf("/jobs/%d/start", id), e.wtoken, ""); st != 200 {
		t.Fatalf("repeated start: %d", st)
	}
	rec, _ := wp.EncodeRecord(wp.Record{Time: time.Now().UTC(), Level: wp.LevelInfo, Msg: wp.TextMsg("hello")})
	res, _ := wp.EncodeRecord(wp.Record{Time: time.Now().UTC(), Level: wp.LevelResults,
		Msg: json.RawMessage(`{"definition":"0_t","case":"c1","result":"pass"}`)})
	journal := append(append([]byte{}, rec...), res...)
	put := func(off int, data []byte) (int, wp.LogAck) {
		st, b := e.req("PUT", fmt.Sprintf("/jobs/%d/log?offset=%d", id, off), e.wtoken, string(data))
		var ack wp.LogAck
		json.Unmarshal(b, &ack)
		return st, ack
	}
	if st, ack := put(0, journal[:10]); st != 200 || ack.Stored != 10 {
		t.Fatalf("first chunk: %d %+v", st, ack)
	}
	if st, ack := put(len(journal)-5, journal[len(journal)-5:]); st != 409 || ack.Stored != 10 {
		t.Fatalf("gap: %d %+v, want 409 stored 10", st, ack)
	}
	if st, ack := put(0, journal); st != 200 || ack.Stored != int64(len(journal)) {
		t.Fatalf("resend from 0: %d %+v", st, ack)
	}
	if st, ack := put(0, journal); st != 200 || ack.Stored != int64(len(journal)) {
		t.Fatalf("duplicate: %d %+v", st, ack)
	}
	sum := sha256.Sum256(journal)
	fin := func(size int, sha string) (int, []byte) {
		b, _ := json.Marshal(wp.Finish{Result: "pass", LogSize: int64(size), LogSHA256: sha})
		return e.req("POST", fmt.Sprintf("/jobs/%d/finish", id), e.wtoken, string(b))
	}
	if st, b := fin(len(journal)+7, hex.EncodeToString(sum[:])); st != 409 || !strings.Contains(string(b), wp.CodeLogMismatch) {
		t.Fatalf("finish with a longer journal: %d %s", st, b)
	}
	st, b := fin(len(journal), hex.EncodeToString(sum[:]))
	var ack wp.FinishAck
	json.Unmarshal(b, &ack)
	if st != 200 || ack.State != "Finished" || ack.Health != "Complete" {
		t.Fatalf("finish: %d %s", st, b)
	}
	if st, _ := fin(len(journal), hex.EncodeToString(sum[:])); st != 200 {
		t.Errorf("repeated finish: %d, want 200", st)
	}
	j, _ := e.app.Store().GetJob(context.Background(), id)
	if j.State != lab.JobFinished || j.Health != lab.JobHealthComplete {
		t.Errorf("job %s %s", j.State, j.Health)
	}
	if _, err := e.app.Store().TokenByHash(context.Background(), auth.HashSecret(as.JobToken)); err == nil {
		t.Error("the job token outlived the job")
	}
}

// TestReconnectResendsAssignments: a job scheduled while the worker was
// away is in the next hello and assigned again; a cancel is pushed.
func TestReconnectResendsAssignments(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.app.Heartbeat(ctx, auth.WorkerPrincipal("w1"), "w1", "x")
	must(t, err)
	u, _ := e.app.Store().GetUser(ctx, "admin")
	p, _ := auth.UserPrincipal(u)
	ids, _, err := e.app.SubmitJob(ctx, p, jobYAML)
	must(t, err)
	e.waitScheduled(ids[0])
	frames, stop := e.connect(e.wtoken)
	defer stop()
	hello := next(t, frames, wp.FrameHello)
	if len(hello.Hello.Jobs) != 1 || hello.Hello.Jobs[0] != ids[0] {
		t.Fatalf("hello jobs %v", hello.Hello.Jobs)
	}
	if as := next(t, frames, wp.FrameAssign).Assign; as.JobID != ids[0] {
		t.Fatalf("assign %+v", as)
	}
	_, err = e.app.CancelJob(ctx, p, ids[0])
	must(t, err)
	if c := next(t, frames, wp.FrameCancel).Cancel; c.JobID != ids[0] {
		t.Fatalf("cancel %+v", c)
	}
	next(t, frames, wp.FramePing)
	// the heartbeat says the same
	st, b := e.req("POST", wp.PathHeartbeat, e.wtoken, fmt.Sprintf(`{"name":"w1","version":"x","jobs":[%d]}`, ids[0]))
	var hb wp.HeartbeatAck
	json.Unmarshal(b, &hb)
	if st != 200 || len(hb.Cancel) != 1 || hb.Cancel[0] != ids[0] {
		t.Errorf("heartbeat: %d %s", st, b)
	}
}

// TestAccess: protocol version, credentials and least privilege.
func TestAccess(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other, err := e.app.CreateWorker(ctx, e.admin, lab.Worker{Name: "w2"})
	must(t, err)
	_, userTok, err := e.app.CreateToken(ctx, e.admin, "admin", "t", time.Time{})
	must(t, err)

	// The versions served are MinVersion to Version (N-1 compatibility for
	// rolling upgrades); anything else, or a malformed header, is refused.
	versions := []struct {
		header string
		ok     bool
	}{
		{strconv.Itoa(wp.Version), true}, {strconv.Itoa(wp.MinVersion), true},
		{strconv.Itoa(wp.MinVersion - 1), false}, {strconv.Itoa(wp.Version + 1), false}, {"99", false},
		{"", false}, {"0" + strconv.Itoa(wp.Version), false}, {strconv.Itoa(wp.Version) + ".0", false}, {"one", false},
	}
	for _, v := range versions {
		r, _ := http.NewRequest("POST", e.srv.URL+wp.Prefix+wp.PathHeartbeat, strings.NewReader(`{"name":"w1","version":"test","jobs":[]}`))
		if v.header != "" {
			r.Header.Set(wp.VersionHeader, v.header)
		}
		r.Header.Set("Authorization", "Token "+e.wtoken)
		resp, err := http.DefaultClient.Do(r)
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		refused := resp.StatusCode == 409 && strings.Contains(string(b), wp.CodeProtocolMismatch)
		if v.ok && resp.StatusCode != 200 {
			t.Errorf("protocol %q refused: %d %s", v.header, resp.StatusCode, b)
		}
		if !v.ok && (!refused || resp.Header.Get(wp.VersionHeader) != strconv.Itoa(wp.Version)) {
			t.Errorf("protocol %q: %d %s (want 409 %s naming the server's version)", v.header, resp.StatusCode, b, wp.CodeProtocolMismatch)
		}
		if v.header == "99" && !strings.Contains(string(b), "protocol 99") {
			t.Errorf("the refusal does not name the worker's version: %s", b)
		}
	}
	cases := []struct {
		name, token string
		want        int
	}{
		{"no token", "", 401},
		{"bad token", "bst_nope", 401},
		{"admin user token", userTok, 403},
		{"other worker", other, 403},
		{"own token", e.wtoken, 200},
	}
	for _, c := range cases {
		if st, b := e.req("POST", wp.PathHeartbeat, c.token, `{"name":"w1","version":"x","jobs":[]}`); st != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, st, b, c.want)
		}
	}
}

// TestJoin: a join token works once, for its worker only.
func TestJoin(t *testing.T) {
	e := newEnv(t)
	join, err := e.app.CreateJoinToken(context.Background(), e.admin, "w1", time.Hour)
	must(t, err)
	if st, _ := e.req("POST", wp.PathJoin, "", fmt.Sprintf(`{"name":"w2","join_token":%q}`, join)); st != 401 {
		t.Errorf("join as another worker: %d", st)
	}
	// that attempt did not spend it? It did not match the owner, so it is intact.
	st, b := e.req("POST", wp.PathJoin, "", fmt.Sprintf(`{"name":"w1","join_token":%q}`, join))
	var jr wp.JoinResponse
	json.Unmarshal(b, &jr)
	if st != 200 || jr.Token == "" {
		t.Fatalf("join: %d %s", st, b)
	}
	if st, _ := e.req("POST", wp.PathHeartbeat, jr.Token, `{"name":"w1","version":"x","jobs":[]}`); st != 200 {
		t.Errorf("joined token: %d", st)
	}
	if st, _ := e.req("POST", wp.PathJoin, "", fmt.Sprintf(`{"name":"w1","join_token":%q}`, join)); st != 401 {
		t.Errorf("second use of a join token: %d, want 401", st)
	}
	if st, _ := e.req("POST", wp.PathHeartbeat, join, `{"name":"w1","version":"x","jobs":[]}`); st != 401 {
		t.Errorf("join token as a credential: %d, want 401", st)
	}
}

// FuzzWorkerAPI sends arbitrary requests at the worker endpoints with a
// valid worker token: never a 5xx, errors always in the documented shape.
func FuzzWorkerAPI(f *testing.F) {
	f.Add("POST", wp.PathHeartbeat, `{"name":"w1","version":"x","jobs":[1,2]}`)
	f.Add("PUT", "/jobs/1/log?offset=0", "{\"dt\":\"x\"}\n")
	f.Add("PUT", "/jobs/1/log?offset=-1", "")
	f.Add("POST", "/jobs/1/finish", `{"result":"pass","log_size":0,"log_sha256":""}`)
	f.Add("POST", "/jobs/1/finish", `{"result":"maybe"}`)
	f.Add("POST", "/jobs/99999999999999999999/start", "")
	f.Add("POST", wp.PathJoin, `{"name":"w1","join_token":"x"}`)
	f.Add("GET", "/jobs/1/console?after=0&hold=1ms", "")
	f.Add("GET", "/jobs/1/console?after=-1&hold=soon", "")
	fe := newEnv(f)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if path == wp.PathConnect || strings.HasPrefix(path, wp.PathConnect+"?") {
			return // the stream: it does not end
		}
		rec, ok := labtest.ServeFuzzed(t, fe.handler, method, wp.Prefix, path, body,
			wp.VersionHeader, strconv.Itoa(wp.Version), "Authorization", "Token "+fe.wtoken)
		if !ok {
			return
		}
		if rec.Code >= 400 {
			var eb wp.ErrorBody
			if json.Unmarshal(rec.Body.Bytes(), &eb) != nil || eb.Error.Code == "" {
				t.Fatalf("%s %s: error not in shape: %s", method, path, rec.Body.String())
			}
		}
	})
}

// TestJobMissingFromWorker: a Running job the worker's heartbeats no longer
// list (its data was lost) is finished Incomplete after the grace period,
// once two heartbeats in a row missed it: one alone may carry a list made
// before the worker took the job up (sent again to this replica after
// another failed, or held up on its way).
func TestJobMissingFromWorker(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	frames, stop := e.connect(e.wtoken)
	defer stop()
	next(t, frames, wp.FrameHello)
	ids, _, err := e.app.SubmitJob(ctx, e.admin, jobYAML)
	must(t, err)
	next(t, frames, wp.FrameAssign)
	if st, b := e.req("POST", fmt.Sprintf("/jobs/%d/start", ids[0]), e.wtoken, ""); st != 200 {
		t.Fatalf("start: %d %s", st, b)
	}
	hb := func(jobs string) {
		if st, b := e.req("POST", wp.PathHeartbeat, e.wtoken, `{"name":"w1","version":"x","jobs":`+jobs+`}`); st != 200 {
			t.Fatalf("heartbeat: %d %s", st, b)
		}
	}
	hb("[]") // within the grace period: nothing happens
	if j, _ := e.app.Store().GetJob(ctx, ids[0]); j.State != lab.JobRunning {
		t.Fatalf("job %s right after start", j.State)
	}
	time.Sleep(700 * time.Millisecond) // grace is 3 × 200 ms
	hb(fmt.Sprintf("[%d]", ids[0]))    // still listed: nothing happens
	if j, _ := e.app.Store().GetJob(ctx, ids[0]); j.State != lab.JobRunning {
		t.Fatalf("job %s while the worker lists it", j.State)
	}
	running := func(what string) {
		t.Helper()
		if j, _ := e.app.Store().GetJob(ctx, ids[0]); j.State != lab.JobRunning {
			t.Fatalf("job %s %s", j.State, what)
		}
	}
	hb("[]") // a list that may be stale
	running("after one heartbeat without it")
	hb(fmt.Sprintf("[%d]", ids[0]))
	hb("[]")
	running("after a heartbeat without it that followed one with it")
	hb("[]")
	j, _ := e.app.Store().GetJob(ctx, ids[0])
	if j.State != lab.JobFinished || j.Health != lab.JobHealthIncomplete || j.ErrorType != lab.ErrorInfrastructure {
		t.Errorf("job missing from its worker: %s %s %s", j.State, j.Health, j.ErrorType)
	}
}

// TestStaleAssignmentPushedAgain: an assignment the worker never took up
// (the frame was lost) is pushed again after a heartbeat that does not
// list the job, once three heartbeat intervals have passed.
func TestStaleAssignmentPushedAgain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	frames, stop := e.connect(e.wtoken)
	defer stop()
	next(t, frames, wp.FrameHello)
	ids, _, err := e.app.SubmitJob(ctx, e.admin, jobYAML)
	must(t, err)
	first := next(t, frames, wp.FrameAssign).Assign
	hb := func() {
		if st, b := e.req("POST", wp.PathHeartbeat, e.wtoken, `{"name":"w1","version":"x","jobs":[]}`); st != 200 {
			t.Fatalf("heartbeat: %d %s", st, b)
		}
	}
	hb() // too soon to push again
	time.Sleep(700 * time.Millisecond)
	hb()
	again := next(t, frames, wp.FrameAssign).Assign
	if again.JobID != ids[0] || first.JobID != ids[0] {
		t.Fatalf("assignments %d then %d, want %d twice", first.JobID, again.JobID, ids[0])
	}
}

// TestLiveTail: reading a job's log with a wait returns as soon as a line
// arrives, without polling.
func TestLiveTail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	frames, stop := e.connect(e.wtoken)
	defer stop()
	next(t, frames, wp.FrameHello)
	ids, _, err := e.app.SubmitJob(ctx, e.admin, jobYAML)
	must(t, err)
	id := next(t, frames, wp.FrameAssign).Assign.JobID
	got := make(chan int, 1)
	go func() {
		lines, _, err := e.app.JobLog(ctx, e.admin, id, 0, 100, time.Minute)
		if err != nil {
			t.Error(err)
		}
		got <- len(lines)
	}()
	time.Sleep(100 * time.Millisecond) // let the reader block first
	rec, _ := wp.EncodeRecord(wp.Record{Time: time.Now().UTC(), Level: wp.LevelInfo, Msg: wp.TextMsg("first")})
	if st, b := e.req("PUT", fmt.Sprintf("/jobs/%d/log?offset=0", id), e.wtoken, string(rec)); st != 200 {
		t.Fatalf("upload: %d %s", st, b)
	}
	select {
	case n := <-got:
		if n != 1 || id != ids[0] {
			t.Errorf("live tail returned %d lines", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting reader was not woken by the upload")
	}
}

// TestWorkerGoneNotLogged: a request whose worker went away (its context
// ended: the worker moved to another replica) fails with the context's
// error, which is no bug of the server and is not logged as one.
func TestWorkerGoneNotLogged(t *testing.T) {
	e := newEnv(t)
	var buf syncbuf.Buffer
	ws := workerapi.New(e.app, slog.New(slog.NewTextHandler(&buf, nil)), time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, "PUT", wp.Prefix+"/jobs/1/log?offset=0", strings.NewReader("x\n"))
	r.Header.Set(wp.VersionHeader, strconv.Itoa(wp.Version))
	r.Header.Set("Authorization", "Token "+e.wtoken)
	rec := httptest.NewRecorder()
	ws.ServeHTTP(rec, r)
	if rec.Code < 500 {
		t.Fatalf("a request of a worker gone: %d %s, want it failed", rec.Code, rec.Body)
	}
	if strings.Contains(buf.String(), "worker request failed") {
		t.Errorf("a request of a worker gone was logged as a failure:\n%s", buf.String())
	}
}

// TestAssignWhileConnecting: a job scheduled while its worker's stream is
// being opened — after the server read the worker's jobs for the hello,
// before the hello is written — reaches the worker on that stream at once
// (it was pushed to no stream, and missing from the hello, until the
// stream was registered before the read: found with replicas, where a
// worker moving to another server reconnects while jobs are scheduled).
func TestAssignWhileConnecting(t *testing.T) {
	e := newEnv(t)
	ws := e.handler.(*workerapi.Server)
	var id atomic.Int64
	workerapi.OnJobsRead(ws, func(string) {
		if id.Load() != 0 {
			return
		}
		ids, _, err := e.app.SubmitJob(context.Background(), e.admin, jobYAML)
		if err != nil {
			t.Error(err)
			return
		}
		id.Store(ids[0])
		deadline := time.Now().Add(10 * time.Second)
		for !workerapi.Pushed(ws, ids[0]) { // its Scheduled event handled
			if time.Now().After(deadline) {
				t.Error("the job's assignment was never pushed")
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	frames, stop := e.connect(e.wtoken)
	defer stop()
	hello := next(t, frames, wp.FrameHello)
	if id.Load() == 0 || slices.Contains(hello.Hello.Jobs, id.Load()) {
		t.Fatalf("the job was not scheduled in the window (job %d, hello %v)", id.Load(), hello.Hello.Jobs)
	}
	// no heartbeat is sent: a lost push would never be repeated
	if as := next(t, frames, wp.FrameAssign).Assign; as.JobID != id.Load() {
		t.Fatalf("assigned job %d, want %d", as.JobID, id.Load())
	}
}

// TestConsoleCall: the worker's console call hands over what the holder
// typed after the number it names, as base64 data and power actions;
// bad parameters are 400, another worker's or a finished session's call
// 404 (the worker stops asking).
func TestConsoleCall(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st := e.app.Store()
	id, err := st.CreateJob(ctx, lab.Job{Description: "reservation of d1", Submitter: "admin", Priority: lab.PriorityMedium,
		RequestedType: "sim", RequestedDevice: "d1", SubmitTime: time.Now(), Definition: jobYAML,
		Reservation: &lab.Reservation{Duration: time.Hour}})
	must(t, err)
	_, err = st.TransitionJob(ctx, store.JobTransition{ID: id, From: []lab.JobState{lab.JobSubmitted}, To: lab.JobScheduled, Device: "d1"})
	must(t, err)
	_, err = st.TransitionJob(ctx, store.JobTransition{ID: id, From: []lab.JobState{lab.JobScheduled}, To: lab.JobRunning, At: time.Now()})
	must(t, err)
	other, err := e.app.CreateWorker(ctx, e.admin, lab.Worker{Name: "w2"})
	must(t, err)
	path := fmt.Sprintf(wp.PathConsole, id)

	get := func(query, token string) (int, wp.ConsoleInputs) {
		t.Helper()
		status, b := e.req("GET", path+query, token, "")
		var out wp.ConsoleInputs
		if status == 200 {
			must(t, json.Unmarshal(b, &out))
		}
		return status, out
	}
	if status, out := get("?after=0", e.wtoken); status != 200 || len(out.Inputs) != 0 {
		t.Fatalf("no input yet: %d %+v", status, out)
	}
	_, err = e.app.ConsoleInput(ctx, e.admin, id, []byte{'l', 's', '\r', 0xff}, "")
	must(t, err)
	_, err = e.app.ConsoleInput(ctx, e.admin, id, nil, lab.PowerOff)
	must(t, err)
	status, out := get("?after=0&hold=1s", e.wtoken)
	if status != 200 || len(out.Inputs) != 2 || string(out.Inputs[0].Data) != "ls\r\xff" || out.Inputs[0].User != "admin" ||
		out.Inputs[1].Seq != 2 || out.Inputs[1].Power != wp.PowerOff {
		t.Errorf("inputs: %d %+v", status, out)
	}
	if status, out := get("?after=1", e.wtoken); status != 200 || len(out.Inputs) != 1 || out.Inputs[0].Seq != 2 {
		t.Errorf("inputs after 1: %d %+v", status, out)
	}
	for _, c := range []struct {
		query, token string
		want         int
	}{
		{"?after=-1", e.wtoken, 400},
		{"?after=x", e.wtoken, 400},
		{"?hold=soon", e.wtoken, 400},
		{"?hold=-1s", e.wtoken, 400},
		{"?after=0", other, 404},
		{"?after=0", "", 401},
	} {
		if status, _ := get(c.query, c.token); status != c.want {
			t.Errorf("%s with token %q: %d, want %d", c.query, c.token, status, c.want)
		}
	}
	_, err = st.TransitionJob(ctx, store.JobTransition{ID: id, From: []lab.JobState{lab.JobRunning}, To: lab.JobFinished, Health: lab.JobHealthComplete})
	must(t, err)
	if status, _ := get("?after=2", e.wtoken); status != 404 {
		t.Errorf("finished session: %d, want 404", status)
	}
}
