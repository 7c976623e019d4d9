package dispatcher

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/version"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Run runs the job whose assignment the worker wrote to DIR/job.json, and
// is the whole life of the job process (see the job directory contract in
// jobdir.go): it creates the journal, validates the job against the
// device, runs the pipeline under the job timeout, always runs finalize,
// logs the lava/job result, closes the journal and writes DIR/result.json
// last.
//
// Cancelling ctx cancels the job: the running action stops, finalize runs
// anyway (under its own timeout), and the result is fail with error type
// Canceled. The returned error is non-nil only when the journal or the
// result file could not be written; the Result is then not reliable and
// result.json may be missing.
//
// An assignment with Console is a reservation's console session instead
// of a pipeline (see consolesession.go): it runs until ctx is canceled or
// its timeout, and passes.
func Run(ctx context.Context, dir string) (Result, error) {
	return RunWith(ctx, dir, Options{})
}

// Options change how RunWith runs a job.
type Options struct {
	// Coordinator carries the calls of a multinode job (one whose
	// assignment places it in a group) to its group's coordinator; nil
	// means the worker's socket in the job directory (SocketCoordinator).
	Coordinator Coordinator
}

// RunWith is Run with options.
func RunWith(ctx context.Context, dir string, o Options) (Result, error) {
	log, err := journal.Create(filepath.Join(dir, JournalFile))
	if err != nil {
		return Result{}, fmt.Errorf("run job in %s: %w", dir, err)
	}
	if o.Coordinator == nil {
		o.Coordinator = SocketCoordinator(dir)
	}
	res := runJob(ctx, dir, log, o)
	if err := log.Close(); err != nil {
		return res, fmt.Errorf("run job in %s: %w", dir, err)
	}
	if err := WriteResult(dir, res); err != nil {
		return res, fmt.Errorf("run job in %s: %w", dir, err)
	}
	return res, nil
}

// runJob does everything between opening and closing the journal.
func runJob(ctx context.Context, dir string, log *journal.Writer, o Options) Result {
	r := &runner{}
	env := &Env{Dir: dir, Log: log, Session: &Session{}, run: r}
	log.Logf(workerproto.LevelInfo, "basalt %s: job process started", version.Version)

	var job *jobdef.Job
	var pipe *pipeline
	settings, err := ReadSettings(dir)
	r.cache = &jobCache{settings: settings}
	r.bootFilesDir, r.bootFilesPrefix, r.bootServerIP = settings.BootFilesDir, settings.BootFilesPrefix, settings.BootServerIP
	var a workerproto.Assign
	if err == nil {
		a, err = ReadJob(dir)
	}
	if err != nil {
		err = InfrastructureError("%w", err)
	} else if a.Console != nil {
		// a reservation: an interactive console session, no pipeline
		log.Mask(a.JobToken)
		res := runConsoleSession(ctx, dir, log, a)
		log.Result(workerproto.ResultMsg{Definition: "lava", Case: "job", Result: res.Result, ErrorType: string(res.ErrorType), ErrorMsg: res.ErrorMsg})
		return res
	} else {
		log.Mask(a.JobToken)
		env.JobID = a.JobID
		job, pipe, err = validate(ctx, env, a, o.Coordinator)
	}

	if err == nil {
		timeout := a.Timeout
		if timeout <= 0 {
			timeout = job.Timeouts.Job.Duration
		}
		jctx, cancel := context.WithTimeoutCause(ctx, timeout, &jobTimeout{timeout: timeout})
		log.Logf(workerproto.LevelInfo, "job %d: timeout %s", a.JobID, clock(timeout))
		if env.mn != nil {
			// LAVA's protocol set_up: join the group before the first
			// action.
			err = env.mn.setUp(jctx, log)
		}
		if err == nil {
			err = pipe.run(jctx, env)
		}
		if err == nil && jctx.Err() != nil {
			err = causeError(jctx)
		}
		cancel()
	}
	if err != nil {
		t := ErrorTypeOf(err)
		log.Logf(workerproto.LevelError, "%s: %s", exceptionName(t), err)
	}

	// finalize: always, whatever happened, with its own timeout only.
	if job == nil {
		job = &jobdef.Job{}
	}
	env.Job = job
	fin := newFinalize(job, len(job.Actions), r)
	if ferr := r.run(context.WithoutCancel(ctx), env, fin); ferr != nil {
		if err == nil {
			err = ferr
			log.Logf(workerproto.LevelError, "%s: %s", exceptionName(ErrorTypeOf(err)), err)
		}
	}
	if rerr := r.cache.release(); rerr != nil {
		log.Logf(workerproto.LevelWarning, "download cache: %v", rerr)
	}

	res := Result{Result: ResultPass}
	if err != nil {
		res = Result{Result: ResultFail, ErrorType: ErrorTypeOf(err), ErrorMsg: log.MaskString(err.Error())}
	}
	log.Result(workerproto.ResultMsg{Definition: "lava", Case: "job", Result: res.Result, ErrorType: string(res.ErrorType), ErrorMsg: res.ErrorMsg})
	return res
}

