package overlay_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher"
	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
)

// busybox returns the path of Debian's busybox-static.
func busybox(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed (make test installs it): %v", err)
	}
	p, err = filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// appletDir makes a directory of busybox applet symlinks: with PATH set
// to it alone, scripts only find busybox's tools.
func appletDir(t *testing.T) string {
	t.Helper()
	bb := busybox(t)
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	dir := t.TempDir()
	for _, name := range strings.Fields(string(out)) {
		if err := os.Symlink(bb, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// shCmd is the #! line that runs the scripts under busybox ash.
func shCmd(t *testing.T) string { return busybox(t) + " sh" }

// mustTestdef parses a test definition or fails the test.
func mustTestdef(t *testing.T, src string) *overlay.Testdef {
	t.Helper()
	td, err := overlay.ParseTestdef([]byte(src))
	if err != nil {
		t.Fatalf("ParseTestdef: %v", err)
	}
	return td
}

// runStage sources ROOT/environment and runs ROOT/bin/lava-test-runner
// ROOT/<stage> under busybox sh with PATH restricted to busybox's applets,
// and returns stdout and stderr interleaved as the console shows them. The
// runner must exit 0.
func runStage(t *testing.T, root, stage string, env ...string) string {
	t.Helper()
	out, code := runStageCode(t, root, stage, env...)
	if code != 0 {
		t.Logf("console:\n%s", out)
		t.Fatalf("lava-test-runner: exit status %d", code)
	}
	return out
}

// runStageCode is runStage that returns the exit status too.
func runStageCode(t *testing.T, root, stage string, env ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tree := overlay.Tree{Root: root}
	n, err := strconv.Atoi(stage)
	if err != nil {
		t.Fatal(err)
	}
	script := tree.SourceCommand() + "; " + tree.RunnerCommand(n)
	cmd := exec.CommandContext(ctx, busybox(t), "sh", "-c", script)
	cmd.Env = append([]string{"PATH=" + appletDir(t), "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir()}, env...)
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || ctx.Err() != nil) {
		t.Logf("console:\n%s", out.String())
		t.Fatalf("lava-test-runner: %v", err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// signals returns the console signals of out, one "NAME ARGS" string per
// signal, parsed by the dispatcher's own parser.
func signals(out string) []string {
	var s []string
	for _, line := range strings.Split(out, "\n") {
		if sig, ok := dispatcher.ParseSignal(line); ok {
			s = append(s, sig.Name+" "+sig.Args)
		}
	}
	return s
}

// build builds a tree whose root is a fresh temporary directory and
// writes it there.
func build(t *testing.T, o overlay.Options, stages ...overlay.Stage) (string, *overlay.Tree) {
	t.Helper()
	root := t.TempDir()
	o.Root = root
	if o.ShCmd == "" {
		o.ShCmd = shCmd(t)
	}
	tree, err := overlay.Build(o, stages)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := tree.WriteDir(root); err != nil {
		t.Fatalf("WriteDir: %v", err)
	}
	return root, tree
}
