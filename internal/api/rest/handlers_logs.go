package rest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// jobLogs streams a range of a job's log lines as NDJSON. Without a range
// it returns the whole log; the total line count is in X-Total-Lines so a
// viewer can page through logs of any size. ?wait=30s turns it into a long
// poll: when nothing exists at start yet, the answer waits for new lines.
//
// The lines are the log store's bytes, streamed from a snapshot of the
// log's file with a Content-Length (sendfile over HTTP/1.1 without TLS,
// flushed 32 KiB writes otherwise): memory does not grow with the log's
// size nor with the number of readers. A read error after the headers
// aborts the response (the connection is closed, or the HTTP/2 stream
// reset), so a client never takes a short body for the whole log.
func (api *API) jobLogs(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	start, err := httpparam.QueryInt(r, "start", 0)
	if err != nil {
		return err
	}
	end, err := httpparam.QueryInt(r, "end", -1)
	if err != nil {
		return err
	}
	if end < 0 {
		end = int(^uint(0) >> 1)
	}
	var wait time.Duration
	if s := r.URL.Query().Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil || wait < 0 || wait > 60*time.Second {
			return fmt.Errorf("%w: wait=%q must be a duration up to 60s", lab.ErrInvalid, s)
		}
	}
	stream, err := api.app.OpenJobLog(r.Context(), p, id, start, end, wait)
	if err != nil {
		return err
	}
	defer stream.Close()
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("X-Total-Lines", strconv.Itoa(stream.Total))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.FormatInt(stream.Size, 10))
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := streamBody(w, stream); err != nil {
		api.guard.Abort(r, fmt.Errorf("stream log of job %d: %w", id, err))
	}
	return nil
}

// streamBody copies body to w: through w's ReadFrom when it has one
// (HTTP/1.1 without TLS: a log store reader is then sent with sendfile),
// otherwise in writes of 32 KiB, each flushed, so that memory stays bounded
// and a slow client receives bytes as they are read.
func streamBody(w http.ResponseWriter, body io.Reader) (int64, error) {
	if _, ok := w.(io.ReaderFrom); ok {
		return io.Copy(w, body)
	}
	return io.Copy(flushWriter{w: w, rc: http.NewResponseController(w)}, body)
}

// flushWriter flushes every write to the client. It has no ReadFrom, so
// io.Copy moves data through a bounded buffer.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	if err := f.rc.Flush(); err != nil {
		return n, fmt.Errorf("flush: %w", err)
	}
	return n, nil
}

// Paging of a job's results.
const (
	resultsPage    = 1000
	maxResultsPage = 10000
)

// jobResults lists a page of a job's test cases, in log order, filtered by
// ?suite=, ?set=, ?case= and ?result=. The page is read from the store and
// written app.CasesChunk cases at a time, in the same JSON as writeJSON
// would give for the whole wire.List, so a page of 10,000 cases never sits
// in memory; an error after the first bytes aborts the response (httpserve.Guard.Abort).
func (api *API) jobResults(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.CaseFilter{Suite: q.Get("suite"), Set: q.Get("set"), Case: q.Get("case")}
	if s := q.Get("result"); s != "" {
		res, err := lab.ParseTestResult(s)
		if err != nil {
			return err
		}
		f.Result = &res
	}
	if f.Limit, err = httpparam.QueryInt(r, "limit", resultsPage); err != nil {
		return err
	}
	if f.Limit < 1 || f.Limit > maxResultsPage {
		return fmt.Errorf("%w: limit must be between 1 and %d", lab.ErrInvalid, maxResultsPage)
	}
	if f.Offset, err = httpparam.QueryInt(r, "offset", 0); err != nil {
		return err
	}
	cur, err := api.app.OpenJobResults(r.Context(), p, id, f)
	if err != nil {
		return err
	}
	err = writeJSONList(w, cur.Total, f.Limit, f.Offset, func() ([]wire.Result, error) {
		cases, err := cur.Next(r.Context())
		out := make([]wire.Result, len(cases))
		for i, c := range cases {
			out[i] = resultJSON(c)
		}
		return out, err
	})
	if err != nil {
		api.guard.Abort(r, fmt.Errorf("results of job %d: %w", id, err))
	}
	return nil
}

