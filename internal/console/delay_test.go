package console

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// recorder records each Write call.
type recorder struct {
	mu     sync.Mutex
	writes []string
	wrote  chan struct{}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, string(p))
	r.mu.Unlock()
	if r.wrote != nil {
		r.wrote <- struct{}{}
	}
	return len(p), nil
}

func TestDelayWriterOneByteAtATime(t *testing.T) {
	rec := &recorder{}
	w := NewDelayWriter(rec, time.Microsecond)
	if n, err := w.Write([]byte("ab\xff")); n != 3 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	w.Write([]byte("\n"))
	want := []string{"a", "b", "\xff", "\n"}
	if len(rec.writes) != len(want) {
		t.Fatalf("writes %q, want %q", rec.writes, want)
	}
	for i := range want {
		if rec.writes[i] != want[i] {
			t.Fatalf("writes %q, want %q", rec.writes, want)
		}
	}
}

func TestDelayWriterNoDelayPassesThrough(t *testing.T) {
	rec := &recorder{}
	w := NewDelayWriter(rec, 0)
	w.Write([]byte("whole line\n"))
	if len(rec.writes) != 1 || rec.writes[0] != "whole line\n" {
		t.Fatalf("writes %q", rec.writes)
	}
}

func TestDelayWriterInterrupted(t *testing.T) {
	for _, how := range []string{"close", "context"} {
		t.Run(how, func(t *testing.T) {
			rec := &recorder{wrote: make(chan struct{}, 8)}
			w := NewDelayWriter(rec, time.Hour) // the second byte never comes
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				n   int
				err error
			}
			res := make(chan result, 1)
			go func() {
				n, err := w.WriteContext(ctx, []byte("abc"))
				res <- result{n, err}
			}()
			<-rec.wrote
			if how == "close" {
				w.Close()
			} else {
				cancel()
			}
			r := <-res
			want := ErrDelayWriterClosed
			if how == "context" {
				want = context.Canceled
			}
			if r.n != 1 || !errors.Is(r.err, want) {
				t.Fatalf("WriteContext = %d, %v; want 1, %v", r.n, r.err, want)
			}
			if how == "close" {
				if _, err := w.Write([]byte("x")); !errors.Is(err, ErrDelayWriterClosed) {
					t.Fatalf("Write after Close: %v", err)
				}
			}
		})
	}
}

func TestCharacterDelay(t *testing.T) {
	if got := CharacterDelay(30); got != 30*time.Millisecond {
		t.Fatalf("CharacterDelay(30) = %v", got)
	}
}

// BenchmarkDelayWriter measures the time per byte with a 1 ms delay (the
// figure to compare with the delay: the pause is between bytes).
func BenchmarkDelayWriter(b *testing.B) {
	rec := &recorder{}
	w := NewDelayWriter(rec, time.Millisecond)
	p := []byte("x")
	b.ResetTimer()
	for range b.N {
		w.Write(p)
	}
}
