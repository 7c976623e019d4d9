package lavarpc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/lavalog"
	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/xmlrpc"
)

// jobMaxList is the most jobs scheduler.jobs.list and queue return at
// once (LAVA clamps limit to 100).
const jobMaxList = 100

// jobMethods are scheduler.jobs.* and the older scheduler.* job methods.
func jobMethods() []*Method {
	jobID := Param{Name: "job_id", Type: "string"}
	return []*Method{
		{Name: "scheduler.jobs.submit", Auth: true, Params: []Param{{Name: "definition", Type: "string"}}, Returns: "int",
			Help: "Submits a job definition (YAML or JSON) and returns the new job's id; for a multinode definition, the list of its jobs' sub_ids (\"<parent id>.<n>\"). " +
				"Faults: 400 for a definition Basalt refuses (each problem with its line:column and path) or when no device could run the job, 401 anonymous.",
			Call: func(c *Call) (any, error) { return jobSubmit(c) }},
		{Name: "scheduler.jobs.resubmit", Auth: true, Params: []Param{jobID}, Returns: "int",
			Help: "Submits the definition of a job again, as the caller, and returns the new job's id; a job of a multinode group submits its whole group again and returns the new sub_ids. " +
				"Only the job's submitter and administrators may resubmit it (fault 403); health checks are resubmitted by the server (fault 409).",
			Call: withJob(jobResubmit)},
		{Name: "scheduler.jobs.cancel", Auth: true, Params: []Param{jobID}, Returns: "boolean",
			Help: "Cancels a job: a queued job ends Canceled at once, a running one goes Canceling until its worker stops it. " +
				"Returns True, also for a job that has ended already. Only the job's submitter and administrators may cancel a job that has not ended (fault 403).",
			Call: jobCancel},
		{Name: "scheduler.jobs.validate", Params: []Param{{Name: "definition", Type: "string"}, {Name: "strict", Type: "boolean", Optional: true}},
			Returns: "struct",
			Help: "Checks a job definition as a submission would, without queueing it. Returns {} when it would be accepted, " +
				"otherwise the first problem as {\"path\": \"['actions', 0, 'deploy']\", \"msg\": \"...\"} (LAVA's form: path is a Python list). " +
				"strict is accepted; Basalt's checks are the same with it.",
			Call: jobValidate},
		{Name: "scheduler.jobs.definition", Params: []Param{jobID}, Returns: "string",
			Help: "The job's definition as it was submitted.",
			Call: withJob(func(_ *Call, j lab.Job) (any, error) { return j.OriginalDefinition, nil })},
		{Name: "scheduler.jobs.show", Params: []Param{jobID}, Returns: "struct",
			Help: "The job's details: {id, description, device, device_type, health_check, pipeline, health, state, submitter, " +
				"submit_time, start_time, end_time, tags, visibility (Public, Personal or Group (a, b)), failure_comment, error_msg, error_type}; " +
				"error_msg and error_type are those of the job's lava/job result.",
			Call: withJob(func(c *Call, j lab.Job) (any, error) { return jobShow(c, j) })},
		{Name: "scheduler.jobs.list", Params: []Param{{Name: "state", Type: "string", Optional: true}, {Name: "health", Type: "string", Optional: true},
			{Name: "start", Type: "int", Optional: true}, {Name: "limit", Type: "int", Optional: true}, {Name: "since", Type: "int", Optional: true},
			{Name: "verbose", Type: "boolean", Optional: true}, {Name: "duration_at_least", Type: "int", Optional: true}},
			Returns: "array",
			Help: "The jobs the caller may see, newest first: skip start (0), at most limit (25, at most 100). " +
				"state (SUBMITTED, SCHEDULING, SCHEDULED, RUNNING, CANCELING, FINISHED) and health (UNKNOWN, COMPLETE, INCOMPLETE, CANCELED) filter, in any case; " +
				"since keeps the jobs that ended in the last since minutes, duration_at_least those that ran for more than that many minutes (to now for running jobs). " +
				"Each job is {id, description, device_type, health, state, submitter}; verbose adds actual_device, start_time, end_time (text), error_msg and error_type.",
			Call: jobList},
		{Name: "scheduler.jobs.logs", Params: []Param{jobID, {Name: "start", Type: "int", Optional: true}, {Name: "end", Type: "int", Optional: true}},
			Returns: "array",
			Help: "Lines [start, end) of the job's log (from 0, to the end by default) and whether the job is finished: [finished, Binary(YAML)]. " +
				"The YAML is LAVA's output.yaml: one line per record, `- {\"dt\": ..., \"lvl\": ..., \"msg\": ...}`. A job without a log gives \"[]\".",
			Call: withJob(jobLogs)},
		{Name: "scheduler.jobs.queue", Params: []Param{{Name: "device_types", Type: "array", Optional: true}, {Name: "start", Type: "int", Optional: true},
			{Name: "limit", Type: "int", Optional: true}},
			Returns: "array",
			Help: "The queued (Submitted) jobs the caller may see, newest first, of the given device types (all by default): " +
				"skip start (0), at most limit (25, at most 100). Each job is {id, description, requested_device_type, submitter}.",
			Call: jobQueue},
		{Name: "scheduler.jobs.configuration", Params: []Param{jobID}, Returns: "array",
			Help: "The configuration of a job that has started: [job, device, dispatcher, env, env-dut], each Binary or None. " +
				"Basalt gives the job's definition, and to administrators the configuration of its device rendered from the device's dictionary (as it is now) with the job's context " +
				"(None for others: it holds the lab's secrets, like the dictionary). Basalt has no dispatcher.yaml, env.yaml or env-dut.yaml: those are None. " +
				"Fault 404 for a job that has not started.",
			Call: withJob(jobConfiguration)},

		{Name: "scheduler.submit_job", Auth: true, Params: []Param{{Name: "job_data", Type: "string"}}, Returns: "int",
			Help: "The older name of scheduler.jobs.submit.",
			Call: func(c *Call) (any, error) { return jobSubmit(c) }},
		{Name: "scheduler.resubmit_job", Auth: true, Params: []Param{jobID}, Returns: "int",
			Help: "The older name of scheduler.jobs.resubmit.", Call: withJob(jobResubmit)},
		{Name: "scheduler.cancel_job", Auth: true, Params: []Param{jobID}, Returns: "boolean",
			Help: "The older name of scheduler.jobs.cancel.", Call: jobCancel},
		{Name: "scheduler.validate_yaml", Params: []Param{{Name: "yaml_string", Type: "string"}}, Returns: "nil",
			Help: "Checks a job definition as a submission would: returns None when it would be accepted, " +
				"else fault 400 \"Invalid YAML submission: ...\" with every problem (line:column: path: message).",
			Call: jobValidateYAML},
		{Name: "scheduler.job_output", Params: []Param{jobID, {Name: "offset", Type: "int", Optional: true}},
			Returns: "base64",
			Help:    "The job's log as LAVA's output.yaml (one `- {...}` line per record), from byte offset on. Fault 404 for a job that has not started.",
			Call:    withJob(jobOutput)},
		{Name: "scheduler.job_details", Params: []Param{jobID}, Returns: "struct",
			Help: "The job's fields, as LAVA's TestJob: id, sub_id, description, submitter_username, submitter_email (for the submitter and administrators), " +
				"is_public, visibility, health_check, requested_device_type_id, requested_device_id, requested_worker_id, actual_device_id, tags, priority, " +
				"submit_time, start_time, end_time, state, health, status (the older status), definition, original_definition, multinode_definition, " +
				"metadata, target_group, failure_comment, error_msg, error_type, is_pipeline, absolute_url.",
			Call: withJob(jobDetails)},
		{Name: "scheduler.job_status", Auth: true, Params: []Param{jobID}, Returns: "struct",
			Help: "The job's older status: {job_id, job_status (Submitted, Running, Canceling, Complete, Incomplete or Canceled), bundle_sha1: \"\"}.",
			Call: jobStatus},
		{Name: "scheduler.job_health", Params: []Param{jobID}, Returns: "struct",
			Help: "{job_id, job_health}: Unknown, Complete, Incomplete or Canceled.",
			Call: withJob(func(_ *Call, j lab.Job) (any, error) {
				return xmlrpc.Struct{{Name: "job_id", Value: j.ID}, {Name: "job_health", Value: j.Health.String()}}, nil
			})},
		{Name: "scheduler.job_state", Params: []Param{jobID}, Returns: "struct",
			Help: "{job_id, job_state}: Submitted, Scheduling, Scheduled, Running, Canceling or Finished.",
			Call: withJob(func(_ *Call, j lab.Job) (any, error) {
				return xmlrpc.Struct{{Name: "job_id", Value: j.ID}, {Name: "job_state", Value: j.State.String()}}, nil
			})},
		{Name: "scheduler.all_jobs", Returns: "array",
			Help: "The jobs not finished that the caller may see, newest first: " +
				"[[id, description, status (submitted, running or canceling), actual device or None, requested device type, sub_id (\"<parent>.<n>\" for multinode sub-jobs, else \"\")], ...].",
			Call: jobAllJobs},
		{Name: "scheduler.pending_jobs_by_device_type", Params: []Param{{Name: "all", Type: "boolean", Optional: true}}, Returns: "struct",
			Help: "The number of queued jobs the caller may see, by device type: {type: count}; " +
				"types with devices that are not all retired count 0 when nothing waits, and with all=True every type does.",
			Call: jobPendingByType},
		{Name: "scheduler.get_recent_jobs_for_device_type",
			Params:  []Param{{Name: "device_type", Type: "string"}, {Name: "count", Type: "int", Optional: true}, {Name: "restrict_to_user", Type: "boolean", Optional: true}},
			Returns: "array",
			Help: "The last count (1) finished jobs of a device type the caller may see, newest first, only the caller's with restrict_to_user: " +
				"[{id, description, status (Complete, Incomplete or Canceled), device}].",
			Call: jobRecentForType},
		{Name: "scheduler.get_recent_jobs_for_device",
			Params:  []Param{{Name: "device", Type: "string"}, {Name: "count", Type: "int", Optional: true}, {Name: "restrict_to_user", Type: "boolean", Optional: true}},
			Returns: "array",
			Help: "The last count (1) finished jobs of a device the caller may see, newest first, only the caller's with restrict_to_user: " +
				"[{id, description, status}].",
			Call: jobRecentForDevice},
	}
}

