package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/admit"
	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/events"
	"github.com/basalt-lab/basalt/internal/api/lavacoord"
	"github.com/basalt-lab/basalt/internal/api/lavarest"
	"github.com/basalt-lab/basalt/internal/api/lavarpc"
	"github.com/basalt-lab/basalt/internal/api/rest"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/api/workerapi"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/jinja"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/notify"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/store/sqlstore"
	"github.com/basalt-lab/basalt/internal/version"
	"github.com/basalt-lab/basalt/internal/web"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Config says where the server keeps its data and how it listens.
type Config struct {
	// Listen is the TCP address (default 127.0.0.1:8000).
	Listen string
	// DataDir holds the embedded database and, later, logs (default ./basalt-data).
	DataDir string
	// Database is a postgres:// URL; empty means SQLite in DataDir/basalt.db.
	Database string
	// LogStore is where job logs are kept: LogStoreFiles (files under
	// DataDir/logs, on this machine only) or LogStoreDatabase (chunks in
	// the database, which every replica on it appends to and serves).
	// Empty means files. Server replicas on one PostgreSQL need the
	// database (docs/operations.md, High availability).
	LogStore string
	// TLSCert and TLSKey enable HTTPS when both are set.
	TLSCert, TLSKey string
	// Logger for operations; slog.Default() when nil.
	Logger *slog.Logger
	// App tunes the use-case layer (sweep interval, heartbeat timeout…).
	App app.Config
	// HeartbeatInterval is announced to workers: they send a heartbeat and
	// the server pings their stream at this rate (default 10 s).
	HeartbeatInterval time.Duration
	// MissedHeartbeats is how many intervals of silence mark a worker
	// Offline (default 3).
	MissedHeartbeats int
	// MaxRequests bounds the REST API's and the web UI's requests running at
	// once, and QueueWait how long one waits for a slot before it is
	// refused with 503 and Retry-After (package admit; defaults 64 and
	// 250 ms). The worker link and /healthz are not limited.
	MaxRequests int
	QueueWait   time.Duration
	// Limits bound connections per client and the time a request may
	// take to arrive (limits.go).
	Limits Limits
	// CoordinatorListen, when set, is the TCP address of a LAVA-compatible
	// coordinator listener (LAVA's lava-coordinator protocol, port 3079 by
	// LAVA's default) for stock LAVA dispatchers. Basalt's own workers do
	// not need it: their jobs reach the coordinator over the worker link.
	// It speaks LAVA's plain, unauthenticated protocol: bind it to an
	// address only the lab's dispatchers reach. Off when empty.
	CoordinatorListen string
	// Notify tunes the sender of jobs' notifications (callbacks, e-mail);
	// where callbacks may go is App.Callbacks. Its ExportResults is the
	// server's own (LAVA's YAML export); its BaseURL defaults to URL().
	Notify notify.Config
}

// Server is a running Basalt server: store, use cases, scheduler loop and
// the HTTP API on one listener.
type Server struct {
	cfg Config
	st  store.Store
	// closeLogs releases the log store (a no-op for the database's).
	closeLogs func() error
	app       *app.App
	workers   *workerapi.Server
	notify    *notify.Sender // the notifications of jobs' notify blocks
	// notifier carries events between replicas on PostgreSQL (nil on
	// SQLite, or when Config.App brought its own).
	notifier *sqlstore.PGNotifier
	events   *events.Server // LAVA's event stream at /ws/
	ui       *web.UI        // the web UI; its live streams close at shutdown
	admit    *admit.Limiter
	ln       net.Listener
	http     *http.Server
	// coordLn is the LAVA coordinator listener (nil when off).
	coordLn net.Listener
}

// DatabaseDSN returns the DSN the server opens for cfg.
func (cfg Config) DatabaseDSN() string {
	if cfg.Database != "" {
		return cfg.Database
	}
	return filepath.Join(cfg.DataDir, "basalt.db")
}

func (cfg *Config) defaults() {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8000"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "basalt-data"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.App.Logger == nil {
		cfg.App.Logger = cfg.Logger
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 10 * time.Second
	}
	if cfg.MissedHeartbeats <= 0 {
		cfg.MissedHeartbeats = 3
	}
	if cfg.App.HeartbeatTimeout <= 0 {
		cfg.App.HeartbeatTimeout = time.Duration(cfg.MissedHeartbeats) * cfg.HeartbeatInterval
	}
	cfg.Limits.defaults()
}

// OpenStore opens (and migrates) the database cfg names, creating the data
// directory when needed.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	cfg.defaults()
	if cfg.Database == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	st, err := sqlstore.Open(ctx, cfg.DatabaseDSN())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return st, nil
}

