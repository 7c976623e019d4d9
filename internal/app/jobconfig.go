package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// JobConfiguration is what Basalt can tell of the configuration a job ran
// with (LAVA's scheduler.jobs.configuration gives the files of the job's
// output directory: job, device, dispatcher and environment).
type JobConfiguration struct {
	// Job is the job, with its definitions.
	Job lab.Job
	// Device is the configuration of the job's device, rendered from the
	// device's dictionary as it is now with the job's context, for
	// administrators only: like the dictionary it comes from, it holds
	// the lab's secrets (power commands, addresses). It is "" for anyone
	// else, for a job that never had a device, for a device gone since,
	// and for devices whose dictionary the dispatcher reads itself
	// (simulated ones) or that does not render.
	Device string
}

// JobConfiguration returns the configuration of a job p may see
// (lab.ErrNotFound otherwise, as GetJob).
func (a *App) JobConfiguration(ctx context.Context, p auth.Principal, id int64) (JobConfiguration, error) {
	j, err := a.GetJob(ctx, p, id)
	if err != nil {
		return JobConfiguration{}, err
	}
	out := JobConfiguration{Job: j}
	if !auth.IsAdmin(p) || j.ActualDevice == "" {
		return out, nil
	}
	d, err := a.st.GetDevice(ctx, j.ActualDevice)
	if errors.Is(err, lab.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return JobConfiguration{}, fmt.Errorf("configuration of job %d: %w", id, err)
	}
	// A stored definition is valid by construction; one that no longer
	// parses renders without a context (as Assign does).
	var jobCtx map[string]any
	if def, err := parseStored(j.Definition); err == nil {
		jobCtx = def.Context
	}
	out.Device, _ = a.renderAssigned(ctx, d, jobCtx)
	return out, nil
}
