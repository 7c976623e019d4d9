package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/version"
)

// Exit codes of the basalt command. Scripts may rely on them.
const (
	ExitOK          = 0 // success
	ExitFailure     = 1 // anything else: server error, I/O error
	ExitUsage       = 2 // bad command line or invalid input (job definition, values)
	ExitNotFound    = 3 // the object does not exist or is not visible
	ExitAuth        = 4 // authentication missing/wrong, or permission denied
	ExitConflict    = 5 // the object's state forbids the change, or it exists already
	ExitUnavailable = 6 // no usable device for a submission
	ExitJobFailed   = 7 // `jobs wait`: the job finished Incomplete or Canceled
)

// ExitError carries a specific exit code out of a command.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Main runs the basalt command line with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := NewRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "basalt:", err)
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if isUsage(err) {
		return ExitUsage
	}
	return ExitFailure
}

// usageError marks errors cobra raises for bad flags or arguments.
type usageError struct{ error }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

// NewRoot builds the whole command tree.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "basalt",
		Short:         "Basalt: a distributed test lab for boards and virtual machines, compatible with LAVA",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServerCommand(), newAdminCommand(), newWorkerCommand(RunJobCommand()), newDUTCommand(), newRunCommand(), newLabCommand())
	addClientCommands(root)
	return root
}

// exactArgs is cobra.ExactArgs with a usage-classified error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// minArgs is cobra.MinimumNArgs with a usage-classified error.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
