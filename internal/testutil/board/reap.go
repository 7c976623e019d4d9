package board

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ownerFile names the pid of the process that made a board directory.
const ownerFile = "owner.pid"

// killByPidFile kills the process named in pidFile if its command line
// mentions mark (so a reused pid is never hit).
func killByPidFile(pidFile, mark string) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err == nil && strings.Contains(string(cmdline), mark) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// reapStale cleans up the boards New made under os.TempDir() for
// processes that are gone (a test binary killed by its timeout leaves its
// daemonized QEMU and its ser2net running): it kills them and removes the
// directory. Boards of live processes are left alone.
func reapStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "board-*"))
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not a board, or one being set up
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || owner <= 0 {
			continue
		}
		if err := syscall.Kill(owner, 0); err == nil || err == syscall.EPERM {
			continue // its owner still runs
		}
		killByPidFile(filepath.Join(dir, "qemu.pid"), filepath.Join(dir, "qemu.pid"))
		killByPidFile(filepath.Join(dir, "ser2net.pid"), filepath.Join(dir, "ser2net.yaml"))
		os.RemoveAll(dir)
	}
}
