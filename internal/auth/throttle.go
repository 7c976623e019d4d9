package auth

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sync"
	"time"
)

// ThrottleConfig tunes a LoginThrottle. Zero values get the defaults in
// brackets.
type ThrottleConfig struct {
	// UserFailures is how many failed logins a username may have before
	// each further failure locks it for a window [5].
	UserFailures int
	// AddrFailures is the same budget for a client address, higher because
	// several people may log in from one address [50].
	AddrFailures int
	// FirstWindow is the lockout window after the failure that exhausts a
	// budget; each further failure doubles it [1 s].
	FirstWindow time.Duration
	// MaxWindow caps the window [15 min].
	MaxWindow time.Duration
	// ForgetAfter: a key without a failure for this long starts afresh
	// [1 h]. A successful login resets its username at once.
	ForgetAfter time.Duration
	// MaxKeys bounds the usernames and addresses tracked; past it the key
	// touched longest ago is forgotten [100,000; at least 2]. An entry
	// takes about 250 bytes (keys longer than 128 bytes are hashed).
	MaxKeys int
	// Now is the clock [time.Now].
	Now func() time.Time
}

func (c *ThrottleConfig) defaults() {
	if c.UserFailures <= 0 {
		c.UserFailures = 5
	}
	if c.AddrFailures <= 0 {
		c.AddrFailures = 50
	}
	if c.FirstWindow <= 0 {
		c.FirstWindow = time.Second
	}
	if c.MaxWindow <= 0 {
		c.MaxWindow = 15 * time.Minute
	}
	if c.MaxWindow < c.FirstWindow {
		c.MaxWindow = c.FirstWindow
	}
	if c.ForgetAfter <= 0 {
		c.ForgetAfter = time.Hour
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100_000
	}
	c.MaxKeys = max(c.MaxKeys, 2) // one attempt needs its user and its address
	if c.Now == nil {
		c.Now = time.Now
	}
}

// LoginThrottle is the policy against password guessing: it counts failed
// logins per username and per client address and, once a key has used its
// budget, refuses attempts for a window that doubles with every further
// failure, up to MaxWindow. Windows always expire, so nobody is locked out
// for good; a success clears its username's count (not its address's: one
// valid account must not buy guesses at others). Unknown usernames are
// counted exactly like existing ones, so the answers do not tell whether a
// user exists. Attempts being checked count against the budget once a key
// has failed, and at most 4 × its budget are checked at once, so parallel
// guesses gain little.
//
// State is in memory, per server process, bounded by MaxKeys (the key
// touched longest ago goes first); servers sharing a database do not share
// it. It is safe for concurrent use.
type LoginThrottle struct {
	cfg  ThrottleConfig
	mu   sync.Mutex
	keys map[string]*list.Element // of *throttleKey
	lru  list.List                // front: touched last
}

// burstFactor times its budget is how many attempts of a key without
// failures may be checked at once (parallel logins of a script are fine; a
// volley of guesses is not).
const burstFactor = 4

type throttleKey struct {
	key      string
	failures int       // failed logins, counted since the key was last forgotten
	inflight int       // attempts begun and not finished
	last     time.Time // last failure
	until    time.Time // locked until (zero: never locked)
	logged   time.Time // the window (its until) a refusal was reported for
}

// Throttled describes a refused attempt.
type Throttled struct {
	// RetryAfter is how long until the key's window ends.
	RetryAfter time.Duration
	// By is "user" or "address": which budget is used up (the longer
	// window when both are).
	By string
	// Failures is the failed logins the key has counted.
	Failures int
	// First is true for the first refusal of the window, false for the
	// others: callers log only the first, so an attacker cannot flood the
	// log.
	First bool
}

// LoginAttempt is a login the throttle let through; the caller reports its
// outcome with exactly one of Failed, Succeeded or Aborted.
type LoginAttempt struct {
	t          *LoginThrottle
	user, addr *throttleKey
	done       bool
}

// NewLoginThrottle returns a throttle with cfg (defaults filled in).
func NewLoginThrottle(cfg ThrottleConfig) *LoginThrottle {
	cfg.defaults()
	return &LoginThrottle{cfg: cfg, keys: map[string]*list.Element{}}
}

// Begin asks whether a login of username from client may be checked now.
// It returns either an attempt to finish, or why it is refused.
func (t *LoginThrottle) Begin(username, client string) (*LoginAttempt, *Throttled) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	u := t.get("u\x00"+boundKey(username), now)
	a := t.get("a\x00"+ClientKey(client), now)
	ru := t.refuse(u, t.cfg.UserFailures, now)
	ra := t.refuse(a, t.cfg.AddrFailures, now)
	if ru != nil || ra != nil {
		r, k := ru, u
		if r == nil || (ra != nil && ra.RetryAfter > r.RetryAfter) {
			r, k = ra, a
		}
		if k == a {
			r.By = "address"
		} else {
			r.By = "user"
		}
		if !k.until.IsZero() && k.logged != k.until && k.until.After(now) {
			k.logged, r.First = k.until, true
		}
		return nil, r
	}
	u.inflight++
	a.inflight++
	return &LoginAttempt{t: t, user: u, addr: a}, nil
}

