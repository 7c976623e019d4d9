package worker

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// isJobProcess reports whether pid is alive and is the job process of dir:
// its command line has dir as an argument. A PID reused by another program
// or a zombie (empty command line) does not match. It reads /proc, so it
// finds processes only on Linux.
func isJobProcess(pid int, dir string) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return cmdlineHas(b, dir)
}

func cmdlineHas(cmdline []byte, arg string) bool {
	for a := range bytes.SplitSeq(cmdline, []byte{0}) {
		if string(a) == arg {
			return true
		}
	}
	return false
}

// findJobProcess looks for the job process of dir among every process
// (used when state.json has no PID: the worker died between starting the
// process and recording it). 0 when there is none.
func findJobProcess(dir string) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if isJobProcess(pid, dir) {
			return pid
		}
	}
	return 0
}
