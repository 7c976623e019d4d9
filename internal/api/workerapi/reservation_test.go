package workerapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

// TestReservationAssignCarriesConsole: the assignment of a reservation
// makes the job a console session for its holder, with its reason and
// expected end, and a timeout that is only a safety net (its duration
// plus the server's maximum).
func TestReservationAssignCarriesConsole(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.app.Heartbeat(ctx, auth.WorkerPrincipal("w1"), "w1", "x")
	must(t, err)
	u, _ := e.app.Store().GetUser(ctx, "admin")
	p, _ := auth.UserPrincipal(u)
	res, err := e.app.Reserve(ctx, p, "d1", 2*time.Hour, "poke u-boot", lab.PriorityMedium)
	must(t, err)
	e.waitScheduled(res.ID)
	frames, stop := e.connect(e.wtoken)
	defer stop()
	next(t, frames, wp.FrameHello)
	as := next(t, frames, wp.FrameAssign).Assign
	if as.JobID != res.ID || as.Console == nil || as.Console.Holder != "admin" || as.Console.Reason != "poke u-boot" ||
		as.Console.Until.IsZero() || as.Timeout != 2*time.Hour+app.DefaultMaxReservation {
		t.Fatalf("assign %+v console %+v", as, as.Console)
	}
}
