package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// fakeServer implements the server side of the worker protocol in memory,
// with the log rules of workerproto.LogAck: appends idempotent by offset,
// 409 log_gap beyond the stored size, finish accepted only for an identical
// log.
type fakeServer struct {
	t       testing.TB
	srv     *httptest.Server
	URL     string
	accepts atomic.Int64 // TCP connections accepted

	mu         sync.Mutex
	token      string
	joinTokens map[string]string // join token → worker name
	interval   time.Duration
	noPings    bool   // stall: streams stay open but silent after the hello
	protocol   string // the version this server speaks; default workerproto.Version
	noVersion  bool   // a mismatch answer without the server's VersionHeader
	jobs       map[int64]*fakeJob
	streams    map[*fakeStream]bool
	connects   int
	beats      []workerproto.Heartbeat
	requests   map[string]int // "PUT log" → count
	protos     map[string]int // HTTP/2.0 → count
	// logHook runs after an upload was stored, before the answer; it may
	// panic(http.ErrAbortHandler) to lose the answer.
	logHook     func(id int64, stored int)
	cancelByHB  bool           // cancel only through heartbeat answers, no cancel frame
	finishFail  int            // when set, finish answers this status
	logFail     int            // when set, log uploads answer this status (nothing stored)
	connectFail int            // when set, the stream answers this status
	forbidden   map[int64]bool // jobs moved to another worker: 403 on their endpoints
	closing     chan struct{}
	// multinode records the coordinator calls relayed, per job;
	// multinodeFail answers that many of them 503 first.
	multinode     map[int64][]workerproto.MultinodeRequest
	multinodeFail int
	// console is the console input of each console session
	console map[int64]*fakeConsole
}

// fakeConsole is a console session's input on the server.
type fakeConsole struct {
	inputs []workerproto.ConsoleInput
	afters []int64 // the after= of every poll, in order
	gone   bool    // the job is no longer the worker's: 410
	resend bool    // the next answer ignores after= and sends every input
	wake   chan struct{}
}

type fakeJob struct {
	assign   workerproto.Assign
	state    string // Scheduled Running Canceling Finished
	starts   int
	log      []byte
	finish   *workerproto.Finish
	finishes int
	uploads  int
}

type fakeStream struct {
	replica *fakeReplica // the replica serving it; nil: the fakeServer itself
	frames  chan workerproto.Frame
	drop    chan struct{}
	once    sync.Once
}

func (s *fakeStream) close() { s.once.Do(func() { close(s.drop) }) }

func newFakeServer(t testing.TB) *fakeServer { return startFakeServer(t, false) }

// newFakeServerTLS serves HTTPS (HTTP/2 by ALPN).
func newFakeServerTLS(t testing.TB) *fakeServer { return startFakeServer(t, true) }

func startFakeServer(t testing.TB, tls bool) *fakeServer {
	fs := &fakeServer{t: t, token: "wtok", joinTokens: map[string]string{}, interval: 200 * time.Millisecond,
		jobs: map[int64]*fakeJob{}, streams: map[*fakeStream]bool{}, requests: map[string]int{},
		protos: map[string]int{}, closing: make(chan struct{})}
	srv := httptest.NewUnstartedServer(fs.handler())
	srv.Listener = &countingListener{Listener: srv.Listener, n: &fs.accepts}
	if tls {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = &p
		srv.Start()
	}
	fs.srv, fs.URL = srv, srv.URL
	t.Cleanup(fs.close)
	return fs
}

func (fs *fakeServer) close() {
	select {
	case <-fs.closing:
		return
	default:
	}
	close(fs.closing)
	fs.srv.CloseClientConnections()
	fs.srv.Close()
}

