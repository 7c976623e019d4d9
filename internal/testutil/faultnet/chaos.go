package faultnet

import (
	"context"
	"math/rand/v2"
	"time"
)

// Fault is one kind of fault Chaos applies. Apply injects it and returns
// when it is over; timed faults end early when ctx ends, and every fault
// leaves the proxy forwarding normally when Apply returns.
type Fault struct {
	Name  string
	Apply func(ctx context.Context, p *Proxy)
}

// CutFault is Cut.
func CutFault() Fault {
	return Fault{Name: "cut", Apply: func(_ context.Context, p *Proxy) { p.Cut() }}
}

// ResetFault is Reset.
func ResetFault() Fault {
	return Fault{Name: "reset", Apply: func(_ context.Context, p *Proxy) { p.Reset() }}
}

// StallFault stalls every connection for d.
func StallFault(d time.Duration) Fault {
	return Fault{Name: "stall", Apply: func(ctx context.Context, p *Proxy) {
		p.StallOn()
		sleep(ctx, d)
		p.StallOff()
	}}
}

// RefuseFault refuses new connections for d. If the port cannot be taken
// back afterwards (another process took it), it keeps trying every
// millisecond until ctx ends.
func RefuseFault(d time.Duration) Fault {
	return Fault{Name: "refuse", Apply: func(ctx context.Context, p *Proxy) {
		if p.Refuse(true) != nil {
			return // closed
		}
		sleep(ctx, d)
		for p.Refuse(false) != nil && sleep(context.Background(), time.Millisecond) {
			if p.isClosed() {
				return
			}
		}
	}}
}

// DelayFault adds latency to every chunk for d.
func DelayFault(latency, d time.Duration) Fault {
	return Fault{Name: "delay", Apply: func(ctx context.Context, p *Proxy) {
		p.Delay(latency)
		sleep(ctx, d)
		p.Delay(0)
	}}
}

// Chaos applies faults picked at random (all with equal odds) at random
// intervals — uniform in [every/2, 3·every/2) between the end of one fault
// and the start of the next — until ctx ends, then returns how many it
// applied. With no faults given it uses Cut, Reset, a stall and a refusal
// of every/2 each. The proxy is left forwarding normally. rng is used only
// by Chaos's own goroutine; seed it to make a run's sequence of faults
// reproducible.
func (p *Proxy) Chaos(ctx context.Context, rng *rand.Rand, every time.Duration, faults ...Fault) int {
	if len(faults) == 0 {
		faults = []Fault{CutFault(), ResetFault(), StallFault(every / 2), RefuseFault(every / 2)}
	}
	every = max(every, 2)
	n := 0
	for {
		wait := every/2 + time.Duration(rng.Int64N(int64(every)))
		if !sleep(ctx, wait) {
			return n
		}
		faults[rng.IntN(len(faults))].Apply(ctx, p)
		n++
	}
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *Proxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}
