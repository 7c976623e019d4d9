package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/web"
)

// TestLoginThrottled: the login form answers 429 with Retry-After and says
// when to try again once a user's failed logins are used up; after the
// window the right password logs in.
func TestLoginThrottled(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx := context.Background()
	a := app.New(labtest.Backends()[0].Open(t), app.Config{Now: clock})
	must(t, a.Bootstrap(ctx))
	_, err := a.CreateSuperuser(ctx, "alice", "", "alice-password")
	must(t, err)
	e := &env{Lab: &labtest.Lab{T: t, App: a}, srv: httptest.NewServer(web.New(a, nil))}
	t.Cleanup(e.srv.Close)
	login := func(password string) (*http.Response, string) {
		return e.send("POST", "/login", "", url.Values{"username": {"alice"}, "password": {password}, "next": {"/jobs"}}, nil)
	}
	statuses := map[int]int{}
	var resp *http.Response
	var body string
	for range 200 {
		resp, body = login("wrong")
		statuses[resp.StatusCode]++
	}
	if statuses[401] != 5 || statuses[429] != 195 {
		t.Fatalf("200 wrong passwords: statuses %v, want 5 × 401 and 195 × 429", statuses)
	}
	if resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, "Too many failed logins. Try again in 1 second.") || sessionCookie(resp) != nil {
		t.Errorf("throttled login: Retry-After %q, cookie %v\n%s", resp.Header.Get("Retry-After"), sessionCookie(resp), body)
	}
	if err := checkHTML(body); err != nil {
		t.Errorf("throttled login page: %v", err)
	}
	if resp, _ := login("alice-password"); resp.StatusCode != http.StatusTooManyRequests || sessionCookie(resp) != nil {
		t.Errorf("right password during the window: %d, want 429 without a session", resp.StatusCode)
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	must(t, err)
	mu.Lock()
	now = now.Add(time.Duration(secs) * time.Second)
	mu.Unlock()
	if resp, _ := login("alice-password"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/jobs" || sessionCookie(resp) == nil {
		t.Errorf("right password after Retry-After: %d, Location %q; want 303 to /jobs with a session", resp.StatusCode, resp.Header.Get("Location"))
	}
}
