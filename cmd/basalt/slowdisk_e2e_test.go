package main_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/slowfs"
)

// TestSlowDiskE2E runs the real server on a slow disk — every fsync of its
// database and of the job logs takes 250 ms, every write 5 ms — with a real
// worker running three jobs at once: every job completes with its whole
// log byte for byte, the worker is never taken for Offline, and /healthz
// stays healthy. (The worker's own disk is normal: its journal is the
// reference the stored logs are checked against.)
func TestSlowDiskE2E(t *testing.T) {
	under, mnt := t.TempDir(), t.TempDir()
	disk := slowfs.Mount(t, under, mnt, 250*time.Millisecond, 5*time.Millisecond)
	s := startServerIn(t, http.DefaultClient, filepath.Join(mnt, "server"), "--heartbeat-interval", "1s", "--missed-heartbeats", "5")
	l := attachLab(t, s)
	l.addDevices(t, "w1", 3, simDictionary("1s", 200))
	wdir := t.TempDir()
	startWorker(t, l.url, "w1", l.workers["w1"], wdir)
	before := disk.Fsyncs()
	var ids []int64
	for _, name := range []string{"slow-1", "slow-2", "slow-3"} {
		ids = append(ids, l.submit(t, simJob(name, "minutes: 3")))
	}
	jobs := l.waitFinished(t, ids, 3*time.Minute)
	for _, id := range ids {
		l.checkJob(t, jobs[id], wdir)
	}
	if n := disk.Fsyncs() - before; n < 10 {
		t.Fatalf("only %d fsyncs went through the slow disk: the server is not on it", n)
	}
	h, err := l.api.WorkerHistory(context.Background(), "w1", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range h.Results {
		if tr.NewState == "Offline" {
			t.Errorf("the worker was marked Offline on the slow disk: %+v", tr)
		}
	}
	resp, err := http.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"ok"`) && !strings.Contains(string(body), `"status": "ok"`) {
		t.Errorf("/healthz on a slow disk: %d %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(under, "server", "basalt.db")); err != nil {
		t.Errorf("the database is not on the slow disk: %v", err)
	}
}