// caFile writes the TLS server's certificate as a PEM file.
func (fs *fakeServer) caFile() string {
	p := filepath.Join(fs.t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fs.srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		fs.t.Fatal(err)
	}
	return p
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func writeErr(w http.ResponseWriter, status int, code, msg string, stored *int64) {
	var body struct {
		workerproto.ErrorBody
		Stored *int64 `json:"stored,omitempty"`
	}
	body.Error.Code, body.Error.Message, body.Stored = code, msg, stored
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (fs *fakeServer) handler() http.Handler {
	mux := http.NewServeMux()
	p := workerproto.Prefix
	mux.HandleFunc("POST "+p+workerproto.PathJoin, fs.join)
	mux.HandleFunc("GET "+p+workerproto.PathConnect, fs.connect)
	mux.HandleFunc("POST "+p+workerproto.PathHeartbeat, fs.heartbeat)
	mux.HandleFunc("POST "+p+"/jobs/{id}/start", fs.start)
	mux.HandleFunc("PUT "+p+"/jobs/{id}/log", fs.appendLog)
	mux.HandleFunc("POST "+p+"/jobs/{id}/finish", fs.finishJob)
	mux.HandleFunc("POST "+p+"/jobs/{id}/multinode", fs.multinodeCall)
	mux.HandleFunc("GET "+p+"/jobs/{id}/console", fs.consolePoll)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.protos[r.Proto]++
		want := fs.protocol
		tok := fs.token
		fs.mu.Unlock()
		if want == "" {
			want = strconv.Itoa(workerproto.Version)
		}
		if got := r.Header.Get(workerproto.VersionHeader); got != want {
			fs.mu.Lock()
			if !fs.noVersion {
				w.Header().Set(workerproto.VersionHeader, want)
			}
			fs.mu.Unlock()
			writeErr(w, http.StatusConflict, workerproto.CodeProtocolMismatch,
				fmt.Sprintf("worker speaks protocol %s, this server speaks protocol %s", got, want), nil)
			return
		}
		if !strings.HasSuffix(r.URL.Path, workerproto.PathJoin) && r.Header.Get("Authorization") != "Token "+tok {
			writeErr(w, http.StatusUnauthorized, "unauthenticated", "bad token", nil)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (fs *fakeServer) count(what string) {
	fs.mu.Lock()
	fs.requests[what]++
	fs.mu.Unlock()
}

func (fs *fakeServer) requestCount(what string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.requests[what]
}

func (fs *fakeServer) join(w http.ResponseWriter, r *http.Request) {
	fs.count("join")
	var in workerproto.JoinRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeErr(w, http.StatusBadRequest, "invalid", err.Error(), nil)
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.joinTokens[in.JoinToken] != in.Name {
		writeErr(w, http.StatusUnauthorized, "unauthenticated", "invalid join token", nil)
		return
	}
	delete(fs.joinTokens, in.JoinToken)
	writeJSON(w, http.StatusOK, workerproto.JoinResponse{Name: in.Name, Token: fs.token})
}

func (fs *fakeServer) connect(w http.ResponseWriter, r *http.Request) {
	st := &fakeStream{frames: make(chan workerproto.Frame, 64), drop: make(chan struct{})}
	st.replica, _ = r.Context().Value(replicaKey{}).(*fakeReplica)
	fs.mu.Lock()
	fs.connects++
	fs.requests["connect"]++
	if fs.connectFail != 0 {
		status := fs.connectFail
		fs.mu.Unlock()
		writeErr(w, status, failCode(status), "stream refused by the test", nil)
		return
	}
	fs.streams[st] = true
	hello := workerproto.Hello{ServerVersion: "fake", Protocol: workerproto.Version, HeartbeatInterval: fs.interval, Jobs: []int64{}}
	var first []workerproto.Frame
	for _, id := range fs.sortedJobs() {
		j := fs.jobs[id]
		if j.state == "Finished" {
			continue
		}
		hello.Jobs = append(hello.Jobs, id)
		switch j.state {
		case "Scheduled":
			a := j.assign
			first = append(first, workerproto.Frame{Type: workerproto.FrameAssign, Assign: &a})
		case "Canceling":
			if !fs.cancelByHB {
				first = append(first, workerproto.Frame{Type: workerproto.FrameCancel, Cancel: &workerproto.Cancel{JobID: id}})
			}
		}
	}
	interval, pings := fs.interval, !fs.noPings
	fs.mu.Unlock()
	defer func() {
		fs.mu.Lock()
		delete(fs.streams, st)
		fs.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	write := func(f workerproto.Frame) bool {
		f.Time = time.Now().UTC()
		return enc.Encode(f) == nil && rc.Flush() == nil
	}
	if !write(workerproto.Frame{Type: workerproto.FrameHello, Hello: &hello}) {
		return
	}
	for _, f := range first {
		if !write(f) {
			return
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-fs.closing:
			return
		case <-st.drop:
			return
		case f := <-st.frames:
			if !write(f) {
				return
			}
		case <-tick.C:
			if pings && !write(workerproto.Frame{Type: workerproto.FramePing}) {
				return
			}
		}
	}
}

func (fs *fakeServer) sortedJobs() []int64 {
	ids := make([]int64, 0, len(fs.jobs))
	for id := range fs.jobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// broadcastLocked sends a frame on every open stream; fs.mu is held.
func (fs *fakeServer) broadcastLocked(f workerproto.Frame) {
	for st := range fs.streams {
		select {
		case st.frames <- f:
		default:
			st.close()
		}
	}
}

// assign places a job whose fake process runs script on device.
func (fs *fakeServer) assign(id int64, device, script string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	a := workerproto.Assign{JobID: id, Definition: script, JobToken: "job-secret",
		Device: workerproto.Device{Hostname: device, DeviceType: "fake"}}
	fs.jobs[id] = &fakeJob{assign: a, state: "Scheduled"}
	fs.broadcastLocked(workerproto.Frame{Type: workerproto.FrameAssign, Assign: &a})
}

// resend sends a job's assignment again (a duplicate).
func (fs *fakeServer) resend(id int64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	a := fs.jobs[id].assign
	fs.broadcastLocked(workerproto.Frame{Type: workerproto.FrameAssign, Assign: &a})
}

// cancel cancels a job: Canceling, and a cancel frame unless cancelByHB.
func (fs *fakeServer) cancel(id int64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.jobs[id].state = "Canceling"
	if !fs.cancelByHB {
		fs.broadcastLocked(workerproto.Frame{Type: workerproto.FrameCancel, Cancel: &workerproto.Cancel{JobID: id}})
	}
}

// dropStreams ends every open stream (the server side hangs up).
func (fs *fakeServer) dropStreams() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for st := range fs.streams {
		st.close()
	}
}

func (fs *fakeServer) connectCount() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.connects
}

func (fs *fakeServer) heartbeats() []workerproto.Heartbeat {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return slices.Clone(fs.beats)
}

// finished reports whether the server accepted the job's finish.
func (fs *fakeServer) finished(id int64) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.jobs[id] != nil && fs.jobs[id].finish != nil
}

// logSize is the size of a job's stored log.
func (fs *fakeServer) logSize(id int64) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.jobs[id] == nil {
		return 0
	}
	return len(fs.jobs[id].log)
}

// job returns a copy of a job's server-side record.
func (fs *fakeServer) job(id int64) fakeJob {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	j := fs.jobs[id]
	if j == nil {
		return fakeJob{}
	}
	c := *j
	c.log = slices.Clone(j.log)
	if j.finish != nil {
		f := *j.finish
		c.finish = &f
	}
	return c
}

func (fs *fakeServer) heartbeat(w http.ResponseWriter, r *http.Request) {
	var hb workerproto.Heartbeat
	if err := json.NewDecoder(r.Body).Decode(&hb); err != nil {
		writeErr(w, http.StatusBadRequest, "invalid", err.Error(), nil)
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.requests["heartbeat"]++
	fs.beats = append(fs.beats, hb)
	ack := workerproto.HeartbeatAck{Cancel: []int64{}}
	for _, id := range hb.Jobs {
		if j := fs.jobs[id]; j == nil || j.state == "Canceling" || j.state == "Finished" {
			ack.Cancel = append(ack.Cancel, id)
		}
	}
	writeJSON(w, http.StatusOK, ack)
}

func (fs *fakeServer) lookup(w http.ResponseWriter, r *http.Request) (int64, *fakeJob) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if fs.forbidden[id] {
		writeErr(w, http.StatusForbidden, "forbidden", fmt.Sprintf("act for job %d: forbidden", id), nil)
		return id, nil
	}
	j := fs.jobs[id]
	if j == nil {
		writeErr(w, http.StatusNotFound, "not_found", fmt.Sprintf("job %d not found", id), nil)
	}
	return id, j
}

func (fs *fakeServer) start(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.requests["start"]++
	_, j := fs.lookup(w, r)
	if j == nil {
		return
	}
	j.starts++
	if j.state == "Scheduled" {
		j.state = "Running"
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (fs *fakeServer) appendLog(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil || offset < 0 {
		writeErr(w, http.StatusBadRequest, "invalid", "bad offset", nil)
		return
	}
	fs.mu.Lock()
	fs.requests["log"]++
	id, j := fs.lookup(w, r)
	if j == nil {
		fs.mu.Unlock()
		return
	}
	if j.starts == 0 {
		fs.mu.Unlock()
		fs.t.Errorf("job %d: log upload before the start report", id)
		writeErr(w, http.StatusConflict, "conflict", "not started", nil)
		return
	}
	j.uploads++
	if fs.logFail != 0 {
		fs.mu.Unlock()
		writeErr(w, fs.logFail, failCode(fs.logFail), "upload refused by the test", nil)
		return
	}
	stored := int64(len(j.log))
	if offset > stored {
		fs.mu.Unlock()
		writeErr(w, http.StatusConflict, workerproto.CodeLogGap, "gap", &stored)
		return
	}
	overlap := min(stored-offset, int64(len(body)))
	if !bytes.Equal(j.log[offset:offset+overlap], body[:overlap]) {
		fs.mu.Unlock()
		fs.t.Errorf("job %d: upload at %d differs from the stored bytes", id, offset)
		writeErr(w, http.StatusConflict, workerproto.CodeLogGap, "overlap differs", &stored)
		return
	}
	j.log = append(j.log, body[overlap:]...)
	stored = int64(len(j.log))
	hook := fs.logHook
	fs.mu.Unlock()
	if hook != nil {
		hook(id, int(stored))
	}
	writeJSON(w, http.StatusOK, workerproto.LogAck{Stored: stored})
}

func (fs *fakeServer) finishJob(w http.ResponseWriter, r *http.Request) {
	var in workerproto.Finish
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeErr(w, http.StatusBadRequest, "invalid", err.Error(), nil)
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.requests["finish"]++
	_, j := fs.lookup(w, r)
	if j == nil {
		return
	}
	j.finishes++
	if fs.finishFail != 0 {
		writeErr(w, fs.finishFail, failCode(fs.finishFail), "finish refused by the test", nil)
		return
	}
	sum := sha256.Sum256(j.log)
	stored := int64(len(j.log))
	if in.LogSize != stored || in.LogSHA256 != hex.EncodeToString(sum[:]) {
		writeErr(w, http.StatusConflict, workerproto.CodeLogMismatch, "log differs", &stored)
		return
	}
	health := "Complete"
	switch {
	case j.state == "Canceling":
		health = "Canceled"
	case in.Result != "pass":
		health = "Incomplete"
	}
	j.state = "Finished"
	j.finish = &in
	writeJSON(w, http.StatusOK, workerproto.FinishAck{State: "Finished", Health: health})
}

// failCode is the error code the real server sends with status.
func failCode(status int) string {
	switch status {
	case http.StatusInsufficientStorage:
		return "storage_full"
	case http.StatusServiceUnavailable:
		return "database_unavailable"
	}
	return "internal"
}

// assignMultinode assigns a job of a multinode group of one.
func (fs *fakeServer) assignMultinode(id int64, device, script string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	a := workerproto.Assign{JobID: id, Definition: script, JobToken: "job-secret",
		Device:    workerproto.Device{Hostname: device, DeviceType: "fake"},
		Multinode: &workerproto.Multinode{Group: "g", SubID: fmt.Sprintf("%d.0", id), Role: "r", GroupSize: 1}}
	fs.jobs[id] = &fakeJob{assign: a, state: "Scheduled"}
	fs.broadcastLocked(workerproto.Frame{Type: workerproto.FrameAssign, Assign: &a})
}

// multinodeCall answers a coordinator call: ack, with the message ID and
// the caller's job id as message ({"<id>": {"echo": ID}}).
func (fs *fakeServer) multinodeCall(w http.ResponseWriter, r *http.Request) {
	var req workerproto.MultinodeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, "invalid", err.Error(), nil)
		return
	}
	fs.mu.Lock()
	id, j := fs.lookup(w, r)
	if j == nil {
		fs.mu.Unlock()
		return
	}
	if fs.multinode == nil {
		fs.multinode = map[int64][]workerproto.MultinodeRequest{}
	}
	fs.multinode[id] = append(fs.multinode[id], req)
	fail := fs.multinodeFail > 0
	if fail {
		fs.multinodeFail--
	}
	fs.mu.Unlock()
	switch {
	case fail:
		writeErr(w, http.StatusServiceUnavailable, "database_unavailable", "the database does not answer", nil)
		return
	case req.Request == "refuse":
		writeErr(w, http.StatusBadRequest, "invalid", "unknown multinode request \"refuse\"", nil)
		return
	}
	msg, _ := json.Marshal(map[string]map[string]string{strconv.FormatInt(id, 10): {"echo": req.MessageID}})
	writeJSON(w, http.StatusOK, workerproto.MultinodeResponse{Response: "ack", Message: msg})
}

// multinodeCalls returns the coordinator calls relayed for job id.
func (fs *fakeServer) multinodeCalls(id int64) []workerproto.MultinodeRequest {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]workerproto.MultinodeRequest(nil), fs.multinode[id]...)
}

