package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
)

// Worker healths as the API spells them.
const (
	workerActive      = "Active"
	workerMaintenance = "Maintenance"
	workerRetired     = "Retired"
)

func (e *clientEnv) workersCommand() *cobra.Command {
	return group("workers", "List, add and change workers (the hosts that run jobs on devices)",
		e.workersList(), e.workersShow(), e.workersAdd(), e.workersUpdate(),
		e.workersHealth("maintenance", workerMaintenance, "Put a worker in maintenance: its devices take no new jobs"),
		e.workersHealth("activate", workerActive, "Make a worker Active again"),
		e.workersHealth("retire", workerRetired, "Retire a worker for good"),
		e.workersToken(), e.workersJoinToken(), e.workersHistory())
}

func (e *clientEnv) printWorker(cmd *cobra.Command, w wire.Worker) error {
	if e.json {
		return printJSON(cmd.OutOrStdout(), w)
	}
	return fields(cmd.OutOrStdout(),
		"Name", w.Name,
		"Description", w.Description,
		"State", w.State,
		"Health", w.Health,
		"Job limit", jobLimitText(w.JobLimit),
		"Last ping", timeText(w.LastHeartbeat),
		"Version", w.Version,
	)
}

func jobLimitText(n int) string {
	if n == 0 {
		return "none"
	}
	return strconv.Itoa(n)
}

func (e *clientEnv) workersList() *cobra.Command {
	return command("list", "List workers", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.ListWorkers(cmd.Context())
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "NAME", "STATE", "HEALTH", "JOB LIMIT", "LAST PING", "VERSION", "DESCRIPTION")
		for _, w := range page.Results {
			t.row(w.Name, w.State, w.Health, jobLimitText(w.JobLimit), timeText(w.LastHeartbeat), w.Version, w.Description)
		}
		return t.flush()
	})
}

func (e *clientEnv) workersShow() *cobra.Command {
	return command("show NAME", "Show a worker", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		w, err := cl.GetWorker(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return e.printWorker(cmd, w)
	})
}

// workerFlags are the fields add and update share.
type workerFlags struct {
	jobLimit    int
	description string
}

func (f *workerFlags) add(c *cobra.Command) {
	c.Flags().IntVar(&f.jobLimit, "job-limit", 0, "at most this many jobs at once (0: no limit)")
	c.Flags().StringVar(&f.description, "description", "", "free-text description")
}

// printWorkerToken shows a new worker token once, with how to use it.
func printWorkerToken(cmd *cobra.Command, cl *client.Client, name, token string) {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Token for worker %s (shown only once; keep it secret):\n\n    %s\n\n", name, token)
	fmt.Fprintf(out, "Start the worker on its host with this server and token, for example\n"+
		"through the environment (keep the token out of shell history):\n\n"+
		"    BASALT_WORKER_TOKEN=<token> basalt worker --server %s --name %s\n", cl.URI(), name)
}

func (e *clientEnv) workersAdd() *cobra.Command {
	var f workerFlags
	c := command("add NAME", "Add a worker; prints its token, shown only once", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		in := wire.WorkerInput{Name: args[0], JobLimit: ptrIfChanged(cmd, "job-limit", f.jobLimit),
			Description: ptrIfChanged(cmd, "description", f.description)}
		nw, err := cl.CreateWorker(cmd.Context(), in)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), nw)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "worker %s added\n", nw.Worker.Name)
		printWorkerToken(cmd, cl, nw.Worker.Name, nw.Token)
		return nil
	})
	f.add(c)
	return c
}

func (e *clientEnv) workersUpdate() *cobra.Command {
	var f workerFlags
	c := command("update NAME", "Change a worker's job limit or description", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		in := wire.WorkerInput{JobLimit: ptrIfChanged(cmd, "job-limit", f.jobLimit),
			Description: ptrIfChanged(cmd, "description", f.description)}
		if in.JobLimit == nil && in.Description == nil {
			return usageError{fmt.Errorf("nothing to change: give --job-limit or --description")}
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		w, err := cl.UpdateWorker(cmd.Context(), args[0], in)
		if err != nil {
			return err
		}
		return e.printWorker(cmd, w)
	})
	f.add(c)
	return c
}

// workersHealth builds maintenance, activate and retire.
func (e *clientEnv) workersHealth(use, health, short string) *cobra.Command {
	var reason string
	c := command(use+" NAME", short, exactArgs(1), func(cmd *cobra.Command, args []string) error {
		if health == workerMaintenance {
			if err := requireFlag("reason", reason); err != nil {
				return err
			}
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		h := health
		w, err := cl.UpdateWorker(cmd.Context(), args[0], wire.WorkerInput{Health: &h, Reason: reason})
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), w)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "worker %s: health %s\n", w.Name, w.Health)
		return nil
	})
	c.Flags().StringVar(&reason, "reason", "", "why (recorded in the worker's history)")
	return c
}

func (e *clientEnv) workersToken() *cobra.Command {
	return command("token NAME", "Revoke a worker's tokens and print a new one", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		tok, err := cl.RotateWorkerToken(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), tok)
		}
		printWorkerToken(cmd, cl, args[0], tok.Token)
		return nil
	})
}

func (e *clientEnv) workersHistory() *cobra.Command {
	var limit int
	c := command("history NAME", "Show a worker's state and health changes, newest first", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.WorkerHistory(cmd.Context(), args[0], limit)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "TIME", "ACTOR", "STATE", "HEALTH", "REASON")
		for _, tr := range page.Results {
			t.row(timeText(&tr.Time), tr.Actor, change(tr.OldState, tr.NewState), change(tr.OldHealth, tr.NewHealth), tr.Reason)
		}
		return t.flush()
	})
	c.Flags().IntVar(&limit, "limit", 0, "at most this many entries (default: the server's, 100)")
	return c
}

// change is "Old->New", or just the value when it did not change.
func change(from, to string) string {
	if from == to {
		return to
	}
	return from + "->" + to
}
