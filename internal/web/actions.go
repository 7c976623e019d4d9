package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// lavaSuite is the suite the dispatcher records its actions in: one result
// per action with its level ("1", "2.1", …), result and duration.
const lavaSuite = "lava"

// actionNode is one action of a job's pipeline, from its lava-suite
// result. Children are the actions nested under it (level "2.1" under "2").
type actionNode struct {
	JobID    int64
	Level    string
	Name     string
	Result   string
	Duration string // seconds, as the dispatcher records it
	Line     int    // 0-based log line of the result record, as in the API
	Children []*actionNode
}

// jobActions is what the job page's action partial shows: the buttons the
// caller may use and the action tree.
type jobActions struct {
	JobID       int64
	CanCancel   bool // the caller may cancel and the job is still cancelable
	CanResubmit bool
	Tree        []*actionNode
	// TreeElsewhere says the job has too many lava-suite results (treeCases)
	// to draw the tree on the job page; it is on the results page.
	TreeElsewhere bool
}

// newJobActions fills the job page's action partial for p. rs are the
// job's results when they were scanned (nil with scanned false otherwise).
func newJobActions(p auth.Principal, j lab.Job, rs []resultRow, scanned bool) jobActions {
	return jobActions{
		JobID:         j.ID,
		CanCancel:     auth.CanCancelJob(p, j) && j.State.Cancelable(),
		CanResubmit:   auth.CanResubmitJob(p, j) && !j.HealthCheck,
		Tree:          actionTree(j.ID, rs),
		TreeElsewhere: !scanned,
	}
}

// levelKey splits a dotted level into numbers for ordering; a part that is
// not a number sorts after the numbers.
func levelKey(level string) []int {
	parts := strings.Split(level, ".")
	out := make([]int, len(parts))
	for i, s := range parts {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			n = int(^uint(0) >> 1)
		}
		out[i] = n
	}
	return out
}

// actionTree builds the action tree from the lava suite's results that
// carry a level, ordered by level. An action whose parent level has no
// result (for example while the parent still runs) hangs from the nearest
// recorded ancestor, or from the root. A level recorded twice keeps its
// last result.
func actionTree(jobID int64, rs []resultRow) []*actionNode {
	byLevel := map[string]*actionNode{}
	var levels []string
	for _, r := range rs {
		if r.Definition != lavaSuite || r.Level == "" {
			continue
		}
		n, ok := byLevel[r.Level]
		if !ok {
			n = &actionNode{JobID: jobID, Level: r.Level}
			byLevel[r.Level] = n
			levels = append(levels, r.Level)
		}
		n.Name, n.Result, n.Duration, n.Line = r.Case, r.Result, r.Duration, r.Line
	}
	slices.SortFunc(levels, func(a, b string) int { return slices.Compare(levelKey(a), levelKey(b)) })
	var roots []*actionNode
	for _, l := range levels {
		n := byLevel[l]
		parent := l
		attached := false
		for {
			i := strings.LastIndexByte(parent, '.')
			if i < 0 {
				break
			}
			parent = parent[:i]
			if pn, ok := byLevel[parent]; ok {
				pn.Children = append(pn.Children, n)
				attached = true
				break
			}
		}
		if !attached {
			roots = append(roots, n)
		}
	}
	return roots
}

// cancelJob cancels a job for the caller and sends them back to it. A job
// the caller may not see is not found; one they may see but not cancel is
// forbidden (anonymous callers included: a form post is not a login
// prompt); a job that already ended is a conflict.
func (u *UI) cancelJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	j, err := u.visibleJob(r, p)
	if err != nil {
		return err
	}
	id := j.ID
	if !auth.CanCancelJob(p, j) {
		return fmt.Errorf("cancel job %d: %w", id, lab.ErrForbidden)
	}
	if _, err := u.app.CancelJob(r.Context(), p, id); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/jobs/%d", id), http.StatusSeeOther)
	return nil
}

// resubmitJob submits a copy of a job as the caller and sends them to the
// new job.
func (u *UI) resubmitJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	j, err := u.visibleJob(r, p)
	if err != nil {
		return err
	}
	id := j.ID
	if !auth.CanResubmitJob(p, j) {
		return fmt.Errorf("resubmit job %d: %w", id, lab.ErrForbidden)
	}
	ids, err := u.app.ResubmitJob(r.Context(), p, id)
	if err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/jobs/%d", ids[0]), http.StatusSeeOther)
	return nil
}

