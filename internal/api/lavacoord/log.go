package lavacoord

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// limitedLog writes at most burst messages per period, so that a flood of
// bad connections cannot flood the log; it then says how many it dropped.
type limitedLog struct {
	log    *slog.Logger
	burst  int
	period time.Duration

	mu      sync.Mutex
	start   time.Time
	written int
	dropped int
}

func newLimitedLog(log *slog.Logger, burst int, period time.Duration) *limitedLog {
	return &limitedLog{log: log, burst: burst, period: period}
}

// allow reports whether a message may be written now, and how many were
// dropped since the last one written.
func (l *limitedLog) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.start) >= l.period {
		l.start, l.written = now, 0
	}
	if l.written >= l.burst {
		l.dropped++
		return false, 0
	}
	l.written++
	d := l.dropped
	l.dropped = 0
	return true, d
}

func (l *limitedLog) warn(msg string, args ...any)  { l.write(slog.LevelWarn, msg, args) }
func (l *limitedLog) error(msg string, args ...any) { l.write(slog.LevelError, msg, args) }

func (l *limitedLog) write(level slog.Level, msg string, args []any) {
	ok, dropped := l.allow()
	if !ok {
		return
	}
	if dropped > 0 {
		args = append(args, "dropped_messages", dropped)
	}
	l.log.Log(context.Background(), level, msg, args...)
}
