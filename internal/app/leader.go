package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// LeaseScheduler is the name of the lease the scheduler leader holds: the
// one server replica (of those on one database) that runs the periodic
// sweeps.
const LeaseScheduler = "scheduler"

// DefaultLeaseTTL is the default Config.LeaseTTL.
const DefaultLeaseTTL = 15 * time.Second

// leadership is what an App knows of its scheduler lease.
type leadership struct {
	holder string // this App's holder id: hostname/pid/random

	mu      sync.Mutex
	leader  bool
	expires time.Time // the lease this App holds lapses then, on its clock
	// crash: Run stops without releasing the lease, as a crashed process
	// would (a test hook: SimulateCrash).
	crash bool
}

// newHolder returns a holder id unique to this process and App: the
// hostname and pid say which process in logs; the random part tells two
// Apps of one process (tests) and a restarted process with a reused pid
// apart.
func newHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var r [6]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(r[:]))
}

// LeaseHolder returns this App's holder id for the scheduler lease.
func (a *App) LeaseHolder() string { return a.lead.holder }

// Leader reports whether this App is the scheduler leader: it holds the
// lease "scheduler" and, on its clock, the lease has not lapsed.
func (a *App) Leader() bool {
	now := a.now()
	a.lead.mu.Lock()
	defer a.lead.mu.Unlock()
	return a.lead.leader && now.Before(a.lead.expires)
}

// renewLeadership takes or renews the scheduler lease for LeaseTTL and
// reports whether this App leads. When the store cannot answer, the App
// keeps leading only while the lease it last took lasts on its clock:
// after that another replica may hold it.
func (a *App) renewLeadership(ctx context.Context) bool {
	now := a.now()
	l, err := a.st.AcquireLease(ctx, LeaseScheduler, a.lead.holder, now, a.cfg.LeaseTTL)
	a.lead.mu.Lock()
	was := a.lead.leader // what it believed: lapsed or not, it has not said it lost it
	switch {
	case err == nil:
		a.lead.leader, a.lead.expires = true, l.Expires
	case errors.Is(err, lab.ErrConflict):
		a.lead.leader = false
	default:
		a.lead.leader = was && now.Before(a.lead.expires)
	}
	is := a.lead.leader
	a.lead.mu.Unlock()

	if err != nil && !errors.Is(err, lab.ErrConflict) && ctx.Err() == nil {
		a.logError(slog.LevelError, "scheduler lease", err)
	}
	switch {
	case is && !was:
		a.log.Info("became scheduler leader", "holder", a.lead.holder, "until", l.Expires)
	case was && !is && errors.Is(err, lab.ErrConflict):
		a.log.Warn("lost leadership", "holder", a.lead.holder, "leader", l.Holder)
	case was && !is:
		a.log.Warn("lost leadership", "holder", a.lead.holder, "reason", "the lease could not be renewed before it lapsed")
	}
	return is
}

// releaseLeadership gives the scheduler lease up, so that another
// replica takes over at its next renewal instead of after the lease
// lapses. ctx may be done already (the server is stopping): the release
// gets a context of its own, bounded by HealthTimeout.
func (a *App) releaseLeadership(ctx context.Context) {
	a.lead.mu.Lock()
	was := a.lead.leader
	a.lead.leader, a.lead.expires = false, time.Time{}
	a.lead.mu.Unlock()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.HealthTimeout)
	defer cancel()
	if err := a.st.ReleaseLease(rctx, LeaseScheduler, a.lead.holder); err != nil {
		a.log.Warn("release scheduler lease", "holder", a.lead.holder, "err", err)
		return
	}
	if was {
		a.log.Info("released scheduler leadership", "holder", a.lead.holder)
	}
}

// sweep is the periodic work of the scheduler leader: workers gone
// silent are marked Offline, jobs lost with their workers finished, idle
// multinode groups swept, and a full scheduling pass run. It does
// nothing on a replica that does not lead (and reports false): every
// replica runs the passes events trigger, but one is enough for the
// sweeps. Were two replicas to sweep at once (a leader that has not yet
// noticed it lost the lease), the store's conditional updates keep every
// decision correct: the second's are conflicts.
func (a *App) sweep(ctx context.Context) bool {
	if !a.Leader() {
		return false
	}
	if err := a.markSilentWorkersOffline(ctx); err != nil && ctx.Err() == nil {
		a.logError(slog.LevelError, "worker sweep", err)
	}
	if err := a.failLostJobs(ctx); err != nil && ctx.Err() == nil {
		a.logError(slog.LevelError, "lost-job sweep", err)
	}
	if err := a.sweepCoordinator(ctx); err != nil && ctx.Err() == nil {
		a.logError(slog.LevelError, "coordinator sweep", err)
	}
	a.expireDue(ctx)
	if _, err := a.schedulePass(ctx, true); err != nil && ctx.Err() == nil {
		a.logError(slog.LevelError, "scheduling pass", err)
	}
	return true
}
