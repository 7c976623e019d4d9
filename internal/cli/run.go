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
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/bootfiles"
	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/devicetypes"
	"github.com/basalt-lab/basalt/internal/dispatcher"
	"github.com/basalt-lab/basalt/internal/jinja"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/worker"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// newRunCommand builds `basalt run JOB.yaml --device DEVICE`: one job run
// locally, without a server (what lava-run and tuxrun are for), with the
// same pipeline and journal as on a worker.
func newRunCommand() *cobra.Command {
	var (
		devicePath, hostname, deviceType, jobDir, cacheDir, httpProxy string
		templatesDir, bootFiles, tftpListen, bootHTTPListen, serverIP string
		jobID                                                         int64
		asJSON, quiet                                                 bool
	)
	cmd := &cobra.Command{
		Use:   "run JOB.yaml --device DEVICE",
		Short: "Run one job locally on a device, without a server",
		Long: `Run one LAVA job definition on a device described by a device dictionary
(LAVA's {% extends 'qemu.jinja2' %} form or plain YAML), on this host and
without a server: the same pipeline, log and results as on a worker.

A board's dictionary (any template but qemu) is rendered with the
device-type templates of --device-types-dir, then those Basalt ships, and
the job's context. For deploy to: tftp give --boot-files: the files are
served over TFTP (--tftp-listen, --boot-server-ip) while the job runs.

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
			if a.Device.Config, err = renderLocal(a, templatesDir); err != nil {
				return usageError{fmt.Errorf("--device %s: %w", devicePath, err)}
			}
			if err := dispatcher.WriteJob(jobDir, a); err != nil {
				return err
			}
			settings := dispatcher.Settings{CacheDir: cacheDir, HTTPProxy: httpProxy}
			if bootFiles != "" {
				stopBoot, err := serveBootFiles(&settings, jobID, bootFiles, tftpListen, bootHTTPListen, serverIP)
				if err != nil {
					return err
				}
				defer stopBoot()
			}
			if err := dispatcher.WriteSettings(jobDir, settings); err != nil {
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
	f.StringVar(&templatesDir, "device-types-dir", "", "device-type templates (LAVA's form) searched before those Basalt ships, for a board's dictionary")
	f.StringVar(&bootFiles, "boot-files", "", "serve the job's boot files (deploy to: tftp) from this directory while it runs")
	f.StringVar(&tftpListen, "tftp-listen", worker.DefaultTFTPListen, "UDP address of the TFTP server (with --boot-files)")
	f.StringVar(&bootHTTPListen, "boot-http-listen", "", "TCP address serving the boot files over HTTP too (with --boot-files)")
	f.StringVar(&serverIP, "boot-server-ip", "", "this host's address as the board sees it, {SERVER_IP} (default: the host of --tftp-listen)")
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

// renderLocal renders a board's dictionary (one that goes through a
// device-type template) with the templates of dir, then Basalt's, and the
// job's context; "" for dictionaries the dispatcher reads itself.
func renderLocal(a workerproto.Assign, dir string) (string, error) {
	d, err := devicedict.Parse(a.Device.Dictionary)
	if err != nil || !devicedict.Rendered(d, a.Device.DeviceType) {
		return "", nil // the job process reports a dictionary that does not parse
	}
	var jobCtx map[string]any
	if job, err := jobdef.Parse([]byte(a.Definition)); err == nil {
		jobCtx = job.Context
	}
	loaders := []jinja.Loader{}
	if dir != "" {
		loaders = append(loaders, jinja.DirLoader(dir))
	}
	loaders = append(loaders, jinja.FSLoader(devicetypes.FS()))
	r := &devicedict.Renderer{Templates: jinja.ChainLoader(loaders...)}
	return r.Render(a.Device.Dictionary, a.Device.Hostname, a.Device.DeviceType, jobCtx)
}

// serveBootFiles serves the job's boot files over TFTP (and HTTP) from
// dir, as a worker does, and puts the job's directory into settings. The
// returned function stops serving.
func serveBootFiles(settings *dispatcher.Settings, jobID int64, dir, tftpListen, httpListen, serverIP string) (func(), error) {
	if serverIP == "" {
		var err error
		if serverIP, err = bootfiles.ServerIP(tftpListen); err != nil {
			return nil, usageError{fmt.Errorf("--boot-server-ip: %w", err)}
		}
	}
	svc, err := bootfiles.Listen(dir, tftpListen, httpListen, false, nil)
	if err != nil {
		return nil, err
	}
	id := strconv.FormatInt(jobID, 10)
	jobDir, prefix, err := svc.Publish(id)
	if err != nil {
		svc.Close()
		return nil, err
	}
	settings.BootFilesDir, settings.BootFilesPrefix, settings.BootServerIP = jobDir, prefix, serverIP
	return func() {
		svc.Unpublish(id)
		svc.Close()
	}, nil
}