// The log stores Config.LogStore names.
const (
	// LogStoreFiles keeps job logs in files under DataDir/logs: the
	// fastest, for a single server.
	LogStoreFiles = "files"
	// LogStoreDatabase keeps job logs in the database, in chunks: every
	// server replica on that database appends to and serves them.
	LogStoreDatabase = "database"
)

// logStore is the log store cfg names, with its default.
func (cfg Config) logStore() string {
	if cfg.LogStore != "" {
		return cfg.LogStore
	}
	return LogStoreFiles
}

// openLogs opens the log store cfg names, on st for LogStoreDatabase, and
// returns it with its closing function.
func openLogs(cfg Config, st store.Store) (app.Logs, func() error, error) {
	switch cfg.logStore() {
	case LogStoreFiles:
		logs, err := logstore.Open(filepath.Join(cfg.DataDir, "logs"))
		if err != nil {
			return nil, nil, fmt.Errorf("open log store: %w", err)
		}
		return logs, logs.Close, nil
	case LogStoreDatabase:
		sq, ok := st.(*sqlstore.Store)
		if !ok {
			return nil, nil, fmt.Errorf("log store %q: the store is not a database", LogStoreDatabase)
		}
		return sq.Logs(), func() error { return nil }, nil
	}
	return nil, nil, fmt.Errorf("log store %q: want %q or %q", cfg.LogStore, LogStoreFiles, LogStoreDatabase)
}

