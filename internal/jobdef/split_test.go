package jobdef

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/basalt-lab/basalt/internal/lab"
)

// testGroup is the target group of the tests' splits (LAVA: a UUID).
const testGroup = "5f0c3a52-7d7e-4c1e-9a8b-2f6d1e0c9b41"

// subJobSummary is what the golden members.golden.json holds of each
// sub-job's parsed Job: what the server schedules it by.
type subJobSummary struct {
	Role        string         `json:"role"`
	Index       int            `json:"index"`
	DeviceType  string         `json:"device_type,omitempty"`
	Device      string         `json:"device,omitempty"`
	Worker      string         `json:"worker,omitempty"`
	Tags        []string       `json:"tags,omitempty"`
	Context     map[string]any `json:"context,omitempty"`
	Environment map[string]any `json:"environment,omitempty"`
	Member      *Member        `json:"member"`
	Timeout     *Timeout       `json:"timeout,omitempty"`
	Actions     []string       `json:"actions"`
}

// TestSplitGolden splits each testdata/split/<name>/submission.yaml and
// compares every sub-job's definition with <name>/<sub_id>-<role>.yaml,
// and what its parsed Job says with <name>/members.golden.json (go test
// -update rewrites them).
func TestSplitGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/split/*/submission.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures in testdata/split: %v", err)
	}
	for _, file := range dirs {
		dir := filepath.Dir(file)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			job, err := Parse(src, Strict())
			if err != nil {
				t.Fatalf("Parse:\n%v", err)
			}
			subs, err := Split(src, job, testGroup)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			want := []string{"members.golden.json", "submission.yaml"}
			var summary []subJobSummary
			for i, s := range subs {
				if s.Index != i {
					t.Errorf("sub-job %d has Index %d", i, s.Index)
				}
				name := fmt.Sprintf("%d-%s.yaml", s.Index, s.Role)
				want = append(want, name)
				golden(t, filepath.Join(dir, name), []byte(s.Definition))
				checkSubJob(t, job, s, len(subs))
				summary = append(summary, summarize(s))
			}
			got, err := marshalJSON(summary)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(dir, "members.golden.json"), append(got, '\n'))
			// No golden file is left from an older split.
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var have []string
			for _, e := range entries {
				have = append(have, e.Name())
			}
			slices.Sort(want)
			if diff := cmp.Diff(want, have); diff != "" && !*update {
				t.Errorf("files in %s (-want +got):\n%s", dir, diff)
			}
		})
	}
}

func summarize(s SubJob) subJobSummary {
	j := s.Job
	sum := subJobSummary{Role: s.Role, Index: s.Index, DeviceType: j.DeviceType, Device: j.Device,
		Worker: j.Worker, Tags: j.Tags, Context: j.Context, Environment: j.Environment,
		Member: j.Member(), Timeout: j.Protocols.Multinode.Timeout}
	for _, a := range j.Actions {
		sum.Actions = append(sum.Actions, string(a.Kind))
	}
	return sum
}

// checkSubJob asserts what every sub-job of a submission satisfies.
func checkSubJob(t *testing.T, parent *Job, s SubJob, groupSize int) {
	t.Helper()
	j := s.Job
	m := j.Member()
	if m == nil {
		t.Fatalf("sub-job %d: no Member", s.Index)
	}
	if m.Role != s.Role || m.SubID != s.Index || m.GroupSize != groupSize || m.TargetGroup != testGroup {
		t.Errorf("sub-job %d: Member %+v, want role %s, sub_id %d, group_size %d", s.Index, m, s.Role, s.Index, groupSize)
	}
	role := parent.Protocols.Multinode.Roles[s.Role]
	if j.DeviceType != role.DeviceType || m.Connection != role.Connection || m.HostRole != role.HostRole ||
		m.ExpectRole != role.ExpectRole || m.Request != role.Request || m.Essential != role.Essential ||
		j.Device != role.Device || j.Worker != role.Worker {
		t.Errorf("sub-job %d: %+v, %+v does not match role %+v", s.Index, j, m, role)
	}
	if !cmp.Equal(j.Tags, role.Tags) || !cmp.Equal(j.Context, role.Context) || !cmp.Equal(j.Environment, role.Environment) {
		t.Errorf("sub-job %d: tags %v context %v environment %v, role has %v %v %v",
			s.Index, j.Tags, j.Context, j.Environment, role.Tags, role.Context, role.Environment)
	}
	wantTimeout := parent.Protocols.Multinode.Timeout
	if wantTimeout == nil {
		wantTimeout = role.Timeout
	}
	if !cmp.Equal(j.Protocols.Multinode.Timeout, wantTimeout) {
		t.Errorf("sub-job %d: multinode timeout %v, want %v", s.Index, j.Protocols.Multinode.Timeout, wantTimeout)
	}
	if j.Name != parent.Name || j.Priority != parent.Priority || j.Visibility != parent.Visibility ||
		!cmp.Equal(j.Timeouts, parent.Timeouts) || !cmp.Equal(j.Metadata, parent.Metadata) ||
		!cmp.Equal(j.Secrets, parent.Secrets) || j.RebootToFastboot != parent.RebootToFastboot ||
		!cmp.Equal(j.Notify, parent.Notify, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Pos" }, cmp.Ignore())) {
		t.Errorf("sub-job %d: top-level keys differ from the submission's", s.Index)
	}
	// The actions are the submission's that name the role, in order.
	var want []Action
	for _, a := range parent.Actions {
		if slices.Contains(a.Role, s.Role) {
			want = append(want, a)
		}
	}
	if len(j.Actions) != len(want) {
		t.Fatalf("sub-job %d: %d actions, want %d", s.Index, len(j.Actions), len(want))
	}
	for i, a := range j.Actions {
		if !cmp.Equal(a.Role, []string{s.Role}) {
			t.Errorf("sub-job %d action %d: role %v", s.Index, i, a.Role)
		}
		w := want[i]
		if a.Kind != w.Kind || !cmp.Equal(withoutRole(a.Raw), withoutRole(w.Raw), cmpopts.EquateNaNs()) {
			t.Errorf("sub-job %d action %d differs from the submission's:\n%s", s.Index, i, cmp.Diff(withoutRole(w.Raw), withoutRole(a.Raw), cmpopts.EquateNaNs()))
		}
	}
}

func withoutRole(raw map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range raw {
		if k != "role" {
			out[k] = v
		}
	}
	return out
}

// TestSplitIndexesAcrossRoles: sub_id counts across the whole group, roles
// in submission order (not sorted), instances of a role together.
func TestSplitIndexesAcrossRoles(t *testing.T) {
	src := []byte(`job_name: order
visibility: public
timeouts: {job: {minutes: 5}}
protocols:
  lava-multinode:
    roles:
      zeta: {device_type: qemu, count: 2}
      alpha: {device_type: qemu, count: 0}
      mid: {device_type: qemu, count: 3}
actions:
- command: {name: x, role: [zeta, mid, alpha]}
`)
	job, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := Split(src, job, testGroup)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range subs {
		got = append(got, fmt.Sprintf("%d:%s:%d/%d", s.Index, s.Role, s.Job.Member().SubID, s.Job.Member().GroupSize))
	}
	want := []string{"0:zeta:0/5", "1:zeta:1/5", "2:mid:2/5", "3:mid:3/5", "4:mid:4/5"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := job.Protocols.Multinode.RoleNames; !slices.Equal(got, []string{"zeta", "alpha", "mid"}) {
		t.Errorf("RoleNames %v", got)
	}
}

// TestSplitKeepsIgnoredRoleKeys: a role key Parse ignores (with a warning)
// goes to the sub-job's protocols.lava-multinode, as LAVA copies it, and
// is ignored there again.
func TestSplitKeepsIgnoredRoleKeys(t *testing.T) {
	src := []byte(`job_name: extra
visibility: public
timeouts: {job: {minutes: 5}}
protocols:
  lava-multinode:
    roles:
      a: {device_type: qemu, count: 1, colour: blue}
actions:
- command: {name: x, role: [a]}
`)
	job, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := Split(src, job, testGroup)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(subs[0].Definition, "    colour: blue\n") {
		t.Errorf("colour not kept:\n%s", subs[0].Definition)
	}
	if w := subs[0].Job.Warnings; len(w) != 1 || w[0].Path != "$.protocols.lava-multinode.colour" {
		t.Errorf("warnings %v", w)
	}
	if _, err := Split(src, job, testGroup, Strict()); err == nil {
		t.Error("Split with Strict accepted a sub-job with an ignored key")
	}
}

func TestSplitErrors(t *testing.T) {
	single := []byte(base)
	sj, err := Parse(single)
	if err != nil {
		t.Fatal(err)
	}
	mnSrc := []byte(`job_name: mn
visibility: public
timeouts: {job: {minutes: 5}}
protocols:
  lava-multinode:
    roles:
      a: {device_type: qemu, count: 1}
actions:
- command: {name: x, role: [a]}
`)
	mn, err := Parse(mnSrc)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := Split(mnSrc, mn, testGroup)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		src   []byte
		job   *Job
		group string
		msg   string
	}{
		{"nil job", mnSrc, nil, testGroup, "not a multinode submission"},
		{"single node", single, sj, testGroup, "not a multinode submission"},
		{"a sub-job", []byte(subs[0].Definition), subs[0].Job, testGroup, "not a multinode submission"},
		{"no group", mnSrc, mn, "", "target group"},
		{"long group", mnSrc, mn, strings.Repeat("g", MaxTargetGroup+1), "target group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Split(tt.src, tt.job, tt.group)
			if err == nil || !strings.Contains(err.Error(), tt.msg) || !errors.Is(err, lab.ErrInvalid) {
				t.Errorf("got %v, want an invalid error containing %q", err, tt.msg)
			}
		})
	}
}

// TestSplitTooLarge: a sub-job that would outgrow MaxSourceSize once the
// merge keys it uses are written out is an error, not a truncated job.
func TestSplitTooLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("job_name: big\nvisibility: public\ntimeouts: {job: {minutes: 5}}\n")
	b.WriteString("metadata: &m\n")
	for i := range 900 {
		fmt.Fprintf(&b, "  key-%04d-%s: v\n", i, strings.Repeat("k", 200))
	}
	b.WriteString("protocols:\n  lava-multinode:\n    roles:\n      a: {device_type: qemu, count: 1}\n")
	b.WriteString("actions:\n")
	for i := range 5 {
		fmt.Fprintf(&b, "- command: {name: x, role: [a], extra%d: {<<: *m}}\n", i)
	}
	src := []byte(b.String())
	job, err := Parse(src)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	_, err = Split(src, job, testGroup)
	if err == nil || !strings.Contains(err.Error(), "larger than") || !errors.Is(err, lab.ErrInvalid) {
		t.Fatalf("got %v, want too large", err)
	}
}

// TestSplitAliasesKept: a mapping the submission shares is written once,
// with an anchor, in each sub-job that uses it more than once.
func TestSplitAliasesKept(t *testing.T) {
	src, err := os.ReadFile("testdata/split/values-anchors/submission.yaml")
	if err != nil {
		t.Fatal(err)
	}
	job, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := Split(src, job, testGroup)
	if err != nil {
		t.Fatal(err)
	}
	beta := subs[1].Definition
	if strings.Count(beta, "&id001") != 1 || strings.Count(beta, "*id001") < 1 {
		t.Errorf("the shared rootfs is not written once with an anchor:\n%s", beta)
	}
}
