package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/version"
)

// Headers Basalt adds to every callback.
const (
	// DeliveryHeader carries the delivery's id: the same on every attempt
	// of one delivery, so that a receiver can drop a repeat (a delivery is
	// sent again when the server stopped between sending it and recording
	// the answer).
	DeliveryHeader = "X-Basalt-Delivery"
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
	// request body (empty for GET) under the server's callback secret,
	// when it has one.
	SignatureHeader = "X-Basalt-Signature"
)

// Sign is the SignatureHeader value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// errNotPublic is the dial error of a callback to an address that is not
// public, from a host that is not one of the allowed hosts.
var errNotPublic = errors.New("the address is not public (only the server's allowed callback hosts may be)")

// newClient returns the HTTP client of callbacks: no proxy, no redirects
// followed, every phase within cfg.Timeout; with publicOnly, it refuses
// to connect to an address that is not public, whatever name led to it.
func newClient(cfg Config, publicOnly bool) *http.Client {
	d := &net.Dialer{Timeout: cfg.Timeout}
	if publicOnly {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !app.PublicAddr(ip) {
				return fmt.Errorf("connect to %s: %w", host, errNotPublic)
			}
			return nil
		}
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the address check
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// callback tries one callback delivery.
func (s *Sender) callback(ctx context.Context, d lab.Delivery) outcome {
	spec, err := app.ParseDeliverySpec(d)
	if err != nil {
		return outcome{status: lab.DeliveryFailed, err: err.Error()}
	}
	subj, err := s.a.NotificationSubject(ctx, d)
	if err != nil {
		return outcome{status: lab.DeliveryPending, err: err.Error(), interrupted: ctx.Err() != nil} // the database, most likely: later
	}
	target := ExpandURL(d.Target, subj.Job)
	if err := s.policy.CheckURL(target); err != nil {
		return outcome{status: lab.DeliveryNotSent, err: "not sent: " + err.Error()}
	}
	method := spec.Method
	if method == "" {
		method = http.MethodGet
	}
	header := spec.Header
	if header == "" {
		header = "Authorization"
	}
	if spec.Token != "" && (!validFieldName(header) || !validFieldValue(spec.Token)) {
		return outcome{status: lab.DeliveryFailed, err: "the token or its header name cannot be sent in an HTTP header"}
	}
	var body []byte
	ctype := ""
	if method == http.MethodPost {
		body, err = s.callbackBody(ctx, subj, spec)
		if err != nil {
			return outcome{status: lab.DeliveryPending, err: err.Error(), interrupted: ctx.Err() != nil}
		}
		ctype = "application/x-www-form-urlencoded"
		if spec.ContentType == "json" {
			ctype = "application/json"
		}
	}

	start := time.Now()
	a := &lab.DeliveryAttempt{At: s.a.Now()}
	o := outcome{attempt: a}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, target, bytes.NewReader(body))
	if err != nil {
		a.Error = err.Error()
		o.status, o.err = lab.DeliveryFailed, a.Error
		return o
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("User-Agent", "Basalt/"+version.Version)
	req.Header.Set(DeliveryHeader, strconv.FormatInt(d.ID, 10))
	if len(s.cfg.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(s.cfg.Secret, body))
	}
	if spec.Token != "" {
		req.Header[http.CanonicalHeaderKey(header)] = []string{spec.Token}
	}
	client := s.client
	if s.policy.TrustsAnyAddr(req.URL.Hostname()) {
		client = s.listed
	}
	resp, err := client.Do(req)
	a.Duration = time.Since(start)
	if err != nil && ctx.Err() != nil {
		return outcome{interrupted: true}
	}
	if err != nil {
		a.Error = describe(err)
		o.err = a.Error
		o.status = lab.DeliveryPending
		if errors.Is(err, errNotPublic) {
			o.status = lab.DeliveryFailed
		}
		return o
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	a.Duration = time.Since(start)
	a.StatusCode = resp.StatusCode
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		o.status = lab.DeliveryDelivered
		return o
	case c >= 500 || c == http.StatusRequestTimeout || c == http.StatusTooEarly || c == http.StatusTooManyRequests:
		o.status = lab.DeliveryPending
	case c >= 300 && c < 400:
		o.status = lab.DeliveryFailed
		a.Error = fmt.Sprintf("HTTP %d: redirects are not followed (to %s)", c, resp.Header.Get("Location"))
	default:
		o.status = lab.DeliveryFailed
	}
	if a.Error == "" {
		a.Error = "HTTP " + resp.Status
		if t := printable(snippet); t != "" {
			a.Error += ": " + t
		}
	}
	o.err = a.Error
	return o
}

// callbackBody is a POST callback's body for its dataset and content type.
func (s *Sender) callbackBody(ctx context.Context, subj app.NotificationSubject, spec app.DeliverySpec) ([]byte, error) {
	var logText *string
	var results []suiteYAML
	if spec.Dataset == "logs" || spec.Dataset == "all" {
		r, _, err := s.a.NotificationLog(ctx, subj.Job.ID)
		if err != nil {
			return nil, err
		}
		text, cut, err := readLog(r, s.cfg.MaxLog)
		r.Close()
		if err != nil {
			return nil, err
		}
		if cut {
			s.log.Warn("callback log cut to the size limit", "job", subj.Job.ID, "max_bytes", s.cfg.MaxLog)
		}
		logText = &text
	}
	if spec.Dataset == "results" || spec.Dataset == "all" {
		cases, err := s.a.NotificationResults(ctx, subj.Job.ID)
		if err != nil {
			return nil, err
		}
		results = []suiteYAML{}
		var order []string
		bySuite := map[string][]lab.TestCase{}
		for _, c := range cases {
			if _, ok := bySuite[c.Suite]; !ok {
				order = append(order, c.Suite)
			}
			bySuite[c.Suite] = append(bySuite[c.Suite], c)
		}
		for _, name := range order {
			y, err := s.cfg.ExportResults(subj.Job.ID, bySuite[name])
			if err != nil {
				return nil, fmt.Errorf("export the results of suite %s: %w", name, err)
			}
			results = append(results, suiteYAML{name: name, yaml: y})
		}
	}
	data := jobData(subj, logText, results)
	if spec.ContentType == "json" {
		return encodeJSON(data)
	}
	return encodeForm(data), nil
}

// describe is a network error in short, without the URL (the delivery
// shows it).
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return err.Error()
}

// printable is the start of an answer's body for the delivery log: one
// line of printable text.
func printable(b []byte) string {
	if !utf8.Valid(b) {
		return ""
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// validFieldName reports whether s is an HTTP header field name (a token).
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validFieldValue reports whether s can be an HTTP header field value.
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
