package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// multinodeJob is a multinode job of two QEMU boards of the project's
// device under test: the server role sends its address and both sync on a
// barrier, the client waits for the address and checks it arrived. With
// serverBoot the server's boot can be made to fail.
func (d *dutServer) multinodeJob(name, serverBoot string) string {
	deploy := fmt.Sprintf(`    to: tmpfs
    images:
      kernel:
        url: %s/images/vmlinuz
        sha256sum: %s
      ramdisk:
        url: %s/images/initramfs.cpio.gz
        sha256sum: %s
        format: cpio.newc
        overlays:
          lava: true
`, d.url, d.kernelSum, d.url, d.ramdiskSum)
	return fmt.Sprintf(`job_name: %s
visibility: public
timeouts:
  job: {minutes: 8}
  action: {minutes: 4}
protocols:
  lava-multinode:
    roles:
      server:
        device_type: qemu
        count: 1
        essential: true
        context: {arch: amd64}
      client:
        device_type: qemu
        count: 1
        context: {arch: amd64}
    timeout: {minutes: 4}
actions:
- deploy:
    role: [server, client]
%s- boot:
    role: [client]
    method: qemu
    media: tmpfs
    prompts: ["/ # "]
- boot:
    role: [server]
    method: qemu
    media: tmpfs
%s- test:
    role: [server]
    definitions:
    - from: inline
      name: server
      path: inline/server.yaml
      repository:
        metadata:
          format: Lava-Test Test Definition 1.0
          name: server
        run:
          steps:
          - lava-send server-ready ipaddr=10.0.2.15 port=8080
          - lava-sync done
          - lava-test-case served --result pass
- test:
    role: [client]
    definitions:
    - from: inline
      name: client
      path: inline/client.yaml
      repository:
        metadata:
          format: Lava-Test Test Definition 1.0
          name: client
        run:
          steps:
          - lava-wait server-ready
          - lava-test-case got-address --shell grep -q "ipaddr=10.0.2.15" /tmp/lava_multi_node_cache.txt
          - lava-sync done
          - lava-test-case role --shell test "$(lava-role)" = client
`, name, deploy, serverBoot)
}

// TestMultinodeQEMUPair runs a real QEMU pair through the server and
// worker binaries: the client waits for a message carrying the server's
// data, both sync on a barrier, each job has its results; then the same
// group whose essential server fails to boot: the client, waiting for the
// server's message, is canceled.
func TestMultinodeQEMUPair(t *testing.T) {
	d := serveDUT(t)
	l, wdir := qemuLab(t, map[string][]string{"qemu": {"qemu-01", "qemu-02"}})
	ctx := context.Background()

	sub, err := l.api.SubmitJob(ctx, d.multinodeJob("pair", "    prompts: [\"/ # \"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.JobIDs) != 2 {
		t.Fatalf("submitted %v, want two jobs", sub.JobIDs)
	}
	server, client := sub.JobIDs[0], sub.JobIDs[1]
	jobs := l.waitFinished(t, sub.JobIDs, 6*time.Minute)
	for _, id := range sub.JobIDs {
		if j := jobs[id]; j.Health != "Complete" {
			t.Errorf("job %d: %s (%s: %s)", id, j.Health, j.ErrorType, j.FailureComment)
			logTail(t, l, id)
		}
	}
	sres, cres := l.resultMap(t, server), l.resultMap(t, client)
	for _, c := range []struct {
		res  map[string]string
		key  string
		want string
	}{
		{sres, "0_server/served", "pass"},
		{cres, "0_client/got-address", "pass"},
		{cres, "0_client/role", "pass"},
	} {
		if c.res[c.key] != c.want {
			t.Errorf("%s = %q, want %q", c.key, c.res[c.key], c.want)
		}
	}
	for name, res := range map[string]map[string]string{"server": sres, "client": cres} {
		found := map[string]bool{}
		for k, v := range res {
			for _, api := range []string{"multinode-send-server-ready", "multinode-wait-server-ready", "multinode-sync-done"} {
				if strings.HasSuffix(k, "/"+api) && v == "pass" {
					found[api] = true
				}
			}
		}
		want := []string{"multinode-sync-done"}
		if name == "server" {
			want = append(want, "multinode-send-server-ready")
		} else {
			want = append(want, "multinode-wait-server-ready")
		}
		for _, w := range want {
			if !found[w] {
				t.Errorf("%s job: no passing %s case in %v", name, w, res)
			}
		}
	}

	// The essential server never reaches its prompt: the client, waiting
	// for the server's message, is canceled with it.
	sub, err = l.api.SubmitJob(ctx, d.multinodeJob("pair, server fails",
		"    timeout: {seconds: 20}\n    prompts: [\"this prompt never comes\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	server, client = sub.JobIDs[0], sub.JobIDs[1]
	jobs = l.waitFinished(t, sub.JobIDs, 6*time.Minute)
	if j := jobs[server]; j.Health != "Incomplete" {
		t.Errorf("failing server: %s (%s: %s)", j.Health, j.ErrorType, j.FailureComment)
	}
	if j := jobs[client]; j.Health != "Canceled" || !strings.Contains(j.FailureComment, "essential role server") {
		t.Errorf("client of the failed server: %s %q", j.Health, j.FailureComment)
		logTail(t, l, client)
	}
	if left := qemuProcesses(wdir); len(left) > 0 {
		t.Errorf("QEMU processes left: %v", left)
	}
}
