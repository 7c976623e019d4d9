package overlay_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
)

// mnGroup is the group of the multinode script tests: this job is 13, a
// client.
var mnGroup = &overlay.MultinodeGroup{Role: "client", Self: "13", Members: []overlay.GroupMember{
	{ID: "12", Role: "server"}, {ID: "13", Role: "client"}, {ID: "14", Role: "client"},
}}

// mnScripts runs the multinode helpers of an overlay built for mnGroup
// with the interpreter sh.
type mnScripts struct {
	t     *testing.T
	root  string
	path  string // PATH: fake tools first, then busybox's applets
	cache string // LAVA_MULTI_NODE_CACHE
	net   string // LAVA_MULTI_NODE_NETWORK_CACHE
	extra []string
}

func newMNScripts(t *testing.T, sh string) *mnScripts {
	root, _ := build(t, overlay.Options{JobID: 13, ShCmd: sh, Multinode: mnGroup})
	tmp := t.TempDir()
	return &mnScripts{t: t, root: root, path: appletDir(t), cache: filepath.Join(tmp, "mn", "cache.txt"), net: filepath.Join(tmp, "net.txt")}
}

// run runs bin/NAME ARGS with stdin as its console input and returns its
// output and exit status.
func (s *mnScripts) run(stdin, name string, args ...string) (string, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.root, "bin", name), args...)
	cmd.Env = append([]string{"PATH=" + s.path, "LAVA_MULTI_NODE_CACHE=" + s.cache, "LAVA_MULTI_NODE_NETWORK_CACHE=" + s.net}, s.extra...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		s.t.Fatalf("%s: %v", name, err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

func (s *mnScripts) file(p string) string {
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "<none>"
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

func TestMultinodeScripts(t *testing.T) {
	for _, sh := range []string{"busybox", "/bin/dash"} {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			if sh == "busybox" {
				sh = shCmd(t)
			}
			testMultinodeScripts(t, sh)
		})
	}
}

func testMultinodeScripts(t *testing.T, sh string) {
	s := newMNScripts(t, sh)
	type step struct {
		stdin, name string
		args        []string
		out         string
		code        int
		cache       string // the cache file afterwards ("" : not checked)
	}
	steps := []step{
		{name: "lava-send", args: []string{"ipaddr", "ip=10.0.0.1", "motd=hello  big\tworld", "junk", "=x", "y=", "k=a=b"},
			out: "<LAVA_MULTI_NODE> <LAVA_SEND ipaddr ip=10.0.0.1 motd=hello big world k=a=b>\n"},
		{name: "lava-send", args: []string{"*"}, out: "<LAVA_MULTI_NODE> <LAVA_SEND *>\n"},
		{name: "lava-send", out: "", code: 1},
		{name: "lava-send", args: []string{"a=b", "c=d"}, out: "", code: 1},
		{name: "lava-wait", args: []string{"ipaddr"},
			stdin: "\nnoise <LAVA_WAIT_ALL_COMPLETE 1:a=b>\n / # <LAVA_WAIT_COMPLETE 12:ip=10.0.0.1 12:motd=hello big world 13:x=y>\nnot read\n",
			out:   "<LAVA_MULTI_NODE> <LAVA_WAIT ipaddr>\n",
			cache: "12:ip=10.0.0.1\n12:motd=hello big world\n13:x=y\n"},
		{name: "lava-wait-all", args: []string{"ready", "server"}, stdin: "<LAVA_WAIT_ALL_COMPLETE 12:state=up>\n",
			out: "<LAVA_MULTI_NODE> <LAVA_WAIT_ALL ready server>\n", cache: "12:state=up\n"},
		{name: "lava-wait-all", args: []string{"never"}, stdin: "<LAVA_WAIT_ALL_COMPLETE nack>\n",
			out: "<LAVA_MULTI_NODE> <LAVA_WAIT_ALL never>\nError:no-response nack, Exit from LAVA_WAIT_ALL!\n", cache: "<none>"},
		{name: "lava-wait", args: []string{"odd"}, stdin: "<LAVA_WAIT_COMPLETE 12:a=1 stray>\n",
			out: "<LAVA_MULTI_NODE> <LAVA_WAIT odd>\n", cache: "12:a=1 stray\n"},
		{name: "lava-wait", args: []string{"odd"}, stdin: "<LAVA_WAIT_COMPLETE stray 12:a=1>\n",
			out: "<LAVA_MULTI_NODE> <LAVA_WAIT odd>\nWarning:unrecognized message stray\n", cache: "12:a=1\n"},
		{name: "lava-sync", args: []string{"done"}, stdin: "<LAVA_SYNC_COMPLETE>\n", out: "<LAVA_MULTI_NODE> <LAVA_SYNC done>\n", cache: "<none>"},
		{name: "lava-wait", args: []string{"eof"}, stdin: "no answer\n", out: "<LAVA_MULTI_NODE> <LAVA_WAIT eof>\n", code: 1},
		{name: "lava-group", out: "12\tserver\n13\tclient\n14\tclient\n"},
		{name: "lava-group", args: []string{"client"}, out: "13\n14"},
		{name: "lava-group", args: []string{"server"}, out: "12"},
		{name: "lava-group", args: []string{"nobody"}, out: "", code: 1},
		{name: "lava-role", out: "client"},
		{name: "lava-role", args: []string{"list"}, out: "server\nclient\nclient\n"},
		{name: "lava-self", out: "13\n"},
	}
	for _, st := range steps {
		out, code := s.run(st.stdin, st.name, st.args...)
		if out != st.out || code != st.code {
			t.Errorf("%s %q: output %q, status %d; want %q, %d", st.name, st.args, out, code, st.out, st.code)
		}
		if st.cache != "" {
			if got := s.file(s.cache); got != st.cache {
				t.Errorf("%s %q: cache %q, want %q", st.name, st.args, got, st.cache)
			}
		}
	}
}

// fakeTools writes executable scripts into a new directory.
func fakeTools(t *testing.T, tools map[string]string) string {
	dir := t.TempDir()
	for name, body := range tools {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLavaNetwork runs lava-network under dash with fake ip, ifconfig
// and hostname commands (busybox ash runs its own applets whatever PATH
// says: TestLavaNetworkBusybox reads the loopback interface instead).
func TestLavaNetwork(t *testing.T) {
	s := newMNScripts(t, "/bin/dash")
	sys := t.TempDir()
	if err := os.MkdirAll(filepath.Join(sys, "eth0"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(sys, "eth0", "address"), []byte("52:54:00:12:34:56\n"), 0o644)
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(resolv, []byte("# comment\nsearch lab\nnameserver 10.0.2.3\nnameserver 10.0.2.4\n"), 0o644)
	s.extra = []string{"LAVA_SYS_CLASS_NET=" + sys, "LAVA_RESOLV_CONF=" + resolv}
	hostname := `if [ "$1" = -f ]; then echo dut1.lab; else echo dut1; fi`
	want := "<LAVA_MULTI_NODE> <LAVA_SEND network_info ipv4=10.0.2.15 netmask=255.255.255.0 broadcast=10.0.2.255 ipv6=fd00::15 " +
		"mac=52:54:00:12:34:56 hostname=dut1 hostname_full=dut1.lab default_gateway=10.0.2.2 dns_1=10.0.2.3 dns_2=10.0.2.4>\n"

	// With ip (iproute2 or busybox).
	ip := `case "$*" in
"-o -4 addr show dev eth0") echo "2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0\       valid_lft forever preferred_lft forever" ;;
"-o -6 addr show dev eth0 scope global") echo "2: eth0    inet6 fd00::15/64 scope global \       valid_lft forever preferred_lft forever" ;;
"route show default") echo "default via 10.0.2.2 dev eth0" ;;
*) exit 1 ;;
esac
`
	base := s.path
	s.path = fakeTools(t, map[string]string{"ip": ip, "hostname": hostname}) + ":" + base
	if out, code := s.run("", "lava-network", "broadcast", "eth0"); out != want || code != 0 {
		t.Errorf("broadcast with ip: %q, %d; want %q", out, code, want)
	}

	// With ifconfig only (busybox's form).
	noIP := t.TempDir()
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if e.Name() != "ip" && e.Name() != "ifconfig" && e.Name() != "hostname" {
			target, _ := os.Readlink(filepath.Join(base, e.Name()))
			os.Symlink(target, filepath.Join(noIP, e.Name()))
		}
	}
	ifconfig := `cat <<'EOF'
eth0      Link encap:Ethernet  HWaddr 52:54:00:12:34:56
          inet addr:10.0.2.15  Bcast:10.0.2.255  Mask:255.255.255.0
          inet6 addr: fd00::15/64 Scope:Global
          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1
EOF
`
	s.path = fakeTools(t, map[string]string{"ifconfig": ifconfig, "hostname": hostname}) + ":" + noIP
	wantNoGW := strings.Replace(want, " default_gateway=10.0.2.2", "", 1)
	if out, code := s.run("", "lava-network", "broadcast", "eth0"); out != wantNoGW || code != 0 {
		t.Errorf("broadcast with ifconfig: %q, %d; want %q", out, code, wantNoGW)
	}
	s.path = base

	out, code := s.run("<LAVA_WAIT_ALL_COMPLETE 12:ipv4=10.0.2.15 12:hostname=dut1 13:ipv4=10.0.2.16 13:mac=aa:bb>\n", "lava-network", "collect", "eth0", "server")
	if out != "<LAVA_MULTI_NODE> <LAVA_WAIT_ALL network_info server>\n" || code != 0 {
		t.Errorf("collect: %q, %d", out, code)
	}
	if got := s.file(s.net); got != "12:ipv4=10.0.2.15\n12:hostname=dut1\n13:ipv4=10.0.2.16\n13:mac=aa:bb\n" {
		t.Errorf("network cache %q", got)
	}
	for _, q := range []struct{ id, key, out string }{{"12", "ipv4", "10.0.2.15\n"}, {"13", "mac", "aa:bb\n"}, {"13", "hostname", ""}} {
		if out, code := s.run("", "lava-network", "query", q.id, q.key); out != q.out || code != 0 {
			t.Errorf("query %s %s: %q, %d; want %q", q.id, q.key, out, code, q.out)
		}
	}
	hosts := filepath.Join(t.TempDir(), "hosts")
	if out, code := s.run("", "lava-network", "hosts", hosts); out != "" || code != 0 {
		t.Errorf("hosts: %q, %d", out, code)
	}
	if got := s.file(hosts); got != "10.0.2.15\tdut1\n10.0.2.16\t13\n" {
		t.Errorf("hosts file %q", got)
	}
	for _, args := range [][]string{{"broadcast"}, {"unknown", "x"}} {
		if out, code := s.run("", "lava-network", args...); out != "" || code != 1 {
			t.Errorf("lava-network %q: %q, %d; want nothing and 1", args, out, code)
		}
	}
}

// TestMultinodeScriptsOnlyForGroups: the helpers and their values are in
// the overlay of a multinode job only.
func TestMultinodeScriptsOnlyForGroups(t *testing.T) {
	names := func(tree *overlay.Tree) []string {
		var out []string
		for _, e := range tree.Entries {
			if strings.HasPrefix(e.Path, "bin/lava-") && (strings.Contains(e.Path, "multi-node") || strings.HasSuffix(e.Path, "-send") || strings.HasSuffix(e.Path, "-group") || strings.HasSuffix(e.Path, "-network")) {
				out = append(out, e.Path)
			}
		}
		return out
	}
	single, err := overlay.Build(overlay.Options{JobID: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(single); len(got) != 0 {
		t.Errorf("single-node overlay has %q", got)
	}
	multi, err := overlay.Build(overlay.Options{JobID: 13, Multinode: mnGroup}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"bin/lava-group", "bin/lava-multi-node.lib", "bin/lava-network", "bin/lava-send"}, names(multi)); diff != "" {
		t.Errorf("multinode overlay (-want +got):\n%s", diff)
	}
	for _, e := range multi.Entries {
		switch e.Path {
		case "bin/lava-group":
			if !strings.Contains(string(e.Data), "LAVA_GROUP='12\tserver\n13\tclient\n14\tclient'\n") {
				t.Errorf("lava-group:\n%s", e.Data)
			}
		case "bin/lava-self":
			if !strings.Contains(string(e.Data), "LAVA_HOSTNAME=13\n") {
				t.Errorf("lava-self:\n%s", e.Data)
			}
		case "bin/lava-wait":
			if !strings.Contains(string(e.Data), "LAVA_MULTI_NODE_CACHE=${LAVA_MULTI_NODE_CACHE:-/tmp/lava_multi_node_cache.txt}\n") {
				t.Errorf("lava-wait:\n%s", e.Data)
			}
		}
	}
	_, err = overlay.Build(overlay.Options{JobID: 13, Multinode: &overlay.MultinodeGroup{Role: "a\tb", Self: "13"}}, nil)
	if err == nil {
		t.Error("a role with a tab was accepted")
	}
}

func TestLavaNetworkBusybox(t *testing.T) {
	s := newMNScripts(t, shCmd(t))
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "lo"), 0o755)
	os.WriteFile(filepath.Join(sys, "lo", "address"), []byte("00:00:00:00:00:00\n"), 0o644)
	s.extra = []string{"LAVA_SYS_CLASS_NET=" + sys, "LAVA_RESOLV_CONF=/nonexistent"}
	out, code := s.run("", "lava-network", "broadcast", "lo")
	if !strings.HasPrefix(out, "<LAVA_MULTI_NODE> <LAVA_SEND network_info ipv4=127.0.0.1 netmask=255.0.0.0 mac=00:00:00:00:00:00 hostname=") ||
		!strings.HasSuffix(out, ">\n") || strings.Count(out, "\n") != 1 || code != 0 {
		t.Errorf("broadcast lo: %q, %d", out, code)
	}
	out, code = s.run("<LAVA_WAIT_ALL_COMPLETE 12:ipv4=10.0.2.15>\n", "lava-network", "collect", "lo")
	if out != "<LAVA_MULTI_NODE> <LAVA_WAIT_ALL network_info>\n" || code != 0 {
		t.Errorf("collect: %q, %d", out, code)
	}
	if out, code := s.run("", "lava-network", "query", "12", "ipv4"); out != "10.0.2.15\n" || code != 0 {
		t.Errorf("query: %q, %d", out, code)
	}
}