// Open prepares a server: opens the store, builds the app and binds the
// listener (so Addr is known before Serve).
func Open(ctx context.Context, cfg Config) (*Server, error) {
	cfg.defaults()
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("TLS needs both a certificate and a key")
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Replicas on one PostgreSQL hear one another's events (LISTEN/NOTIFY);
	// a single SQLite server needs no notifier.
	var notifier *sqlstore.PGNotifier
	if cfg.App.Notifier == nil && sqlstore.IsPostgres(cfg.DatabaseDSN()) {
		if notifier, err = sqlstore.NewPGNotifier(cfg.DatabaseDSN(), cfg.Logger); err != nil {
			st.Close()
			return nil, err
		}
		cfg.App.Notifier = notifier
	}
	opened := false
	defer func() {
		if !opened && notifier != nil {
			notifier.Close()
		}
	}()
	logs, closeLogs, err := openLogs(cfg, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	cfg.App.Logs = logs
	if cfg.App.CheckTemplate == nil {
		cfg.App.CheckTemplate = CheckTemplateSyntax
	}
	if err := cfg.App.Callbacks.Validate(); err != nil {
		closeLogs()
		st.Close()
		return nil, err
	}
	a := app.New(st, cfg.App)
	if err := a.Bootstrap(ctx); err != nil {
		closeLogs()
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		closeLogs()
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	ln = limitClients(ln, cfg.Limits.MaxConnsPerClient, cfg.Logger)
	var coordLn net.Listener
	if cfg.CoordinatorListen != "" {
		if coordLn, err = net.Listen("tcp", cfg.CoordinatorListen); err != nil {
			ln.Close()
			closeLogs()
			st.Close()
			return nil, fmt.Errorf("coordinator: listen on %s: %w", cfg.CoordinatorListen, err)
		}
	}
	if cfg.Notify.Logger == nil {
		cfg.Notify.Logger = cfg.Logger
	}
	cfg.Notify.ExportResults = lavarpc.ExportYAML
	if cfg.Notify.BaseURL == "" {
		scheme := "http"
		if cfg.TLSCert != "" {
			scheme = "https"
		}
		cfg.Notify.BaseURL = scheme + "://" + ln.Addr().String()
	}
	sender, err := notify.New(a, cfg.Notify)
	if err != nil {
		ln.Close()
		closeLogs()
		st.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, st: st, closeLogs: closeLogs, app: a, ln: ln, coordLn: coordLn, notify: sender, notifier: notifier,
		workers: workerapi.New(a, cfg.Logger, cfg.HeartbeatInterval),
		events:  events.New(a, cfg.Logger, events.Config{}),
		ui:      web.New(a, cfg.Logger), admit: admit.New(cfg.MaxRequests, cfg.QueueWait)}
	s.ui.SetAdmission(s.admit)
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	s.http = &http.Server{
		Handler:           limitBodies(s.Handler(), cfg.Limits),
		ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
		IdleTimeout:       cfg.Limits.IdleTimeout,
		Protocols:         &protos,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	s.http.RegisterOnShutdown(s.workers.CloseStreams)
	s.http.RegisterOnShutdown(s.ui.CloseStreams)
	s.http.RegisterOnShutdown(s.events.Close)
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			s.events.Close()
			ln.Close()
			st.Close()
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	opened = true
	return s, nil
}

// Admission is the limiter of the REST API's and the web UI's requests
// (package admit): its InFlight is a load figure, and tests take its slots.
func (s *Server) Admission() *admit.Limiter { return s.admit }

// App returns the use-case layer (for bootstrap commands and tests).
func (s *Server) App() *app.App { return s.app }

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the base URL clients use.
// CoordinatorAddr is the address of the LAVA coordinator listener, empty
// when it is off.
func (s *Server) CoordinatorAddr() string {
	if s.coordLn == nil {
		return ""
	}
	return s.coordLn.Addr().String()
}

func (s *Server) URL() string {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.Addr()
}

// Handler is the server's whole HTTP surface.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	api := rest.New(s.app, s.cfg.Logger)
	api.SetAdmission(s.admit)
	mux.Handle(wire.Prefix+"/", api)
	rpc := lavarpc.New(s.app, s.cfg.Logger)
	rpc.SetAdmission(s.admit)
	mux.Handle(lavarpc.Path, rpc)
	mux.Handle(lavarpc.Path+"/", rpc)
	v02 := lavarest.New(s.app, s.cfg.Logger) // LAVA's REST API v0.2
	v02.SetAdmission(s.admit)
	mux.Handle(lavarest.Prefix+"/", v02)
	mux.Handle(workerproto.Prefix+"/", s.workers)
	mux.Handle(events.Path, s.events)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("/", s.ui)
	return mux
}

// healthBody is the answer of /healthz (docs/operations.md).
type healthBody struct {
	// Status is ok, degraded (a disk is full: reads work, writes fail) or
	// down (the database does not answer).
	Status string `json:"status"`
	// Health is good when Status is ok, bad otherwise: the field of earlier
	// releases, kept for the probes written against them.
	Health   string    `json:"health"`
	Version  string    `json:"version"`
	Checked  time.Time `json:"checked"`
	Database struct {
		Status    string  `json:"status"` // ok, unavailable
		LatencyMS float64 `json:"latency_ms"`
	} `json:"database"`
	LogStore struct {
		Status string `json:"status"` // ok, full, unknown
	} `json:"log_store"`
	// Storage is full while writes fail for want of space (the log
	// store's disk or the database's), ok otherwise.
	Storage string `json:"storage"`
	// DiskFree is the space available to the log store, in bytes; null
	// when unknown.
	DiskFree *int64      `json:"disk_free"`
	Faults   []faultBody `json:"faults"`
	// SchedulerLeader says whether this server holds the scheduler lease
	// and so runs the periodic sweeps (of the replicas on one database,
	// one does).
	SchedulerLeader bool `json:"scheduler_leader"`
}

// faultBody is a condition that holds, in healthBody.
type faultBody struct {
	Kind     string    `json:"kind"` // storage_full, database_unavailable
	Since    time.Time `json:"since"`
	Failures int64     `json:"failures"` // requests (and probes) it failed
	Message  string    `json:"message"`
}

// healthz reports the server's health from the app's last probe (every
// few seconds, on a database connection of its own): it never queries the
// database itself, so it answers at once whatever the load. 200 when the
// status is ok, 503 otherwise.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	h := s.app.Health(r.Context())
	var b healthBody
	b.Status, b.Health, b.Version, b.Checked = h.Status, "good", version.Version, h.Checked
	b.Database.Status = h.Database
	b.Database.LatencyMS = float64(h.Latency.Microseconds()) / 1000
	b.LogStore.Status = h.LogStore
	b.Storage = h.Storage
	if h.DiskFree >= 0 {
		b.DiskFree = &h.DiskFree
	}
	b.SchedulerLeader = s.app.Leader()
	b.Faults = []faultBody{}
	for _, f := range h.Faults {
		msg := apierr.StorageFullMessage
		if f.Kind == app.FaultDatabase {
			msg = apierr.DatabaseUnavailableMessage
		}
		b.Faults = append(b.Faults, faultBody{Kind: f.Kind, Since: f.Since, Failures: f.Failures, Message: msg})
	}
	code := http.StatusOK
	if h.Status != app.HealthOK {
		b.Health, code = "bad", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(b)
}

// Serve runs the scheduler loop and the HTTP server until ctx ends, then
// shuts down gracefully (in-flight requests get up to 10 s) and closes the
// store.
func (s *Server) Serve(ctx context.Context) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		s.app.Run(runCtx)
	}()
	pushDone := make(chan struct{})
	go func() {
		defer close(pushDone)
		s.workers.Run(runCtx)
	}()
	notifyDone := make(chan struct{})
	go func() {
		defer close(notifyDone)
		s.notify.Run(runCtx)
	}()
	coordDone := make(chan struct{})
	go func() {
		defer close(coordDone)
		if s.coordLn == nil {
			return
		}
		co, err := s.app.Coordinator(runCtx)
		if err != nil {
			s.cfg.Logger.Error("coordinator listener not started", "err", err)
			s.coordLn.Close()
			return
		}
		if err := lavacoord.Serve(runCtx, s.coordLn, co, lavacoord.Options{Logger: s.cfg.Logger}); err != nil && runCtx.Err() == nil {
			s.cfg.Logger.Error("coordinator listener stopped", "err", err)
		}
	}()
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.http.TLSConfig != nil {
			err = s.http.ServeTLS(s.ln, "", "")
		} else {
			err = s.http.Serve(s.ln)
		}
		errc <- err
	}()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.http.Shutdown(shutCtx)
	s.events.Close() // before the store closes (Shutdown runs it too, in a goroutine)
	stop()
	<-loopDone
	<-pushDone
	<-notifyDone // it released its claims: the next server takes them at once
	<-coordDone
	s.closeNotifier()
	if err := s.closeLogs(); err != nil && serveErr == nil {
		serveErr = fmt.Errorf("close log store: %w", err)
	}
	if err := s.st.Close(); err != nil && serveErr == nil {
		serveErr = fmt.Errorf("close store: %w", err)
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// Close releases a server that was opened but never served.
func (s *Server) Close() error {
	s.events.Close()
	s.ln.Close()
	s.closeNotifier()
	s.closeLogs()
	return s.st.Close()
}

// closeNotifier stops the replicas' notifier, if the server made one.
func (s *Server) closeNotifier() {
	if s.notifier != nil {
		if err := s.notifier.Close(); err != nil {
			s.cfg.Logger.Warn("close notifier", "err", err)
		}
	}
}

// redactDSN hides a password in a database URL for printing.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			cred := rest[:at]
			if u, _, ok := strings.Cut(cred, ":"); ok {
				return dsn[:i+3] + u + ":***@" + rest[at+1:]
			}
		}
	}
	return dsn
}

