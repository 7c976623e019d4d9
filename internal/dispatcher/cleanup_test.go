package dispatcher

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

func TestRunCleanups(t *testing.T) {
	a := newActionEnv(t, "")
	var ran []string
	add := func(name string, err error) {
		a.env.Session.AddCleanup(name, func(ctx context.Context, env *Env) error {
			ran = append(ran, name)
			return err
		})
	}
	add("first", nil)
	add("second", JobError("relay stuck"))
	add("third", nil)
	add("fourth", errors.New("plain failure"))

	err := runCleanups(context.Background(), a.env)
	if got := strings.Join(ran, " "); got != "first second third fourth" {
		t.Errorf("ran %q, want all four in order", got)
	}
	if ErrorTypeOf(err) != lab.ErrorInfrastructure || !strings.Contains(err.Error(), "failed to clean after the job (second, fourth): relay stuck") {
		t.Errorf("error %v (type %q), want an Infrastructure error naming second and fourth", err, ErrorTypeOf(err))
	}

	ran = nil
	if err := runCleanups(context.Background(), a.env); err != nil || ran != nil {
		t.Errorf("second runCleanups ran %q, %v; want nothing", ran, err)
	}
	recs := a.records()
	for _, want := range []string{"cleanup second failed: relay stuck", "cleanup fourth failed: plain failure"} {
		if !hasMessage(recs, workerproto.LevelError, want) {
			t.Errorf("no error record %q", want)
		}
	}
}

func TestRunCleanupsNothingRegistered(t *testing.T) {
	if err := runCleanups(context.Background(), &Env{Session: &Session{}}); err != nil {
		t.Errorf("runCleanups with no cleanups = %v", err)
	}
	if err := runCleanups(context.Background(), &Env{}); err != nil {
		t.Errorf("runCleanups without a session = %v", err)
	}
}

// TestCleanupsGetTheirContext checks that a cleanup sees finalize's
// context, so that a stuck undo ends with it.
func TestCleanupsGetTheirContext(t *testing.T) {
	a := newActionEnv(t, "")
	act, err := newCommandAction("c", map[string]UserCommand{"c": {Do: "true", Undo: "sleep 30"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.run(context.Background(), act, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = runCleanups(ctx, a.env)
	if ErrorTypeOf(err) != lab.ErrorInfrastructure || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want an Infrastructure error caused by the deadline", err)
	}
	if took := time.Since(start); took > 300*time.Millisecond+CommandWaitDelay+2*time.Second {
		t.Errorf("the stuck undo held the cleanup for %s", took)
	}
}