// jobPyStr is str() of an XML-RPC argument, as LAVA's messages show it.
func jobPyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case xmlrpc.Binary:
		return string(x)
	}
	return fmt.Sprint(v)
}

// jobArg returns the job parameter i names if the caller may see it;
// a job that does not exist, that the caller may not see, or an id that
// is not a job's is fault 404 "Job '<id>' was not found." (a private job
// is not found, never forbidden).
func jobArg(c *Call, i int) (lab.Job, error) {
	if s, ok := c.Arg(i).(string); ok && strings.Contains(s, ".") {
		return jobBySubID(c, s)
	}
	id, ok := jobID(c.Arg(i))
	if !ok {
		return lab.Job{}, lavaFault(http.StatusNotFound, "Job '%s' was not found.", jobPyStr(c.Arg(i)))
	}
	j, err := c.App.GetJob(c.ctx, c.P, id)
	if errors.Is(err, lab.ErrNotFound) {
		return lab.Job{}, lavaFault(http.StatusNotFound, "Job '%s' was not found.", jobPyStr(c.Arg(i)))
	}
	return j, err
}

// jobBySubID finds the multinode sub-job named by its sub_id
// ("<parent id>.<n>"), as LAVA's job lookups accept it; fault 404 when
// there is none the caller may see.
func jobBySubID(c *Call, sub string) (lab.Job, error) {
	missing := lavaFault(http.StatusNotFound, "Job '%s' was not found.", sub)
	head, _, _ := strings.Cut(sub, ".")
	parent, err := strconv.ParseInt(head, 10, 64)
	if err != nil {
		return lab.Job{}, missing
	}
	p, err := c.App.GetJob(c.ctx, c.P, parent)
	if errors.Is(err, lab.ErrNotFound) || (err == nil && p.Multinode == nil) {
		return lab.Job{}, missing
	} else if err != nil {
		return lab.Job{}, err
	}
	jobs, _, err := c.App.ListJobs(c.ctx, c.P, store.JobFilter{TargetGroup: p.Multinode.TargetGroup, Limit: jobdef.MaxGroupSize})
	if err != nil {
		return lab.Job{}, err
	}
	for _, j := range jobs {
		if j.Multinode != nil && j.Multinode.SubID == sub {
			return j, nil
		}
	}
	return lab.Job{}, missing
}

