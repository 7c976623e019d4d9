package worker

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// journalSize is the size of a job's local journal.
func journalSize(t testing.TB, dataDir string, id int64) int {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dataDir, "jobs", fmt.Sprint(id), FileJournal))
	if err != nil {
		return -1
	}
	return int(fi.Size())
}

// TestReplicas: a worker given two replicas of one lab (one shared state,
// as two servers on one database) moves to the other when its server dies
// mid-upload, and back when that one dies in turn once the first is up
// again. The log on the shared state is the journal byte for byte, the
// finish is accepted once, and nothing is duplicated.
func TestReplicas(t *testing.T) {
	fs := newFakeServer(t)
	a, b := fs.newReplica(), fs.newReplica()
	dataDir := t.TempDir()
	cfg := testConfig(a.URL, dataDir)
	cfg.Servers = []string{b.URL}
	cfg.MaxUpload = 16 << 10
	var mu sync.Mutex
	uploads, killAt := 0, 3
	victim := a
	fs.logHook = func(id int64, stored int) {
		mu.Lock()
		uploads++
		v := victim
		kill := v != nil && uploads >= killAt
		if kill {
			victim = nil
		}
		mu.Unlock()
		if kill { // the bytes are stored, the answer is lost with the server
			v.kill()
			panic(http.ErrAbortHandler)
		}
	}
	r := startWorker(t, cfg)
	eventually(t, "stream on A", a.streaming)
	fs.assign(1, "dev1", "bulk 200000\nwait go1\nbulk 200000\nwait go2\nbulk 200000\nresult pass")
	movedToB := fmt.Sprintf("moved to server %s (%s unreachable: ", b.URL, a.URL)
	eventually(t, "moved to B", func() bool { return strings.Contains(r.logs.String(), movedToB) })
	eventually(t, "stream on B", b.streaming)
	eventually(t, "first part uploaded through B", func() bool {
		n := fs.logSize(1)
		return n > 0 && n == journalSize(t, dataDir, 1)
	})
	hitsA := a.hits.Load()

	a.revive()
	mu.Lock()
	victim, killAt = b, uploads+2
	mu.Unlock()
	os.WriteFile(filepath.Join(dataDir, "jobs", "1", "go1"), nil, 0o600)
	movedToA := fmt.Sprintf("moved to server %s (%s unreachable: ", a.URL, b.URL)
	eventually(t, "moved back to A", func() bool { return strings.Contains(r.logs.String(), movedToA) })
	eventually(t, "stream on A again", a.streaming)
	os.WriteFile(filepath.Join(dataDir, "jobs", "1", "go2"), nil, 0o600)
	waitFinished(t, fs, 1)
	checkSequence(t, checkLog(t, fs, dataDir, 1))
	j := fs.job(1)
	if j.finishes != 1 || j.starts != 1 {
		t.Errorf("finish sent %d times, start %d times; want once each", j.finishes, j.starts)
	}
	if a.hits.Load() == hitsA {
		t.Error("nothing reached A after it came back")
	}
	if t.Failed() {
		return
	}
	if got := strings.Count(r.logs.String(), "moved to server"); got != 2 {
		t.Errorf("%d moves logged, want 2:\n%s", got, r.logs.String())
	}
}

// TestReplicaAnswers5xx: a replica that answers 503 to everything (its
// end of the database link is down, say) is left for the next one at the
// first request; the job runs through the other replica.
func TestReplicaAnswers5xx(t *testing.T) {
	fs := newFakeServer(t)
	a, b := fs.newReplica(), fs.newReplica()
	a.fail.Store(http.StatusServiceUnavailable)
	cfg := testConfig(a.URL, t.TempDir())
	cfg.Servers = []string{b.URL}
	r := startWorker(t, cfg)
	eventually(t, "stream on B", b.streaming)
	fs.assign(1, "dev1", "log 5\nresult pass")
	waitFinished(t, fs, 1)
	if got := checkLog(t, fs, cfg.DataDir, 1); !slices.Equal(got, numbered(0, 5)) {
		t.Errorf("lines %q", got)
	}
	if !strings.Contains(r.logs.String(), fmt.Sprintf("moved to server %s (%s unreachable: ", b.URL, a.URL)) {
		t.Errorf("no move logged:\n%s", r.logs.String())
	}
}

// TestOneServerNoMove: with one server URL a failure is returned as it is,
// with no move and no second attempt (the caller's back-off retries).
func TestOneServerNoMove(t *testing.T) {
	fs := newFakeServer(t)
	a := fs.newReplica()
	a.fail.Store(http.StatusServiceUnavailable)
	cfg := testConfig(a.URL, t.TempDir())
	cfg.Logger = slog.New(slog.DiscardHandler)
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = w.link.call(t.Context(), http.MethodPost, workerproto.PathHeartbeat, nil, struct{}{}, nil, true)
	if e := asAPIError(err); e == nil || e.Status != http.StatusServiceUnavailable {
		t.Fatalf("error %v, want the 503", err)
	}
	if n := a.hits.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if w.link.cur.Load() != 0 {
		t.Error("the link moved")
	}
}

// TestReplicaSilentStream: a stream that stays silent for three heartbeat
// intervals moves the worker to the next replica.
func TestReplicaSilentStream(t *testing.T) {
	fs := newFakeServer(t)
	a, b := fs.newReplica(), fs.newReplica()
	a.silent.Store(true)
	cfg := testConfig(a.URL, t.TempDir())
	cfg.Servers = []string{b.URL}
	r := startWorker(t, cfg)
	eventually(t, "stream on B", b.streaming)
	want := fmt.Sprintf("moved to server %s (%s unreachable: stream silent for 90ms)", b.URL, a.URL)
	if !strings.Contains(r.logs.String(), want) {
		t.Errorf("no %q in the logs:\n%s", want, r.logs.String())
	}
	fs.assign(1, "dev1", "log 3\nresult pass")
	waitFinished(t, fs, 1)
	if got := checkLog(t, fs, cfg.DataDir, 1); !slices.Equal(got, numbered(0, 3)) {
		t.Errorf("lines %q", got)
	}
}

// TestReplicasAllDown: when every replica fails, each move after the first
// is logged at debug level only, and the worker connects as soon as one
// is back.
func TestReplicasAllDown(t *testing.T) {
	fs := newFakeServer(t)
	a, b := fs.newReplica(), fs.newReplica()
	a.kill()
	b.kill()
	cfg := testConfig(a.URL, t.TempDir())
	cfg.Servers = []string{b.URL}
	r := startWorker(t, cfg)
	moves := func() int { return strings.Count(r.logs.String(), "moved to server") }
	eventually(t, "several moves", func() bool { return moves() >= 6 })
	if n := strings.Count(r.logs.String(), "level=WARN msg=\"moved to server"); n != 1 {
		t.Errorf("%d moves logged as warnings, want 1:\n%s", n, r.logs.String())
	}
	b.revive()
	eventually(t, "stream on B", b.streaming)
	n := moves()
	a.revive()
	fs.assign(1, "dev1", "log 2\nresult pass")
	waitFinished(t, fs, 1)
	if moves() != n {
		t.Errorf("moved again while B served:\n%s", r.logs.String())
	}
}