// actionFuncs are the template functions of the action partials.
var actionFuncs = template.FuncMap{
	// tree builds the action tree of a job's scanned results.
	"tree": actionTree,
	// devhealths and wkhealths are the choices of the admin forms.
	"devhealths": func() []lab.DeviceHealth {
		return []lab.DeviceHealth{lab.DeviceGood, lab.DeviceUnknown, lab.DeviceLooping, lab.DeviceBad, lab.DeviceMaintenance, lab.DeviceRetired}
	},
	"wkhealths": func() []lab.WorkerHealth { return workerHealths },
}

// registerActions adds the pages and forms of actions.go, submit.go,
// results_export.go and tokens.go to the UI; New calls it once, with the
// layout template every page is cloned from.
func (u *UI) registerActions(base *template.Template) {
	for _, name := range []string{"submit", "tokens", "users"} {
		u.pages[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
	}
	u.handle("POST /jobs/{id}/cancel", u.cancelJob)
	u.handle("POST /jobs/{id}/resubmit", u.resubmitJob)
	u.handle("GET /jobs/{id}/results.csv", u.resultsCSV)
	u.handle("GET /jobs/{id}/results.yaml", u.resultsYAML)
	u.handle("GET /jobs/{id}/results.junit.xml", u.resultsJUnit)
	u.handle("GET /jobs/new", u.submitForm)
	u.handle("POST /jobs/new", u.submit)
	u.handle("POST /devices/{hostname}/health", u.setDeviceHealth)
	u.handle("POST /workers/{name}/health", u.setWorkerHealth)
	u.handle("GET /tokens", u.tokens)
	u.handle("POST /tokens", u.createToken)
	u.handle("POST /tokens/{id}/revoke", u.revokeToken)
	u.handle("GET /users", u.users)
	u.handle("POST /users", u.createUser)
}

// adminForm parses an admin form post: superusers only (everyone else,
// anonymous callers included, is forbidden), with a required reason.
func adminForm(w http.ResponseWriter, r *http.Request, p auth.Principal, what string) (health, reason string, err error) {
	if !auth.IsAdmin(p) {
		return "", "", fmt.Errorf("%s: %w", what, lab.ErrForbidden)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return "", "", fmt.Errorf("%w: %s form: %v", lab.ErrInvalid, what, err)
	}
	reason = strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		return "", "", fmt.Errorf("%w: %s: a reason is required", lab.ErrInvalid, what)
	}
	return r.PostForm.Get("health"), reason, nil
}

// setDeviceHealth is the device page's admin form: a new health and why.
func (u *UI) setDeviceHealth(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	host := r.PathValue("hostname")
	hs, reason, err := adminForm(w, r, p, "set device health")
	if err != nil {
		return err
	}
	h, err := lab.ParseDeviceHealth(hs)
	if err != nil {
		return fmt.Errorf("%w: %v", lab.ErrInvalid, err)
	}
	if _, err := u.app.SetDeviceHealth(r.Context(), p, host, h, reason); err != nil {
		return err
	}
	http.Redirect(w, r, "/devices/"+url.PathEscape(host), http.StatusSeeOther)
	return nil
}

// workerHealths are the healths the worker page's form offers: retiring a
// worker (which retires its devices) stays with the API and CLI.
var workerHealths = []lab.WorkerHealth{lab.WorkerActive, lab.WorkerMaintenance}

// setWorkerHealth is the worker page's admin form: Active or Maintenance,
// and why.
func (u *UI) setWorkerHealth(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	name := r.PathValue("name")
	hs, reason, err := adminForm(w, r, p, "set worker health")
	if err != nil {
		return err
	}
	h, err := lab.ParseWorkerHealth(hs)
	if err != nil || !slices.Contains(workerHealths, h) {
		return fmt.Errorf("%w: worker health must be Active or Maintenance, not %q", lab.ErrInvalid, hs)
	}
	if _, err := u.app.UpdateWorker(r.Context(), p, name, app.WorkerUpdate{Health: &h, Reason: reason}); err != nil {
		return err
	}
	http.Redirect(w, r, "/workers/"+url.PathEscape(name), http.StatusSeeOther)
	return nil
}
