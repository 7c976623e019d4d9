package admit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/admit"
	"github.com/basalt-lab/basalt/internal/lab"
)

func TestLimiter(t *testing.T) {
	l := admit.New(2, 20*time.Millisecond)
	ctx := context.Background()
	r1, err := l.Admit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.Admit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l.InFlight() != 2 {
		t.Fatalf("in flight %d", l.InFlight())
	}
	// Full: refused after the wait, as overloaded.
	if _, err := l.Admit(ctx); !errors.Is(err, lab.ErrOverloaded) {
		t.Fatalf("third request: %v, want ErrOverloaded", err)
	}
	// A slot that frees up during the wait is taken.
	long := admit.New(1, time.Hour)
	hold, err := long.Admit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(time.Millisecond); hold() }()
	r4, err := long.Admit(ctx)
	if err != nil {
		t.Fatalf("a request waiting for a slot that frees: %v", err)
	}
	r4()
	r1()
	// A client that goes away stops waiting.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	full := admit.New(1, time.Hour)
	if _, err := full.Admit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := full.Admit(gone); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled wait: %v", err)
	}
	r2()
	// A nil limiter admits everything.
	var none *admit.Limiter
	if r, err := none.Admit(ctx); err != nil || none.InFlight() != 0 {
		t.Errorf("nil limiter: %v", err)
	} else {
		r()
	}
}
