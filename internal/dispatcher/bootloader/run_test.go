package bootloader

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// streamConsole is a Console over a device's output (a net.Pipe's end, a
// process's stdout) and input: a reader goroutine collects the output,
// Expect searches it (the earliest match wins), and every byte typed is
// recorded.
type streamConsole struct {
	w io.Writer

	mu     sync.Mutex
	buf    []byte
	all    strings.Builder
	closed bool
	sig    chan struct{}
	typed  strings.Builder
}

// newPipeConsole is a console over one end of a net.Pipe.
func newPipeConsole(conn net.Conn) *streamConsole { return newStreamConsole(conn, conn) }

func newStreamConsole(r io.Reader, w io.Writer) *streamConsole {
	c := &streamConsole{w: w, sig: make(chan struct{})}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			c.mu.Lock()
			c.buf = append(c.buf, b[:n]...)
			if c.all.Len() < 1<<20 {
				c.all.Write(b[:n])
			}
			if len(c.buf) > 1<<20 { // keep the window bounded
				c.buf = c.buf[len(c.buf)-(64<<10):]
			}
			if err != nil {
				c.closed = true
			}
			close(c.sig)
			c.sig = make(chan struct{})
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return c
}

func (c *streamConsole) Send(ctx context.Context, line string) error {
	return c.SendRaw(ctx, line+"\n")
}

func (c *streamConsole) SendRaw(ctx context.Context, s string) error {
	c.mu.Lock()
	c.typed.WriteString(s)
	c.mu.Unlock()
	_, err := io.WriteString(c.w, s)
	return err
}

func (c *streamConsole) Expect(ctx context.Context, what string, patterns ...*regexp.Regexp) (int, error) {
	for {
		c.mu.Lock()
		best, start, end := -1, 0, 0
		for i, p := range patterns {
			if loc := p.FindIndex(c.buf); loc != nil && (best < 0 || loc[0] < start) {
				best, start, end = i, loc[0], loc[1]
			}
		}
		if best >= 0 {
			c.buf = c.buf[end:]
			c.mu.Unlock()
			return best, nil
		}
		if c.closed {
			c.mu.Unlock()
			return -1, errors.New("console closed")
		}
		ch := c.sig
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return -1, context.Cause(ctx)
		case <-ch:
		}
	}
}

// Typed is everything typed so far.
func (c *streamConsole) Typed() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.typed.String()
}

// output is the device's output so far (its first MiB), without CRs.
func (c *streamConsole) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.ReplaceAll(c.all.String(), "\r", "")
}

// fakeBootloader plays a bootloader on the device end of the pipe.
type fakeBootloader struct {
	banner    string            // printed at power on, ends with the interrupt prompt
	interrupt string            // the bytes that interrupt it
	prompt    string            // printed when ready for a command
	replies   map[string]string // command prefix → output before the next prompt
	boots     string            // command prefix that starts the kernel
	bootOut   string            // printed by the boot command
	lines     []string          // commands received
	err       error             // a protocol error seen by the fake
}

func (f *fakeBootloader) run(conn net.Conn, done chan<- struct{}) {
	defer close(done)
	defer conn.Close()
	r := bufio.NewReader(conn)
	if _, err := conn.Write([]byte(f.banner)); err != nil {
		return
	}
	if f.interrupt != "" {
		got := make([]byte, len(f.interrupt))
		if _, err := readFull(r, got); err != nil {
			return
		}
		if string(got) != f.interrupt {
			f.err = errors.New("interrupted with " + string(got))
			conn.Write([]byte("\nautoboot goes on\n"))
			return
		}
		conn.Write([]byte("\n"))
	}
	conn.Write([]byte(f.prompt))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		f.lines = append(f.lines, line)
		if f.boots != "" && strings.HasPrefix(line, f.boots) {
			conn.Write([]byte(f.bootOut))
			// the kernel runs: read whatever comes until the end
			for {
				if _, err := r.ReadByte(); err != nil {
					return
				}
			}
		}
		out, longest := "", -1 // the reply of the longest matching prefix
		for p, o := range f.replies {
			if strings.HasPrefix(line, p) && len(p) > longest {
				out, longest = o, len(p)
			}
		}
		if out == "" && line != "" && !strings.HasPrefix(line, "setenv") {
			out = "Unknown command '" + strings.Fields(line)[0] + "' - try 'help'\n"
		}
		if _, err := conn.Write([]byte(out + f.prompt)); err != nil {
			return
		}
	}
}

