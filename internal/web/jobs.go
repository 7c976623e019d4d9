package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/resultlog"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Paging and window sizes.
const (
	jobsPerPage = 50
	maxJobsPage = 500
	// logWindow is the default number of log lines a page shows; maxLogWindow
	// caps what one request may ask for, whatever the log's size.
	logWindow    = 500
	maxLogWindow = 2000
	// scanCheck is how many log lines a scan reads between checks that
	// its request is still wanted.
	scanCheck = 10000
	// resultsPage is how many test cases the results page shows at a time
	// (the downloads read app.CasesChunk at a time).
	resultsPage = 1000
	// treeCases bounds the lava-suite cases the action tree is built from.
	treeCases = 5000
)

// inlineCases is the largest number of test cases the job page lists
// itself; above it the page shows the suites and links the results page,
// so that it stays fast. A variable for tests.
var inlineCases = 500

// jobFilters are the list filters as the form shows them.
type jobFilters struct {
	State, Health, DeviceType, Submitter, Q string
	// TargetGroup lists one multinode group (linked from a job's page,
	// not a field of the form).
	TargetGroup string
}

type jobsData struct {
	Filters         jobFilters
	States, Healths []string
	DeviceTypes     []string
	Jobs            []lab.Job
	Total           int
	First, Last     int // 1-based positions shown
	Prev, Next      string
	Limit           int
}

func (u *UI) jobs(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	fl := jobFilters{State: q.Get("state"), Health: q.Get("health"), DeviceType: q.Get("device_type"),
		Submitter: q.Get("submitter"), Q: q.Get("q"), TargetGroup: q.Get("target_group")}
	f := store.JobFilter{DeviceType: fl.DeviceType, Submitter: fl.Submitter, Text: fl.Q, TargetGroup: fl.TargetGroup}
	if fl.State != "" {
		st, err := lab.ParseJobState(fl.State)
		if err != nil {
			return err
		}
		f.States = []lab.JobState{st}
	}
	if fl.Health != "" {
		h, err := lab.ParseJobHealth(fl.Health)
		if err != nil {
			return err
		}
		f.Health = []lab.JobHealth{h}
	}
	var err error
	if f.Limit, err = httpparam.QueryInt(r, "limit", jobsPerPage); err != nil {
		return err
	}
	if f.Limit == 0 || f.Limit > maxJobsPage {
		return fmt.Errorf("%w: limit must be between 1 and %d", lab.ErrInvalid, maxJobsPage)
	}
	if f.Offset, err = httpparam.QueryInt(r, "offset", 0); err != nil {
		return err
	}
	jobs, total, err := u.app.ListJobs(r.Context(), p, f)
	if err != nil {
		return err
	}
	types, err := u.app.ListDeviceTypes(r.Context())
	if err != nil {
		return fmt.Errorf("jobs page: %w", err)
	}
	d := jobsData{Filters: fl, Jobs: jobs, Total: total, Limit: f.Limit}
	for s := lab.JobSubmitted; s <= lab.JobFinished; s++ {
		d.States = append(d.States, s.String())
	}
	for h := lab.JobHealthUnknown; h <= lab.JobHealthCanceled; h++ {
		d.Healths = append(d.Healths, h.String())
	}
	for _, t := range types {
		d.DeviceTypes = append(d.DeviceTypes, t.Name)
	}
	if len(jobs) > 0 {
		d.First, d.Last = f.Offset+1, f.Offset+len(jobs)
	}
	page := func(off int) string {
		v := url.Values{}
		for k, val := range map[string]string{"state": fl.State, "health": fl.Health, "device_type": fl.DeviceType, "submitter": fl.Submitter, "q": fl.Q,
			"target_group": fl.TargetGroup} {
			if val != "" {
				v.Set(k, val)
			}
		}
		if f.Limit != jobsPerPage {
			v.Set("limit", strconv.Itoa(f.Limit))
		}
		if off > 0 {
			v.Set("offset", strconv.Itoa(off))
		}
		if len(v) == 0 {
			return "/jobs"
		}
		return "/jobs?" + v.Encode()
	}
	if f.Offset > 0 {
		d.Prev = page(max(0, f.Offset-f.Limit))
	}
	if f.Offset+len(jobs) < total {
		d.Next = page(f.Offset + f.Limit)
	}
	u.show(w, r, p, "jobs", "Jobs", "jobs", d)
	return nil
}

// logLine is one rendered log record.
type logLine struct {
	N     int    // 0-based line number (the API's and LAVA's numbering)
	Time  string // HH:MM:SS.mmm, empty when the record does not decode
	Level string // level name, "raw" for undecodable lines
	Text  string // the text as it reads: terminal escapes removed (ansi.go)
	// HTML is Text with its terminal colours and search matches; empty
	// when Text says it all.
	HTML   template.HTML
	Result string      // results records: pass, fail, skip or unknown
	Mark   *actionMark // an action's start, end or result (logfold.go)
	Hit    bool        // matches the search
	segs   []ansiSeg   // Text's styled runs, nil when unstyled
}

