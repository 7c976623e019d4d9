package admit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestEnter: a request's body is buffered before it takes a slot; a body
// over the limit takes none; a full limiter refuses the request once its
// body is read.
func TestEnter(t *testing.T) {
	l := admit.New(1, time.Millisecond)
	req := func(body string) *http.Request { return httptest.NewRequest("POST", "/", strings.NewReader(body)) }

	r := req("0123456789")
	release, err := l.Enter(httptest.NewRecorder(), r, 10)
	if err != nil || l.InFlight() != 1 {
		t.Fatalf("a body at the limit: %v, %d in flight; want admitted", err, l.InFlight())
	}
	if b, err := io.ReadAll(r.Body); err != nil || string(b) != "0123456789" {
		t.Errorf("the handler reads %q (%v), want the whole body", b, err)
	}

	var mbe *http.MaxBytesError
	if _, err := l.Enter(httptest.NewRecorder(), req("0123456789x"), 10); !errors.As(err, &mbe) || l.InFlight() != 1 {
		t.Errorf("a body over the limit: %v, %d in flight; want a MaxBytesError and no slot taken", err, l.InFlight())
	}

	r = req("abc")
	if _, err := l.Enter(httptest.NewRecorder(), r, 10); !errors.Is(err, lab.ErrOverloaded) {
		t.Errorf("with no free slot: %v, want ErrOverloaded", err)
	}
	if b, _ := io.ReadAll(r.Body); string(b) != "abc" {
		t.Errorf("refused request's body %q, want it buffered first", b)
	}
	release()

	var none *admit.Limiter
	if release, err := none.Enter(httptest.NewRecorder(), req(""), 10); err != nil {
		t.Errorf("nil limiter: %v", err)
	} else {
		release()
	}
}
