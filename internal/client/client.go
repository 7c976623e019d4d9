package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/tlsconfig"
	"github.com/basalt-lab/basalt/internal/version"
)

// DefaultTimeout bounds one request (connection, headers and body) when
// Options.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// maxResponse bounds how much of a successful response is read; maxErrorBody
// bounds an error response.
const (
	maxResponse  = 64 << 20
	maxErrorBody = 1 << 20
)

// Options tunes a Client. The zero value verifies TLS certificates against
// the system roots and uses DefaultTimeout.
type Options struct {
	// CAFile is a PEM file of certificate authorities to trust in addition
	// to the system roots (for labs with their own CA).
	CAFile string
	// Insecure disables TLS certificate verification. It is never implied:
	// only set it when the user asked for it explicitly.
	Insecure bool
	// Timeout bounds each request; DefaultTimeout when zero, none when
	// negative.
	Timeout time.Duration
	// UserAgent replaces the default "basalt-client/<version>".
	UserAgent string
	// Transport replaces the HTTP transport (tests, proxies). CAFile and
	// Insecure are ignored when it is set.
	Transport http.RoundTripper
}

// Client calls one Basalt server. It is safe for concurrent use.
type Client struct {
	base     string // scheme://host[:port][/prefix], no trailing slash
	username string
	token    string
	ua       string
	hc       *http.Client
}

// New returns a client for the server at baseURL. baseURL must be an http or
// https URL; a trailing "/api/v1" (or lavacli's "/RPC2") is removed, so the
// address of the server, of its API or an identity copied from lavacli all
// work. username may be empty; token may be empty for anonymous access.
func New(baseURL, username, token string, opts Options) (*Client, error) {
	base, err := normalizeBase(baseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{base: base, username: username, token: token, ua: opts.UserAgent}
	if c.ua == "" {
		c.ua = "basalt-client/" + version.Version
	}
	rt := opts.Transport
	if rt == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.CAFile != "" {
			pool, err := tlsconfig.CertPool(opts.CAFile)
			if err != nil {
				return nil, err
			}
			tlsConf.RootCAs = pool
		}
		if opts.Insecure {
			tlsConf.InsecureSkipVerify = true // explicit user choice
		}
		tr.TLSClientConfig = tlsConf
		rt = tr
	}
	timeout := opts.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = 0
	}
	c.hc = &http.Client{Transport: rt, Timeout: timeout}
	return c, nil
}

