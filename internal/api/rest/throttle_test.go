package rest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/rest"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestTokenThrottled: POST /token answers 429 throttled with Retry-After
// once a user's failed logins are used up, on both databases, until the
// window ends.
func TestTokenThrottled(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			var mu sync.Mutex
			now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			ctx := context.Background()
			a := app.New(b.Open(t), app.Config{Now: clock})
			must(t, a.Bootstrap(ctx))
			_, err := a.CreateSuperuser(ctx, "alice", "", "alice-password")
			must(t, err)
			srv := httptest.NewServer(rest.New(a, nil))
			t.Cleanup(srv.Close)
			post := func(password string) (*http.Response, wire.ErrorResponse) {
				t.Helper()
				body := `{"username":"alice","password":"` + password + `"}`
				resp, err := http.Post(srv.URL+rest.Prefix+"/token", "application/json", strings.NewReader(body))
				must(t, err)
				defer resp.Body.Close()
				var e wire.ErrorResponse
				if resp.StatusCode != http.StatusCreated {
					must(t, json.NewDecoder(resp.Body).Decode(&e))
				}
				return resp, e
			}
			statuses := map[int]int{}
			var last *http.Response
			var lastErr wire.ErrorResponse
			for range 200 {
				last, lastErr = post("wrong")
				statuses[last.StatusCode]++
			}
			if statuses[401] != 5 || statuses[429] != 195 {
				t.Fatalf("200 wrong passwords: statuses %v, want 5 × 401 and 195 × 429", statuses)
			}
			if lastErr.Error.Code != "throttled" || last.Header.Get("Retry-After") != "1" {
				t.Errorf("throttled answer: code %q, Retry-After %q; want throttled, 1", lastErr.Error.Code, last.Header.Get("Retry-After"))
			}
			if resp, _ := post("alice-password"); resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("right password during the window: %d, want 429", resp.StatusCode)
			}
			secs, err := strconv.Atoi(last.Header.Get("Retry-After"))
			must(t, err)
			mu.Lock()
			now = now.Add(time.Duration(secs) * time.Second)
			mu.Unlock()
			if resp, e := post("alice-password"); resp.StatusCode != http.StatusCreated {
				t.Errorf("right password after Retry-After: %d %+v, want 201", resp.StatusCode, e)
			}
		})
	}
}