func readFull(r *bufio.Reader, b []byte) (int, error) {
	for i := range b {
		c, err := r.ReadByte()
		if err != nil {
			return i, err
		}
		b[i] = c
	}
	return len(b), nil
}

// start connects a fake bootloader to a pipeConsole.
func start(t *testing.T, f *fakeBootloader) (*streamConsole, func() []string) {
	t.Helper()
	dev, host := net.Pipe()
	done := make(chan struct{})
	go f.run(dev, done)
	c := newPipeConsole(host)
	return c, func() []string {
		host.Close()
		<-done
		if f.err != nil {
			t.Errorf("fake bootloader: %v", f.err)
		}
		return f.lines
	}
}

// loadMethod reads a boot method from a rendered device configuration.
func loadMethod(t *testing.T, file, name string) Method {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var device map[string]any
	if err := yaml.Unmarshal(b, &device); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	m, err := ParseMethod(device, name)
	if err != nil {
		t.Fatalf("ParseMethod(%s, %s): %v", file, name, err)
	}
	return m
}

const ubootBanner = "\nU-Boot 2023.01+dfsg-2 (Jan 01 2023)\n\nCPU:   QEMU Virtual CPU\nNet:   e1000: 52:54:00:12:34:56\n       eth0: e1000#0\nHit any key to stop autoboot:  2 \b\b\b 1 "

func ubootFake() *fakeBootloader {
	return &fakeBootloader{
		banner: ubootBanner, interrupt: "\n", prompt: "=> ",
		replies: map[string]string{
			"dhcp": "BOOTP broadcast 1\nDHCP client bound to address 10.0.2.15 (3 ms)\n",
			"tftp": "Using e1000#0 device\nTFTP from server 10.0.2.2; our IP address is 10.0.2.15\nLoading: ##########\ndone\nBytes transferred = 8123456 (7bf440 hex)\n",
		},
		boots:   "zboot",
		bootOut: "Valid Boot Flag\nSetup Size = 0x00004400\nStarting kernel ...\n\n[    0.000000] Linux version 6.1.0-18-amd64\n",
	}
}

func zbootCommands(t *testing.T, m Method) []string {
	t.Helper()
	set, err := m.Commands("ramdisk")
	if err != nil {
		t.Fatal(err)
	}
	subs, err := Substitutions(Inputs{Method: UBoot, ServerIP: "10.0.2.2", Kernel: "5/tftp/bzImage", Ramdisk: "5/tftp/initrd.cpio.gz",
		KernelType: "bzimage", RamdiskFormat: "raw", BootAddresses: map[string]Addresses{"zboot": {Kernel: "0x1000000", Ramdisk: "0x4000000"}}})
	if err != nil {
		t.Fatal(err)
	}
	return Substitute(set, subs)
}

var wantZboot = []string{
	"setenv autoload no", "dhcp", "setenv serverip 10.0.2.2", "tftp 0x1000000 5/tftp/bzImage",
	"tftp 0x4000000 5/tftp/initrd.cpio.gz", "setenv initrd_size ${filesize}",
	"setenv bootargs 'console=ttyS0,115200n8 root=/dev/ram0  ip=dhcp'", "zboot 0x1000000 0 0x4000000 ${initrd_size}",
}

func TestParseMethodUBoot(t *testing.T) {
	m := loadMethod(t, "uboot-x86-01.yaml", UBoot)
	if m.BootloaderPrompt != "=>" || m.InterruptPrompt != "Hit any key to stop autoboot" || m.InterruptChar != "" ||
		!m.InterruptNewline || !m.NeedsInterrupt || len(m.InterruptCtrl) != 0 || m.FinalMessage != "Starting kernel" || m.CharacterDelay != 0 {
		t.Errorf("u-boot method: %+v", m)
	}
	if len(m.ErrorMessages) != 18 || m.ErrorMessages[3] != "Retry count exceeded" {
		t.Errorf("u-boot error messages: %q", m.ErrorMessages)
	}
	if got := strings.Join(sortedKeys(m.CommandSets), ","); got != "nbd,nfs,ramdisk,sata,ums,usb" {
		t.Errorf("command sets %s", got)
	}
	if _, err := m.Commands("tftp"); err == nil || KindOf(err) != Job || !strings.Contains(err.Error(), `command set "tftp" not found in boot method u-boot (it has nbd, nfs, ramdisk, sata, ums, usb)`) {
		t.Errorf("unknown command set: %v", err)
	}
	if got := zbootCommands(t, m); !reflect.DeepEqual(got, wantZboot) {
		t.Errorf("commands\n%q\nwant\n%q", got, wantZboot)
	}
}

