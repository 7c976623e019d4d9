package lavarest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/api/lavawire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

func jobRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/jobs/", handler: (*API).listJobs,
			Summary: "Jobs the caller may see, newest first (filters: id, state, health, submitter, requested_device_type, actual_device, target_group, health_check, submit/start/end_time __gt/__lt, description__icontains, metadata__…; ordering; limit, offset)"},
		{Method: "POST", Pattern: "/jobs/", handler: (*API).submitJob, Write: true, Summary: "Submit {definition}: 201 {message, job_ids}"},
		{Method: "POST", Pattern: "/jobs/validate/", handler: (*API).validateJob,
			Summary: "Validate {definition, strict}: always 200 {message: \"Job valid.\" or \"Job invalid: <msg> @ <path>\"}"},
		{Method: "POST", Pattern: "/jobs/batch-cancel/", handler: (*API).batchCancel, Write: true,
			Summary: "Cancel {job_ids}: {message, job_ids, invalid_job_ids}"},
		{Method: "GET", Pattern: "/jobs/{id}/", handler: (*API).getJob, Summary: "One job"},
		{Method: "GET", Pattern: "/jobs/{id}/cancel/", handler: (*API).cancelJob, Write: true, Summary: "Cancel a job (a GET, as in LAVA)"},
		{Method: "POST", Pattern: "/jobs/{id}/resubmit/", handler: (*API).resubmitJob, Write: true, Summary: "Submit a job's definition again: 201 {message, job_ids}"},
		{Method: "GET", Pattern: "/jobs/{id}/metadata/", handler: (*API).jobMetadata, Summary: "The job's metadata: {metadata: [{key: value}, …]}"},
		{Method: "GET", Pattern: "/jobs/{id}/logs/", handler: (*API).jobLogs,
			Summary: "The job's log in LAVA's YAML format (?start=&end= 0-based line range); 404 while it has no line there"},
	}
}

// jobJSON is job j as LAVA's TestJob serializer shows it.
func jobJSON(j lab.Job) lavawire.Job {
	out := lavawire.Job{
		ID: j.ID, Submitter: j.Submitter, ViewingGroups: nonNil(j.ViewingGroups), Description: j.Description,
		HealthCheck: j.HealthCheck, RequestedDeviceType: strOrNull(j.RequestedType), Tags: nonNil(j.Tags),
		ActualDevice: strOrNull(j.ActualDevice), SubmitTime: lavawire.Time(j.SubmitTime), StartTime: lavawire.Time(j.StartTime),
		EndTime: lavawire.Time(j.EndTime), State: j.State.String(), Health: j.Health.String(), Priority: j.Priority,
		Definition: j.Definition, Metadata: j.Metadata,
		FailureTags: []string{}, FailureComment: strOrNull(j.FailureComment),
	}
	out.OriginalDefinition, out.MultinodeDefinition = j.LAVADefinitions()
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// strOrNull is s, or null when it is empty.
func strOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// idOrNull is id, or null when it is 0.
func idOrNull(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// jobsChunk is how many jobs (with their definitions, up to 4 MiB each)
// a page of jobs/ reads from the store at a time.
const jobsChunk = 20

// listJobs answers a page of jobs, read jobsChunk at a time and written as
// they are read, so that a page of 500 jobs with large definitions never
// sits in memory. The chunks after the first continue after the last job
// read when the order is by id (the default), so that jobs submitted
// meanwhile do not shift them; an error after the first chunk aborts the
// response.
func (api *API) listJobs(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pg := readPaging(r)
	f, err := jobFilter(r.URL.Query(), pg)
	if err != nil {
		return err
	}
	f.Limit = min(pg.limit, jobsChunk)
	jobs, total, err := api.app.ListJobs(r.Context(), p, f)
	if err != nil {
		return err
	}
	head := page[lavawire.Job](r, pg, total, nil)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	put := func(prefix string, v any) error { // as writeJSON encodes it, without the newline
		buf.Reset()
		if err := enc.Encode(v); err != nil {
			return err
		}
		bw.WriteString(prefix)
		_, err := bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		return err
	}
	_ = put(`{"count":`, head.Count)
	_ = put(`,"next":`, head.Next)
	_ = put(`,"previous":`, head.Previous)
	bw.WriteString(`,"results":[`)
	left, read := pg.limit, 0
	for n := 0; ; {
		for _, j := range jobs {
			sep := ","
			if n == 0 {
				sep = ""
			}
			n++
			if err = put(sep, jobJSON(j)); err != nil {
				break
			}
		}
		left, read = left-len(jobs), read+len(jobs)
		if err != nil || left <= 0 || len(jobs) < f.Limit {
			break
		}
		if err = bw.Flush(); err != nil {
			break
		}
		last := jobs[len(jobs)-1].ID
		switch f.Order {
		case store.OrderNewest, store.OrderIDDesc:
			f.IDBefore, f.Offset = last, 0
		case store.OrderID:
			f.IDAfter, f.Offset = last, 0
		default:
			f.Offset = pg.offset + read
		}
		f.Limit = min(left, jobsChunk)
		if jobs, _, err = api.app.ListJobs(r.Context(), p, f); err != nil {
			break
		}
	}
	if err == nil {
		bw.WriteString("]}\n")
		err = bw.Flush()
	}
	if err != nil {
		api.guard.Abort(r, fmt.Errorf("list jobs: %w", err))
	}
	return nil
}

// visibleJob is the job of the {id} path value, if p may see it.
func (api *API) visibleJob(r *http.Request, p auth.Principal) (lab.Job, error) {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return lab.Job{}, err
	}
	return api.app.GetJob(r.Context(), p, id)
}

func (api *API) getJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	j, err := api.visibleJob(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jobJSON(j))
	return nil
}

