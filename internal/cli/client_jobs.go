package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
)

// Job states and healths as the API spells them.
const (
	jobFinished = "Finished"
	jobComplete = "Complete"
)

func (e *clientEnv) jobsCommand() *cobra.Command {
	return group("jobs", "Submit, list, inspect, cancel and wait for test jobs",
		e.jobsSubmit(), e.jobsValidate(), e.jobsList(), e.jobsShow(), e.jobsDefinition(),
		e.jobsCancel(), e.jobsResubmit(), e.jobsWait(), e.jobsQueue(), e.jobsLogs(), e.jobsResults(), e.jobsSuites())
}

// waitFlags are the options of `jobs wait` and `jobs submit --wait`.
type waitFlags struct {
	timeout  time.Duration
	interval time.Duration
}

func (w *waitFlags) add(c *cobra.Command) {
	c.Flags().DurationVar(&w.timeout, "timeout", 0, "give up waiting after this long (0: wait forever)")
	c.Flags().DurationVar(&w.interval, "interval", 5*time.Second, "time between two polls of the server")
}

func (w *waitFlags) check() error {
	if w.interval <= 0 {
		return usageError{fmt.Errorf("--interval must be positive")}
	}
	if w.timeout < 0 {
		return usageError{fmt.Errorf("--timeout must not be negative")}
	}
	return nil
}

// problemLine formats a definition problem prefixed by the file name:
// "FILE:line:col: path: message".
func problemLine(file string, p wire.Problem) string {
	if p.Line > 0 {
		return file + ":" + client.FormatProblem(p)
	}
	return file + ": " + client.FormatProblem(p)
}