func TestParseMethodIPXE(t *testing.T) {
	m := loadMethod(t, "ipxe-01.yaml", IPXE)
	if m.BootloaderPrompt != "iPXE>" || m.InterruptPrompt != "Press Ctrl-B for the iPXE command line" || m.InterruptChar != "" ||
		!reflect.DeepEqual(m.InterruptCtrl, []string{"b"}) || m.FinalMessage != "" || m.LavaMac != "52:54:00:12:34:5a" || m.CharacterDelay != 20*time.Millisecond {
		t.Errorf("ipxe method: %+v", m)
	}
	if _, err := ParseMethod(map[string]any{"actions": map[string]any{"boot": map[string]any{"methods": map[string]any{"ipxe": nil}}}}, UBoot); err == nil ||
		!strings.Contains(err.Error(), `the device has no "u-boot" boot method (actions.boot.methods has ipxe)`) {
		t.Errorf("missing method: %v", err)
	}
}

// TestRunUBoot boots the fake U-Boot: the interrupt is a bare newline (the
// device's interrupt_char is empty), then every command is typed after a
// prompt, and Run returns once "Starting kernel" shows.
func TestRunUBoot(t *testing.T) {
	m := loadMethod(t, "uboot-x86-01.yaml", UBoot)
	console, stop := start(t, ubootFake())
	cmds := zbootCommands(t, m)
	err := Run(context.Background(), console, m, cmds, Options{ExpectFinal: true, PromptTimeout: time.Minute, InterruptTimeout: time.Minute})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantTyped := "\n" + strings.Join(wantZboot, "\n") + "\n"
	if got := console.Typed(); got != wantTyped {
		t.Errorf("typed %q\nwant  %q", got, wantTyped)
	}
	if lines := stop(); !reflect.DeepEqual(lines, wantZboot) {
		t.Errorf("the bootloader read %q", lines)
	}
}

// TestRunUBootErrorMessage: the kernel is missing on the TFTP server; U-Boot
// prints "File not found" and Run fails with an infrastructure error naming
// the message and the command, typing nothing after it.
func TestRunUBootErrorMessage(t *testing.T) {
	m := loadMethod(t, "uboot-x86-01.yaml", UBoot)
	f := ubootFake()
	f.replies["tftp 0x1000000"] = "Using e1000#0 device\nTFTP from server 10.0.2.2; our IP address is 10.0.2.15\nFilename '5/tftp/bzImage'.\nLoading: *\nTFTP error: 'File not found' (1)\nNot retrying...\n"
	console, stop := start(t, f)
	err := Run(context.Background(), console, m, zbootCommands(t, m), Options{ExpectFinal: true, PromptTimeout: time.Minute})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Run: %v, want an *Error", err)
	}
	if e.Kind != Infrastructure || e.Matched != "File not found" || e.Command != "tftp 0x1000000 5/tftp/bzImage" || e.Action != "bootloader-commands" {
		t.Errorf("error %+v", e)
	}
	if want := `bootloader-commands: matched a bootloader error message: "File not found" (after "tftp 0x1000000 5/tftp/bzImage")`; err.Error() != want {
		t.Errorf("message %q\nwant    %q", err.Error(), want)
	}
	if lines := stop(); !reflect.DeepEqual(lines, wantZboot[:4]) {
		t.Errorf("the bootloader read %q, want the commands up to the failing tftp", lines)
	}
}

// TestRunPromptTimeout: the bootloader shows another prompt than the
// device configuration says; Run gives up after PromptTimeout with an
// infrastructure error saying what it waited for.
func TestRunPromptTimeout(t *testing.T) {
	m := loadMethod(t, "uboot-x86-01.yaml", UBoot)
	f := ubootFake()
	f.prompt = "U-Boot# "
	console, stop := start(t, f)
	err := Run(context.Background(), console, m, zbootCommands(t, m), Options{ExpectFinal: true, PromptTimeout: 100 * time.Millisecond})
	var e *Error
	if !errors.As(err, &e) || e.Kind != Infrastructure || !errors.Is(err, errTimeout) {
		t.Fatalf("Run: %v, want an infrastructure timeout", err)
	}
	if want := `bootloader-commands: waiting for the bootloader prompt "=>" (gave up after 100ms): bootloader wait timed out`; err.Error() != want {
		t.Errorf("message %q\nwant    %q", err.Error(), want)
	}
	if console.Typed() != "\n" {
		t.Errorf("typed %q, want only the interrupt", console.Typed())
	}
	stop()
}

