package dispatcher

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

var update = flag.Bool("update", false, "rewrite the golden journals in testdata/golden")

// TestGoldenJournals runs job definitions against simulated devices that
// boot at once and compares the normalised journals with golden files
// (go test -run TestGoldenJournals -update rewrites them), then checks the
// results records and the outcome exactly.
func TestGoldenJournals(t *testing.T) {
	tests := []struct {
		name    string
		job     string
		device  string
		want    Result
		results []workerproto.ResultMsg // test results (suites other than lava)
	}{
		{
			name: "smoke", job: "smoke.yaml", device: "fast.yaml",
			want: Result{Result: ResultPass},
			results: []workerproto.ResultMsg{
				{Definition: "0_smoke", Case: "uname", Result: "pass"},
				{Definition: "0_smoke", Case: "always-fails", Result: "fail"},
				{Definition: "0_smoke", Case: "ping", Result: "skip", Set: "network"},
				{Definition: "0_smoke", Case: "throughput", Result: "pass", Measurement: "93.5", Units: "Mbit/s", Set: "network"},
				{Definition: "0_smoke", Case: "missing-command", Result: "fail"},
			},
		},
		{
			name: "autologin", job: "autologin.yaml", device: "autologin.yaml",
			want: Result{Result: ResultPass},
			results: []workerproto.ResultMsg{
				{Definition: "0_first", Case: "with-key", Result: "pass"},
				{Definition: "0_first", Case: "never-reported", Result: "fail"},
				{Definition: "1_second", Case: "second-ok", Result: "pass"},
			},
		},
		{
			name: "interactive", job: "interactive.yaml", device: "uboot.yaml",
			want: Result{Result: ResultPass},
			results: []workerproto.ResultMsg{
				{Definition: "0_uboot-basics", Case: "version", Result: "pass"},
				{Definition: "0_uboot-basics", Case: "missing-mmc", Result: "fail"},
				{Definition: "0_uboot-basics", Case: "plain-prompt", Result: "pass"},
				{Definition: "0_uboot-basics", Case: "never-run", Result: "fail"},
			},
		},
		{
			name: "raise", job: "raise.yaml", device: "fast.yaml",
			want: Result{Result: ResultFail, ErrorType: lab.ErrorTest, ErrorMsg: "the disk is missing"},
			results: []workerproto.ResultMsg{
				{Definition: "0_raise", Case: "before", Result: "pass"},
			},
		},
		{
			name: "failboot", job: "failboot.yaml", device: "panic.yaml",
			want: Result{Result: ResultFail, ErrorType: lab.ErrorInfrastructure,
				ErrorMsg: `kernel panic: the kernel printed "Kernel panic - not syncing" while booting`},
		},
		{
			name: "refused", job: "refused.yaml", device: "fast.yaml",
			want: Result{Result: ResultFail, ErrorType: lab.ErrorJob,
				ErrorMsg: "action 1: test: " + ErrNeedsOverlay + "; " +
					`action 4: command: unknown user command "relay-on": the device has no user commands`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := jobDir(t, readTestdata(t, "jobs/"+tt.job), readTestdata(t, "devices/"+tt.device), 0)
			res, recs := runDir(t, context.Background(), dir)
			if res != tt.want {
				t.Errorf("result %+v, want %+v", res, tt.want)
			}
			var got []workerproto.ResultMsg
			for _, m := range results(t, recs, "") {
				if m.Definition != "lava" {
					got = append(got, m)
				}
			}
			if diff := cmp.Diff(tt.results, got); diff != "" {
				t.Errorf("test results (-want +got):\n%s", diff)
			}

			raw, err := os.ReadFile(filepath.Join(dir, JournalFile))
			if err != nil {
				t.Fatal(err)
			}
			norm := normalise(t, raw)
			golden := filepath.Join("testdata", "golden", tt.name+".ndjson")
			if *update {
				if err := os.WriteFile(golden, norm, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(norm, want) {
				t.Errorf("journal differs from %s (-want +got):\n%s", golden, cmp.Diff(string(want), string(norm)))
			}
		})
	}
}
