package labtest

import (
	"fmt"
	"strings"
)

// Job returns a small valid job definition for device type typ: a tmpfs
// deploy and a QEMU boot. extra holds more top-level lines (priority, tags,
// visibility…); visibility defaults to public. Line numbers are stable: with
// one extra line the boot method is on line 13.
func Job(name, typ, extra string) string {
	var top strings.Builder
	if extra != "" {
		top.WriteString(strings.TrimRight(extra, "\n") + "\n")
	}
	if !strings.Contains(extra, "visibility:") {
		top.WriteString("visibility: public\n")
	}
	return fmt.Sprintf(`job_name: %s
device_type: %s
%stimeouts:
  job: {minutes: 10}
actions:
- deploy:
    to: tmpfs
    images:
      kernel: {url: "http://127.0.0.1/vmlinuz"}
- boot:
    method: qemu
    prompts: ["/ # "]
`, name, typ, top.String())
}

// SmokeJob is Job("smoke", "qemu", "priority: medium") with an inline test
// definition: the shape of a typical submission.
var SmokeJob = Job("smoke", "qemu", "priority: medium") + `- test:
    definitions:
    - from: inline
      name: smoke
      path: inline/smoke.yaml
      repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: smoke}
        run: {steps: ["echo ok"]}
`

// Role is one role of MultinodeJob.
type Role struct {
	Name, DeviceType string
	Count            int
	// Extra is more YAML of the role (e.g. "essential: true"), one key per
	// line.
	Extra string
}

// MultinodeJob is a public multinode job named name with roles, whose
// deploy and boot actions (those of Job) run for every role.
func MultinodeJob(name string, roles ...Role) string {
	var b strings.Builder
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.Name
		fmt.Fprintf(&b, "      %s:\n        device_type: %s\n        count: %d\n", r.Name, r.DeviceType, r.Count)
		for _, l := range strings.Split(strings.TrimSpace(r.Extra), "\n") {
			if l != "" {
				fmt.Fprintf(&b, "        %s\n", l)
			}
		}
	}
	list := "[" + strings.Join(names, ", ") + "]"
	return fmt.Sprintf(`job_name: %s
visibility: public
timeouts:
  job: {minutes: 10}
protocols:
  lava-multinode:
    roles:
%s    timeout: {minutes: 5}
actions:
- deploy:
    role: %s
    to: tmpfs
    images:
      kernel: {url: "http://127.0.0.1/vmlinuz"}
- boot:
    role: %s
    method: qemu
    prompts: ["/ # "]
`, name, b.String(), list, list)
}
