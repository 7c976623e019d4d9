package lavacoord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/lavadeb"
)

// TestRealLAVADispatcher: two jobs of a multinode group, each a python3
// process speaking through Debian's lava-dispatcher (MultinodeProtocol,
// bookworm's 2023.01, the code lava-run runs), use the listener as their
// lava-coordinator: the client's delayed start (lava_wait_all lava_start
// with waitrole), lava-send with data, lava-wait, lava-sync,
// lava-wait-all with and without a role, and clear_group at the end.
func TestRealLAVADispatcher(t *testing.T) {
	tree := lavadeb.Extract(t, "lava-dispatcher", "lava-common")
	pkgs := filepath.Join(tree, "usr", "lib", "python3", "dist-packages")
	if _, err := os.Stat(filepath.Join(pkgs, "lava_dispatcher", "protocols", "multinode.py")); err != nil {
		t.Fatalf("Debian's lava-dispatcher has no MultinodeProtocol: %v", err)
	}
	if out, err := exec.Command("/usr/bin/python3", "-c", "import pexpect").CombinedOutput(); err != nil {
		t.Fatalf("lava-dispatcher needs python3's pexpect: apt-get install python3-pexpect (make deps): %v\n%s", err, out)
	}
	c := newCoord(t)
	addr, _ := serve(t, c, Options{})
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "lava-coordinator.conf")
	// A short poll_delay keeps the test quick; LAVA's default is 1 s.
	if err := os.WriteFile(conf, fmt.Appendf(nil, `{"coordinator_hostname": %q, "port": %s, "blocksize": 4096, "poll_delay": 0.1}`, host, port), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	type job struct {
		role, id       string
		stdout, stderr bytes.Buffer
		err            error
	}
	jobs := []*job{{role: "server", id: "1001"}, {role: "client", id: "1002"}}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/lava_multinode_job.py", conf, j.role, j.id, "7c1e0f2a-group")
			cmd.Env = append(os.Environ(), "PYTHONPATH="+pkgs, "PYTHONDONTWRITEBYTECODE=1")
			cmd.Stdout, cmd.Stderr = &j.stdout, &j.stderr
			j.err = cmd.Run()
		})
	}
	wg.Wait()
	wants := map[string]string{
		"server": `{"set_up":"done","lava_start":"ack","send":"ack","sync":"barrier",
			"wait":{"1002":{"result":"pass"}},"send_bye":"ack",
			"wait_all":{"1001":{"from":"server"},"1002":{"from":"client"}},"finalise":"done"}`,
		"client": `{"set_up":"done","wait":{"1001":{"ipaddr":"10.0.0.5","port":"8080"}},"sync":"barrier","send":"ack","send_bye":"ack",
			"wait_all_role":{"1001":{"from":"server"},"1002":{"from":"client"}},
			"wait_all":{"1001":{"from":"server"},"1002":{"from":"client"}},"finalise":"done"}`,
	}
	for _, j := range jobs {
		if j.err != nil {
			t.Errorf("%s job: %v\n%s", j.role, j.err, tail(j.stderr.String()))
			continue
		}
		var got, want any
		if err := json.Unmarshal(j.stdout.Bytes(), &got); err != nil {
			t.Errorf("%s job printed %q: %v\n%s", j.role, j.stdout.String(), err, tail(j.stderr.String()))
			continue
		}
		if err := json.Unmarshal([]byte(wants[j.role]), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s job:\ngot  %v\nwant %v\n%s", j.role, got, want, tail(j.stderr.String()))
		}
	}
	if len(c.Groups()) != 0 {
		t.Errorf("groups left after both clear_group: %v", c.Groups())
	}
}

// tail keeps the end of a log.
func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
