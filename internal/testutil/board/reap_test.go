package board

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// alive reports whether pid runs (exists and is not a zombie).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// TestReapStale kills a process that has a powered-on board, and checks
// the next New kills the orphaned QEMU and ser2net and removes their
// directory.
func TestReapStale(t *testing.T) {
	if os.Getenv("BOARD_REAP_CHILD") == "1" {
		b, err := New(Options{Name: "orphan"})
		if err == nil {
			_, _, err = sh(b.PowerOnCommand())
		}
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		s2n, _ := os.ReadFile(b.Dir() + "/ser2net.pid")
		fmt.Printf("BOARD %s %d %s\n", b.Dir(), b.qemuPID(), strings.TrimSpace(string(s2n)))
		os.Exit(0) // dies without Close, as on a test timeout
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReapStale$")
	cmd.Env = append(os.Environ(), "BOARD_REAP_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var dir string
	var qemu, s2n int
	if _, err := fmt.Sscanf(string(out), "BOARD %s %d %d\n", &dir, &qemu, &s2n); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	if !alive(qemu) || !alive(s2n) {
		t.Fatalf("orphans not running after their owner died: QEMU %d %v, ser2net %d %v", qemu, alive(qemu), s2n, alive(s2n))
	}
	Start(t, Options{Name: "reaper"})
	for deadline := time.Now().Add(expectTimeout); alive(qemu) || alive(s2n); {
		if time.Now().After(deadline) {
			t.Fatalf("orphans still running: QEMU %d %v, ser2net %d %v", qemu, alive(qemu), s2n, alive(s2n))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("orphan's directory %s: %v", dir, err)
	}
}
