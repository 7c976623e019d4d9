package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/coordinator"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/scheduler"
	"github.com/basalt-lab/basalt/internal/store"
)

// groupJobs returns the jobs of multinode group name, by id.
func groupJobs(ctx context.Context, q store.Queries, name string) ([]lab.Job, error) {
	jobs, _, err := q.ListJobs(ctx, store.JobFilter{TargetGroup: name, Order: store.OrderID})
	if err != nil {
		return nil, fmt.Errorf("list group %s: %w", name, err)
	}
	return jobs, nil
}

// cancelSiblings cancels, with q, every unfinished job of j's multinode
// group other than j: queued ones finish Canceled, the others go to
// Canceling (their workers stop them), each with comment why. LAVA does it
// when any job of a group is canceled and when an essential role ends
// Incomplete. It returns the jobs it moved and how many notifications
// their moves queued.
func (a *App) cancelSiblings(ctx context.Context, q store.Queries, j lab.Job, why string) ([]lab.Job, int, error) {
	if j.Multinode == nil {
		return nil, 0, nil
	}
	jobs, err := groupJobs(ctx, q, j.Multinode.TargetGroup)
	if err != nil {
		return nil, 0, err
	}
	var moved []lab.Job
	queued := 0
	for _, s := range jobs {
		if s.ID == j.ID || !s.State.Cancelable() {
			continue
		}
		t := store.JobTransition{ID: s.ID, From: []lab.JobState{s.State}, At: a.now(), FailureComment: why}
		if s.State == lab.JobSubmitted {
			t.To, t.Health = lab.JobFinished, lab.JobHealthCanceled
		} else {
			t.To = lab.JobCanceling
		}
		m, n, err := a.moveJob(ctx, q, t)
		if err != nil {
			return nil, 0, fmt.Errorf("cancel job %d of group %s: %w", s.ID, j.Multinode.TargetGroup, err)
		}
		moved = append(moved, m)
		queued += n
	}
	return moved, queued, nil
}

// emitMoved emits the events of jobs moved as a side effect (a group's
// siblings canceled).
func (a *App) emitMoved(jobs []lab.Job) {
	for i := range jobs {
		j := jobs[i]
		a.emit(Event{Kind: "job", JobID: j.ID, State: j.State.String(), Health: j.Health.String(), Device: j.ActualDevice, Job: &j})
	}
}

// endsGroup reports whether job j, just finished with its health, ends its
// group: an essential role that did not complete cancels its siblings.
func endsGroup(j lab.Job) bool {
	return j.Multinode != nil && j.Multinode.Essential && j.State == lab.JobFinished && j.Health != lab.JobHealthComplete
}

// groupRoles maps the id (decimal) of every job of j's group to its role:
// LAVA's protocols.lava-multinode.roles.
func groupRoles(ctx context.Context, q store.Queries, j lab.Job) (map[string]string, error) {
	jobs, err := groupJobs(ctx, q, j.Multinode.TargetGroup)
	if err != nil {
		return nil, err
	}
	roles := make(map[string]string, len(jobs))
	for _, s := range jobs {
		if s.Multinode != nil {
			roles[strconv.FormatInt(s.ID, 10)] = s.Multinode.Role
		}
	}
	return roles, nil
}

// parseStored parses a stored job definition: a submission, or a
// multinode sub-job's definition written by the server (jobdef.Split).
func parseStored(definition string) (*jobdef.Job, error) {
	return jobdef.Parse([]byte(definition), jobdef.ServerGenerated())
}

// checkGroup enforces the checks of a parsed multinode submission against
// the lab and builds its jobs, one per role instance: it splits the
// submission as LAVA does (jobdef.Split), checks each role's placement
// with errors positioned in the submission, and refuses a group the lab
// could never hold all at once.
func (a *App) checkGroup(ctx context.Context, p auth.Principal, def *jobdef.Job, definition string, opts []jobdef.Option) ([]lab.Job, error) {
	mn := def.Protocols.Multinode
	rolesPath := "$.protocols.lava-multinode.roles"
	for _, name := range mn.RoleNames {
		if r := mn.Roles[name]; r.Connection != "" && r.Count > 0 {
			return nil, defError(def, jobdef.KeyPath(jobdef.KeyPath(rolesPath, name), "connection"),
				fmt.Sprintf("role %q: dynamic connection roles (connection: %s) are not supported yet", name, r.Connection))
		}
	}
	if err := a.checkNotify(ctx, def); err != nil {
		return nil, err
	}
	groups, err := a.viewingGroups(ctx, def)
	if err != nil {
		return nil, err
	}
	subs, err := jobdef.Split([]byte(definition), def, newGroupID(), opts...)
	if err != nil {
		return nil, fmt.Errorf("split the multinode job: %w", err)
	}
	jobs := make([]lab.Job, 0, len(subs))
	types := map[string]string{} // role → device type checked
	for _, sub := range subs {
		typeName, ok := types[sub.Role]
		if !ok {
			rp := jobdef.KeyPath(rolesPath, sub.Role)
			pl := placement{run: sub.Job, pos: def, typePath: jobdef.KeyPath(rp, "device_type"),
				tagsPath: jobdef.KeyPath(rp, "tags"), devicePath: jobdef.KeyPath(rp, "device"),
				workerPath: jobdef.KeyPath(rp, "worker"), action: roleActionPath(def, sub.Role)}
			if typeName, err = a.checkPlacement(ctx, pl); err != nil {
				return nil, err
			}
			types[sub.Role] = typeName
		}
		j := a.newJob(p, sub.Job, typeName, groups, sub.Definition)
		j.OriginalDefinition = definition
		m := sub.Job.Member()
		j.Multinode = &lab.MultinodeJob{TargetGroup: m.TargetGroup, Role: m.Role, GroupSize: m.GroupSize, Essential: m.Essential}
		jobs = append(jobs, j)
	}
	if err := a.checkGroupFits(ctx, jobs); err != nil {
		return nil, err
	}
	return jobs, nil
}

