package lavarpc_test

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// The figures the issue asks for, on SQLite (the default store):
//
//	go test -run '^$' -bench . -benchtime 200x ./internal/api/lavarpc/
//
// BenchmarkSystemVersion and BenchmarkJobsList are a warm call's latency
// through HTTP and the codec (LAVA: 28 and 33 ms on this machine's kind),
// BenchmarkSubmit sequential XML-RPC submissions (LAVA: 14.8/s), and
// BenchmarkLavacliJobsList the whole lavacli process against its floor
// (BenchmarkLavacliFloor: the same interpreter and imports, no call).

func BenchmarkSystemVersion(b *testing.B) {
	e := newEnv(b, labtest.Backends()[0])
	for b.Loop() {
		if _, err := e.call(alice, "system.version"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchJobs submits n more jobs of alice's.
func benchJobs(e *env, n int) {
	for i := range n {
		e.Submit(alice, labtest.Job(fmt.Sprintf("bench %d", i), "qemu", ""))
	}
}

func BenchmarkJobsList(b *testing.B) {
	e := newEnv(b, labtest.Backends()[0])
	benchJobs(e, 200)
	for b.Loop() {
		v, err := e.call(alice, "scheduler.jobs.list")
		if err != nil {
			b.Fatal(err)
		}
		if l, _ := v.([]any); len(l) != 25 {
			b.Fatalf("jobs.list gave %d jobs, want LAVA's default page of 25", len(l))
		}
	}
}

func BenchmarkSubmit(b *testing.B) {
	e := newEnv(b, labtest.Backends()[0])
	def := labtest.Job("submitted over XML-RPC", "qemu", "")
	for b.Loop() {
		if _, err := e.call(alice, "scheduler.jobs.submit", def); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

func BenchmarkLavacliJobsList(b *testing.B) {
	e := newEnv(b, labtest.Backends()[0])
	benchJobs(e, 200)
	for b.Loop() {
		out, err := e.lavacli(alice, "jobs", "list")
		if err != nil || len(out) == 0 {
			b.Fatalf("lavacli jobs list: %v %q", err, out)
		}
	}
}

func BenchmarkLavacliFloor(b *testing.B) {
	bin, err := exec.LookPath("lavacli")
	if err != nil {
		b.Fatalf("lavacli (Debian's package lavacli): %v", err)
	}
	for b.Loop() {
		if out, err := exec.Command(bin, "--version").CombinedOutput(); err != nil {
			b.Fatalf("lavacli --version: %v %s", err, out)
		}
	}
}
