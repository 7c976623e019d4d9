// Package httpparam reads the path and query parameters every HTTP surface
// of the server parses the same way (the REST API, the web UI), with
// errors the edges map to status codes: a bad id is not found
// (lab.ErrNotFound), a bad query value is invalid (lab.ErrInvalid).
package httpparam

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/basalt-lab/basalt/internal/lab"
)

// PathID reads the positive integer path value name; anything else is
// not found.
func PathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: %s %q is not a positive integer", lab.ErrNotFound, name, r.PathValue(name))
	}
	return id, nil
}

// QueryInt reads a non-negative integer query parameter, def when absent.
func QueryInt(r *http.Request, name string, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: query parameter %s=%q must be a non-negative integer", lab.ErrInvalid, name, s)
	}
	return n, nil
}
