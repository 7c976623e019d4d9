package simdevice

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind names the simulated device implementation.
const Kind = "simulated"

// Buffer sizes of the console. Output blocks the simulated machine while
// outLimit bytes wait to be read; input beyond inLimit unread bytes is
// dropped, as a UART FIFO does when nobody reads it.
const (
	outLimit = 256 << 10
	inLimit  = 64 << 10
)

// Device is one simulated device. Its console is the Device itself
// (Read/Write); PowerOn boots it, PowerOff stops it, Close ends the console.
// All methods are safe for concurrent use.
type Device struct {
	hostname string
	cfg      Config
	out      *stream // device → reader
	in       *stream // writer → device

	mu     sync.Mutex
	on     bool
	closed bool
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a powered-off simulated device.
func New(hostname string, cfg Config) *Device {
	return &Device{
		hostname: hostname,
		cfg:      cfg,
		out:      newStream(outLimit, false),
		in:       newStream(inLimit, true),
	}
}

// Kind returns "simulated".
func (d *Device) Kind() string { return Kind }

// Hostname is the device's name, which uname -n prints.
func (d *Device) Hostname() string { return d.hostname }

// Config returns the device's configuration.
func (d *Device) Config() Config { return d.cfg }

// Console returns the device's console stream: d itself.
func (d *Device) Console() io.ReadWriter { return d }

// Read reads console output. It blocks until output is available and
// returns io.EOF after Close once everything was read.
func (d *Device) Read(p []byte) (int, error) { return d.out.Read(p) }

// Write types on the console. While the device is off, or when its input
// buffer is full, the bytes are lost, as on a real serial line.
func (d *Device) Write(p []byte) (int, error) {
	d.mu.Lock()
	on, closed := d.on, d.closed
	d.mu.Unlock()
	if closed {
		return 0, errClosed
	}
	if on {
		if err := d.in.write(context.Background(), p); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// PowerOn boots the device; if it is on, it is power-cycled. It returns
// at once: the boot log then appears on the console over Config.BootTime.
func (d *Device) PowerOn(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("power on %s: %w", d.hostname, errClosed)
	}
	if err := d.stopLocked(ctx); err != nil {
		return fmt.Errorf("power on %s: %w", d.hostname, err)
	}
	d.in.reset()
	mctx, cancel := context.WithCancel(context.Background())
	m := &machine{cfg: d.cfg, host: d.hostname, out: d.out, in: d.in, start: time.Now(), files: map[string]string{}}
	done := make(chan struct{})
	d.on, d.cancel, d.done = true, cancel, done
	go func() {
		defer close(done)
		m.run(mctx)
	}()
	return nil
}

// PowerOff stops the device. Output it printed before stays readable.
func (d *Device) PowerOff(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.stopLocked(ctx); err != nil {
		return fmt.Errorf("power off %s: %w", d.hostname, err)
	}
	return nil
}

// stopLocked stops the simulated machine and waits for it (it stops at
// its next output or wait, which is immediate).
func (d *Device) stopLocked(ctx context.Context) error {
	d.on = false
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	select {
	case <-d.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.cancel, d.done = nil, nil
	return nil
}

// Close powers the device off and ends the console: Read returns io.EOF
// once the buffered output is read, Write fails.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	err := d.stopLocked(context.Background())
	d.closed = true
	d.out.close()
	d.in.close()
	return err
}

// Version strings the simulated kernel reports.
const (
	kernelRelease = "6.1.0-basalt-sim"
	kernelVersion = "#1 SMP PREEMPT_DYNAMIC"
	machineArch   = "x86_64"
)

// machine is one power-on of a simulated device: the boot, then the shell.
// It runs on its own goroutine until its context ends.
type machine struct {
	cfg   Config
	host  string
	out   *stream
	in    *stream
	start time.Time
	sent  int64 // bytes printed, for the output rate cap
	// files are the machine's files cat prints (the multinode cache),
	// lost at power-off like a tmpfs.
	files map[string]string
}

func (m *machine) run(ctx context.Context) {
	if err := m.boot(ctx); err != nil {
		return
	}
	if m.cfg.FailBoot {
		ts := kernelTime(m.cfg.BootTime)
		msg := "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"
		if m.print(ctx, ts+msg+"\n"+ts+"---[ end "+msg+" ]---\n") != nil {
			return
		}
		<-ctx.Done()
		return
	}
	for {
		if m.cfg.LoginPrompt != "" {
			if m.login(ctx) != nil {
				return
			}
		}
		if m.shell(ctx) != nil {
			return
		}
		if m.cfg.LoginPrompt == "" {
			// The shell exited and nothing respawns it: the console is
			// silent until the next power cycle.
			<-ctx.Done()
			return
		}
	}
}

// boot prints the boot log, spread over BootTime.
func (m *machine) boot(ctx context.Context) error {
	n, total := m.cfg.BootLines, m.cfg.BootTime
	if total == 0 {
		var b []byte
		for i := range n {
			b = m.appendBootLine(b, i)
			if len(b) >= 64<<10 {
				if err := m.write(ctx, b); err != nil {
					return err
				}
				b = b[:0]
			}
		}
		return m.write(ctx, b)
	}
	for i := range n {
		if err := sleepUntil(ctx, m.start.Add(total*time.Duration(i)/time.Duration(n))); err != nil {
			return err
		}
		if err := m.write(ctx, m.appendBootLine(nil, i)); err != nil {
			return err
		}
	}
	return sleepUntil(ctx, m.start.Add(total))
}

// appendBootLine appends boot log line i with its newline.
func (m *machine) appendBootLine(b []byte, i int) []byte {
	start := len(b)
	var at time.Duration
	if m.cfg.BootLines > 0 {
		at = m.cfg.BootTime * time.Duration(i) / time.Duration(m.cfg.BootLines)
	}
	b = append(b, kernelTime(at)...)
	if i == 0 {
		b = append(b, "Linux version "+kernelRelease+" (sim@basalt) "+kernelVersion...)
	} else {
		b = append(b, "basalt-sim: boot message "...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(m.cfg.BootLines), 10)
		b = append(b, ' ')
	}
	for len(b)-start < m.cfg.LineLength {
		b = append(b, '.')
	}
	return append(b, '\n')
}

// kernelTime formats a time since boot like the kernel's printk prefix.
func kernelTime(d time.Duration) string {
	us := d.Microseconds()
	return fmt.Sprintf("[%5d.%06d] ", us/1e6, us%1e6)
}

// login runs the login dialogue until the credentials are accepted.
func (m *machine) login(ctx context.Context) error {
	for {
		if err := m.print(ctx, m.cfg.LoginPrompt); err != nil {
			return err
		}
		user, err := m.in.readLine(ctx)
		if err != nil {
			return err
		}
		if err := m.print(ctx, user+"\n"); err != nil {
			return err
		}
		var pass string
		if m.cfg.PasswordPrompt != "" {
			if err := m.print(ctx, m.cfg.PasswordPrompt); err != nil {
				return err
			}
			if pass, err = m.in.readLine(ctx); err != nil {
				return err
			}
			if err := m.print(ctx, "\n"); err != nil { // passwords are not echoed
				return err
			}
		}
		if (m.cfg.Username == "" || user == m.cfg.Username) && (m.cfg.Password == "" || pass == m.cfg.Password) {
			return m.print(ctx, m.cfg.Motd)
		}
		if err := m.print(ctx, "Login incorrect\n"); err != nil {
			return err
		}
	}
}

// shell runs the prompt–command loop until exit (nil) or the context ends.
func (m *machine) shell(ctx context.Context) error {
	for {
		if err := m.print(ctx, m.cfg.Prompt); err != nil {
			return err
		}
		line, err := m.in.readLine(ctx)
		if err != nil {
			return err
		}
		if err := m.print(ctx, line+"\n"); err != nil { // the terminal's echo
			return err
		}
		if m.cfg.CommandDelay > 0 {
			if err := sleepUntil(ctx, time.Now().Add(m.cfg.CommandDelay)); err != nil {
				return err
			}
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		_, exit, err := m.exec(ctx, line)
		if err != nil {
			return err
		}
		if exit {
			return nil
		}
	}
}

// print writes s to the console.
func (m *machine) print(ctx context.Context, s string) error { return m.write(ctx, []byte(s)) }

// write writes b to the console, no faster than OutputRate.
func (m *machine) write(ctx context.Context, b []byte) error {
	rate := int64(m.cfg.OutputRate)
	if rate <= 0 {
		return m.out.write(ctx, b)
	}
	chunk := max(1, int(rate/20)) // about 50 ms of output at a time
	for len(b) > 0 {
		n := min(chunk, len(b))
		if err := m.out.write(ctx, b[:n]); err != nil {
			return err
		}
		b = b[n:]
		m.sent += int64(n)
		if err := sleepUntil(ctx, m.start.Add(time.Duration(m.sent*int64(time.Second)/rate))); err != nil {
			return err
		}
	}
	return nil
}

// sleepUntil waits until t or the end of ctx.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