func (e *clientEnv) jobsSubmit() *cobra.Command {
	var (
		wait bool
		wf   waitFlags
	)
	c := command("submit FILE...", "Submit job definitions (\"-\" reads standard input); prints the new job ids",
		minArgs(1), func(cmd *cobra.Command, args []string) error {
			if err := wf.check(); err != nil {
				return err
			}
			cl, err := e.connect()
			if err != nil {
				return err
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			var (
				ids      []int64
				firstErr error
				failed   int
			)
			for _, file := range args {
				def, err := readInput(cmd, file)
				if err == nil {
					var sub wire.Submitted
					sub, err = cl.SubmitJob(cmd.Context(), def)
					if err == nil {
						ids = append(ids, sub.JobIDs...)
						printWarnings(errOut, inputName(file), sub.Warnings)
						if e.json {
							err = printJSON(out, sub)
						} else {
							for _, id := range sub.JobIDs {
								fmt.Fprintln(out, id)
							}
						}
					}
				}
				if err != nil {
					failed++
					err = fileError(errOut, inputName(file), err)
					if firstErr == nil {
						firstErr = err
					}
					if len(args) > 1 {
						fmt.Fprintf(errOut, "basalt: %v\n", err)
					}
				}
			}
			if firstErr != nil {
				if len(args) > 1 {
					return &ExitError{Code: exitCodeOf(firstErr), Err: fmt.Errorf("%d of %d submissions failed", failed, len(args))}
				}
				return firstErr
			}
			if wait {
				return e.waitJobs(cmd, cl, ids, wf)
			}
			return nil
		})
	c.Flags().BoolVar(&wait, "wait", false, "wait for the jobs to finish (exit status as for `jobs wait`)")
	wf.add(c)
	return c
}

// printWarnings prints a definition's warnings to w, one
// "FILE:line:col: path: warning: message" line each.
func printWarnings(w io.Writer, file string, warnings []wire.Problem) {
	for _, p := range warnings {
		p.Message = "warning: " + p.Message
		fmt.Fprintln(w, problemLine(file, p))
	}
}

// fileError prints the problems of an invalid definition as
// FILE:line:col lines and returns a short error; other errors are prefixed
// with the file name.
func fileError(w io.Writer, file string, err error) error {
	var ae *client.APIError
	if errors.As(err, &ae) && len(ae.Details) > 0 {
		for _, p := range ae.Details {
			fmt.Fprintln(w, problemLine(file, p))
		}
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: invalid job definition (%d problem%s)", file, len(ae.Details), plural(len(ae.Details)))}
	}
	return exitError(fmt.Errorf("%s: %w", file, err))
}

// exitCodeOf returns the exit code an error maps to.
func exitCodeOf(err error) int {
	var ee *ExitError
	if errors.As(exitError(err), &ee) {
		return ee.Code
	}
	if isUsage(err) {
		return ExitUsage
	}
	return ExitFailure
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (e *clientEnv) jobsValidate() *cobra.Command {
	var strict bool
	c := command("validate FILE...", "Check job definitions without submitting them; prints FILE:line:col: path: message per problem, and the warnings of valid ones on standard error",
		minArgs(1), func(cmd *cobra.Command, args []string) error {
			cl, err := e.connect()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			invalid := 0
			for _, file := range args {
				def, err := readInput(cmd, file)
				if err != nil {
					return err
				}
				v, err := cl.ValidateJob(cmd.Context(), def, strict)
				if err != nil {
					return fmt.Errorf("%s: %w", inputName(file), err)
				}
				if !v.Valid {
					invalid++
				}
				if e.json {
					if err := printJSON(out, v); err != nil {
						return err
					}
					continue
				}
				if v.Valid {
					fmt.Fprintf(out, "%s: valid\n", inputName(file))
				}
				for _, p := range v.Errors {
					fmt.Fprintln(out, problemLine(inputName(file), p))
				}
				printWarnings(cmd.ErrOrStderr(), inputName(file), v.Warnings)
			}
			switch {
			case invalid > 0 && len(args) == 1:
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: invalid job definition", inputName(args[0]))}
			case invalid > 0:
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%d of %d job definitions are invalid", invalid, len(args))}
			}
			return nil
		})
	c.Flags().BoolVar(&strict, "strict", false, "refuse what is otherwise accepted with a warning (a key written twice, a key that is ignored), as LAVA's strict validation does")
	return c
}

func (e *clientEnv) jobsList() *cobra.Command {
	var (
		f              client.JobFilter
		states, health string
	)
	c := command("list", "List jobs, newest first", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		if f.Limit < 0 || f.Offset < 0 {
			return usageError{fmt.Errorf("--limit and --offset must not be negative")}
		}
		f.States, f.Health = splitComma(states), splitComma(health)
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.ListJobs(cmd.Context(), f)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "ID", "STATE", "HEALTH", "SUBMITTER", "DEVICE TYPE", "DEVICE", "SUBMITTED", "DESCRIPTION")
		for _, j := range page.Results {
			t.row(listID(j), j.State, j.Health, j.Submitter, j.DeviceType, j.ActualDevice, timeText(j.SubmitTime), j.Description)
		}
		if err := t.flush(); err != nil {
			return err
		}
		if shown := page.Offset + len(page.Results); shown < page.Count {
			fmt.Fprintf(cmd.ErrOrStderr(), "showing %d-%d of %d jobs; use --offset %d for more\n",
				page.Offset+1, shown, page.Count, shown)
		}
		return nil
	})
	fl := c.Flags()
	fl.StringVar(&states, "state", "", "only jobs in these states (comma list: Submitted,Scheduling,Scheduled,Running,Canceling,Finished)")
	fl.StringVar(&health, "health", "", "only jobs with these healths (comma list: Unknown,Complete,Incomplete,Canceled)")
	fl.StringVar(&f.DeviceType, "device-type", "", "only jobs for this device type")
	fl.StringVar(&f.Device, "device", "", "only jobs that ran on this device")
	fl.StringVar(&f.Submitter, "submitter", "", "only jobs of this user")
	fl.StringVar(&f.TargetGroup, "group", "", "only the jobs of this multinode group (its target_group)")
	fl.StringVar(&f.Search, "search", "", "free-text search (description, submitter, …)")
	fl.IntVar(&f.Limit, "limit", 0, "page size, 1-1000 (default: the server's, 50)")
	fl.IntVar(&f.Offset, "offset", 0, "skip this many jobs")
	return c
}

// listID is a job's id as `jobs list` shows it: a multinode sub-job's is
// followed by its sub id and role, "12 (11.1 client)".
func listID(j wire.Job) string {
	if mn := j.Multinode; mn != nil {
		return fmt.Sprintf("%d (%s %s)", j.ID, mn.SubID, mn.Role)
	}
	return idText(j.ID)
}

