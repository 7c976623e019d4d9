package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Opener returns a fresh, empty store for one test. Run closes it when the
// test ends (Close must therefore tolerate a second call if the opener
// also registers one).
type Opener func(t *testing.T) store.Store

// behaviour is one conformance test; it gets its own fresh store.
type behaviour struct {
	name string
	run  func(f *fx)
}

// behaviours lists every test of the suite.
var behaviours = []behaviour{
	{"DeviceTypes/CRUD", testDeviceTypeCRUD},
	{"DeviceTypes/Errors", testDeviceTypeErrors},
	{"DeviceTypes/DeleteInUse", testDeviceTypeDeleteInUse},
	{"Templates/CRUD", testTemplatesCRUD},
	{"Templates/Errors", testTemplatesErrors},
	{"Templates/Large", testTemplatesLarge},
	{"Templates/DeleteType", testTemplatesDeleteType},
	{"Templates/InTx", testTemplatesInTx},
	{"Coordinator/CRUD", testCoordinatorCRUD},
	{"Coordinator/Bytes", testCoordinatorBytes},
	{"Coordinator/Errors", testCoordinatorErrors},
	{"Coordinator/InTx", testCoordinatorInTx},
	{"Coordinator/Concurrent", testCoordinatorConcurrent},
	{"Coordinator/Versions", testCoordinatorVersions},
	{"Leases/Acquire", testLeaseAcquire},
	{"Leases/Release", testLeaseRelease},
	{"Leases/Errors", testLeaseErrors},
	{"Leases/InTx", testLeaseInTx},
	{"Race/Leases", testRaceLeases},
	{"Aliases", testAliases},
	{"Aliases/Resolve", testResolveDeviceType},
	{"Tags", testTags},
	{"Tags/DeleteDetaches", testTagDeleteDetaches},
	{"Workers/CRUD", testWorkerCRUD},
	{"Workers/Status", testWorkerStatus},
	{"Workers/Touch", testWorkerTouch},
	{"Workers/Delete", testWorkerDelete},
	{"Devices/CRUD", testDeviceCRUD},
	{"Devices/Errors", testDeviceErrors},
	{"Devices/List", testDeviceList},
	{"Devices/Health", testDeviceHealth},
	{"Devices/Delete", testDeviceDelete},
	{"Jobs/RoundTrip", testJobRoundTrip},
	{"Jobs/Errors", testJobErrors},
	{"Jobs/List", testListJobs},
	{"Jobs/ListPaging", testListJobsPaging},
	{"Jobs/ListTimes", testListJobsTimes},
	{"Jobs/ListFilters", testListJobsFilters},
	{"Jobs/ListOrder", testListJobsOrder},
	{"Jobs/Visibility", testVisibility},
	{"Jobs/Queue", testQueue},
	{"Jobs/Group", testJobGroup},
	{"Reservations/RoundTrip", testReservationRoundTrip},
	{"Reservations/Update", testReservationUpdate},
	{"Reservations/Errors", testReservationErrors},
	{"Reservations/Race", testReservationRace},
	{"Transition/Lifecycle", testTransitionLifecycle},
	{"Transition/HealthCheck", testTransitionHealthCheck},
	{"Transition/Canceling", testTransitionCanceling},
	{"Transition/CancelQueued", testTransitionCancelQueued},
	{"Transition/Conflicts", testTransitionConflicts},
	{"Transition/Multinode", testTransitionMultinode},
	{"HealthCheckInfo", testHealthCheckInfo},
	{"Users", testUsers},
	{"Groups", testGroups},
	{"Tokens", testTokens},
	{"Tokens/Errors", testTokenErrors},
	{"Results/RoundTrip", testResultsRoundTrip},
	{"Results/Queries", testResultsQueries},
	{"Results/Suites", testResultsSuites},
	{"Results/Idempotent", testResultsIdempotent},
	{"Results/Errors", testResultsErrors},
	{"Results/InTx", testResultsInTx},
	{"Results/Concurrent", testResultsConcurrent},
	{"Results/History", testResultsHistory},
	{"Notify/RoundTrip", testDeliveriesRoundTrip},
	{"Notify/Claim", testDeliveriesClaim},
	{"Notify/Record", testDeliveriesRecord},
	{"Notify/InTx", testDeliveriesInTx},
	{"Notify/LatestFinishedJob", testLatestFinishedJob},
	{"Race/ClaimDeliveries", testRaceClaimDeliveries},
	{"Input/Text", testInputText},
	{"Input/Ranges", testInputRanges},
	{"Console/Input", testConsoleInput},
	{"Race/ConsoleInput", testRaceConsoleInput},
	{"Ping", testPing},
	{"InTx/Commit", testInTxCommit},
	{"InTx/Rollback", testInTxRollback},
	{"Race/OneJobManyDevices", testRaceOneJobManyDevices},
	{"Race/ManyJobsOneDevice", testRaceManyJobsOneDevice},
}

