package jobdef

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
)

// FuzzParse checks that Parse never panics and always honours its contract:
// either a job satisfying the basic invariants, or an *Errors whose items
// all have a position; and that Strict refuses exactly the jobs with
// warnings, with an error at each warning's place. ServerGenerated accepts
// all Parse accepts, and its sub-jobs say consistently which member of a
// group they are; every multinode job Parse accepts splits (Split) into
// sub-jobs that parse again.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"valid", "invalid", "warnings"} {
		for _, file := range fixtures(f, dir) {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	// Multinode submissions and the sub-jobs Split makes of them.
	splits, err := filepath.Glob("testdata/split/*/*.yaml")
	if err != nil || len(splits) == 0 {
		f.Fatalf("no fixtures in testdata/split: %v", err)
	}
	for _, file := range splits {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(base))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("? [a]\n: b\n"))
	f.Add([]byte("- - - - x\n"))
	f.Add([]byte(strings.Replace(base, "table test", "t\xffe\x00", 1)))
	f.Add([]byte(strings.Replace(base, "job_name: table test", `job_name: "a\0b"`, 1)))
	f.Fuzz(func(t *testing.T, src []byte) {
		job, err := Parse(src)
		server, serverErr := Parse(src, ServerGenerated())
		if err == nil && serverErr != nil {
			t.Fatalf("ServerGenerated refused what Parse accepts: %v", serverErr)
		}
		if serverErr == nil {
			checkMember(t, server)
		}
		if err == nil && job.Protocols.Multinode != nil {
			checkSplit(t, src, job)
		}
		if err == nil {
			if job == nil {
				t.Fatal("nil job and nil error")
			}
			// What is accepted can be stored as text, on either database.
			if err := lab.CheckText("source", string(src)); err != nil {
				t.Fatalf("accepted a source that is not text: %v", err)
			}
			if err := lab.CheckText("job name", job.Name); err != nil {
				t.Fatalf("accepted a job name that is not text: %v", err)
			}
			for k, v := range job.Metadata {
				if lab.CheckText("metadata", k) != nil || lab.CheckText("metadata", v) != nil {
					t.Fatalf("accepted metadata that is not text: %q: %q", k, v)
				}
			}
			if job.Name == "" || job.Timeouts.Job.Duration <= 0 || len(job.Actions) == 0 {
				t.Fatalf("accepted job breaks invariants: %+v", job)
			}
			if (job.Protocols.Multinode == nil) == (job.DeviceType == "") {
				t.Fatalf("device_type %q with multinode %v", job.DeviceType, job.Protocols.Multinode != nil)
			}
			for i, a := range job.Actions {
				if a.Timeout != nil && a.Timeout.Duration > job.Timeouts.Job.Duration {
					t.Fatalf("action %d timeout above job timeout", i)
				}
			}
			for i, w := range job.Warnings {
				if w.Line < 1 || w.Column < 1 || w.Msg == "" {
					t.Fatalf("warning without position or message: %+v", w)
				}
				if i > 0 {
					if p := job.Warnings[i-1]; p.Line > w.Line || (p.Line == w.Line && p.Column > w.Column) {
						t.Fatalf("warnings out of order: %v, %v", p, w)
					}
				}
			}
			strict, err := Parse(src, Strict())
			if len(job.Warnings) == 0 {
				if err != nil {
					t.Fatalf("Strict refused a job without warnings: %v", err)
				}
				return
			}
			var list *Errors
			if !errors.As(err, &list) {
				t.Fatalf("Strict accepted a job with warnings %v: %+v", job.Warnings, strict)
			}
			if len(job.Warnings) < maxErrors {
				if len(list.Items) != len(job.Warnings) {
					t.Fatalf("Strict: %d errors for %d warnings", len(list.Items), len(job.Warnings))
				}
				for i, e := range list.Items {
					if w := job.Warnings[i]; e.Line != w.Line || e.Column != w.Column || e.Path != w.Path {
						t.Fatalf("Strict: error %v is not at warning %v", e, w)
					}
				}
			}
			return
		}
		if job != nil {
			t.Fatal("job returned together with an error")
		}
		var list *Errors
		if !errors.As(err, &list) {
			t.Fatalf("error is %T, want *Errors: %v", err, err)
		}
		if !errors.Is(err, lab.ErrInvalid) {
			t.Fatal("error does not wrap lab.ErrInvalid")
		}
		if len(list.Items) == 0 {
			t.Fatal("empty *Errors")
		}
		for _, it := range list.Items {
			if it.Line < 1 || it.Column < 1 {
				t.Fatalf("item without position: %+v", it)
			}
		}
	})
}

// checkMember asserts what a sub-job (ServerGenerated) satisfies.
func checkMember(t *testing.T, job *Job) {
	t.Helper()
	m := job.Member()
	if m == nil {
		return
	}
	if (job.DeviceType == "") == (m.Connection == "") {
		t.Fatalf("sub-job with device_type %q and connection %q", job.DeviceType, m.Connection)
	}
	if m.TargetGroup == "" || m.Role == "" || m.GroupSize < 1 || m.GroupSize > MaxGroupSize || m.SubID < 0 || m.SubID >= m.GroupSize {
		t.Fatalf("sub-job with Member %+v", m)
	}
	if (m.HostRole == "") != (m.ExpectRole == "") {
		t.Fatalf("sub-job with host_role %q and expect_role %q", m.HostRole, m.ExpectRole)
	}
	for i, a := range job.Actions {
		if len(a.Role) != 1 || a.Role[0] != m.Role {
			t.Fatalf("sub-job action %d has role %v, the job %q", i, a.Role, m.Role)
		}
	}
}

// checkSplit asserts that a multinode submission Parse accepts splits,
// into sub-jobs that parse and say which member of the group they are.
func checkSplit(t *testing.T, src []byte, job *Job) {
	t.Helper()
	subs, err := Split(src, job, "fuzz-group")
	if err != nil {
		// The one way a valid submission cannot be split: aliases that
		// expand beyond the size of a job.
		if strings.Contains(err.Error(), "larger than") {
			return
		}
		t.Fatalf("Split of a valid multinode job: %v", err)
	}
	size := 0
	for _, name := range job.Protocols.Multinode.RoleNames {
		size += job.Protocols.Multinode.Roles[name].Count
	}
	if len(subs) != size {
		t.Fatalf("%d sub-jobs for a group of %d", len(subs), size)
	}
	for i, s := range subs {
		m := s.Job.Member()
		if s.Index != i || m == nil || m.SubID != i || m.GroupSize != size || m.Role != s.Role || m.TargetGroup != "fuzz-group" {
			t.Fatalf("sub-job %d: %+v, Member %+v", i, s, m)
		}
		if len(s.Job.Actions) == 0 {
			t.Fatalf("sub-job %d has no action", i)
		}
		checkMember(t, s.Job)
		again, err := Parse([]byte(s.Definition), ServerGenerated())
		if err != nil || !sameTree(again.root, s.Job.root) {
			t.Fatalf("sub-job %d does not parse again the same: %v", i, err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile("testdata/valid/qemu-tmpfs-tests.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}
