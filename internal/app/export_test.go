package app

import "context"

// SweepWorkers runs the heartbeat sweep of the scheduler loop once.
func SweepWorkers(a *App, ctx context.Context) error { return a.markSilentWorkersOffline(ctx) }

// ProbeHealth runs the health probe once.
func ProbeHealth(a *App, ctx context.Context) { a.probeHealth(ctx) }

// NotifyMatches is notifyMatches: whether notify criteria match a job's move.
var NotifyMatches = notifyMatches

// SweepCoordinator runs the coordinator's idle-group sweep.
func SweepCoordinator(a *App, ctx context.Context) error { return a.sweepCoordinator(ctx) }

// RenewLeadership takes or renews the scheduler lease once, as Run does
// every LeaseTTL/3, and reports whether a leads.
func RenewLeadership(a *App, ctx context.Context) bool { return a.renewLeadership(ctx) }

// Sweep runs the periodic sweep of Run's loop once; false when a does
// not lead (and nothing was swept).
func Sweep(a *App, ctx context.Context) bool { return a.sweep(ctx) }

// SimulateCrash makes a's Run stop without releasing the scheduler lease,
// as a process that dies does.
func SimulateCrash(a *App) {
	a.lead.mu.Lock()
	defer a.lead.mu.Unlock()
	a.lead.crash = true
}

// OnLogWait calls fn whenever a log wait of a can be woken by another
// replica's append.
func OnLogWait(a *App, fn func(jobID int64)) {
	a.bus.mu.Lock()
	defer a.bus.mu.Unlock()
	a.bus.waiting = fn
}