// writeJSONList answers 200 with a wire.List whose results come from next,
// a chunk at a time until it returns none, and writes each chunk as it
// comes: byte for byte what writeJSON writes for the whole list (indented
// by two spaces, HTML escaped, a final newline). An error from next or
// from the client is returned after the headers are sent; the caller
// aborts the response.
func writeJSONList[T any](w http.ResponseWriter, count, limit, offset int, next func() ([]T, error)) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	fmt.Fprintf(bw, "{\n  \"count\": %d,\n  \"limit\": %d,\n  \"offset\": %d,\n  \"results\": [", count, limit, offset)
	n := 0
	for {
		chunk, err := next()
		if err != nil {
			return err
		}
		if len(chunk) == 0 {
			break
		}
		for _, v := range chunk {
			b, err := json.MarshalIndent(v, "    ", "  ")
			if err != nil {
				return fmt.Errorf("encode: %w", err)
			}
			sep := ",\n    "
			if n == 0 {
				sep = "\n    "
			}
			n++
			bw.WriteString(sep)
			bw.Write(b)
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	if n > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
	return bw.Flush()
}

// resultJSON is a test case as the API shows it.
func resultJSON(c lab.TestCase) wire.Result {
	return wire.Result{ID: c.ID, Job: c.JobID, Suite: c.Suite, Set: c.Set, Case: c.Name, Result: c.Result.String(),
		Measurement: c.Measurement, Units: c.Units, Duration: c.Duration, Level: c.Level, ErrorType: c.ErrorType,
		ErrorMsg: c.ErrorMsg, Metadata: c.Metadata, Logged: c.Logged.UTC(), LogLine: c.Line, StartLogLine: c.StartLine,
		EndLogLine: c.EndLine}
}

// jobSuites lists a job's test suites with their cases counted by result.
func (api *API) jobSuites(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	suites, err := api.app.JobSuites(r.Context(), p, id)
	if err != nil {
		return err
	}
	out := wire.List[wire.Suite]{Count: len(suites), Limit: len(suites), Results: make([]wire.Suite, 0, len(suites))}
	for _, s := range suites {
		out.Results = append(out.Results, wire.Suite{Name: s.Name, Pass: s.Pass, Fail: s.Fail, Skip: s.Skip, Unknown: s.Unknown, Total: s.Total()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (api *API) jobNotifications(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	ns, err := api.app.JobNotifications(r.Context(), p, id)
	if err != nil {
		return err
	}
	out := wire.List[wire.Notification]{Count: len(ns), Limit: len(ns), Results: make([]wire.Notification, 0, len(ns))}
	for _, n := range ns {
		out.Results = append(out.Results, notificationJSON(n))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// notificationJSON is a job's notification on the wire.
func notificationJSON(n app.JobNotification) wire.Notification {
	timeOrNil := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	out := wire.Notification{ID: n.ID, Kind: string(n.Kind), Target: n.Target, JobState: n.State.String(), JobHealth: n.Health.String(),
		Status: string(n.Status), Attempts: n.Attempts, Created: n.Created, NextAttempt: timeOrNil(n.NextAttempt),
		Done: timeOrNil(n.Done), LastError: n.LastError, Log: make([]wire.NotificationAttempt, 0, len(n.Log))}
	if n.Kind == lab.DeliveryCallback {
		out.Method, out.Dataset, out.ContentType, out.Header, out.TokenSet = n.Params.Method, n.Params.Dataset, n.Params.ContentType, n.Params.Header, n.HasToken
	}
	for _, a := range n.Log {
		out.Log = append(out.Log, wire.NotificationAttempt{Attempt: a.Attempt, At: a.At, DurationMS: float64(a.Duration.Microseconds()) / 1000,
			StatusCode: a.StatusCode, Error: a.Error})
	}
	return out
}

func (api *API) joinToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.JoinTokenInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if maxTTL := int64(app.MaxJoinTokenTTL / time.Second); in.TTLSeconds < 0 || in.TTLSeconds > maxTTL {
		// Checked before the conversion to a duration, which would overflow.
		return fmt.Errorf("%w: ttl_seconds must be from 0 (a day) to %d (365 days), not %d", lab.ErrInvalid, maxTTL, in.TTLSeconds)
	}
	ttl := time.Duration(in.TTLSeconds) * time.Second
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	secret, err := api.app.CreateJoinToken(r.Context(), p, r.PathValue("name"), ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.JoinToken{Token: secret, Expires: time.Now().Add(ttl).UTC().Truncate(time.Second)})
	return nil
}
