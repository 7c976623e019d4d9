package dispatcher

import (
	"context"
)

// finalize ends every job, whatever happened before: it powers the device
// off, runs the session's cleanups (command undo steps) and closes its
// consoles (the primary one and the secondary connections new_connection
// boots opened), so that everything the device printed is in the
// journal. It runs under its own timeout, not the job's, and a cancel
// does not stop it. A multinode job then leaves its group (clear_group).
type finalize struct{}

func (finalize) Name() string { return "finalize" }

func (finalize) Run(ctx context.Context, env *Env) error {
	err := env.RunChild(ctx, powerOff{})
	// The undo commands of command actions, and other cleanups, after the
	// device is off (LAVA's cleanup order).
	if cerr := runCleanups(ctx, env); cerr != nil && err == nil {
		err = cerr
	}
	// A multinode job leaves its group last, whatever happened (LAVA's
	// finalise_protocol in its finalize action).
	if env.mn != nil {
		defer env.mn.finalise(ctx, env.Log)
	}
	if env.Device == nil {
		return err
	}
	if cerr := env.Device.Close(); cerr != nil && err == nil {
		err = InfrastructureError("close the device %s: %w", env.Device.Hostname(), cerr)
	}
	if werr := env.Conn.Wait(ctx); werr != nil && err == nil {
		err = InfrastructureError("the console of %s did not end: %w", env.Device.Hostname(), werr)
	}
	if cerr := closeSecondaries(ctx, env); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// powerOff powers the device off.
type powerOff struct{}

func (powerOff) Name() string { return "power-off" }

func (powerOff) Run(ctx context.Context, env *Env) error {
	if env.Device == nil {
		env.Info("no device to power off")
		return nil
	}
	env.Info("%s: power off", env.Device.Hostname())
	if err := env.Device.PowerOff(ctx); err != nil {
		return InfrastructureError("%w", err)
	}
	return nil
}