// normalizeBase checks baseURL and strips the API suffixes.
func normalizeBase(baseURL string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return "", fmt.Errorf("server URI %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("server URI %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("server URI %q: no host", baseURL)
	}
	if u.User != nil {
		return "", fmt.Errorf("server URI %q: put the username and token in the identity, not in the URI", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server URI %q: must not have a query or fragment", baseURL)
	}
	p := strings.TrimRight(u.Path, "/")
	for _, suffix := range []string{wire.Prefix, "/RPC2"} {
		p = strings.TrimSuffix(p, suffix)
	}
	u.Path, u.RawPath = strings.TrimRight(p, "/"), ""
	return u.String(), nil
}

// URI returns the server's base address (without "/api/v1").
func (c *Client) URI() string { return c.base }

// ConnectionError is returned when the server could not be reached or its
// answer could not be read: DNS, refused connections, TLS, timeouts.
type ConnectionError struct {
	URI string // the server's base address
	Err error
}

// Error names the server, so users see which identity or URI was used.
func (e *ConnectionError) Error() string {
	return fmt.Sprintf("cannot reach the Basalt server at %s: %v", e.URI, e.Err)
}

// Unwrap returns the transport error.
func (e *ConnectionError) Unwrap() error { return e.Err }

// APIError is an error answer of the server: its HTTP status and the decoded
// wire.ErrorResponse body.
type APIError struct {
	Status  int            // HTTP status code
	Code    string         // stable machine code ("not_found", "invalid_definition", …)
	Message string         // the server's message for people
	Details []wire.Problem // positioned problems of an invalid job definition or device dictionary
}

// detailHeadings name what was invalid, by error code, in the first line of
// an APIError with details.
var detailHeadings = map[string]string{
	"invalid_definition": "invalid job definition",
	"invalid_dictionary": "invalid device dictionary",
}

// Error returns the message. An answer with details (an invalid job
// definition or device dictionary) is a heading naming what was invalid,
// chosen by the error code, then each problem on its own line as
// "line:col: path: message"; an unknown code with details gets the
// heading "invalid request (<code>)".
func (e *APIError) Error() string {
	if len(e.Details) > 0 {
		var b strings.Builder
		b.WriteString(e.detailHeading())
		b.WriteString(":")
		for _, p := range e.Details {
			b.WriteString("\n")
			b.WriteString(FormatProblem(p))
		}
		return b.String()
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
}

// detailHeading is the first line of Error for an answer with details.
func (e *APIError) detailHeading() string {
	if h, ok := detailHeadings[e.Code]; ok {
		return h
	}
	if e.Code == "" {
		return "invalid request"
	}
	return fmt.Sprintf("invalid request (%s)", e.Code)
}

// FormatProblem formats a problem of a job definition or device dictionary
// as "line:col: path: message", leaving out the position or path when the
// server did not give them.
func FormatProblem(p wire.Problem) string {
	var parts []string
	if p.Line > 0 {
		parts = append(parts, fmt.Sprintf("%d:%d", p.Line, p.Column))
	}
	if p.Path != "" {
		parts = append(parts, p.Path)
	}
	parts = append(parts, p.Message)
	return strings.Join(parts, ": ")
}

// IsNotFound reports whether err is an API error with status 404.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

func hasStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

// request is one API call.
type request struct {
	method string
	path   string       // below wire.Prefix, already escaped
	query  url.Values   // may be nil
	body   any          // JSON-encoded when non-nil
	out    any          // JSON-decoded from a 2xx answer when non-nil
	raw    *string      // receives the raw body of a 2xx answer when non-nil
	header *http.Header // receives the headers of a 2xx answer when non-nil
}

// do sends r and decodes the answer.
func (c *Client) do(ctx context.Context, r request) error {
	u := c.base + wire.Prefix + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", r.method, r.path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	switch {
	case c.token != "" && c.username != "":
		req.SetBasicAuth(c.username, c.token)
	case c.token != "":
		req.Header.Set("Authorization", "Token "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%s %s: %w", r.method, r.path, ctxErr)
		}
		return &ConnectionError{URI: c.base, Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp)
	}
	if r.header != nil {
		*r.header = resp.Header
	}
	switch {
	case r.raw != nil:
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		if err != nil {
			return &ConnectionError{URI: c.base, Err: fmt.Errorf("read answer to %s %s: %w", r.method, r.path, err)}
		}
		*r.raw = string(b)
	case r.out != nil:
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(r.out); err != nil {
			return fmt.Errorf("%s %s: decode answer (HTTP %d, %s): %w", r.method, r.path,
				resp.StatusCode, resp.Header.Get("Content-Type"), err)
		}
	}
	return nil
}

// unwrapURLError drops *url.Error's "Get "https://…": " prefix: the
// ConnectionError already names the server.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timed out: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// decodeError turns an error answer into an *APIError. Bodies that are not
// wire.ErrorResponse (a proxy's HTML page) give their status and a short excerpt.
func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	ae := &APIError{Status: resp.StatusCode}
	var ej wire.ErrorResponse
	if err := json.Unmarshal(b, &ej); err == nil && (ej.Error.Code != "" || ej.Error.Message != "") {
		ae.Code, ae.Message, ae.Details = ej.Error.Code, ej.Error.Message, ej.Error.Details
		return ae
	}
	text := strings.TrimSpace(string(b))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	ae.Message = http.StatusText(resp.StatusCode)
	if text != "" {
		ae.Message += ": " + text
	}
	return ae
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }
