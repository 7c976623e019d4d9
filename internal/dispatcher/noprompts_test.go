package dispatcher

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// TestBootWithoutPrompts: a qemu or minimal boot without prompts ends once
// the device is started, as LAVA's does, without waiting for the kernel or
// a shell; an interactive test then reads the console with its own
// prompts, and a test shell waits for the device's default-shell-prompt
// (LAVA's fallback).
func TestBootWithoutPrompts(t *testing.T) {
	const head = "job_name: no prompts\ndevice_type: qemu\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nactions:\n"
	tests := []struct {
		name, def, dict string
		suite           string
		want            []workerproto.ResultMsg
	}{
		{
			name: "qemu, then an interactive test",
			// The first step only waits for the prompt the boot did not
			// wait for.
			def: head + "- boot:\n    method: qemu\n- test:\n    interactive:\n    - name: shell\n      prompts: ['/ # ']\n      script:\n" +
				"      - command: null\n      - command: echo hel''lo\n        name: greet\n        successes:\n        - message: hello\n",
			dict:  simDict(fastDevice),
			suite: "0_shell",
			want:  []workerproto.ResultMsg{{Definition: "0_shell", Case: "greet", Result: "pass"}},
		},
		{
			name:  "minimal, then a test shell at the default-shell-prompt",
			def:   head + "- boot:\n    method: minimal\n" + inlineTest("x", "", "lava-test-case ok --result pass"),
			dict:  simDict(fastDevice + `, prompt: "lava-test: # "`),
			suite: "0_x",
			want:  []workerproto.ResultMsg{{Definition: "0_x", Case: "ok", Result: "pass"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, recs := runSim(t, tt.def, tt.dict)
			if res != (Result{Result: ResultPass}) {
				t.Fatalf("result %+v, want pass; records:\n%s", res, strings.Join(messages(recs), "\n"))
			}
			if !hasMessage(recs, workerproto.LevelInfo, "no prompts: the boot ends once the device is started; a test shell waits for the device's default-shell-prompt 'lava-test: # '") {
				t.Errorf("no record of the boot without prompts:\n%s", strings.Join(messages(recs), "\n"))
			}
			for _, m := range messages(recs) {
				if strings.Contains(m, "kernel start message") {
					t.Errorf("the boot waited for the kernel: %s", m)
				}
			}
			if diff := cmp.Diff(tt.want, results(t, recs, tt.suite)); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}
