package app_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
)

// TestSubmitWarnings: a definition LAVA accepts with something most likely
// wrong in it (here a key written twice) is queued, and the submitter gets
// the warning; validation returns the same warning, or refuses it when
// strict.
func TestSubmitWarnings(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		def := definition("warned", "qemu", "priority: high\npriority: low")
		want := []jobdef.Warning{{Line: 4, Column: 1, Path: "$.priority",
			Msg: `key "priority" is written again (first at 3:1): the last value is used, as LAVA reads it`}}

		ids, warnings, err := f.app.SubmitJob(f.ctx, f.user, def)
		must(t, err)
		if diff := cmp.Diff(want, warnings); diff != "" {
			t.Errorf("SubmitJob warnings (-want +got):\n%s", diff)
		}
		j := f.job(ids[0])
		if j.Priority != lab.PriorityLow || j.State != lab.JobSubmitted || j.Definition != def {
			t.Errorf("job %d: priority %d, state %s; want the last priority (low), queued, the definition as submitted", j.ID, j.Priority, j.State)
		}

		warnings, err = f.app.ValidateJob(f.ctx, f.user, def, false)
		must(t, err)
		if diff := cmp.Diff(want, warnings); diff != "" {
			t.Errorf("ValidateJob warnings (-want +got):\n%s", diff)
		}

		warnings, err = f.app.ValidateJob(f.ctx, f.user, def, true)
		var de *jobdef.Errors
		if !errors.As(err, &de) || !errors.Is(err, lab.ErrInvalid) || warnings != nil {
			t.Fatalf("strict ValidateJob: %v, %v; want *jobdef.Errors", warnings, err)
		}
		if len(de.Items) != 1 || de.Items[0].Line != 4 || de.Items[0].Path != "$.priority" {
			t.Errorf("strict ValidateJob errors %v, want the warning's place", de.Items)
		}

		// A clean definition has no warnings, strict or not.
		clean := definition("clean", "qemu", "")
		for _, strict := range []bool{false, true} {
			if warnings, err := f.app.ValidateJob(f.ctx, f.user, clean, strict); err != nil || warnings != nil {
				t.Errorf("ValidateJob(clean, strict %v) = %v, %v", strict, warnings, err)
			}
		}
		if _, warnings, err := f.app.SubmitJob(f.ctx, f.user, clean); err != nil || warnings != nil {
			t.Errorf("SubmitJob(clean) = %v, %v", warnings, err)
		}
	})
}
