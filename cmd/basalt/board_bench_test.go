package main_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/board"
)

// BenchmarkUBootBoardJob runs a job on the U-Boot test board (QEMU with
// Debian's U-Boot behind ser2net, kernel and ramdisk over the worker's
// TFTP) through server and worker, and reports from the job's log the
// time from the job process's start to U-Boot's autoboot prompt and to
// the shell prompt after the kernel's boot, and the largest resident
// memory seen (every 100 ms) of the job process (the board's QEMU is not
// the worker's) and of the worker daemon.
func BenchmarkUBootBoardJob(b *testing.B) {
	d := serveDUT(b)
	bl := newBoardLab(b, board.UBoot, "uboot01", "qemu-uboot-x86_64")
	def := d.ubootJob("bench", inlineSteps("quick", "lava-test-case ok --result pass"))
	peaks := sampleRSS(bl.worker, bl.wdir)
	var toUBoot, toShell float64
	b.ResetTimer()
	for range b.N {
		id := bl.submit(b, def)
		if j := bl.waitFinished(b, []int64{id}, 8*time.Minute)[id]; j.Health != "Complete" {
			b.Fatalf("job %d: %s %s", id, j.Health, j.FailureComment)
		}
		u, s := boardTimes(b, bl.storedLog(b, id))
		toUBoot += u
		toShell += s
	}
	b.StopTimer()
	maxWorker, maxJob := peaks()
	n := float64(b.N)
	b.ReportMetric(toUBoot/n, "s-to-uboot-prompt")
	b.ReportMetric(toShell/n, "s-to-shell-prompt")
	b.ReportMetric(float64(maxJob)/1024, "jobproc-peak-MB")
	b.ReportMetric(float64(maxWorker)/1024, "worker-peak-MB")
}

// boardTimes reads a board job's log: seconds from its first record (the
// job process started) to U-Boot's autoboot prompt and to the end of the
// boot action (the shell prompt found).
func boardTimes(tb testing.TB, log []byte) (uboot, shell float64) {
	tb.Helper()
	var start, atUBoot, atShell time.Time
	for _, line := range strings.Split(string(log), "\n") {
		var rec struct {
			DT  time.Time       `json:"dt"`
			Lvl string          `json:"lvl"`
			Msg json.RawMessage `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		var msg string
		json.Unmarshal(rec.Msg, &msg)
		switch {
		case start.IsZero():
			start = rec.DT
		case atUBoot.IsZero() && rec.Lvl == "target" && strings.Contains(msg, "Hit any key to stop autoboot"):
			atUBoot = rec.DT
		case atShell.IsZero() && rec.Lvl == "info" && strings.HasPrefix(msg, "end: 2 uboot-action"):
			atShell = rec.DT
		}
	}
	if atUBoot.IsZero() || atShell.IsZero() {
		tb.Fatalf("the log lacks the U-Boot prompt or the end of the boot")
	}
	return atUBoot.Sub(start).Seconds(), atShell.Sub(start).Seconds()
}
