package console

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// Default back-off of a Reconnecting console.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	DefaultJitter     = 0.2
)

// Gap describes one loss of a console and its return.
type Gap struct {
	Lost     time.Time     // when the connection ended
	Cause    error         // why (io.EOF, a reset, a command's exit error…)
	Back     time.Time     // when the new connection was made
	Down     time.Duration // Back - Lost
	Attempts int           // dial attempts it took, the successful one included
}

// KeepOptions configures a Reconnecting console. Zero fields mean the
// defaults.
type KeepOptions struct {
	// MinBackoff is the wait before the second dial attempt after a loss
	// (the first is immediate); each failure doubles it up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Jitter spreads each wait uniformly by ± this fraction (0.2: ±20 %);
	// negative disables it.
	Jitter float64
	// OnLost is called when the connection ends while the console is
	// open, with when and why.
	OnLost func(at time.Time, cause error)
	// OnBack is called when a new connection replaced a lost one.
	OnBack func(Gap)
	// OnDialError is called for every failed dial attempt (attempt counts
	// from 1 within the gap).
	OnDialError func(attempt int, err error)
}

// Reconnecting is a console that survives the loss of its connection: when
// the connection ends (EOF, reset, error) while the console is open, it
// dials again with exponential back-off and carries on. During the gap,
// Read and Write block until the connection is back (they never return
// io.EOF for a loss); a Write that failed part way is finished on the new
// connection. Only Close (or the end of Keep's context) ends the console:
// then blocked and later Reads return io.EOF and Writes return
// ErrConsoleClosed.
//
// A loss is noticed by a Read or a Write that fails, so a console should
// always have a reader (the dispatcher's Conn reads all the time).
// Bytes in flight when a connection breaks may be lost either way: a
// console is a serial line, not a reliable stream.
type Reconnecting struct {
	dial func(context.Context) (io.ReadWriteCloser, error)
	opts KeepOptions

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   func() bool

	mu       sync.Mutex
	cur      io.ReadWriteCloser // nil during a gap
	gen      int                // incremented with each new connection
	ready    chan struct{}      // closed when cur is set
	closed   bool
	done     chan struct{} // closed by Close
	gaps     int
	failures int
}

// ErrConsoleClosed is returned by writes to a closed Reconnecting console.
var ErrConsoleClosed = errors.New("console closed")

// Keep dials a console and keeps it connected until Close or until ctx
// ends. The first dial happens in Keep: its error is returned (with no
// retry), so that a misconfigured console fails at once.
func Keep(ctx context.Context, dial func(context.Context) (io.ReadWriteCloser, error), opts KeepOptions) (*Reconnecting, error) {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.Jitter == 0 {
		opts.Jitter = DefaultJitter
	}
	conn, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	r := &Reconnecting{dial: dial, opts: opts, cur: conn, gen: 1, ready: make(chan struct{}), done: make(chan struct{})}
	close(r.ready)
	r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	r.stop = context.AfterFunc(ctx, func() { r.Close() })
	return r, nil
}

// conn waits for a connection; nil once closed.
func (r *Reconnecting) conn(ctx context.Context) (io.ReadWriteCloser, int, error) {
	for {
		r.mu.Lock()
		cur, gen, ready, closed := r.cur, r.gen, r.ready, r.closed
		r.mu.Unlock()
		if closed {
			return nil, 0, nil
		}
		if cur != nil {
			return cur, gen, nil
		}
		select {
		case <-ready:
		case <-r.done:
		case <-ctx.Done():
			return nil, 0, context.Cause(ctx)
		}
	}
}

// Read reads from the current connection, waiting through gaps.
func (r *Reconnecting) Read(b []byte) (int, error) {
	for {
		c, gen, _ := r.conn(context.Background())
		if c == nil {
			return 0, io.EOF
		}
		n, err := c.Read(b)
		if err != nil {
			r.lost(gen, err)
		}
		if n > 0 || len(b) == 0 {
			return n, nil
		}
	}
}

// Write writes to the current connection, waiting through gaps (bounded by
// Close and Keep's context).
func (r *Reconnecting) Write(b []byte) (int, error) {
	return r.WriteContext(context.Background(), b)
}

// WriteContext is Write bounded by ctx as well: when ctx ends during a gap
// it returns the bytes written so far and the context's cause.
func (r *Reconnecting) WriteContext(ctx context.Context, b []byte) (int, error) {
	written := 0
	for {
		c, gen, err := r.conn(ctx)
		if err != nil {
			return written, err
		}
		if c == nil {
			return written, ErrConsoleClosed
		}
		n, err := c.Write(b[written:])
		written += n
		if err == nil && written >= len(b) {
			return written, nil
		}
		if err == nil {
			err = io.ErrShortWrite
		}
		r.lost(gen, err)
	}
}

// lost ends connection generation gen (if still current) and starts
// redialing.
func (r *Reconnecting) lost(gen int, cause error) {
	r.mu.Lock()
	if r.closed || gen != r.gen || r.cur == nil {
		r.mu.Unlock()
		return
	}
	old := r.cur
	r.cur = nil
	r.ready = make(chan struct{})
	r.gaps++
	r.wg.Add(1)
	r.mu.Unlock()
	_ = old.Close()
	at := time.Now()
	if r.opts.OnLost != nil {
		r.opts.OnLost(at, cause)
	}
	go r.redial(at, cause)
}

func (r *Reconnecting) redial(at time.Time, cause error) {
	defer r.wg.Done()
	for attempt := 1; ; attempt++ {
		conn, err := r.dial(r.ctx)
		if err == nil {
			r.mu.Lock()
			if r.closed {
				r.mu.Unlock()
				_ = conn.Close()
				return
			}
			r.cur = conn
			r.gen++
			close(r.ready)
			r.mu.Unlock()
			back := time.Now()
			if r.opts.OnBack != nil {
				r.opts.OnBack(Gap{Lost: at, Cause: cause, Back: back, Down: back.Sub(at), Attempts: attempt})
			}
			return
		}
		if r.ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		r.failures++
		r.mu.Unlock()
		if r.opts.OnDialError != nil {
			r.opts.OnDialError(attempt, err)
		}
		t := time.NewTimer(r.jitter(backoff(r.opts.MinBackoff, r.opts.MaxBackoff, attempt)))
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return
		}
	}
}

// backoff is the wait after the failed attempt n (from 1): lo doubled
// n-1 times, at most hi.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

func (r *Reconnecting) jitter(d time.Duration) time.Duration {
	if r.opts.Jitter <= 0 {
		return d
	}
	f := 1 + r.opts.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// Stats returns how many times the connection was lost and how many dial
// attempts failed, since Keep.
func (r *Reconnecting) Stats() (gaps, failedDials int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gaps, r.failures
}

// Close ends the console: it stops redialing, closes the connection,
// unblocks readers (io.EOF) and writers (ErrConsoleClosed), and returns
// once its goroutines are gone. It returns the connection's Close error.
func (r *Reconnecting) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	cur := r.cur
	r.cur = nil
	close(r.done)
	r.mu.Unlock()
	r.stop()
	r.cancel()
	var err error
	if cur != nil {
		err = cur.Close()
	}
	r.wg.Wait()
	return err
}
