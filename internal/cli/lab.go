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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/dut"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/resultlog"
	"github.com/basalt-lab/basalt/internal/server"
	"github.com/basalt-lab/basalt/internal/store"
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

// labStopGrace bounds how long an interrupted lab waits for its canceled
// jobs to end (QEMU powered off, the end reported) before it stops anyway.
const labStopGrace = 30 * time.Second

// labOptions are what `basalt lab` runs with.
type labOptions struct {
	DataDir, Listen string
	Submit          bool // submit the sample job
	Host            labHost
	// StopGrace bounds the wait for canceled jobs on an interrupt.
	StopGrace time.Duration
	// ReleaseSignals is called on the first interrupt, so that a second
	// one takes the default action (the process ends at once).
	ReleaseSignals func()
}

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
    initramfs (built into DATA/dut on first start);
  - a sample job with a few test cases, submitted on start (--no-job: none),
    whose actions, end and results are printed.

The host needs qemu-system-x86_64 (Debian: qemu-system-x86) and, to build
the board on first start, a static busybox (busybox-static) and a kernel in
/boot (linux-image-amd64); the lab checks them first and names the missing
packages. ` + "`make run`" + ` in Basalt's source tree installs them.

It prints the URLs to watch and keeps running until interrupted. Ctrl-C
cancels the jobs running on the board (QEMU is powered off), then stops the
server and the worker; a second Ctrl-C stops at once. Everything persists
in DATA: a second start reuses the database, the board and the worker's
token.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runLab(ctx, cmd.OutOrStdout(), labOptions{DataDir: dataDir, Listen: listen, Submit: !noJob,
				Host: realLabHost(), StopGrace: labStopGrace, ReleaseSignals: stop})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "basalt-lab", "directory for everything the lab keeps")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8000", "address of the server")
	cmd.Flags().BoolVar(&noJob, "no-job", false, "do not submit the sample job")
	return cmd
}

