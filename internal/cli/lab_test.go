package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/dut"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/server"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// fakeHost is a root directory with what checkLabHost looks for, each
// part present or not.
func fakeHost(t *testing.T, qemu, busybox, kernel bool) labHost {
	t.Helper()
	root := t.TempDir()
	put := func(path string, data []byte, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	if qemu {
		put("usr/bin/qemu-system-x86_64", []byte("#!/bin/sh\n"), 0o755)
	}
	if busybox {
		bb, err := os.ReadFile("/bin/busybox")
		if err != nil {
			t.Fatalf("a static busybox is needed (make test installs busybox-static): %v", err)
		}
		put("bin/busybox", bb, 0o755)
	}
	if kernel {
		put("boot/vmlinuz-6.1.0-9-amd64", []byte("a kernel"), 0o644)
	}
	return labHost{Root: root, Path: []string{"relative/bin", "/usr/local/bin", "/usr/bin"}, Busybox: "/bin/busybox", Boot: "/boot"}
}

// TestLabHostCheck: the lab names every missing Debian package and the
// command that installs them, and asks for busybox and a kernel only when
// it must build the device under test.
func TestLabHostCheck(t *testing.T) {
	tests := []struct {
		name                  string
		qemu, busybox, kernel bool
		build                 bool
		want                  []string // missing packages
	}{
		{"everything there", true, true, true, true, nil},
		{"nothing there", false, false, false, true, []string{"qemu-system-x86", "busybox-static", "linux-image-amd64"}},
		{"no QEMU", false, true, true, true, []string{"qemu-system-x86"}},
		{"no busybox", true, false, true, true, []string{"busybox-static"}},
		{"no kernel", true, true, false, true, []string{"linux-image-amd64"}},
		{"board built already: QEMU is enough", true, false, false, false, nil},
		{"board built already, no QEMU", false, false, false, false, []string{"qemu-system-x86"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkLabHost(fakeHost(t, tt.qemu, tt.busybox, tt.kernel), tt.build)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("checkLabHost: %v", err)
				}
				return
			}
			var me *missingPackagesError
			if !errors.As(err, &me) {
				t.Fatalf("checkLabHost = %v, want a missingPackagesError", err)
			}
			if !slices.Equal(me.Packages, tt.want) {
				t.Errorf("packages %v, want %v", me.Packages, tt.want)
			}
			msg := err.Error()
			for _, want := range []string{"apt-get install " + strings.Join(tt.want, " ") + "\n", "make run"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
		})
	}
}