// replicaKey is the request context key of the replica serving it.
type replicaKey struct{}

// fakeReplica is one more server in front of a fakeServer's state, as a
// replica of the lab on the same database: its own address, listener and
// connections, the same jobs, logs and streams.
type fakeReplica struct {
	fs   *fakeServer
	addr string
	URL  string
	hits atomic.Int64 // requests served
	fail atomic.Int64 // when set, every request is answered this status
	// silent: its streams send a hello announcing a 30 ms heartbeat, then
	// nothing (the other requests are served)
	silent atomic.Bool

	mu   sync.Mutex
	srv  *httptest.Server
	dead []*httptest.Server // killed, closed at the end of the test
}

// newReplica starts a replica of fs on a new port (plain http, h2c).
func (fs *fakeServer) newReplica() *fakeReplica {
	r := &fakeReplica{fs: fs}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fs.t.Fatal(err)
	}
	r.addr = l.Addr().String()
	r.URL = "http://" + r.addr
	r.serve(l)
	fs.t.Cleanup(func() {
		r.mu.Lock()
		all := append(r.dead, r.srv)
		r.srv, r.dead = nil, nil
		r.mu.Unlock()
		for _, s := range all {
			if s != nil {
				s.CloseClientConnections()
				s.Close()
			}
		}
	})
	return r
}

