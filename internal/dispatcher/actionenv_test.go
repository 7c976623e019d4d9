package dispatcher

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/dispatcher/simdevice"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// actionEnv runs single actions outside a job, the way the pipeline runs
// them (start and end records, timeout, lava results case), against an
// optional booted simulated device, with the journal in a temporary job
// directory.
type actionEnv struct {
	t       *testing.T
	env     *Env
	dev     *simdevice.Device // nil without a device
	journal string
	r       *runner
	levels  int
	closed  bool
}

// newActionEnv creates the environment. dict is a simulated device
// dictionary (see simDict); "" means no device at all. A device is powered
// on and its shell prompt awaited.
func newActionEnv(t *testing.T, dict string) *actionEnv {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, JournalFile)
	log, err := journal.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{}
	a := &actionEnv{t: t, journal: path, r: r}
	a.env = &Env{JobID: 42, Dir: dir, Job: &jobdef.Job{}, Log: log, Session: &Session{}, run: r}
	t.Cleanup(func() { a.close() })
	if dict == "" {
		return a
	}
	cfg, ok, err := simdevice.ParseDictionary(dict)
	if err != nil || !ok {
		t.Fatalf("ParseDictionary(%q) = %v, %v", dict, ok, err)
	}
	a.dev = simdevice.New("sim-01", cfg)
	a.env.Device = a.dev
	a.env.Conn = NewConn(a.dev.Console(), log)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.dev.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	prompt := regexp.MustCompile(regexp.QuoteMeta(cfg.Prompt))
	if _, err := a.env.Conn.Expect(ctx, "prompt", prompt); err != nil {
		t.Fatalf("waiting for the prompt: %v", err)
	}
	a.env.SetPrompts([]*regexp.Regexp{prompt})
	return a
}

// run runs act as the next top-level action, with the given timeout (its
// connection timeout resolved from the environment's job, as in a job).
func (a *actionEnv) run(ctx context.Context, act Action, timeout time.Duration) error {
	a.levels++
	n := &node{action: act, level: strconv.Itoa(a.levels)}
	n.timeout = resolved{timeout, "the test"}
	n.attempt = n.timeout
	n.conn = resolveConnectionTimeout(a.env.Job, a.r.device, act.Name())
	return a.r.run(ctx, a.env, n)
}

// send types lines on the device's console, as a user would.
func (a *actionEnv) send(lines ...string) {
	a.t.Helper()
	for _, l := range lines {
		if err := a.env.Conn.Send(context.Background(), l); err != nil {
			a.t.Fatal(err)
		}
	}
}

// records closes the device and the journal (everything the device
// printed is then logged) and returns the journal's records.
func (a *actionEnv) records() []workerproto.Record {
	a.t.Helper()
	a.close()
	recs, err := journal.ReadFile(a.journal)
	if err != nil {
		a.t.Fatal(err)
	}
	return recs
}

func (a *actionEnv) close() {
	if a.closed {
		return
	}
	a.closed = true
	if a.dev != nil {
		a.dev.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		a.env.Conn.Wait(ctx)
		cancel()
	}
	a.env.Log.Close()
}
