package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

// resultsChunk returns a journal chunk of n lines of which every tenth is
// a results record (suite "0_bench", case named after its position) when
// withResults, and the others are target output.
func resultsChunk(tb testing.TB, n, from int, withResults bool) []byte {
	tb.Helper()
	var out []byte
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for i := range n {
		rec := wp.Record{Time: at, Level: wp.LevelTarget, Msg: wp.TextMsg(fmt.Sprintf("console output line %d of the bench job", from+i))}
		if withResults && i%10 == 9 {
			rec = wp.Record{Time: at, Level: wp.LevelResults,
				Msg: []byte(fmt.Sprintf(`{"definition":"0_bench","case":"case-%d","result":"pass","measurement":"%d.5","units":"ms"}`, from+i, i))}
		}
		b, err := wp.EncodeRecord(rec)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// BenchmarkAppendLogResults appends chunks of 1,000 journal lines holding
// 100 results records (or none) to a running job's log through
// App.AppendLog, as the worker link does, and reports chunks (and lines)
// per second and this process's CPU time per chunk.
func BenchmarkAppendLogResults(b *testing.B) {
	for _, be := range labtest.Backends() {
		for _, n := range []int{100, 0} {
			b.Run(fmt.Sprintf("%s/results=%d", be.Name, n), func(b *testing.B) { benchAppend(b, be, n > 0) })
		}
	}
}

func benchAppend(b *testing.B, be labtest.Backend, withResults bool) {
	ctx := context.Background()
	logs, err := logstore.Open(b.TempDir())
	must(b, err)
	defer logs.Close()
	a := app.New(be.Open(b), app.Config{Logs: logs})
	must(b, a.Bootstrap(ctx))
	u, err := a.CreateSuperuser(ctx, "admin", "", "")
	must(b, err)
	adm, err := auth.UserPrincipal(u)
	must(b, err)
	must(b, a.CreateDeviceType(ctx, adm, lab.DeviceType{Name: "qemu"}))
	_, err = a.CreateWorker(ctx, adm, lab.Worker{Name: "w1"})
	must(b, err)
	must(b, a.CreateDevice(ctx, adm, lab.Device{Hostname: "d1", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood}, "bench"))
	wk := auth.WorkerPrincipal("w1")
	_, err = a.Heartbeat(ctx, wk, "w1", "bench")
	must(b, err)
	ids, _, err := a.SubmitJob(ctx, adm, labtest.Job("bench", "qemu", ""))
	must(b, err)
	_, err = a.SchedulePass(ctx)
	must(b, err)
	chunks := make([][]byte, 8) // different case names, same size class
	for i := range chunks {
		chunks[i] = resultsChunk(b, 1000, i*1000, withResults)
	}
	var off int64
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c := chunks[i%len(chunks)]
		if off, err = a.AppendLog(ctx, wk, ids[0], off, c); err != nil {
			b.Fatal(err)
		}
	}
	// This process's CPU time per chunk (SQLite runs in it; the
	// PostgreSQL server does not): less sensitive than the wall clock to
	// other load on the machine.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "lines/s")
}
