package web

import (
	"errors"
	"io"
	"net/http"

	"github.com/basalt-lab/basalt/internal/auth"
)

// SetInlineCases changes the job page's threshold for listing test cases
// for a test and returns the function that restores it.
func SetInlineCases(n int) (restore func()) {
	old := inlineCases
	inlineCases = n
	return func() { inlineCases = old }
}

// SetContextBudget changes how many lines before a log window are read to
// find the actions it starts inside, for a test, and returns the function
// that restores it.
func SetContextBudget(n int) (restore func()) {
	old := contextBudget
	contextBudget = n
	return func() { contextBudget = old }
}

// HandleAborting registers at pattern, for a test, a handler that writes
// body, flushes it, and then fails as a download does when the store
// fails halfway (abort).
func HandleAborting(u *UI, pattern, body string) {
	u.handle(pattern, func(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
		_, _ = io.WriteString(w, body)
		_ = http.NewResponseController(w).Flush()
		u.abort(r, errors.New("the store failed halfway"))
		return nil
	})
}
