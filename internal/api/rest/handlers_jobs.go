package rest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpauth"
	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/version"
)

func (api *API) version(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	writeJSON(w, http.StatusOK, wire.Version{Version: version.Version})
	return nil
}

func (api *API) whoami(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	kind := map[auth.Kind]string{auth.KindAnonymous: "anonymous", auth.KindUser: "user", auth.KindWorker: "worker", auth.KindJob: "job"}[p.Kind]
	writeJSON(w, http.StatusOK, wire.Whoami{User: p.Username, Kind: kind, IsSuperuser: p.Superuser})
	return nil
}

// tokenFromPassword is the REST token bootstrap: username + password in,
// a new token out (shown once).
func (api *API) tokenFromPassword(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var in wire.LoginInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	p, err := api.app.Login(r.Context(), in.Username, in.Password, httpauth.ClientAddr(r))
	if err != nil {
		return err
	}
	if in.Description == "" {
		in.Description = "created by POST /api/v1/token"
	}
	tok, secret, err := api.app.CreateToken(r.Context(), p, p.Username, in.Description, zeroTime)
	if err != nil {
		return err
	}
	out := tokenJSON(tok)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// jobFilter reads the list filters: state, health (comma lists of display
// names), device_type, device, submitter, health_check, q, limit, offset.
func jobFilter(r *http.Request) (store.JobFilter, error) {
	q := r.URL.Query()
	var f store.JobFilter
	for _, s := range splitList(q.Get("state")) {
		st, err := lab.ParseJobState(s)
		if err != nil {
			return f, err
		}
		f.States = append(f.States, st)
	}
	for _, s := range splitList(q.Get("health")) {
		h, err := lab.ParseJobHealth(s)
		if err != nil {
			return f, err
		}
		f.Health = append(f.Health, h)
	}
	f.DeviceType, f.Device, f.Submitter, f.Text = q.Get("device_type"), q.Get("device"), q.Get("submitter"), q.Get("q")
	f.TargetGroup = q.Get("target_group")
	if s := q.Get("health_check"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return f, fmt.Errorf("%w: health_check=%q must be true or false", lab.ErrInvalid, s)
		}
		f.HealthCheck = &b
	}
	var err error
	if f.Limit, err = httpparam.QueryInt(r, "limit", 50); err != nil {
		return f, err
	}
	if f.Limit == 0 || f.Limit > 1000 {
		return f, fmt.Errorf("%w: limit must be between 1 and 1000", lab.ErrInvalid)
	}
	if f.Offset, err = httpparam.QueryInt(r, "offset", 0); err != nil {
		return f, err
	}
	return f, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (api *API) listJobs(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, err := jobFilter(r)
	if err != nil {
		return err
	}
	jobs, total, err := api.app.ListJobs(r.Context(), p, f)
	if err != nil {
		return err
	}
	out := wire.List[wire.Job]{Count: total, Limit: f.Limit, Offset: f.Offset, Results: make([]wire.Job, 0, len(jobs))}
	for _, j := range jobs {
		out.Results = append(out.Results, jobJSON(j, false))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (api *API) submitJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.DefinitionInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	ids, warnings, err := api.app.SubmitJob(r.Context(), p, in.Definition)
	if err != nil {
		return err
	}
	w.Header().Set("Location", fmt.Sprintf("%s/jobs/%d", wire.Prefix, ids[0]))
	writeJSON(w, http.StatusCreated, wire.Submitted{Message: "job(s) successfully submitted", JobIDs: ids, Warnings: apierr.Warnings(warnings)})
	return nil
}

// validateJob answers 200 with {valid, errors, warnings} for any
// definition (a definition's problems are the answer, not a failed
// request); requests that are themselves malformed still get 400. With
// strict, warnings are errors.
func (api *API) validateJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.ValidateInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	warnings, err := api.app.ValidateJob(r.Context(), p, in.Definition, in.Strict)
	resp := wire.Validation{Valid: err == nil, Errors: []wire.Problem{}, Warnings: apierr.Warnings(warnings)}
	if err != nil {
		m := apierr.Map(err)
		switch {
		case m.Details != nil:
			resp.Errors = m.Details
		case m.Code == apierr.CodeInvalid, m.Code == apierr.CodeUnavailable:
			resp.Errors = []wire.Problem{{Message: m.Message}}
		default:
			return err
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// visibleJob is the job named by the {id} path value, if p may see it.
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
	writeJSON(w, http.StatusOK, jobJSON(j, true))
	return nil
}

// jobQueue explains why a job waits (scheduler.Explain over the lab as
// it is now).
func (api *API) jobQueue(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	j, e, err := api.app.ExplainJob(r.Context(), p, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, queueJSON(j, e))
	return nil
}

func (api *API) jobDefinition(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	j, err := api.visibleJob(r, p)
	if err != nil {
		return err
	}
	def := j.Definition
	if r.URL.Query().Get("original") == "true" {
		def = j.OriginalDefinition
	}
	writeText(w, "application/yaml; charset=utf-8", def)
	return nil
}

func (api *API) cancelJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	j, err := api.app.CancelJob(r.Context(), p, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jobJSON(j, false))
	return nil
}

func (api *API) resubmitJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	ids, err := api.app.ResubmitJob(r.Context(), p, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.Submitted{Message: "job(s) successfully submitted", JobIDs: ids, Warnings: []wire.Problem{}})
	return nil
}
