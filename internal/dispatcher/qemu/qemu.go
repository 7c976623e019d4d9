package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/basalt-lab/basalt/internal/devicedict"
)

// Kind is the Device kind of QEMU devices.
const Kind = "qemu"

// KVMMode says whether QEMU runs with KVM: devicedict's modes (Auto, On,
// Off), which the device dictionary's no_kvm sets.
type KVMMode = devicedict.KVMMode

// KVM modes.
const (
	KVMAuto = devicedict.KVMAuto
	KVMOn   = devicedict.KVMOn
	KVMOff  = devicedict.KVMOff
)

// Config is the device's configuration: the qemu boot method of its
// rendered configuration (devicedict.QEMUConfig).
type Config struct {
	Binary string // qemu-system-x86_64, …; required
	// Options are the device's QEMU options, as words. The dispatcher owns
	// the console: -nographic is dropped (the first serial port goes to
	// the dispatcher instead), and so are the KVM options
	// (devicedict.KVMOptions) when QEMU starts without KVM.
	Options []string
	KVM     KVMMode
}

// Boot is what the next power-on boots: QEMU arguments for the deployed
// images (built by the boot action from image_arg or the image names).
type Boot struct {
	Args []string
}

// FallbackWindow is how soon after starting with KVM (Auto mode) a failing
// QEMU is retried under TCG.
const FallbackWindow = 5 * time.Second

// Device is a QEMU device. Its console lives from New to Close, across
// power cycles. Methods are safe for concurrent use.
type Device struct {
	hostname  string
	cfg       Config
	logf      func(format string, args ...any)
	kvmUsable func() bool

	out *io.PipeReader
	pw  *io.PipeWriter

	mu      sync.Mutex
	boot    Boot
	proc    *process // nil while off
	closed  bool
	noKVM   bool           // Auto mode saw KVM fail: TCG from now on
	on      bool           // between PowerOn and PowerOff
	copiers sync.WaitGroup // goroutines copying QEMU output into pw
}

// process is one running QEMU.
type process struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	kvm     bool
	started time.Time
	exited  chan struct{} // closed once Wait returned
	err     error         // Wait's error, set before exited is closed
	stopped bool          // PowerOff asked it to stop
	stderr  *tail
}

// New returns the device, powered off. logf receives what the device has
// to say about itself (command lines, QEMU's own error messages, exits).
func New(hostname string, cfg Config, logf func(format string, args ...any)) *Device {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	pr, pw := io.Pipe()
	return &Device{hostname: hostname, cfg: cfg, logf: logf, out: pr, pw: pw, kvmUsable: kvmUsable}
}

// Kind returns "qemu".
func (d *Device) Kind() string { return Kind }

// Hostname is the device's name.
func (d *Device) Hostname() string { return d.hostname }

// Console returns the serial console.
func (d *Device) Console() io.ReadWriter { return console{d} }

// SetBoot sets what the next PowerOn boots.
func (d *Device) SetBoot(b Boot) {
	d.mu.Lock()
	d.boot = b
	d.mu.Unlock()
}

// CommandLine returns the QEMU command line PowerOn runs, with or without
// KVM.
func (d *Device) CommandLine(kvm bool) []string {
	d.mu.Lock()
	boot := d.boot
	d.mu.Unlock()
	return d.cfg.commandLine(kvm, boot)
}

// commandLine builds the QEMU command line.
func (c Config) commandLine(kvm bool, b Boot) []string {
	args := []string{c.Binary}
	// The console: the first serial port on stdio, no display.
	args = append(args, "-display", "none", "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console")
	opts := c.Options
	if !kvm {
		opts = devicedict.WithoutKVM(opts)
	}
	for _, o := range opts {
		if o != "-nographic" {
			args = append(args, o)
		}
	}
	return append(args, b.Args...)
}

// Validate checks the configuration: the binary exists.
func (c Config) Validate() error {
	if c.Binary == "" {
		return errors.New("qemu: no QEMU binary")
	}
	if _, err := exec.LookPath(c.Binary); err != nil {
		return fmt.Errorf("qemu: %s is not installed on this worker: %w", c.Binary, err)
	}
	return nil
}