func (r *fakeReplica) serve(l net.Listener) {
	h := r.fs.handler()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		if r.silent.Load() && strings.HasSuffix(req.URL.Path, workerproto.PathConnect) {
			// a hello, then nothing: a replica hung behind its stream
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			_ = json.NewEncoder(w).Encode(workerproto.Frame{Type: workerproto.FrameHello, Time: time.Now().UTC(),
				Hello: &workerproto.Hello{ServerVersion: "fake", Protocol: workerproto.Version, HeartbeatInterval: 30 * time.Millisecond, Jobs: []int64{}}})
			_ = http.NewResponseController(w).Flush()
			<-req.Context().Done()
			return
		}
		if status := int(r.fail.Load()); status != 0 {
			writeErr(w, status, failCode(status), "replica refuses by the test", nil)
			return
		}
		h.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), replicaKey{}, r)))
	}))
	srv.Listener.Close()
	srv.Listener = l
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	srv.Start()
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
}

// kill takes the replica down at once: its listener and every connection
// closed (requests in flight lose their answers). It does not wait for
// handlers, so a log hook may call it.
func (r *fakeReplica) kill() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	if srv != nil {
		r.dead = append(r.dead, srv)
	}
	r.mu.Unlock()
	if srv != nil {
		srv.Listener.Close()
		srv.CloseClientConnections()
	}
}