// runLab runs the all-in-one lab until ctx ends, then stops it (see
// stopLab).
func runLab(ctx context.Context, w io.Writer, o labOptions) error {
	out := &syncWriter{w: w}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	fmt.Fprintf(out, "Basalt %s all-in-one lab in %s\n", version.Version, dataDir)

	dutDir := filepath.Join(dataDir, "dut")
	imgs, dutErr := dut.Existing(dutDir)
	if err := checkLabHost(o.Host, dutErr != nil); err != nil {
		return err
	}
	if dutErr != nil {
		if imgs, err = buildLabImages(o.Host, dutDir, out); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(out, "  stopped       before starting anything")
		return nil
	}

	logFile, err := os.OpenFile(filepath.Join(dataDir, "lab.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open the lab's log: %w", err)
	}
	defer logFile.Close()
	logger := slog.New(slog.NewTextHandler(logFile, nil))

	// The server and the worker outlive ctx: an interrupt first cancels the
	// lab's jobs through them, then stops them.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	srv, err := server.Open(runCtx, server.Config{Listen: o.Listen, DataDir: filepath.Join(dataDir, "server"), Logger: logger,
		App: app.Config{Logger: logger, GroupHoldAfter: app.DefaultGroupHoldAfter}})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "  server        %s (log: %s)\n", srv.URL(), logFile.Name())
	login, err := ensureAdmin(runCtx, srv, out)
	if err != nil {
		return err
	}
	a := srv.App()
	admin, err := labAdmin(runCtx, a)
	if err != nil {
		return err
	}
	wcfg, err := labFleet(runCtx, a, admin, filepath.Join(dataDir, "worker"))
	if err != nil {
		return err
	}
	wcfg.Server, wcfg.Logger = srv.URL(), logger
	wk, err := worker.New(wcfg)
	if err != nil {
		return fmt.Errorf("start the lab's worker: %w", err)
	}

	srvDone, wkDone := make(chan error, 1), make(chan error, 1)
	go func() { srvDone <- srv.Serve(runCtx) }()
	go func() { wkDone <- wk.Run(runCtx) }()
	fmt.Fprintf(out, "  worker        %s, device %s (%s)\n", labWorker, labDevice, labDeviceType)

	var sample *jobFollower
	followDone := make(chan struct{})
	if o.Submit {
		job := strings.NewReplacer(
			"{{KERNEL_URL}}", fileURL(imgs.Kernel), "{{KERNEL_SHA256}}", imgs.KernelSHA256,
			"{{RAMDISK_URL}}", fileURL(imgs.Ramdisk), "{{RAMDISK_SHA256}}", imgs.RamdiskSHA256,
		).Replace(labSampleJob)
		ids, _, err := a.SubmitJob(runCtx, admin, job)
		if err != nil {
			return fmt.Errorf("submit the sample job: %w", err)
		}
		id := ids[0]
		fmt.Fprintf(out, "  sample job    %d: %s/jobs/%d  (log in as %s; the API: %s/api/v1/jobs/%d)\n", id, srv.URL(), id, login.Username, srv.URL(), id)
		fmt.Fprintf(out, "  watch it      basalt identities add lab --uri %s --username %s --token %s --default\n", srv.URL(), login.Username, login.tokenArg())
		fmt.Fprintf(out, "                basalt jobs logs --follow %d && basalt jobs results %d\n", id, id)
		sample = newJobFollower(out, id, srv.URL())
		go func() {
			defer close(followDone)
			if err := sample.follow(runCtx, a, admin); err != nil && runCtx.Err() == nil {
				fmt.Fprintf(out, "  job %d        no longer followed: %v\n", id, err)
			}
		}()
	} else {
		close(followDone)
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop.")

	select {
	case <-ctx.Done():
	case err := <-srvDone:
		return fmt.Errorf("the lab's server stopped: %w", err)
	case err := <-wkDone:
		if err == nil {
			err = errors.New("no error")
		}
		return fmt.Errorf("the lab's worker stopped: %w", err)
	}
	if o.ReleaseSignals != nil {
		o.ReleaseSignals()
	}
	stopLab(runCtx, out, a, admin, sample, followDone, o.StopGrace)
	stopRun()
	var errs []error
	if err := <-wkDone; err != nil {
		errs = append(errs, fmt.Errorf("stop the lab's worker: %w", err))
	}
	if err := <-srvDone; err != nil {
		errs = append(errs, fmt.Errorf("stop the lab's server: %w", err))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	fmt.Fprintf(out, "  stopped       the server and the worker; `basalt lab --data-dir %s` starts the lab again with the same data\n", shellQuote(dataDir))
	return nil
}

// stopLab, on an interrupt, cancels what runs on the lab's board (and the
// sample job if it is still queued) and waits up to grace for those jobs
// to finish: the worker stops their job processes, which power QEMU off
// and report the end. Jobs still running after grace are left to their
// job processes, which the next start of the lab finds again.
func stopLab(ctx context.Context, out io.Writer, a *app.App, p auth.Principal, sample *jobFollower, followDone <-chan struct{}, grace time.Duration) {
	finished := make(chan int64, 64)
	a.Subscribe(func(e app.Event) {
		if e.Kind == "job" && e.State == lab.JobFinished.String() {
			select {
			case finished <- e.JobID:
			default:
			}
		}
	})
	var ids []int64
	if devs, err := a.ListDevices(ctx, p, store.DeviceFilter{Worker: labWorker}); err == nil {
		for _, d := range devs {
			if d.CurrentJob != 0 {
				ids = append(ids, d.CurrentJob)
			}
		}
	} else {
		fmt.Fprintf(out, "  stopping      cannot list the lab's devices: %v\n", err)
	}
	if sample != nil && !slices.Contains(ids, sample.id) {
		if j, err := a.GetJob(ctx, p, sample.id); err == nil && j.State == lab.JobSubmitted {
			ids = append(ids, sample.id)
		}
	}
	if sample != nil && slices.Contains(ids, sample.id) {
		sample.stopping()
	}
	pending := map[int64]bool{}
	for _, id := range ids {
		j, err := a.CancelJob(ctx, p, id)
		switch {
		case errors.Is(err, lab.ErrConflict):
			continue // finished meanwhile
		case err != nil:
			fmt.Fprintf(out, "  stopping      cannot cancel job %d: %v\n", id, err)
			continue
		case j.State == lab.JobFinished:
			fmt.Fprintf(out, "  stopping      job %d was queued: canceled\n", id)
		default:
			fmt.Fprintf(out, "  stopping      canceling job %d on %s: its QEMU is powered off (Ctrl-C again stops the lab at once, leaving the job process to end on its own)\n", id, j.ActualDevice)
			pending[id] = true
		}
	}
	if len(ids) == 0 {
		fmt.Fprintln(out, "  stopping      no job is running on the board")
	}
	// Re-read after subscribing: a job may have finished before.
	for id := range pending {
		if j, err := a.GetJob(ctx, p, id); err == nil && j.State == lab.JobFinished {
			delete(pending, id)
		}
	}
	timeout := time.NewTimer(grace)
	defer timeout.Stop()
	for len(pending) > 0 {
		select {
		case id := <-finished:
			delete(pending, id)
		case <-timeout.C:
			for id := range pending {
				fmt.Fprintf(out, "  stopping      job %d did not end within %s: its job process keeps running (QEMU too) until the job ends; the next start of the lab reports it\n", id, grace)
			}
			pending = nil
		}
	}
	if sample != nil {
		select {
		case <-followDone:
		case <-time.After(5 * time.Second):
		}
	}
}

// buildLabImages builds the device under test into dir from the host's
// busybox and newest kernel.
func buildLabImages(h labHost, dir string, out io.Writer) (dut.Images, error) {
	fmt.Fprintf(out, "  building      the QEMU device under test into %s\n", dir)
	kernel, err := dut.NewestKernel(h.path(h.Boot))
	if err != nil {
		return dut.Images{}, fmt.Errorf("build the device under test: %w", err)
	}
	imgs, err := dut.Build(dut.Options{OutDir: dir, Busybox: h.path(h.Busybox), Kernel: kernel})
	if err != nil {
		return imgs, fmt.Errorf("build the device under test (apt-get install busybox-static linux-image-amd64): %w", err)
	}
	return imgs, nil
}

// labHost says where checkLabHost and the build of the device under test
// look for what the lab needs; tests point it at a fake root.
type labHost struct {
	Root    string   // prefix of every path below: "/" on the real host
	Path    []string // directories searched for qemu-system-x86_64 ($PATH)
	Busybox string   // the busybox the ramdisk is made of
	Boot    string   // the directory of the kernels (vmlinuz-*)
}

// qemuBinary is the QEMU program the lab's board runs (amd64 guests).
const qemuBinary = "qemu-system-x86_64"

// realLabHost is this host, with its $PATH.
func realLabHost() labHost {
	return labHost{Root: "/", Path: filepath.SplitList(os.Getenv("PATH")), Busybox: "/bin/busybox", Boot: "/boot"}
}

// path is p under the host's root.
func (h labHost) path(p string) string {
	if h.Root == "" || h.Root == "/" {
		return p
	}
	return filepath.Join(h.Root, p)
}

// missingPackagesError says what the host lacks for the lab and which
// Debian packages provide it.
type missingPackagesError struct {
	Problems []string // one line each
	Packages []string // Debian package names, in the order found
}

func (e *missingPackagesError) Error() string {
	var b strings.Builder
	b.WriteString("this host lacks what the lab needs:\n")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "  - %s\n", p)
	}
	fmt.Fprintf(&b, "Install the Debian packages (as root):\n    apt-get install %s\n", strings.Join(e.Packages, " "))
	b.WriteString("or run `make run` in Basalt's source tree: it installs them, then starts the lab.")
	return b.String()
}

