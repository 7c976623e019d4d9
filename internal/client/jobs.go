package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
)

// OpenAPI returns the server's OpenAPI description (GET /openapi.json).
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var s string
	if err := c.do(ctx, request{method: "GET", path: "/openapi.json", raw: &s}); err != nil {
		return nil, err
	}
	return json.RawMessage(s), nil
}

// Version returns the server's version (GET /system/version).
func (c *Client) Version(ctx context.Context) (wire.Version, error) {
	var out wire.Version
	err := c.do(ctx, request{method: "GET", path: "/system/version", out: &out})
	return out, err
}

// Whoami says who the server takes the caller for (GET /system/whoami).
func (c *Client) Whoami(ctx context.Context) (wire.Whoami, error) {
	var out wire.Whoami
	err := c.do(ctx, request{method: "GET", path: "/system/whoami", out: &out})
	return out, err
}

// Login exchanges a username and password for a new API token (POST
// /token). The secret is in the answer's Secret field, shown only once.
func (c *Client) Login(ctx context.Context, in wire.LoginInput) (wire.Token, error) {
	var out wire.Token
	err := c.do(ctx, request{method: "POST", path: "/token", body: in, out: &out})
	return out, err
}

// JobFilter selects jobs for ListJobs. Zero fields do not filter; a zero
// Limit takes the server's default page size.
type JobFilter struct {
	States      []string // display names: Submitted, Running, Finished, …
	Health      []string // Unknown, Complete, Incomplete, Canceled
	DeviceType  string
	Device      string
	Submitter   string
	TargetGroup string // the jobs of one multinode group (wire.Multinode.TargetGroup)
	HealthCheck *bool  // only (or no) health checks
	Search      string // free text
	Limit       int
	Offset      int
}

func (f JobFilter) query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("state", strings.Join(f.States, ","))
	set("health", strings.Join(f.Health, ","))
	set("device_type", f.DeviceType)
	set("device", f.Device)
	set("submitter", f.Submitter)
	set("target_group", f.TargetGroup)
	set("q", f.Search)
	if f.HealthCheck != nil {
		q.Set("health_check", strconv.FormatBool(*f.HealthCheck))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	return q
}

// ListJobs returns one page of the jobs the caller may see (GET /jobs).
func (c *Client) ListJobs(ctx context.Context, f JobFilter) (wire.List[wire.Job], error) {
	var out wire.List[wire.Job]
	err := c.do(ctx, request{method: "GET", path: "/jobs", query: f.query(), out: &out})
	return out, err
}

// SubmitJob submits a job definition (POST /jobs) and returns the new ids
// (several for a multinode job).
func (c *Client) SubmitJob(ctx context.Context, definition string) (wire.Submitted, error) {
	var out wire.Submitted
	err := c.do(ctx, request{method: "POST", path: "/jobs", body: wire.DefinitionInput{Definition: definition}, out: &out})
	return out, err
}

// ValidateJob checks a job definition without submitting it (POST
// /jobs/validate). An invalid definition is not an error: the answer lists
// the problems, or the warnings of a valid one; with strict, warnings are
// problems.
func (c *Client) ValidateJob(ctx context.Context, definition string, strict bool) (wire.Validation, error) {
	var out wire.Validation
	err := c.do(ctx, request{method: "POST", path: "/jobs/validate", body: wire.ValidateInput{Definition: definition, Strict: strict}, out: &out})
	return out, err
}

// GetJob returns a job with its definition (GET /jobs/{id}).
func (c *Client) GetJob(ctx context.Context, id int64) (wire.Job, error) {
	var out wire.Job
	err := c.do(ctx, request{method: "GET", path: "/jobs/" + strconv.FormatInt(id, 10), out: &out})
	return out, err
}

// JobQueue says why a job waits in the queue (GET /jobs/{id}/queue); once
// the job has left the queue the answer's Verdict is "not_queued".
func (c *Client) JobQueue(ctx context.Context, id int64) (wire.Queue, error) {
	var out wire.Queue
	err := c.do(ctx, request{method: "GET", path: "/jobs/" + strconv.FormatInt(id, 10) + "/queue", out: &out})
	return out, err
}

// JobNotifications returns the notifications of a job's notify block with
// every attempt to send them, oldest first (GET /jobs/{id}/notifications).
func (c *Client) JobNotifications(ctx context.Context, id int64) ([]wire.Notification, error) {
	var out wire.List[wire.Notification]
	err := c.do(ctx, request{method: "GET", path: "/jobs/" + strconv.FormatInt(id, 10) + "/notifications", out: &out})
	return out.Results, err
}

