package qemu

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/dut"
)

// lines collects console lines read by a goroutine.
type lines struct {
	mu  sync.Mutex
	all []string
	sig chan struct{}
}

func (l *lines) wait(t *testing.T, substr string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		l.mu.Lock()
		for _, s := range l.all {
			if strings.Contains(s, substr) {
				l.mu.Unlock()
				return
			}
		}
		ch := l.sig
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no console line with %q after %s; last lines:\n%s", substr, d, strings.Join(l.all[max(0, len(l.all)-20):], "\n"))
		}
	}
}

// TestBootRealKernel boots the project's device under test (Debian kernel,
// busybox initramfs) in QEMU with KVM in Auto mode — on hosts whose
// /dev/kvm opens but cannot run guests this goes through the TCG fallback —
// runs a command on the console, power-cycles, and closes.
func TestBootRealKernel(t *testing.T) {
	imgs, err := dut.Build(dut.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var logged []string
	logf := func(format string, args ...any) {
		logMu.Lock()
		logged = append(logged, fmt.Sprintf(format, args...))
		logMu.Unlock()
	}
	cfg := Config{Binary: "qemu-system-x86_64", Options: []string{"-cpu", "host", "-enable-kvm", "-nographic", "-net", "none", "-m", "256", "-monitor", "none"}, KVM: KVMAuto}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := New("qemu-test", cfg, logf)
	d.SetBoot(Boot{Args: []string{"-kernel", imgs.Kernel, "-initrd", imgs.Ramdisk, "-append", "console=ttyS0,115200"}})

	l := &lines{sig: make(chan struct{})}
	readDone := make(chan error, 1)
	go func() {
		r := bufio.NewReader(d.Console())
		for {
			s, err := r.ReadString('\n')
			if s != "" {
				l.mu.Lock()
				l.all = append(l.all, strings.TrimRight(s, "\r\n"))
				close(l.sig)
				l.sig = make(chan struct{})
				l.mu.Unlock()
			}
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				readDone <- err
				return
			}
		}
	}()

	ctx := context.Background()
	for cycle := 1; cycle <= 2; cycle++ {
		if err := d.PowerOn(ctx); err != nil {
			t.Fatal(err)
		}
		l.wait(t, "Linux version", 60*time.Second)
		// The shell prompt has no newline; wait for the init banner line
		// then type until the command's output appears.
		marker := fmt.Sprintf("basalt-cycle-%d", cycle)
		deadline := time.Now().Add(90 * time.Second)
		for {
			fmt.Fprintf(d.Console(), "echo %s-$((40+2))\n", marker)
			l.mu.Lock()
			found := false
			for _, s := range l.all {
				if strings.Contains(s, marker+"-42") {
					found = true
				}
			}
			l.mu.Unlock()
			if found {
				break
			}
			if time.Now().After(deadline) {
				l.wait(t, marker+"-42", time.Millisecond)
			}
			time.Sleep(time.Second)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the console did not end after Close")
	}
	logMu.Lock()
	defer logMu.Unlock()
	if len(logged) == 0 || !strings.Contains(logged[0], "qemu-system-x86_64") {
		t.Errorf("the command line was not logged: %q", logged)
	}
	t.Logf("device log:\n%s", strings.Join(logged, "\n"))
}
