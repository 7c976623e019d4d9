package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestPrivateJobOnLabPages: the pages that show devices (overview, device
// list, device page with its history, worker page) link the personal job
// d1 runs only for its owner and administrators; anonymous visitors and
// other users read "a private job" and never its number. On SQLite and
// PostgreSQL.
func TestPrivateJobOnLabPages(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			link := fmt.Sprintf(`href="/jobs/%d"`, e.privJob)
			named := fmt.Sprintf("job %d", e.privJob)
			sees := [nIdent]bool{alice: true, admin: true}
			pages := []string{"/", "/devices", "/devices/d1", "/workers/w1"}
			check := func(stage string, busy bool) {
				t.Helper()
				for who := range nIdent {
					for _, path := range pages {
						code, body, _ := e.get(who, path)
						if code != 200 {
							t.Fatalf("%s: GET %s as %s: %d", stage, path, identNames[who], code)
						}
						if !sees[who] && (strings.Contains(body, link) || strings.Contains(body, named)) {
							t.Errorf("%s: GET %s as %s names the private job %d", stage, path, identNames[who], e.privJob)
						}
						if path == "/workers/w1" || !busy {
							continue
						}
						if sees[who] != strings.Contains(body, link) {
							t.Errorf("%s: GET %s as %s: links the job %v, want %v", stage, path, identNames[who], !sees[who], sees[who])
						}
						if !sees[who] && !strings.Contains(body, app.PrivateJob) {
							t.Errorf("%s: GET %s as %s does not say %q", stage, path, identNames[who], app.PrivateJob)
						}
					}
				}
			}
			check("reserved", true)

			// The job fails with an infrastructure error: d1's history
			// records the change with the job in its reason.
			_, err := e.app.FinishJob(context.Background(), e.worker, e.privJob, app.JobOutcome{Failed: true, ErrorType: lab.ErrorInfrastructure})
			must(t, err)
			check("finished", false)
			for who := range nIdent {
				_, body, _ := e.get(who, "/devices/d1")
				want := app.PrivateJob
				if sees[who] {
					want = named
				}
				if !strings.Contains(body, "job failed with Infrastructure error ("+want+")") {
					t.Errorf("device history as %s does not say %q", identNames[who], want)
				}
			}
		})
	}
}