// revive starts the killed replica again on its address.
func (r *fakeReplica) revive() {
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.fs.t.Fatal(err)
	}
	r.serve(l)
}

// streaming reports how many streams of the replica are open.
func (r *fakeReplica) streaming() bool {
	r.fs.mu.Lock()
	defer r.fs.mu.Unlock()
	for st := range r.fs.streams {
		if st.replica == r {
			return true
		}
	}
	return false
}

// assignConsole places a console session (a reservation's job) whose
// fake process runs script on device.
func (fs *fakeServer) assignConsole(id int64, device, script string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	a := workerproto.Assign{JobID: id, Definition: script, JobToken: "job-secret",
		Device:  workerproto.Device{Hostname: device, DeviceType: "fake"},
		Console: &workerproto.Console{Holder: "alice", Until: time.Now().Add(time.Hour)}}
	fs.jobs[id] = &fakeJob{assign: a, state: "Scheduled"}
	fs.broadcastLocked(workerproto.Frame{Type: workerproto.FrameAssign, Assign: &a})
}

// consoleLocked returns job id's console input; fs.mu is held.
func (fs *fakeServer) consoleLocked(id int64) *fakeConsole {
	if fs.console == nil {
		fs.console = map[int64]*fakeConsole{}
	}
	c := fs.console[id]
	if c == nil {
		c = &fakeConsole{wake: make(chan struct{})}
		fs.console[id] = c
	}
	return c
}