// checkLabHost checks, before anything starts, that the host has what the
// lab needs: a qemu-system-x86_64 program in the path, and, when the device
// under test must be built, a statically linked busybox and a readable
// kernel. It returns a *missingPackagesError naming every missing Debian
// package.
func checkLabHost(h labHost, build bool) error {
	e := &missingPackagesError{}
	need := func(pkg, problem string) {
		e.Problems = append(e.Problems, problem+" (Debian package "+pkg+")")
		if !slices.Contains(e.Packages, pkg) {
			e.Packages = append(e.Packages, pkg)
		}
	}
	if !h.hasProgram(qemuBinary) {
		need("qemu-system-x86", fmt.Sprintf("%s: not found in the path (%s)", qemuBinary, strings.Join(h.Path, string(filepath.ListSeparator))))
	}
	if build {
		bb := h.path(h.Busybox)
		if _, err := os.Stat(bb); err != nil {
			need("busybox-static", fmt.Sprintf("a static busybox: %s is missing", h.Busybox))
		} else if err := dut.CheckStatic(bb); err != nil {
			need("busybox-static", fmt.Sprintf("a static busybox: %s is not one", h.Busybox))
		}
		if k, err := dut.NewestKernel(h.path(h.Boot)); err != nil {
			need("linux-image-amd64", fmt.Sprintf("a kernel: no %s/vmlinuz-*", h.Boot))
		} else if f, err := os.Open(k); err != nil {
			need("linux-image-amd64", fmt.Sprintf("a readable kernel: %v", err))
		} else {
			f.Close()
		}
	}
	if len(e.Problems) > 0 {
		return e
	}
	return nil
}