// displayID is LAVA's display_id: a multinode sub-job's sub_id, else the
// job's id.
func displayID(j lab.Job) any {
	if j.Multinode != nil {
		return j.Multinode.SubID
	}
	return j.ID
}

// withJob is a method on the job parameter 0 names (jobArg: fault 404
// for a job the caller may not see).
func withJob(m func(c *Call, j lab.Job) (any, error)) func(c *Call) (any, error) {
	return func(c *Call) (any, error) {
		j, err := jobArg(c, 0)
		if err != nil {
			return nil, err
		}
		return m(c, j)
	}
}

// jobSubmitError turns the refusal of a definition into LAVA's faults: a
// definition Basalt refuses, or for which no device exists, is a 400.
func jobSubmitError(err error) error {
	var de *jobdef.Errors
	switch {
	case errors.As(err, &de):
		return lavaFault(http.StatusBadRequest, "Problem with submitted job data: %s", de.Error())
	case errors.Is(err, lab.ErrUnavailable):
		return lavaFault(http.StatusBadRequest, "Device unavailable: %s", strings.TrimSuffix(err.Error(), ": "+lab.ErrUnavailable.Error()))
	}
	return err
}

// jobIDs is the answer of a submission: the id, or the ids of a
// multinode job.
func jobIDs(ids []int64) any {
	if len(ids) == 1 {
		return ids[0]
	}
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

func jobSubmit(c *Call) (any, error) {
	def, err := c.String(0, "")
	if err != nil {
		return nil, err
	}
	// LAVA's submit returns the ids only: warnings (keys LAVA lets
	// through, a key written twice) are for validate and the other APIs.
	ids, _, err := c.App.SubmitJob(c.ctx, c.P, def)
	if err != nil {
		return nil, jobSubmitError(err)
	}
	return submittedIDs(c, ids)
}

// submittedIDs answers a submission as LAVA does: the job id, or for a
// multinode group the list of its sub_ids ("<parent>.<n>").
func submittedIDs(c *Call, ids []int64) (any, error) {
	subs, err := c.App.SubIDs(c.ctx, c.P, ids)
	if err != nil || subs == nil {
		return jobIDs(ids), err
	}
	out := make([]any, len(subs))
	for i, s := range subs {
		out[i] = s
	}
	return out, nil
}

func jobResubmit(c *Call, j lab.Job) (any, error) {
	ids, err := c.App.ResubmitJob(c.ctx, c.P, j.ID)
	if err != nil {
		return nil, jobSubmitError(err)
	}
	return submittedIDs(c, ids)
}

func jobCancel(c *Call) (any, error) {
	if v := c.Arg(0); v == nil || v == "" || v == int64(0) {
		return nil, lavaFault(http.StatusBadRequest, "Bad request: TestJob id was not specified.")
	}
	j, err := jobArg(c, 0)
	if err != nil {
		return nil, err
	}
	if j.State == lab.JobCanceling || j.State == lab.JobFinished {
		return true, nil // ended already: nothing to do, for anyone, as LAVA
	}
	_, err = c.App.CancelJob(c.ctx, c.P, j.ID)
	switch {
	case err == nil, errors.Is(err, lab.ErrConflict): // it ended meanwhile
		return true, nil
	case errors.Is(err, lab.ErrForbidden):
		return nil, lavaFault(http.StatusForbidden, "Permission denied.")
	case errors.Is(err, lab.ErrNotFound):
		return nil, lavaFault(http.StatusNotFound, "Job '%s' was not found.", jobPyStr(c.Arg(0)))
	}
	return nil, err
}

// jobValidation checks a definition as a submission would: nil when it
// would be accepted. strict is scheduler.jobs.validate's flag (false for
// the other callers): strictly, what a submission accepts with a warning
// (a key LAVA lets through, a key written twice) is an error, as LAVA's
// strict schema makes it.
func jobValidation(c *Call, definition string, strict bool) error {
	_, err := c.App.ValidateJob(c.ctx, c.P, definition, strict)
	return err
}

func jobValidate(c *Call) (any, error) {
	def, err := c.String(0, "")
	if err != nil {
		return nil, err
	}
	strict, err := c.Bool(1, false)
	if err != nil {
		return nil, err
	}
	err = jobValidation(c, def, strict)
	var de *jobdef.Errors
	switch {
	case err == nil:
		return map[string]any{}, nil
	case errors.As(err, &de) && len(de.Items) > 0:
		it := de.Items[0]
		return xmlrpc.Struct{{Name: "path", Value: jobPathRepr(it.Path)}, {Name: "msg", Value: it.Msg}}, nil
	case errors.Is(err, lab.ErrUnavailable):
		path := "['device_type']"
		if j, perr := jobdef.Parse([]byte(def)); perr == nil && j.Protocols.Multinode != nil {
			path = "['protocols', 'lava-multinode', 'roles']" // the group as a whole
		}
		return xmlrpc.Struct{{Name: "path", Value: path},
			{Name: "msg", Value: strings.TrimSuffix(err.Error(), ": "+lab.ErrUnavailable.Error())}}, nil
	}
	return nil, err
}

func jobValidateYAML(c *Call) (any, error) {
	def, err := c.String(0, "")
	if err != nil {
		return nil, err
	}
	err = jobValidation(c, def, false)
	var de *jobdef.Errors
	switch {
	case err == nil:
		return nil, nil
	case errors.As(err, &de):
		return nil, lavaFault(http.StatusBadRequest, "Invalid YAML submission: %s", de.Error())
	case errors.Is(err, lab.ErrUnavailable):
		return nil, lavaFault(http.StatusBadRequest, "Invalid YAML submission: %s", strings.TrimSuffix(err.Error(), ": "+lab.ErrUnavailable.Error()))
	}
	return nil, err
}

// jobPathRepr writes a definition path ($.actions[0].deploy, as Basalt
// names places in a definition) as the Python list LAVA's validation
// reports: ['actions', 0, 'deploy']. A path it cannot read is returned
// as it is.
func jobPathRepr(path string) string {
	steps, ok := jobdef.PathSteps(path)
	if !ok {
		if path == "" {
			return "[]"
		}
		return path
	}
	r, err := pyfmt.Repr(steps)
	if err != nil {
		return path
	}
	return r
}

// jobTime is a time as LAVA returns datetimes (None when not set).
func jobTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// jobVisibility is LAVA's display of a job's visibility.
func jobVisibility(j lab.Job) string {
	switch j.Visibility {
	case lab.VisibilityPublic:
		return "Public"
	case lab.VisibilityGroup:
		if len(j.ViewingGroups) > 0 {
			return "Group (" + strings.Join(j.ViewingGroups, ", ") + ")"
		}
	}
	return "Personal"
}

// jobLegacyStatus is LAVA's older status of a job.
func jobLegacyStatus(j lab.Job) string {
	switch {
	case j.State == lab.JobSubmitted || j.State == lab.JobScheduling || j.State == lab.JobScheduled:
		return "Submitted"
	case j.State == lab.JobRunning:
		return "Running"
	case j.State == lab.JobCanceling:
		return "Canceling"
	case j.Health == lab.JobHealthComplete:
		return "Complete"
	case j.Health == lab.JobHealthUnknown || j.Health == lab.JobHealthIncomplete:
		return "Incomplete"
	}
	return "Canceled"
}

// jobError returns error_msg and error_type of the job's lava/job result
// (None each when there is none), where LAVA reads them.
func jobError(c *Call, id int64) (msg, typ any, err error) {
	cases, _, err := c.App.JobResults(c.ctx, c.P, id, store.CaseFilter{Suite: "lava", Case: "job", Limit: 1})
	if err != nil || len(cases) == 0 {
		return nil, nil, err
	}
	return orNone(cases[0].ErrorMsg), orNone(cases[0].ErrorType), nil
}

// jobShow is scheduler.jobs.show's struct.
func jobShow(c *Call, j lab.Job) (xmlrpc.Struct, error) {
	msg, typ, err := jobError(c, j.ID)
	if err != nil {
		return nil, err
	}
	tags := make([]any, len(j.Tags))
	for i, t := range j.Tags {
		tags[i] = t
	}
	return xmlrpc.Struct{
		{Name: "id", Value: displayID(j)},
		{Name: "description", Value: j.Description},
		{Name: "device", Value: orNone(j.ActualDevice)},
		{Name: "device_type", Value: orNone(j.RequestedType)},
		{Name: "health_check", Value: j.HealthCheck},
		{Name: "pipeline", Value: true},
		{Name: "health", Value: j.Health.String()},
		{Name: "state", Value: j.State.String()},
		{Name: "submitter", Value: j.Submitter},
		{Name: "submit_time", Value: jobTime(j.SubmitTime)},
		{Name: "start_time", Value: jobTime(j.StartTime)},
		{Name: "end_time", Value: jobTime(j.EndTime)},
		{Name: "tags", Value: tags},
		{Name: "visibility", Value: jobVisibility(j)},
		{Name: "failure_comment", Value: orNone(j.FailureComment)},
		{Name: "error_msg", Value: msg},
		{Name: "error_type", Value: typ},
	}, nil
}

// jobOptionalString reads an optional string filter (None or "" for
// none); anything else than a string is fault 400 "Invalid <what> '...'".
func jobOptionalString(c *Call, i int, what string) (string, error) {
	switch v := c.Arg(i).(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", lavaFault(http.StatusBadRequest, "Invalid %s '%s'", what, jobPyStr(c.Arg(i)))
}

// jobMinutes reads an optional number of minutes (an int or a double, as
// Python's timedelta takes them); ok is false when it was not given.
func jobMinutes(c *Call, i int) (d time.Duration, ok bool, err error) {
	switch v := c.Arg(i).(type) {
	case nil:
		return 0, false, nil
	case int64:
		return time.Duration(v) * time.Minute, true, nil
	case float64:
		if !math.IsNaN(v) && math.Abs(v) < 1e9 {
			return time.Duration(v * float64(time.Minute)), true, nil
		}
	case bool:
		if v {
			return time.Minute, true, nil
		}
		return 0, true, nil
	}
	return 0, false, c.badParam(i, "want a number of minutes, got %s", typeName(c.Arg(i)))
}

// jobPage reads start and limit (parameters i and i+1) as LAVA does:
// start below 0 is 0, limit above 100 is 100; ok is false when the page
// is empty (limit ≤ 0).
func jobPage(c *Call, i int) (start, limit int, ok bool, err error) {
	s, err := c.Int(i, 0)
	if err != nil {
		return 0, 0, false, err
	}
	l, err := c.Int(i+1, 25)
	if err != nil {
		return 0, 0, false, err
	}
	s, l = max(s, 0), min(l, jobMaxList)
	if s > math.MaxInt32 {
		return 0, 0, false, nil
	}
	return int(s), int(l), l > 0, nil
}

func jobList(c *Call) (any, error) {
	state, err := jobOptionalString(c, 0, "state")
	if err != nil {
		return nil, err
	}
	health, err := jobOptionalString(c, 1, "health")
	if err != nil {
		return nil, err
	}
	var f store.JobFilter
	if state != "" {
		s, err := lab.ParseJobState(state)
		if err != nil {
			return nil, lavaFault(http.StatusBadRequest, "Invalid state '%s'", state)
		}
		f.States = []lab.JobState{s}
	}
	if health != "" {
		h, err := lab.ParseJobHealth(health)
		if err != nil {
			return nil, lavaFault(http.StatusBadRequest, "Invalid health '%s'", health)
		}
		f.Health = []lab.JobHealth{h}
	}
	start, limit, ok, err := jobPage(c, 2)
	if err != nil {
		return nil, err
	}
	since, hasSince, err := jobMinutes(c, 4)
	if err != nil {
		return nil, err
	}
	verbose, err := c.Bool(5, false)
	if err != nil {
		return nil, err
	}
	longer, hasLonger, err := jobMinutes(c, 6)
	if err != nil {
		return nil, err
	}
	if hasSince && since != 0 {
		if since < 0 { // a window from the future to now holds nothing
			return []any{}, nil
		}
		f.EndedSince = c.App.Now().Add(-since)
	}
	if hasLonger {
		f.LongerThan = &longer
	}
	if !ok {
		return []any{}, nil
	}
	f.Offset, f.Limit = start, limit
	jobs, _, err := c.App.ListJobs(c.ctx, c.P, f)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(jobs))
	for _, j := range jobs {
		item := xmlrpc.Struct{
			{Name: "id", Value: j.ID},
			{Name: "description", Value: j.Description},
			{Name: "device_type", Value: orNone(j.RequestedType)},
			{Name: "health", Value: j.Health.String()},
			{Name: "state", Value: j.State.String()},
			{Name: "submitter", Value: j.Submitter},
		}
		if verbose {
			msg, typ, err := jobError(c, j.ID)
			if err != nil && !errors.Is(err, lab.ErrNotFound) {
				return nil, err
			}
			var startTime, endTime any
			if !j.StartTime.IsZero() {
				startTime = pyfmt.DatetimeStrUTC(j.StartTime)
			}
			if !j.EndTime.IsZero() {
				endTime = pyfmt.DatetimeStrUTC(j.EndTime)
			}
			item = append(item,
				xmlrpc.Member{Name: "actual_device", Value: orNone(j.ActualDevice)},
				xmlrpc.Member{Name: "start_time", Value: startTime},
				xmlrpc.Member{Name: "end_time", Value: endTime},
				xmlrpc.Member{Name: "error_msg", Value: msg},
				xmlrpc.Member{Name: "error_type", Value: typ})
		}
		out = append(out, item)
	}
	return out, nil
}

func jobQueue(c *Call) (any, error) {
	var types []string
	if c.Has(0) {
		var err error
		if types, err = c.Strings(0); err != nil {
			return nil, err
		}
		if len(types) == 0 { // LAVA: requested type in an empty list
			return []any{}, nil
		}
	}
	start, limit, ok, err := jobPage(c, 1)
	if err != nil {
		return nil, err
	}
	if !ok {
		return []any{}, nil
	}
	jobs, _, err := c.App.ListJobs(c.ctx, c.P, store.JobFilter{States: []lab.JobState{lab.JobSubmitted}, DeviceTypes: types,
		Offset: start, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, xmlrpc.Struct{
			{Name: "id", Value: j.ID},
			{Name: "description", Value: j.Description},
			{Name: "requested_device_type", Value: j.RequestedType},
			{Name: "submitter", Value: j.Submitter},
		})
	}
	return out, nil
}

// jobStarted reports whether a job has been on its device (LAVA's
// Running, Canceling or Finished with a start).
func jobStarted(j lab.Job) bool {
	return j.State == lab.JobRunning || j.State == lab.JobCanceling || (j.State == lab.JobFinished && !j.StartTime.IsZero())
}

func jobConfiguration(c *Call, j lab.Job) (any, error) {
	if !(j.State == lab.JobRunning || j.State == lab.JobCanceling || j.State == lab.JobFinished) {
		return nil, lavaFault(http.StatusNotFound, "Job '%s' has not started yet", jobPyStr(c.Arg(0)))
	}
	if !jobStarted(j) { // canceled in the queue: it never had files
		return []any{nil, nil, nil, nil, nil}, nil
	}
	conf, err := c.App.JobConfiguration(c.ctx, c.P, j.ID)
	if err != nil {
		return nil, err
	}
	var device any
	if conf.Device != "" {
		device = xmlrpc.Binary(conf.Device)
	}
	return []any{xmlrpc.Binary(conf.Job.Definition), device, nil, nil, nil}, nil
}

// jobLogText returns the job's log lines [start, end) in LAVA's
// output.yaml form (internal/lavalog), and the number of lines the log
// has.
func jobLogText(ctx context.Context, c *Call, id int64, start, end int) (string, int, error) {
	lines, total, err := c.App.JobLog(ctx, c.P, id, start, end, 0)
	if err != nil {
		return "", 0, err
	}
	var b []byte
	for _, l := range lines {
		b = lavalog.AppendLine(b, l)
	}
	return string(b), total, nil
}

func jobLogs(c *Call, j lab.Job) (any, error) {
	start, err := c.Int(1, 0)
	if err != nil {
		return nil, err
	}
	end, err := c.Int(2, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	start, end = min(max(start, 0), math.MaxInt32), min(max(end, 0), math.MaxInt32)
	text, total, err := jobLogText(c.ctx, c, j.ID, int(start), int(end))
	if err != nil {
		return nil, err
	}
	if total == 0 {
		text = "[]" // no log (yet): LAVA's answer for a job without output
	}
	return []any{j.State == lab.JobFinished, xmlrpc.Binary(text)}, nil
}

func jobOutput(c *Call, j lab.Job) (any, error) {
	offset, err := c.Int(1, 0)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, lavaFault(http.StatusBadRequest, "Bad request: offset must not be negative.")
	}
	text, total, err := jobLogText(c.ctx, c, j.ID, 0, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	if total == 0 && !jobStarted(j) {
		return nil, lavaFault(http.StatusNotFound, "Job output not found.")
	}
	if offset >= int64(len(text)) {
		return xmlrpc.Binary{}, nil
	}
	return xmlrpc.Binary(text[offset:]), nil
}

func jobDetails(c *Call, j lab.Job) (any, error) {
	msg, typ, err := jobError(c, j.ID)
	if err != nil {
		return nil, err
	}
	// The e-mail address of a user is shown to that user and to
	// administrators only.
	email := ""
	if u, err := c.App.GetUser(c.ctx, c.P, j.Submitter); err == nil {
		email = u.Email
	} else if !errors.Is(err, lab.ErrForbidden) && !errors.Is(err, lab.ErrUnauthenticated) && !errors.Is(err, lab.ErrNotFound) {
		return nil, err
	}
	tags := make([]any, len(j.Tags))
	for i, t := range j.Tags {
		tags[i] = t
	}
	meta := map[string]any{}
	for k, v := range j.Metadata {
		meta[k] = v
	}
	var group any
	if j.Multinode != nil {
		group = j.Multinode.TargetGroup
	}
	original, multinode := j.LAVADefinitions()
	return xmlrpc.Struct{
		{Name: "id", Value: j.ID},
		{Name: "sub_id", Value: j.SubID()},
		{Name: "is_public", Value: j.Visibility == lab.VisibilityPublic},
		{Name: "visibility", Value: jobVisibility(j)},
		{Name: "target_group", Value: group},
		{Name: "submitter_username", Value: j.Submitter},
		{Name: "submitter_email", Value: email},
		{Name: "description", Value: j.Description},
		{Name: "health_check", Value: j.HealthCheck},
		{Name: "requested_device_type_id", Value: orNone(j.RequestedType)},
		{Name: "requested_device_id", Value: orNone(j.RequestedDevice)},
		{Name: "requested_worker_id", Value: orNone(j.RequestedWorker)},
		{Name: "actual_device_id", Value: orNone(j.ActualDevice)},
		{Name: "tags", Value: tags},
		{Name: "priority", Value: int64(j.Priority)},
		{Name: "submit_time", Value: jobTime(j.SubmitTime)},
		{Name: "start_time", Value: jobTime(j.StartTime)},
		{Name: "end_time", Value: jobTime(j.EndTime)},
		{Name: "state", Value: j.State.String()},
		{Name: "health", Value: j.Health.String()},
		{Name: "status", Value: jobLegacyStatus(j)},
		{Name: "definition", Value: j.Definition},
		{Name: "original_definition", Value: original},
		{Name: "multinode_definition", Value: multinode},
		{Name: "metadata", Value: meta},
		{Name: "failure_comment", Value: orNone(j.FailureComment)},
		{Name: "error_msg", Value: msg},
		{Name: "error_type", Value: typ},
		{Name: "is_pipeline", Value: true},
		{Name: "absolute_url", Value: fmt.Sprintf("/jobs/%d", j.ID)},
	}, nil
}

func jobStatus(c *Call) (any, error) {
	if v := c.Arg(0); v == nil || v == "" || v == int64(0) {
		return nil, lavaFault(http.StatusBadRequest, "Bad request: TestJob id was not specified.")
	}
	j, err := jobArg(c, 0)
	var f *xmlrpc.Fault
	if errors.As(err, &f) && f.Code == http.StatusNotFound {
		return nil, lavaFault(http.StatusNotFound, "Specified job not found.")
	}
	if err != nil {
		return nil, err
	}
	return xmlrpc.Struct{{Name: "job_id", Value: j.ID}, {Name: "job_status", Value: jobLegacyStatus(j)}, {Name: "bundle_sha1", Value: ""}}, nil
}

// jobListAll lists every job f selects, a page at a time.
func jobListAll(c *Call, f store.JobFilter) ([]lab.Job, error) {
	const page = 500
	var all []lab.Job
	for {
		f.Offset, f.Limit = len(all), page
		jobs, _, err := c.App.ListJobs(c.ctx, c.P, f)
		if err != nil {
			return nil, err
		}
		all = append(all, jobs...)
		if len(jobs) < page {
			return all, nil
		}
	}
}

func jobAllJobs(c *Call) (any, error) {
	jobs, err := jobListAll(c, store.JobFilter{States: []lab.JobState{lab.JobSubmitted, lab.JobScheduling, lab.JobScheduled,
		lab.JobRunning, lab.JobCanceling}})
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, []any{j.ID, j.Description, strings.ToLower(jobLegacyStatus(j)), orNone(j.ActualDevice),
			orNone(j.RequestedType), j.SubID()})
	}
	return out, nil
}