// TestLabHostCheckRefusesWrongFiles: a QEMU that is not executable, a
// QEMU found only through a relative path entry and a dynamically linked
// busybox do not count.
func TestLabHostCheckRefusesWrongFiles(t *testing.T) {
	h := fakeHost(t, false, true, true)
	if err := os.MkdirAll(filepath.Join(h.Root, "relative/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.Root, "relative/bin/qemu-system-x86_64"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(h.Root, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.Root, "usr/bin/qemu-system-x86_64"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dynamic, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	if dut.CheckStatic("/bin/sh") == nil {
		t.Fatal("/bin/sh is statically linked here: the test needs a dynamically linked program")
	}
	if err := os.WriteFile(filepath.Join(h.Root, "bin/busybox"), dynamic, 0o755); err != nil {
		t.Fatal(err)
	}
	var me *missingPackagesError
	if err := checkLabHost(h, true); !errors.As(err, &me) || !slices.Equal(me.Packages, []string{"qemu-system-x86", "busybox-static"}) {
		t.Fatalf("checkLabHost = %v", err)
	}
	if !strings.Contains(me.Error(), "/bin/busybox is not one") {
		t.Errorf("message: %s", me.Error())
	}
}

// record is one encoded log line.
func record(t *testing.T, lvl workerproto.Level, msg string) []byte {
	t.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return recordRaw(t, lvl, b)
}

func recordRaw(t *testing.T, lvl workerproto.Level, msg []byte) []byte {
	t.Helper()
	b, err := workerproto.EncodeRecord(workerproto.Record{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Level: lvl, Msg: msg})
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

const followerJob = `job_name: follower
device_type: qemu
visibility: public
timeouts:
  job: {minutes: 10}
actions:
- deploy:
    to: tmpfs
    images:
      kernel: {url: "http://127.0.0.1/vmlinuz"}
- boot:
    method: qemu
    prompts: ["/ # "]
- test:
    definitions:
    - from: inline
      name: t
      path: inline/t.yaml
      repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: t}
        run:
          steps: ["true"]
`

// feed gives the follower the records, as follow does (numbered from 0).
func feed(f *jobFollower, recs [][]byte) { f.take(recs) }

// TestLabFollowerFailure: the actions are printed as they start (not
// validate), and a failed job's report gives the reason, the last 25
// non-debug lines up to the error with their numbers, the board's output
// after it, and the job's page.
func TestLabFollowerFailure(t *testing.T) {
	var out bytes.Buffer
	f := newJobFollower(&out, 7, "http://127.0.0.1:8000")
	f.sections = actionSections(followerJob)
	recs := [][]byte{
		record(t, "info", "start: 0 validate"),
		record(t, "info", "start: 1 tmpfs-deploy (timeout 00:05:00)"),
		record(t, "error", "an error the deploy recovered from"),
		record(t, "info", "end: 1 tmpfs-deploy (duration 00:00:01)"),
		record(t, "info", "start: 2 boot-qemu-image (timeout 00:02:00)"),
		record(t, "info", "start: 2.1 a sub-action"),
	}
	for i := range 26 {
		recs = append(recs, record(t, "target", "boot line "+string(rune('a'+i))))
		recs = append(recs, record(t, "debug", "a debug line"))
	}
	recs = append(recs,
		record(t, "target", "\x1b[31mred\x1b[0m\ttab"),
		record(t, "error", "boot-qemu-image failed: kernel panic: the kernel printed \"Kernel panic - not syncing\" while booting"),
		record(t, "info", "end: 2 boot-qemu-image (duration 00:00:08)"),
		recordRaw(t, "results", []byte(`{"definition":"lava","case":"boot-qemu-image","result":"fail"}`)),
		record(t, "error", "InfrastructureError: kernel panic"),
		record(t, "info", "start: 4 finalize (timeout 00:05:00)"),
		record(t, "target", "[    2.212402] Kernel panic - not syncing: VFS: Unable to mount root fs"),
		record(t, "info", "end: 4 finalize (duration 00:00:00)"),
	)
	feed(f, recs)
	f.report(lab.Job{ID: 7, State: lab.JobFinished, Health: lab.JobHealthIncomplete, ErrorType: lab.ErrorInfrastructure,
		FailureComment: `kernel panic: the kernel printed "Kernel panic - not syncing" while booting`})
	got := out.String()
	for _, want := range []string{
		"  job 7         Running: deploy (tmpfs-deploy)\n",
		"  job 7         Running: boot (boot-qemu-image)\n",
		"  job 7         Running: finalize\n",
		"  job 7         Finished Incomplete\n",
		"  failure       Infrastructure error: kernel panic: the kernel printed \"Kernel panic - not syncing\" while booting\n",
		"  log           lines 10 to 64 of 66, up to the error, and the board's output after it:\n",
		"            10  target    boot line c\n",
		"            44  target    boot line t\n",
		`            58  target    \x1b[31mred\x1b[0m tab` + "\n",
		"            59  error     boot-qemu-image failed: kernel panic",
		"            64  target    [    2.212402] Kernel panic - not syncing",
		"  job page      http://127.0.0.1:8000/jobs/7 (the whole log: http://127.0.0.1:8000/jobs/7/log)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"validate", "sub-action", "debug", "boot line b\n", "recovered from", "\x1b", "InfrastructureError"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("%q in:\n%s", unwanted, got)
		}
	}
}

// TestLabFollowerEnds: a Complete job prints its test results (not the
// lava suite) and no failure; a job the lab canceled itself needs no
// report; a job canceled by someone else gets one, with the last lines
// when no error was logged.
func TestLabFollowerEnds(t *testing.T) {
	recs := func() [][]byte {
		return [][]byte{
			record(t, "info", "start: 1 tmpfs-deploy (timeout 00:05:00)"),
			recordRaw(t, "results", []byte(`{"definition":"lava","case":"tmpfs-deploy","result":"pass"}`)),
			recordRaw(t, "results", []byte(`{"definition":"0_t","case":"uptime","result":"pass","measurement":"2.5","units":"seconds"}`)),
			recordRaw(t, "results", []byte(`{"definition":"0_t","case":"fails","result":"fail"}`)),
		}
	}
	var out bytes.Buffer
	f := newJobFollower(&out, 1, "http://h")
	feed(f, recs())
	f.report(lab.Job{ID: 1, State: lab.JobFinished, Health: lab.JobHealthComplete})
	if want := "  job 1         Running: tmpfs-deploy\n  job 1         Finished Complete\n  result        0_t/uptime: pass (2.5 seconds)\n  result        0_t/fails: fail\n"; out.String() != want {
		t.Errorf("complete job:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	f = newJobFollower(&out, 2, "http://h")
	f.stopping()
	feed(f, recs()[:1])
	f.report(lab.Job{ID: 2, State: lab.JobFinished, Health: lab.JobHealthCanceled})
	if strings.Contains(out.String(), "failure") || !strings.Contains(out.String(), "Finished Canceled") {
		t.Errorf("job the lab canceled:\n%s", out.String())
	}

	out.Reset()
	f = newJobFollower(&out, 3, "http://h")
	feed(f, recs()[:1])
	f.report(lab.Job{ID: 3, State: lab.JobFinished, Health: lab.JobHealthCanceled})
	for _, want := range []string{"  failure       no reason recorded\n", "  log           lines 0 to 0 of 1, the last ones:\n", "  job page      http://h/jobs/3"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
}

// TestLabPrintable: control characters are escaped, long lines cut.
func TestLabPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           "plain",
		"a\tb":            "a b",
		"\x1b[0m\r\x07":   `\x1b[0m\r\a`,
		"é ünïcode":       "é ünïcode",
		"\u009bC1":        `\u009bC1`,
		"0123456789abcde": "0123456789…",
	} {
		if got := printable(in, 10); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLabAdminMessages: on the first start the lab (and `basalt server`)
// says it created 'admin' and where the credentials are; on later starts
// that they are in the same file, written on the first start, and the
// token argument it prints reads the right token; without the file it
// says how to make a token, and nothing about the file.
func TestLabAdminMessages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "admin-credentials")
	start := func() (adminLogin, string) {
		t.Helper()
		srv, err := server.Open(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		var out bytes.Buffer
		l, err := ensureAdmin(ctx, srv, &out)
		if err != nil {
			t.Fatal(err)
		}
		return l, out.String()
	}

	l, msg := start()
	if want := "  log in        created user 'admin'; password and API token are in " + path + "\n"; msg != want {
		t.Errorf("first start: %q, want %q", msg, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	creds, _ := os.ReadFile(path)
	_, token, _ := strings.Cut(string(creds), "token: ")
	token = strings.TrimSpace(token)
	if !strings.HasPrefix(token, "bst_") {
		t.Fatalf("credentials: %q", creds)
	}
	echo := func(l adminLogin) string {
		out, err := exec.Command("bash", "-c", "echo "+l.tokenArg()).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := echo(l); l.Username != "admin" || got != token {
		t.Errorf("first start: user %q, token argument gives %q, want %q", l.Username, got, token)
	}

	l, msg = start()
	if want := "  log in        as 'admin': password and API token are in " + path + " (written on the first start)\n"; msg != want {
		t.Errorf("second start: %q, want %q", msg, want)
	}
	if got := echo(l); got != token {
		t.Errorf("second start: token argument gives %q, want %q", got, token)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	l, msg = start()
	if want := "  log in        as an administrator (admin); a new API token: basalt admin token --username admin --data-dir " + dir + "\n"; msg != want {
		t.Errorf("start without the file: %q, want %q", msg, want)
	}
	if strings.Contains(l.tokenArg(), "admin-credentials") || !strings.Contains(l.tokenArg(), "basalt admin token --username admin") {
		t.Errorf("start without the file: token argument %q", l.tokenArg())
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a later start wrote admin-credentials again")
	}
}

// TestLabFleetShowsItsType: the lab's device type is shown on the overview,
// on a fresh lab and on one an earlier release made with the type hidden.
func TestLabFleetShowsItsType(t *testing.T) {
	ctx := context.Background()
	for _, hiddenBefore := range []bool{false, true} {
		srv, err := server.Open(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ensureAdmin(ctx, srv, io.Discard); err != nil {
			t.Fatal(err)
		}
		admin, err := labAdmin(ctx, srv.App())
		if err != nil {
			t.Fatal(err)
		}
		if hiddenBefore {
			if err := srv.App().CreateDeviceType(ctx, admin, lab.DeviceType{Name: labDeviceType, Hidden: true}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := labFleet(ctx, srv.App(), admin, t.TempDir()); err != nil {
			t.Fatal(err)
		}
		dt, err := srv.App().GetDeviceType(ctx, labDeviceType)
		if err != nil || dt.Hidden {
			t.Errorf("hidden before: %v; after labFleet: %+v %v, want shown", hiddenBefore, dt, err)
		}
		srv.Close()
	}
}
