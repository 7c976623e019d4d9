package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// jobCols are the columns of a job without its definitions; jobDefCols
// adds them.
const (
	jobCols = `id, description, submitter, visibility, state, health, priority, requested_type, requested_device,
	requested_worker, actual_device, health_check, submit_time, start_time, end_time, queue_timeout_ns,
	failure_comment, error_type, metadata, target_group, sub_id, multinode_role, group_size, multinode_essential,
	r.duration_ns, r.until_time, r.reason, r.ended_by`
	jobDefCols = jobCols + ", definition, original_definition"
	// jobFrom is what jobCols are selected from: a job with its
	// reservation, if it is one (the columns of reservations are NULL for
	// other jobs, and none of its names is a column of jobs).
	jobFrom = "jobs LEFT JOIN reservations r ON r.job_id = jobs.id"
)

// jobScanner reads a job row; withDef says whether the definitions follow.
func jobScanner(withDef bool) func(r scanner) (lab.Job, error) {
	return func(r scanner) (lab.Job, error) {
		var j lab.Job
		var meta string
		var mn lab.MultinodeJob
		var res lab.Reservation
		dest := []any{&j.ID, &j.Description, &j.Submitter, asInt(&j.Visibility), asInt(&j.State), asInt(&j.Health),
			&j.Priority, strDest{&j.RequestedType}, strDest{&j.RequestedDevice}, strDest{&j.RequestedWorker},
			strDest{&j.ActualDevice}, &j.HealthCheck, timeDest{&j.SubmitTime}, timeDest{&j.StartTime}, timeDest{&j.EndTime},
			asInt(&j.QueueTimeout), &j.FailureComment, (*string)(&j.ErrorType), strDest{&meta},
			strDest{&mn.TargetGroup}, strDest{&mn.SubID}, strDest{&mn.Role}, &mn.GroupSize, &mn.Essential,
			asInt(&res.Duration), timeDest{&res.Until}, strDest{&res.Reason}, strDest{&res.EndedBy}}
		if withDef {
			dest = append(dest, &j.Definition, &j.OriginalDefinition)
		}
		if err := r.Scan(dest...); err != nil {
			return j, err
		}
		if mn.TargetGroup != "" {
			j.Multinode = &mn
		}
		if res.Duration > 0 {
			j.Reservation = &res
		}
		if meta != "" {
			if err := json.Unmarshal([]byte(meta), &j.Metadata); err != nil {
				return j, fmt.Errorf("job %d: metadata: %w", j.ID, err)
			}
			if len(j.Metadata) == 0 {
				j.Metadata = nil
			}
		}
		return j, nil
	}
}

func validErrorType(e lab.ErrorType) error {
	p, err := lab.ParseErrorType(string(e))
	if err != nil {
		return err
	}
	if p != e {
		return fmt.Errorf("%w: error type %q is spelled %q", lab.ErrInvalid, e, p)
	}
	return nil
}

// validJob checks what the schema cannot express well.
func validJob(j lab.Job) error {
	switch {
	case j.SubmitTime.IsZero():
		return fmt.Errorf("%w: submit time is not set", lab.ErrInvalid)
	case j.Submitter == "":
		return fmt.Errorf("%w: submitter is empty", lab.ErrInvalid)
	case j.Visibility < lab.VisibilityPublic || j.Visibility > lab.VisibilityGroup:
		return fmt.Errorf("%w: visibility %d", lab.ErrInvalid, j.Visibility)
	case j.Visibility == lab.VisibilityGroup && len(j.ViewingGroups) == 0:
		return fmt.Errorf("%w: group visibility needs at least one viewing group", lab.ErrInvalid)
	case j.Visibility != lab.VisibilityGroup && len(j.ViewingGroups) > 0:
		return fmt.Errorf("%w: viewing groups are only for group visibility", lab.ErrInvalid)
	case j.State < lab.JobSubmitted || j.State > lab.JobFinished:
		return fmt.Errorf("%w: job state %d", lab.ErrInvalid, j.State)
	case j.Health < lab.JobHealthUnknown || j.Health > lab.JobHealthCanceled:
		return fmt.Errorf("%w: job health %d", lab.ErrInvalid, j.Health)
	case j.Priority < lab.PriorityLow || j.Priority > lab.PriorityHigh:
		return fmt.Errorf("%w: priority %d is not within 0–100", lab.ErrInvalid, j.Priority)
	case j.QueueTimeout < 0:
		return fmt.Errorf("%w: negative queue timeout", lab.ErrInvalid)
	case j.Multinode != nil && (j.Multinode.TargetGroup == "" || j.Multinode.Role == "" || j.Multinode.GroupSize < 1):
		return fmt.Errorf("%w: a multinode job needs its target group, role and group size", lab.ErrInvalid)
	case j.Reservation != nil && (j.Multinode != nil || j.HealthCheck):
		return fmt.Errorf("%w: a reservation is neither a multinode job nor a health check", lab.ErrInvalid)
	case j.Reservation != nil && j.RequestedDevice == "":
		return fmt.Errorf("%w: a reservation names its device", lab.ErrInvalid)
	case j.Reservation != nil && j.Reservation.Duration <= 0:
		return fmt.Errorf("%w: a reservation needs a positive duration", lab.ErrInvalid)
	}
	if r := j.Reservation; r != nil {
		if err := lab.CheckText("reservation reason", r.Reason); err != nil {
			return err
		}
		if err := lab.CheckText("reservation ended by", r.EndedBy); err != nil {
			return err
		}
	}
	// Metadata is stored as JSON, which would escape NUL characters and
	// replace bad UTF-8: refuse them like any other text instead.
	for k, v := range j.Metadata {
		if err := lab.CheckText("metadata key", k); err != nil {
			return err
		}
		if err := lab.CheckText(fmt.Sprintf("metadata %q", k), v); err != nil {
			return err
		}
	}
	return validErrorType(j.ErrorType)
}

