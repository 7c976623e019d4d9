package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// SubmitJob parses, validates and queues a job definition for p. It returns
// the new job ids (one for a single-node job, one per role instance of a
// multinode job, created together) and the definition's warnings: what it
// accepted, as LAVA does, but is most likely a mistake (jobdef.Warning; nil
// when none). Errors: ErrUnauthenticated / ErrForbidden when p may not
// submit; a *jobdef.Errors (ErrInvalid) with line:column and YAML path for
// a bad definition; ErrUnavailable when no usable device of the type, on
// the worker, with the tags exists (for a multinode job: when the lab
// cannot hold the whole group at once).
func (a *App) SubmitJob(ctx context.Context, p auth.Principal, definition string) ([]int64, []jobdef.Warning, error) {
	if !auth.CanSubmit(p) {
		return nil, nil, denied(p, "submit job")
	}
	jobs, warnings, err := a.prepareJob(ctx, p, definition)
	if err != nil {
		return nil, nil, err
	}
	ids, err := a.createJobs(ctx, jobs)
	if err != nil {
		return nil, nil, fmt.Errorf("submit job: %w", err)
	}
	return ids, warnings, nil
}

// createJobs stores prepared jobs (one job, or a multinode group in one
// transaction), emits their events and kicks the scheduler.
func (a *App) createJobs(ctx context.Context, jobs []lab.Job) ([]int64, error) {
	var ids []int64
	if len(jobs) == 1 && jobs[0].Multinode == nil {
		id, err := a.st.CreateJob(ctx, jobs[0])
		if err != nil {
			return nil, err
		}
		ids = []int64{id}
	} else {
		var err error
		if ids, err = a.st.CreateJobGroup(ctx, jobs); err != nil {
			return nil, err
		}
	}
	for i, id := range ids {
		j := jobs[i]
		j.ID = id
		if j.Multinode != nil {
			mn := *j.Multinode
			mn.SubID = fmt.Sprintf("%d.%d", ids[0], i)
			j.Multinode = &mn
		}
		a.emit(Event{Kind: "job", JobID: id, State: lab.JobSubmitted.String(), Health: j.Health.String(), Job: &j})
	}
	a.Kick()
	return ids, nil
}

// ValidateJob runs every check SubmitJob runs, without queueing anything.
// It returns the definition's warnings, or the error SubmitJob would
// return. With strict, the warnings are errors (jobdef.Strict: LAVA's
// scheduler.jobs.validate with strict=True).
func (a *App) ValidateJob(ctx context.Context, p auth.Principal, definition string, strict bool) ([]jobdef.Warning, error) {
	var opts []jobdef.Option
	if strict {
		opts = append(opts, jobdef.Strict())
	}
	_, warnings, err := a.prepareJob(ctx, p, definition, opts...)
	if err != nil {
		return nil, err
	}
	return warnings, nil
}

// prepareJob turns a definition into the lab.Jobs to store (one, or one
// per role instance of a multinode job), enforcing the submission-time
// checks of LAVA (§3.4) with precise errors; it returns the definition's
// warnings beside.
func (a *App) prepareJob(ctx context.Context, p auth.Principal, definition string, opts ...jobdef.Option) ([]lab.Job, []jobdef.Warning, error) {
	def, err := jobdef.Parse([]byte(definition), opts...)
	if err != nil {
		return nil, nil, err
	}
	var jobs []lab.Job
	if def.Protocols.Multinode != nil {
		jobs, err = a.checkGroup(ctx, p, def, definition, opts)
	} else {
		var j lab.Job
		j, err = a.checkJob(ctx, p, def, definition)
		jobs = []lab.Job{j}
	}
	if err != nil {
		return nil, nil, err
	}
	return jobs, def.Warnings, nil
}

// placement is where a job, or one role of a multinode job, asks to run:
// run is the job that runs there (a role's sub-job), and errors are
// positioned in pos (the submission) at the paths given.
type placement struct {
	run, pos                                   *jobdef.Job
	typePath, tagsPath, devicePath, workerPath string
	// action maps a path in run's actions to the same action in pos.
	action func(path string) string
}

