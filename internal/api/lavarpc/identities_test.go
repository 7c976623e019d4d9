package lavarpc_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/lavarpc"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestLavacliIdentities: lavacli used as a lab's users use it, with an
// identity saved by `lavacli identities add` (the URI without credentials,
// the user and token kept apart), then `-i NAME`.
func TestLavacliIdentities(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	bin, err := exec.LookPath("lavacli")
	if err != nil {
		t.Fatalf("lavacli (Debian's package lavacli): %v", err)
	}
	home := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("lavacli %v: %v\n%s%s", args, err, out.String(), stderr.String())
		}
		return out.String()
	}
	uri := e.srv.URL + lavarpc.Path + "/"
	run("identities", "add", "--uri", uri, "--username", "alice", "--token", e.Tokens[alice], "basalt")
	if got := run("identities", "list"); got != "Identities:\n* basalt\n" {
		t.Errorf("identities list: %q", got)
	}
	if got := run("-i", "basalt", "system", "whoami"); got != "alice\n" {
		t.Errorf("-i basalt system whoami: %q", got)
	}
	run("identities", "add", "--uri", uri, "--username", "alice", "--token", "not-a-token", "wrong")
	cmd := exec.Command(bin, "-i", "wrong", "system", "whoami")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("401")) {
		t.Errorf("a wrong token: %v %q, want a failure naming 401", err, out)
	}
}