// checkJobRefs returns ErrInvalid naming the first object the job refers
// to that does not exist.
func (q *queries) checkJobRefs(ctx context.Context, c conn, j lab.Job) error {
	refs := []struct{ what, query, val string }{
		{"device type", "SELECT 1 FROM device_types WHERE name = ?", j.RequestedType},
		{"requested device", "SELECT 1 FROM devices WHERE hostname = ?", j.RequestedDevice},
		{"requested worker", "SELECT 1 FROM workers WHERE name = ?", j.RequestedWorker},
		{"actual device", "SELECT 1 FROM devices WHERE hostname = ?", j.ActualDevice},
	}
	for _, r := range refs {
		if r.val == "" {
			continue
		}
		if ok, err := q.exists(ctx, c, r.query, r.val); err != nil || !ok {
			return firstErr(err, fmt.Errorf("%w: %s %q does not exist", lab.ErrInvalid, r.what, r.val))
		}
	}
	if err := q.checkTags(ctx, c, j.Tags); err != nil {
		return err
	}
	for _, g := range normSet(j.ViewingGroups) {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM user_groups WHERE name = ?", g); err != nil || !ok {
			return firstErr(err, fmt.Errorf("%w: group %q does not exist", lab.ErrInvalid, g))
		}
	}
	return nil
}

