package pgtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// pgRoot is where Debian installs the PostgreSQL server binaries, one
// directory per major version.
const pgRoot = "/usr/lib/postgresql"

// errNoBinaries is the failure when PostgreSQL is not installed.
var errNoBinaries = errors.New("PostgreSQL server binaries not found under " + pgRoot + ": run `make test`, which installs them")

// cluster is a private PostgreSQL cluster in a temporary directory.
type cluster struct {
	bindir   string // …/bin holding initdb and pg_ctl
	dir      string // temporary directory: data/, server.log, the socket
	port     int
	runuser  string // path of runuser when the tools run as postgres, else ""
	watchdog *exec.Cmd
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *cluster) adminDSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// findBinDir returns the bin directory of the highest PostgreSQL version
// installed under root (pgRoot outside tests).
func findBinDir(root string) (string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", errNoBinaries
	}
	type version struct {
		dir   string
		parts []int
	}
	var found []version
	for _, e := range entries {
		bin := filepath.Join(root, e.Name(), "bin")
		if !isExecutable(filepath.Join(bin, "initdb")) || !isExecutable(filepath.Join(bin, "pg_ctl")) {
			continue
		}
		var parts []int
		for _, p := range strings.Split(e.Name(), ".") {
			n, err := strconv.Atoi(p)
			if err != nil {
				n = -1
			}
			parts = append(parts, n)
		}
		found = append(found, version{bin, parts})
	}
	if len(found) == 0 {
		return "", errNoBinaries
	}
	sort.Slice(found, func(i, j int) bool {
		a, b := found[i].parts, found[j].parts
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return len(a) < len(b)
	})
	return found[len(found)-1].dir, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// startCluster runs initdb and pg_ctl start in a new temporary directory and
// starts the watchdog that tears the cluster down if this process dies.
func startCluster() (*cluster, error) {
	bindir, err := findBinDir(pgRoot)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "basalt-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	c := &cluster{bindir: bindir, dir: dir}
	if err := c.prepare(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if out, err := c.command("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb in %s: %w\n%s", dir, err, out)
	}
	// A free port can be taken by someone else before the server binds it:
	// try a few.
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		err := c.start()
		if err == nil {
			break
		}
		if attempt == 2 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := c.startWatchdog(); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// start runs the server of the initialized cluster on c.port and waits
// until it accepts connections.
func (c *cluster) start() error {
	opts := fmt.Sprintf("-k %s -c listen_addresses=127.0.0.1 -p %d -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
		c.dir, c.port)
	out, err := c.command("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"),
		"-w", "-t", "60", "-o", opts, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return nil
}

// prepare decides how to run the tools and gives the directory to the user
// that runs them: as root, PostgreSQL refuses to run, so the tools run as
// the postgres user through runuser.
func (c *cluster) prepare() error {
	if os.Geteuid() != 0 {
		return os.Chmod(c.dir, 0o700)
	}
	ru, err := exec.LookPath("runuser")
	if err != nil {
		return fmt.Errorf("running as root needs runuser to start PostgreSQL as user postgres: %w", err)
	}
	c.runuser = ru
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs the postgres user (installed with PostgreSQL): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(c.dir, uid, gid); err != nil {
		return fmt.Errorf("give %s to postgres: %w", c.dir, err)
	}
	return os.Chmod(c.dir, 0o700)
}

// argv returns the command line running tool from bindir as the right user.
func (c *cluster) argv(tool string, args ...string) []string {
	bin := filepath.Join(c.bindir, tool)
	if c.runuser != "" {
		return append([]string{c.runuser, "-u", "postgres", "--", bin}, args...)
	}
	return append([]string{bin}, args...)
}

func (c *cluster) command(tool string, args ...string) *exec.Cmd {
	argv := c.argv(tool, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir // the tools chdir nowhere else; the test's directory may be closed to postgres
	return cmd
}

// stopArgv is the command line that stops the cluster.
func (c *cluster) stopArgv() []string {
	return c.argv("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
}

// watchdogScript waits for process $1 to exit, then runs "$3 …" (the stop
// command) and removes directory $2.
const watchdogScript = `pid=$1; dir=$2; shift 2
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
rm -rf "$dir"`

// startWatchdog starts, in its own session so that it outlives this
// process, a shell that stops the cluster and removes its directory once
// this process has exited: a test binary killed by a timeout or a signal
// leaves nothing behind.
func (c *cluster) startWatchdog() error {
	args := append([]string{"-c", watchdogScript, "pgtest-watchdog", strconv.Itoa(os.Getpid()), c.dir}, c.stopArgv()...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start cluster watchdog: %w", err)
	}
	c.watchdog = cmd
	return nil
}

// stop ends the watchdog, stops the server and removes the directory.
func (c *cluster) stop() error {
	if c.watchdog != nil {
		c.watchdog.Process.Kill()
		c.watchdog.Wait()
		c.watchdog = nil
	}
	argv := c.stopArgv()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	out, stopErr := cmd.CombinedOutput()
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove cluster directory: %w", err)
	}
	if stopErr != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", stopErr, out)
	}
	return nil
}

// freePort asks the kernel for a loopback port nobody listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
