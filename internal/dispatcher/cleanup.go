package dispatcher

import (
	"context"
	"strings"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// CleanupFunc undoes something an action did, at the end of the job (such
// as a user command's undo). It runs in finalize, under finalize's
// context, whatever happened to the job; it must return soon after ctx
// ends.
type CleanupFunc func(ctx context.Context, env *Env) error

// cleanupHook is a registered CleanupFunc and the name it is logged under.
type cleanupHook struct {
	name string
	f    CleanupFunc
}

// AddCleanup registers f to run at the end of the job, when finalize calls
// runCleanups. name says in the journal what is being cleaned up (such as
// "user-command power-relay"). Cleanups run once each, in the order they
// were added, which is the order of the actions that added them (as
// LAVA's cleanup walks its pipeline). Like the rest of the Session,
// AddCleanup belongs to the pipeline's goroutine.
func (s *Session) AddCleanup(name string, f func(ctx context.Context, env *Env) error) {
	s.cleanups = append(s.cleanups, cleanupHook{name: name, f: f})
}

// runCleanups runs the cleanups registered with AddCleanup, in order, and
// forgets them (a second call runs nothing). A failing cleanup does not
// stop the others: each failure is logged as an error record ("cleanup
// <name> failed: …") and the result is one Infrastructure error naming the
// failed cleanups, as LAVA's "Failed to clean after job". It returns nil
// when every cleanup succeeded or none was registered.
func runCleanups(ctx context.Context, env *Env) error {
	if env.Session == nil {
		return nil
	}
	hooks := env.Session.cleanups
	env.Session.cleanups = nil
	var failed []string
	var first error
	for _, h := range hooks {
		if err := h.f(ctx, env); err != nil {
			env.Log.Logf(workerproto.LevelError, "cleanup %s failed: %s", h.name, err)
			failed = append(failed, h.name)
			if first == nil {
				first = err
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return InfrastructureError("failed to clean after the job (%s): %w", strings.Join(failed, ", "), first)
}
