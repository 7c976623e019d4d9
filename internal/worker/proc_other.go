//go:build !unix

package worker

import (
	"errors"
	"syscall"
)

func detached() *syscall.SysProcAttr { return nil }

func signalGroup(pid int, sig syscall.Signal) error {
	return errors.New("signalling job processes is not supported on this system")
}

func lockFile(path string) (release func(), err error) { return func() {}, nil }

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)
