package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/faultnet"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

// failAfter bounds every wait of these tests: reaching it is a failure,
// never a measurement.
const failAfter = 30 * time.Second

// next returns the next notification of notes, failing t when none comes.
func next(t *testing.T, notes <-chan store.Notification, what string) store.Notification {
	t.Helper()
	select {
	case n, ok := <-notes:
		if !ok {
			t.Fatalf("%s: subscription closed", what)
		}
		return n
	case <-time.After(failAfter):
		t.Fatalf("%s: no notification", what)
	}
	return store.Notification{}
}

func testNotifier(t *testing.T, dsn string) *PGNotifier {
	t.Helper()
	n, err := NewPGNotifier(dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// TestPGNotifierBetweenReplicas: a notification published by one notifier
// reaches the subscriptions of its channel on both (the publisher's own
// included), not those of another channel; an oversized payload is
// refused.
func TestPGNotifierBetweenReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := testNotifier(t, dsn), testNotifier(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	onA, cancelA := a.Subscribe("basalt_test")
	defer cancelA()
	onB, cancelB := b.Subscribe("basalt_test")
	defer cancelB()
	other, cancelOther := b.Subscribe("basalt_other")
	defer cancelOther()
	for _, n := range []*PGNotifier{a, b} {
		if err := n.Listening(ctx, "basalt_test"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Listening(ctx, "basalt_other"); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, "basalt_test", []byte(`{"k":"job","j":7}`)); err != nil {
		t.Fatal(err)
	}
	for name, notes := range map[string]<-chan store.Notification{"publisher": onA, "other replica": onB} {
		n := next(t, notes, name)
		if n.Resync || n.Channel != "basalt_test" || string(n.Payload) != `{"k":"job","j":7}` {
			t.Errorf("%s got %+v", name, n)
		}
	}
	// the other channel heard nothing: a notification on it now comes first
	if err := a.Publish(ctx, "basalt_other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := next(t, other, "other channel"); n.Channel != "basalt_other" || string(n.Payload) != "x" {
		t.Errorf("other channel got %+v", n)
	}
	big := []byte(strings.Repeat("x", store.MaxNotifyPayload+1))
	if err := a.Publish(ctx, "basalt_test", big); !errors.Is(err, lab.ErrInvalid) {
		t.Errorf("oversized payload: %v, want ErrInvalid", err)
	}
}

// TestPGNotifierReconnects: when the listening backend is terminated the
// notifier reconnects, delivers a resync to its subscriptions and hears
// what is published after.
func TestPGNotifierReconnects(t *testing.T) {
	dsn := pgtest.DSN(t)
	n := testNotifier(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	notes, stop := n.Subscribe("basalt_test")
	defer stop()
	if err := n.Listening(ctx, "basalt_test"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'`)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := res.RowsAffected(); k != 1 {
		t.Fatalf("terminated %d listening backends, want 1", k)
	}
	if got := next(t, notes, "after termination"); !got.Resync {
		t.Fatalf("first notification after termination %+v, want a resync", got)
	}
	if c := n.Connects(); c < 2 {
		t.Errorf("%d connections, want a reconnection", c)
	}
	if err := n.Listening(ctx, "basalt_test"); err != nil {
		t.Fatal(err)
	}
	if err := n.Publish(ctx, "basalt_test", []byte("again")); err != nil {
		t.Fatal(err)
	}
	if got := next(t, notes, "after reconnection"); got.Resync || string(got.Payload) != "again" {
		t.Errorf("after reconnection got %+v", got)
	}
}

// TestLocalNotifier: in process, a notification reaches the channel's
// subscriptions; a subscription that falls NotifyBuffer behind gets a
// resync before what comes next.
func TestLocalNotifier(t *testing.T) {
	n := store.NewLocalNotifier()
	defer n.Close()
	ctx := context.Background()
	notes, stop := n.Subscribe("c")
	defer stop()
	for i := 0; i < store.NotifyBuffer+5; i++ {
		if err := n.Publish(ctx, "c", []byte("p")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < store.NotifyBuffer; i++ {
		if got := next(t, notes, "buffered"); got.Resync || string(got.Payload) != "p" {
			t.Fatalf("buffered %d: %+v", i, got)
		}
	}
	if err := n.Publish(ctx, "c", []byte("last")); err != nil {
		t.Fatal(err)
	}
	if got := next(t, notes, "resync"); !got.Resync {
		t.Fatalf("after an overflow got %+v, want a resync", got)
	}
	if got := next(t, notes, "last"); string(got.Payload) != "last" {
		t.Fatalf("after the resync got %+v", got)
	}
	if err := n.Publish(ctx, "", nil); !errors.Is(err, lab.ErrInvalid) {
		t.Errorf("empty channel: %v, want ErrInvalid", err)
	}
}

// TestPGNotifierSilentDrop: a listening connection that stops answering
// (the network drops it without a reset) is noticed by its ping, replaced,
// and the subscriptions get a resync, then what is published after.
func TestPGNotifierSilentDrop(t *testing.T) {
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := faultnet.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	u.Host = proxy.Addr()
	lost := make(chan error, 8)
	n, err := newPGNotifier(u.String(), nil, 200*time.Millisecond, func(err error) {
		select {
		case lost <- err:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	notes, stop := n.Subscribe("basalt_test")
	defer stop()
	if err := n.Listening(ctx, "basalt_test"); err != nil {
		t.Fatal(err)
	}
	proxy.StallOn()
	select {
	case err := <-lost:
		if !strings.Contains(err.Error(), "ping") {
			t.Errorf("connection ended by %v, want its ping", err)
		}
	case <-time.After(failAfter):
		t.Fatal("a silent connection was never noticed")
	}
	proxy.StallOff()
	if got := next(t, notes, "after the drop"); !got.Resync {
		t.Fatalf("first notification after the drop %+v, want a resync", got)
	}
	if err := n.Listening(ctx, "basalt_test"); err != nil {
		t.Fatal(err)
	}
	pub, err := NewPGNotifier(dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, "basalt_test", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := next(t, notes, "after reconnection"); got.Resync || string(got.Payload) != "after" {
		t.Errorf("after reconnection got %+v", got)
	}
}
