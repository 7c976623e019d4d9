package jobdef

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/lab"
)

// action returns base with one action (YAML flow or block text after
// "- ").
func action(text string) string {
	return with("actions", "actions:\n- "+text)
}

// TestDuplicateKeysLastWins: a key written twice takes its last value, as
// PyYAML reads it, and keeps its first place.
func TestDuplicateKeysLastWins(t *testing.T) {
	src, err := os.ReadFile("testdata/warnings/duplicate-keys.yaml")
	if err != nil {
		t.Fatal(err)
	}
	job, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if job.Priority != lab.PriorityLow {
		t.Errorf("priority %d, want low (%d)", job.Priority, lab.PriorityLow)
	}
	if job.Context["arch"] != "arm64" || job.Metadata["owner"] != "nightly" {
		t.Errorf("context %v, metadata %v: want arch arm64 and owner nightly", job.Context, job.Metadata)
	}
	if d := job.Actions[0].Timeout; d == nil || d.Duration != 3*time.Minute {
		t.Errorf("deploy timeout %v, want 3m", d)
	}
	if got := job.Environment["again"]; !cmp.Equal(got, map[string]any{"BUILD": uint64(2)}) {
		t.Errorf("environment.again = %v, want {BUILD: 2}", got)
	}
	// The key keeps its first place: PosOf finds the value kept.
	if pos, ok := job.PosOf("$.actions[0].deploy.timeout.minutes"); !ok || pos.Line != 27 {
		t.Errorf("PosOf(deploy timeout) = %v %v, want line 27", pos, ok)
	}
	var keys []string
	for _, e := range job.root.entries {
		keys = append(keys, e.key)
	}
	if want := "job_name,device_type,priority,visibility,timeouts,context,metadata,environment,actions"; strings.Join(keys, ",") != want {
		t.Errorf("top-level keys %v, want %s", keys, want)
	}
}

