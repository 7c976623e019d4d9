package overlay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/basalt-lab/basalt/internal/jobdef"
)

// GitBinary is the git program FetchGit runs.
var GitBinary = "/usr/bin/git"

// Errors of FetchGit, for errors.Is. The dispatcher reports ErrUnreachable
// as an infrastructure error (LAVA does for any failed clone) and the
// others as job errors: the job names something the repository lacks.
var (
	// ErrUnreachable: git could not clone the repository (network,
	// authentication, no such repository, git missing, cancelled).
	ErrUnreachable = errors.New("repository unreachable")
	// ErrRevisionNotFound: the branch or revision is not in the
	// repository.
	ErrRevisionNotFound = errors.New("revision not found")
	// ErrPathNotFound: the test definition path is not in the checkout.
	ErrPathNotFound = errors.New("path not found in repository")
)

// GitInfo is what FetchGit learnt about a checkout.
type GitInfo struct {
	// Commit is the full id of the commit checked out.
	Commit string
	// Testdef is the test definition read from the definition's path.
	Testdef *Testdef
}

// FetchGit clones the repository of a from: git test definition into dst
// (which must not exist, or be an empty directory) the way LAVA does:
// a shallow clone of branch (or the default branch), or a full clone and a
// checkout of revision when one is given; submodules too with recursive;
// the .git directories removed with history: false, after the commit id
// was read. It then reads and parses the test definition at def.Path.
//
// Git runs with hooks disabled (core.hooksPath=/dev/null), no terminal or
// SSH password prompts, the ext:: transport refused and file:// allowed
// for the repository itself but not for its submodules (git's own
// protection). ctx cancels the clone: git and its helpers are killed.
// On error dst may hold a partial checkout; the caller removes it.
//
// Errors wrap ErrUnreachable, ErrRevisionNotFound or ErrPathNotFound; a
// test definition that does not parse is a *TestdefError wrapped with the
// path.
func FetchGit(ctx context.Context, def jobdef.TestDefinition, dst string) (GitInfo, error) {
	if def.Repository == "" {
		return GitInfo{}, fmt.Errorf("test definition %s: no repository", def.Name)
	}
	rel, err := cleanRelPath(def.Path)
	if err != nil {
		return GitInfo{}, fmt.Errorf("test definition %s: path %q: %w", def.Name, def.Path, err)
	}
	recursive := def.Recursive != nil && *def.Recursive
	history := def.History == nil || *def.History
	commit, err := clone(ctx, def.Repository, dst, def.Branch, def.Revision, recursive)
	if err != nil {
		return GitInfo{}, err
	}
	if !history {
		if err := removeGitDirs(dst); err != nil {
			return GitInfo{}, err
		}
	}
	td, err := readTestdef(dst, rel)
	if err != nil {
		return GitInfo{}, fmt.Errorf("%s at %s: %w", def.Repository, shortCommit(commit), err)
	}
	return GitInfo{Commit: commit, Testdef: td}, nil
}

// readTestdef reads and parses dir/rel, refusing a path that leaves the
// checkout through a symlink.
func readTestdef(dir, rel string) (*Testdef, error) {
	full := filepath.Join(dir, filepath.FromSlash(rel))
	real, err := filepath.EvalSymlinks(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrPathNotFound, rel)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	base, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	if r, err := filepath.Rel(base, real); err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return nil, fmt.Errorf("%w: %s points outside the repository", ErrPathNotFound, rel)
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a file", ErrPathNotFound, rel)
	}
	if st.Size() > MaxTestdefSize {
		return nil, fmt.Errorf("%s: %d bytes, larger than the %d bytes allowed", rel, st.Size(), MaxTestdefSize)
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	td, err := ParseTestdef(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return td, nil
}

// cleanRelPath checks that p is a relative path inside a directory.
func cleanRelPath(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if strings.HasPrefix(p, "/") {
		return "", errors.New("must be relative to the repository")
	}
	c := path.Clean(p)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", errors.New("must name a file inside the repository")
	}
	return c, nil
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// gitEnv is the environment of every git command: no prompts of any kind
// (the session of its own that runGit gives git keeps ssh from the
// terminal), and no variables that would point git at another repository.
func gitEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, e := range env {
		switch {
		case strings.HasPrefix(e, "GIT_DIR="), strings.HasPrefix(e, "GIT_WORK_TREE="),
			strings.HasPrefix(e, "GIT_INDEX_FILE="), strings.HasPrefix(e, "GIT_CONFIG_PARAMETERS="):
			continue
		}
		out = append(out, e)
	}
	return append(out,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=/bin/false",
		"SSH_ASKPASS=/bin/false",
		"SSH_ASKPASS_REQUIRE=never",
		"GIT_PROTOCOL_FROM_USER=1",
		"LC_ALL=C",
	)
}

// gitConfig is passed with -c to every git command.
var gitConfig = []string{
	"core.hooksPath=/dev/null",
	"protocol.ext.allow=never",
	"protocol.file.allow=user", // the repository may be a path; its submodules may not
	"submodule.recurse=false",
	"advice.detachedHead=false",
	"core.askPass=/bin/false",
}