// submitError is a submission refused for its definition or for want of
// a device. LAVA answers {"message": "..."} for those, not DRF's detail;
// the status is apierr's (400 for a definition, 422 for no usable device).
type submitError struct{ err error }

func (e *submitError) Error() string { return e.err.Error() }
func (e *submitError) Unwrap() error { return e.err }

// asSubmitError marks the errors of a submission that LAVA reports as its
// message: a bad definition, no usable device.
func asSubmitError(err error) error {
	m := apierr.Map(err)
	if m.Code == apierr.CodeInvalidDefinition || m.Code == apierr.CodeInvalid || m.Code == apierr.CodeUnavailable {
		return &submitError{err}
	}
	return err
}

// submitMessage is the body of a refused submission.
func submitMessage(m apierr.Mapped) lavawire.Message {
	out := lavawire.Message{Message: "Problem with submitted job data: " + m.Message}
	if m.Code == apierr.CodeUnavailable {
		out.Message = "Devices unavailable: " + m.Message
	}
	for _, d := range m.Details {
		out.Errors = append(out.Errors, lavawire.Problem{Line: d.Line, Column: d.Column, Path: d.Path, Message: d.Message})
	}
	return out
}

// definitionField reads the required definition field.
func definitionField(in input) (string, error) {
	def, _, err := in.str("definition")
	if err != nil {
		return "", err
	}
	if def == "" {
		return "", fieldErr("definition", "This field is required.")
	}
	return def, nil
}

func (api *API) submitJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	in, err := readInput(r)
	if err != nil {
		return err
	}
	def, err := definitionField(in)
	if err != nil {
		return err
	}
	// LAVA's answer has the ids only; the warnings of a submission are on
	// /api/v1 and from validate/ with strict.
	ids, _, err := api.app.SubmitJob(r.Context(), p, def)
	if err != nil {
		return asSubmitError(err)
	}
	return api.submitted(w, r, p, ids)
}