// jobCommand is a command on one job (an ID argument) that fetches a T
// (fetch is a method expression of client.Client, receiver first)
// and prints it: the API's JSON with --json, else with human.
func jobCommand[T any](e *clientEnv, use, short string, fetch func(*client.Client, context.Context, int64) (T, error), human func(io.Writer, T) error) *cobra.Command {
	return idCommand(e, "job", use, short, fetch, func(cmd *cobra.Command, _ *client.Client, v T) error {
		if e.json {
			return printJSON(cmd.OutOrStdout(), v)
		}
		return human(cmd.OutOrStdout(), v)
	})
}

// idCommand is a command on one object of a kind named by its ID
// argument: it calls act (a method expression of client.Client, receiver
// first) and prints what it answers with print.
func idCommand[T any](e *clientEnv, kind, use, short string, act func(*client.Client, context.Context, int64) (T, error),
	print func(*cobra.Command, *client.Client, T) error) *cobra.Command {
	return command(use, short, exactArgs(1), func(cmd *cobra.Command, args []string) error {
		id, err := parseID(kind, args[0])
		if err != nil {
			return err
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		v, err := act(cl, cmd.Context(), id)
		if err != nil {
			return err
		}
		return print(cmd, cl, v)
	})
}

func (e *clientEnv) jobsShow() *cobra.Command {
	return command("show ID", "Show a job; a queued job also says why it waits", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		id, err := parseID("job", args[0])
		if err != nil {
			return err
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		j, err := cl.GetJob(cmd.Context(), id)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), j)
		}
		var q *wire.Queue
		if j.State == jobSubmitted {
			if got, err := cl.JobQueue(cmd.Context(), id); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "basalt: cannot say why job %d waits: %v\n", id, err)
			} else if got.Verdict != verdictNotQueued {
				q = &got
			}
		}
		return showJob(cmd.OutOrStdout(), j, q)
	})
}

func (e *clientEnv) jobsQueue() *cobra.Command {
	return jobCommand(e, "queue ID", "Say why a queued job waits: the reason, then every device of its type with why it does not take the job",
		(*client.Client).JobQueue, func(w io.Writer, q wire.Queue) error {
			if q.Verdict == verdictNotQueued {
				_, err := fmt.Fprintln(w, q.Summary)
				return err
			}
			kv := []string{"Waiting", q.Summary}
			for _, r := range q.Reasons[1:] {
				if !inSummary(r.Code) {
					kv = append(kv, "Note", r.Detail)
				}
			}
			if err := fields(w, append(kv, groupFields(q.Group)...)...); err != nil {
				return err
			}
			if err := queueRoles(w, q.Group); err != nil {
				return err
			}
			return queueDevices(w, q)
		})
}

// inSummary reports whether a queue reason that is not the main one is
// already said in the explanation's summary.
func inSummary(code string) bool { return code == "jobs_ahead" || code == "group_hold" }

// groupFields are the fields of a queued job's multinode group g, which
// are not all in the summary: its queued jobs and its hold.
func groupFields(g *wire.QueueGroup) []string {
	if g == nil {
		return nil
	}
	queued := make([]string, len(g.Queued))
	for i, id := range g.Queued {
		queued[i] = jobRef(id)
	}
	kv := []string{"Group queued", fmt.Sprintf("%d of %d jobs: %s", len(g.Queued), g.Size, strings.Join(queued, ", "))}
	if len(g.Held) > 0 {
		kv = append(kv, "Held for it", strings.Join(g.Held, ", "))
	}
	if len(g.WaitsFor) > 0 {
		kv = append(kv, "It waits for", strings.Join(g.WaitsFor, ", "))
	}
	return kv
}

// jobRef is a job id, or "private" for one the caller may not see (0).
func jobRef(id int64) string {
	if id == 0 {
		return "private"
	}
	return strconv.FormatInt(id, 10)
}

// queueRoles prints, after a blank line, what each role of a waiting
// multinode group waits for.
func queueRoles(w io.Writer, g *wire.QueueGroup) error {
	if g == nil || len(g.Roles) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := newTable(w, "ROLE", "JOBS", "PLACEABLE", "DETAIL")
	for _, r := range g.Roles {
		jobs := make([]string, len(r.Jobs))
		for i, id := range r.Jobs {
			jobs[i] = jobRef(id)
		}
		t.row(r.Role, strings.Join(jobs, ","), fmt.Sprintf("%d of %d", r.Placeable, len(r.Jobs)), r.Detail)
	}
	return t.flush()
}

