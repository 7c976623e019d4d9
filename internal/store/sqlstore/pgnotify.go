package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/basalt-lab/basalt/internal/store"
)

// listenPing is how long the listening connection may stay quiet before
// it is pinged; a ping unanswered within half of it ends the connection
// (then reconnected, with a resync).
const listenPing = 30 * time.Second

// NewNotifier returns the Notifier of the database named by dsn (as Open
// takes it): PostgreSQL's LISTEN/NOTIFY for a postgres:// URL, so that the
// server replicas on one PostgreSQL hear one another, and an in-process
// notifier for SQLite (one server per database). log receives the
// listener's connection losses; slog.Default() when nil.
func NewNotifier(dsn string, log *slog.Logger) (store.Notifier, error) {
	if IsPostgres(dsn) {
		return NewPGNotifier(dsn, log)
	}
	return store.NewLocalNotifier(), nil
}

// IsPostgres reports whether dsn names a PostgreSQL database (as Open
// reads it).
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// PGNotifier is a store.Notifier over PostgreSQL's LISTEN/NOTIFY. Publish
// runs pg_notify on a small pool; a dedicated connection LISTENs on every
// subscribed channel. When that connection is lost (the server restarted,
// failed over, or terminated the backend) the notifier reconnects with a
// backoff (100 ms doubling to 5 s), LISTENs again and delivers a Resync to
// every subscription: what was published meanwhile is lost, and the
// subscribers re-read the state they follow.
type PGNotifier struct {
	dsn  string
	log  *slog.Logger
	pub  *sql.DB
	subs store.Fanout

	ctx    context.Context
	stop   context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	rewait context.CancelFunc // interrupts the wait for a notification: a channel was added
	// connects counts the listening connections established.
	connects int
	// listening are the channels the current connection LISTENs on;
	// changed is closed (and replaced) when they change.
	listening map[string]bool
	changed   chan struct{}
	ping      time.Duration // quiet time before the connection is pinged
	lost      func(error)   // called when a listening connection ends (tests)
}

// NewPGNotifier returns a PostgreSQL notifier on dsn; its listener connects
// in the background (and keeps reconnecting) until Close.
func NewPGNotifier(dsn string, log *slog.Logger) (*PGNotifier, error) {
	return newPGNotifier(dsn, log, listenPing, nil)
}

// newPGNotifier is NewPGNotifier with the quiet time before a ping, and a
// hook called with the error that ended each listening connection
// (tests).
func newPGNotifier(dsn string, log *slog.Logger, ping time.Duration, lost func(error)) (*PGNotifier, error) {
	if log == nil {
		log = slog.Default()
	}
	pub, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL notifier: %w", err)
	}
	pub.SetMaxOpenConns(2)
	pub.SetMaxIdleConns(2)
	ctx, stop := context.WithCancel(context.Background())
	n := &PGNotifier{dsn: dsn, log: log, pub: pub, ctx: ctx, stop: stop, done: make(chan struct{}),
		changed: make(chan struct{}), ping: ping, lost: lost}
	go n.listen()
	return n, nil
}

// Publish sends payload on channel with pg_notify: PostgreSQL delivers it
// to every listener once the statement's transaction commits (here at
// once: the caller's own transaction committed before).
func (n *PGNotifier) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := store.CheckNotification(channel, payload); err != nil {
		return err
	}
	if _, err := n.pub.ExecContext(ctx, "SELECT pg_notify($1, $2)", channel, string(payload)); err != nil {
		return fmt.Errorf("notify on %s: %w", channel, classify(err))
	}
	return nil
}

// Subscribe returns the notifications of channel (see store.Notifier).
// The listener LISTENs on a new channel at once.
func (n *PGNotifier) Subscribe(channel string) (<-chan store.Notification, func()) {
	ch, cancel, first := n.subs.Subscribe(channel)
	if first {
		n.mu.Lock()
		if n.rewait != nil {
			n.rewait()
		}
		n.mu.Unlock()
	}
	return ch, cancel
}

// Connects is the number of listening connections established so far: 1
// after the first, more after reconnections.
func (n *PGNotifier) Connects() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.connects
}