// typeInput queues console input for job id, numbered on from the last.
func (fs *fakeServer) typeInput(id int64, ins ...workerproto.ConsoleInput) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	c := fs.consoleLocked(id)
	for _, in := range ins {
		in.Seq = int64(len(c.inputs)) + 1
		in.Time = time.Now().UTC()
		if in.User == "" {
			in.User = "alice"
		}
		c.inputs = append(c.inputs, in)
	}
	close(c.wake)
	c.wake = make(chan struct{})
}

// consoleAfters returns the after= of job id's console polls so far.
func (fs *fakeServer) consoleAfters(id int64) []int64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return slices.Clone(fs.consoleLocked(id).afters)
}

// setConsole changes job id's console: gone (410 from now on), resend
// (the next answer sends every input again).
func (fs *fakeServer) setConsole(id int64, gone, resend bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	c := fs.consoleLocked(id)
	c.gone, c.resend = gone, resend
	close(c.wake)
	c.wake = make(chan struct{})
}

// consolePoll answers PathConsole: the inputs after after=, held until
// there is one, hold= passes, or the console ends.
func (fs *fakeServer) consolePoll(w http.ResponseWriter, r *http.Request) {
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil || after < 0 {
		writeErr(w, http.StatusBadRequest, "invalid", "bad after", nil)
		return
	}
	hold, err := time.ParseDuration(r.URL.Query().Get("hold"))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "invalid", "bad hold", nil)
		return
	}
	fs.mu.Lock()
	fs.requests["console"]++
	id, j := fs.lookup(w, r)
	if j == nil {
		fs.mu.Unlock()
		return
	}
	if j.assign.Console == nil {
		fs.mu.Unlock()
		writeErr(w, http.StatusConflict, "conflict", fmt.Sprintf("job %d is not a console session", id), nil)
		return
	}
	c := fs.consoleLocked(id)
	c.afters = append(c.afters, after)
	fs.mu.Unlock()
	timer := time.NewTimer(min(hold, 30*time.Second))
	defer timer.Stop()
	for {
		fs.mu.Lock()
		if c.gone {
			fs.mu.Unlock()
			writeErr(w, http.StatusGone, "gone", fmt.Sprintf("job %d is no longer this worker's", id), nil)
			return
		}
		from := after
		if c.resend {
			from, c.resend = 0, false
		}
		out := workerproto.ConsoleInputs{Inputs: []workerproto.ConsoleInput{}}
		for _, in := range c.inputs {
			if in.Seq > from {
				out.Inputs = append(out.Inputs, in)
			}
		}
		wake := c.wake
		fs.mu.Unlock()
		if len(out.Inputs) > 0 {
			writeJSON(w, http.StatusOK, out)
			return
		}
		select {
		case <-wake:
		case <-timer.C:
			writeJSON(w, http.StatusOK, out)
			return
		case <-r.Context().Done():
			return
		case <-fs.closing:
			return
		}
	}
}
