package dispatcher

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// socketServer plays the worker's side of DIR/multinode.sock: it reads
// one request line per connection and writes answer(req) back.
type socketServer struct {
	mu   sync.Mutex
	reqs []workerproto.MultinodeRequest
}

func (s *socketServer) serve(t *testing.T, ln net.Listener, answer func(workerproto.MultinodeRequest) string) {
	t.Helper()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				line, err := bufio.NewReader(conn).ReadBytes('\n')
				if err != nil {
					return
				}
				var req workerproto.MultinodeRequest
				if err := json.Unmarshal(line, &req); err != nil {
					t.Errorf("request %q: %v", line, err)
					return
				}
				s.mu.Lock()
				s.reqs = append(s.reqs, req)
				s.mu.Unlock()
				conn.Write([]byte(answer(req) + "\n"))
			}()
		}
	}()
}

func (s *socketServer) requests() []workerproto.MultinodeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]workerproto.MultinodeRequest(nil), s.reqs...)
}

func listen(t *testing.T, dir string) net.Listener {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(dir, workerproto.MultinodeSocket))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestSocketCoordinatorWaitsForTheWorker: a call made while the socket is
// missing (the worker restarts) goes through once it is there.
func TestSocketCoordinatorWaitsForTheWorker(t *testing.T) {
	dir := t.TempDir()
	c := SocketCoordinator(dir)
	srv := &socketServer{}
	started := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		srv.serve(t, listen(t, dir), func(workerproto.MultinodeRequest) string {
			return `{"response":"ack","message":{"12":{"ip":"10.0.0.1"}}}`
		})
		close(started)
	}()
	req := workerproto.MultinodeRequest{Request: "lava_send", MessageID: "ip", Message: map[string]any{"ip": "10.0.0.1"}, Hold: 5 * time.Second}
	resp, err := c.Call(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if resp.Response != "ack" || string(resp.Message) != `{"12":{"ip":"10.0.0.1"}}` {
		t.Errorf("answer %+v", resp)
	}
	got := srv.requests()
	if len(got) != 1 || got[0].Request != "lava_send" || got[0].MessageID != "ip" || got[0].Message["ip"] != "10.0.0.1" || got[0].Hold != 5*time.Second {
		t.Errorf("requests %+v", got)
	}
}

