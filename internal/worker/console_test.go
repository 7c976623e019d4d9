package worker

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// consoleLines is the console records of a job's stored log.
func consoleLines(t *testing.T, fs *fakeServer, id int64) []string {
	t.Helper()
	var out []string
	for _, l := range journalLines(t, fs.job(id).log) {
		if strings.HasPrefix(l, "console ") || strings.HasPrefix(l, "warning ") {
			out = append(out, l)
		}
	}
	return out
}

// waitConsoleLines waits until the server holds n console records of job
// id.
func waitConsoleLines(t *testing.T, fs *fakeServer, id int64, n int) {
	t.Helper()
	eventually(t, "console records uploaded", func() bool { return len(consoleLines(t, fs, id)) >= n })
}

// checkAfters checks a session's polls: from 0, never going back, never
// beyond the inputs there are.
func checkAfters(t *testing.T, afters []int64, inputs int64) {
	t.Helper()
	if len(afters) == 0 || afters[0] != 0 {
		t.Errorf("polls after %v: the first is not after 0", afters)
	}
	if !slices.IsSorted(afters) || afters[len(afters)-1] > inputs {
		t.Errorf("polls after %v: going back, or beyond input %d", afters, inputs)
	}
}

// TestConsoleRelay: the worker brings a console session's input from the
// server to the job process over its console socket, in order, each
// applied once; it acknowledges (after=) only what the job process
// applied, across a link cut, a resend and a worker restart; it uploads
// the journal as soon as the job process announces a write; a 410 ends
// the relay.
func TestConsoleRelay(t *testing.T) {
	t.Run("in order, announced writes uploaded at once", func(t *testing.T) {
		fs := newFakeServer(t)
		cfg := testConfig(fs.URL, t.TempDir())
		// no polling of the journal: only the job process's
		// announcements (and its exit) wake the upload
		cfg.PollInterval = time.Hour
		startWorker(t, cfg)
		fs.assignConsole(1, "dev1", "console 5\nresult pass")
		fs.typeInput(1, workerproto.ConsoleInput{Data: []byte("a\r")}, workerproto.ConsoleInput{Power: workerproto.PowerOn})
		waitConsoleLines(t, fs, 1, 2)
		fs.typeInput(1, workerproto.ConsoleInput{Data: []byte("b"), User: "bob"})
		waitConsoleLines(t, fs, 1, 3)
		fs.typeInput(1, workerproto.ConsoleInput{Expired: true, Data: []byte("late")}, workerproto.ConsoleInput{Power: workerproto.PowerReset})
		waitFinished(t, fs, 1)
		want := []string{
			`console 1 alice data "a\r"`,
			`console 2 alice power on`,
			`console 3 bob data "b"`,
			`console 4 alice expired`,
			`console 5 alice power reset`,
		}
		if diff := cmp.Diff(want, consoleLines(t, fs, 1)); diff != "" {
			t.Errorf("console records (-want +got):\n%s", diff)
		}
		checkLog(t, fs, cfg.DataDir, 1)
		checkAfters(t, fs.consoleAfters(1), 5)
		if afters := fs.consoleAfters(1); !slices.Contains(afters, 2) || !slices.Contains(afters, 3) {
			t.Errorf("polls after %v: none after 2 or 3, the inputs applied", afters)
		}
	})

	t.Run("link cut and a resend: each input applied once", func(t *testing.T) {
		fs := newFakeServer(t)
		cfg := testConfig(fs.URL, t.TempDir())
		startWorker(t, cfg)
		fs.assignConsole(1, "dev1", "console 4\nresult pass")
		fs.typeInput(1, workerproto.ConsoleInput{Data: []byte("1")}, workerproto.ConsoleInput{Data: []byte("2")})
		waitConsoleLines(t, fs, 1, 2)
		// the server answers every input again (as after a failover
		// that lost the acknowledgement): the job process skips them
		fs.setConsole(1, false, true)
		eventually(t, "a poll after the resend", func() bool {
			a := fs.consoleAfters(1)
			return len(a) >= 3 && a[len(a)-1] == 2
		})
		// the link is cut during a held poll
		polls := len(fs.consoleAfters(1))
		fs.srv.CloseClientConnections()
		fs.typeInput(1, workerproto.ConsoleInput{Data: []byte("3")})
		eventually(t, "a poll after the cut", func() bool { return len(fs.consoleAfters(1)) > polls })
		fs.typeInput(1, workerproto.ConsoleInput{Data: []byte("4")})
		waitFinished(t, fs, 1)
		want := []string{`console 1 alice data "1"`, `console 2 alice data "2"`, `console 3 alice data "3"`, `console 4 alice data "4"`}
		if diff := cmp.Diff(want, consoleLines(t, fs, 1)); diff != "" {
			t.Errorf("console records (-want +got):\n%s", diff)
		}
		checkLog(t, fs, cfg.DataDir, 1)
		checkAfters(t, fs.consoleAfters(1), 4)
	})

	t.Run("worker restarted: resumes after the last applied input", func(t *testing.T) {
		fs := newFakeServer(t)
		dataDir := t.TempDir()
		a := startWorker(t, testConfig(fs.URL, dataDir))
		fs.assignConsole(1, "dev1", "console 4\nresult pass")
		fs.typeInput(1, workerproto.ConsoleInput{Data: []byte("1")}, workerproto.ConsoleInput{Data: []byte("2")})
		waitConsoleLines(t, fs, 1, 2)
		if err := a.stop(); err != nil {
			t.Fatalf("Run returned %v on shutdown", err)
		}
		// typed while no worker relays: it waits on the server
		fs.typeInput(1, workerproto.ConsoleInput{Data: []byte("3")})
		before := len(fs.consoleAfters(1))
		startWorker(t, testConfig(fs.URL, dataDir))
		eventually(t, "the new worker polls", func() bool { return len(fs.consoleAfters(1)) > before })
		if first := fs.consoleAfters(1)[before]; first != 2 {
			t.Errorf("the restarted worker's first poll is after %d, want 2 (what the job process applied)", first)
		}
		fs.typeInput(1, workerproto.ConsoleInput{Data: []byte("4")})
		waitFinished(t, fs, 1)
		want := []string{`console 1 alice data "1"`, `console 2 alice data "2"`, `console 3 alice data "3"`, `console 4 alice data "4"`}
		if diff := cmp.Diff(want, consoleLines(t, fs, 1)); diff != "" {
			t.Errorf("console records (-want +got):\n%s", diff)
		}
		checkLog(t, fs, dataDir, 1)
		checkAfters(t, fs.consoleAfters(1), 4)
	})

	t.Run("410 ends the relay", func(t *testing.T) {
		fs := newFakeServer(t)
		cfg := testConfig(fs.URL, t.TempDir())
		r := startWorker(t, cfg)
		fs.assignConsole(1, "dev1", "console 100\nresult pass")
		eventually(t, "a console poll", func() bool { return len(fs.consoleAfters(1)) > 0 })
		fs.setConsole(1, true, false)
		eventually(t, "the relay ends", func() bool {
			return strings.Contains(r.logs.String(), "console relay: the server ended the session")
		})
		polls := fs.requestCount("console")
		fs.cancel(1)
		waitFinished(t, fs, 1)
		if n := fs.requestCount("console"); n != polls {
			t.Errorf("%d console polls after the 410", n-polls)
		}
	})

	t.Run("not a console session: no polls", func(t *testing.T) {
		fs := newFakeServer(t)
		startWorker(t, testConfig(fs.URL, t.TempDir()))
		fs.assign(1, "dev1", "log 1\nresult pass")
		waitFinished(t, fs, 1)
		if n := fs.requestCount("console"); n != 0 {
			t.Errorf("%d console polls for a pipeline job", n)
		}
	})
}
