package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestTestEventsFromUploads: each lava-test-event record of a job's log is
// emitted once, when the upload that stores its line for the first time
// arrives: not again when a chunk is sent again, whole or overlapping; not
// for other levels, nor for "lvl":"event" inside another record's text; a
// record split across uploads is not emitted (the worker uploads whole
// lines). On SQLite and PostgreSQL.
func TestTestEventsFromUploads(t *testing.T) {
	rec := func(level, msg string) string {
		return fmt.Sprintf(`{"dt":"2026-11-24T12:00:00Z","lvl":%q,"msg":%q}`, level, msg) + "\n"
	}
	a1, a2 := rec("event", "first"), rec("info", `typed {"lvl":"event"}`)
	b1, b2 := rec("event", "second"), rec("event", `third "quoted"`)
	c1 := rec("event", "split")
	steps := []struct {
		name   string
		offset int // of the chunk; -1: the log's end
		chunk  string
		want   []string
	}{
		{"new lines", 0, a1 + a2, []string{"first"}},
		{"the same chunk again", 0, a1 + a2, nil},
		{"overlapping, with new lines", len(a1), a2 + b1 + b2, []string{"second", `third "quoted"`}},
		{"a record's first half", -1, c1[:20], nil},
		{"its second half", -1, c1[20:], nil},
		{"after it", -1, rec("event", "fourth"), []string{"fourth"}},
	}
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			l := newResultsLab(t, b)
			var mu sync.Mutex
			var got []string
			l.app.Subscribe(func(e app.Event) {
				if e.Kind == "event" {
					if e.JobID != l.job {
						t.Errorf("test event of job %d, want %d", e.JobID, l.job)
					}
					mu.Lock()
					got = append(got, e.Message)
					mu.Unlock()
				}
			})
			for _, s := range steps {
				off := int64(s.offset)
				if s.offset < 0 {
					size, err := l.logs.Size(context.Background(), l.job)
					must(t, err)
					off = size
				}
				_, err := l.app.AppendLog(l.ctx, l.worker, l.job, off, []byte(s.chunk))
				must(t, err)
				mu.Lock()
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Errorf("%s: events (-want +got):\n%s", s.name, diff)
				}
				got = nil
				mu.Unlock()
			}
		})
	}
	if !strings.Contains(a2, `\"lvl\":\"event\"`) {
		t.Fatal("the info record does not hold the level's spelling in its text")
	}
}

// TestJobAndDeviceEvents: a job taking, using and leaving its device is a
// job event carrying the committed job and a device event each time; a
// start reported twice (its answer lost) is one event. On SQLite and
// PostgreSQL.
func TestJobAndDeviceEvents(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			l := newResultsLab(t, b) // the job is Scheduled on d1 already
			var mu sync.Mutex
			var got []string
			l.app.Subscribe(func(e app.Event) {
				if e.Kind != "job" && e.Kind != "device" {
					return
				}
				s := fmt.Sprintf("%s %d %s %s %s", e.Kind, e.JobID, e.Device, e.State, e.Health)
				if e.Job != nil {
					s += fmt.Sprintf(" job=%d/%s/%s", e.Job.ID, e.Job.State, e.Job.ActualDevice)
				}
				mu.Lock()
				got = append(got, s)
				mu.Unlock()
			})
			for range 2 {
				_, err := l.app.StartJob(l.ctx, l.worker, l.job)
				must(t, err)
			}
			_, err := l.app.FinishJob(l.ctx, l.worker, l.job, app.JobOutcome{})
			must(t, err)
			id := l.job
			want := []string{
				fmt.Sprintf("job %d d1 Running Unknown job=%d/Running/d1", id, id),
				fmt.Sprintf("device %d d1 Running  job=%d/Running/d1", id, id),
				fmt.Sprintf("job %d d1 Finished Complete job=%d/Finished/d1", id, id),
				"device 0 d1 Idle Good",
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}
