package app

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/coordinator"
	"github.com/basalt-lab/basalt/internal/devicetypes"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// DefaultGroupHoldAfter is the server's default Config.GroupHoldAfter:
// a multinode group waits at most this long behind a stream of smaller
// jobs before devices are kept for it.
const DefaultGroupHoldAfter = 10 * time.Minute

// Config tunes an App. Zero values get the documented defaults.
type Config struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives operational logs; slog.Default() when nil.
	Logger *slog.Logger
	// SweepInterval is the period of the scheduler's safety sweep (default
	// 10 s). Events trigger passes immediately; the sweep catches the rest
	// (queue timeouts, health checks falling due, changes by other servers).
	SweepInterval time.Duration
	// LeaseTTL is how long the scheduler lease lasts unless renewed
	// (default DefaultLeaseTTL, 15 s): of the server replicas on one
	// database, the one holding the lease "scheduler" runs the sweeps
	// (Run), renewing it every LeaseTTL/3. When the leader dies another
	// replica takes over within LeaseTTL plus LeaseTTL/3; when it stops
	// cleanly, within LeaseTTL/3.
	LeaseTTL time.Duration
	// HeartbeatTimeout is how long a worker may stay silent before it is
	// marked Offline (default 60 s).
	HeartbeatTimeout time.Duration
	// DefaultQueueTimeout applies to jobs without timeouts.queue (0 = none).
	DefaultQueueTimeout time.Duration
	// GroupHoldAfter is how long a multinode group may wait in the queue
	// before the scheduler keeps free devices idle for it, so that a
	// stream of smaller jobs cannot starve it (scheduler rule 8); 0 never
	// holds. The server's default is DefaultGroupHoldAfter.
	GroupHoldAfter time.Duration
	// LostJobGrace is how long past a job's own timeout the server waits for
	// an Offline worker before it finishes the job Incomplete (default 5 min).
	LostJobGrace time.Duration
	// Logs stores job logs uploaded by workers (nil: no worker link).
	Logs Logs
	// LoginThrottle tunes the throttling of failed logins (auth.LoginThrottle;
	// its clock defaults to Now).
	LoginThrottle auth.ThrottleConfig
	// HealthInterval is the period of the health probe (default 5 s): the
	// database's Ping, the log store's free space. A condition noted by a
	// request (NoteFault) probes at once.
	HealthInterval time.Duration
	// HealthTimeout bounds the database's answer to the probe (default
	// 2 s).
	HealthTimeout time.Duration
	// HealthQuiet is how long no request may fail with a condition before
	// a passing probe declares it over (default three HealthIntervals).
	HealthQuiet time.Duration
	// CheckTemplate, when set, checks the syntax of a device-type template
	// before SetDeviceTypeTemplate stores it (name: the template's name
	// without ".jinja2"; text: its Jinja2 source). An error refuses the
	// template with lab.ErrInvalid and the error's text (see templates.go).
	CheckTemplate func(name, text string) error
	// TemplatesDir is a directory of device-type templates the
	// administrator controls (an existing LAVA lab's device-types
	// directory, say), searched after the templates stored through the
	// API and before Templates; empty: none.
	TemplatesDir string
	// Templates are the device-type templates searched last; nil: those
	// Basalt ships (devicetypes.FS).
	Templates fs.FS
	// Callbacks says where notify callbacks may go (notifypolicy.go);
	// checked at submission and by the sender.
	Callbacks CallbackPolicy
	// MaxReservation is the longest a reservation may hold a device
	// (reservations.go): a reservation asks for 1 minute to this, and
	// extensions may not leave more than this before it ends (default
	// DefaultMaxReservation).
	MaxReservation time.Duration
	// Notifier carries the app's events to the other server replicas on
	// the same database and theirs to this one (replicas.go): sqlstore's
	// NewNotifier gives PostgreSQL's LISTEN/NOTIFY. Nil: this process is
	// the only server (SQLite), its events stay in process.
	Notifier store.Notifier
}

// App holds the server's use cases: every API transport calls these methods,
// which check authorization with internal/auth, validate with
// internal/jobdef, decide with internal/scheduler and persist through
// store.Store. It owns transactions; it never sees HTTP.
type App struct {
	st  store.Store
	cfg Config
	log *slog.Logger

	// coord is the multinode coordinator, loaded on first use (coordinator).
	coordMu sync.Mutex
	coord   *coordinator.Coordinator

	wake       chan struct{}
	notifyWake chan struct{} // notify.go: deliveries were queued
	logins     chan struct{} // semaphore bounding concurrent password checks
	throttle   *auth.LoginThrottle
	mu         sync.Mutex
	listeners  []func(Event)

	ingest [ingestStripes]ingestStripe // results.go: one job's ingestion at a time

	beats heartbeats // workers.go: the last heartbeat of each worker, as this process saw it

	placed placements // workerlink.go: which worker runs each job, for the log appends' checks
	missed missedJobs // workerlink.go: Running jobs one heartbeat did not list
	health health     // health.go: the server's conditions and its health probe
	lead   leadership // leader.go: the scheduler lease
	bus    replicaBus // replicas.go: events between replicas
	consol consoles   // console.go: waits for console input
	expiry expiries   // reservations.go: when the next reservation ends
}

