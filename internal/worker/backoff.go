package worker

import (
	"math/rand/v2"
	"time"
)

// backoff is a jittered exponential back-off ("full jitter"): the n-th
// delay is uniform in (0, min(max, min·2ⁿ)].
type backoff struct {
	min, max time.Duration
	attempt  int
}

// next returns the delay before the next attempt.
func (b *backoff) next() time.Duration {
	ceil := b.max
	if b.attempt < 32 {
		if c := b.min << b.attempt; c > 0 && c < b.max {
			ceil = c
		}
	}
	b.attempt++
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil) + 1
}

// reset starts again from the shortest delay.
func (b *backoff) reset() { b.attempt = 0 }
