package app_test

import (
	"sync"
	"testing"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestAssignConcurrent: two replicas building the assignment of one job
// at once (each pushes it to the worker's stream it holds, as after a
// worker moved) both mint a job token and revoke the earlier ones; the
// one that finds a token already revoked by the other goes on, since
// revoking is what it wanted. On SQLite and PostgreSQL.
func TestAssignConcurrent(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			f := newFixture(t, labtest.OpenDSN(t, dsn))
			second := app.New(labtest.OpenDSN(t, dsn), app.Config{})
			f.lab("qemu", "w1", "d1")
			f.online("w1")
			id := f.submit(definition("race", "qemu", ""))
			f.pass()
			if j := f.job(id); j.State != lab.JobScheduled {
				t.Fatalf("job %d is %s, want Scheduled", id, j.State)
			}
			for round := range 50 {
				var wg sync.WaitGroup
				errs := make([]error, 4)
				for i, a := range []*app.App{f.app, second, f.app, second} {
					wg.Go(func() {
						_, errs[i] = a.Assign(f.ctx, id)
					})
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("round %d: Assign %d: %v", round, i, err)
					}
				}
			}
			toks, err := f.app.Store().ListTokens(f.ctx, lab.TokenJob, "")
			if err != nil {
				t.Fatal(err)
			}
			if n := countJobTokens(toks, id); n < 1 {
				t.Errorf("job %d has %d tokens after the assignments, want at least one", id, n)
			}
		})
	}
}

func countJobTokens(toks []lab.Token, id int64) int {
	n := 0
	for _, t := range toks {
		if t.JobID == id {
			n++
		}
	}
	return n
}
