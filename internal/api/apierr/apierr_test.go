package apierr_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
)

func TestMap(t *testing.T) {
	_, defErr := jobdef.Parse([]byte("job_name: x\npriority: urgent\n"))
	var de *jobdef.Errors
	if !errors.As(defErr, &de) {
		t.Fatalf("jobdef.Parse of a bad definition: %v", defErr)
	}
	dictErr := &devicedict.Errors{Items: []devicedict.Error{{Line: 3, Column: 8, Path: "$.memory", Msg: "must be a number"}}}
	tests := []struct {
		name    string
		err     error
		status  int
		code    string
		details bool
	}{
		{"invalid", fmt.Errorf("%w: priority", lab.ErrInvalid), http.StatusBadRequest, apierr.CodeInvalid, false},
		{"definition", fmt.Errorf("submit: %w", defErr), http.StatusBadRequest, apierr.CodeInvalidDefinition, true},
		{"dictionary", fmt.Errorf("set dictionary: %w", dictErr), http.StatusBadRequest, apierr.CodeInvalidDictionary, true},
		{"unauthenticated", fmt.Errorf("token: %w", lab.ErrUnauthenticated), http.StatusUnauthorized, apierr.CodeUnauthenticated, false},
		{"forbidden", fmt.Errorf("cancel: %w", lab.ErrForbidden), http.StatusForbidden, apierr.CodeForbidden, false},
		{"not found", fmt.Errorf("job 3: %w", lab.ErrNotFound), http.StatusNotFound, apierr.CodeNotFound, false},
		{"conflict", fmt.Errorf("cancel: %w", lab.ErrConflict), http.StatusConflict, apierr.CodeConflict, false},
		{"unavailable", fmt.Errorf("submit: %w", lab.ErrUnavailable), http.StatusUnprocessableEntity, apierr.CodeUnavailable, false},
		{"too large", fmt.Errorf("body: %w", &http.MaxBytesError{Limit: 10}), http.StatusRequestEntityTooLarge, apierr.CodeTooLarge, false},
		{"overloaded", fmt.Errorf("admit: %w", lab.ErrOverloaded), http.StatusServiceUnavailable, apierr.CodeOverloaded, false},
		{"throttled", &lab.RetryAfterError{Err: fmt.Errorf("login: %w", lab.ErrThrottled), After: time.Second}, http.StatusTooManyRequests, apierr.CodeThrottled, false},
		{"body timeout", fmt.Errorf("read body: %w", apierr.ErrBodyTimeout), http.StatusRequestTimeout, apierr.CodeTimeout, false},
		{"internal", errors.New("database on fire: password=hunter2"), http.StatusInternalServerError, apierr.CodeInternal, false},
		{"storage full", fmt.Errorf("append log of job 3: %w: write /srv/hunter2/log.ndjson: no space left on device", lab.ErrStorageFull), http.StatusInsufficientStorage, apierr.CodeStorageFull, false},
		{"database unavailable", fmt.Errorf("look up token: %w: dial tcp: password=hunter2", lab.ErrDatabaseUnavailable), http.StatusServiceUnavailable, apierr.CodeDatabaseUnavailable, false},
		{"database unavailable beats not found", fmt.Errorf("%w: %w", lab.ErrNotFound, lab.ErrDatabaseUnavailable), http.StatusServiceUnavailable, apierr.CodeDatabaseUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := apierr.Map(tt.err)
			if m.Status != tt.status || m.Code != tt.code || (m.Details != nil) != tt.details {
				t.Fatalf("Map(%v) = %d %s details=%v, want %d %s details=%v", tt.err, m.Status, m.Code, m.Details != nil, tt.status, tt.code, tt.details)
			}
			if m.Internal() != (tt.code == apierr.CodeInternal) {
				t.Errorf("Internal() = %v", m.Internal())
			}
			if m.Condition() != (tt.status == 503 && tt.code != apierr.CodeOverloaded || tt.status == 507) {
				t.Errorf("Condition() = %v", m.Condition())
			}
			retry := map[string]string{apierr.CodeOverloaded: "1", apierr.CodeThrottled: "1", apierr.CodeDatabaseUnavailable: "5", apierr.CodeStorageFull: "30"}[tt.code]
			if headerOf(m) != retry {
				t.Errorf("Retry-After %q, want %q", headerOf(m), retry)
			}
			body := m.Body()
			if body.Error.Code != tt.code || body.Error.Message != m.Message {
				t.Errorf("Body() = %+v", body)
			}
			want := map[string]string{apierr.CodeInternal: apierr.InternalMessage, apierr.CodeDatabaseUnavailable: "the database is unavailable: ",
				apierr.CodeStorageFull: "the server's disk is full: "}[tt.code]
			if want != "" {
				if !strings.HasPrefix(m.Message, want) || strings.Contains(m.Message, "hunter2") {
					t.Errorf("message %q, want %q… without the error's text", m.Message, want)
				}
			} else if m.Message != tt.err.Error() {
				t.Errorf("message %q, want the error's text %q", m.Message, tt.err.Error())
			}
		})
	}
	m := apierr.Map(fmt.Errorf("submit: %w", defErr))
	if len(m.Details) != len(de.Items) || m.Details[0].Line != de.Items[0].Line || m.Details[0].Path != de.Items[0].Path || m.Details[0].Message != de.Items[0].Msg {
		t.Errorf("definition details %+v, want the items of %v", m.Details, de)
	}
	m = apierr.Map(dictErr)
	if len(m.Details) != 1 || m.Details[0].Line != 3 || m.Details[0].Column != 8 || m.Details[0].Path != "$.memory" || m.Details[0].Message != "must be a number" {
		t.Errorf("dictionary details %+v", m.Details)
	}
}

// headerOf is the Retry-After header m sets.
func headerOf(m apierr.Mapped) string {
	h := http.Header{}
	m.SetHeaders(h)
	return h.Get("Retry-After")
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&lab.RetryAfterError{Err: fmt.Errorf("login: %w", lab.ErrThrottled), After: 1500 * time.Millisecond}, "2"},
		{fmt.Errorf("web: %w", &lab.RetryAfterError{Err: lab.ErrThrottled, After: 15 * time.Minute}), "900"},
		{&lab.RetryAfterError{Err: lab.ErrThrottled, After: time.Nanosecond}, "1"},
		{fmt.Errorf("login: %w", lab.ErrThrottled), ""},
		{errors.New("internal"), ""},
	}
	for _, tt := range tests {
		h := http.Header{}
		apierr.Map(tt.err).SetHeaders(h)
		if got := h.Get("Retry-After"); got != tt.want {
			t.Errorf("Retry-After for %v = %q, want %q", tt.err, got, tt.want)
		}
	}
}