// PowerOn starts QEMU, stopping it first if it runs. It returns once the
// process started.
func (d *Device) PowerOn(ctx context.Context) error {
	if err := d.PowerOff(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	noKVM := d.noKVM
	d.mu.Unlock()
	kvm := d.cfg.KVM == KVMOn || (d.cfg.KVM == KVMAuto && !noKVM && d.kvmUsable())
	return d.start(kvm, false)
}

// start starts one QEMU process. A retry (TCG fallback) starts nothing
// when the device was powered off meanwhile.
func (d *Device) start(kvm, retry bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("qemu: the device is closed")
	}
	if retry && !d.on {
		return nil
	}
	d.on = true
	argv := d.cfg.commandLine(kvm, d.boot)
	d.logf("%s: %s", d.hostname, strings.Join(quoteAll(argv), " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	p := &process{cmd: cmd, stdin: stdin, kvm: kvm, exited: make(chan struct{}), stderr: newTail(4096)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("qemu: start %s: %w", argv[0], err)
	}
	p.started = time.Now()
	d.proc = p
	d.copiers.Add(1)
	go func() {
		defer d.copiers.Done()
		// Output goes to the console until QEMU closes its stdout.
		_, _ = io.Copy(d.pw, stdout)
		p.err = cmd.Wait()
		close(p.exited)
		d.exited(p)
	}()
	return nil
}

// exited reports how a QEMU process ended and, in Auto mode, retries a
// failed KVM start under TCG.
func (d *Device) exited(p *process) {
	d.mu.Lock()
	stopped, current := p.stopped, d.proc == p
	if current {
		d.proc = nil
	}
	d.mu.Unlock()
	if stopped {
		return
	}
	msg := strings.TrimSpace(p.stderr.String())
	status := "exited"
	if p.err != nil {
		status = p.err.Error()
	}
	d.logf("%s: QEMU stopped by itself (%s)%s", d.hostname, status, suffix(msg))
	if current && p.kvm && d.cfg.KVM == KVMAuto && p.err != nil && time.Since(p.started) < FallbackWindow {
		d.logf("%s: KVM does not work on this host; powering on again without it (TCG). Set no_kvm in the device dictionary to skip this attempt", d.hostname)
		d.mu.Lock()
		d.noKVM = true
		d.mu.Unlock()
		if err := d.start(false, true); err != nil {
			d.logf("%s: %v", d.hostname, err)
		}
	}
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// PowerOff stops QEMU (SIGTERM, then SIGKILL after two seconds) and waits
// for it to exit.
func (d *Device) PowerOff(ctx context.Context) error {
	d.mu.Lock()
	p := d.proc
	d.proc, d.on = nil, false
	if p != nil {
		p.stopped = true
	}
	d.mu.Unlock()
	if p == nil {
		return nil
	}
	_ = p.stdin.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("qemu: process %d did not exit after SIGKILL", p.cmd.Process.Pid)
	}
}

// Close powers the device off and ends the console: reads return io.EOF
// once everything QEMU printed was read.
func (d *Device) Close() error {
	err := d.PowerOff(context.Background())
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	go func() {
		d.copiers.Wait()
		d.pw.Close()
	}()
	return err
}

// console is the device's serial line.
type console struct{ d *Device }

// Read reads what the guest printed.
func (c console) Read(p []byte) (int, error) { return c.d.out.Read(p) }

// Write types on the serial line; while the device is off the bytes are
// lost.
func (c console) Write(p []byte) (int, error) {
	c.d.mu.Lock()
	proc := c.d.proc
	c.d.mu.Unlock()
	if proc == nil {
		return len(p), nil
	}
	if _, err := proc.stdin.Write(p); err != nil {
		// QEMU is exiting: like a powered-off board, the input is lost.
		return len(p), nil
	}
	return len(p), nil
}

// kvmUsable reports whether /dev/kvm can be opened for reading and writing.
func kvmUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// tail keeps the last n bytes written to it.
type tail struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := bufio.NewScanner(strings.NewReader(string(t.buf)))
	var lines []string
	for s.Scan() {
		if l := strings.TrimSpace(s.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// quoteAll quotes arguments for the log so that the line can be pasted
// into a shell.
func quoteAll(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = Quote(a)
	}
	return out
}

// Quote quotes s for a POSIX shell when it needs quoting.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=,:+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
