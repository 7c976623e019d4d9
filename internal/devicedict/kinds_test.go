package devicedict

import (
	"testing"

	"github.com/basalt-lab/basalt/internal/deviceconfig"
	"github.com/basalt-lab/basalt/internal/jobdef"
)

// TestJobProblemNewConnection: a new_connection boot runs on boards only,
// and names one of the board's connections other than the primary one;
// the problem is reported at the boot's connection key.
func TestJobProblemNewConnection(t *testing.T) {
	const connections = `commands:
  connections:
    uart0:
      connect: telnet localhost 7001
      tags: [primary, telnet]
    uart1:
      connect: telnet localhost 7002
      tags: [telnet]
    usb0:
      connect: telnet localhost 7003
`
	const single = "commands:\n  connect: telnet localhost 7001\n"
	for _, tc := range []struct {
		name, kind, config, conn string
		wantPath, wantWhy        string
	}{
		{name: "secondary", kind: KindBoard, config: connections, conn: "uart1"},
		{name: "untagged", kind: KindBoard, config: connections, conn: "usb0"},
		{name: "unknown", kind: KindBoard, config: connections, conn: "uart7",
			wantPath: "$.actions[0].boot.connection", wantWhy: `connection "uart7": device b1 has no such connection (its connections: uart0, uart1, usb0)`},
		{name: "primary", kind: KindBoard, config: connections, conn: "uart0",
			wantPath: "$.actions[0].boot.connection", wantWhy: `connection "uart0": it is the primary connection of device b1, open for the whole job; new_connection opens one of the others (uart1, usb0)`},
		{name: "single console", kind: KindBoard, config: single, conn: "uart1",
			wantPath: "$.actions[0].boot.connection", wantWhy: `connection "uart1": device b1 has no named connections (set connection_list, connection_commands and connection_tags in its dictionary)`},
		{name: "qemu", kind: KindQEMU, conn: "uart1",
			wantPath: "$.actions[0].boot.method", wantWhy: "boot method new_connection is not available on qemu devices (they run: minimal, qemu)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rc *deviceconfig.Config
			if tc.config != "" {
				var err error
				if rc, err = deviceconfig.Read(tc.config); err != nil {
					t.Fatal(err)
				}
			}
			job := &jobdef.Job{Actions: []jobdef.Action{{Kind: jobdef.KindBoot, Namespace: "uart",
				Boot: &jobdef.Boot{Method: jobdef.NewConnection, Connection: tc.conn}}}}
			path, why := JobProblem(tc.kind, rc, "b1", job)
			if path != tc.wantPath || why != tc.wantWhy {
				t.Errorf("JobProblem = %q, %q; want %q, %q", path, why, tc.wantPath, tc.wantWhy)
			}
			if got := BootProblem(tc.kind, rc, "b1", job.Actions[0].Boot); got != tc.wantWhy {
				t.Errorf("BootProblem = %q, want %q", got, tc.wantWhy)
			}
		})
	}
}
