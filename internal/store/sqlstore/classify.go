package sqlstore

import (
	"context"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// classified is the Store's store.Queries outside transactions: each
// method calls the same one of queries and classifies its error
// (classify), so that a full disk or a database that went away reaches
// the app as lab.ErrStorageFull or lab.ErrDatabaseUnavailable, whichever
// query met it. Writes are classified by runTx as well; reads only here.
// A method added to store.Queries must be added here too (the compiler
// says so: classified must implement store.Queries).
type classified struct{ q *queries }

var _ store.Queries = classified{}

// c0, c1 and c2 classify the error of a call's results.
func c0(err error) error                             { return classify(err) }
func c1[A any](a A, err error) (A, error)            { return a, classify(err) }
func c2[A, B any](a A, b B, err error) (A, B, error) { return a, b, classify(err) }

func (c classified) CreateDeviceType(ctx context.Context, dt lab.DeviceType) error {
	return c0(c.q.CreateDeviceType(ctx, dt))
}

func (c classified) UpdateDeviceType(ctx context.Context, dt lab.DeviceType) error {
	return c0(c.q.UpdateDeviceType(ctx, dt))
}

func (c classified) GetDeviceType(ctx context.Context, name string) (lab.DeviceType, error) {
	return c1(c.q.GetDeviceType(ctx, name))
}

func (c classified) ListDeviceTypes(ctx context.Context) ([]lab.DeviceType, error) {
	return c1(c.q.ListDeviceTypes(ctx))
}

func (c classified) DeleteDeviceType(ctx context.Context, name string) error {
	return c0(c.q.DeleteDeviceType(ctx, name))
}

func (c classified) CreateAlias(ctx context.Context, a lab.Alias) error {
	return c0(c.q.CreateAlias(ctx, a))
}

func (c classified) DeleteAlias(ctx context.Context, name string) error {
	return c0(c.q.DeleteAlias(ctx, name))
}

func (c classified) ListAliases(ctx context.Context) ([]lab.Alias, error) {
	return c1(c.q.ListAliases(ctx))
}

func (c classified) ResolveDeviceType(ctx context.Context, name string) (lab.DeviceType, error) {
	return c1(c.q.ResolveDeviceType(ctx, name))
}

func (c classified) SetDeviceTemplate(ctx context.Context, name, text string) error {
	return c0(c.q.SetDeviceTemplate(ctx, name, text))
}

func (c classified) GetDeviceTemplate(ctx context.Context, name string) (lab.DeviceTemplate, error) {
	return c1(c.q.GetDeviceTemplate(ctx, name))
}

func (c classified) ListDeviceTemplates(ctx context.Context) ([]lab.DeviceTemplate, error) {
	return c1(c.q.ListDeviceTemplates(ctx))
}

func (c classified) DeleteDeviceTemplate(ctx context.Context, name string) error {
	return c0(c.q.DeleteDeviceTemplate(ctx, name))
}

func (c classified) SaveCoordinatorGroup(ctx context.Context, name string, state []byte) error {
	return c0(c.q.SaveCoordinatorGroup(ctx, name, state))
}

func (c classified) ListCoordinatorGroups(ctx context.Context) (map[string][]byte, error) {
	return c1(c.q.ListCoordinatorGroups(ctx))
}

func (c classified) DeleteCoordinatorGroup(ctx context.Context, name string) error {
	return c0(c.q.DeleteCoordinatorGroup(ctx, name))
}

func (c classified) GetCoordinatorGroup(ctx context.Context, name string) ([]byte, int64, error) {
	state, ver, err := c.q.GetCoordinatorGroup(ctx, name)
	return state, ver, classify(err)
}

func (c classified) SaveCoordinatorGroupIf(ctx context.Context, name string, state []byte, version int64) (int64, error) {
	return c1(c.q.SaveCoordinatorGroupIf(ctx, name, state, version))
}

func (c classified) DeleteCoordinatorGroupIf(ctx context.Context, name string, version int64) error {
	return c0(c.q.DeleteCoordinatorGroupIf(ctx, name, version))
}

func (c classified) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (lab.Lease, error) {
	return c1(c.q.AcquireLease(ctx, name, holder, now, ttl))
}

func (c classified) ReleaseLease(ctx context.Context, name, holder string) error {
	return c0(c.q.ReleaseLease(ctx, name, holder))
}

func (c classified) GetLease(ctx context.Context, name string) (lab.Lease, error) {
	return c1(c.q.GetLease(ctx, name))
}

func (c classified) CreateTag(ctx context.Context, t lab.Tag) error { return c0(c.q.CreateTag(ctx, t)) }

func (c classified) GetTag(ctx context.Context, name string) (lab.Tag, error) {
	return c1(c.q.GetTag(ctx, name))
}

func (c classified) ListTags(ctx context.Context) ([]lab.Tag, error) { return c1(c.q.ListTags(ctx)) }

func (c classified) DeleteTag(ctx context.Context, name string) error {
	return c0(c.q.DeleteTag(ctx, name))
}

func (c classified) CreateWorker(ctx context.Context, w lab.Worker) error {
	return c0(c.q.CreateWorker(ctx, w))
}

func (c classified) GetWorker(ctx context.Context, name string) (lab.Worker, error) {
	return c1(c.q.GetWorker(ctx, name))
}

func (c classified) ListWorkers(ctx context.Context) ([]lab.Worker, error) {
	return c1(c.q.ListWorkers(ctx))
}

func (c classified) UpdateWorker(ctx context.Context, w lab.Worker) error {
	return c0(c.q.UpdateWorker(ctx, w))
}

func (c classified) SetWorkerStatus(ctx context.Context, name string, state lab.WorkerState, health lab.WorkerHealth, actor, reason string) (lab.WorkerTransition, error) {
	return c1(c.q.SetWorkerStatus(ctx, name, state, health, actor, reason))
}

func (c classified) TouchWorker(ctx context.Context, name string, at time.Time, version string) error {
	return c0(c.q.TouchWorker(ctx, name, at, version))
}

func (c classified) WorkerHistory(ctx context.Context, name string, limit int) ([]lab.WorkerTransition, error) {
	return c1(c.q.WorkerHistory(ctx, name, limit))
}

func (c classified) DeleteWorker(ctx context.Context, name string) error {
	return c0(c.q.DeleteWorker(ctx, name))
}

func (c classified) CreateDevice(ctx context.Context, d lab.Device) error {
	return c0(c.q.CreateDevice(ctx, d))
}

func (c classified) GetDevice(ctx context.Context, hostname string) (lab.Device, error) {
	return c1(c.q.GetDevice(ctx, hostname))
}

func (c classified) ListDevices(ctx context.Context, f store.DeviceFilter) ([]lab.Device, error) {
	return c1(c.q.ListDevices(ctx, f))
}

func (c classified) UpdateDevice(ctx context.Context, d lab.Device) error {
	return c0(c.q.UpdateDevice(ctx, d))
}

func (c classified) SetDeviceHealth(ctx context.Context, hostname string, health lab.DeviceHealth, actor, reason string, job int64) (lab.DeviceTransition, error) {
	return c1(c.q.SetDeviceHealth(ctx, hostname, health, actor, reason, job))
}

func (c classified) DeviceHistory(ctx context.Context, hostname string, limit int) ([]lab.DeviceTransition, error) {
	return c1(c.q.DeviceHistory(ctx, hostname, limit))
}

func (c classified) DeleteDevice(ctx context.Context, hostname string) error {
	return c0(c.q.DeleteDevice(ctx, hostname))
}

func (c classified) CreateJob(ctx context.Context, j lab.Job) (int64, error) {
	return c1(c.q.CreateJob(ctx, j))
}

func (c classified) CreateJobGroup(ctx context.Context, jobs []lab.Job) ([]int64, error) {
	return c1(c.q.CreateJobGroup(ctx, jobs))
}

func (c classified) GetJob(ctx context.Context, id int64) (lab.Job, error) {
	return c1(c.q.GetJob(ctx, id))
}

func (c classified) ListJobs(ctx context.Context, f store.JobFilter) ([]lab.Job, int, error) {
	return c2(c.q.ListJobs(ctx, f))
}

func (c classified) Queue(ctx context.Context) ([]store.QueuedJob, error) { return c1(c.q.Queue(ctx)) }

func (c classified) TransitionJob(ctx context.Context, t store.JobTransition) (lab.Job, error) {
	return c1(c.q.TransitionJob(ctx, t))
}

func (c classified) UpdateReservation(ctx context.Context, id int64, from, to lab.Reservation) error {
	return c0(c.q.UpdateReservation(ctx, id, from, to))
}

func (c classified) HealthCheckInfo(ctx context.Context) (map[string]store.HealthInfo, error) {
	return c1(c.q.HealthCheckInfo(ctx))
}

func (c classified) CreateUser(ctx context.Context, u lab.User) (int64, error) {
	return c1(c.q.CreateUser(ctx, u))
}

func (c classified) GetUser(ctx context.Context, username string) (lab.User, error) {
	return c1(c.q.GetUser(ctx, username))
}

func (c classified) ListUsers(ctx context.Context) ([]lab.User, error) { return c1(c.q.ListUsers(ctx)) }

func (c classified) UpdateUser(ctx context.Context, u lab.User) error {
	return c0(c.q.UpdateUser(ctx, u))
}

func (c classified) DeleteUser(ctx context.Context, username string) error {
	return c0(c.q.DeleteUser(ctx, username))
}

func (c classified) CreateGroup(ctx context.Context, name string) error {
	return c0(c.q.CreateGroup(ctx, name))
}

func (c classified) GetGroup(ctx context.Context, name string) (lab.Group, error) {
	return c1(c.q.GetGroup(ctx, name))
}

func (c classified) ListGroups(ctx context.Context) ([]lab.Group, error) {
	return c1(c.q.ListGroups(ctx))
}

func (c classified) DeleteGroup(ctx context.Context, name string) error {
	return c0(c.q.DeleteGroup(ctx, name))
}

func (c classified) AddGroupMember(ctx context.Context, group, username string) error {
	return c0(c.q.AddGroupMember(ctx, group, username))
}

func (c classified) RemoveGroupMember(ctx context.Context, group, username string) error {
	return c0(c.q.RemoveGroupMember(ctx, group, username))
}

func (c classified) CreateToken(ctx context.Context, t lab.Token) (int64, error) {
	return c1(c.q.CreateToken(ctx, t))
}

func (c classified) TokenByHash(ctx context.Context, hash []byte) (lab.Token, error) {
	return c1(c.q.TokenByHash(ctx, hash))
}

func (c classified) ListTokens(ctx context.Context, kind lab.TokenKind, owner string) ([]lab.Token, error) {
	return c1(c.q.ListTokens(ctx, kind, owner))
}

func (c classified) DeleteToken(ctx context.Context, id int64) error {
	return c0(c.q.DeleteToken(ctx, id))
}

func (c classified) TouchToken(ctx context.Context, id int64, at time.Time) error {
	return c0(c.q.TouchToken(ctx, id, at))
}

func (c classified) AddTestCases(ctx context.Context, jobID int64, cases []lab.TestCase, lines int) (int, error) {
	return c1(c.q.AddTestCases(ctx, jobID, cases, lines))
}

func (c classified) ResultsIngested(ctx context.Context, jobID int64) (int, error) {
	return c1(c.q.ResultsIngested(ctx, jobID))
}

func (c classified) ListTestCases(ctx context.Context, f store.CaseFilter) ([]lab.TestCase, int, error) {
	return c2(c.q.ListTestCases(ctx, f))
}

func (c classified) ListTestSuites(ctx context.Context, jobID int64) ([]lab.SuiteSummary, error) {
	return c1(c.q.ListTestSuites(ctx, jobID))
}

func (c classified) CaseHistory(ctx context.Context, f store.HistoryFilter) ([]lab.TestCase, int, error) {
	return c2(c.q.CaseHistory(ctx, f))
}

func (c classified) AddDeliveries(ctx context.Context, ds []lab.Delivery) ([]int64, error) {
	return c1(c.q.AddDeliveries(ctx, ds))
}

func (c classified) ListDeliveries(ctx context.Context, jobID int64) ([]lab.Delivery, error) {
	return c1(c.q.ListDeliveries(ctx, jobID))
}

func (c classified) ClaimDeliveries(ctx context.Context, cl store.DeliveryClaim) ([]lab.Delivery, error) {
	return c1(c.q.ClaimDeliveries(ctx, cl))
}

func (c classified) RecordDeliveryAttempt(ctx context.Context, r store.DeliveryOutcome) (lab.Delivery, error) {
	return c1(c.q.RecordDeliveryAttempt(ctx, r))
}

func (c classified) ReleaseDeliveries(ctx context.Context, claim string) error {
	return c0(c.q.ReleaseDeliveries(ctx, claim))
}

func (c classified) NextDeliveryDue(ctx context.Context) (time.Time, error) {
	return c1(c.q.NextDeliveryDue(ctx))
}

func (c classified) LatestFinishedJob(ctx context.Context, f store.PreviousJobFilter) (lab.Job, error) {
	return c1(c.q.LatestFinishedJob(ctx, f))
}

func (c classified) AppendConsoleInput(ctx context.Context, in lab.ConsoleInput) (lab.ConsoleInput, error) {
	return c1(c.q.AppendConsoleInput(ctx, in))
}

func (c classified) ConsoleInputAfter(ctx context.Context, jobID, seq int64, limit int) ([]lab.ConsoleInput, error) {
	return c1(c.q.ConsoleInputAfter(ctx, jobID, seq, limit))
}

func (c classified) LastConsoleInput(ctx context.Context, jobID int64) (int64, error) {
	return c1(c.q.LastConsoleInput(ctx, jobID))
}

func (c classified) DeleteConsoleInput(ctx context.Context, jobID int64) error {
	return c0(c.q.DeleteConsoleInput(ctx, jobID))
}