// CreateJob stores a job with every field as given and returns its new ID.
// It reserves no device: create jobs Submitted and move them with
// TransitionJob. Tags and viewing groups are stored as sorted sets; empty
// metadata, tags and groups read back as nil.
func (q *queries) CreateJob(ctx context.Context, j lab.Job) (int64, error) {
	ids, err := q.createJobs(ctx, "create job", []lab.Job{j}, false)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// CreateJobGroup creates the jobs of a multinode group in one transaction
// and fills in their SubIDs: "<id of the first>.<index>".
func (q *queries) CreateJobGroup(ctx context.Context, jobs []lab.Job) ([]int64, error) {
	op := "create job group"
	if len(jobs) == 0 {
		return nil, wrap(op, fmt.Errorf("%w: a group needs at least one job", lab.ErrInvalid))
	}
	for i, j := range jobs {
		if j.Multinode == nil || j.Multinode.TargetGroup != jobs[0].Multinode.TargetGroup || j.Multinode.GroupSize != len(jobs) {
			return nil, wrap(op, fmt.Errorf("%w: job %d of the group is not a member of group %s of size %d",
				lab.ErrInvalid, i, groupName(jobs[0]), len(jobs)))
		}
	}
	return q.createJobs(ctx, op, jobs, true)
}

// createJobs validates and inserts jobs in one write; with group, their
// SubIDs are numbered after the first job's id.
func (q *queries) createJobs(ctx context.Context, op string, jobs []lab.Job, group bool) ([]int64, error) {
	metas := make([]any, len(jobs))
	for i, j := range jobs {
		if err := validJob(j); err != nil {
			return nil, wrap(op, err)
		}
		m, err := jobMeta(j)
		if err != nil {
			return nil, wrap(op, err)
		}
		metas[i] = m
	}
	var ids []int64
	err := q.write(ctx, func(c conn) error {
		ids = ids[:0]
		for i, j := range jobs {
			id, err := q.insertJob(ctx, c, j, metas[i])
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		if group {
			for i, id := range ids {
				if _, err := q.exec(ctx, c, "UPDATE jobs SET sub_id = ? WHERE id = ?", fmt.Sprintf("%d.%d", ids[0], i), id); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return ids, nil
}

// groupName is j's target group, or "(none)".
func groupName(j lab.Job) string {
	if j.Multinode == nil {
		return "(none)"
	}
	return j.Multinode.TargetGroup
}

// jobMeta encodes a job's metadata as the JSON stored (nil when none).
func jobMeta(j lab.Job) (any, error) {
	if len(j.Metadata) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(j.Metadata)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", lab.ErrInvalid, err)
	}
	return string(b), nil
}

// insertJob inserts a validated job with its tags and viewing groups.
func (q *queries) insertJob(ctx context.Context, c conn, j lab.Job, meta any) (int64, error) {
	if err := q.checkJobRefs(ctx, c, j); err != nil {
		return 0, err
	}
	var mn lab.MultinodeJob
	if j.Multinode != nil {
		mn = *j.Multinode
	}
	var id int64
	if err := q.row(ctx, c, `INSERT INTO jobs (description, submitter, visibility, state, health, priority, requested_type,
		requested_device, requested_worker, actual_device, health_check, submit_time, start_time, end_time, queue_timeout_ns,
		failure_comment, error_type, metadata, definition, original_definition,
		target_group, sub_id, multinode_role, group_size, multinode_essential)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		j.Description, j.Submitter, int(j.Visibility), int(j.State), int(j.Health), j.Priority, nullStr(j.RequestedType),
		nullStr(j.RequestedDevice), nullStr(j.RequestedWorker), nullStr(j.ActualDevice), j.HealthCheck,
		q.d.ts(j.SubmitTime), q.d.ts(j.StartTime), q.d.ts(j.EndTime), nullID(int64(j.QueueTimeout)),
		j.FailureComment, string(j.ErrorType), meta, j.Definition, j.OriginalDefinition,
		nullStr(mn.TargetGroup), nullStr(mn.SubID), nullStr(mn.Role), mn.GroupSize, mn.Essential).Scan(&id); err != nil {
		return 0, err
	}
	if r := j.Reservation; r != nil {
		if _, err := q.exec(ctx, c, "INSERT INTO reservations (job_id, duration_ns, until_time, reason, ended_by) VALUES (?, ?, ?, ?, ?)",
			id, int64(r.Duration), q.d.ts(r.Until), r.Reason, r.EndedBy); err != nil {
			return 0, err
		}
	}
	for _, t := range normSet(j.Tags) {
		if _, err := q.exec(ctx, c, "INSERT INTO job_tags (job_id, tag) VALUES (?, ?)", id, t); err != nil {
			return 0, err
		}
	}
	for _, g := range normSet(j.ViewingGroups) {
		if _, err := q.exec(ctx, c, "INSERT INTO job_viewing_groups (job_id, group_name) VALUES (?, ?)", id, g); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// GetJob returns one job with everything, definitions included.
func (q *queries) GetJob(ctx context.Context, id int64) (lab.Job, error) {
	var j lab.Job
	err := q.view(ctx, func(c conn) error {
		var err error
		j, err = q.getJob(ctx, c, id)
		return err
	})
	return j, wrap(fmt.Sprintf("get job %d", id), err)
}

func (q *queries) getJob(ctx context.Context, c conn, id int64) (lab.Job, error) {
	j, err := jobScanner(true)(q.row(ctx, c, "SELECT "+jobDefCols+" FROM "+jobFrom+" WHERE id = ?", id))
	if err != nil {
		return j, notFound(err)
	}
	jobs := []lab.Job{j}
	if err := q.loadJobSets(ctx, c, jobs, "?", id); err != nil {
		return j, err
	}
	return jobs[0], nil
}

// loadJobSets fills Tags and ViewingGroups of jobs, which are the jobs the
// subquery sub (selecting job ids, with args) selects.
func (q *queries) loadJobSets(ctx context.Context, c conn, jobs []lab.Job, sub string, args ...any) error {
	if len(jobs) == 0 {
		return nil
	}
	idx := make(map[int64]int, len(jobs))
	for i, j := range jobs {
		idx[j.ID] = i
	}
	for _, set := range []struct {
		query string
		field func(*lab.Job) *[]string
	}{
		{"SELECT job_id, tag FROM job_tags WHERE job_id IN (" + sub + ") ORDER BY job_id, tag",
			func(j *lab.Job) *[]string { return &j.Tags }},
		{"SELECT job_id, group_name FROM job_viewing_groups WHERE job_id IN (" + sub + ") ORDER BY job_id, group_name",
			func(j *lab.Job) *[]string { return &j.ViewingGroups }},
	} {
		rows, err := q.query(ctx, c, set.query, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return err
			}
			if i, ok := idx[id]; ok {
				p := set.field(&jobs[i])
				*p = append(*p, name)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// DefaultJobLimit is the page size of ListJobs when the filter sets none.
const DefaultJobLimit = 50

// likeEscape escapes the LIKE wildcards of s (with ESCAPE '\').
var likeEscape = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// metaCond adds metadata condition c to w: one correlated query on the
// job's metadata entries (SQLite's json_each, PostgreSQL's
// jsonb_each_text), so that any key can be named, whatever characters it
// holds.
func (q *queries) metaCond(w *where, c store.MetadataCond) error {
	if c.Key == "" {
		return fmt.Errorf("%w: a metadata condition needs a key", lab.ErrInvalid)
	}
	want := 1
	switch c.Op {
	case store.MetaHasKey, store.MetaNoKey:
		want = 0
	case store.MetaIn:
		if len(c.Values) == 0 {
			return fmt.Errorf("%w: metadata %q in: no values", lab.ErrInvalid, c.Key)
		}
		want = len(c.Values)
	}
	if len(c.Values) != want {
		return fmt.Errorf("%w: metadata %q %s takes %d values, not %d", lab.ErrInvalid, c.Key, c.Op, want, len(c.Values))
	}
	exists := "EXISTS (SELECT 1 FROM " + q.d.metaEach + " AS m WHERE m.key = ?"
	text := "CAST(? AS TEXT)"
	var v string
	if want == 1 {
		v = c.Values[0]
	}
	like := func(pattern string) {
		w.add(exists+" AND lower(m.value) LIKE lower("+text+`) ESCAPE '\')`, c.Key, pattern)
	}
	switch c.Op {
	case store.MetaExact:
		w.add(exists+" AND m.value = "+text+")", c.Key, v)
	case store.MetaIExact:
		like(likeEscape.Replace(v))
	case store.MetaContains:
		w.add(exists+" AND "+q.d.strpos+"(m.value, "+text+") > 0)", c.Key, v)
	case store.MetaIContains:
		like("%" + likeEscape.Replace(v) + "%")
	case store.MetaStartsWith:
		w.add(exists+" AND substr(m.value, 1, length("+text+")) = "+text+")", c.Key, v, v)
	case store.MetaIStartsWith:
		like(likeEscape.Replace(v) + "%")
	case store.MetaEndsWith:
		w.add(exists+" AND length(m.value) >= length("+text+") AND substr(m.value, length(m.value) - length("+text+") + 1) = "+text+")",
			c.Key, v, v, v)
	case store.MetaIEndsWith:
		like("%" + likeEscape.Replace(v))
	case store.MetaIn:
		args := []any{c.Key}
		for _, x := range c.Values {
			args = append(args, x)
		}
		w.add(exists+" AND m.value IN ("+strings.TrimSuffix(strings.Repeat(text+", ", len(c.Values)), ", ")+"))", args...)
	case store.MetaHasKey:
		w.add(exists+")", c.Key)
	case store.MetaNoKey:
		w.add("NOT "+exists+")", c.Key)
	default:
		return fmt.Errorf("%w: unknown metadata condition %q", lab.ErrInvalid, c.Op)
	}
	return nil
}

// jobOrders maps each job order to its ORDER BY clause. Times sort jobs
// without them last in either direction; ties go by id.
var jobOrders = map[store.JobOrder]string{
	store.OrderNewest:         "id DESC",
	store.OrderIDDesc:         "id DESC",
	store.OrderID:             "id",
	store.OrderSubmitTime:     "submit_time, id",
	store.OrderSubmitTimeDesc: "submit_time DESC, id DESC",
	store.OrderStartTime:      "(start_time IS NULL), start_time, id",
	store.OrderStartTimeDesc:  "(start_time IS NULL), start_time DESC, id DESC",
	store.OrderEndTime:        "(end_time IS NULL), end_time, id",
	store.OrderEndTimeDesc:    "(end_time IS NULL), end_time DESC, id DESC",
}

// jobWhere builds the WHERE clause of a job filter, visibility included.
// Conditions that cannot be built (a bad metadata condition) make the
// clause false and are reported by checkJobFilter.
func (q *queries) jobWhere(f store.JobFilter) where {
	var w where
	if v := f.VisibleTo; v != nil && !v.Superuser {
		public := fmt.Sprintf("visibility = %d", lab.VisibilityPublic)
		if v.Username == "" {
			w.add(public)
		} else {
			// A group job is visible to members of every one of its groups:
			// it has groups, and none outside the viewer's.
			group := "1 = 0"
			var groupArgs []any
			if gs := normSet(v.Groups); len(gs) > 0 {
				group = fmt.Sprintf(`visibility = %d
					AND EXISTS (SELECT 1 FROM job_viewing_groups g WHERE g.job_id = jobs.id)
					AND NOT EXISTS (SELECT 1 FROM job_viewing_groups g WHERE g.job_id = jobs.id AND g.group_name NOT IN (%s))`,
					lab.VisibilityGroup, placeholders(len(gs)))
				for _, g := range gs {
					groupArgs = append(groupArgs, g)
				}
			}
			w.add("("+public+" OR submitter = ? OR ("+group+"))", append([]any{v.Username}, groupArgs...)...)
		}
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			w.add("1 = 0")
		} else {
			vals := make([]any, len(f.IDs))
			for i, id := range f.IDs {
				vals[i] = id
			}
			w.in("id", vals)
		}
	}
	if len(f.States) > 0 {
		w.in("state", ints(f.States))
	}
	if len(f.Health) > 0 {
		w.in("health", ints(f.Health))
	}
	if f.DeviceType != "" {
		w.add("requested_type = ?", f.DeviceType)
	}
	if f.Device != "" {
		w.add("actual_device = ?", f.Device)
	}
	if f.TargetGroup != "" {
		w.add("target_group = ?", f.TargetGroup)
	}
	if f.Submitter != "" {
		w.add("submitter = ?", f.Submitter)
	}
	if f.HealthCheck != nil {
		w.add("health_check = ?", *f.HealthCheck)
	}
	if f.Reservation != nil {
		cond := "EXISTS (SELECT 1 FROM reservations rf WHERE rf.job_id = jobs.id)"
		if !*f.Reservation {
			cond = "NOT " + cond
		}
		w.add(cond)
	}
	if f.RequestedDevice != "" {
		w.add("requested_device = ?", f.RequestedDevice)
	}
	if f.Text != "" {
		w.add("description "+q.d.like+` ? ESCAPE '\'`, "%"+likeEscape.Replace(f.Text)+"%")
	}
	if f.IDAfter != 0 {
		w.add("id > ?", f.IDAfter)
	}
	if f.IDBefore != 0 {
		w.add("id < ?", f.IDBefore)
	}
	for _, b := range []struct {
		cond string
		t    time.Time
	}{
		{"submit_time > ?", f.SubmittedAfter}, {"submit_time < ?", f.SubmittedBefore},
		{"start_time > ?", f.StartedAfter}, {"start_time < ?", f.StartedBefore},
		{"end_time > ?", f.EndedAfter}, {"end_time < ?", f.EndedBefore},
	} {
		if !b.t.IsZero() {
			w.add(b.cond, q.d.ts(b.t))
		}
	}
	for _, c := range f.Metadata {
		if err := q.metaCond(&w, c); err != nil {
			w.add("1 = 0")
		}
	}
	if len(f.DeviceTypes) > 0 {
		vals := make([]any, len(f.DeviceTypes))
		for i, t := range f.DeviceTypes {
			vals[i] = t
		}
		w.in("requested_type", vals)
	}
	if !f.EndedSince.IsZero() {
		w.add("end_time >= ?", q.d.ts(f.EndedSince))
	}
	if f.LongerThan != nil {
		at := f.Now
		if at.IsZero() {
			at = now()
		}
		// Both databases subtract times: microseconds on SQLite, an
		// interval on PostgreSQL (q.d.micros makes one of the bound).
		w.add("start_time IS NOT NULL AND COALESCE(end_time, ?) - start_time > "+q.d.micros,
			q.d.ts(at), (*f.LongerThan).Microseconds())
	}
	return w
}

// checkJobFilter reports what in f cannot be queried: a bad metadata
// condition or an unknown order.
func (q *queries) checkJobFilter(f store.JobFilter) error {
	for _, c := range f.Metadata {
		if err := q.metaCond(&where{}, c); err != nil {
			return err
		}
	}
	if _, ok := jobOrders[f.Order]; !ok {
		return fmt.Errorf("%w: unknown job order %q", lab.ErrInvalid, f.Order)
	}
	return nil
}

// ListJobs returns one page of the jobs matching f, in f.Order (newest,
// highest ID, first by default), and how many match in all. Visibility is decided in SQL from
// f.VisibleTo as given: its Groups, not the database's memberships, are the
// viewer's groups, and a group job needs at least one viewing group to be
// visible to anyone but its submitter and superusers.
func (q *queries) ListJobs(ctx context.Context, f store.JobFilter) ([]lab.Job, int, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultJobLimit
	}
	offset := max(f.Offset, 0)
	if err := q.checkJobFilter(f); err != nil {
		return nil, 0, wrap("list jobs", err)
	}
	w := q.jobWhere(f)
	cols := jobCols
	if f.WithDefinition {
		cols = jobDefCols
	}
	var jobs []lab.Job
	var total int
	err := q.view(ctx, func(c conn) error {
		if err := q.row(ctx, c, "SELECT COUNT(*) FROM jobs"+w.sql(), w.args...).Scan(&total); err != nil {
			return err
		}
		rows, err := q.query(ctx, c, fmt.Sprintf("SELECT %s FROM %s%s ORDER BY %s LIMIT %d OFFSET %d",
			cols, jobFrom, w.sql(), jobOrders[f.Order], limit, offset), w.args...)
		if jobs, err = collect(rows, err, jobScanner(f.WithDefinition)); err != nil || len(jobs) == 0 {
			return err
		}
		ids := make([]any, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		return q.loadJobSets(ctx, c, jobs, placeholders(len(ids)), ids...)
	})
	if err != nil {
		return nil, 0, wrap("list jobs", err)
	}
	return jobs, total, nil
}

// Queue returns every Submitted job, highest priority first, then oldest
// submit time, then lowest ID (LAVA's order), in two queries. The scheduler
// reads it on every pass, so scanning avoids per-row allocations: one set
// of scan targets for all rows, low-cardinality strings (submitters, types,
// devices, workers, tags) interned, and every job's tags slicing one array.
func (q *queries) Queue(ctx context.Context) ([]store.QueuedJob, error) {
	var out []store.QueuedJob
	err := q.view(ctx, func(c conn) error {
		var in interner
		var j store.QueuedJob
		var submitter, rtype, rdevice, rworker sql.RawBytes
		dest := []any{&j.ID, &j.Priority, timeDest{&j.SubmitTime}, &submitter, &rtype, &rdevice, &rworker,
			asInt(&j.QueueTimeout), &j.HealthCheck, strDest{&j.Group}, strDest{&j.Role}, &j.GroupSize}
		rows, err := q.query(ctx, c, `SELECT id, priority, submit_time, submitter, requested_type, requested_device,
			requested_worker, queue_timeout_ns, health_check, target_group, multinode_role, group_size FROM jobs WHERE state = ?
			ORDER BY priority DESC, submit_time, id`, int(lab.JobSubmitted))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			j.Submitter, j.RequestedType = in.get(submitter), in.get(rtype)
			j.RequestedDevice, j.RequestedWorker = in.get(rdevice), in.get(rworker)
			out = append(out, j)
		}
		if err := rows.Close(); err != nil || len(out) == 0 {
			return err
		}
		idx := make(map[int64]int, len(out))
		for i, j := range out {
			idx[j.ID] = i
		}
		// Tags come ordered by job, so each job's tags are a run of the
		// one array: three-index slices keep callers' appends off their
		// neighbours' tags.
		var all []string
		var owner []int // index in out of each tag in all
		var id int64
		var tag sql.RawBytes
		rows, err = q.query(ctx, c, `SELECT job_id, tag FROM job_tags
			WHERE job_id IN (SELECT id FROM jobs WHERE state = ?) ORDER BY job_id, tag`, int(lab.JobSubmitted))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := rows.Scan(&id, &tag); err != nil {
				return err
			}
			if i, ok := idx[id]; ok { // a job submitted after the first query is not in out
				all = append(all, in.get(tag))
				owner = append(owner, i)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for lo := 0; lo < len(all); {
			hi := lo + 1
			for hi < len(all) && owner[hi] == owner[lo] {
				hi++
			}
			out[owner[lo]].Tags = all[lo:hi:hi]
			lo = hi
		}
		return nil
	})
	return out, wrap("read queue", err)
}

// interner returns one string per distinct byte sequence.
type interner map[string]string

func (in *interner) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := (*in)[string(b)]; ok {
		return s
	}
	if *in == nil {
		*in = interner{}
	}
	s := string(b)
	(*in)[s] = s
	return s
}

// TransitionJob applies t atomically with conditional updates; see
// store.JobTransition. On top of t.From, the move must be legal for
// lab.CheckJobTransition (ErrConflict otherwise). A zero t.At means now.
// The returned job includes its definitions.
func (q *queries) TransitionJob(ctx context.Context, t store.JobTransition) (lab.Job, error) {
	op := fmt.Sprintf("move job %d to %s", t.ID, t.To)
	if len(t.From) == 0 {
		return lab.Job{}, wrap(op, fmt.Errorf("%w: no From states", lab.ErrInvalid))
	}
	if t.To == lab.JobFinished {
		if t.Health < lab.JobHealthUnknown || t.Health > lab.JobHealthCanceled {
			return lab.Job{}, wrap(op, fmt.Errorf("%w: job health %d", lab.ErrInvalid, t.Health))
		}
		if err := validErrorType(t.ErrorType); err != nil {
			return lab.Job{}, wrap(op, err)
		}
	}
	at := normTime(t.At)
	if at.IsZero() {
		at = now()
	}
	var out lab.Job
	err := q.write(ctx, func(c conn) error {
		// Lock the job row (PostgreSQL) and read what the move depends on.
		var state lab.JobState
		var actual string
		var healthCheck bool
		if err := q.row(ctx, c, "SELECT state, actual_device, health_check FROM jobs WHERE id = ?"+q.d.forUpdate, t.ID).
			Scan(asInt(&state), strDest{&actual}, &healthCheck); err != nil {
			return notFound(err)
		}
		if !slices.Contains(t.From, state) {
			return fmt.Errorf("%w: job is %s, not %s", lab.ErrConflict, state, statesString(t.From))
		}
		if err := lab.CheckJobTransition(state, t.To); err != nil {
			return err
		}
		// The job moves only if it is still in a From state: with the row
		// lock this always holds on PostgreSQL, and it is the guard that
		// makes the move safe without one.
		guard := " WHERE id = ? AND state IN (" + placeholders(len(t.From)) + ")"
		guardArgs := append([]any{t.ID}, ints(t.From)...)
		var n int64
		var err error
		switch t.To {
		case lab.JobScheduling, lab.JobScheduled:
			device := actual
			if t.Device != "" && t.Device != actual {
				if actual != "" {
					return fmt.Errorf("%w: job already holds device %q", lab.ErrConflict, actual)
				}
				if err := q.reserveDevice(ctx, c, t.Device, t.ID); err != nil {
					return err
				}
				device = t.Device
			}
			n, err = q.execN(ctx, c, "UPDATE jobs SET state = ?, actual_device = ?"+guard,
				append([]any{int(t.To), nullStr(device)}, guardArgs...)...)
		case lab.JobRunning:
			if n, err = q.execN(ctx, c, "UPDATE jobs SET state = ?, start_time = ?"+guard,
				append([]any{int(t.To), q.d.ts(at)}, guardArgs...)...); err == nil && n == 1 {
				_, err = q.exec(ctx, c, "UPDATE devices SET state = ? WHERE current_job = ?", int(lab.DeviceRunning), t.ID)
			}
		case lab.JobCanceling:
			if t.FailureComment == "" {
				n, err = q.execN(ctx, c, "UPDATE jobs SET state = ?"+guard, append([]any{int(t.To)}, guardArgs...)...)
			} else {
				n, err = q.execN(ctx, c, "UPDATE jobs SET state = ?, failure_comment = ?"+guard,
					append([]any{int(t.To), t.FailureComment}, guardArgs...)...)
			}
		case lab.JobFinished:
			n, err = q.execN(ctx, c, "UPDATE jobs SET state = ?, end_time = ?, health = ?, error_type = ?, failure_comment = ?"+guard,
				append([]any{int(t.To), q.d.ts(at), int(t.Health), string(t.ErrorType), t.FailureComment}, guardArgs...)...)
			if err == nil && n == 1 {
				_, err = q.exec(ctx, c, "UPDATE devices SET state = ?, current_job = NULL WHERE current_job = ?", int(lab.DeviceIdle), t.ID)
			}
			if err == nil && n == 1 && healthCheck && actual != "" {
				_, err = q.exec(ctx, c, "UPDATE devices SET last_health_report_job = ? WHERE hostname = ?", t.ID, actual)
			}
		default:
			return fmt.Errorf("%w: cannot move a job to %s", lab.ErrInvalid, t.To)
		}
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%w: job %d left %s meanwhile", lab.ErrConflict, t.ID, statesString(t.From))
		}
		out, err = q.getJob(ctx, c, t.ID)
		return err
	})
	return out, wrap(op, err)
}

// reserveDevice makes an Idle device with no job Reserved for job, or
// fails with ErrConflict (busy) or ErrInvalid (no such device). The
// conditional UPDATE is what keeps two concurrent servers from giving one
// device two jobs: the loser's WHERE no longer matches once the winner
// committed.
func (q *queries) reserveDevice(ctx context.Context, c conn, hostname string, job int64) error {
	n, err := q.execN(ctx, c, "UPDATE devices SET state = ?, current_job = ? WHERE hostname = ? AND state = ? AND current_job IS NULL",
		int(lab.DeviceReserved), job, hostname, int(lab.DeviceIdle))
	if err != nil || n == 1 {
		return err
	}
	var state lab.DeviceState
	var cur int64
	err = q.row(ctx, c, "SELECT state, current_job FROM devices WHERE hostname = ?", hostname).Scan(asInt(&state), asInt(&cur))
	if notFound(err) == lab.ErrNotFound {
		return fmt.Errorf("%w: device %q does not exist", lab.ErrInvalid, hostname)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: device %q is %s with job %d", lab.ErrConflict, hostname, state, cur)
}

func statesString(ss []lab.JobState) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.String()
	}
	return strings.Join(names, "/")
}