// Marker is the result as text, so that it does not rest on colour alone.
func (l *logLine) Marker() string { return resultMarker(l.Result) }

// setText sets the line's text from what was logged.
func (l *logLine) setText(s string) {
	l.Text, l.segs = parseANSI(s)
	if l.segs != nil {
		l.HTML = ansiHTML(l.Text, l.segs, nil)
	}
}

// logWin is a window [Start, End) of a job's log with pager links.
type logWin struct {
	JobID       int64
	Lines       []logLine
	Start, End  int // 0-based, End exclusive
	Total       int
	Prev, Next  string
	First, Last string
	// open are the actions the window starts inside; peek is the line
	// after the window (it may hold the result of the last action).
	open []*logSection
	peek *logLine
}

// resultRow is one test case of a job, as the results pages and the
// downloads show it. Line is its 0-based log line (docs/api.md): the same
// number as the REST API's log_line.
type resultRow struct {
	Definition  string // the suite
	Set         string
	Case        string
	Result      string
	Measurement string
	Units       string
	Duration    string
	Level       string
	Line        int
	StartLine   int
	EndLine     int
	Logged      time.Time
}

// row is the display form of a stored test case.
func row(c lab.TestCase) resultRow {
	return resultRow{Definition: c.Suite, Set: c.Set, Case: c.Name, Result: c.Result.String(), Measurement: c.Measurement,
		Units: c.Units, Duration: c.Duration, Level: c.Level, Line: c.Line, StartLine: c.StartLine, EndLine: c.EndLine,
		Logged: c.Logged}
}

// suiteRow summarises one suite's results.
type suiteRow struct {
	Name                    string
	Pass, Fail, Skip, Other int
}

type jobData struct {
	Job         lab.Job
	Metadata    [][2]string
	Queued, Ran time.Duration
	Suites      []suiteRow
	Results     []resultRow
	// Cases is the number of the job's test cases; ResultsElsewhere says
	// there are too many to list on the job page: they are on
	// /jobs/{id}/results.
	Cases            int
	ResultsElsewhere bool
	// Lava is the lava suite's cases, which the action tree shows; Pager
	// pages the results page.
	Lava  []resultRow
	Pager resultsPager
	Log   logView
	// Actions is the job page's buttons and action tree (actions.go).
	Actions jobActions
	// Queue says why a queued job waits (queue.go); nil otherwise.
	Queue *queueView
	// Notifications are the deliveries of the job's notify block with
	// their attempts (none without one).
	Notifications []app.JobNotification
	// Group lists the jobs of a multinode sub-job's group (itself
	// included), by id; empty for other jobs.
	Group []lab.Job
	// Reservation is set when the job is a reservation (console.go),
	// with its forms (reservations.go).
	Reservation *reservationRow
}

// maxGroupShown bounds the jobs of a multinode group listed on a job page.
const maxGroupShown = 200

func (u *UI) job(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	j, err := u.visibleJob(r, p)
	if err != nil {
		return err
	}
	d := jobData{Job: j}
	if j.Reservation != nil {
		row := newReservationRow(p, j, u.now())
		row.Back = "job"
		d.Reservation = &row
	}
	keys := make([]string, 0, len(j.Metadata))
	for k := range j.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d.Metadata = append(d.Metadata, [2]string{k, j.Metadata[k]})
	}
	if !j.StartTime.IsZero() {
		d.Queued = j.StartTime.Sub(j.SubmitTime)
		end := j.EndTime
		if end.IsZero() {
			end = u.now()
		}
		d.Ran = end.Sub(j.StartTime)
	}
	if d.Log, err = u.jobPageLog(r.Context(), p, j); err != nil {
		return err
	}
	if err := u.loadResults(r.Context(), p, &d, 0, inlineCases, true); err != nil {
		return err
	}
	d.Actions = newJobActions(p, j, d.Lava, len(d.Lava) < treeCases)
	if d.Queue, err = u.jobQueue(r.Context(), p, j); err != nil {
		return err
	}
	if d.Notifications, err = u.app.JobNotifications(r.Context(), p, j.ID); err != nil {
		return err
	}
	if j.Multinode != nil {
		if d.Group, _, err = u.app.ListJobs(r.Context(), p, store.JobFilter{TargetGroup: j.Multinode.TargetGroup,
			Order: store.OrderID, Limit: maxGroupShown}); err != nil {
			return err
		}
	}
	u.show(w, r, p, "job", fmt.Sprintf("Job %d", j.ID), "jobs", d)
	return nil
}

// resultsPager links the pages of the results page.
type resultsPager struct {
	First, Last int // 1-based positions of the cases shown
	Prev, Next  string
}

