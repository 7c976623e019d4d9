package lavarest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/lavawire"
	"github.com/basalt-lab/basalt/internal/lab"
)

// input is a request body as DRF's parsers read it: a JSON object or a
// form (urlencoded or multipart). Fields nobody asks for are ignored, as
// DRF ignores them; a field of the wrong type is a field error.
type input struct {
	json map[string]json.RawMessage
	form url.Values
}

// maxFormMemory bounds the memory a multipart body may take (the body
// itself is bounded by maxBody).
const maxFormMemory = maxBody

// readInput reads the request's body by its Content-Type: JSON (also when
// none is given), application/x-www-form-urlencoded or multipart/form-data.
// An empty body has no fields.
func readInput(r *http.Request) (input, error) {
	ct := r.Header.Get("Content-Type")
	mt := ""
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return input{}, invalidf("Content-Type %q: %v", ct, err)
		}
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return input{}, bodyErr(err)
		}
		return input{form: r.PostForm}, nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxFormMemory); err != nil {
			return input{}, bodyErr(err)
		}
		if r.MultipartForm != nil {
			defer r.MultipartForm.RemoveAll()
			return input{form: r.MultipartForm.Value}, nil
		}
		return input{form: url.Values{}}, nil
	case "", "application/json":
	default:
		return input{}, invalidf("Unsupported media type %q in request (use application/json or a form).", mt)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return input{}, bodyErr(err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return input{json: map[string]json.RawMessage{}}, nil
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return input{}, invalidf("JSON parse error - %v", err)
	}
	if dec.More() {
		return input{}, invalidf("JSON parse error - data after the JSON object")
	}
	if m == nil {
		return input{}, invalidf("JSON parse error - expected an object")
	}
	return input{json: m}, nil
}

// invalidRequest is a request the API cannot read, with DRF's message
// (no "invalid:" prefix).
type invalidRequest struct{ msg string }

func (e invalidRequest) Error() string { return e.msg }
func (e invalidRequest) Unwrap() error { return lab.ErrInvalid }

func invalidf(format string, args ...any) error { return invalidRequest{fmt.Sprintf(format, args...)} }

// bodyErr keeps the errors apierr maps by themselves (a body over its
// limit: 413, a body too slow: 408) and makes the others invalid.
func bodyErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, apierr.ErrBodyTimeout) {
		return err
	}
	return invalidf("Request body: %v", err)
}

// str returns the string field name, and whether it was given.
func (in input) str(name string) (string, bool, error) {
	if in.form != nil {
		if !in.form.Has(name) {
			return "", false, nil
		}
		return in.form.Get(name), true, nil
	}
	raw, ok := in.json[name]
	if !ok || string(raw) == "null" {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, fieldErr(name, "Not a valid string.")
	}
	return s, true, nil
}

// boolean returns the boolean field name (false when not given): true,
// false, or in a form also 1/0 and any case.
func (in input) boolean(name string) (bool, error) {
	if in.form != nil {
		if !in.form.Has(name) {
			return false, nil
		}
		b, err := strconv.ParseBool(strings.ToLower(in.form.Get(name)))
		if err != nil {
			return false, fieldErr(name, "Must be a valid boolean.")
		}
		return b, nil
	}
	raw, ok := in.json[name]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, fieldErr(name, "Must be a valid boolean.")
	}
	return b, nil
}

// ids returns the list of job ids name (numbers, or strings of digits),
// and whether it was given; a form gives it as repeated fields.
func (in input) ids(name string) ([]lavawire.ID, bool, error) {
	if in.form != nil {
		vals, ok := in.form[name]
		out := make([]lavawire.ID, 0, len(vals))
		for _, v := range vals {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, true, fieldErr(name, "A valid integer is required.")
			}
			out = append(out, lavawire.ID(n))
		}
		return out, ok, nil
	}
	raw, ok := in.json[name]
	if !ok || string(raw) == "null" {
		return nil, false, nil
	}
	var out []lavawire.ID
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, true, fieldErr(name, "Expected a list of job ids.")
	}
	return out, true, nil
}
