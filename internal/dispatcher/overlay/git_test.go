package overlay_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
	"github.com/basalt-lab/basalt/internal/jobdef"
)

// git runs git in dir with a fixed identity and returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "protocol.file.allow=always", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

const gitTestdef = `metadata:
  format: Lava-Test Test Definition 1.0
  name: from-git
run:
  steps:
    - lava-test-case git --result pass
`

// gitServer serves the bare repositories under root over HTTP on loopback
// with git http-backend.
type gitServer struct {
	root string
	srv  *httptest.Server
}

func newGitServer(t *testing.T) *gitServer {
	t.Helper()
	backend := "/usr/lib/git-core/git-http-backend"
	if out, err := exec.Command("git", "--exec-path").Output(); err == nil {
		backend = filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	}
	root := t.TempDir()
	h := &cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &gitServer{root: root, srv: srv}
}

// publish makes a bare copy of the work repository at name.git and
// returns its URL.
func (g *gitServer) publish(t *testing.T, work, name string) string {
	t.Helper()
	bare := filepath.Join(g.root, name+".git")
	if _, err := os.Stat(bare); err == nil {
		git(t, work, "push", "--quiet", "--mirror", bare)
	} else {
		git(t, "", "clone", "--quiet", "--bare", work, bare)
	}
	return g.srv.URL + "/" + name + ".git"
}

// testRepo is a work repository with two commits on main and a feature
// branch; it returns the directory and the commit ids.
func testRepo(t *testing.T) (dir, first, second, feature string) {
	t.Helper()
	dir = t.TempDir()
	git(t, dir, "init", "--quiet", "-b", "main")
	writeFile(t, filepath.Join(dir, "tests", "smoke.yaml"), gitTestdef)
	writeFile(t, filepath.Join(dir, "version.txt"), "one\n")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "--quiet", "-m", "first")
	first = git(t, dir, "rev-parse", "HEAD")
	writeFile(t, filepath.Join(dir, "version.txt"), "two\n")
	git(t, dir, "commit", "--quiet", "-am", "second")
	second = git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "checkout", "--quiet", "-b", "feature")
	writeFile(t, filepath.Join(dir, "feature.txt"), "feature\n")
	writeFile(t, filepath.Join(dir, "bad.yaml"), "metadata:\n  format: nope\n")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "--quiet", "-m", "feature")
	feature = git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "checkout", "--quiet", "main")
	return dir, first, second, feature
}

func boolp(b bool) *bool { return &b }

func TestFetchGit(t *testing.T) {
	srv := newGitServer(t)
	work, first, second, feature := testRepo(t)
	url := srv.publish(t, work, "tests")

	tests := []struct {
		name    string
		def     jobdef.TestDefinition
		commit  string
		version string // version.txt
		feature bool   // feature.txt present
		history bool   // .git present
	}{
		{"default branch over http", jobdef.TestDefinition{Repository: url}, second, "two\n", false, true},
		{"branch", jobdef.TestDefinition{Repository: url, Branch: "feature"}, feature, "two\n", true, true},
		{"revision", jobdef.TestDefinition{Repository: url, Revision: first}, first, "one\n", false, true},
		{"short revision", jobdef.TestDefinition{Repository: url, Revision: first[:10]}, first, "one\n", false, true},
		{"revision on a branch", jobdef.TestDefinition{Repository: url, Branch: "feature", Revision: second}, second, "two\n", false, true},
		{"history false", jobdef.TestDefinition{Repository: url, History: boolp(false)}, second, "two\n", false, false},
		{"file path", jobdef.TestDefinition{Repository: work, Branch: "feature"}, feature, "two\n", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "checkout")
			tt.def.Name, tt.def.From, tt.def.Path = "smoke", "git", "tests/smoke.yaml"
			info, err := overlay.FetchGit(context.Background(), tt.def, dst)
			if err != nil {
				t.Fatal(err)
			}
			if info.Commit != tt.commit {
				t.Errorf("commit %s, want %s", info.Commit, tt.commit)
			}
			if info.Testdef == nil || info.Testdef.Metadata.Name != "from-git" || string(info.Testdef.Source) != gitTestdef {
				t.Errorf("test definition %+v", info.Testdef)
			}
			if got := readFile(t, filepath.Join(dst, "version.txt")); got != tt.version {
				t.Errorf("version.txt = %q, want %q", got, tt.version)
			}
			if _, err := os.Stat(filepath.Join(dst, "feature.txt")); (err == nil) != tt.feature {
				t.Errorf("feature.txt present: %v, want %v", err == nil, tt.feature)
			}
			if _, err := os.Stat(filepath.Join(dst, ".git")); (err == nil) != tt.history {
				t.Errorf(".git present: %v, want %v", err == nil, tt.history)
			}
		})
	}
}