func jobPendingByType(c *Call) (any, error) {
	all, err := c.Bool(0, false)
	if err != nil {
		return nil, err
	}
	types, err := c.App.ListDeviceTypes(c.ctx)
	if err != nil {
		return nil, err
	}
	devs, err := c.App.ListDevices(c.ctx, c.P, store.DeviceFilter{})
	if err != nil {
		return nil, err
	}
	active := map[string]bool{} // shown types with a device that is not retired
	for _, d := range devs {
		if d.Health != lab.DeviceRetired {
			active[d.DeviceType] = true
		}
	}
	out := map[string]any{}
	for _, t := range types {
		_, n, err := c.App.ListJobs(c.ctx, c.P, store.JobFilter{States: []lab.JobState{lab.JobSubmitted}, DeviceType: t.Name, Limit: 1})
		if err != nil {
			return nil, err
		}
		if n > 0 || all || (active[t.Name] && !t.Hidden) {
			out[t.Name] = int64(n)
		}
	}
	return out, nil
}

// jobRecentArgs reads count and restrict_to_user (parameters 1 and 2)
// and returns the filter of the finished jobs to list, or ok false when
// the list is empty.
func jobRecentArgs(c *Call) (f store.JobFilter, ok bool, err error) {
	count, err := c.Int(1, 1)
	if err != nil {
		return f, false, err
	}
	if count < 0 {
		return f, false, lavaFault(http.StatusBadRequest, "Bad request: count must not be negative.")
	}
	mine, err := c.Bool(2, false)
	if err != nil {
		return f, false, err
	}
	f.States = []lab.JobState{lab.JobFinished}
	f.Limit = int(min(count, math.MaxInt32))
	if mine {
		if c.P.Username == "" { // an anonymous caller has submitted nothing
			return f, false, nil
		}
		f.Submitter = c.P.Username
	}
	return f, count > 0, nil
}

