package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
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

// jobsResults prints a job's test cases, every page of them, optionally
// filtered by suite, set, case and result.
func (e *clientEnv) jobsResults() *cobra.Command {
	var f client.ResultsFilter
	c := command("results ID", "Print a job's test results (LINE is the 0-based log line of the result)", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		id, err := parseID("job", args[0])
		if err != nil {
			return err
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		all, err := cl.AllJobResults(cmd.Context(), id, f)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), wire.List[wire.Result]{Count: len(all), Limit: len(all), Results: append([]wire.Result{}, all...)})
		}
		t := newTable(cmd.OutOrStdout(), "SUITE", "SET", "CASE", "RESULT", "MEASUREMENT", "UNITS", "LINE")
		for _, r := range all {
			t.row(r.Suite, r.Set, r.Case, r.Result, r.Measurement, r.Units, strconv.Itoa(r.LogLine))
		}
		return t.flush()
	})
	c.Flags().StringVar(&f.Suite, "suite", "", "only this suite")
	c.Flags().StringVar(&f.Set, "set", "", "only this test set")
	c.Flags().StringVar(&f.Case, "case", "", "only test cases of this name")
	c.Flags().StringVar(&f.Result, "result", "", "only this result: pass, fail, skip or unknown")
	return c
}

// jobsSuites prints a job's test suites with their counts.
func (e *clientEnv) jobsSuites() *cobra.Command {
	return jobCommand(e, "suites ID", "Print a job's test suites with their cases counted by result", (*client.Client).JobSuites,
		func(w io.Writer, page wire.List[wire.Suite]) error {
			t := newTable(w, "SUITE", "PASS", "FAIL", "SKIP", "UNKNOWN", "TOTAL")
			for _, s := range page.Results {
				t.row(s.Name, strconv.Itoa(s.Pass), strconv.Itoa(s.Fail), strconv.Itoa(s.Skip), strconv.Itoa(s.Unknown), strconv.Itoa(s.Total))
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
