package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Defaults of Config.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 8
	DefaultRetryBase   = 30 * time.Second
	DefaultRetryMax    = time.Hour
	DefaultPoll        = 5 * time.Second
	DefaultMaxLog      = 64 << 20
)

// Config tunes a Sender. Zero values get the defaults.
type Config struct {
	// Timeout bounds one attempt: a callback's request and its answer, or
	// a whole SMTP session (default 10 s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one delivery (default 8); after
	// the last failure it is given up (failed).
	MaxAttempts int
	// RetryBase and RetryMax shape the back-off: attempt n+1 is due
	// RetryBase·2^(n-1) after attempt n failed, at most RetryMax later
	// (defaults 30 s and 1 h: eight attempts span about an hour).
	RetryBase, RetryMax time.Duration
	// Poll is how often the sender looks for deliveries it was not told
	// of: queued by another server on the database, or whose claim
	// expired (default 5 s). Deliveries this server queues wake it at
	// once.
	Poll time.Duration
	// Lease is how long a claim keeps other senders away from a delivery
	// being tried (default 2·Timeout + 1 min: longer than any attempt).
	Lease time.Duration
	// Workers is how many deliveries are tried at once (default 4).
	Workers int
	// Secret, when set, signs every callback: X-Basalt-Signature:
	// sha256=<hex HMAC-SHA256 of the request body under Secret>.
	Secret []byte
	// MaxLog bounds the log a callback's logs dataset carries, in bytes
	// of LAVA's YAML form (default 64 MiB): a longer log is cut after the
	// last whole line that fits.
	MaxLog int64
	// SMTP is the mail server e-mails go through; e-mails are recorded
	// as not sent when SMTP.Addr is empty.
	SMTP SMTPConfig
	// BaseURL is the server's URL as users reach it, for the links in
	// e-mails (default: none, the links are paths).
	BaseURL string
	// ExportResults writes the YAML export of a suite's cases (LAVA's
	// export_testcase rows) for the results dataset.
	ExportResults func(jobID int64, cases []lab.TestCase) (string, error)
	// Logger receives what goes wrong (slog.Default() when nil).
	Logger *slog.Logger
}

// Sender sends the due deliveries of the app's queue.
type Sender struct {
	a      *app.App
	cfg    Config
	log    *slog.Logger
	claim  string
	policy app.CallbackPolicy
	client *http.Client // callbacks to public addresses only
	listed *http.Client // callbacks to the allowed hosts, at any address
}

// New returns a sender for a's queue. Run it with Run.
func New(a *app.App, cfg Config) (*Sender, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.RetryMax < cfg.RetryBase {
		cfg.RetryMax = cfg.RetryBase
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2*cfg.Timeout + time.Minute
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.MaxLog <= 0 {
		cfg.MaxLog = DefaultMaxLog
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ExportResults == nil {
		return nil, errors.New("notify: Config.ExportResults is required")
	}
	if err := cfg.SMTP.validate(); err != nil {
		return nil, err
	}
	policy := a.CallbackPolicy()
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("notify: claim name: %w", err)
	}
	s := &Sender{a: a, cfg: cfg, log: cfg.Logger, claim: "sender-" + hex.EncodeToString(id[:]), policy: policy}
	s.client = newClient(cfg, true)
	s.listed = newClient(cfg, false)
	return s, nil
}

// Claim is the name under which this sender claims deliveries.
func (s *Sender) Claim() string { return s.claim }

// Run sends due deliveries until ctx ends: at once, whenever the app
// queues some, when the next retry falls due, and every Poll. When it
// stops, it releases the deliveries it held, for the next sender.
func (s *Sender) Run(ctx context.Context) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.a.ReleaseNotifications(rctx, s.claim); err != nil {
			s.log.Warn("release notifications", "err", err)
		}
	}()
	wake := s.a.NotificationsQueued()
	var failing bool // log one error per episode
	for {
		n, err := s.RunOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !failing:
			s.log.Error("send notifications", "err", err)
			failing = true
		case err == nil:
			failing = false
		}
		if err == nil && n > 0 {
			continue // there may be more due
		}
		wait := s.cfg.Poll
		if err == nil {
			if next, err := s.a.NextNotificationDue(ctx); err == nil && !next.IsZero() {
				if d := time.Until(next); d > 0 && d < wait {
					wait = d
				}
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunOnce claims the deliveries due now, tries them (Workers at a time)
// and records their outcomes; it returns how many it tried.
func (s *Sender) RunOnce(ctx context.Context) (int, error) {
	ds, err := s.a.ClaimNotifications(ctx, s.claim, s.cfg.Lease, 4*s.cfg.Workers)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, d := range ds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.deliver(ctx, d); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return len(ds), errors.Join(errs...)
}

// outcome is what one try came to.
type outcome struct {
	attempt *lab.DeliveryAttempt // nil: nothing went out
	status  lab.DeliveryStatus   // Delivered, NotSent, Failed, or Pending to retry if attempts remain
	err     string
	// interrupted: the sender is stopping and the try was cut short; its
	// outcome is unknown and not recorded.
	interrupted bool
}

// deliver tries one claimed delivery and records its outcome.
func (s *Sender) deliver(ctx context.Context, d lab.Delivery) error {
	var o outcome
	switch d.Kind {
	case lab.DeliveryCallback:
		o = s.callback(ctx, d)
	case lab.DeliveryEmail:
		o = s.email(ctx, d)
	default:
		o = outcome{status: lab.DeliveryNotSent, err: "not sent: Basalt has no IRC client"}
	}
	if o.interrupted {
		return nil // stopping: the claim is released, the next sender tries again
	}
	// An outcome known as the sender stops is still recorded: an accepted
	// callback must not be sent again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rec := store.DeliveryOutcome{ID: d.ID, Claim: s.claim, Attempt: o.attempt, Status: o.status, Error: o.err}
	if o.status == lab.DeliveryPending { // failed, and another attempt may help
		if d.Attempts+1 >= s.cfg.MaxAttempts {
			rec.Status = lab.DeliveryFailed
			rec.Error = fmt.Sprintf("%s (gave up after %d attempts)", o.err, d.Attempts+1)
		} else {
			rec.NextAttempt = s.a.Now().Add(s.backoff(d.Attempts + 1))
		}
	}
	if _, err := s.a.RecordNotification(ctx, rec); err != nil {
		if errors.Is(err, lab.ErrConflict) {
			s.log.Warn("notification outcome dropped: the claim was lost", "delivery", d.ID, "job", d.JobID, "err", err)
			return nil
		}
		return err
	}
	if rec.Status == lab.DeliveryFailed {
		s.log.Warn("notification given up", "delivery", d.ID, "job", d.JobID, "kind", d.Kind, "err", rec.Error)
	}
	return nil
}

// backoff is the wait after the n-th failed attempt.
func (s *Sender) backoff(n int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}
