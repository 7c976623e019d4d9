package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/basalt-lab/basalt/internal/lab"
)

// MaxNotifyPayload is the largest payload a Notifier carries, in bytes:
// PostgreSQL's NOTIFY takes fewer than 8000 bytes by default. Notifications
// name things (ids, kinds); receivers read the rest from the store.
const MaxNotifyPayload = 7999

// NotifyBuffer is the number of notifications a subscription holds before
// it drops them and owes its reader a resync.
const NotifyBuffer = 256

// Notification is one message received from a Notifier.
type Notification struct {
	// Channel is the channel it was published on.
	Channel string
	// Payload is the published payload; nil with Resync.
	Payload []byte
	// Resync says that notifications may have been lost before this one
	// (the connection to the database was lost and re-established, or the
	// reader fell behind): the reader must re-read the state it follows
	// instead of trusting that it saw every change.
	Resync bool
}

// Notifier carries small notifications between the server processes
// (replicas) that share one database. A notification is delivered to
// every subscription of its channel, in every process, the publisher's
// own included (receivers tell their own notifications apart by what they
// put in the payload). Delivery is at most once: a receiver that may have
// missed notifications gets a Notification with Resync instead, and
// resynchronises from the store.
type Notifier interface {
	// Publish sends payload (at most MaxNotifyPayload bytes, lab.ErrInvalid
	// otherwise) on channel, after the caller's transaction committed.
	Publish(ctx context.Context, channel string, payload []byte) error
	// Subscribe returns the notifications of channel until cancel is
	// called or the Notifier is closed (the channel is then closed). The
	// reader must keep up: when NotifyBuffer notifications wait unread,
	// later ones are dropped and a Resync is delivered once there is room.
	Subscribe(channel string) (notes <-chan Notification, cancel func())
	// Close stops the Notifier and closes every subscription.
	Close() error
}

// subscriptions is the fan-out shared by the Notifier implementations:
// each subscription has a buffered channel and a pending-resync flag.
type subscriptions struct {
	mu     sync.Mutex
	closed bool
	subs   map[string]map[*subscription]struct{}
}

type subscription struct {
	ch     chan Notification
	resync bool // a notification was dropped: deliver a resync first
}

// subscribe adds a subscription to channel and reports whether it is the
// channel's first.
func (s *subscriptions) subscribe(channel string) (<-chan Notification, func(), bool) {
	sub := &subscription{ch: make(chan Notification, NotifyBuffer)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(sub.ch)
		return sub.ch, func() {}, false
	}
	if s.subs == nil {
		s.subs = map[string]map[*subscription]struct{}{}
	}
	first := len(s.subs[channel]) == 0
	if first {
		s.subs[channel] = map[*subscription]struct{}{}
	}
	s.subs[channel][sub] = struct{}{}
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if _, ok := s.subs[channel][sub]; ok {
				delete(s.subs[channel], sub)
				close(sub.ch)
			}
		})
	}
	return sub.ch, cancel, first
}

// channels returns the channels that have subscriptions.
func (s *subscriptions) channels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for ch, subs := range s.subs {
		if len(subs) > 0 {
			out = append(out, ch)
		}
	}
	return out
}

// deliver hands n to every subscription of its channel, or (resync) a
// resync to every subscription of every channel. It never blocks.
func (s *subscriptions) deliver(n Notification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch, subs := range s.subs {
		if !n.Resync && ch != n.Channel {
			continue
		}
		for sub := range subs {
			sub.send(Notification{Channel: ch, Payload: n.Payload, Resync: n.Resync})
		}
	}
}

func (sub *subscription) send(n Notification) {
	if sub.resync && !n.Resync {
		select {
		case sub.ch <- Notification{Channel: n.Channel, Resync: true}:
			sub.resync = false
		default:
			return // still full: n is lost too, the resync covers it
		}
	}
	select {
	case sub.ch <- n:
		if n.Resync {
			sub.resync = false
		}
	default:
		sub.resync = true
	}
}

// close closes every subscription.
func (s *subscriptions) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for ch, subs := range s.subs {
		for sub := range subs {
			close(sub.ch)
		}
		delete(s.subs, ch)
	}
}

// CheckNotification validates a channel name and payload for Publish.
func CheckNotification(channel string, payload []byte) error {
	if channel == "" || len(channel) > 63 {
		return fmt.Errorf("notify: %w: channel name %q is empty or longer than 63 bytes", lab.ErrInvalid, channel)
	}
	if len(payload) > MaxNotifyPayload {
		return fmt.Errorf("notify on %s: %w: payload of %d bytes exceeds %d", channel, lab.ErrInvalid, len(payload), MaxNotifyPayload)
	}
	return nil
}

// LocalNotifier is the Notifier of a single process (SQLite: one server):
// Publish delivers to the subscriptions of this process only. Its zero
// value is ready to use.
type LocalNotifier struct {
	subs subscriptions
}

// NewLocalNotifier returns an in-process Notifier.
func NewLocalNotifier() *LocalNotifier { return &LocalNotifier{} }

// Publish delivers payload to the channel's subscriptions in this process.
func (n *LocalNotifier) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := CheckNotification(channel, payload); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("notify on %s: %w", channel, err)
	}
	n.subs.deliver(Notification{Channel: channel, Payload: append([]byte(nil), payload...)})
	return nil
}

// Subscribe returns the notifications of channel (see Notifier).
func (n *LocalNotifier) Subscribe(channel string) (<-chan Notification, func()) {
	ch, cancel, _ := n.subs.subscribe(channel)
	return ch, cancel
}

// Close closes every subscription.
func (n *LocalNotifier) Close() error {
	n.subs.close()
	return nil
}

// Fanout is the subscription side of a Notifier, for implementations in
// other packages (sqlstore's PostgreSQL notifier): it hands notifications
// to subscriptions without ever blocking.
type Fanout struct{ subs subscriptions }

// Subscribe adds a subscription to channel; first reports whether the
// channel had none before (the implementation then starts listening).
func (f *Fanout) Subscribe(channel string) (notes <-chan Notification, cancel func(), first bool) {
	return f.subs.subscribe(channel)
}

// Channels returns the channels that have subscriptions.
func (f *Fanout) Channels() []string { return f.subs.channels() }

// Deliver hands n to the subscriptions of n.Channel, or, for a resync, a
// resync to every subscription.
func (f *Fanout) Deliver(n Notification) { f.subs.deliver(n) }

// Close closes every subscription.
func (f *Fanout) Close() { f.subs.close() }