// single is the placement of a single-node job.
func single(def *jobdef.Job) placement {
	return placement{run: def, pos: def, typePath: "$.device_type", tagsPath: "$.tags", devicePath: "$.device",
		workerPath: "$.worker", action: func(p string) string { return p }}
}

// checkJob enforces the checks of a parsed single-node definition against
// the lab and builds its job.
func (a *App) checkJob(ctx context.Context, p auth.Principal, def *jobdef.Job, definition string) (lab.Job, error) {
	if err := a.checkNotify(ctx, def); err != nil {
		return lab.Job{}, err
	}
	groups, err := a.viewingGroups(ctx, def)
	if err != nil {
		return lab.Job{}, err
	}
	typeName, err := a.checkPlacement(ctx, single(def))
	if err != nil {
		return lab.Job{}, err
	}
	return a.newJob(p, def, typeName, groups, definition), nil
}

// newJob builds the queued job that runs def on a device of type typeName.
func (a *App) newJob(p auth.Principal, def *jobdef.Job, typeName string, groups []string, definition string) lab.Job {
	tags := slices.Clone(def.Tags)
	slices.Sort(tags)
	tags = slices.Compact(tags)
	queue := def.QueueTimeout()
	if queue == 0 {
		queue = a.cfg.DefaultQueueTimeout
	}
	return lab.Job{
		Description:        def.Name,
		Submitter:          p.Username,
		Visibility:         def.Visibility,
		ViewingGroups:      groups,
		State:              lab.JobSubmitted,
		Health:             lab.JobHealthUnknown,
		Priority:           def.Priority,
		RequestedType:      typeName,
		RequestedDevice:    def.Device,
		RequestedWorker:    def.Worker,
		Tags:               tags,
		SubmitTime:         a.now(),
		QueueTimeout:       queue,
		Metadata:           def.Metadata,
		Definition:         definition,
		OriginalDefinition: definition,
	}
}

// checkPlacement checks that the device type, tags, device and worker pl
// asks for exist and that some usable device could run it; it returns the
// device type's name (an alias resolved).
func (a *App) checkPlacement(ctx context.Context, pl placement) (string, error) {
	def := pl.run
	dt, err := a.st.ResolveDeviceType(ctx, def.DeviceType)
	if errors.Is(err, lab.ErrNotFound) {
		return "", defError(pl.pos, pl.typePath, fmt.Sprintf("device type %q does not exist", def.DeviceType))
	} else if err != nil {
		return "", fmt.Errorf("resolve device type: %w", err)
	}
	for i, t := range def.Tags {
		if _, err := a.st.GetTag(ctx, t); errors.Is(err, lab.ErrNotFound) {
			return "", defError(pl.pos, jobdef.IndexPath(pl.tagsPath, i), fmt.Sprintf("device tag %q does not exist", t))
		} else if err != nil {
			return "", fmt.Errorf("check tag %q: %w", t, err)
		}
	}
	if err := a.checkUsableDevice(ctx, pl, dt.Name); err != nil {
		return "", err
	}
	return dt.Name, nil
}

