package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/dispatcher"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// newRunCommand builds `basalt run JOB.yaml --device DEVICE`: one job run
// locally, without a server (what lava-run and tuxrun are for), with the
// same pipeline and journal as on a worker.
func newRunCommand() *cobra.Command {
	var (
		devicePath, hostname, deviceType, jobDir, cacheDir, httpProxy string
		jobID                                                         int64
		asJSON, quiet                                                 bool
	)
	cmd := &cobra.Command{
		Use:   "run JOB.yaml --device DEVICE",
		Short: "Run one job locally on a device, without a server",
		Long: `Run one LAVA job definition on a device described by a device dictionary
(LAVA's {% extends 'qemu.jinja2' %} form or plain YAML), on this host and
without a server: the same pipeline, log and results as on a worker.

The log is printed while the job runs, then the results. The job directory
(--job-dir, default a new temporary directory that is kept) holds job.json,
the journal log.ndjson and result.json. Exit status: 0 when the job passed,
7 when it failed (an Incomplete job), 2 for bad arguments.`,
		Example: `  basalt dut build --out dut
  basalt run examples/qemu-smoke.yaml --device examples/devices/qemu01.jinja2`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if devicePath == "" {
				return usageError{fmt.Errorf("--device DICTIONARY is required")}
			}
			def, err := os.ReadFile(args[0])
			if err != nil {
				return usageError{err}
			}
			dict, err := os.ReadFile(devicePath)
			if err != nil {
				return usageError{fmt.Errorf("--device: %w", err)}
			}
			if hostname == "" {
				hostname = strings.TrimSuffix(filepath.Base(devicePath), filepath.Ext(devicePath))
			}
			if deviceType == "" {
				deviceType = dictionaryTemplate(string(dict))
			}
			if jobDir == "" {
				if jobDir, err = os.MkdirTemp("", "basalt-run-*"); err != nil {
					return err
				}
			} else if err := os.MkdirAll(jobDir, 0o755); err != nil {
				return err
			}
			if cacheDir == "" {
				if base, err := os.UserCacheDir(); err == nil {
					cacheDir = filepath.Join(base, "basalt", "downloads")
				}
			}
			a := workerproto.Assign{JobID: jobID, Definition: string(def),
				Device: workerproto.Device{Hostname: hostname, DeviceType: deviceType, Dictionary: string(dict)}}
			if err := dispatcher.WriteJob(jobDir, a); err != nil {
				return err
			}
			if err := dispatcher.WriteSettings(jobDir, dispatcher.Settings{CacheDir: cacheDir, HTTPProxy: httpProxy}); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := runLocal(ctx, jobDir, out, asJSON, quiet)
			if err != nil {
				return err
			}
			if !asJSON {
				if err := printLocalResults(out, filepath.Join(jobDir, dispatcher.JournalFile)); err != nil {
					return err
				}
				fmt.Fprintf(out, "\njob %s", res.Result)
				if !res.Passed() {
					fmt.Fprintf(out, " (%s: %s)", res.ErrorType, res.ErrorMsg)
				}
				fmt.Fprintf(out, "; job directory %s\n", jobDir)
			}
			if !res.Passed() {
				return &ExitError{Code: ExitJobFailed, Err: fmt.Errorf("job failed: %s: %s", res.ErrorType, res.ErrorMsg)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&devicePath, "device", "", "device dictionary file (required)")
	f.StringVar(&hostname, "hostname", "", "device name (default: the dictionary's file name)")
	f.StringVar(&deviceType, "device-type", "", "device type (default: the dictionary's template)")
	f.StringVar(&jobDir, "job-dir", "", "job directory (default: a new temporary directory)")
	f.StringVar(&cacheDir, "cache-dir", "", "download cache (default: the user's cache directory, basalt/downloads)")
	f.StringVar(&httpProxy, "http-proxy", os.Getenv("BASALT_HTTP_PROXY"), "proxy URL for http(s) downloads")
	f.Int64Var(&jobID, "job-id", 1, "job id (the overlay lives in /lava-<job id> on the device)")
	f.BoolVar(&asJSON, "json", false, "print the journal's JSON records instead of text, and no summary")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the results, not the log")
	return cmd
}

// dictionaryTemplate guesses a device type from a dictionary: the template
// it extends, or "qemu" when none is named.
func dictionaryTemplate(dict string) string {
	for _, line := range strings.Split(dict, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "extends"); i >= 0 && strings.Contains(line, ".jinja2") {
			rest := line[i+len("extends"):]
			rest = strings.Trim(rest, " '\"%}-")
			return strings.TrimSuffix(rest, ".jinja2")
		}
		if v, ok := strings.CutPrefix(line, "extends:"); ok {
			return strings.Trim(strings.TrimSpace(v), `'"`)
		}
	}
	return "qemu"
}

// runLocal runs the job process's work in this process while printing its
// journal as it grows.
func runLocal(ctx context.Context, dir string, out io.Writer, asJSON, quiet bool) (dispatcher.Result, error) {
	type outcome struct {
		res dispatcher.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := dispatcher.Run(ctx, dir)
		done <- outcome{res, err}
	}()
	journal := filepath.Join(dir, dispatcher.JournalFile)
	var offset int64
	var pending []byte
	flush := func() {
		f, err := os.Open(journal)
		if err != nil {
			return
		}
		defer f.Close()
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return
		}
		b, _ := io.ReadAll(f)
		offset += int64(len(b))
		pending = append(pending, b...)
		for {
			i := strings.IndexByte(string(pending), '\n')
			if i < 0 {
				return
			}
			line := string(pending[:i])
			pending = pending[i+1:]
			if !quiet {
				_ = printLogLine(out, line, asJSON)
			}
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case o := <-done:
			flush()
			return o.res, o.err
		case <-tick.C:
			flush()
		}
	}
}

// printLocalResults prints the test results of a journal as a table.
func printLocalResults(w io.Writer, journal string) error {
	f, err := os.Open(journal)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nresults:")
	fmt.Fprintln(tw, "SUITE\tCASE\tRESULT\tMEASUREMENT\tSET")
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), dispatcher.MaxLineLength*4)
	for s.Scan() {
		rec, err := workerproto.DecodeRecord(s.Bytes())
		if err != nil || rec.Level != workerproto.LevelResults {
			continue
		}
		var m workerproto.ResultMsg
		if json.Unmarshal(rec.Msg, &m) != nil {
			continue
		}
		meas := m.Measurement
		if meas != "" && m.Units != "" {
			meas += " " + m.Units
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Definition, m.Case, m.Result, meas, m.Set)
	}
	if err := s.Err(); err != nil {
		return err
	}
	return tw.Flush()
}