// Run runs every behaviour of the store.Store contract as a parallel
// subtest of t, each on a fresh store from open.
func Run(t *testing.T, open Opener) {
	for _, b := range behaviours {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close store: %v", err)
				}
			})
			b.run(&fx{t: t, ctx: t.Context(), s: s})
		})
	}
}

// fx is one test's fixture: its store and helpers that fail the test on
// unexpected errors.
type fx struct {
	t   *testing.T
	ctx context.Context
	s   store.Store
}

// ok fails the test at once when err is set.
func (f *fx) ok(err error, what string) {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
}

// is checks that err wraps target.
func (f *fx) is(err, target error, what string) {
	f.t.Helper()
	if !errors.Is(err, target) {
		f.t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

// eq reports a difference between want and got.
func (f *fx) eq(want, got any, what string) {
	f.t.Helper()
	if d := cmp.Diff(want, got, cmpTime); d != "" {
		f.t.Errorf("%s: mismatch (-want +got):\n%s", what, d)
	}
}

// cmpTime compares times by instant and location: the store must return
// UTC times.
var cmpTime = cmp.Comparer(func(a, b time.Time) bool {
	return a.Equal(b) && a.Location() == b.Location()
})

// base is a submit time with nanoseconds and a non-UTC zone: the store
// keeps microseconds in UTC.
var base = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))

// stored is t as the store returns it.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// between checks that a store-assigned time lies within [lo, hi] (both
// taken around the call) and is UTC with microsecond precision.
func (f *fx) between(got, lo, hi time.Time, what string) {
	f.t.Helper()
	if got.Before(lo.Truncate(time.Microsecond)) || got.After(hi) {
		f.t.Errorf("%s: time %v not within [%v, %v]", what, got, lo, hi)
	}
	if got.Location() != time.UTC || got.Nanosecond()%1000 != 0 {
		f.t.Errorf("%s: time %v is not UTC with microsecond precision", what, got)
	}
}

func (f *fx) deviceType(name string) lab.DeviceType {
	f.t.Helper()
	dt := lab.DeviceType{Name: name, HealthFrequency: 24}
	f.ok(f.s.CreateDeviceType(f.ctx, dt), "create device type "+name)
	return dt
}

func (f *fx) worker(name string) {
	f.t.Helper()
	f.ok(f.s.CreateWorker(f.ctx, lab.Worker{Name: name, State: lab.WorkerOnline}), "create worker "+name)
}

func (f *fx) tag(name string) {
	f.t.Helper()
	f.ok(f.s.CreateTag(f.ctx, lab.Tag{Name: name}), "create tag "+name)
}

func (f *fx) group(name string) {
	f.t.Helper()
	f.ok(f.s.CreateGroup(f.ctx, name), "create group "+name)
}

// device creates a Good device of type dt (which must exist).
func (f *fx) device(hostname, dt string, tags ...string) {
	f.t.Helper()
	f.ok(f.s.CreateDevice(f.ctx, lab.Device{Hostname: hostname, DeviceType: dt, Health: lab.DeviceGood, Tags: tags}),
		"create device "+hostname)
}

// job creates a Submitted public job from j, filling in what it leaves zero.
func (f *fx) job(j lab.Job) int64 {
	f.t.Helper()
	if j.Submitter == "" {
		j.Submitter = "alice"
	}
	if j.SubmitTime.IsZero() {
		j.SubmitTime = base
	}
	if j.Priority == 0 {
		j.Priority = lab.PriorityMedium
	}
	id, err := f.s.CreateJob(f.ctx, j)
	f.ok(err, "create job")
	if id <= 0 {
		f.t.Fatalf("create job: id %d", id)
	}
	return id
}

func (f *fx) getJob(id int64) lab.Job {
	f.t.Helper()
	j, err := f.s.GetJob(f.ctx, id)
	f.ok(err, "get job")
	return j
}

func (f *fx) getDevice(hostname string) lab.Device {
	f.t.Helper()
	d, err := f.s.GetDevice(f.ctx, hostname)
	f.ok(err, "get device "+hostname)
	return d
}

// move applies a transition that must succeed.
func (f *fx) move(t store.JobTransition) lab.Job {
	f.t.Helper()
	j, err := f.s.TransitionJob(f.ctx, t)
	f.ok(err, "transition job")
	return j
}

// assign moves a Submitted job to Scheduled on device.
func (f *fx) assign(id int64, device string) lab.Job {
	f.t.Helper()
	return f.move(store.JobTransition{ID: id, From: []lab.JobState{lab.JobSubmitted}, To: lab.JobScheduled, Device: device})
}

// wantDevice checks a device's state and current job.
func (f *fx) wantDevice(hostname string, state lab.DeviceState, job int64) {
	f.t.Helper()
	d := f.getDevice(hostname)
	if d.State != state || d.CurrentJob != job {
		f.t.Errorf("device %s is %s with job %d, want %s with job %d", hostname, d.State, d.CurrentJob, state, job)
	}
}

func ids(jobs []lab.Job) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}