// viewingGroups resolves visibility: {group: [...]} names; unknown groups are
// an error (LAVA silently drops them, which hides typos).
func (a *App) viewingGroups(ctx context.Context, def *jobdef.Job) ([]string, error) {
	if def.Visibility != lab.VisibilityGroup {
		return nil, nil
	}
	var out []string
	for i, g := range def.VisibilityGroups {
		if _, err := a.st.GetGroup(ctx, g); errors.Is(err, lab.ErrNotFound) {
			return nil, defError(def, fmt.Sprintf("$.visibility.group[%d]", i), fmt.Sprintf("group %q does not exist", g))
		} else if err != nil {
			return nil, fmt.Errorf("check group %q: %w", g, err)
		}
		out = append(out, g)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// checkUsableDevice refuses a submission at once when no device could ever
// run it: none of the type that is not Retired, on a worker that is not
// Retired, matching the requested device and worker, carrying every tag.
func (a *App) checkUsableDevice(ctx context.Context, pl placement, typeName string) error {
	def := pl.run
	devs, err := a.st.ListDevices(ctx, store.DeviceFilter{DeviceType: typeName, Worker: def.Worker})
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	workers, err := a.workerHealth(ctx)
	if err != nil {
		return err
	}
	if def.Device != "" {
		d, err := a.st.GetDevice(ctx, def.Device)
		if errors.Is(err, lab.ErrNotFound) {
			return defError(pl.pos, pl.devicePath, fmt.Sprintf("device %q does not exist", def.Device))
		} else if err != nil {
			return fmt.Errorf("get device: %w", err)
		}
		if d.DeviceType != typeName {
			return defError(pl.pos, pl.devicePath, fmt.Sprintf("device %q is of type %q, not %q", d.Hostname, d.DeviceType, typeName))
		}
	}
	if def.Worker != "" {
		if _, ok := workers[def.Worker]; !ok {
			return defError(pl.pos, pl.workerPath, fmt.Sprintf("worker %q does not exist", def.Worker))
		}
	}
	var problem *jobdef.Errors
	for _, d := range devs {
		if d.Health == lab.DeviceRetired || d.Worker == "" || workers[d.Worker] == lab.WorkerRetired {
			continue
		}
		if def.Device != "" && d.Hostname != def.Device {
			continue
		}
		if !subset(def.Tags, d.Tags) {
			continue
		}
		path, why, err := a.methodProblem(ctx, d, def)
		if err != nil {
			return err
		}
		if why == "" {
			return nil
		}
		if problem == nil {
			problem = defError(pl.pos, pl.action(path), why).(*jobdef.Errors)
		}
	}
	if problem != nil {
		return problem
	}
	msg := fmt.Sprintf("no usable device of type %q", typeName)
	if def.Device != "" {
		msg = fmt.Sprintf("device %q is not usable (retired, or on no active worker)", def.Device)
	}
	if def.Worker != "" {
		msg += fmt.Sprintf(" on worker %q", def.Worker)
	}
	if len(def.Tags) > 0 {
		msg += fmt.Sprintf(" with tags %v", def.Tags)
	}
	return fmt.Errorf("%s: %w", msg, lab.ErrUnavailable)
}

func (a *App) workerHealth(ctx context.Context) (map[string]lab.WorkerHealth, error) {
	ws, err := a.st.ListWorkers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	m := make(map[string]lab.WorkerHealth, len(ws))
	for _, w := range ws {
		m[w.Name] = w.Health
	}
	return m, nil
}

// subset reports whether every element of want is in have.
func subset(want, have []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// GetJob returns a job p may see; invisible jobs are ErrNotFound.
func (a *App) GetJob(ctx context.Context, p auth.Principal, id int64) (lab.Job, error) {
	j, err := a.st.GetJob(ctx, id)
	if err != nil {
		return lab.Job{}, err
	}
	if !auth.CanViewJob(p, j) {
		return lab.Job{}, fmt.Errorf("get job %d: %w", id, lab.ErrNotFound)
	}
	return j, nil
}

// ListJobs returns one page of the jobs p may see and the total count.
// Jobs still running are measured to the app's clock for f.LongerThan
// unless f.Now says otherwise.
func (a *App) ListJobs(ctx context.Context, p auth.Principal, f store.JobFilter) ([]lab.Job, int, error) {
	v, ok := p.Viewer()
	if !ok {
		return nil, 0, denied(p, "list jobs")
	}
	f.VisibleTo = &store.Viewer{Username: v.Username, Superuser: v.Superuser, Groups: v.Groups}
	if f.LongerThan != nil && f.Now.IsZero() {
		f.Now = a.now()
	}
	jobs, total, err := a.st.ListJobs(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, total, nil
}

// CancelJob cancels a job: a queued job finishes Canceled at once; a job on
// a device goes to Canceling (the worker stops it and reports Finished).
// Canceling a job of a multinode group cancels the whole group, in the same
// transaction.
func (a *App) CancelJob(ctx context.Context, p auth.Principal, id int64) (lab.Job, error) {
	var out lab.Job
	var siblings []lab.Job
	var queued int
	err := a.st.InTx(ctx, func(q store.Queries) error {
		queued, siblings = 0, nil // InTx may run this more than once
		j, err := q.GetJob(ctx, id)
		if err != nil {
			return err
		}
		if !auth.CanViewJob(p, j) {
			return lab.ErrNotFound
		}
		if !auth.CanCancelJob(p, j) {
			return denied(p, "cancel")
		}
		if !j.State.Cancelable() {
			return fmt.Errorf("%w: job is %s", lab.ErrConflict, j.State)
		}
		t := store.JobTransition{ID: id, From: []lab.JobState{j.State}, At: a.now()}
		if r := j.Reservation; r != nil {
			// Who ended it decides its health (FinishJob).
			to := *r
			to.EndedBy = p.Username
			if err := q.UpdateReservation(ctx, id, *r, to); err != nil {
				return err
			}
			t.FailureComment = endReservationComment(j, p.Username)
		}
		if j.State == lab.JobSubmitted {
			t.To, t.Health = lab.JobFinished, lab.JobHealthCanceled
		} else {
			t.To = lab.JobCanceling
		}
		out, queued, err = a.moveJob(ctx, q, t)
		if err != nil {
			return err
		}
		// A group stands or falls together: canceling one of its jobs
		// cancels the others (LAVA's TestJob.cancel).
		var n int
		siblings, n, err = a.cancelSiblings(ctx, q, out, fmt.Sprintf("canceled with job %d of its multinode group", id))
		queued += n
		return err
	})
	if err != nil {
		return lab.Job{}, fmt.Errorf("cancel job %d: %w", id, err)
	}
	if queued > 0 {
		a.kickNotify()
	}
	a.emit(Event{Kind: "job", JobID: id, State: out.State.String(), Health: out.Health.String(), Device: out.ActualDevice, Job: &out})
	a.emitMoved(siblings)
	a.endGroup(ctx, out)
	a.Kick()
	return out, nil
}

// ResubmitJob submits a visible job's original definition again as p, with
// metadata job.original naming the old job.
func (a *App) ResubmitJob(ctx context.Context, p auth.Principal, id int64) ([]int64, error) {
	j, err := a.GetJob(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if !auth.CanResubmitJob(p, j) {
		return nil, denied(p, "resubmit")
	}
	if j.HealthCheck {
		return nil, fmt.Errorf("resubmit job %d: health checks are scheduled by the server: %w", id, lab.ErrConflict)
	}
	if j.Reservation != nil {
		return nil, fmt.Errorf("resubmit job %d: it is a reservation: reserve the device again: %w", id, lab.ErrConflict)
	}
	// The warnings were the first submission's. A multinode job's
	// original definition is its whole group's: the group is submitted
	// again, as LAVA does.
	jobs, _, err := a.prepareJob(ctx, p, j.OriginalDefinition)
	if err != nil {
		return nil, fmt.Errorf("resubmit job %d: %w", id, err)
	}
	for i := range jobs {
		meta := maps.Clone(jobs[i].Metadata)
		if meta == nil {
			meta = map[string]string{}
		}
		meta["job.original"] = fmt.Sprintf("/api/v1/jobs/%d", id)
		jobs[i].Metadata = meta
	}
	ids, err := a.createJobs(ctx, jobs)
	if err != nil {
		return nil, fmt.Errorf("resubmit job %d: %w", id, err)
	}
	return ids, nil
}

// defError reports a problem found after parsing (an unknown device type, a
// missing tag) in the parser's own error form, positioned at path when the
// definition has it, so that every definition error carries line:column.
func defError(def *jobdef.Job, path, msg string) error {
	pos, ok := def.PosOf(path)
	if !ok {
		pos = def.Pos
	}
	return &jobdef.Errors{Items: []jobdef.Error{{Line: pos.Line, Column: pos.Column, Path: path, Msg: msg}}}
}
