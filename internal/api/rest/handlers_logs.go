package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// jobLogs streams a range of a job's log lines as NDJSON. Without a range
// it returns the whole log; the total line count is in X-Total-Lines so a
// viewer can page through logs of any size. ?wait=30s turns it into a long
// poll: when nothing exists at start yet, the answer waits for new lines.
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
	lines, total, err := api.app.JobLog(r.Context(), p, id, start, end, wait)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Total-Lines", strconv.Itoa(total))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	for _, l := range lines {
		if _, err := w.Write(append(l, '\n')); err != nil {
			return nil // client went away
		}
	}
	return nil
}

// jobResults lists the results records of a job's log.
func (api *API) jobResults(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	lines, _, err := api.app.JobLog(r.Context(), p, id, 0, int(^uint(0)>>1), 0)
	if err != nil {
		return err
	}
	out := []wire.Result{}
	for i, l := range lines {
		rec, err := workerproto.DecodeRecord(l)
		if err != nil || rec.Level != workerproto.LevelResults {
			continue
		}
		var m workerproto.ResultMsg
		if json.Unmarshal(rec.Msg, &m) != nil {
			continue
		}
		out = append(out, wire.Result{Suite: m.Definition, Case: m.Case, Result: m.Result, Set: m.Set,
			Measurement: m.Measurement, Units: m.Units, Duration: m.Duration, ErrorType: m.ErrorType,
			ErrorMsg: m.ErrorMsg, Logged: rec.Time.UTC(), LogLine: i})
	}
	writeJSON(w, http.StatusOK, wire.List[wire.Result]{Count: len(out), Limit: len(out), Results: out})
	return nil
}

func (api *API) joinToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.JoinTokenInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.TTLSeconds < 0 {
		return fmt.Errorf("%w: ttl_seconds must not be negative", lab.ErrInvalid)
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
