package storetest

import (
	"fmt"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Jobs: creation, reading, listing, visibility and the queue.

func testJobRoundTrip(f *fx) {
	f.deviceType("qemu")
	f.worker("w1")
	f.device("qemu-01", "qemu")
	f.device("qemu-02", "qemu")
	f.tag("usb")
	f.tag("arm")
	f.group("g1")
	f.group("g2")
	full := lab.Job{
		Description:        "boot test ünïcode",
		Submitter:          "alice",
		Visibility:         lab.VisibilityGroup,
		ViewingGroups:      []string{"g2", "g1", "g2"},
		State:              lab.JobFinished,
		Health:             lab.JobHealthIncomplete,
		Priority:           77,
		RequestedType:      "qemu",
		RequestedDevice:    "qemu-01",
		RequestedWorker:    "w1",
		Tags:               []string{"usb", "arm"},
		ActualDevice:       "qemu-02",
		HealthCheck:        true,
		SubmitTime:         base,
		StartTime:          base.Add(time.Minute + time.Nanosecond),
		EndTime:            base.Add(time.Hour + 999*time.Nanosecond),
		QueueTimeout:       90 * time.Minute,
		FailureComment:     "kernel panic",
		ErrorType:          lab.ErrorInfrastructure,
		Metadata:           map[string]string{"build": "42", "source": "https://ci/x?a=b&c='d'"},
		Definition:         "job_name: x\n",
		OriginalDefinition: "job_name: x # original\n",
	}
	id := f.job(full)
	want := full
	want.ID = id
	want.ViewingGroups = []string{"g1", "g2"}
	want.Tags = []string{"arm", "usb"}
	want.SubmitTime, want.StartTime, want.EndTime = stored(full.SubmitTime), stored(full.StartTime), stored(full.EndTime)
	f.eq(want, f.getJob(id), "full job round trip")

	// A minimal job: every optional field empty reads back empty (nil
	// slices and maps).
	min := lab.Job{Submitter: "bob", SubmitTime: base, Priority: 0}
	id2, err := f.s.CreateJob(f.ctx, min)
	f.ok(err, "create minimal job")
	if id2 <= id {
		f.t.Errorf("job IDs do not increase: %d then %d", id, id2)
	}
	min.ID, min.SubmitTime = id2, stored(base)
	f.eq(min, f.getJob(id2), "minimal job round trip")

	_, err = f.s.GetJob(f.ctx, id2+1000)
	f.is(err, lab.ErrNotFound, "get missing job")
}

func testJobErrors(f *fx) {
	f.deviceType("qemu")
	f.worker("w1")
	f.device("qemu-01", "qemu")
	f.tag("usb")
	f.group("g1")
	good := lab.Job{Submitter: "alice", SubmitTime: base, Priority: 50, RequestedType: "qemu", RequestedDevice: "qemu-01",
		RequestedWorker: "w1", Tags: []string{"usb"}, Visibility: lab.VisibilityGroup, ViewingGroups: []string{"g1"}}
	if _, err := f.s.CreateJob(f.ctx, good); err != nil {
		f.t.Fatalf("the valid job of this table fails: %v", err)
	}
	with := func(change func(j *lab.Job)) lab.Job {
		j := good
		change(&j)
		return j
	}
	cases := []struct {
		name string
		j    lab.Job
	}{
		{"no submit time", with(func(j *lab.Job) { j.SubmitTime = time.Time{} })},
		{"no submitter", with(func(j *lab.Job) { j.Submitter = "" })},
		{"priority above 100", with(func(j *lab.Job) { j.Priority = 101 })},
		{"negative priority", with(func(j *lab.Job) { j.Priority = -1 })},
		{"bad visibility", with(func(j *lab.Job) { j.Visibility = 3 })},
		{"group visibility without groups", with(func(j *lab.Job) { j.ViewingGroups = nil })},
		{"groups without group visibility", with(func(j *lab.Job) { j.Visibility = lab.VisibilityPublic })},
		{"bad state", with(func(j *lab.Job) { j.State = 6 })},
		{"bad health", with(func(j *lab.Job) { j.Health = 4 })},
		{"bad error type", with(func(j *lab.Job) { j.ErrorType = "Oops" })},
		{"negative queue timeout", with(func(j *lab.Job) { j.QueueTimeout = -time.Second })},
		{"missing device type", with(func(j *lab.Job) { j.RequestedType = "nope" })},
		{"missing requested device", with(func(j *lab.Job) { j.RequestedDevice = "nope" })},
		{"missing requested worker", with(func(j *lab.Job) { j.RequestedWorker = "nope" })},
		{"missing actual device", with(func(j *lab.Job) { j.ActualDevice = "nope" })},
		{"missing tag", with(func(j *lab.Job) { j.Tags = []string{"usb", "nope"} })},
		{"missing group", with(func(j *lab.Job) { j.ViewingGroups = []string{"g1", "nope"} })},
	}
	for _, c := range cases {
		_, err := f.s.CreateJob(f.ctx, c.j)
		f.is(err, lab.ErrInvalid, c.name)
	}
	_, total, err := f.s.ListJobs(f.ctx, store.JobFilter{})
	f.ok(err, "list")
	if total != 1 {
		f.t.Errorf("failed creates left jobs behind: %d jobs", total)
	}
}

// listFixture creates a varied set of jobs and returns their IDs by name.
func listFixture(f *fx) map[string]int64 {
	f.deviceType("qemu")
	f.deviceType("bbb")
	f.device("qemu-01", "qemu")
	f.device("bbb-01", "bbb")
	id := map[string]int64{}
	id["queued"] = f.job(lab.Job{Description: "Queued Boot", Submitter: "alice", RequestedType: "qemu"})
	id["hc"] = f.job(lab.Job{Description: "health check", Submitter: lab.HealthCheckUser, RequestedType: "qemu",
		RequestedDevice: "qemu-01", HealthCheck: true})
	f.assign(id["hc"], "qemu-01")
	id["bbb"] = f.job(lab.Job{Description: "bbb 100% ok_test", Submitter: "bob", RequestedType: "bbb"})
	f.assign(id["bbb"], "bbb-01")
	f.move(store.JobTransition{ID: id["bbb"], From: []lab.JobState{lab.JobScheduled}, To: lab.JobRunning, At: base})
	f.move(store.JobTransition{ID: id["bbb"], From: []lab.JobState{lab.JobRunning}, To: lab.JobFinished, At: base,
		Health: lab.JobHealthComplete})
	id["canceled"] = f.job(lab.Job{Description: "BOOT again", Submitter: "bob", RequestedType: "qemu"})
	f.move(store.JobTransition{ID: id["canceled"], From: []lab.JobState{lab.JobSubmitted}, To: lab.JobFinished,
		Health: lab.JobHealthCanceled})
	return id
}

func testListJobs(f *fx) {
	id := listFixture(f)
	yes, no := true, false
	cases := []struct {
		name   string
		filter store.JobFilter
		want   []int64
	}{
		{"all newest first", store.JobFilter{}, []int64{id["canceled"], id["bbb"], id["hc"], id["queued"]}},
		{"states", store.JobFilter{States: []lab.JobState{lab.JobSubmitted, lab.JobScheduled}}, []int64{id["hc"], id["queued"]}},
		{"health", store.JobFilter{Health: []lab.JobHealth{lab.JobHealthComplete, lab.JobHealthCanceled}}, []int64{id["canceled"], id["bbb"]}},
		{"device type", store.JobFilter{DeviceType: "bbb"}, []int64{id["bbb"]}},
		{"actual device", store.JobFilter{Device: "qemu-01"}, []int64{id["hc"]}},
		{"submitter", store.JobFilter{Submitter: "bob"}, []int64{id["canceled"], id["bbb"]}},
		{"health checks", store.JobFilter{HealthCheck: &yes}, []int64{id["hc"]}},
		{"ordinary jobs", store.JobFilter{HealthCheck: &no}, []int64{id["canceled"], id["bbb"], id["queued"]}},
		{"text any case", store.JobFilter{Text: "boot"}, []int64{id["canceled"], id["queued"]}},
		{"text with %", store.JobFilter{Text: "100%"}, []int64{id["bbb"]}},
		{"text % is literal", store.JobFilter{Text: "b%t"}, nil},
		{"text _ is literal", store.JobFilter{Text: "b_b"}, nil},
		{"text with _", store.JobFilter{Text: "ok_t"}, []int64{id["bbb"]}},
		{"combined", store.JobFilter{Submitter: "bob", States: []lab.JobState{lab.JobFinished}, Text: "BBB"}, []int64{id["bbb"]}},
		{"nothing", store.JobFilter{Submitter: "nobody"}, nil},
		{"ids", store.JobFilter{IDs: []int64{id["queued"], id["bbb"], id["bbb"], 9999}}, []int64{id["bbb"], id["queued"]}},
		{"ids and a filter", store.JobFilter{IDs: []int64{id["queued"], id["bbb"]}, Submitter: "bob"}, []int64{id["bbb"]}},
		{"no ids", store.JobFilter{IDs: []int64{}}, nil},
	}
	for _, c := range cases {
		jobs, total, err := f.s.ListJobs(f.ctx, c.filter)
		f.ok(err, c.name)
		var got []int64
		if len(jobs) > 0 {
			got = ids(jobs)
		}
		f.eq(c.want, got, "filter "+c.name)
		if total != len(c.want) {
			f.t.Errorf("filter %s: total %d, want %d", c.name, total, len(c.want))
		}
	}

	// Listed jobs carry their fields, tags and groups; definitions only
	// on request.
	jobs, _, err := f.s.ListJobs(f.ctx, store.JobFilter{Device: "bbb-01"})
	f.ok(err, "list bbb")
	want := f.getJob(id["bbb"])
	want.Definition, want.OriginalDefinition = "", ""
	f.eq([]lab.Job{want}, jobs, "listed job without definitions")
}

// testListJobsTimes: the filters of LAVA's job list: several device
// types, jobs ended since a time (inclusive), and jobs that ran longer than
// a duration, to their end or, still running, to the filter's Now.
func testListJobsTimes(f *fx) {
	f.deviceType("qemu")
	f.deviceType("bbb")
	f.device("qemu-01", "qemu")
	f.device("qemu-02", "qemu")
	f.device("bbb-01", "bbb")
	at := func(d time.Duration) time.Time { return base.Add(d) }
	dur := func(d time.Duration) *time.Duration { return &d }
	run := func(id int64, device string, start time.Duration) {
		f.assign(id, device)
		f.move(store.JobTransition{ID: id, From: []lab.JobState{lab.JobScheduled}, To: lab.JobRunning, At: at(start)})
	}
	end := func(id int64, d time.Duration) {
		f.move(store.JobTransition{ID: id, From: []lab.JobState{lab.JobRunning}, To: lab.JobFinished, At: at(d),
			Health: lab.JobHealthComplete})
	}
	ten := f.job(lab.Job{Description: "ten minutes", RequestedType: "qemu"})
	run(ten, "qemu-01", 0)
	end(ten, 10*time.Minute)
	running := f.job(lab.Job{Description: "running", RequestedType: "qemu"})
	run(running, "qemu-02", 20*time.Minute)
	two := f.job(lab.Job{Description: "two minutes", RequestedType: "bbb"})
	run(two, "bbb-01", 0)
	end(two, 2*time.Minute)
	canceled := f.job(lab.Job{Description: "canceled", RequestedType: "qemu"})
	f.move(store.JobTransition{ID: canceled, From: []lab.JobState{lab.JobSubmitted}, To: lab.JobFinished, At: at(30 * time.Minute),
		Health: lab.JobHealthCanceled})
	queued := f.job(lab.Job{Description: "queued", RequestedType: "bbb"})

	cases := []struct {
		name   string
		filter store.JobFilter
		want   []int64
	}{
		{"types", store.JobFilter{DeviceTypes: []string{"qemu", "bbb"}}, []int64{queued, canceled, two, running, ten}},
		{"one type", store.JobFilter{DeviceTypes: []string{"bbb"}}, []int64{queued, two}},
		{"unknown type", store.JobFilter{DeviceTypes: []string{"nope"}}, nil},
		{"types and type", store.JobFilter{DeviceTypes: []string{"qemu", "bbb"}, DeviceType: "bbb"}, []int64{queued, two}},
		{"ended since, inclusive", store.JobFilter{EndedSince: at(2 * time.Minute)}, []int64{canceled, two, ten}},
		{"ended since", store.JobFilter{EndedSince: at(3 * time.Minute)}, []int64{canceled, ten}},
		{"ended since, later", store.JobFilter{EndedSince: at(time.Hour)}, nil},
		{"longer than", store.JobFilter{LongerThan: dur(5 * time.Minute), Now: at(30 * time.Minute)}, []int64{running, ten}},
		{"longer than, strictly", store.JobFilter{LongerThan: dur(10 * time.Minute), Now: at(30 * time.Minute)}, nil},
		{"longer than, running on", store.JobFilter{LongerThan: dur(10 * time.Minute), Now: at(31 * time.Minute)}, []int64{running}},
		{"longer than, a microsecond", store.JobFilter{LongerThan: dur(time.Microsecond), Now: at(20 * time.Minute)}, []int64{two, ten}},
		{"longer than zero: started", store.JobFilter{LongerThan: dur(0), Now: at(30 * time.Minute)}, []int64{two, running, ten}},
		{"longer than a negative time: started", store.JobFilter{LongerThan: dur(-time.Hour), Now: at(20 * time.Minute)}, []int64{two, running, ten}},
		{"longer than and ended", store.JobFilter{LongerThan: dur(time.Minute), EndedSince: at(5 * time.Minute), Now: at(time.Hour)}, []int64{ten}},
	}
	for _, c := range cases {
		jobs, total, err := f.s.ListJobs(f.ctx, c.filter)
		f.ok(err, c.name)
		var got []int64
		if len(jobs) > 0 {
			got = ids(jobs)
		}
		f.eq(c.want, got, "filter "+c.name)
		if total != len(c.want) {
			f.t.Errorf("filter %s: total %d, want %d", c.name, total, len(c.want))
		}
	}
	// Without Now, a job still running is measured to the store's clock,
	// which is past the fixture's times.
	jobs, _, err := f.s.ListJobs(f.ctx, store.JobFilter{LongerThan: dur(time.Microsecond)})
	f.ok(err, "longer than, to the clock")
	f.eq([]int64{two, running, ten}, ids(jobs), "longer than, to the clock")
}

func testListJobsPaging(f *fx) {
	f.deviceType("qemu")
	f.tag("usb")
	var all []int64
	for i := range 60 {
		j := lab.Job{Description: fmt.Sprintf("job %d", i), RequestedType: "qemu", Definition: "d", OriginalDefinition: "o"}
		if i%2 == 0 {
			j.Tags = []string{"usb"}
		}
		all = append([]int64{f.job(j)}, all...) // newest first
	}
	jobs, total, err := f.s.ListJobs(f.ctx, store.JobFilter{})
	f.ok(err, "default page")
	if total != 60 || len(jobs) != 50 {
		f.t.Fatalf("default page: %d jobs of %d, want 50 of 60", len(jobs), total)
	}
	f.eq(all[:50], ids(jobs), "default page order")
	if jobs[0].Definition != "" {
		f.t.Error("definition loaded without WithDefinition")
	}
	cases := []struct {
		limit, offset int
		want          []int64
	}{
		{10, 0, all[:10]},
		{10, 10, all[10:20]},
		{25, 50, all[50:]},
		{5, 60, nil},
	}
	for _, c := range cases {
		jobs, total, err := f.s.ListJobs(f.ctx, store.JobFilter{Limit: c.limit, Offset: c.offset, WithDefinition: true})
		f.ok(err, "page")
		var got []int64
		if len(jobs) > 0 {
			got = ids(jobs)
		}
		f.eq(c.want, got, fmt.Sprintf("page limit %d offset %d", c.limit, c.offset))
		if total != 60 {
			f.t.Errorf("page limit %d offset %d: total %d, want 60", c.limit, c.offset, total)
		}
		for _, j := range jobs {
			if j.Definition != "d" || j.OriginalDefinition != "o" {
				f.t.Errorf("job %d: definitions %q/%q with WithDefinition", j.ID, j.Definition, j.OriginalDefinition)
			}
			wantTags := []string(nil)
			if j.Description[len(j.Description)-1]%2 == 0 { // even i ⇔ last digit even
				wantTags = []string{"usb"}
			}
			f.eq(wantTags, j.Tags, fmt.Sprintf("tags of %q", j.Description))
		}
	}
}

func testVisibility(f *fx) {
	for _, g := range []string{"g1", "g2", "g3"} {
		f.group(g)
	}
	pub := f.job(lab.Job{Submitter: "alice", Visibility: lab.VisibilityPublic})
	pers := f.job(lab.Job{Submitter: "alice", Visibility: lab.VisibilityPersonal})
	grp := f.job(lab.Job{Submitter: "alice", Visibility: lab.VisibilityGroup, ViewingGroups: []string{"g1", "g2"}})
	grp3 := f.job(lab.Job{Submitter: "carol", Visibility: lab.VisibilityGroup, ViewingGroups: []string{"g3"}})
	cases := []struct {
		name   string
		viewer *store.Viewer
		want   []int64
	}{
		{"no filter", nil, []int64{grp3, grp, pers, pub}},
		{"anonymous", &store.Viewer{}, []int64{pub}},
		{"anonymous with groups", &store.Viewer{Groups: []string{"g1", "g2", "g3"}}, []int64{pub}},
		{"submitter", &store.Viewer{Username: "alice"}, []int64{grp, pers, pub}},
		{"other user", &store.Viewer{Username: "bob"}, []int64{pub}},
		{"member of some groups", &store.Viewer{Username: "bob", Groups: []string{"g1"}}, []int64{pub}},
		{"member of all groups", &store.Viewer{Username: "bob", Groups: []string{"g2", "g1"}}, []int64{grp, pub}},
		{"member of more groups", &store.Viewer{Username: "bob", Groups: []string{"g1", "g2", "g3"}}, []int64{grp3, grp, pub}},
		{"group member of other's job only", &store.Viewer{Username: "dave", Groups: []string{"g3"}}, []int64{grp3, pub}},
		{"superuser", &store.Viewer{Username: "root", Superuser: true}, []int64{grp3, grp, pers, pub}},
	}
	for _, c := range cases {
		jobs, total, err := f.s.ListJobs(f.ctx, store.JobFilter{VisibleTo: c.viewer})
		f.ok(err, c.name)
		f.eq(c.want, ids(jobs), "visible to "+c.name)
		if total != len(c.want) {
			f.t.Errorf("visible to %s: total %d, want %d", c.name, total, len(c.want))
		}
	}
	// Visibility combines with an id list.
	jobs, _, err := f.s.ListJobs(f.ctx, store.JobFilter{VisibleTo: &store.Viewer{Username: "bob"}, IDs: []int64{pers, pub, grp}})
	f.ok(err, "ids visible to bob")
	f.eq([]int64{pub}, ids(jobs), "ids visible to bob")
	// Visibility combines with other filters.
	jobs, total, err := f.s.ListJobs(f.ctx, store.JobFilter{VisibleTo: &store.Viewer{Username: "bob", Groups: []string{"g1", "g2"}},
		Submitter: "alice", Limit: 1})
	f.ok(err, "combined")
	f.eq([]int64{grp}, ids(jobs), "combined visible page")
	if total != 2 {
		f.t.Errorf("combined: total %d, want 2", total)
	}
	// Deleting a group never widens visibility.
	f.ok(f.s.DeleteGroup(f.ctx, "g2"), "delete g2")
	jobs, _, err = f.s.ListJobs(f.ctx, store.JobFilter{VisibleTo: &store.Viewer{Username: "bob", Groups: []string{"g1"}}})
	f.ok(err, "after group deletion")
	f.eq([]int64{pub}, ids(jobs), "visible after deleting a viewing group")
	f.eq([]string{"g1", "g2"}, f.getJob(grp).ViewingGroups, "job keeps a deleted group's name")
}

func testQueue(f *fx) {
	f.deviceType("qemu")
	f.deviceType("bbb")
	f.worker("w1")
	f.device("qemu-01", "qemu")
	f.tag("usb")
	f.tag("arm")
	q, err := f.s.Queue(f.ctx)
	f.ok(err, "empty queue")
	if len(q) != 0 {
		f.t.Errorf("empty store has a queue: %v", q)
	}
	low := f.job(lab.Job{Priority: 10, RequestedType: "qemu", SubmitTime: base})
	highLate := f.job(lab.Job{Priority: 90, RequestedType: "bbb", SubmitTime: base.Add(time.Hour), Tags: []string{"usb", "arm"},
		Submitter: "bob", RequestedWorker: "w1", QueueTimeout: 2 * time.Hour})
	highEarly := f.job(lab.Job{Priority: 90, RequestedType: "qemu", SubmitTime: base, RequestedDevice: "qemu-01"})
	highEarly2 := f.job(lab.Job{Priority: 90, RequestedType: "qemu", SubmitTime: base, HealthCheck: true})
	scheduled := f.job(lab.Job{Priority: 100, RequestedType: "qemu"})
	f.assign(scheduled, "qemu-01")
	f.job(lab.Job{Priority: 100, RequestedType: "qemu", State: lab.JobFinished, Health: lab.JobHealthCanceled})

	q, err = f.s.Queue(f.ctx)
	f.ok(err, "queue")
	want := []store.QueuedJob{
		{ID: highEarly, Priority: 90, SubmitTime: stored(base), Submitter: "alice", RequestedType: "qemu", RequestedDevice: "qemu-01"},
		{ID: highEarly2, Priority: 90, SubmitTime: stored(base), Submitter: "alice", RequestedType: "qemu", HealthCheck: true},
		{ID: highLate, Priority: 90, SubmitTime: stored(base.Add(time.Hour)), Submitter: "bob", RequestedType: "bbb",
			RequestedWorker: "w1", Tags: []string{"arm", "usb"}, QueueTimeout: 2 * time.Hour},
		{ID: low, Priority: 10, SubmitTime: stored(base), Submitter: "alice", RequestedType: "qemu"},
	}
	f.eq(want, q, "queue: Submitted jobs by priority, submit time, ID")

	// Returned tag slices are the caller's: appending to one job's tags
	// leaves the others alone.
	twoTagged := f.job(lab.Job{Priority: 90, RequestedType: "bbb", SubmitTime: base.Add(time.Hour), Tags: []string{"usb", "arm"}})
	q, err = f.s.Queue(f.ctx)
	f.ok(err, "queue again")
	if len(q) != 5 || q[2].ID != highLate || q[3].ID != twoTagged {
		f.t.Fatalf("queue again: %+v", q)
	}
	_ = append(q[2].Tags, "extra")
	f.eq([]string{"arm", "usb"}, q[3].Tags, "tags of the next job after appending to the previous one's")
}

// filterFixture creates four jobs with metadata and times for the REST
// v0.2 filters: a queued, b and c finished, d running; d was submitted
// first although its id is the highest.
func filterFixture(f *fx) map[string]int64 {
	f.deviceType("qemu")
	for _, d := range []string{"q1", "q2", "q3"} {
		f.device(d, "qemu")
	}
	h := func(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }
	id := map[string]int64{}
	id["a"] = f.job(lab.Job{RequestedType: "qemu", SubmitTime: h(0),
		Metadata: map[string]string{"branch": "release/1.0", "arch": "arm64", "Build.Id": "17", `quote"key`: "x y"}})
	id["b"] = f.job(lab.Job{RequestedType: "qemu", SubmitTime: h(1),
		Metadata: map[string]string{"branch": "main", "arch": "x86_64", "Build.Id": "18"}})
	id["c"] = f.job(lab.Job{RequestedType: "qemu", SubmitTime: h(2),
		Metadata: map[string]string{"branch": "Release/2.0", "arch": "ARM64"}})
	id["d"] = f.job(lab.Job{RequestedType: "qemu", SubmitTime: h(-1)})
	run := func(job int64, device string, start, end int) {
		f.assign(job, device)
		f.move(store.JobTransition{ID: job, From: []lab.JobState{lab.JobScheduled}, To: lab.JobRunning, At: h(start)})
		if end >= 0 {
			f.move(store.JobTransition{ID: job, From: []lab.JobState{lab.JobRunning}, To: lab.JobFinished, At: h(end),
				Health: lab.JobHealthComplete})
		}
	}
	run(id["b"], "q1", 2, 3)
	run(id["c"], "q2", 4, 5)
	run(id["d"], "q3", 6, -1)
	return id
}

func testListJobsFilters(f *fx) {
	id := filterFixture(f)
	a, b, c, d := id["a"], id["b"], id["c"], id["d"]
	h := func(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }
	meta := func(key string, op store.MetaOp, vals ...string) store.JobFilter {
		return store.JobFilter{Metadata: []store.MetadataCond{{Key: key, Op: op, Values: vals}}}
	}
	cases := []struct {
		name   string
		filter store.JobFilter
		want   []int64
	}{
		{"id after", store.JobFilter{IDAfter: a}, []int64{d, c, b}},
		{"id before", store.JobFilter{IDBefore: c}, []int64{b, a}},
		{"id between", store.JobFilter{IDAfter: a, IDBefore: d}, []int64{c, b}},
		{"submitted after (strictly)", store.JobFilter{SubmittedAfter: h(1)}, []int64{c}},
		{"submitted before", store.JobFilter{SubmittedBefore: h(1)}, []int64{d, a}},
		{"started after (strictly)", store.JobFilter{StartedAfter: h(2)}, []int64{d, c}},
		{"started before: not started never matches", store.JobFilter{StartedBefore: h(5)}, []int64{c, b}},
		{"ended after", store.JobFilter{EndedAfter: base}, []int64{c, b}},
		{"ended before", store.JobFilter{EndedBefore: h(4)}, []int64{b}},
		{"time window", store.JobFilter{SubmittedAfter: h(-2), SubmittedBefore: h(2)}, []int64{d, b, a}},
		{"exact", meta("branch", store.MetaExact, "main"), []int64{b}},
		{"exact is case-sensitive", meta("branch", store.MetaExact, "Main"), nil},
		{"iexact", meta("branch", store.MetaIExact, "MAIN"), []int64{b}},
		{"iexact is not a pattern", meta("arch", store.MetaIExact, "x86%"), nil},
		{"startswith", meta("branch", store.MetaStartsWith, "release/"), []int64{a}},
		{"istartswith", meta("branch", store.MetaIStartsWith, "RELEASE/"), []int64{c, a}},
		{"endswith", meta("arch", store.MetaEndsWith, "64"), []int64{c, b, a}},
		{"endswith case", meta("arch", store.MetaEndsWith, "m64"), []int64{a}},
		{"endswith longer than the value", meta("arch", store.MetaEndsWith, "xx86_64"), nil},
		{"iendswith", meta("arch", store.MetaIEndsWith, "M64"), []int64{c, a}},
		{"contains", meta("arch", store.MetaContains, "RM"), []int64{c}},
		{"contains _ literally", meta("arch", store.MetaContains, "_"), []int64{b}},
		{"icontains", meta("arch", store.MetaIContains, "rm"), []int64{c, a}},
		{"icontains _ literally", meta("arch", store.MetaIContains, "6_"), []int64{b}},
		{"icontains % literally", meta("arch", store.MetaIContains, "%"), nil},
		{"in", meta("arch", store.MetaIn, "arm64", "x86_64", "riscv"), []int64{b, a}},
		{"has key", meta("Build.Id", store.MetaHasKey), []int64{b, a}},
		{"no key", meta("Build.Id", store.MetaNoKey), []int64{d, c}},
		{"key with a quote", meta(`quote"key`, store.MetaExact, "x y"), []int64{a}},
		{"value of another key", meta("arch", store.MetaExact, "main"), nil},
		{"missing key", meta("nope", store.MetaIContains, ""), nil},
		{"two conditions", store.JobFilter{Metadata: []store.MetadataCond{
			{Key: "branch", Op: store.MetaIStartsWith, Values: []string{"release"}},
			{Key: "arch", Op: store.MetaExact, Values: []string{"ARM64"}}}}, []int64{c}},
		{"with a state", store.JobFilter{States: []lab.JobState{lab.JobFinished}, Metadata: []store.MetadataCond{
			{Key: "arch", Op: store.MetaIEndsWith, Values: []string{"64"}}}}, []int64{c, b}},
	}
	for _, cs := range cases {
		jobs, total, err := f.s.ListJobs(f.ctx, cs.filter)
		f.ok(err, cs.name)
		var got []int64
		if len(jobs) > 0 {
			got = ids(jobs)
		}
		f.eq(cs.want, got, "filter "+cs.name)
		if total != len(cs.want) {
			f.t.Errorf("filter %s: total %d, want %d", cs.name, total, len(cs.want))
		}
	}
	bad := map[string]store.JobFilter{
		"no key":             meta("", store.MetaExact, "x"),
		"unknown op":         meta("arch", "regex", "x"),
		"in without values":  meta("arch", store.MetaIn),
		"exact with two":     meta("arch", store.MetaExact, "a", "b"),
		"has key with value": meta("arch", store.MetaHasKey, "a"),
		"unknown order":      {Order: "priority"},
	}
	for name, bf := range bad {
		_, _, err := f.s.ListJobs(f.ctx, bf)
		f.is(err, lab.ErrInvalid, name)
	}
}

func testListJobsOrder(f *fx) {
	id := filterFixture(f)
	a, b, c, d := id["a"], id["b"], id["c"], id["d"]
	cases := []struct {
		order store.JobOrder
		want  []int64
	}{
		{store.OrderNewest, []int64{d, c, b, a}},
		{store.OrderIDDesc, []int64{d, c, b, a}},
		{store.OrderID, []int64{a, b, c, d}},
		{store.OrderSubmitTime, []int64{d, a, b, c}},
		{store.OrderSubmitTimeDesc, []int64{c, b, a, d}},
		// Jobs without the time come last either way, by id.
		{store.OrderStartTime, []int64{b, c, d, a}},
		{store.OrderStartTimeDesc, []int64{d, c, b, a}},
		{store.OrderEndTime, []int64{b, c, a, d}},
		{store.OrderEndTimeDesc, []int64{c, b, d, a}},
	}
	for _, cs := range cases {
		jobs, total, err := f.s.ListJobs(f.ctx, store.JobFilter{Order: cs.order})
		f.ok(err, string(cs.order))
		f.eq(cs.want, ids(jobs), fmt.Sprintf("order %q", cs.order))
		if total != 4 {
			f.t.Errorf("order %q: total %d", cs.order, total)
		}
		// A page of an order is a slice of it.
		page, _, err := f.s.ListJobs(f.ctx, store.JobFilter{Order: cs.order, Limit: 2, Offset: 1})
		f.ok(err, string(cs.order)+" page")
		f.eq(cs.want[1:3], ids(page), fmt.Sprintf("order %q, page 2 of 1 from 1", cs.order))
	}
}

// testJobGroup: a multinode group is created in one transaction with
// LAVA's sub ids, reads back whole, lists by target group and queues with
// its group; bad groups change nothing.
func testJobGroup(f *fx) {
	f.deviceType("qemu")
	f.tag("usb")
	member := func(role string, essential bool, tags ...string) lab.Job {
		return lab.Job{Submitter: "alice", SubmitTime: base, Priority: 60, RequestedType: "qemu", Tags: tags,
			Definition: "role: " + role + "\n", OriginalDefinition: "whole submission\n",
			Multinode: &lab.MultinodeJob{TargetGroup: "5d0c1d2e-group", Role: role, GroupSize: 3, Essential: essential,
				SubID: "ignored"}}
	}
	ids, err := f.s.CreateJobGroup(f.ctx, []lab.Job{member("server", true), member("client", false, "usb"), member("client", false)})
	f.ok(err, "create group")
	if len(ids) != 3 || ids[1] <= ids[0] || ids[2] <= ids[1] {
		f.t.Fatalf("group ids %v: want three increasing ids", ids)
	}
	for i, id := range ids {
		j := f.getJob(id)
		want := &lab.MultinodeJob{TargetGroup: "5d0c1d2e-group", SubID: fmt.Sprintf("%d.%d", ids[0], i), Role: "client",
			GroupSize: 3}
		if i == 0 {
			want.Role, want.Essential = "server", true
		}
		f.eq(want, j.Multinode, fmt.Sprintf("member %d of the group", i))
	}
	single := f.job(lab.Job{RequestedType: "qemu"})
	if j := f.getJob(single); j.Multinode != nil {
		f.t.Errorf("a single-node job reads back with a group: %+v", j.Multinode)
	}

	got, n, err := f.s.ListJobs(f.ctx, store.JobFilter{TargetGroup: "5d0c1d2e-group", Order: store.OrderID})
	f.ok(err, "list the group")
	if n != 3 || len(got) != 3 || got[0].ID != ids[0] || got[2].ID != ids[2] || got[1].Multinode == nil {
		f.t.Errorf("list by target group: %d jobs %+v", n, got)
	}
	q, err := f.s.Queue(f.ctx)
	f.ok(err, "queue")
	roles := map[int64]store.QueuedJob{}
	for _, j := range q {
		roles[j.ID] = j
	}
	if j := roles[ids[1]]; j.Group != "5d0c1d2e-group" || j.Role != "client" || j.GroupSize != 3 || len(j.Tags) != 1 {
		f.t.Errorf("queued member: %+v", j)
	}
	if j := roles[single]; j.Group != "" || j.Role != "" || j.GroupSize != 0 {
		f.t.Errorf("queued single-node job has a group: %+v", j)
	}

	// Bad groups: nothing is created.
	_, before, err := f.s.ListJobs(f.ctx, store.JobFilter{})
	f.ok(err, "count jobs")
	bad := member("server", false)
	bad.Multinode = &lab.MultinodeJob{TargetGroup: "other", Role: "server", GroupSize: 2}
	for name, jobs := range map[string][]lab.Job{
		"empty":           nil,
		"not a member":    {member("server", false), {Submitter: "alice", SubmitTime: base, RequestedType: "qemu"}},
		"two groups":      {member("server", false), bad},
		"size mismatch":   {member("server", false), member("client", false)},
		"missing type":    {withType(member("a", false), "nope"), withType(member("b", false), "qemu"), member("c", false)},
		"member no role":  {member("a", false), member("b", false), withRole(member("c", false), "")},
		"member bad prio": {member("a", false), member("b", false), withPriority(member("c", false), 101)},
	} {
		_, err := f.s.CreateJobGroup(f.ctx, jobs)
		if err == nil {
			f.t.Errorf("CreateJobGroup %s: no error", name)
		}
	}
	_, after, err := f.s.ListJobs(f.ctx, store.JobFilter{})
	f.ok(err, "count jobs again")
	if after != before {
		f.t.Errorf("failed group creations left %d jobs behind", after-before)
	}
}

func withType(j lab.Job, t string) lab.Job  { j.RequestedType = t; return j }
func withPriority(j lab.Job, p int) lab.Job { j.Priority = p; return j }
func withRole(j lab.Job, role string) lab.Job {
	m := *j.Multinode
	m.Role = role
	j.Multinode = &m
	return j
}