func TestFetchGitErrors(t *testing.T) {
	srv := newGitServer(t)
	work, _, _, _ := testRepo(t)
	url := srv.publish(t, work, "tests")
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/tests.git"
	l.Close()

	tests := []struct {
		name string
		def  jobdef.TestDefinition
		want error
		msg  string
	}{
		{"missing path", jobdef.TestDefinition{Repository: url, Path: "nope/smoke.yaml"}, overlay.ErrPathNotFound, "nope/smoke.yaml"},
		{"directory path", jobdef.TestDefinition{Repository: url, Path: "tests"}, overlay.ErrPathNotFound, "not a file"},
		{"missing revision", jobdef.TestDefinition{Repository: url, Revision: "0123456789abcdef0123456789abcdef01234567"}, overlay.ErrRevisionNotFound, "is not a commit"},
		{"revision name", jobdef.TestDefinition{Repository: url, Revision: "no-such-tag"}, overlay.ErrRevisionNotFound, "no-such-tag"},
		{"missing branch", jobdef.TestDefinition{Repository: url, Branch: "nope"}, overlay.ErrRevisionNotFound, `branch "nope"`},
		{"unreachable", jobdef.TestDefinition{Repository: closed}, overlay.ErrUnreachable, "repository unreachable"},
		{"no such repository", jobdef.TestDefinition{Repository: srv.srv.URL + "/missing.git"}, overlay.ErrUnreachable, "missing.git"},
		{"no such directory", jobdef.TestDefinition{Repository: filepath.Join(t.TempDir(), "none")}, overlay.ErrUnreachable, "none"},
		{"option as url", jobdef.TestDefinition{Repository: "--upload-pack=touch /tmp/pwned"}, overlay.ErrUnreachable, ""},
		{"ext transport", jobdef.TestDefinition{Repository: "ext::sh -c touch% /tmp/pwned"}, overlay.ErrUnreachable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.def.Path == "" {
				tt.def.Path = "tests/smoke.yaml"
			}
			tt.def.Name, tt.def.From = "smoke", "git"
			_, err := overlay.FetchGit(context.Background(), tt.def, filepath.Join(t.TempDir(), "checkout"))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want %v containing %q", err, tt.want, tt.msg)
			}
			for _, other := range []error{overlay.ErrUnreachable, overlay.ErrRevisionNotFound, overlay.ErrPathNotFound} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("error %v is also %v", err, other)
				}
			}
		})
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Error("a repository URL ran a command")
	}

	// A test definition that does not parse.
	def := jobdef.TestDefinition{Name: "bad", From: "git", Repository: url, Branch: "feature", Path: "bad.yaml"}
	_, err = overlay.FetchGit(context.Background(), def, filepath.Join(t.TempDir(), "checkout"))
	var te *overlay.TestdefError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "bad.yaml: invalid test definition: ") || !strings.Contains(err.Error(), "2:11: metadata.format") {
		t.Errorf("bad test definition: %v", err)
	}

	// A path that leaves the checkout.
	def = jobdef.TestDefinition{Name: "x", From: "git", Repository: url, Path: "../etc/passwd"}
	if _, err := overlay.FetchGit(context.Background(), def, filepath.Join(t.TempDir(), "checkout")); err == nil || !strings.Contains(err.Error(), "inside the repository") {
		t.Errorf("escaping path: %v", err)
	}

	// A destination that is not empty.
	dst := t.TempDir()
	writeFile(t, filepath.Join(dst, "x"), "")
	def = jobdef.TestDefinition{Name: "x", From: "git", Repository: url, Path: "tests/smoke.yaml"}
	if _, err := overlay.FetchGit(context.Background(), def, dst); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty destination: %v", err)
	}
}