// hasProgram reports whether an executable regular file name is in one of
// the host's path directories (relative ones are ignored, as exec.LookPath
// refuses them).
func (h labHost) hasProgram(name string) bool {
	for _, dir := range h.Path {
		if !filepath.IsAbs(dir) {
			continue
		}
		fi, err := os.Stat(h.path(filepath.Join(dir, name)))
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return true
		}
	}
	return false
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
	if err := a.CreateDeviceType(ctx, admin, lab.DeviceType{Name: labDeviceType}); errors.Is(err, lab.ErrConflict) {
		// Labs made by earlier releases created the type hidden, so the
		// overview said "No device types.": show it again.
		if _, err := a.UpdateDeviceTypeWith(ctx, admin, labDeviceType, func(dt *lab.DeviceType) error {
			dt.Hidden = false
			return nil
		}); err != nil {
			return cfg, err
		}
	} else if err != nil {
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
	if _, err := a.GetDevice(ctx, admin, labDevice); errors.Is(err, lab.ErrNotFound) {
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

// fileURL is the file:// URL of an absolute path.
func fileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: path}).String()
}

// syncWriter serializes writes to w: the lab's goroutines print lines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// How the lab follows its sample job's log.
const (
	// labContextLines is how many log lines before the error a failed
	// job's report shows: enough for a kernel panic's message and trace,
	// which the board prints just before the error.
	labContextLines = 25
	// labAfterLines is how many lines of the board's output after the
	// error it shows.
	labAfterLines = 5
	// labLogChunk is how many log lines one read takes at most.
	labLogChunk = 1000
	// labLogWait bounds one long poll of the log; a state change of the
	// job ends it sooner.
	labLogWait = time.Minute
	// labLineMax is the longest log line a report shows (in runes).
	labLineMax = 200
)

// logLine is a line of a job's log as the lab shows it.
type logLine struct {
	N     int    // line number, from 1, as on the job's log page
	Level string // the record's level
	Text  string // printable text
}

// jobFollower prints the progress of one job: its state changes, the
// top-level actions as they start, and at the end its results or, when it
// did not complete, why, with the log lines before the error.
type jobFollower struct {
	out     io.Writer
	id      int64
	baseURL string

	mu       sync.Mutex
	canceled bool // the lab canceled the job itself (Ctrl-C)

	sections   []string  // deploy/boot/test/command of each top-level action, in order
	recent     []logLine // the last labContextLines non-debug lines
	excerpt    []logLine // the lines before and at the failure, once seen, and the board's output after it
	after      int       // board output lines in excerpt after the error
	finalizing bool      // the finalize action has started
	results    []lab.TestCase
	lines      int // log lines seen
}

func newJobFollower(out io.Writer, id int64, baseURL string) *jobFollower {
	return &jobFollower{out: out, id: id, baseURL: baseURL}
}

// stopping records that the lab cancels the job itself: its end needs no
// failure report.
func (f *jobFollower) stopping() {
	f.mu.Lock()
	f.canceled = true
	f.mu.Unlock()
}

func (f *jobFollower) printf(format string, args ...any) {
	fmt.Fprintf(f.out, "  %-14s"+format+"\n", append([]any{fmt.Sprintf("job %d", f.id)}, args...)...)
}