// queueDevices prints, after a blank line, the devices of a queued job's
// scope with the reason each does not take it.
func queueDevices(w io.Writer, q wire.Queue) error {
	if len(q.Devices) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := newTable(w, "DEVICE", "WORKER", "REASON", "DETAIL")
	for _, d := range q.Devices {
		t.row(d.Hostname, d.Worker, d.Code, d.Detail)
	}
	return t.flush()
}

// Job states and queue verdicts as the API spells them.
const (
	jobSubmitted     = "Submitted"
	verdictNotQueued = "not_queued"
)

// showJob prints a job's fields and, for a queued job, the explanation q
// of its wait: a "Waiting" field and a table of the devices of its scope.
func showJob(w io.Writer, j wire.Job, q *wire.Queue) error {
	vis := j.Visibility
	if len(j.ViewingGroups) > 0 {
		vis += " (" + listText(j.ViewingGroups) + ")"
	}
	var queue string
	if j.QueueTimeout > 0 {
		queue = (time.Duration(j.QueueTimeout) * time.Second).String()
	}
	if q != nil {
		for _, r := range q.Reasons {
			if r.Code == "queue_timeout" {
				queue += ": " + r.Detail
			}
		}
	}
	kv := []string{
		"ID", idText(j.ID),
		"Description", j.Description,
		"Submitter", j.Submitter,
		"Visibility", vis,
		"State", j.State,
		"Health", j.Health,
		"Priority", strconv.Itoa(j.Priority),
		"Device type", j.DeviceType,
		"Requested device", j.RequestedDevice,
		"Requested worker", j.RequestedWorker,
		"Tags", listText(j.Tags),
		"Device", j.ActualDevice,
		"Health check", yesNo(j.HealthCheck),
	}
	if mn := j.Multinode; mn != nil {
		role := mn.Role
		if mn.Essential {
			role += " (essential)"
		}
		kv = append(kv, "Multinode group", mn.TargetGroup, "Role", role, "Sub-job", fmt.Sprintf("%s of %d", mn.SubID, mn.GroupSize))
	}
	kv = append(kv,
		"Submitted", timeText(j.SubmitTime),
		"Started", timeText(j.StartTime),
		"Ended", timeText(j.EndTime),
		"Queue timeout", queue,
		"Failure", j.FailureComment,
		"Error type", j.ErrorType,
		"Metadata", mapText(j.Metadata),
	)
	if q == nil {
		return fields(w, kv...)
	}
	if err := fields(w, append(append(kv, "Waiting", q.Summary), groupFields(q.Group)...)...); err != nil {
		return err
	}
	if err := queueRoles(w, q.Group); err != nil {
		return err
	}
	return queueDevices(w, *q)
}

func (e *clientEnv) jobsDefinition() *cobra.Command {
	var original bool
	c := command("definition ID", "Print a job's definition (YAML)", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		id, err := parseID("job", args[0])
		if err != nil {
			return err
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		def, err := cl.JobDefinition(cmd.Context(), id, original)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), wire.DefinitionInput{Definition: def})
		}
		if def != "" && !strings.HasSuffix(def, "\n") {
			def += "\n"
		}
		_, err = io.WriteString(cmd.OutOrStdout(), def)
		return err
	})
	c.Flags().BoolVar(&original, "original", false, "the text as submitted (for a multinode sub-job: its whole group's submission)")
	return c
}