// validate parses the job, opens the device and builds the pipeline: LAVA's
// validate step, with its start record, duration and results case. The
// secrets of the job are masked from here on. For a multinode job it sets
// env.mn (even when the job is invalid, so that it leaves its group at the
// end) and keeps only the actions of the job's role.
func validate(ctx context.Context, env *Env, a workerproto.Assign, coord Coordinator) (*jobdef.Job, *pipeline, error) {
	log := env.Log
	log.Log(workerproto.LevelInfo, "start: 0 validate")
	start := time.Now()
	job, pipe, err := func() (*jobdef.Job, *pipeline, error) {
		// A multinode sub-job is written by the server (jobdef.Split):
		// accept its form, and refuse it below when the job was given no
		// group (basalt run).
		job, err := jobdef.Parse([]byte(a.Definition), jobdef.ServerGenerated())
		if err != nil {
			log.Mask(looseSecrets(a.Definition)...)
			env.mn, _ = multinodeOf(a, nil, coord)
			return nil, nil, JobError("the job definition is invalid: %w", err)
		}
		for _, v := range job.Secrets {
			log.Mask(v)
		}
		env.Job = job
		mn, err := multinodeOf(a, job, coord)
		env.mn = mn
		if err != nil {
			return job, nil, err
		}
		if mn != nil {
			job.Actions = actionsOfRole(job.Actions, mn.role)
			log.Logf(workerproto.LevelDebug, "This MultiNode test job contains top level actions, in order, of: %s", actionKinds(job.Actions))
		}
		log.Logf(workerproto.LevelInfo, "job %d: %q on %s (device type %s)", a.JobID, job.Name, a.Device.Hostname, a.Device.DeviceType)
		dev, cfg, err := OpenDevice(ctx, a.Device, job.Context, log.Logf)
		if err != nil {
			return job, nil, err
		}
		env.Device, env.DeviceConfig = dev, cfg
		env.run.device = deviceTimeouts{actions: cfg.Timeouts, connections: cfg.Connections}
		env.Conn = NewConn(dev.Console(), log)
		env.Session.addLink(&link{name: primaryConnection(dev), primary: true, conn: env.Conn})
		log.Log(workerproto.LevelInfo, describeDevice(dev))
		pipe, err := buildPipeline(job, dev, cfg, env.run, mn)
		return job, pipe, err
	}()
	took := time.Since(start)
	result := ResultPass
	if err != nil {
		result = ResultFail
		log.Logf(workerproto.LevelError, "validate failed: %s", err)
	}
	log.Logf(workerproto.LevelInfo, "validate duration: %s", durationSeconds(took))
	log.Result(workerproto.ResultMsg{Definition: "lava", Case: "validate", Result: result, Duration: durationSeconds(took)})
	return job, pipe, err
}

// looseSecrets reads the secrets of a definition that did not parse, so
// that its error messages still mask them.
func looseSecrets(def string) []string {
	var doc struct {
		Secrets map[string]any `yaml:"secrets"`
	}
	if yaml.Unmarshal([]byte(def), &doc) != nil {
		return nil
	}
	var out []string
	for _, v := range doc.Secrets {
		if v != nil {
			out = append(out, fmt.Sprint(v))
		}
	}
	return out
}

// run runs the job's actions in order until one fails.
func (p *pipeline) run(ctx context.Context, env *Env) error {
	if l := env.Session.primaryLink(); l != nil {
		l.ns = p.primaryNS
	}
	for _, n := range p.nodes {
		if ctx.Err() != nil {
			return causeError(ctx)
		}
		if err := p.runner.run(ctx, env, n); err != nil {
			return err
		}
	}
	return nil
}

// actionKinds lists the kinds of actions, in order: "deploy, boot, test".
func actionKinds(actions []jobdef.Action) string {
	kinds := make([]string, len(actions))
	for i, a := range actions {
		kinds[i] = string(a.Kind)
	}
	return strings.Join(kinds, ", ")
}