// Describe is a one-line summary of the database for start-up output.
func (cfg Config) Describe() string {
	if cfg.Database != "" {
		return "PostgreSQL " + redactDSN(cfg.Database)
	}
	return "SQLite " + cfg.DatabaseDSN()
}

// DescribeLogs says where the server keeps job logs, for its banner.
func (cfg Config) DescribeLogs() string {
	if cfg.logStore() == LogStoreDatabase {
		return "in the database (every replica serves them)"
	}
	return "files in " + filepath.Join(cfg.DataDir, "logs")
}

// Config returns the server's effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// CheckTemplateSyntax checks a device-type template's Jinja2 syntax before
// it is stored, with LAVA's settings; its error gives the template's
// line:column.
func CheckTemplateSyntax(name, text string) error {
	_, err := jinja.NewLAVA(nil).Parse(name+".jinja2", text)
	return err
}

// ImportLogs copies the job logs kept in files under cfg's data directory
// (the log store LogStoreFiles) into cfg's database (LogStoreDatabase),
// each checked by size and SHA-256, so a lab can move to server replicas
// with its history. It is idempotent: run again, it completes what an
// interrupted run left and changes nothing else. The server must not be
// running on that data directory (its log store is locked). progress is
// called after each job (err: that job was not copied; the others are).
// It returns how many logs and bytes were copied, and an error when any
// job failed or the stores could not be opened.
func ImportLogs(ctx context.Context, cfg Config, progress func(jobID, size int64, err error)) (jobs int, bytes int64, err error) {
	cfg.defaults()
	files, err := logstore.Open(filepath.Join(cfg.DataDir, "logs"))
	if err != nil {
		return 0, 0, fmt.Errorf("open the log files: %w", err)
	}
	defer files.Close()
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	db, _, err := openLogs(Config{LogStore: LogStoreDatabase}, st)
	if err != nil {
		return 0, 0, err
	}
	ids, err := files.Jobs()
	if err != nil {
		return 0, 0, err
	}
	failed := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return jobs, bytes, err
		}
		n, err := logstore.Copy(ctx, db, files, id)
		progress(id, n, err)
		if err != nil {
			failed++
			continue
		}
		jobs++
		bytes += n
	}
	if failed > 0 {
		return jobs, bytes, fmt.Errorf("%d of %d job logs not copied", failed, len(ids))
	}
	return jobs, bytes, nil
}