// JobDefinition returns a job's definition as YAML (GET
// /jobs/{id}/definition); original asks for the text as submitted.
func (c *Client) JobDefinition(ctx context.Context, id int64, original bool) (string, error) {
	var q url.Values
	if original {
		q = url.Values{"original": {"true"}}
	}
	var s string
	err := c.do(ctx, request{method: "GET", path: "/jobs/" + strconv.FormatInt(id, 10) + "/definition", query: q, raw: &s})
	return s, err
}

// CancelJob cancels a job (POST /jobs/{id}/cancel) and returns it: Finished
// and Canceled if it was queued, Canceling if it was on a device.
func (c *Client) CancelJob(ctx context.Context, id int64) (wire.Job, error) {
	var out wire.Job
	err := c.do(ctx, request{method: "POST", path: "/jobs/" + strconv.FormatInt(id, 10) + "/cancel", out: &out})
	return out, err
}

// ResubmitJob submits a job's original definition again (POST
// /jobs/{id}/resubmit).
func (c *Client) ResubmitJob(ctx context.Context, id int64) (wire.Submitted, error) {
	var out wire.Submitted
	err := c.do(ctx, request{method: "POST", path: "/jobs/" + strconv.FormatInt(id, 10) + "/resubmit", out: &out})
	return out, err
}

// JobLogs returns log lines [start, end) of a job (GET /jobs/{id}/logs), each
// one JSON record, and the total number of lines stored; end < 0 means to
// the end.
func (c *Client) JobLogs(ctx context.Context, id int64, start, end int) ([]string, int, error) {
	return c.JobLogsWait(ctx, id, start, end, 0)
}

// JobLogsWait is JobLogs that, when no line exists at start yet, lets the
// server wait up to wait for new ones (a live tail without polling).
func (c *Client) JobLogsWait(ctx context.Context, id int64, start, end int, wait time.Duration) ([]string, int, error) {
	q := url.Values{"start": {strconv.Itoa(start)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	if end >= 0 {
		q.Set("end", strconv.Itoa(end))
	}
	var body string
	var h http.Header
	if err := c.do(ctx, request{method: "GET", path: "/jobs/" + strconv.FormatInt(id, 10) + "/logs", query: q, raw: &body, header: &h}); err != nil {
		return nil, 0, err
	}
	total, _ := strconv.Atoi(h.Get("X-Total-Lines"))
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if body == "" {
		lines = nil
	}
	return lines, total, nil
}

// ResultsFilter selects a job's test cases for JobResults. Zero fields do
// not filter; a zero Limit takes the server's default page size (1,000).
type ResultsFilter struct {
	Suite  string
	Set    string
	Case   string
	Result string // pass, fail, skip or unknown
	Limit  int
	Offset int
}

func (f ResultsFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"suite": f.Suite, "set": f.Set, "case": f.Case, "result": f.Result} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	return q
}

// JobResults returns one page of a job's test cases, in log order (GET
// /jobs/{id}/results). Log lines are 0-based.
func (c *Client) JobResults(ctx context.Context, id int64, f ResultsFilter) (wire.List[wire.Result], error) {
	var out wire.List[wire.Result]
	err := c.do(ctx, request{method: "GET", path: "/jobs/" + strconv.FormatInt(id, 10) + "/results", query: f.query(), out: &out})
	return out, err
}

// AllJobResults returns every test case of a job that f selects, reading
// one page after another from f.Offset (f.Limit is the page size).
func (c *Client) AllJobResults(ctx context.Context, id int64, f ResultsFilter) ([]wire.Result, error) {
	var all []wire.Result
	for {
		page, err := c.JobResults(ctx, id, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Results...)
		f.Offset += len(page.Results)
		if len(page.Results) == 0 || f.Offset >= page.Count {
			return all, nil
		}
	}
}

// JobSuites returns a job's test suites with their cases counted by
// result (GET /jobs/{id}/suites).
func (c *Client) JobSuites(ctx context.Context, id int64) (wire.List[wire.Suite], error) {
	var out wire.List[wire.Suite]
	err := c.do(ctx, request{method: "GET", path: "/jobs/" + strconv.FormatInt(id, 10) + "/suites", out: &out})
	return out, err
}

// ConsoleInput types into a running reservation's console (POST
// /reservations/{id}/console): text, bytes or a power action.
func (c *Client) ConsoleInput(ctx context.Context, id int64, in wire.ConsoleInput) (wire.ConsoleAck, error) {
	var out wire.ConsoleAck
	err := c.do(ctx, request{method: "POST", path: "/reservations/" + strconv.FormatInt(id, 10) + "/console", body: in, out: &out})
	return out, err
}