// TestLAVADefaults: what LAVA accepts and has a default for is accepted
// without a warning.
func TestLAVADefaults(t *testing.T) {
	for _, tc := range []struct {
		name, action string
		check        func(t *testing.T, a Action)
	}{
		{"qemu without prompts", "boot: {method: qemu}", func(t *testing.T, a Action) {
			if a.Boot.Prompts != nil || a.Boot.AutoLogin != nil {
				t.Errorf("boot %+v, want no prompts", a.Boot)
			}
		}},
		{"minimal without prompts", "boot: {method: minimal, reset: false}", func(t *testing.T, a Action) {
			if a.Boot.Prompts != nil || a.Boot.Reset == nil || *a.Boot.Reset {
				t.Errorf("boot %+v, want no prompts and reset false", a.Boot)
			}
		}},
		{"u-boot with an empty command list", "boot: {method: u-boot, commands: [], prompts: ['# ']}", func(t *testing.T, a Action) {
			if a.Boot.Commands != nil || a.Boot.CommandSet != "" {
				t.Errorf("boot %+v, want no commands", a.Boot)
			}
		}},
		{"bootloader with an empty command list", "boot: {method: bootloader, bootloader: u-boot, commands: []}", func(t *testing.T, a Action) {
			if a.Boot.Commands != nil || a.Boot.Bootloader != "u-boot" {
				t.Errorf("boot %+v, want no commands", a.Boot)
			}
		}},
		{"compression null", "deploy: {to: tmpfs, images: {kernel: {url: 'https://example.org/k', compression: null, image_arg: '-kernel {kernel}'}}}", func(t *testing.T, a Action) {
			if img := a.Deploy.Images["kernel"]; img.Compression != "" || img.URL != "https://example.org/k" {
				t.Errorf("image %+v, want no compression", img)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, opts := range [][]Option{nil, {Strict()}} {
				job, err := Parse([]byte(action(tc.action)), opts...)
				if err != nil {
					t.Fatalf("Parse(%d options): %v", len(opts), err)
				}
				if job.Warnings != nil {
					t.Errorf("warnings: %v", job.Warnings)
				}
				tc.check(t, job.Actions[0])
			}
		})
	}
}

// TestLenientKeys: where LAVA's submission lets any key through, an
// unknown key is a warning (an error with Strict); a key LAVA runs and
// Basalt does not is an error either way; where LAVA's submission refuses
// unknown keys, so does Parse.
func TestLenientKeys(t *testing.T) {
	img := "images: {kernel: {url: 'https://example.org/k', image_arg: '-kernel {kernel}'}}"
	mn := `job_name: mn
visibility: public
timeouts: {job: {minutes: 10}}
protocols:
  lava-multinode:
    roles:
      host: {device_type: qemu, count: 1, colour: blue}
actions:
- command: {name: relay_on, role: [host]}
`
	warnings := []struct{ name, src, path, msg string }{
		{"deploy", action("deploy: {to: tmpfs, " + img + ", postprocess: x}"), "$.actions[0].deploy.postprocess", `unknown key "postprocess" is ignored`},
		{"tftp deploy", action("deploy: {to: tftp, kernel: {url: 'https://example.org/k'}, images: {}}"), "$.actions[0].deploy.images", `unknown key "images" is ignored`},
		{"image", action("deploy: {to: tmpfs, images: {kernel: {url: 'https://example.org/k', image_arg: '-kernel {kernel}', size: 1}}}"), "$.actions[0].deploy.images.kernel.size", `unknown key "size" is ignored`},
		{"boot", action("boot: {method: qemu, prompts: ['# '], root_uuid: x}"), "$.actions[0].boot.root_uuid", `unknown key "root_uuid" is ignored`},
		{"boot parameters", action("boot: {method: qemu, prompts: ['# '], parameters: {bootloader-prompt: x}}"), "$.actions[0].boot.parameters.bootloader-prompt", `unknown key "bootloader-prompt" is ignored`},
		{"test", action("test: {connection: lxc, monitors: [{name: m, start: a, end: b, pattern: c}]}"), "$.actions[0].test.connection", `unknown key "connection" is ignored`},
		{"test definition", action("test: {definitions: [{name: d, from: git, repository: r, path: p, shallow: false}]}"), "$.actions[0].test.definitions[0].shallow", `unknown key "shallow" is ignored`},
		{"command", action("command: {name: relay_on, delay: 1}"), "$.actions[0].command.delay", `unknown key "delay" is ignored`},
		{"notify", base + "notify: {criteria: {status: complete}, period: 1}\n", "$.notify.period", `unknown key "period" is ignored`},
		{"multinode role", mn, "$.protocols.lava-multinode.roles.host.colour", `unknown key "colour" is ignored`},
		{"auto_login without prompts", action("boot: {method: minimal, auto_login: {login_prompt: 'login:', username: root}}"), "$.actions[0].boot.auto_login", "auto_login is ignored: the boot has no prompts"},
		{"duplicate key", base + "priority: high\npriority: low\n", "$.priority", `key "priority" is written again (first at 10:1)`},
	}
	for _, tc := range warnings {
		t.Run("warning/"+tc.name, func(t *testing.T) {
			job := wantOneWarning(t, tc.src, tc.path, tc.msg)
			if tc.name == "auto_login without prompts" && job.Actions[0].Boot.AutoLogin != nil {
				t.Errorf("auto_login kept: %+v", job.Actions[0].Boot.AutoLogin)
			}
		})
	}
	errs := []struct{ name, src, path, msg string }{
		{"qemu in docker", action("boot: {method: qemu, prompts: ['# '], docker: {image: x}}"), "$.actions[0].boot.docker", "running QEMU in a docker container (docker) is not supported"},
		{"tmpfs type", action("deploy: {to: tmpfs, " + img + ", type: monitor}"), "$.actions[0].deploy.type", "deploy type monitor (type) is not supported"},
		{"tmpfs uefi", action("deploy: {to: tmpfs, " + img + ", uefi: {url: 'https://example.org/u'}}"), "$.actions[0].deploy.uefi", "UEFI firmware for QEMU (uefi) is not supported yet"},
		{"downloads postprocess", action("deploy: {to: downloads, " + img + ", postprocess: {docker: {image: x, steps: [y]}}}"), "$.actions[0].deploy.postprocess", "in a docker container (postprocess) is not supported"},
		{"overlay checksum", action("deploy: {to: tmpfs, images: {kernel: {url: 'https://example.org/k', image_arg: '-kernel {kernel}', overlays: {m: {url: 'https://example.org/m', format: tar, path: /, md5sum: x}}}}}"), "$.actions[0].deploy.images.kernel.overlays.m.md5sum", "checksums of overlay files are not supported yet"},
		{"lxc deploy", action("deploy: {to: lxc}"), "$.actions[0].deploy.to", `deploy target "lxc" is not supported (LAVA dropped LXC in 2026.04`},
		{"lxc boot", action("boot: {method: lxc}"), "$.actions[0].boot.method", `boot method "lxc" is not supported (LAVA dropped LXC in 2026.04`},
		{"lava-lxc protocol", base + "protocols: {lava-lxc: {name: x}}\n", "$.protocols.lava-lxc", "protocol lava-lxc is not supported (LAVA dropped LXC in 2026.04"},
		{"top level", base + "colour: blue\n", "$.colour", `unknown key "colour" (expected one of`},
		{"timeouts", with("timeouts", "timeouts: {job: {minutes: 5}, jobs: {minutes: 1}}"), "$.timeouts.jobs", `unknown key "jobs" (expected one of`},
		{"auto_login", action("boot: {method: qemu, prompts: ['# '], auto_login: {login_prompt: 'login:', username: root, pasword: x}}"), "$.actions[0].boot.auto_login.pasword", `unknown key "pasword" (expected one of`},
		{"interactive", action("test: {interactive: [{name: i, prompts: ['=>'], script: [{command: x}], echo2: discard}]}"), "$.actions[0].test.interactive[0].echo2", `unknown key "echo2" (expected one of`},
		{"monitor", action("test: {monitors: [{name: m, start: a, end: b, pattern: c, stop: d}]}"), "$.actions[0].test.monitors[0].stop", `unknown key "stop" (expected one of`},
		{"recipient", base + "notify: {criteria: {status: complete}, recipients: [{to: {method: email, email: a@example.org, cc: b}}]}\n", "$.notify.recipients[0].to.cc", `unknown key "cc" (expected one of`},
	}
	for _, tc := range errs {
		t.Run("error/"+tc.name, func(t *testing.T) {
			wantOneError(t, tc.src, tc.path, tc.msg)
			job, err := Parse([]byte(tc.src), Strict())
			var list *Errors
			if !errors.As(err, &list) || len(list.Items) != 1 || list.Items[0].Path != tc.path {
				t.Errorf("Strict: %+v, %v; want the same one error", job, err)
			}
		})
	}
}
