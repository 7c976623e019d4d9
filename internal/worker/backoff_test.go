package worker

import (
	"testing"
	"time"
)

// TestBackoff: delays stay within (0, min·2ⁿ] capped at max, and reset
// starts again from min.
func TestBackoff(t *testing.T) {
	b := backoff{min: 250 * time.Millisecond, max: 30 * time.Second}
	for round := range 2 {
		for n := range 40 {
			ceil := min(b.min<<min(n, 20), b.max)
			for range 3 {
				b.attempt = n
				if d := b.next(); d <= 0 || d > ceil {
					t.Fatalf("round %d attempt %d: delay %s outside (0, %s]", round, n, d, ceil)
				}
			}
		}
		b.reset()
		if b.attempt != 0 {
			t.Fatal("reset did not reset")
		}
	}
}