// HealthCheckInfo returns, for every device, the submit time of the last
// health-check job that ran (or was assigned to run) on it, and how many
// ordinary jobs started on it since then (or ever, when it had none), as
// LAVA counts them for per-job health-check frequencies.
func (q *queries) HealthCheckInfo(ctx context.Context) (map[string]store.HealthInfo, error) {
	rows, err := q.query(ctx, q.r(), `SELECT d.hostname, hc.last_check,
		(SELECT COUNT(*) FROM jobs j WHERE j.actual_device = d.hostname AND j.health_check = ?
			AND j.start_time IS NOT NULL AND (hc.last_check IS NULL OR j.start_time >= hc.last_check))
		FROM devices d LEFT JOIN (
			SELECT actual_device, MAX(submit_time) AS last_check FROM jobs
			WHERE health_check = ? AND actual_device IS NOT NULL GROUP BY actual_device
		) hc ON hc.actual_device = d.hostname`, false, true)
	type entry struct {
		host string
		info store.HealthInfo
	}
	es, err := collect(rows, err, func(r scanner) (entry, error) {
		var e entry
		return e, r.Scan(&e.host, timeDest{&e.info.LastCheck}, &e.info.JobsSinceLast)
	})
	if err != nil {
		return nil, wrap("health-check info", err)
	}
	out := make(map[string]store.HealthInfo, len(es))
	for _, e := range es {
		out[e.host] = e.info
	}
	return out, nil
}

