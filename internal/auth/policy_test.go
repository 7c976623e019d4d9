package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
)

// mustUser builds a user principal or fails the test.
func mustUser(t testing.TB, name string, superuser bool, groups ...string) Principal {
	t.Helper()
	p, err := UserPrincipal(lab.User{Username: name, IsActive: true, IsSuperuser: superuser, Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type namedPrincipal struct {
	name string
	p    Principal
}

// principals is the cast of the policy matrix. Every job in jobs() is
// submitted by alice except job 7 (bob's).
func principals(t testing.TB) []namedPrincipal {
	return []namedPrincipal{
		{"anonymous", Anonymous()},
		{"alice (submitter; lab, ci)", mustUser(t, "alice", false, "lab", "ci")},
		{"bob (other user, no groups)", mustUser(t, "bob", false)},
		{"carol (in all groups: ci, lab, extra)", mustUser(t, "carol", false, "ci", "lab", "extra")},
		{"dave (in some groups: ci)", mustUser(t, "dave", false, "ci")},
		{"root (superuser)", mustUser(t, "root", true)},
		{"worker w1", WorkerPrincipal("w1")},
		{"job token 1", JobPrincipal(1)},
		{"job token 3", JobPrincipal(3)},
		// Hand-built principals: only their kind's fields count.
		{"anonymous with user fields", Principal{Kind: KindAnonymous, Username: "alice", Superuser: true, Groups: []string{"lab", "ci"}}},
		{"worker with superuser fields", Principal{Kind: KindWorker, Worker: "w1", Username: "root", Superuser: true, JobID: 1}},
		// Invalid principals: denied everything.
		{"user without name", Principal{Kind: KindUser, Superuser: true}},
		{"worker without name", Principal{Kind: KindWorker}},
		{"job token 0", Principal{Kind: KindJob}},
		{"job token -1", Principal{Kind: KindJob, JobID: -1}},
		{"unknown kind", Principal{Kind: Kind(99), Username: "root", Superuser: true, Worker: "w1", JobID: 1}},
	}
}

// jobs are the matrix's columns, in this order.
func jobs() []lab.Job {
	return []lab.Job{
		{ID: 1, Submitter: "alice", Visibility: lab.VisibilityPublic},
		{ID: 2, Submitter: "alice", Visibility: lab.VisibilityPersonal},
		{ID: 3, Submitter: "alice", Visibility: lab.VisibilityGroup, ViewingGroups: []string{"lab", "ci"}},
		{ID: 4, Submitter: "alice", Visibility: lab.VisibilityGroup}, // its groups are gone
		{ID: 5, Submitter: "", Visibility: lab.VisibilityPersonal},   // bad data: no submitter
		{ID: 6, Submitter: "alice", Visibility: lab.Visibility(99)},  // unknown visibility
		{ID: 7, Submitter: "bob", Visibility: lab.VisibilityGroup, ViewingGroups: []string{"lab"}},
	}
}

// TestJobPolicyMatrix is the full matrix principal × job × rule. Each
// string has one character per job of jobs(): 1 allowed, 0 denied.
func TestJobPolicyMatrix(t *testing.T) {
	//                                              jobs: 1234567
	want := map[string]struct{ view, cancel, resubmit string }{
		"anonymous":                             {"1000000", "0000000", "0000000"},
		"alice (submitter; lab, ci)":            {"1111011", "1111010", "1111010"},
		"bob (other user, no groups)":           {"1000001", "0000001", "0000001"},
		"carol (in all groups: ci, lab, extra)": {"1010001", "0000000", "0000000"},
		"dave (in some groups: ci)":             {"1000000", "0000000", "0000000"},
		"root (superuser)":                      {"1111111", "1111111", "1111111"},
		"worker w1":                             {"0000000", "0000000", "0000000"},
		"job token 1":                           {"1000000", "0000000", "0000000"},
		"job token 3":                           {"0010000", "0000000", "0000000"},
		"anonymous with user fields":            {"1000000", "0000000", "0000000"},
		"worker with superuser fields":          {"0000000", "0000000", "0000000"},
		"user without name":                     {"0000000", "0000000", "0000000"},
		"worker without name":                   {"0000000", "0000000", "0000000"},
		"job token 0":                           {"0000000", "0000000", "0000000"},
		"job token -1":                          {"0000000", "0000000", "0000000"},
		"unknown kind":                          {"0000000", "0000000", "0000000"},
	}
	bits := func(f func(lab.Job) bool) string {
		var b strings.Builder
		for _, j := range jobs() {
			if f(j) {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
		return b.String()
	}
	for _, np := range principals(t) {
		w, ok := want[np.name]
		if !ok {
			t.Fatalf("no expectation for %q", np.name)
		}
		p := np.p
		if got := bits(func(j lab.Job) bool { return CanViewJob(p, j) }); got != w.view {
			t.Errorf("%s: CanViewJob = %s, want %s", np.name, got, w.view)
		}
		if got := bits(func(j lab.Job) bool { return CanCancelJob(p, j) }); got != w.cancel {
			t.Errorf("%s: CanCancelJob = %s, want %s", np.name, got, w.cancel)
		}
		if got := bits(func(j lab.Job) bool { return CanResubmitJob(p, j) }); got != w.resubmit {
			t.Errorf("%s: CanResubmitJob = %s, want %s", np.name, got, w.resubmit)
		}
	}
}

// TestAllowedMatrix enumerates Operations() × principals against the
// expected table; everything not listed is denied.
func TestAllowedMatrix(t *testing.T) {
	human := []Operation{OpLabRead, OpJobList, OpJobView}
	user := append(slices.Clone(human), OpJobSubmit, OpJobCancel, OpJobResubmit, OpAccountOwn, OpTokenOwn)
	admin := append(slices.Clone(user), OpDeviceTypeWrite, OpAliasWrite, OpTagWrite, OpDeviceWrite,
		OpDeviceSetHealth, OpWorkerWrite, OpUserAdmin, OpTokenAdmin)
	want := map[string][]Operation{
		"anonymous":                             human,
		"alice (submitter; lab, ci)":            user,
		"bob (other user, no groups)":           user,
		"carol (in all groups: ci, lab, extra)": user,
		"dave (in some groups: ci)":             user,
		"root (superuser)":                      admin,
		"worker w1":                             {OpWorkerAct},
		"job token 1":                           {OpJobView, OpJobAct},
		"job token 3":                           {OpJobView, OpJobAct},
		"anonymous with user fields":            human,
		"worker with superuser fields":          {OpWorkerAct},
		"user without name":                     nil,
		"worker without name":                   nil,
		"job token 0":                           nil,
		"job token -1":                          nil,
		"unknown kind":                          nil,
	}
	for _, np := range principals(t) {
		allowed, ok := want[np.name]
		if !ok {
			t.Fatalf("no expectation for %q", np.name)
		}
		for _, op := range Operations() {
			if got, exp := Allowed(np.p, op), slices.Contains(allowed, op); got != exp {
				t.Errorf("Allowed(%s, %s) = %v, want %v", np.name, op, got, exp)
			}
		}
		if Allowed(np.p, "device.explode") {
			t.Errorf("Allowed(%s, unknown operation) = true", np.name)
		}
		if got, exp := CanSubmit(np.p), slices.Contains(allowed, OpJobSubmit); got != exp {
			t.Errorf("CanSubmit(%s) = %v, want %v", np.name, got, exp)
		}
		if got, exp := IsAdmin(np.p), np.name == "root (superuser)"; got != exp {
			t.Errorf("IsAdmin(%s) = %v, want %v", np.name, got, exp)
		}
	}
}

// The object checks must never allow what the operation's gate denies, and
// everything done to a job needs seeing it; AuthorizeJob agrees with the
// Can… functions.
func TestObjectChecksImplyGates(t *testing.T) {
	for _, np := range principals(t) {
		p := np.p
		for _, j := range jobs() {
			checks := []struct {
				op      Operation
				allowed bool
			}{
				{OpJobView, CanViewJob(p, j)},
				{OpJobCancel, CanCancelJob(p, j)},
				{OpJobResubmit, CanResubmitJob(p, j)},
				{OpJobAct, CanActForJob(p, j.ID)},
			}
			for _, c := range checks {
				if c.allowed && !Allowed(p, c.op) {
					t.Errorf("%s: job %d: %s allowed by object check but not by Allowed", np.name, j.ID, c.op)
				}
				if c.allowed && !CanViewJob(p, j) {
					t.Errorf("%s: job %d: %s allowed on an invisible job", np.name, j.ID, c.op)
				}
				if err := AuthorizeJob(p, c.op, j); (err == nil) != c.allowed {
					t.Errorf("%s: job %d: AuthorizeJob(%s) = %v, object check says %v", np.name, j.ID, c.op, err, c.allowed)
				}
			}
		}
		if CanActAsWorker(p, p.Worker) && !Allowed(p, OpWorkerAct) {
			t.Errorf("%s: CanActAsWorker without OpWorkerAct", np.name)
		}
	}
}

func TestRequire(t *testing.T) {
	alice := mustUser(t, "alice", false)
	tests := []struct {
		name string
		p    Principal
		op   Operation
		want error // nil: allowed
	}{
		{"anonymous reads", Anonymous(), OpLabRead, nil},
		{"anonymous submits", Anonymous(), OpJobSubmit, lab.ErrUnauthenticated},
		{"anonymous admin", Anonymous(), OpDeviceWrite, lab.ErrUnauthenticated},
		{"user submits", alice, OpJobSubmit, nil},
		{"user admin", alice, OpDeviceWrite, lab.ErrForbidden},
		{"user acts as worker", alice, OpWorkerAct, lab.ErrForbidden},
		{"superuser admin", mustUser(t, "root", true), OpUserAdmin, nil},
		{"superuser acts as worker", mustUser(t, "root", true), OpWorkerAct, lab.ErrForbidden},
		{"worker submits", WorkerPrincipal("w1"), OpJobSubmit, lab.ErrForbidden},
		{"worker lists jobs", WorkerPrincipal("w1"), OpJobList, lab.ErrForbidden},
		{"job token reads lab", JobPrincipal(1), OpLabRead, lab.ErrForbidden},
		{"invalid principal", Principal{Kind: KindUser}, OpJobSubmit, lab.ErrUnauthenticated},
		{"unknown operation", mustUser(t, "root", true), "device.explode", lab.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Require(tt.p, tt.op)
			if tt.want == nil {
				if err != nil {
					t.Errorf("Require = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Require = %v, want %v", err, tt.want)
			}
			if tt.want == lab.ErrForbidden && errors.Is(err, lab.ErrUnauthenticated) {
				t.Errorf("Require = %v wraps both sentinels", err)
			}
		})
	}
}

func TestAuthorizeJob(t *testing.T) {
	j := jobs()
	public, personal, group, bobs := j[0], j[1], j[2], j[6]
	alice := mustUser(t, "alice", false, "lab", "ci")
	bob := mustUser(t, "bob", false)
	carol := mustUser(t, "carol", false, "ci", "lab")
	tests := []struct {
		name string
		p    Principal
		op   Operation
		job  lab.Job
		want error
	}{
		{"anonymous views public", Anonymous(), OpJobView, public, nil},
		{"anonymous views personal: looks missing", Anonymous(), OpJobView, personal, lab.ErrNotFound},
		{"anonymous cancels public: log in first", Anonymous(), OpJobCancel, public, lab.ErrUnauthenticated},
		{"anonymous cancels personal: log in first", Anonymous(), OpJobCancel, personal, lab.ErrUnauthenticated},
		{"submitter cancels", alice, OpJobCancel, personal, nil},
		{"submitter resubmits", alice, OpJobResubmit, group, nil},
		{"other user views personal: looks missing", bob, OpJobView, personal, lab.ErrNotFound},
		{"other user cancels personal: looks missing", bob, OpJobCancel, personal, lab.ErrNotFound},
		{"other user cancels public: forbidden", bob, OpJobCancel, public, lab.ErrForbidden},
		{"group member views", carol, OpJobView, group, nil},
		{"group member cancels: forbidden", carol, OpJobCancel, group, lab.ErrForbidden},
		{"bob cancels his own job outside his groups", bob, OpJobCancel, bobs, nil},
		{"superuser cancels anything", mustUser(t, "root", true), OpJobCancel, personal, nil},
		{"worker views: forbidden", WorkerPrincipal("w1"), OpJobView, public, lab.ErrForbidden},
		{"job token acts for its job", JobPrincipal(2), OpJobAct, personal, nil},
		{"job token views its job", JobPrincipal(2), OpJobView, personal, nil},
		{"job token acts for another job: looks missing", JobPrincipal(1), OpJobAct, personal, lab.ErrNotFound},
		{"job token cancels its job: forbidden", JobPrincipal(2), OpJobCancel, personal, lab.ErrForbidden},
		{"user acts for job: forbidden", alice, OpJobAct, personal, lab.ErrForbidden},
		{"not a job operation", mustUser(t, "root", true), OpDeviceWrite, public, lab.ErrForbidden},
		{"unknown operation", mustUser(t, "root", true), "job.explode", public, lab.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := AuthorizeJob(tt.p, tt.op, tt.job)
			if tt.want == nil {
				if err != nil {
					t.Errorf("AuthorizeJob = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("AuthorizeJob = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCanManageToken(t *testing.T) {
	alice := mustUser(t, "alice", false)
	root := mustUser(t, "root", true)
	aliceTok := lab.Token{Kind: lab.TokenUser, Owner: "alice"}
	bobTok := lab.Token{Kind: lab.TokenUser, Owner: "bob"}
	workerTok := lab.Token{Kind: lab.TokenWorker, Owner: "alice"} // a worker that happens to be called alice
	jobTok := lab.Token{Kind: lab.TokenJob, JobID: 1}
	tests := []struct {
		name string
		p    Principal
		tok  lab.Token
		want bool
	}{
		{"own token", alice, aliceTok, true},
		{"other user's token", alice, bobTok, false},
		{"worker token named like the user", alice, workerTok, false},
		{"job token", alice, jobTok, false},
		{"superuser, other user's token", root, aliceTok, true},
		{"superuser, worker token", root, workerTok, true},
		{"superuser, job token", root, jobTok, true},
		{"anonymous", Anonymous(), lab.Token{Kind: lab.TokenUser}, false},
		{"anonymous with a name", Principal{Username: "alice"}, aliceTok, false},
		{"worker, its own worker token", WorkerPrincipal("alice"), workerTok, false},
		{"job token, its own token", JobPrincipal(1), jobTok, false},
		{"invalid user, ownerless token", Principal{Kind: KindUser}, lab.Token{Kind: lab.TokenUser}, false},
		{"invalid superuser", Principal{Kind: KindUser, Superuser: true}, aliceTok, false},
	}
	for _, tt := range tests {
		if got := CanManageToken(tt.p, tt.tok); got != tt.want {
			t.Errorf("%s: CanManageToken = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCanActAsWorkerAndForJob(t *testing.T) {
	root := mustUser(t, "root", true)
	workers := []struct {
		name string
		p    Principal
		w    string
		want bool
	}{
		{"own worker", WorkerPrincipal("w1"), "w1", true},
		{"other worker", WorkerPrincipal("w1"), "w2", false},
		{"case differs", WorkerPrincipal("w1"), "W1", false},
		{"superuser (least privilege)", root, "w1", false},
		{"user named like the worker", mustUser(t, "w1", false), "w1", false},
		{"nameless worker", WorkerPrincipal(""), "", false},
		{"job token", JobPrincipal(1), "w1", false},
		{"anonymous", Anonymous(), "", false},
	}
	for _, tt := range workers {
		if got := CanActAsWorker(tt.p, tt.w); got != tt.want {
			t.Errorf("%s: CanActAsWorker = %v, want %v", tt.name, got, tt.want)
		}
	}
	jobsT := []struct {
		name string
		p    Principal
		id   int64
		want bool
	}{
		{"own job", JobPrincipal(7), 7, true},
		{"other job", JobPrincipal(7), 8, false},
		{"superuser (least privilege)", root, 7, false},
		{"worker", WorkerPrincipal("w1"), 7, false},
		{"job 0", JobPrincipal(0), 0, false},
		{"negative job", JobPrincipal(-3), -3, false},
		{"anonymous", Anonymous(), 0, false},
	}
	for _, tt := range jobsT {
		if got := CanActForJob(tt.p, tt.id); got != tt.want {
			t.Errorf("%s: CanActForJob = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestOperationsTable(t *testing.T) {
	all := []Operation{OpLabRead, OpDeviceTypeWrite, OpAliasWrite, OpTagWrite, OpDeviceWrite,
		OpDeviceSetHealth, OpWorkerWrite, OpJobList, OpJobView, OpJobSubmit, OpJobCancel,
		OpJobResubmit, OpUserAdmin, OpAccountOwn, OpTokenOwn, OpTokenAdmin, OpWorkerAct, OpJobAct}
	ops := Operations()
	if !slices.IsSorted(ops) {
		t.Errorf("Operations() not sorted: %v", ops)
	}
	slices.Sort(all)
	if !slices.Equal(ops, all) {
		t.Errorf("Operations() = %v\nwant the declared constants %v", ops, all)
	}
	perObject := []Operation{OpJobView, OpJobCancel, OpJobResubmit, OpTokenOwn, OpWorkerAct, OpJobAct}
	for _, op := range ops {
		r, ok := RuleOf(op)
		if !ok || len(r.Kinds) == 0 {
			t.Errorf("RuleOf(%s) = %+v, %v: want a rule naming some kinds", op, r, ok)
		}
		if r.PerObject != slices.Contains(perObject, op) {
			t.Errorf("RuleOf(%s).PerObject = %v", op, r.PerObject)
		}
		if r.Superuser && !slices.Equal(r.Kinds, []Kind{KindUser}) {
			t.Errorf("RuleOf(%s) requires a superuser but admits kinds %v", op, r.Kinds)
		}
	}
	if _, ok := RuleOf("device.explode"); ok {
		t.Error("RuleOf(unknown) reported ok")
	}
	// RuleOf returns a copy: changing it does not change the policy.
	r, _ := RuleOf(OpJobSubmit)
	r.Kinds[0] = KindAnonymous
	if Allowed(Anonymous(), OpJobSubmit) {
		t.Error("mutating RuleOf's result let anonymous submit")
	}
	ops[0] = "mutated"
	if Operations()[0] == "mutated" {
		t.Error("Operations() shares its slice")
	}
}

func TestUserPrincipal(t *testing.T) {
	groups := []string{"lab", "ci"}
	u := lab.User{Username: "alice", IsActive: true, IsSuperuser: true, Groups: groups}
	p, err := UserPrincipal(u)
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != KindUser || p.Username != "alice" || !p.Superuser || !slices.Equal(p.Groups, groups) {
		t.Errorf("UserPrincipal = %+v", p)
	}
	groups[0] = "admins"
	if p.Groups[0] != "lab" {
		t.Error("UserPrincipal shares the user's group slice")
	}
	for _, bad := range []lab.User{
		{Username: "alice", IsActive: false, IsSuperuser: true},
		{Username: "", IsActive: true},
	} {
		if _, err := UserPrincipal(bad); !errors.Is(err, lab.ErrUnauthenticated) {
			t.Errorf("UserPrincipal(%+v) error = %v, want lab.ErrUnauthenticated", bad, err)
		}
	}
	if (Principal{}).Kind != KindAnonymous || !Allowed(Principal{}, OpLabRead) || Allowed(Principal{}, OpJobSubmit) {
		t.Error("the zero Principal is not an anonymous caller")
	}
}

// viewerSees is the job-listing filter as the store documents it
// (store.JobFilter.VisibleTo), written independently of CanViewJob. An
// empty group list admits no member: "every listed group" is not read
// vacuously.
func viewerSees(v Viewer, j lab.Job) bool {
	if v.Superuser || (v.Username != "" && j.Submitter == v.Username) || j.Visibility == lab.VisibilityPublic {
		return true
	}
	if j.Visibility != lab.VisibilityGroup || v.Username == "" || len(j.ViewingGroups) == 0 {
		return false
	}
	for _, g := range j.ViewingGroups {
		if !slices.Contains(v.Groups, g) {
			return false
		}
	}
	return true
}

func TestViewer(t *testing.T) {
	for _, np := range principals(t) {
		v, ok := np.p.Viewer()
		wantOK := np.p.Kind == KindAnonymous || (np.p.Kind == KindUser && np.p.Username != "")
		if ok != wantOK {
			t.Errorf("%s: Viewer ok = %v, want %v", np.name, ok, wantOK)
			continue
		}
		if !ok {
			if v.Username != "" || v.Superuser || v.Groups != nil {
				t.Errorf("%s: refused Viewer is not zero: %+v", np.name, v)
			}
			continue
		}
		if np.p.Kind == KindAnonymous && (v.Username != "" || v.Superuser || len(v.Groups) != 0) {
			t.Errorf("%s: anonymous Viewer carries identity: %+v", np.name, v)
		}
		if np.p.Kind == KindUser && (v.Username != np.p.Username || v.Superuser != np.p.Superuser || !slices.Equal(v.Groups, np.p.Groups)) {
			t.Errorf("%s: Viewer = %+v", np.name, v)
		}
		// The listing filter and CanViewJob agree on every job.
		for _, j := range jobs() {
			if viewerSees(v, j) != CanViewJob(np.p, j) {
				t.Errorf("%s: job %d: listing filter says %v, CanViewJob %v", np.name, j.ID, viewerSees(v, j), CanViewJob(np.p, j))
			}
		}
	}
	p := mustUser(t, "alice", false, "lab")
	v, _ := p.Viewer()
	v.Groups[0] = "admins"
	if p.Groups[0] != "lab" {
		t.Error("Viewer shares the principal's group slice")
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{Anonymous().String(), "anonymous"},
		{mustUser(t, "alice", false).String(), "alice"},
		{WorkerPrincipal("w1").String(), "worker:w1"},
		{JobPrincipal(42).String(), "job:42"},
		{Principal{Kind: Kind(9)}.String(), "Kind(9)"},
		{KindAnonymous.String(), "anonymous"},
		{KindUser.String(), "user"},
		{KindWorker.String(), "worker"},
		{KindJob.String(), "job"},
		{Kind(-1).String(), "Kind(-1)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