// TestFetchGitSubmodules clones a repository with a submodule, both served
// over HTTP.
func TestFetchGitSubmodules(t *testing.T) {
	srv := newGitServer(t)
	sub := t.TempDir()
	git(t, sub, "init", "--quiet", "-b", "main")
	writeFile(t, filepath.Join(sub, "lib.sh"), "echo lib\n")
	git(t, sub, "add", "-A")
	git(t, sub, "commit", "--quiet", "-m", "lib")
	subURL := srv.publish(t, sub, "lib")

	work, _, _, _ := testRepo(t)
	git(t, work, "submodule", "--quiet", "add", subURL, "lib")
	git(t, work, "commit", "--quiet", "-m", "add lib")
	url := srv.publish(t, work, "tests")

	for _, recursive := range []bool{false, true} {
		dst := filepath.Join(t.TempDir(), "checkout")
		def := jobdef.TestDefinition{Name: "s", From: "git", Repository: url, Path: "tests/smoke.yaml", Recursive: boolp(recursive), History: boolp(false)}
		if _, err := overlay.FetchGit(context.Background(), def, dst); err != nil {
			t.Fatalf("recursive %v: %v", recursive, err)
		}
		_, err := os.Stat(filepath.Join(dst, "lib", "lib.sh"))
		if (err == nil) != recursive {
			t.Errorf("recursive %v: lib/lib.sh present: %v", recursive, err == nil)
		}
		if _, err := os.Lstat(filepath.Join(dst, "lib", ".git")); err == nil {
			t.Errorf("recursive %v, history false: lib/.git left", recursive)
		}
	}
}

// TestFetchGitNoHooks configures a post-checkout hook for every repository
// (core.hooksPath in the global configuration): FetchGit must not run it.
func TestFetchGitNoHooks(t *testing.T) {
	work, _, _, _ := testRepo(t)
	hooks := t.TempDir()
	marker := filepath.Join(t.TempDir(), "hook-ran")
	if err := os.WriteFile(filepath.Join(hooks, "post-checkout"), []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "gitconfig")
	writeFile(t, cfg, "[core]\n\thooksPath = "+hooks+"\n")
	t.Setenv("GIT_CONFIG_GLOBAL", cfg)

	// The hook does run for a plain clone: the setup is right.
	cmd := exec.Command("git", "clone", "--quiet", work, filepath.Join(t.TempDir(), "plain"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the hook did not run for a plain clone: %v", err)
	}
	os.Remove(marker)

	def := jobdef.TestDefinition{Name: "x", From: "git", Repository: work, Path: "tests/smoke.yaml"}
	if _, err := overlay.FetchGit(context.Background(), def, filepath.Join(t.TempDir(), "checkout")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("FetchGit ran a hook")
	}
}

// TestFetchGitCancel cancels a clone that hangs on a server that never
// answers.
func TestFetchGitCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	def := jobdef.TestDefinition{Name: "x", From: "git", Repository: srv.URL + "/slow.git", Path: "a.yaml"}
	_, err := overlay.FetchGit(ctx, def, filepath.Join(t.TempDir(), "checkout"))
	if !errors.Is(err, overlay.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want ErrUnreachable and the context's error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("FetchGit returned %v after the cancel", d)
	}
}

func TestFetchInstallRepos(t *testing.T) {
	srv := newGitServer(t)
	tools := t.TempDir()
	git(t, tools, "init", "--quiet", "-b", "main")
	writeFile(t, filepath.Join(tools, "tool.sh"), "echo tool\n")
	git(t, tools, "add", "-A")
	git(t, tools, "commit", "--quiet", "-m", "tools")
	git(t, tools, "checkout", "--quiet", "-b", "stable")
	writeFile(t, filepath.Join(tools, "stable.txt"), "stable\n")
	git(t, tools, "add", "-A")
	git(t, tools, "commit", "--quiet", "-m", "stable")
	url := srv.publish(t, tools, "tools")

	td := mustTestdef(t, `metadata: {format: Lava-Test Test Definition 1.0, name: x}
params:
  TOOLS: `+url+`
  BRANCH: main
install:
  git-repos:
    - `+url+`
    - url: TOOLS
      branch: BRANCH
      destination: other
`)
	dir := t.TempDir()
	if err := overlay.FetchInstallRepos(context.Background(), td, map[string]string{"BRANCH": "stable"}, dir); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "tools", "tool.sh")); got != "echo tool\n" {
		t.Errorf("tools/tool.sh = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "tools", "stable.txt")); err != nil {
		t.Errorf("the default branch of tools is stable (HEAD at publication): %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "other", "stable.txt")); got != "stable\n" {
		t.Errorf("the job's BRANCH did not override the default: other/stable.txt = %q", got)
	}

	// Clashing and escaping destinations.
	for _, src := range []string{
		"install:\n  git-repos:\n    - " + url + "\n    - " + url + "\n",
		"install:\n  git-repos:\n    - {url: " + url + ", destination: ../up}\n",
	} {
		td := mustTestdef(t, "metadata: {format: Lava-Test Test Definition 1.0, name: x}\n"+src)
		if err := overlay.FetchInstallRepos(context.Background(), td, nil, t.TempDir()); err == nil {
			t.Errorf("accepted:\n%s", src)
		}
	}
}
