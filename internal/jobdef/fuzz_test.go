package jobdef

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
)

// FuzzParse checks that Parse never panics and always honours its contract:
// either a job satisfying the basic invariants, or an *Errors whose items
// all have a position; and that Strict refuses exactly the jobs with
// warnings, with an error at each warning's place.
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
	f.Add([]byte(base))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("? [a]\n: b\n"))
	f.Add([]byte("- - - - x\n"))
	f.Add([]byte(strings.Replace(base, "table test", "t\xffe\x00", 1)))
	f.Add([]byte(strings.Replace(base, "job_name: table test", `job_name: "a\0b"`, 1)))
	f.Fuzz(func(t *testing.T, src []byte) {
		job, err := Parse(src)
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