// TestRunInterruptTimeout: no autoboot countdown ever shows.
func TestRunInterruptTimeout(t *testing.T) {
	m := loadMethod(t, "uboot-x86-01.yaml", UBoot)
	f := ubootFake()
	f.banner = "U-Boot 2023.01\nautoboot disabled\n"
	f.interrupt = "\n"
	console, stop := start(t, f)
	err := Run(context.Background(), console, m, zbootCommands(t, m), Options{InterruptTimeout: 100 * time.Millisecond})
	if want := `bootloader-interrupt: waiting for the interrupt prompt "Hit any key to stop autoboot" (gave up after 100ms): bootloader wait timed out`; err == nil || err.Error() != want || KindOf(err) != Infrastructure {
		t.Errorf("Run: %v\nwant %s", err, want)
	}
	if console.Typed() != "" {
		t.Errorf("typed %q, want nothing", console.Typed())
	}
	f.err = nil // the fake waits for an interrupt that never comes
	stop()
}

// TestRunIPXE: Ctrl-B interrupts iPXE; ipxe has no final message, so Run
// returns once "boot" is typed.
func TestRunIPXE(t *testing.T) {
	m := loadMethod(t, "ipxe-01.yaml", IPXE)
	f := &fakeBootloader{
		banner:    "iPXE (http://ipxe.org) 00:03.0 CA00 PCI2.10 PnP PMM+\n\n\niPXE (PCI 00:03.0) starting execution...ok\niPXE initialising devices...ok\n\nPress Ctrl-B for the iPXE command line...",
		interrupt: "\x02", prompt: "iPXE> ",
		replies: map[string]string{"dhcp": "Configuring (net0 52:54:00:12:34:5a)...... ok\n", "kernel": "tftp://10.0.2.2/k... ok\n", "initrd": "tftp://10.0.2.2/r... ok\n", "set": ""},
		boots:   "boot", bootOut: "Probing EDD (edd=off to disable)... ok\n",
	}
	console, stop := start(t, f)
	set, err := m.Commands("ramdisk")
	if err != nil {
		t.Fatal(err)
	}
	subs, _ := Substitutions(Inputs{Method: IPXE, ServerIP: "10.0.2.2", Kernel: "k", Ramdisk: "r", LavaMac: m.LavaMac})
	cmds := Substitute(set, subs)
	if err := Run(context.Background(), console, m, cmds, Options{ExpectFinal: true, PromptTimeout: time.Minute}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{"dhcp net0", "set console console=ttyS0,115200n8 lava_mac=52:54:00:12:34:5a", "set extraargs  ip=dhcp",
		"kernel tftp://10.0.2.2/k ${extraargs} ${console}", "initrd tftp://10.0.2.2/r", "boot"}
	if got, wantTyped := console.Typed(), "\x02"+strings.Join(want, "\n")+"\n"; got != wantTyped {
		t.Errorf("typed %q\nwant  %q", got, wantTyped)
	}
	if lines := stop(); !reflect.DeepEqual(lines, want) {
		t.Errorf("iPXE read %q", lines)
	}
}

// grubMethod is a GRUB method as base-grub renders it.
func grubMethod() Method {
	return Method{Name: Grub, BootloaderPrompt: "grub>", NeedsInterrupt: true, InterruptPrompt: "for a command-line",
		InterruptChar: "c", InterruptNewline: false, ErrorMessages: []string{"error: file '(.*)' not found", "error: no such device"}}
}

// TestRunGrub: GRUB is interrupted by "c" without a newline, and a GRUB
// error message (a regular expression) fails the run.
func TestRunGrub(t *testing.T) {
	f := &fakeBootloader{
		banner:    "GNU GRUB  version 2.06\n Press enter to boot the selected OS, `e' to edit the commands before booting or `c' for a command-line.\n",
		interrupt: "c", prompt: "grub> ",
		replies: map[string]string{"net_bootp": "efinet0 10.0.2.15\n", "linux": "error: file '/k/vmlinuz' not found.\n"},
	}
	console, stop := start(t, f)
	cmds := []string{"net_bootp", "linux (tftp,10.0.2.2)/k/vmlinuz console=ttyS0", "initrd (tftp,10.0.2.2)/r", "boot"}
	err := Run(context.Background(), console, grubMethod(), cmds, Options{ExpectFinal: true, PromptTimeout: time.Minute})
	var e *Error
	if !errors.As(err, &e) || e.Kind != Infrastructure || e.Matched != "error: file '(.*)' not found" || e.Command != cmds[1] {
		t.Fatalf("Run: %v", err)
	}
	if got := console.Typed(); got != "cnet_bootp\n"+cmds[1]+"\n" {
		t.Errorf("typed %q", got)
	}
	stop()
}

// TestRunNoInterrupt: a method with needs_interrupt false only waits for
// the prompt; without ExpectFinal (the generic bootloader method) Run
// returns after the last command.
func TestRunNoInterrupt(t *testing.T) {
	m := Method{Name: UBoot, BootloaderPrompt: "=>", NeedsInterrupt: false, FinalMessage: "Starting kernel"}
	f := &fakeBootloader{banner: "U-Boot 2023.01\n", prompt: "=> ", replies: map[string]string{"version": "U-Boot 2023.01\n"}}
	console, stop := start(t, f)
	if err := Run(context.Background(), console, m, []string{"version", "version"}, Options{}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := console.Typed(); got != "version\nversion\n" {
		t.Errorf("typed %q", got)
	}
	stop()
}

// TestRunCharacterDelay: with character_delays.boot each character is
// typed alone, followed by a pause.
func TestRunCharacterDelay(t *testing.T) {
	m := Method{Name: UBoot, BootloaderPrompt: "=>", NeedsInterrupt: false, CharacterDelay: 10 * time.Millisecond}
	f := &fakeBootloader{banner: "=> ", prompt: "=> ", replies: map[string]string{"echo": "hi\n"}}
	console, stop := start(t, f)
	var pauses []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error { pauses = append(pauses, d); return nil }
	if err := Run(context.Background(), console, m, []string{"echo hi"}, Options{AtPrompt: true, Sleep: sleep}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if console.Typed() != "echo hi\n" || len(pauses) != len("echo hi\n") || pauses[0] != 10*time.Millisecond {
		t.Errorf("typed %q with %d pauses %v", console.Typed(), len(pauses), pauses)
	}
	stop()
}

// TestRunRefuses: what Run refuses before typing anything, as job errors.
func TestRunRefuses(t *testing.T) {
	good := Method{Name: UBoot, BootloaderPrompt: "=>", NeedsInterrupt: true, InterruptPrompt: "Hit any key"}
	tests := []struct {
		name string
		m    Method
		cmds []string
		want string
	}{
		{"placeholder", good, []string{"tftp {KERNEL_ADDR} k", "{BOOTX}"}, "placeholder {KERNEL_ADDR} has no value in the bootloader commands (2 left"},
		{"no commands", good, nil, "no bootloader commands for boot method u-boot"},
		{"no prompt", Method{Name: UBoot}, []string{"boot"}, "missing bootloader prompt"},
		{"bad pattern", Method{Name: UBoot, BootloaderPrompt: "=>", ErrorMessages: []string{"(unclosed"}}, []string{"boot"}, "is not a valid regular expression"},
		{"line break", good, []string{"echo a\nreset"}, "holds a line break"},
		{"control name", Method{Name: IPXE, BootloaderPrompt: "iPXE>", NeedsInterrupt: true, InterruptPrompt: "Ctrl-B", InterruptCtrl: []string{"ctrl-b"}}, []string{"boot"}, "is not a control character name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			console := &streamConsole{sig: make(chan struct{})}
			err := Run(context.Background(), console, tc.m, tc.cmds, Options{})
			if err == nil || KindOf(err) != Job || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v, want a job error with %q", err, tc.want)
			}
			if console.Typed() != "" {
				t.Errorf("typed %q", console.Typed())
			}
		})
	}
}

func TestControlChar(t *testing.T) {
	for in, want := range map[string]byte{"b": 2, "c": 3, "C": 3, "@": 0, "[": 27, "?": 127, "_": 31} {
		if got, err := controlChar(in); err != nil || got != want {
			t.Errorf("controlChar(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func FuzzParseMethod(f *testing.F) {
	for _, name := range []string{"uboot-x86-01.yaml", "ipxe-01.yaml"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("actions: {boot: {methods: {u-boot: {parameters: {bootloader_prompt: 3, needs_interrupt: maybe}}}}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var device map[string]any
		if yaml.Unmarshal(b, &device) != nil {
			return
		}
		for _, name := range []string{UBoot, IPXE} {
			m, err := ParseMethod(device, name)
			if err != nil {
				if KindOf(err) != Job {
					t.Fatalf("error of kind %v: %v", KindOf(err), err)
				}
				continue
			}
			for set := range m.CommandSets {
				if _, err := m.Commands(set); err != nil && KindOf(err) != Job {
					t.Fatal(err)
				}
			}
		}
	})
}
