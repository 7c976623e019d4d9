package main_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

// TestImportLogs moves a lab on PostgreSQL from job logs in files to job
// logs in the database, as a lab moving to server replicas does: a job
// runs with --log-store files; the server stops; `basalt admin
// import-logs` copies the logs (and, run again, changes nothing); a server
// with --log-store database, on another data directory, serves the job's
// log byte-identical to the worker's journal, and runs new jobs.
func TestImportLogs(t *testing.T) {
	dsn := pgtest.DSN(t)
	args := []string{"--database", dsn, "--heartbeat-interval", "500ms", "--sweep-interval", "500ms"}
	s := startServer(t, append(args, "--log-store", "files")...)
	l := attachLab(t, s)
	l.addDevices(t, "w1", 1, simDictionary("200ms", 40))
	wdir := t.TempDir()
	w := startWorker(t, s.url, "w1", l.workers["w1"], wdir)
	id := l.submit(t, simJob("before", "minutes: 2"))
	l.waitFinished(t, []int64{id}, time.Minute)
	w.cmd.Process.Signal(os.Interrupt)
	w.cmd.Wait()
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()

	for i, want := range []string{"copied 1 job logs", "copied 1 job logs"} {
		out, err := exec.Command(binary, "admin", "import-logs", "--data-dir", s.dataDir, "--database", dsn).CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("import-logs, run %d: %v\n%s", i+1, err, out)
		}
	}

	db := startReplica(t, s, append(args, "--log-store", "database")...)
	l2 := attachLab(t, db)
	jobs := l2.waitFinished(t, []int64{id}, 10*time.Second)
	l2.checkJob(t, jobs[id], wdir)
	// and the lab goes on with its logs in the database
	startWorker(t, db.url, "w1", l.workers["w1"], wdir)
	id2 := l2.submit(t, simJob("after", "minutes: 2"))
	jobs = l2.waitFinished(t, []int64{id2}, time.Minute)
	l2.checkJob(t, jobs[id2], wdir)
}