// UpdateReservation replaces the reservation fields of job id with to if
// they are still from (store.Queries.UpdateReservation).
func (q *queries) UpdateReservation(ctx context.Context, id int64, from, to lab.Reservation) error {
	op := fmt.Sprintf("update reservation %d", id)
	if to.Duration <= 0 {
		return wrap(op, fmt.Errorf("%w: a reservation needs a positive duration", lab.ErrInvalid))
	}
	if err := lab.CheckText("reservation reason", to.Reason); err != nil {
		return wrap(op, err)
	}
	if err := lab.CheckText("reservation ended by", to.EndedBy); err != nil {
		return wrap(op, err)
	}
	return wrap(op, q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, `UPDATE reservations SET duration_ns = ?, until_time = ?, reason = ?, ended_by = ?
			WHERE job_id = ? AND duration_ns = ? AND until_time IS NOT DISTINCT FROM ? AND reason = ? AND ended_by = ?`,
			int64(to.Duration), q.d.ts(to.Until), to.Reason, to.EndedBy,
			id, int64(from.Duration), q.d.ts(from.Until), from.Reason, from.EndedBy)
		if err != nil || n == 1 {
			return err
		}
		ok, err := q.exists(ctx, c, "SELECT 1 FROM reservations WHERE job_id = ?", id)
		switch {
		case err != nil:
			return err
		case !ok:
			return lab.ErrNotFound
		}
		return fmt.Errorf("%w: the reservation changed meanwhile", lab.ErrConflict)
	}))
}