// Listening blocks until the listening connection LISTENs on channel (a
// subscription made before Listening returns hears every notification
// published after), or ctx ends.
func (n *PGNotifier) Listening(ctx context.Context, channel string) error {
	for {
		n.mu.Lock()
		ok, changed := n.listening[channel], n.changed
		n.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for LISTEN on %s: %w", channel, ctx.Err())
		case <-n.done:
			return fmt.Errorf("wait for LISTEN on %s: notifier closed", channel)
		}
	}
}

// setListening publishes the channels the connection listens on.
func (n *PGNotifier) setListening(chs map[string]bool) {
	cp := make(map[string]bool, len(chs))
	for ch := range chs {
		cp[ch] = true
	}
	n.mu.Lock()
	n.listening = cp
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// Close stops the listener, closes its connections and every
// subscription.
func (n *PGNotifier) Close() error {
	n.stop()
	<-n.done
	n.subs.Close()
	if err := n.pub.Close(); err != nil {
		return fmt.Errorf("close PostgreSQL notifier: %w", err)
	}
	return nil
}

// listen keeps a listening connection until Close.
func (n *PGNotifier) listen() {
	defer close(n.done)
	backoff := 100 * time.Millisecond
	for n.ctx.Err() == nil {
		before := n.Connects()
		err := n.session()
		if n.ctx.Err() != nil {
			return
		}
		if n.lost != nil {
			n.lost(err)
		}
		if n.Connects() > before {
			// it was connected: one warning per outage, then quiet retries
			backoff = 100 * time.Millisecond
			n.log.Warn("notification listener lost its connection, reconnecting", "err", err)
		} else {
			n.log.Debug("notification listener cannot connect yet", "err", err, "retry in", backoff)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// session is one listening connection: it LISTENs on every subscribed
// channel, delivers a resync if it is not the first, and hands
// notifications to the subscriptions until the connection fails.
func (n *PGNotifier) session() error {
	cfg, err := pgx.ParseConfig(n.dsn)
	if err != nil {
		return fmt.Errorf("parse DSN: %w", err)
	}
	// An interrupted wait (a channel to LISTEN on was added) must leave the
	// connection usable and send no cancel request that could hit the
	// next LISTEN: only a read deadline.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(n.ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	listening := map[string]bool{}
	defer n.setListening(nil)
	resync := false
	for {
		added := false
		for _, ch := range n.subs.Channels() {
			if listening[ch] {
				continue
			}
			if _, err := conn.Exec(n.ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
				return fmt.Errorf("listen on %s: %w", ch, err)
			}
			listening[ch], added = true, true
		}
		if added || !resync {
			n.setListening(listening)
		}
		if !resync {
			// Listening on everything subscribed: from here on nothing is
			// lost, and what was published while the previous connection
			// was down must be re-read.
			resync = true
			n.mu.Lock()
			n.connects++
			again := n.connects > 1
			n.mu.Unlock()
			if again {
				n.log.Info("notification listener reconnected")
				n.subs.Deliver(store.Notification{Resync: true})
			}
		}
		wctx, cancel := context.WithTimeout(n.ctx, n.ping)
		n.mu.Lock()
		n.rewait = cancel
		n.mu.Unlock()
		// a channel subscribed between Channels and here must not wait
		// for the next notification
		for _, ch := range n.subs.Channels() {
			if !listening[ch] {
				cancel()
			}
		}
		note, err := conn.WaitForNotification(wctx)
		cancel()
		n.mu.Lock()
		n.rewait = nil
		n.mu.Unlock()
		if err != nil {
			if n.ctx.Err() != nil {
				return n.ctx.Err()
			}
			if errors.Is(wctx.Err(), context.DeadlineExceeded) && !conn.IsClosed() {
				// quiet for a while: make sure the connection still
				// answers (a silently dropped one would hear nothing)
				pctx, pcancel := context.WithTimeout(n.ctx, n.ping/2)
				err := conn.Ping(pctx)
				pcancel()
				if err != nil {
					return fmt.Errorf("ping: %w", err)
				}
				continue
			}
			if wctx.Err() != nil && !conn.IsClosed() {
				continue // interrupted to LISTEN on a new channel
			}
			return fmt.Errorf("wait for notification: %w", err)
		}
		n.subs.Deliver(store.Notification{Channel: note.Channel, Payload: []byte(note.Payload)})
	}
}
