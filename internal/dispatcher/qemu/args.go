package qemu

import "github.com/basalt-lab/basalt/internal/shellwords"

// SplitArgs splits s into arguments as LAVA's image_arg and extra options
// are written: like a POSIX shell, without expansion (shellwords.Split).
func SplitArgs(s string) ([]string, error) { return shellwords.Split(s) }
