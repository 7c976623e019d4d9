package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// jobsLogs prints a job's log, as text lines ("time level message") or,
// with --json, the stored NDJSON records; --follow keeps printing new lines
// until the job is finished.
func (e *clientEnv) jobsLogs() *cobra.Command {
	var (
		start    int
		follow   bool
		interval time.Duration
	)
	c := command("logs ID", "Print a job's log (--follow: until the job finishes)", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		id, err := parseID("job", args[0])
		if err != nil {
			return err
		}
		if interval <= 0 {
			return usageError{fmt.Errorf("--interval must be positive")}
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		next := start
		for {
			// read the state first: lines stored before a Finished state are complete
			j, err := cl.GetJob(cmd.Context(), id)
			if err != nil {
				return err
			}
			var wait time.Duration
			if follow && j.State != jobFinished {
				wait = 30 * time.Second // the server answers as soon as lines arrive
			}
			lines, _, err := cl.JobLogsWait(cmd.Context(), id, next, -1, wait)
			if err != nil {
				return err
			}
			for _, l := range lines {
				if err := printLogLine(out, l, e.json); err != nil {
					return err
				}
			}
			next += len(lines)
			if !follow || j.State == jobFinished {
				return nil
			}
			if len(lines) == 0 {
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(interval):
				}
			}
		}
	})
	c.Flags().IntVar(&start, "start", 0, "first line to print")
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until the job is finished")
	c.Flags().DurationVar(&interval, "interval", time.Second, "with --follow, pause after a read that brought nothing")
	return c
}

func printLogLine(w io.Writer, line string, asJSON bool) error {
	if asJSON {
		_, err := fmt.Fprintln(w, line)
		return err
	}
	rec, err := workerproto.DecodeRecord([]byte(line))
	if err != nil {
		_, err := fmt.Fprintln(w, line)
		return err
	}
	var msg string
	if json.Unmarshal(rec.Msg, &msg) != nil {
		msg = string(rec.Msg)
	}
	_, err = fmt.Fprintf(w, "%s %-8s %s\n", rec.Time.UTC().Format("15:04:05.000"), rec.Level, msg)
	return err
}

// jobsResults prints a job's test results.
func (e *clientEnv) jobsResults() *cobra.Command {
	return jobCommand(e, "results ID", "Print a job's test results", (*client.Client).JobResults,
		func(w io.Writer, page wire.List[wire.Result]) error {
			t := newTable(w, "SUITE", "SET", "CASE", "RESULT", "MEASUREMENT", "UNITS")
			for _, r := range page.Results {
				t.row(r.Suite, r.Set, r.Case, r.Result, r.Measurement, r.Units)
			}
			return t.flush()
		})
}

// workersJoinToken issues a one-time join token for a worker.
func (e *clientEnv) workersJoinToken() *cobra.Command {
	var ttl time.Duration
	c := command("join-token NAME", "Issue a one-time token a new worker exchanges for its own (basalt worker --join-token)", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		tok, err := cl.CreateJoinToken(cmd.Context(), args[0], ttl)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), tok)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "join token for %s (valid until %s, once):\n  %s\nstart the worker with:\n  basalt worker --server %s --name %s --join-token %s\n",
			args[0], tok.Expires.Format(time.RFC3339), tok.Token, cl.URI(), args[0], tok.Token)
		return nil
	})
	c.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token may wait to be used")
	return c
}
