package main_test

import (
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLavacliAgainstServer: Debian's lavacli, LAVA's own client, drives
// the real server binary with a real worker: submit a job, wait for it,
// show it, read its log and results — the daily loop of a CI script.
func TestLavacliAgainstServer(t *testing.T) {
	bin, err := exec.LookPath("lavacli")
	if err != nil {
		t.Fatalf("lavacli (Debian's package lavacli) is not installed: %v", err)
	}
	l := newLab(t)
	l.addDevices(t, "w1", 1, simDictionary("1s", 50))
	startWorker(t, l.url, "w1", l.workers["w1"], t.TempDir())

	u, err := url.Parse(l.url + "/RPC2/")
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("admin", l.token)
	home := t.TempDir()
	lavacli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--uri", u.String()}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("lavacli %v: %v\n%s%s", args, err, out.String(), stderr.String())
		}
		return out.String()
	}
	if got := lavacli("system", "whoami"); got != "admin\n" {
		t.Fatalf("system whoami: %q", got)
	}
	def := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(def, []byte(simJob("through lavacli", "minutes: 2")), 0o644); err != nil {
		t.Fatal(err)
	}
	idText := strings.TrimSpace(lavacli("jobs", "submit", def))
	if _, err := strconv.ParseInt(idText, 10, 64); err != nil {
		t.Fatalf("jobs submit printed %q, want the job id", idText)
	}
	lavacli("jobs", "wait", idText, "--polling", "1", "--timeout", "120")
	show := lavacli("jobs", "show", idText)
	for _, want := range []string{"id          : " + idText + "\n", "description : through lavacli\n", "device      : w1-00\n",
		"state       : Finished\n", "Health      : Complete\n"} {
		if !strings.Contains(show, want) {
			t.Errorf("jobs show lacks %q:\n%s", want, show)
		}
	}
	logs := lavacli("jobs", "logs", idText, "--raw")
	if !strings.Contains(logs, `"lvl": "results"`) || !strings.Contains(logs, "uname") {
		t.Errorf("jobs logs --raw has no results record for uname:\n%.2000s", logs)
	}
	results := lavacli("results", idText)
	for _, want := range []string{"uname", "always-fails", "throughput"} {
		if !strings.Contains(results, want) {
			t.Errorf("results lack %q:\n%s", want, results)
		}
	}
	if devs := lavacli("devices", "list"); !strings.Contains(devs, "* w1-00 (sim): Idle,Good\n") {
		t.Errorf("devices list: %q", devs)
	}
}