// follow prints the job's progress until it is Finished (then its end) or
// ctx ends. It is woken by the job's events and by new log lines (a long
// poll of the log store), never by a timer.
func (f *jobFollower) follow(ctx context.Context, a *app.App, p auth.Principal) error {
	wake := make(chan struct{}, 1)
	a.Subscribe(func(e app.Event) {
		if e.Kind == "job" && e.JobID == f.id {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	last := ""
	for {
		j, err := a.GetJob(ctx, p, f.id)
		if err != nil {
			return fmt.Errorf("follow job %d: %w", f.id, err)
		}
		if f.sections == nil {
			f.sections = actionSections(j.Definition)
		}
		if s := jobStateText(j); j.State != lab.JobFinished && s != last {
			f.printf("%s", s)
			last = s
		}
		lines, err := f.readLog(ctx, a, p, j.State == lab.JobFinished, wake)
		if err != nil {
			return err
		}
		f.take(lines)
		if j.State == lab.JobFinished && len(lines) < labLogChunk {
			f.report(j)
			return nil
		}
	}
}

// readLog returns the next log lines; while the job runs and has no new
// line, it waits for one until the job's next event (wake).
func (f *jobFollower) readLog(ctx context.Context, a *app.App, p auth.Principal, finished bool, wake chan struct{}) ([][]byte, error) {
	wait := labLogWait
	if finished {
		wait = 0
	}
	pollCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		select {
		case <-wake:
			select {
			case <-done: // the read ended first: keep the wake-up for the next one
				select {
				case wake <- struct{}{}:
				default:
				}
			default:
				cancel()
			}
		case <-done:
		}
	}()
	lines, _, err := a.JobLog(pollCtx, p, f.id, f.lines, f.lines+labLogChunk, wait)
	close(done)
	interrupted := pollCtx.Err() != nil
	cancel()
	switch {
	case err == nil:
		return lines, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case interrupted:
		return nil, nil // an event ended the wait before the read: read again
	default:
		return nil, fmt.Errorf("read the log of job %d: %w", f.id, err)
	}
}

// take records the next log lines, numbered from f.lines.
func (f *jobFollower) take(lines [][]byte) {
	for _, l := range lines {
		f.record(f.lines, l)
		f.lines++
	}
}

// record takes log line n (0-based, as every log line number): prints the top-level actions as they
// start, keeps the results, and keeps the lines before the failure.
func (f *jobFollower) record(n int, raw []byte) {
	rec, err := workerproto.DecodeRecord(raw)
	if err != nil {
		return
	}
	var text string
	if rec.Level == workerproto.LevelResults {
		// Read as the server stores it (package resultlog).
		c, ok, _ := resultlog.Parse(raw, n)
		if !ok {
			return
		}
		f.results = append(f.results, c)
		text = fmt.Sprintf("%s/%s: %s", c.Suite, c.Name, c.Result)
		if c.ErrorMsg != "" {
			text += " (" + c.ErrorMsg + ")"
		}
	} else if json.Unmarshal(rec.Msg, &text) != nil {
		return
	}
	if rec.Level == workerproto.LevelInfo {
		if level, name, ok := topLevelStart(text); ok {
			f.actionStarted(level, name)
		}
	}
	if rec.Level == workerproto.LevelDebug {
		return
	}
	line := logLine{N: n, Level: string(rec.Level), Text: printable(text, labLineMax)}
	isError := rec.Level == workerproto.LevelError || rec.Level == workerproto.LevelException
	switch {
	case isError && f.excerpt == nil:
		f.excerpt = append(slices.Clone(f.recent), line)
		f.after = 0
	case f.excerpt != nil && rec.Level == workerproto.LevelTarget && f.after < labAfterLines:
		// The board's output after the error: the dispatcher may log the
		// line it reacted to (a kernel panic) after its error.
		f.excerpt = append(f.excerpt, line)
		f.after++
	}
	f.recent = append(f.recent, line)
	if len(f.recent) > labContextLines {
		f.recent = f.recent[len(f.recent)-labContextLines:]
	}
}

// actionStarted prints a top-level action's start ("deploy
// (tmpfs-deploy)"); the first error after a new top-level action (other
// than finalize) is the one a failure report shows, so that an error an
// earlier action recovered from (failure_retry) is not.
func (f *jobFollower) actionStarted(level int, name string) {
	if level == 0 {
		return // validate
	}
	if name == "finalize" {
		f.finalizing = true
		f.printf("Running: finalize")
		return
	}
	if !f.finalizing {
		f.excerpt = nil
	}
	if level-1 < len(f.sections) && f.sections[level-1] != name {
		f.printf("Running: %s (%s)", f.sections[level-1], name)
	} else {
		f.printf("Running: %s", name)
	}
}

// report prints the end of a finished job: its health, its test results
// (not the lava suite) and, unless it completed or the lab canceled it, why
// it failed with the log lines before the error, and its page.
func (f *jobFollower) report(j lab.Job) {
	f.printf("Finished %s", j.Health)
	for _, c := range f.results {
		if c.Suite == lab.LAVASuite {
			continue
		}
		line := fmt.Sprintf("%s/%s: %s", c.Suite, c.Name, c.Result)
		if c.Measurement != "" {
			line += fmt.Sprintf(" (%s %s)", c.Measurement, c.Units)
		}
		fmt.Fprintf(f.out, "  result        %s\n", line)
	}
	f.mu.Lock()
	canceled := f.canceled
	f.mu.Unlock()
	if j.Health == lab.JobHealthComplete || canceled && j.Health == lab.JobHealthCanceled {
		return
	}
	reason := j.FailureComment
	if reason == "" {
		reason = "no reason recorded"
	}
	if j.ErrorType != lab.ErrorNone {
		reason = string(j.ErrorType) + " error: " + reason
	}
	fmt.Fprintf(f.out, "  failure       %s\n", printable(reason, 4*labLineMax))
	lines, what := f.excerpt, "up to the error"
	if f.after > 0 {
		what += ", and the board's output after it"
	}
	if lines == nil {
		lines, what = f.recent, "the last ones"
	}
	if len(lines) > 0 {
		fmt.Fprintf(f.out, "  log           lines %d to %d of %d, %s:\n", lines[0].N, lines[len(lines)-1].N, f.lines, what)
		for _, l := range lines {
			fmt.Fprintf(f.out, "  %12d  %-9s %s\n", l.N, l.Level, l.Text)
		}
	}
	fmt.Fprintf(f.out, "  job page      %s/jobs/%d (the whole log: %s/jobs/%d/log)\n", f.baseURL, j.ID, f.baseURL, j.ID)
}

// jobStateText is a job's state as the lab prints it.
func jobStateText(j lab.Job) string {
	switch j.State {
	case lab.JobScheduling, lab.JobScheduled, lab.JobRunning:
		if j.ActualDevice != "" {
			return j.State.String() + " on " + j.ActualDevice
		}
	case lab.JobFinished:
		return j.State.String() + " " + j.Health.String()
	}
	return j.State.String()
}

// actionSections returns the kind (deploy, boot, test, command) of each
// top-level action of a job definition, in order; nil when it does not
// parse.
func actionSections(definition string) []string {
	def, err := jobdef.Parse([]byte(definition))
	if err != nil {
		return []string{}
	}
	out := make([]string, len(def.Actions))
	for i, a := range def.Actions {
		out[i] = string(a.Kind)
	}
	return out
}

// topLevelStart parses the dispatcher's "start: <level> <name> …" record
// of a top-level action (a level without dots).
func topLevelStart(msg string) (int, string, bool) {
	rest, ok := strings.CutPrefix(msg, "start: ")
	if !ok {
		return 0, "", false
	}
	fields := strings.Fields(rest)
	if len(fields) < 2 {
		return 0, "", false
	}
	level, err := strconv.Atoi(fields[0])
	if err != nil || level < 0 {
		return 0, "", false
	}
	return level, fields[1], true
}

// printable makes s safe to print on a terminal: control characters (a
// board's console sends escape sequences) are shown escaped, tabs become
// spaces, and it is cut at max runes.
func printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		n++
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case r == utf8.RuneError, unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