// runGit runs git with args in dir and returns its stdout; stderr is in
// the error. ctx kills git and every process it started.
func runGit(ctx context.Context, dir string, args ...string) (string, error) {
	full := make([]string, 0, 2*len(gitConfig)+len(args))
	for _, c := range gitConfig {
		full = append(full, "-c", c)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, GitBinary, full...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	// A session of its own: no controlling terminal for ssh to ask a
	// password on, and a process group to kill.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error {
		// The whole process group: git-remote-https, ssh, submodule clones.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("git %s: %w", args[0], ctx.Err())
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		if msg == "" {
			return "", fmt.Errorf("git %s: %w", args[0], err)
		}
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, msg)
	}
	return stdout.String(), nil
}

// clone fetches url into dst and returns the commit checked out.
func clone(ctx context.Context, url, dst, branch, revision string, recursive bool) (string, error) {
	if err := prepareDst(dst); err != nil {
		return "", err
	}
	args := []string{"clone", "--quiet", "--no-checkout"}
	if revision == "" {
		args = append(args, "--depth=1")
	}
	if branch != "" {
		args = append(args, "--branch", branch)
	}
	args = append(args, "--", url, dst)
	if _, err := runGit(ctx, "", args...); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%w: %s: %w", ErrUnreachable, url, err)
		}
		if branch != "" && strings.Contains(err.Error(), "not found in upstream") {
			return "", fmt.Errorf("%w: branch %q is not in %s", ErrRevisionNotFound, branch, url)
		}
		return "", fmt.Errorf("%w: %s: %w", ErrUnreachable, url, err)
	}
	target := "HEAD"
	if revision != "" {
		// rev-parse first: checkout would read a revision that is also a
		// path name as a path.
		out, err := runGit(ctx, dst, "rev-parse", "--verify", "--quiet", "--end-of-options", revision+"^{commit}")
		if err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("%w: %s: %w", ErrUnreachable, url, err)
			}
			return "", fmt.Errorf("%w: %q is not a commit of %s", ErrRevisionNotFound, revision, url)
		}
		target = strings.TrimSpace(out)
	}
	if _, err := runGit(ctx, dst, "checkout", "--quiet", "--detach", target, "--"); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%w: %s: %w", ErrUnreachable, url, err)
		}
		if revision == "" {
			// An empty repository, or a default branch that does not exist.
			return "", fmt.Errorf("%w: %s has no commit to check out: %w", ErrRevisionNotFound, url, err)
		}
		return "", fmt.Errorf("check out %s of %s: %w", revision, url, err)
	}
	if recursive {
		if _, err := runGit(ctx, dst, "submodule", "update", "--init", "--recursive", "--quiet"); err != nil {
			return "", fmt.Errorf("%w: submodules of %s: %w", ErrUnreachable, url, err)
		}
	}
	out, err := runGit(ctx, dst, "rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("read the commit of %s: %w", url, err)
	}
	return strings.TrimSpace(out), nil
}

// prepareDst checks that dst is absent or an empty directory.
func prepareDst(dst string) error {
	ents, err := os.ReadDir(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(dst), err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("clone into %s: %w", dst, err)
	case len(ents) > 0:
		return fmt.Errorf("clone into %s: the directory is not empty", dst)
	}
	return nil
}

// removeGitDirs removes every .git directory or file (submodules have a
// .git file) under dir.
func removeGitDirs(dir string) error {
	var gits []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" && p != dir {
			gits = append(gits, p)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove the history: %w", err)
	}
	for _, g := range gits {
		if err := os.RemoveAll(g); err != nil {
			return fmt.Errorf("remove the history: %w", err)
		}
	}
	return nil
}

// FetchInstallRepos clones the install: git-repos of a test definition
// into dir, as LAVA does on the dispatcher before the overlay is built:
// each into dir/<destination>, by default the last element of its URL
// without ".git". A url, branch or destination that names a parameter is
// replaced by the parameter's value (params, the test definition's
// defaults overridden by the job's). A destination must be a single
// directory name. dir is usually the checkout of the definition (or, for
// an inline definition, a fresh directory); pass it as Definition.RepoDir.
// Callers skip this when skip_install lists git-repos or all.
func FetchInstallRepos(ctx context.Context, td *Testdef, params map[string]string, dir string) error {
	values := map[string]string{}
	for _, p := range td.Params {
		values[p.Name] = p.Value
	}
	for k, v := range params {
		values[k] = v
	}
	lookup := func(s string) string {
		if v, ok := values[s]; ok && s != "" {
			return v
		}
		return s
	}
	for i, r := range td.Install.GitRepos {
		url, branch := lookup(r.URL), lookup(r.Branch)
		dest := lookup(r.Destination)
		if dest == "" {
			dest = path.Base(strings.TrimSuffix(strings.TrimRight(url, "/"), ".git"))
		}
		if dest == "" || dest == "." || dest == ".." || dest == "/" || strings.ContainsAny(dest, "/\x00") {
			return fmt.Errorf("install.git-repos[%d]: destination %q must be one directory name", i, dest)
		}
		target := filepath.Join(dir, dest)
		if _, err := os.Lstat(target); err == nil {
			return fmt.Errorf("install.git-repos[%d]: %s already exists", i, dest)
		}
		if _, err := clone(ctx, url, target, branch, "", false); err != nil {
			return fmt.Errorf("install.git-repos[%d]: %w", i, err)
		}
	}
	return nil
}