func (e *clientEnv) jobsCancel() *cobra.Command {
	return command("cancel ID...", "Cancel jobs", minArgs(1), func(cmd *cobra.Command, args []string) error {
		ids, err := parseJobIDs(args)
		if err != nil {
			return err
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		var firstErr error
		failed := 0
		for _, id := range ids {
			j, err := cl.CancelJob(cmd.Context(), id)
			if err != nil {
				failed++
				err = exitError(err) // the server's message names the job
				if firstErr == nil {
					firstErr = err
				}
				if len(ids) > 1 {
					fmt.Fprintf(cmd.ErrOrStderr(), "basalt: %v\n", err)
				}
				continue
			}
			if e.json {
				if err := printJSON(cmd.OutOrStdout(), j); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %d: %s\n", j.ID, stateText(j))
		}
		if firstErr != nil && len(ids) > 1 {
			return &ExitError{Code: exitCodeOf(firstErr), Err: fmt.Errorf("%d of %d cancellations failed", failed, len(ids))}
		}
		return firstErr
	})
}

// stateText is "Running", or "Finished (Complete)" once the job is over.
func stateText(j wire.Job) string {
	if j.State == jobFinished {
		return j.State + " (" + j.Health + ")"
	}
	return j.State
}

func (e *clientEnv) jobsResubmit() *cobra.Command {
	return jobCommand(e, "resubmit ID", "Submit a job's definition again; prints the new job ids", (*client.Client).ResubmitJob,
		func(w io.Writer, sub wire.Submitted) error {
			for _, nid := range sub.JobIDs {
				fmt.Fprintln(w, nid)
			}
			return nil
		})
}

func (e *clientEnv) jobsWait() *cobra.Command {
	var wf waitFlags
	c := command("wait ID...", "Wait for jobs to finish, printing their state changes and why they wait while queued; exit 0 when all are Complete",
		minArgs(1), func(cmd *cobra.Command, args []string) error {
			if err := wf.check(); err != nil {
				return err
			}
			ids, err := parseJobIDs(args)
			if err != nil {
				return err
			}
			cl, err := e.connect()
			if err != nil {
				return err
			}
			return e.waitJobs(cmd, cl, ids, wf)
		})
	wf.add(c)
	return c
}

// waitJobs polls each job until it is Finished. It prints every state
// change (or, with --json, the finished jobs) and returns an ExitJobFailed
// error unless all jobs finished Complete. Once a job has been seen,
// connection failures are reported and retried: a server restart must not
// end a long wait.
func (e *clientEnv) waitJobs(cmd *cobra.Command, cl *client.Client, ids []int64, wf waitFlags) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	if wf.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wf.timeout)
		defer cancel()
	}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var failed []string
	for _, id := range ids {
		j, err := e.waitJob(ctx, cl, id, wf.interval, out, errOut)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
				return &ExitError{Code: ExitFailure, Err: fmt.Errorf("timed out after %s waiting for job %d", wf.timeout, id)}
			}
			return err
		}
		if e.json {
			if err := printJSON(out, j); err != nil {
				return err
			}
		}
		if j.Health != jobComplete {
			failed = append(failed, fmt.Sprintf("job %d finished %s", j.ID, j.Health))
		}
	}
	if len(failed) > 0 {
		return &ExitError{Code: ExitJobFailed, Err: errors.New(strings.Join(failed, "; "))}
	}
	return nil
}

// waitJob polls job id every interval until it is Finished, printing its
// state changes and, while it is queued, why it waits whenever that
// changes (one more request per poll, only while the job is queued).
func (e *clientEnv) waitJob(ctx context.Context, cl *client.Client, id int64, interval time.Duration, out, errOut io.Writer) (wire.Job, error) {
	last, seen := "", false
	lastWhy, explain := "", !e.json
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return wire.Job{}, fmt.Errorf("wait for job %d: %w", id, ctx.Err())
		case <-timer.C:
		}
		j, err := cl.GetJob(ctx, id)
		var ce *client.ConnectionError
		switch {
		case err == nil:
			seen = true
			if s := stateText(j); s != last {
				last = s
				if !e.json {
					fmt.Fprintf(out, "job %d: %s\n", id, s)
				}
			}
			if j.State == jobFinished {
				return j, nil
			}
			if explain && j.State == jobSubmitted {
				q, err := cl.JobQueue(ctx, id)
				switch {
				case err == nil && q.Verdict != verdictNotQueued && q.Summary != lastWhy:
					lastWhy = q.Summary
					fmt.Fprintf(out, "job %d: waiting: %s\n", id, q.Summary)
				case err != nil && !errors.As(err, &ce) && ctx.Err() == nil:
					explain = false // a server without the endpoint: wait without reasons
					fmt.Fprintf(errOut, "basalt: cannot say why job %d waits: %v\n", id, err)
				}
			}
		case seen && errors.As(err, &ce):
			fmt.Fprintf(errOut, "basalt: %v (retrying)\n", err)
		default:
			return wire.Job{}, fmt.Errorf("wait for job %d: %w", id, err)
		}
		timer.Reset(interval)
	}
}

// parseJobIDs parses job id arguments; the first bad one is a usage error.
func parseJobIDs(args []string) ([]int64, error) {
	ids := make([]int64, 0, len(args))
	for _, a := range args {
		id, err := parseID("job", a)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