// TestSocketCoordinatorErrors: an answer that is not one fails at once;
// a worker that never comes fails when the context ends.
func TestSocketCoordinatorErrors(t *testing.T) {
	dir := t.TempDir()
	(&socketServer{}).serve(t, listen(t, dir), func(workerproto.MultinodeRequest) string { return "<html>" })
	_, err := SocketCoordinator(dir).Call(context.Background(), workerproto.MultinodeRequest{Request: "group_data"})
	var ce *CoordinatorError
	if !errors.As(err, &ce) {
		t.Errorf("garbage answer: %v, want a CoordinatorError", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = SocketCoordinator(t.TempDir()).Call(ctx, workerproto.MultinodeRequest{Request: "group_data"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no worker: %v, want the context's end", err)
	}
}

// TestPollHoldsAndTimesOut: poll asks the server to hold each call for
// the time left (at most maxHold), does not call again at once when the
// server answers "wait" without holding, and ends with LAVA's
// MultinodeTimeout.
func TestPollHoldsAndTimesOut(t *testing.T) {
	dir := t.TempDir()
	srv := &socketServer{}
	srv.serve(t, listen(t, dir), func(workerproto.MultinodeRequest) string { return `{"response":"wait"}` })
	logPath := filepath.Join(t.TempDir(), "log")
	log, err := journal.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	m := &multinode{coord: SocketCoordinator(dir)}
	_, err = m.poll(context.Background(), log, workerproto.MultinodeRequest{Request: "lava_wait", MessageID: "x"}, 1500*time.Millisecond)
	if ErrorTypeOf(err) != lab.ErrorMultinodeTimeout || err.Error() != "protocol lava-multinode timed out: lava_wait x got no answer in 2 seconds" {
		t.Errorf("poll: %v (%s)", err, ErrorTypeOf(err))
	}
	reqs := srv.requests()
	// A server that does not hold is called once a second at most.
	if len(reqs) < 1 || len(reqs) > 2 {
		t.Fatalf("%d calls in 1.5 s", len(reqs))
	}
	if h := reqs[0].Hold; h <= time.Second || h > 1500*time.Millisecond {
		t.Errorf("first hold %s, want the time left", h)
	}

	// A long timeout asks for maxHold; the answer ends the poll.
	srv2 := &socketServer{}
	dir2 := t.TempDir()
	srv2.serve(t, listen(t, dir2), func(workerproto.MultinodeRequest) string { return `{"response":"ack"}` })
	m2 := &multinode{coord: SocketCoordinator(dir2)}
	resp, err := m2.poll(context.Background(), log, workerproto.MultinodeRequest{Request: "lava_sync", MessageID: "x"}, time.Hour)
	if err != nil || resp.Response != "ack" {
		t.Fatalf("poll: %+v, %v", resp, err)
	}
	if h := srv2.requests()[0].Hold; h != maxHold {
		t.Errorf("hold %s, want %s", h, maxHold)
	}

	// A refusal's reason goes to the job's log.
	srv3 := &socketServer{}
	dir3 := t.TempDir()
	srv3.serve(t, listen(t, dir3), func(workerproto.MultinodeRequest) string {
		return `{"response":"nack","reason":"unknown waitrole \"probe\""}`
	})
	m3 := &multinode{coord: SocketCoordinator(dir3)}
	resp, err = m3.poll(context.Background(), log, workerproto.MultinodeRequest{Request: "lava_wait_all", MessageID: "x", WaitRole: "probe"}, time.Minute)
	if err != nil || resp.Response != "nack" {
		t.Fatalf("poll: %+v, %v", resp, err)
	}
	logged, _ := os.ReadFile(logPath)
	if !strings.Contains(string(logged), `the coordinator refused it: unknown waitrole \"probe\"`) {
		t.Errorf("the refusal's reason is not in the log: %s", logged)
	}

	// Cancelling ends the poll with the job's cancel.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = m.poll(ctx, log, workerproto.MultinodeRequest{Request: "lava_wait", MessageID: "y"}, time.Hour)
	if ErrorTypeOf(err) != lab.ErrorCanceled {
		t.Errorf("canceled poll: %v", err)
	}
}

// TestRunWithoutWorkerSocket: Run uses the job directory's socket; a
// multinode job whose worker never answers is canceled in group_data, and
// still tries to leave its group, for the system timeout (here the 2 s of
// its delayed start, which replace LAVA's 90 s).
func TestRunWithoutWorkerSocket(t *testing.T) {
	roles := map[string]string{"client": "        request: lava-start\n        host_role: server\n        expect_role: server\n        timeout:\n          seconds: 2\n", "server": ""}
	def, _ := subJob(t, mnJob(roles, "", mnBoot), "client")
	dir := jobDir(t, def, simDict(fastDevice), 0)
	a, err := ReadJob(dir)
	if err != nil {
		t.Fatal(err)
	}
	a.Multinode = &workerproto.Multinode{Group: "g", SubID: "42.0", Role: "client", GroupSize: 1, Roles: map[string]string{"42": "client"}}
	os.Remove(filepath.Join(dir, JobFile))
	if err := WriteJob(dir, a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res, recs := runDir(t, ctx, dir)
	if res.ErrorType != lab.ErrorCanceled {
		t.Errorf("result %+v", res)
	}
	if !hasMessage(recs, workerproto.LevelWarning, "lava-multinode: clear_group: protocol lava-multinode timed out: clear_group got no answer in 2 seconds") {
		t.Errorf("no clear_group warning:\n%s", strings.Join(messages(recs), "\n"))
	}
}

// TestSocketCoordinatorRefusal: a worker whose server refused the call for
// good answers an error, which the call returns at once.
func TestSocketCoordinatorRefusal(t *testing.T) {
	dir := t.TempDir()
	(&socketServer{}).serve(t, listen(t, dir), func(workerproto.MultinodeRequest) string {
		return `{"error":"job 42 is not this worker's"}`
	})
	_, err := SocketCoordinator(dir).Call(context.Background(), workerproto.MultinodeRequest{Request: "lava_wait", MessageID: "x"})
	var ce *CoordinatorError
	if !errors.As(err, &ce) || ce.Msg != "lava_wait refused: job 42 is not this worker's" {
		t.Errorf("err %v", err)
	}
}