// Event is something that happened in the lab, delivered to listeners after
// it was committed (the worker link, the UI and the event stream subscribe
// to these). Listeners share it: they must not modify it or what Job
// points to.
type Event struct {
	// Kind is "job" (a job changed state or health), "device" (a device
	// changed state or health), "worker" (a worker changed state or
	// health), "log" (a job's log grew), "event" (a job's test shell
	// ran lava-test-event: Message says what) or "resync" (KindResync:
	// events of other replicas may have been missed; re-read).
	Kind   string
	JobID  int64
	Device string
	Worker string
	State  string // LAVA's display name of the new state ("Running"); may be empty for a device
	Health string // LAVA's display name of the new health ("Good"); may be empty for a device
	// Job is the job as committed: for job events, and for the device
	// events of a job taking (Reserved) or using (Running) its device. Nil
	// when the emitter did not have it at hand.
	Job *lab.Job
	// Message is the message of a test event (Kind "event").
	Message string
}

// New returns an App over st. Call Run to start the scheduler loop.
func New(st store.Store, cfg Config) *App {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Templates == nil {
		cfg.Templates = devicetypes.FS()
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 10 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 60 * time.Second
	}
	if cfg.LostJobGrace <= 0 {
		cfg.LostJobGrace = 5 * time.Minute
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 5 * time.Second
	}
	if cfg.HealthTimeout <= 0 {
		cfg.HealthTimeout = 2 * time.Second
	}
	if cfg.HealthQuiet <= 0 {
		cfg.HealthQuiet = 3 * cfg.HealthInterval
	}
	if cfg.MaxReservation <= 0 {
		cfg.MaxReservation = DefaultMaxReservation
	}
	if cfg.LoginThrottle.Now == nil {
		cfg.LoginThrottle.Now = cfg.Now
	}
	a := &App{st: st, cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), notifyWake: make(chan struct{}, 1), logins: make(chan struct{}, 4),
		throttle: auth.NewLoginThrottle(cfg.LoginThrottle)}
	a.health.wake = make(chan struct{}, 1)
	a.expiry.wake = make(chan struct{}, 1)
	a.lead.holder = newHolder()
	a.initReplicaBus()
	return a
}

// Store returns the underlying store (for wiring and tests).
func (a *App) Store() store.Store { return a.st }

func (a *App) now() time.Time { return a.cfg.Now().UTC().Truncate(time.Microsecond) }

// Now is the time on the app's clock (Config.Now), in UTC to the
// microsecond: what "the last N minutes" of a listing count back from.
func (a *App) Now() time.Time { return a.now() }

// Subscribe registers fn to receive events. fn must not block.
func (a *App) Subscribe(fn func(Event)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.listeners = append(a.listeners, fn)
}

// emit delivers an event of this process to the listeners and publishes
// it to the other replicas.
func (a *App) emit(e Event) {
	a.deliver(e)
	a.publish(e)
}

// deliver hands e to this process's listeners.
func (a *App) deliver(e Event) {
	a.mu.Lock()
	ls := a.listeners
	a.mu.Unlock()
	for _, fn := range ls {
		fn(e)
	}
}

// Kick asks the scheduler for a pass as soon as possible. Calls coalesce.
func (a *App) Kick() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// requireAdmin returns ErrForbidden (or ErrUnauthenticated for anonymous
// callers) unless p is a superuser.
func requireAdmin(p auth.Principal, what string) error {
	if auth.IsAdmin(p) {
		return nil
	}
	return denied(p, what)
}

// denied is the error for a refused operation: anonymous callers are told to
// authenticate, known ones that they lack the right.
func denied(p auth.Principal, what string) error {
	if p.Kind == auth.KindAnonymous {
		return fmt.Errorf("%s: %w", what, lab.ErrUnauthenticated)
	}
	return fmt.Errorf("%s: %w", what, lab.ErrForbidden)
}

// Bootstrap makes sure built-in accounts exist (the health-check user).
func (a *App) Bootstrap(ctx context.Context) error {
	if _, err := a.st.GetUser(ctx, lab.HealthCheckUser); err == nil {
		return nil
	}
	_, err := a.st.CreateUser(ctx, lab.User{Username: lab.HealthCheckUser, IsActive: true, DateJoined: a.now()})
	if err != nil {
		return fmt.Errorf("create %s user: %w", lab.HealthCheckUser, err)
	}
	return nil
}
