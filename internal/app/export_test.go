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
