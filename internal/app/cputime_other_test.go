//go:build !unix

package app_test

import (
	"testing"
	"time"
)

// cpuTime is not measured here: the CPU metric reads 0.
func cpuTime(testing.TB) time.Duration { return 0 }
