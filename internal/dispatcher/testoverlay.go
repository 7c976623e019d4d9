package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
	"github.com/basalt-lab/basalt/internal/jobdef"
)

// deviceOverlay is the LAVA test overlay a deploy action put on the
// device: the tree (whose Root is its directory on the device) and, by
// stage, the definitions each test action runs.
type deviceOverlay struct {
	tree   *overlay.Tree
	stages map[int][]overlay.Definition
}

// applyOverlay adds the job's LAVA test overlay to a deployed cpio ramdisk
// (overlays: {lava: true}) and returns the new ramdisk, a file in the job
// directory: the original followed by a compressed cpio archive of the
// overlay, which the kernel unpacks on top of it. The overlay is built on
// first use (test definitions fetched) and kept in the session.
func applyOverlay(ctx context.Context, env *Env, im DeployedImage) (string, error) {
	ov, err := sessionOverlay(ctx, env)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(env.Dir, "deploy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", InfrastructureError("overlay: %w", err)
	}
	out := filepath.Join(dir, im.Name+"-with-overlay.cpio.gz")
	if err := overlay.AppendToRamdisk(im.Path, out, ov.tree); err != nil {
		if errors.Is(err, overlay.ErrNotCpio) {
			return "", JobError("%s: %w", im.Name, err)
		}
		return "", InfrastructureError("%s: add the overlay: %w", im.Name, err)
	}
	env.Info("%s: LAVA overlay %s added (%d entries): %s", im.Name, ov.tree.Root, len(ov.tree.Entries), out)
	env.Session.Overlay = ov
	return out, nil
}

// sessionOverlay is the job's overlay: the session's, or one built now
// (the caller puts it in the session once it is on the device).
func sessionOverlay(ctx context.Context, env *Env) (*deviceOverlay, error) {
	if ov := env.Session.Overlay; ov != nil {
		return ov, nil
	}
	return buildOverlay(ctx, env)
}

// buildOverlay lays out the overlay of every test action of the job with
// definitions (LAVA builds it at deploy time for the whole job): inline
// definitions parsed, git ones cloned into the job directory.
func buildOverlay(ctx context.Context, env *Env) (*deviceOverlay, error) {
	cfg, job := env.DeviceConfig, env.Job
	ov := &deviceOverlay{stages: map[int][]overlay.Definition{}}
	var stages []overlay.Stage
	stage, index := 0, 0
	for ai := range job.Actions {
		a := &job.Actions[ai]
		if a.Kind != jobdef.KindTest {
			continue
		}
		if len(a.Test.Definitions) == 0 {
			// Interactive tests and monitors take an index too.
			index += len(a.Test.Interactive) + len(a.Test.Monitors)
			continue
		}
		st := overlay.Stage{Number: stage}
		for di, def := range a.Test.Definitions {
			d := overlay.Definition{Name: def.Name, Index: index, UUID: fmt.Sprintf("%d_%d.%d", env.JobID, ai+1, di+1),
				Params: def.Params, Path: def.Path, SkipInstall: def.SkipInstall, LavaSignal: def.LavaSignal}
			index++
			var err error
			if d.Testdef, d.RepoDir, err = fetchDefinition(ctx, env, def, d.RunID()); err != nil {
				return nil, err
			}
			st.Definitions = append(st.Definitions, d)
		}
		ov.stages[stage] = st.Definitions
		stages = append(stages, st)
		stage++
	}
	o := overlay.Options{JobID: env.JobID, Root: cfg.Constants.ResultsDir, ShCmd: cfg.Constants.ShCmd,
		Hostname: cfg.Hostname, DeviceType: cfg.DeviceType, Tags: job.Tags}
	for _, k := range sortedKeys(cfg.Environment) {
		o.Environment = append(o.Environment, overlay.EnvVar{Name: k, Value: cfg.Environment[k]})
	}
	jobEnv := job.Environment
	if mn := env.mn; mn != nil {
		// LAVA exports the role's environment instead of the job's, and
		// adds the multinode helpers.
		if mn.environment != nil {
			jobEnv = mn.environment
		}
		o.Multinode = &overlay.MultinodeGroup{Role: mn.role, Self: strconv.FormatInt(env.JobID, 10)}
		for _, id := range sortedIDs(mn.roles) {
			o.Multinode.Members = append(o.Multinode.Members, overlay.GroupMember{ID: id, Role: mn.roles[id]})
		}
	}
	for _, k := range sortedKeys(jobEnv) {
		o.Environment = append(o.Environment, overlay.EnvVar{Name: k, Value: fmt.Sprint(jobEnv[k])})
	}
	for _, k := range sortedKeys(job.Secrets) {
		o.Secrets = append(o.Secrets, overlay.EnvVar{Name: k, Value: job.Secrets[k]})
	}
	tree, err := overlay.Build(o, stages)
	if err != nil {
		return nil, JobError("overlay: %w", err)
	}
	ov.tree = tree
	return ov, nil
}

// fetchDefinition returns a definition's parsed test definition and, for
// git definitions, the checkout in the job directory. A repository that
// cannot be reached is an Infrastructure error; a wrong revision, path or
// definition is the job's.
func fetchDefinition(ctx context.Context, env *Env, def jobdef.TestDefinition, runID string) (*overlay.Testdef, string, error) {
	switch def.From {
	case "inline":
		td, err := overlay.InlineTestdef(def.Inline)
		if err != nil {
			return nil, "", JobError("test definition %s: %w", def.Name, err)
		}
		return td, "", nil
	case "git":
		dir := filepath.Join(env.Dir, "tests", runID)
		env.Info("%s: cloning %s", def.Name, def.Repository)
		info, err := overlay.FetchGit(ctx, def, dir)
		switch {
		case err == nil:
		case errors.Is(err, overlay.ErrUnreachable):
			return nil, "", InfrastructureError("test definition %s: %w", def.Name, err)
		case ctx.Err() != nil:
			return nil, "", err
		default:
			return nil, "", JobError("test definition %s: %w", def.Name, err)
		}
		env.Info("%s: %s at %s, %s", def.Name, def.Repository, info.Commit, def.Path)
		if len(info.Testdef.Install.GitRepos) > 0 && !slices.ContainsFunc(def.SkipInstall, func(s string) bool { return s == "git-repos" || s == "all" }) {
			if err := overlay.FetchInstallRepos(ctx, info.Testdef, def.Params, dir); err != nil {
				if errors.Is(err, overlay.ErrUnreachable) {
					return nil, "", InfrastructureError("test definition %s: install git-repos: %w", def.Name, err)
				}
				return nil, "", JobError("test definition %s: install git-repos: %w", def.Name, err)
			}
		}
		return info.Testdef, dir, nil
	}
	return nil, "", JobError("test definition %s: from: %s is not supported (inline or git)", def.Name, def.From)
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