// jobRecentFor are the objects whose recent jobs LAVA lists: device
// types and devices.
type jobRecentFor struct {
	param string // the parameter, as LAVA's 400 fault names it
	// find narrows f to the object name names, or answers LAVA's 404
	// fault when it does not exist.
	find func(c *Call, name string, f *store.JobFilter) error
	// device says each job names its device.
	device bool
}

// jobRecent lists the last finished jobs of an object (parameter 0) the
// caller may see (jobRecentArgs).
func jobRecent(o jobRecentFor) func(c *Call) (any, error) {
	return func(c *Call) (any, error) {
		name, err := c.String(0, "")
		if err != nil {
			return nil, err
		}
		if name == "" {
			return nil, lavaFault(http.StatusBadRequest, "Bad request: %s was not specified.", o.param)
		}
		f, ok, err := jobRecentArgs(c)
		if err != nil {
			return nil, err
		}
		if err := o.find(c, name, &f); err != nil {
			return nil, err
		}
		if !ok {
			return []any{}, nil
		}
		jobs, _, err := c.App.ListJobs(c.ctx, c.P, f)
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, len(jobs))
		for _, j := range jobs {
			job := xmlrpc.Struct{{Name: "id", Value: j.ID}, {Name: "description", Value: j.Description}, {Name: "status", Value: jobLegacyStatus(j)}}
			if o.device {
				job = append(job, xmlrpc.Member{Name: "device", Value: j.ActualDevice})
			}
			out = append(out, job)
		}
		return out, nil
	}
}

// jobRecentForType: scheduler.get_recent_jobs_for_device_type (a hidden
// type is not found).
var jobRecentForType = jobRecent(jobRecentFor{param: "device_type", device: true,
	find: func(c *Call, name string, f *store.JobFilter) error {
		dt, err := c.App.GetDeviceType(c.ctx, name)
		if errors.Is(err, lab.ErrNotFound) || (err == nil && dt.Hidden) {
			return lavaFault(http.StatusNotFound, "DeviceType '%s' was not found.", name)
		}
		f.DeviceType = dt.Name
		return err
	}})

// jobRecentForDevice: scheduler.get_recent_jobs_for_device.
var jobRecentForDevice = jobRecent(jobRecentFor{param: "device",
	find: func(c *Call, name string, f *store.JobFilter) error {
		_, err := c.App.GetDevice(c.ctx, c.P, name)
		if errors.Is(err, lab.ErrNotFound) {
			return lavaFault(http.StatusNotFound, "Device '%s' was not found.", name)
		}
		f.Device = name
		return err
	}})
