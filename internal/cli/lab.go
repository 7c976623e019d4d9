package cli

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/dut"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/server"
	"github.com/basalt-lab/basalt/internal/version"
	"github.com/basalt-lab/basalt/internal/worker"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// The all-in-one lab's device dictionary and sample job.
var (
	//go:embed labdata/qemu01.jinja2
	labDictionary string
	//go:embed labdata/sample-job.yaml
	labSampleJob string
)

// Names of the all-in-one lab's objects.
const (
	labWorker     = "local"
	labDevice     = "qemu01"
	labDeviceType = "qemu"
)

// newLabCommand builds `basalt lab`: the all-in-one lab in one process.
func newLabCommand() *cobra.Command {
	var (
		dataDir, listen string
		noJob           bool
	)
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run an all-in-one lab: server, a local worker, a QEMU board and a sample job",
		Long: `Run a whole Basalt lab in one process, for a first look or a laptop:

  - the server, on the embedded SQLite database in DATA/server;
  - a worker named "local" beside it (DATA/worker), connected over loopback;
  - a QEMU board "qemu01" booting Debian's kernel with Basalt's busybox
    initramfs (built into DATA/dut on first start: needs qemu-system-x86,
    busybox-static and linux-image-amd64);
  - a sample job with a few test cases, submitted on start (--no-job: none).

It prints the URLs to watch and keeps running until interrupted. Everything
persists in DATA: a second start reuses the database, the board and the
worker's token.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runLab(ctx, cmd.OutOrStdout(), dataDir, listen, !noJob)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "basalt-lab", "directory for everything the lab keeps")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8000", "address of the server")
	cmd.Flags().BoolVar(&noJob, "no-job", false, "do not submit the sample job")
	return cmd
}

// runLab runs the all-in-one lab until ctx ends.
func runLab(ctx context.Context, out io.Writer, dataDir, listen string, submit bool) error {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Basalt %s all-in-one lab in %s\n", version.Version, dataDir)

	imgs, err := labImages(filepath.Join(dataDir, "dut"), out)
	if err != nil {
		return err
	}

	logFile, err := os.OpenFile(filepath.Join(dataDir, "lab.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	logger := slog.New(slog.NewTextHandler(logFile, nil))

	srv, err := server.Open(ctx, server.Config{Listen: listen, DataDir: filepath.Join(dataDir, "server"), Logger: logger,
		App: app.Config{Logger: logger}})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "  server        %s (log: %s)\n", srv.URL(), logFile.Name())
	if err := ensureAdmin(ctx, srv, out); err != nil {
		return err
	}
	admin, err := labAdmin(ctx, srv.App())
	if err != nil {
		return err
	}
	wcfg, err := labFleet(ctx, srv.App(), admin, filepath.Join(dataDir, "worker"))
	if err != nil {
		return err
	}
	wcfg.Server, wcfg.Logger = srv.URL(), logger
	w, err := worker.New(wcfg)
	if err != nil {
		return err
	}

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ctx) }()
	go func() { errc <- w.Run(ctx) }()
	fmt.Fprintf(out, "  worker        %s, device %s (%s)\n", labWorker, labDevice, labDeviceType)

	if submit {
		job := strings.NewReplacer(
			"{{KERNEL_URL}}", fileURL(imgs.Kernel), "{{KERNEL_SHA256}}", imgs.KernelSHA256,
			"{{RAMDISK_URL}}", fileURL(imgs.Ramdisk), "{{RAMDISK_SHA256}}", imgs.RamdiskSHA256,
		).Replace(labSampleJob)
		ids, err := srv.App().SubmitJob(ctx, admin, job)
		if err != nil {
			return fmt.Errorf("submit the sample job: %w", err)
		}
		id := ids[0]
		fmt.Fprintf(out, "  sample job    %d: %s/jobs/%d  (log in as admin; the API: %s/api/v1/jobs/%d)\n", id, srv.URL(), id, srv.URL(), id)
		fmt.Fprintf(out, "  watch it      basalt identities add lab --uri %s --username admin --token <token from admin-credentials> --default\n", srv.URL())
		fmt.Fprintf(out, "                basalt jobs logs --follow %d && basalt jobs results %d\n", id, id)
		go reportLabJob(ctx, out, srv.App(), admin, id)
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
}

// labImages builds the device under test into dir unless it is there.
func labImages(dir string, out io.Writer) (dut.Images, error) {
	if imgs, err := dut.Existing(dir); err == nil {
		return imgs, nil
	}
	fmt.Fprintf(out, "  building      the QEMU device under test into %s\n", dir)
	imgs, err := dut.Build(dut.Options{OutDir: dir})
	if err != nil {
		return imgs, fmt.Errorf("build the device under test (apt install busybox-static linux-image-amd64 qemu-system-x86): %w", err)
	}
	return imgs, nil
}

// labAdmin returns the principal of the lab's first administrator.
func labAdmin(ctx context.Context, a *app.App) (auth.Principal, error) {
	users, err := a.Store().ListUsers(ctx)
	if err != nil {
		return auth.Principal{}, err
	}
	for _, u := range users {
		if u.IsSuperuser && u.IsActive {
			return auth.UserPrincipal(u)
		}
	}
	return auth.Principal{}, errors.New("the lab has no active administrator")
}

// labFleet makes sure the lab's device type, worker and device exist (the
// device Good, with the current dictionary) and returns the worker's
// configuration: its data directory and, on first start, a join token.
func labFleet(ctx context.Context, a *app.App, admin auth.Principal, workerDir string) (worker.Config, error) {
	cfg := worker.Config{Name: labWorker, DataDir: workerDir}
	if err := a.CreateDeviceType(ctx, admin, lab.DeviceType{Name: labDeviceType}); err != nil && !errors.Is(err, lab.ErrConflict) {
		return cfg, err
	}
	if _, err := a.GetWorker(ctx, labWorker); errors.Is(err, lab.ErrNotFound) {
		if _, err := a.CreateWorker(ctx, admin, lab.Worker{Name: labWorker, Description: "the all-in-one lab's worker"}); err != nil {
			return cfg, err
		}
	} else if err != nil {
		return cfg, err
	}
	if _, err := os.Stat(filepath.Join(workerDir, "token")); err != nil {
		tok, err := a.CreateJoinToken(ctx, admin, labWorker, time.Hour)
		if err != nil {
			return cfg, err
		}
		cfg.JoinToken = tok
	}
	if _, err := a.GetDevice(ctx, labDevice); errors.Is(err, lab.ErrNotFound) {
		d := lab.Device{Hostname: labDevice, DeviceType: labDeviceType, Worker: labWorker, Health: lab.DeviceGood,
			Description: "QEMU board of the all-in-one lab", Dictionary: labDictionary}
		if err := a.CreateDevice(ctx, admin, d, "basalt lab"); err != nil {
			return cfg, err
		}
	} else if err != nil {
		return cfg, err
	} else if err := a.SetDeviceDictionary(ctx, admin, labDevice, labDictionary); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// reportLabJob prints the sample job's end and results.
func reportLabJob(ctx context.Context, out io.Writer, a *app.App, p auth.Principal, id int64) {
	last := ""
	for ctx.Err() == nil {
		j, err := a.GetJob(ctx, p, id)
		if err != nil {
			return
		}
		state := j.State.String()
		if j.State == lab.JobFinished {
			state += " " + j.Health.String()
		}
		if state != last {
			fmt.Fprintf(out, "  job %d        %s\n", id, state)
			last = state
		}
		if j.State == lab.JobFinished {
			printLabResults(ctx, out, a, p, id)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// fileURL is the file:// URL of an absolute path.
func fileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: path}).String()
}

// printLabResults prints a finished job's test results (not the lava
// suite).
func printLabResults(ctx context.Context, out io.Writer, a *app.App, p auth.Principal, id int64) {
	lines, _, err := a.JobLog(ctx, p, id, 0, int(^uint(0)>>1), 0)
	if err != nil {
		return
	}
	for _, l := range lines {
		rec, err := workerproto.DecodeRecord(l)
		if err != nil || rec.Level != workerproto.LevelResults {
			continue
		}
		var m workerproto.ResultMsg
		if json.Unmarshal(rec.Msg, &m) != nil || m.Definition == "lava" {
			continue
		}
		line := fmt.Sprintf("  result        %s/%s: %s", m.Definition, m.Case, m.Result)
		if m.Measurement != "" {
			line += fmt.Sprintf(" (%s %s)", m.Measurement, m.Units)
		}
		fmt.Fprintln(out, line)
	}
}