// roleActionPath maps a path in the actions of role's sub-job to the same
// action in the submission: the sub-job keeps, in order, the actions whose
// role list names the role.
func roleActionPath(def *jobdef.Job, role string) func(string) string {
	var orig []int
	for i, act := range def.Actions {
		if slices.Contains(act.Role, role) {
			orig = append(orig, i)
		}
	}
	return func(path string) string {
		var k int
		if n, _ := fmt.Sscanf(path, "$.actions[%d]", &k); n != 1 || k < 0 || k >= len(orig) {
			return path
		}
		rest := strings.TrimPrefix(path, fmt.Sprintf("$.actions[%d]", k))
		return fmt.Sprintf("$.actions[%d]", orig[k]) + rest
	}
}

// checkGroupFits refuses a multinode group that the lab could never hold
// all at once (scheduler.GroupFeasible): each role may have usable devices
// and still the group need more of them at once than exist.
func (a *App) checkGroupFits(ctx context.Context, jobs []lab.Job) error {
	devs, err := a.st.ListDevices(ctx, store.DeviceFilter{})
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	ws, err := a.st.ListWorkers(ctx)
	if err != nil {
		return fmt.Errorf("list workers: %w", err)
	}
	var sd []scheduler.Device
	for _, d := range devs {
		sd = append(sd, scheduler.Device{Hostname: d.Hostname, Type: d.DeviceType, Worker: d.Worker, Tags: d.Tags,
			State: d.State, Health: d.Health})
	}
	var sw []scheduler.Worker
	for _, w := range ws {
		sw = append(sw, scheduler.Worker{Name: w.Name, State: w.State, Health: w.Health, JobLimit: w.JobLimit})
	}
	members := make([]scheduler.Job, len(jobs))
	for i, j := range jobs {
		members[i] = scheduler.Job{ID: int64(i + 1), Type: j.RequestedType, Device: j.RequestedDevice, Worker: j.RequestedWorker,
			Tags: j.Tags, Group: j.Multinode.TargetGroup, GroupSize: j.Multinode.GroupSize, Role: j.Multinode.Role}
	}
	if ok, why := scheduler.GroupFeasible(sd, sw, members); !ok {
		return fmt.Errorf("%s: %w", why, lab.ErrUnavailable)
	}
	return nil
}

// newGroupID returns a random (version 4) UUID for a multinode group's
// target_group, as LAVA's uuid4.
func newGroupID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// MaxMultinodeHold caps how long the server holds a coordinator call whose
// answer is "wait" before answering "wait" (the job then calls again).
const MaxMultinodeHold = 30 * time.Second

// MultinodeCall is one coordinator call of a multinode job
// (workerproto.MultinodeRequest without the transport).
type MultinodeCall struct {
	Request   string
	MessageID string
	Message   map[string]any
	WaitRole  string
	// Hold is how long the call may wait for an answer other than "wait"
	// (capped at MaxMultinodeHold; 0 answers at once).
	Hold time.Duration
}

// MultinodeCall relays a coordinator call of multinode job id, made by its
// worker (or with the job's own token). The coordinator learns who calls
// from the job itself, as LAVA's dispatcher fills it in: client name (the
// job id), group, role, group size and hostname (the worker). A call whose
// answer is "wait" is held until it can be answered otherwise or Hold
// passes: a lava-wait wakes as soon as its message is sent.
func (a *App) MultinodeCall(ctx context.Context, p auth.Principal, id int64, c MultinodeCall) (coordinator.Response, error) {
	j, err := a.checkJobWorker(ctx, a.st, p, id)
	if err != nil {
		return coordinator.Response{}, fmt.Errorf("multinode call of job %d: %w", id, err)
	}
	if j.Multinode == nil {
		return coordinator.Response{}, fmt.Errorf("multinode call of job %d: %w: the job is not part of a multinode group", id, lab.ErrInvalid)
	}
	if j.State == lab.JobFinished {
		return coordinator.Response{}, fmt.Errorf("multinode call of job %d: %w: the job is finished", id, lab.ErrConflict)
	}
	switch c.Request {
	case coordinator.ReqGroupData, coordinator.ReqSend, coordinator.ReqWait, coordinator.ReqWaitAll,
		coordinator.ReqSync, coordinator.ReqClearGroup:
	default:
		return coordinator.Response{}, fmt.Errorf("multinode call of job %d: %w: unknown request %q", id, lab.ErrInvalid, c.Request)
	}
	host := ""
	if j.ActualDevice != "" {
		d, err := a.st.GetDevice(ctx, j.ActualDevice)
		if err != nil {
			return coordinator.Response{}, fmt.Errorf("multinode call of job %d: %w", id, err)
		}
		host = d.Worker
	}
	co, err := a.coordinator(ctx)
	if err != nil {
		return coordinator.Response{}, err
	}
	req := coordinator.Request{Request: c.Request, ClientName: strconv.FormatInt(id, 10), GroupName: j.Multinode.TargetGroup,
		Role: j.Multinode.Role, Hostname: host, GroupSize: j.Multinode.GroupSize, MessageID: c.MessageID, Message: c.Message,
		WaitRole: c.WaitRole}
	resp, err := co.Wait(ctx, req, min(max(c.Hold, 0), MaxMultinodeHold))
	if err != nil {
		return coordinator.Response{}, fmt.Errorf("multinode call of job %d: %w", id, err)
	}
	return resp, nil
}

