package main_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
	"github.com/basalt-lab/basalt/internal/testutil/board"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// consoleFollower reads a reservation's session as `basalt console` does:
// a long poll of its log from the next line.
type consoleFollower struct {
	cl   *client.Client
	id   int64
	next int
	text strings.Builder // the board's output since the last take
}

// until reads the session until the board's output holds want, and
// returns that output (cleared for the next wait).
func (f *consoleFollower) until(tb testing.TB, want string) string {
	tb.Helper()
	deadline := time.Now().Add(consoleFailAfter)
	for !strings.Contains(f.text.String(), want) {
		if time.Now().After(deadline) {
			tb.Fatalf("the console never showed %q; it showed %q", want, f.text.String())
		}
		lines, _, err := f.cl.JobLogsWait(context.Background(), f.id, f.next, -1, 30*time.Second)
		if err != nil {
			tb.Fatal(err)
		}
		f.next += len(lines)
		for _, l := range lines {
			var r workerproto.Record
			var msg string
			if json.Unmarshal([]byte(l), &r) == nil && r.Level == workerproto.LevelTarget && json.Unmarshal(r.Msg, &msg) == nil {
				f.text.WriteString(msg)
			}
		}
	}
	s := f.text.String()
	f.text.Reset()
	return s
}

// BenchmarkBoardConsoleEcho measures, on a real board (QEMU running Debian's
// U-Boot behind ser2net, on loopback), the time from a key sent to the
// server (POST /reservations/{id}/console) to its echo by the board read
// back from the server (the reservation's log, long-polled as `basalt
// console` does): through the server, the worker's held console call,
// the job process, ser2net and back through the journal upload. Each
// iteration is one key; every 40 keys Ctrl-C clears U-Boot's line. It
// reports the median, 95th percentile and longest echo, and the memory
// of an open console: the job process of the session (one per
// reservation) and the server's per watching client (2,000 clients
// long-polling the session at once).
func BenchmarkBoardConsoleEcho(b *testing.B) {
	// the watchers connect from one address: no cap on its connections
	bl := newBoardLabLink(b, board.UBoot, "echo01", "qemu-uboot-x86_64", false, "--max-conns-per-client", "0")
	alice := bl.addPerson(b, "alice")
	ctx := context.Background()
	cl, err := client.New(bl.url, "", alice.token, client.Options{Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	r, err := cl.Reserve(ctx, bl.device, wire.ReserveInput{Duration: "1h", Reason: "benchmark"})
	if err != nil {
		b.Fatal(err)
	}
	bl.waitReservation(b, r.ID, "Running", func(r wire.Reservation) bool { return r.State == "Running" })
	f := &consoleFollower{cl: cl, id: r.ID}
	send := func(in wire.ConsoleInput) {
		if _, err := cl.ConsoleInput(ctx, r.ID, in); err != nil {
			b.Fatal(err)
		}
	}
	send(wire.ConsoleInput{Power: "on"})
	f.until(b, board.UBootInterruptPrompt)
	send(wire.ConsoleInput{Data: board.UBootInterruptChar})
	f.until(b, board.UBootPrompt)

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%40 == 0 {
			send(wire.ConsoleInput{Data: "\x03"})
			f.until(b, board.UBootPrompt)
		}
		key := string(rune('a' + i%26))
		start := time.Now()
		send(wire.ConsoleInput{Data: key})
		f.until(b, key)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "echo-p50-ms")
	b.ReportMetric(ms(lat[len(lat)*95/100]), "echo-p95-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "echo-max-ms")

	// The job process of the session.
	var st struct {
		PID int `json:"pid"`
	}
	raw, err := os.ReadFile(filepath.Join(bl.wdir, "jobs", strconv.FormatInt(r.ID, 10), "state.json"))
	if err == nil {
		err = json.Unmarshal(raw, &st)
	}
	if err != nil {
		b.Fatal(err)
	}
	if kb, ok := rssKBOf(st.PID); ok {
		b.ReportMetric(float64(kb)/1024, "session-process-MB")
	} else {
		b.Fatalf("the session's job process %d is gone", st.PID)
	}

	// The server's memory per watching client.
	const watchers = 2000
	before := rssKB(b, bl.cmd.Process.Pid)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range watchers {
		wc, err := client.New(bl.url, "", alice.token, client.Options{Timeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			next := f.next
			for wctx.Err() == nil {
				lines, _, err := wc.JobLogsWait(wctx, r.ID, next, -1, 30*time.Second)
				if err != nil && wctx.Err() == nil {
					failed.Add(1)
					return
				}
				next += len(lines)
			}
		})
	}
	time.Sleep(5 * time.Second) // every watcher is in its long poll
	after := rssKB(b, bl.cmd.Process.Pid)
	cancel()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d watchers failed", n, watchers)
	}
	b.ReportMetric(float64(after-before)/watchers, "server-KB/watcher")
}
