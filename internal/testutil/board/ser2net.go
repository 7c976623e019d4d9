package board

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Ser2netPath is Debian's ser2net (package ser2net, 4.x).
const Ser2netPath = "/usr/sbin/ser2net"

// ser2netConfig is the ser2net.yaml(5) serving the board's serial line on
// a telnet (RFC 2217) port of 127.0.0.1, as a lab serves a real board's
// /dev/ttyUSBn.
func ser2netConfig(name string, port int, pts string, kickOldUser bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%%YAML 1.1\n---\n")
	fmt.Fprintf(&b, "connection: &%s\n", name)
	fmt.Fprintf(&b, "  accepter: telnet(rfc2217),tcp,127.0.0.1,%d\n", port)
	fmt.Fprintf(&b, "  enable: on\n")
	fmt.Fprintf(&b, "  connector: serialdev,%s,115200n81,local\n", pts)
	if kickOldUser {
		fmt.Fprintf(&b, "  options:\n    kickolduser: true\n")
	}
	return b.String()
}

// ser2net is one running ser2net process.
type ser2net struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// startSer2net runs ser2net in the foreground (-n, a child of this
// process) with UUCP locking off (-u: the pty is ours alone), and waits
// until it listens on port.
func startSer2net(dir, config string, port int) (*ser2net, error) {
	if _, err := os.Stat(Ser2netPath); err != nil {
		return nil, fmt.Errorf("ser2net not found (install Debian's ser2net): %w", err)
	}
	logPath := filepath.Join(dir, "ser2net.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ser2net log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(Ser2netPath, "-n", "-u", "-c", config, "-P", filepath.Join(dir, "ser2net.pid"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ser2net: %w", err)
	}
	s := &ser2net{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for !listening(port) {
		select {
		case <-s.done:
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("ser2net exited before listening on 127.0.0.1:%d: %s", port, bytes.TrimSpace(out))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("ser2net not listening on 127.0.0.1:%d after 20s", port)
		}
	}
	return s, nil
}

// stop kills ser2net and waits for it to exit.
func (s *ser2net) stop() {
	if s == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// listening reports whether a TCP socket listens on 127.0.0.1:port, from
// /proc/net/tcp (connecting to find out would open the serial line).
func listening(port int) bool {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return false
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		// sl local_address rem_address st ...; st 0A is LISTEN.
		if len(fs) > 3 && fs[1] == want && fs[3] == "0A" {
			return true
		}
	}
	return false
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