// Coordinator returns the server's multinode coordinator (for the LAVA
// coordinator listener), loading its state from the store on first use.
func (a *App) Coordinator(ctx context.Context) (*coordinator.Coordinator, error) {
	return a.coordinator(ctx)
}

func (a *App) coordinator(ctx context.Context) (*coordinator.Coordinator, error) {
	a.coordMu.Lock()
	defer a.coordMu.Unlock()
	if a.coord != nil {
		return a.coord, nil
	}
	opts := coordinator.Options{Logger: a.log, Now: a.cfg.Now}
	if a.cfg.Notifier != nil {
		// Replicas share the groups: each request reads its group's saved
		// state, and a change wakes the waits on the other replicas.
		opts.Shared = true
		opts.OnChange = func(group string) { a.publish(Event{Kind: kindCoordinator, Message: group}) }
	}
	co, err := coordinator.New(ctx, store.CoordinatorGroups{Q: a.st}, opts)
	if err != nil {
		return nil, fmt.Errorf("load the multinode coordinator: %w", err)
	}
	a.coord = co
	return co, nil
}

// endGroup forgets the coordinator's state of j's group once every job of
// it has finished (the jobs send clear_group themselves; this catches
// groups whose jobs never reached their end).
func (a *App) endGroup(ctx context.Context, j lab.Job) {
	if j.Multinode == nil {
		return
	}
	jobs, err := groupJobs(ctx, a.st, j.Multinode.TargetGroup)
	if err != nil {
		a.log.Warn("multinode group not checked for its end", "group", j.Multinode.TargetGroup, "err", err)
		return
	}
	for _, s := range jobs {
		if s.State != lab.JobFinished {
			return
		}
	}
	co, err := a.coordinator(ctx)
	if err == nil {
		err = co.DropGroup(ctx, j.Multinode.TargetGroup)
	}
	if err != nil {
		a.log.Warn("multinode group not dropped from the coordinator", "group", j.Multinode.TargetGroup, "err", err)
	}
}

// SubIDs returns the sub_ids ("<parent id>.<n>") of the jobs a submission
// created, in order, when they are a multinode group; nil for a single
// job. LAVA's APIs answer a multinode submission with them.
func (a *App) SubIDs(ctx context.Context, p auth.Principal, ids []int64) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	first, err := a.GetJob(ctx, p, ids[0])
	if err != nil {
		return nil, err
	}
	if first.Multinode == nil {
		return nil, nil
	}
	out := make([]string, len(ids))
	for i := range ids {
		out[i] = fmt.Sprintf("%d.%d", ids[0], i)
	}
	return out, nil
}

// CoordinatorIdle is how long a coordinator group that belongs to no
// unfinished job of this server (a stock LAVA dispatcher's group, through
// the LAVA listener) may go without a request before the sweep drops it:
// its dispatchers died without clear_group. LAVA's coordinator keeps such
// groups until it restarts.
const CoordinatorIdle = 24 * time.Hour

// sweepCoordinator drops the coordinator's idle groups that no unfinished
// job of this server belongs to. A group of Basalt's own jobs is dropped
// when its jobs end (endGroup), however long they ran.
func (a *App) sweepCoordinator(ctx context.Context) error {
	a.coordMu.Lock()
	co := a.coord
	a.coordMu.Unlock()
	if co == nil {
		return nil // never loaded: nothing in memory, nothing new in the store
	}
	before := a.now().Add(-CoordinatorIdle)
	for _, name := range co.Groups() {
		st, ok := co.Status(name)
		if !ok || !st.Changed.Before(before) || st.Waiting > 0 {
			continue
		}
		jobs, err := groupJobs(ctx, a.st, name)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(jobs, func(j lab.Job) bool { return j.State != lab.JobFinished }) {
			continue
		}
		if err := co.DropGroup(ctx, name); err != nil {
			return err
		}
		a.log.Info("idle coordinator group dropped", "group", name, "idle_since", st.Changed)
	}
	return nil
}