// jobResults is the results page: the suites, the action tree and one page
// of the job's test cases (?offset=).
func (u *UI) jobResults(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	j, err := u.visibleJob(r, p)
	if err != nil {
		return err
	}
	offset, err := httpparam.QueryInt(r, "offset", 0)
	if err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: offset must not be negative", lab.ErrInvalid)
	}
	d := jobData{Job: j}
	if err := u.loadResults(r.Context(), p, &d, offset, resultsPage, false); err != nil {
		return err
	}
	if len(d.Results) > 0 {
		d.Pager.First, d.Pager.Last = offset+1, offset+len(d.Results)
	}
	link := func(o int) string { return fmt.Sprintf("/jobs/%d/results?offset=%d", j.ID, o) }
	if offset > 0 {
		d.Pager.Prev = link(max(0, offset-resultsPage))
	}
	if offset+len(d.Results) < d.Cases {
		d.Pager.Next = link(offset + len(d.Results))
	}
	u.show(w, r, p, "results", fmt.Sprintf("Job %d results", j.ID), "jobs", d)
	return nil
}

// loadResults fills d's suites, its lava cases and the page of limit cases
// from offset — or, with orElsewhere and more than limit cases, only
// ResultsElsewhere. All of it comes from the store.
func (u *UI) loadResults(ctx context.Context, p auth.Principal, d *jobData, offset, limit int, orElsewhere bool) error {
	id := d.Job.ID
	suites, err := u.app.JobSuites(ctx, p, id)
	if err != nil {
		return err
	}
	for _, s := range suites {
		d.Suites = append(d.Suites, suiteRow{Name: s.Name, Pass: s.Pass, Fail: s.Fail, Skip: s.Skip, Other: s.Unknown})
		d.Cases += s.Total()
	}
	if orElsewhere && d.Cases > limit {
		d.ResultsElsewhere = true
	} else if d.Cases > 0 {
		cases, _, err := u.app.JobResults(ctx, p, id, store.CaseFilter{Limit: limit, Offset: offset})
		if err != nil {
			return err
		}
		for _, c := range cases {
			d.Results = append(d.Results, row(c))
		}
	}
	lava, _, err := u.app.JobResults(ctx, p, id, store.CaseFilter{Suite: lab.LAVASuite, Limit: treeCases})
	if err != nil {
		return err
	}
	for _, c := range lava {
		d.Lava = append(d.Lava, row(c))
	}
	return nil
}

// window reads lines [start, end) of a visible job's log and renders them.
func (u *UI) window(ctx context.Context, p auth.Principal, id int64, start, end int) (logWin, error) {
	raw, total, err := u.app.JobLog(ctx, p, id, start, end+1, 0)
	if err != nil {
		return logWin{}, err
	}
	var peek *logLine
	if len(raw) > end-start {
		pl := renderLine(end, raw[end-start])
		peek, raw = &pl, raw[:end-start]
	}
	win := logWin{JobID: id, Start: start, End: start + len(raw), Total: total, peek: peek}
	win.Lines = make([]logLine, len(raw))
	for i, l := range raw {
		win.Lines[i] = renderLine(start+i, l)
	}
	if start > 0 && len(raw) > 0 {
		if win.open, err = u.openActions(ctx, p, id, start); err != nil {
			return logWin{}, err
		}
	}
	size := end - start
	link := func(s int) string {
		return fmt.Sprintf("/jobs/%d/log?start=%d&end=%d", id, s, s+size)
	}
	if start > 0 {
		win.Prev = link(max(0, start-size))
		win.First = link(0)
	}
	if win.End < total {
		win.Next = link(win.End)
		win.Last = link(max(0, total-size))
	}
	return win, nil
}

// renderLine turns one journal line into display fields. A line that is
// not a valid record is shown raw, never dropped. Terminal escape
// sequences become styles or go (parseANSI); start and end lines of
// actions and lava results get their mark (logfold.go).
func renderLine(n int, line []byte) logLine {
	rec, err := workerproto.DecodeRecord(line)
	if err != nil {
		out := logLine{N: n, Level: "raw"}
		out.setText(string(line))
		return out
	}
	out := logLine{N: n, Time: rec.Time.UTC().Format("15:04:05.000"), Level: string(rec.Level)}
	var s string
	switch {
	case json.Unmarshal(rec.Msg, &s) == nil:
		out.setText(s)
		if rec.Level == workerproto.LevelInfo {
			out.Mark = parseActionLine(out.Text)
		}
	case rec.Level == workerproto.LevelResults:
		// The case as ingestion stores it (numbers as written, LAVA's
		// name rules), so the line reads like its row on the results page.
		if c, ok, _ := resultlog.Parse(line, n); ok {
			text := fmt.Sprintf("%s/%s: %s", c.Suite, c.Name, c.Result)
			if c.Measurement != "" && c.Suite != lab.LAVASuite { // lava's is the duration, on the end line
				text += " " + strings.TrimSpace(c.Measurement+" "+c.Units)
			}
			out.setText(text)
			out.Result = resultClass(c.Result.String())
			out.Mark = resultMark(c)
			break
		}
		out.setText(string(rec.Msg))
	default:
		out.setText(string(rec.Msg))
	}
	return out
}

// visibleJob returns the job the request's {id} names, as the caller may
// see it: a job they may not see is not found, like one that does not
// exist.
func (u *UI) visibleJob(r *http.Request, p auth.Principal) (lab.Job, error) {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return lab.Job{}, err
	}
	return u.app.GetJob(r.Context(), p, id)
}
