package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/dispatcher"
)

// RunJobCommand returns the hidden `run-job DIR` command: the job process
// the worker daemon starts for each job (LAVA's lava-run). It runs the job
// of DIR/job.json with dispatcher.Run and follows the job directory
// contract of internal/dispatcher: exit 0 when the result is pass, 1 when it
// is fail, 2 (with the reason on stderr and no result file) when the
// journal could not be written. The first SIGTERM or SIGINT cancels the job;
// later ones are only acknowledged on stderr, so that finalize always runs
// (SIGKILL is the worker's last resort).
func RunJobCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "run-job DIR",
		Short:  "Run one job in its job directory (started by the worker daemon)",
		Hidden: true,
		Args:   exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJob(cmd, args[0])
		},
	}
}

func runJob(cmd *cobra.Command, dir string) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	ctx, stop := cancelOnSignal(ctx, sigs, cmd.ErrOrStderr())
	defer stop()

	res, err := dispatcher.Run(ctx, dir)
	if err != nil {
		return &ExitError{Code: dispatcher.ExitSetup, Err: err}
	}
	if !res.Passed() {
		return &ExitError{Code: dispatcher.ExitFail, Err: fmt.Errorf("job failed: %s: %s", res.ErrorType, res.ErrorMsg)}
	}
	return nil
}

// cancelOnSignal returns a context canceled by the first signal received on
// sigs; later signals are only reported on stderr. stop ends the watch and
// waits for it.
func cancelOnSignal(ctx context.Context, sigs <-chan os.Signal, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; ; n++ {
			select {
			case <-done:
				return
			case s := <-sigs:
				if n == 1 {
					fmt.Fprintf(stderr, "run-job: %v: canceling the job\n", s)
					cancel(fmt.Errorf("%v received", s))
				} else {
					fmt.Fprintf(stderr, "run-job: %v: the job is already being canceled; finalize still runs\n", s)
				}
			}
		}
	}()
	return ctx, func() {
		close(done)
		wg.Wait()
		cancel(nil)
	}
}
