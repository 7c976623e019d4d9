//go:build unix

package logstore

import "syscall"

// fileBudget is how many files the process may have open (its soft
// RLIMIT_NOFILE, which the Go runtime raises to the hard limit at start),
// or 0 when unknown.
func fileBudget() int {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) != nil || r.Cur > 1<<30 {
		return 0
	}
	return int(r.Cur)
}
