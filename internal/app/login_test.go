package app_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
)

// loginOutcome classifies a Login error: "ok", "wrong", "throttled" (with
// its retry time) or the error itself.
func loginOutcome(t *testing.T, err error) (string, time.Duration) {
	t.Helper()
	var ra *lab.RetryAfterError
	switch {
	case err == nil:
		return "ok", 0
	case errors.Is(err, lab.ErrUnauthenticated):
		return "wrong", 0
	case errors.Is(err, lab.ErrThrottled) && errors.As(err, &ra) && ra.After > 0:
		return "throttled", ra.After
	}
	t.Fatalf("login: unexpected error %v", err)
	return "", 0
}

func TestLoginThrottle(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
			var logBuf syncbuf.Buffer
			a := app.New(b.Open(t), app.Config{Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
			must(t, a.Bootstrap(ctx))
			adm, err := a.CreateSuperuser(ctx, "admin", "", "")
			must(t, err)
			for _, u := range []string{"alice", "bob"} {
				_, err := a.CreateUser(ctx, principalOf(t, adm), app.NewUser{Username: u, Password: u + "-password"})
				must(t, err)
			}

			// 200 wrong passwords for alice, and 200 for a user who does
			// not exist: the same answers, in the same order.
			var seq [2][]string
			var retry time.Duration
			for i, user := range []string{"alice", "nobody"} {
				for range 200 {
					_, err := a.Login(ctx, user, "guess", "192.0.2.1")
					o, d := loginOutcome(t, err)
					seq[i] = append(seq[i], o)
					if d > 0 {
						retry = d
					}
				}
			}
			if n := strings.Count(strings.Join(seq[0], " "), "wrong"); n != 5 {
				t.Errorf("200 wrong passwords: %d checked, want 5, the rest throttled: %v", n, seq[0])
			}
			if strings.Join(seq[0], " ") != strings.Join(seq[1], " ") {
				t.Errorf("an unknown user is answered differently:\n alice:  %v\n nobody: %v", seq[0], seq[1])
			}
			// Locked out, even with the right password; bob is not.
			if o, _ := loginOutcome(t, justErr(a.Login(ctx, "alice", "alice-password", "192.0.2.1"))); o != "throttled" {
				t.Errorf("right password during the lockout: %s, want throttled", o)
			}
			if o, _ := loginOutcome(t, justErr(a.Login(ctx, "bob", "bob-password", "192.0.2.1"))); o != "ok" {
				t.Errorf("another user from the same address: %s, want ok", o)
			}
			if o, _ := loginOutcome(t, justErr(a.Login(ctx, "bob", "bob-password", "198.51.100.1"))); o != "ok" {
				t.Errorf("another user: %s, want ok", o)
			}
			// After the window the right password works.
			clk.Add(retry)
			if o, _ := loginOutcome(t, justErr(a.Login(ctx, "alice", "alice-password", "192.0.2.1"))); o != "ok" {
				t.Errorf("right password after the window: %s, want ok", o)
			}
			// One log line per throttled key and window, not one per attempt.
			if n := strings.Count(logBuf.String(), "login throttled"); n != 2 {
				t.Errorf("%d 'login throttled' log lines for two locked users, want 2:\n%s", n, logBuf.String())
			}
		})
	}
}

// TestLoginHostileUsername: a username no user can have (invalid UTF-8, a
// NUL) is a wrong login on both databases, never a server error.
func TestLoginHostileUsername(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			a := app.New(b.Open(t), app.Config{})
			for _, user := range []string{"\xff\xfe", "a\x00b", strings.Repeat("x", 70000)} {
				if _, err := a.Login(context.Background(), user, "pw", "192.0.2.1"); !errors.Is(err, lab.ErrUnauthenticated) {
					t.Errorf("login as %.20q: %v, want unauthenticated", user, err)
				}
			}
		})
	}
}

func justErr[T any](_ T, err error) error { return err }