// validateJob runs every check of a submission without queueing and
// answers 200 with LAVA's verdict whatever it is: "Job valid." or "Job
// invalid: <message> @ <path>" for the first problem, with all of them in
// errors. A missing definition is a field error, as in LAVA. With strict,
// what a submission accepts with a warning (a key LAVA lets through, a key
// written twice) is a problem, as LAVA's strict schema makes it.
func (api *API) validateJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	in, err := readInput(r)
	if err != nil {
		return err
	}
	def, _, err := in.str("definition")
	if err != nil {
		return &fieldError{field: "definition", msg: "Test job definition should be a string.", plain: true}
	}
	if def == "" {
		return &fieldError{field: "definition", msg: "Test job definition is required.", plain: true}
	}
	strict, err := in.boolean("strict")
	if err != nil {
		return err
	}
	_, verr := api.app.ValidateJob(r.Context(), p, def, strict)
	if verr == nil {
		writeJSON(w, http.StatusOK, lavawire.Message{Message: "Job valid."})
		return nil
	}
	m := apierr.Map(verr)
	if m.Code != apierr.CodeInvalidDefinition && m.Code != apierr.CodeInvalid && m.Code != apierr.CodeUnavailable {
		return verr // not a verdict on the definition: the database down…
	}
	out := submitMessage(m)
	out.Message = "Job invalid: " + m.Message
	if len(m.Details) > 0 {
		out.Message = fmt.Sprintf("Job invalid: %s @ %s", m.Details[0].Message, m.Details[0].Path)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// cancelJob cancels a job. A job already finished or canceling answers
// as a successful cancel, as LAVA does.
func (api *API) cancelJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := api.app.CancelJob(r.Context(), p, id); err != nil && !errors.Is(err, lab.ErrConflict) {
		return err
	}
	writeJSON(w, http.StatusOK, lavawire.Message{Message: "Job cancel signal sent."})
	return nil
}

// maxBatchCancel bounds the jobs of one batch cancel.
const maxBatchCancel = 1000

// batchCancel cancels each job of job_ids the caller may cancel; the
// others (missing, hidden, or not the caller's to cancel) are listed as
// invalid. Jobs already finished count as canceled, as in LAVA.
func (api *API) batchCancel(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	in, err := readInput(r)
	if err != nil {
		return err
	}
	ids, given, err := in.ids("job_ids")
	if err != nil {
		return err
	}
	if !given {
		return fieldErr("job_ids", "This field is required.")
	}
	if len(ids) > maxBatchCancel {
		return fieldErr("job_ids", "At most %d job ids at once.", maxBatchCancel)
	}
	out := lavawire.BatchCanceled{Message: "Job cancel signal sent for job ids.", JobIDs: []int64{}, InvalidJobIDs: []int64{}}
	for _, raw := range ids {
		id := int64(raw)
		if id <= 0 {
			out.InvalidJobIDs = append(out.InvalidJobIDs, id)
			continue
		}
		_, err := api.app.CancelJob(r.Context(), p, id)
		switch {
		case err == nil, errors.Is(err, lab.ErrConflict):
			out.JobIDs = append(out.JobIDs, id)
		case errors.Is(err, lab.ErrNotFound), errors.Is(err, lab.ErrForbidden), errors.Is(err, lab.ErrUnauthenticated):
			out.InvalidJobIDs = append(out.InvalidJobIDs, id)
		default:
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (api *API) resubmitJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	ids, err := api.app.ResubmitJob(r.Context(), p, id)
	if err != nil {
		return asSubmitError(err)
	}
	return api.submitted(w, r, p, ids)
}

// jobMetadata answers the metadata as LAVA keeps it for v0.2: a list of
// single-key objects, here by key.
func (api *API) jobMetadata(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	j, err := api.visibleJob(r, p)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(j.Metadata))
	for k := range j.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := lavawire.JobMetadata{Metadata: make([]map[string]string, 0, len(keys))}
	for _, k := range keys {
		out.Metadata = append(out.Metadata, map[string]string{k: j.Metadata[k]})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// submitted answers a submission as LAVA does: 201 with the new jobs' ids,
// or a multinode group's sub_ids.
func (api *API) submitted(w http.ResponseWriter, r *http.Request, p auth.Principal, ids []int64) error {
	subs, err := api.app.SubIDs(r.Context(), p, ids)
	if err != nil {
		return err
	}
	out := lavawire.Submitted{Message: "job(s) successfully submitted", JobIDs: make([]any, len(ids))}
	for i, id := range ids {
		out.JobIDs[i] = id
		if subs != nil {
			out.JobIDs[i] = subs[i]
		}
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}