// refuse says why k may not be tried now, or nil.
func (t *LoginThrottle) refuse(k *throttleKey, budget int, now time.Time) *Throttled {
	switch {
	case k.until.After(now):
		return &Throttled{RetryAfter: k.until.Sub(now), Failures: k.failures}
	case k.failures > 0 && k.inflight > 0 && k.failures+k.inflight >= budget,
		k.inflight >= burstFactor*budget:
		// The attempts being checked may use up the budget (once the key
		// has failed), or are more at once than people or scripts log in:
		// wait for their outcome.
		return &Throttled{RetryAfter: t.cfg.FirstWindow, Failures: k.failures}
	}
	return nil
}

// get returns key's entry, created or forgotten as needed, and marks it
// touched.
func (t *LoginThrottle) get(key string, now time.Time) *throttleKey {
	if el, ok := t.keys[key]; ok {
		k := el.Value.(*throttleKey)
		t.lru.MoveToFront(el)
		if k.inflight == 0 && !k.until.After(now) && now.Sub(k.last) >= t.cfg.ForgetAfter {
			*k = throttleKey{key: key}
		}
		return k
	}
	for len(t.keys) >= t.cfg.MaxKeys {
		old := t.lru.Back()
		t.lru.Remove(old)
		delete(t.keys, old.Value.(*throttleKey).key)
	}
	k := &throttleKey{key: key}
	t.keys[key] = t.lru.PushFront(k)
	return k
}

// window is the lockout after failure number n of a key with budget b.
func (t *LoginThrottle) window(n, b int) time.Duration {
	w := t.cfg.FirstWindow
	for i := b; i < n && w < t.cfg.MaxWindow; i++ {
		w *= 2
	}
	return min(w, t.cfg.MaxWindow)
}

// Failed records a wrong password (or an unknown or disabled user). It
// returns how long the username is now locked, zero when it is not.
func (a *LoginAttempt) Failed() time.Duration {
	var locked time.Duration
	a.finish(func(t *LoginThrottle, now time.Time) {
		for _, k := range []*throttleKey{a.user, a.addr} {
			budget := t.cfg.UserFailures
			if k == a.addr {
				budget = t.cfg.AddrFailures
			}
			k.failures++
			k.last = now
			if k.failures < budget {
				continue
			}
			w := t.window(k.failures, budget)
			if until := now.Add(w); until.After(k.until) {
				k.until = until
			}
			if k == a.user {
				locked = w
			}
		}
	})
	return locked
}

// Succeeded records a successful login: the username's count starts
// afresh.
func (a *LoginAttempt) Succeeded() {
	a.finish(func(t *LoginThrottle, _ time.Time) {
		if a.user.inflight > 0 {
			a.user.failures, a.user.until = 0, time.Time{}
		} else if el, ok := t.keys[a.user.key]; ok && el.Value == a.user {
			t.lru.Remove(el)
			delete(t.keys, a.user.key)
		}
	})
}

// Aborted ends an attempt whose password was not checked (the request was
// cancelled, the database failed): it counts neither way.
func (a *LoginAttempt) Aborted() { a.finish(func(*LoginThrottle, time.Time) {}) }

// finish ends the attempt once, under the throttle's lock: its keys have
// one attempt fewer in flight, then f records the outcome.
func (a *LoginAttempt) finish(f func(t *LoginThrottle, now time.Time)) {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	a.user.inflight--
	a.addr.inflight--
	f(t, t.cfg.Now())
}

// Len is how many keys (usernames and addresses) are tracked.
func (t *LoginThrottle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}

// ClientKey is the key a client address is throttled by: an IPv4 address,
// or the /64 network of an IPv6 address (one host usually has a whole
// /64); an address with a port loses the port. Anything else is used as
// given, bounded in length.
func ClientKey(client string) string {
	if ap, err := netip.ParseAddrPort(client); err == nil {
		client = ap.Addr().String()
	}
	ip, err := netip.ParseAddr(client)
	if err != nil {
		return boundKey(client)
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// boundKey keeps long keys (a username field can hold 64 KiB) from
// costing memory: past 128 bytes a key is replaced by its SHA-256.
func boundKey(s string) string {
	if len(s) <= 128 {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return "#" + hex.EncodeToString(h[:])
}
