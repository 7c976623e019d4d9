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
