package worker

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/bootfiles"
)

// Defaults of the tunables in Config.
const (
	DefaultDataDir        = "basalt-worker"
	DefaultHeartbeat      = 10 * time.Second
	DefaultCancelGrace    = 30 * time.Second
	DefaultPollInterval   = 100 * time.Millisecond
	DefaultBackoffMin     = 250 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultBackoffReset   = 30 * time.Second
	DefaultMismatchRetry  = time.Minute
	DefaultFlushTimeout   = 5 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxUpload      = 1 << 20
	// DefaultTFTPListen is TFTP's port on every address.
	DefaultTFTPListen = ":69"
)

// Config configures a Worker. Server (or Servers) and a way to
// authenticate (Token, a token stored in the data directory, or JoinToken)
// are required; every other zero value takes its default.
type Config struct {
	// Server is the server's base URL (http:// or https://, optionally with
	// a path prefix if the server is mounted under one): the first server
	// when Servers lists more.
	Server string
	// Servers lists more URLs of replicas of one lab (servers on one
	// database), tried after Server (New puts them all here, Server
	// first, without repeats). The worker uses one at a
	// time and moves to the next when it fails; all of them know the
	// worker by the same name and token. One URL of a load balancer in
	// front of the replicas works as well.
	Servers []string
	// Token is the worker token. When empty, DATA/token is used, and when
	// that does not exist either, JoinToken is exchanged for one.
	Token string
	// JoinToken is a one-time join token, used only when there is no token.
	JoinToken string
	// Name is the worker's name on the server; default the host name.
	Name string
	// DataDir holds the stored token and the job directories; default
	// DefaultDataDir (relative to the working directory).
	DataDir string
	// CAFile is a PEM file of certificate authorities to trust in addition
	// to the system's.
	CAFile string
	// HTTP1 forces HTTP/1.1 (the stream then uses a connection of its own).
	// Without it, https:// negotiates HTTP/2 with ALPN and http:// tries
	// h2c first and falls back to HTTP/1.1 if the server or a proxy in
	// between refuses it.
	HTTP1 bool
	// Heartbeat is the heartbeat interval used until the server's hello
	// announces its own.
	Heartbeat time.Duration
	// CancelGrace is how long a canceled job process has between SIGTERM
	// and SIGKILL.
	CancelGrace time.Duration
	// KeepJobs keeps job directories after their end was reported (debug).
	KeepJobs bool
	// CacheDir is the download cache shared by the worker's jobs; default
	// DataDir/cache.
	CacheDir string
	// CacheMiB bounds the download cache in MiB; ≤ 0 means the
	// dispatcher's default (10 GiB).
	CacheMiB int64
	// HTTPProxy is the proxy of the jobs' http and https downloads (LAVA's
	// LAVA_PROXY); empty: none.
	HTTPProxy string
	// BootFiles is the directory of the worker's boot-file server, which
	// boards' bootloaders fetch kernels, ramdisks and device trees from
	// over TFTP (and HTTP); empty: no server, and tftp deploys fail.
	BootFiles string
	// TFTPListen is the UDP address of the TFTP server (default
	// DefaultTFTPListen).
	TFTPListen string
	// BootHTTPListen is the TCP address serving the same files over HTTP;
	// empty: not served over HTTP.
	BootHTTPListen string
	// BootServerIP is the worker's address as the boards see it, what
	// their bootloader commands get for {SERVER_IP}; default: the host of
	// TFTPListen when it names one.
	BootServerIP string
	// Command is the job process's command line, to which the job
	// directory is appended; default: this executable, "worker", "run-job".
	Command []string
	// Logger receives the worker's logs; default slog.Default().
	Logger *slog.Logger

	// PollInterval is how often a job's journal size (and a reattached job
	// process) is checked.
	PollInterval time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential back-off of
	// reconnections and failed requests.
	BackoffMin, BackoffMax time.Duration
	// BackoffReset is how long a stream must stay up for the back-off to
	// start again from BackoffMin.
	BackoffReset time.Duration
	// MismatchRetry is the retry period after the server refused this
	// worker's protocol version.
	MismatchRetry time.Duration
	// FlushTimeout bounds the final upload pass on shutdown.
	FlushTimeout time.Duration
	// RequestTimeout bounds every request except the stream (and the
	// stream's response headers).
	RequestTimeout time.Duration
	// MaxUpload caps the size of one log upload.
	MaxUpload int
}

// withDefaults returns c with every zero tunable set to its default and the
// data directory made absolute.
func (c Config) withDefaults() (Config, error) {
	var servers []string
	for _, u := range append([]string{c.Server}, c.Servers...) {
		if u = strings.TrimSpace(u); u != "" && !slices.Contains(servers, u) {
			servers = append(servers, u)
		}
	}
	if len(servers) == 0 {
		return c, errors.New("worker: no server URL")
	}
	c.Server, c.Servers = servers[0], servers
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("worker: no name and no host name: %w", err)
		}
		c.Name = h
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return c, fmt.Errorf("worker: data directory %s: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(c.DataDir, "cache")
	}
	if c.CacheDir, err = filepath.Abs(c.CacheDir); err != nil {
		return c, fmt.Errorf("worker: cache directory: %w", err)
	}
	if len(c.Command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("worker: find own executable for job processes: %w", err)
		}
		c.Command = []string{exe, "worker", "run-job"}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.BootFiles != "" {
		if c.BootFiles, err = filepath.Abs(c.BootFiles); err != nil {
			return c, fmt.Errorf("worker: boot-files directory: %w", err)
		}
		if c.TFTPListen == "" {
			c.TFTPListen = DefaultTFTPListen
		}
		if c.BootServerIP == "" {
			if c.BootServerIP, err = bootfiles.ServerIP(c.TFTPListen); err != nil {
				return c, fmt.Errorf("worker: boot-server-ip: %w", err)
			}
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Heartbeat, DefaultHeartbeat)
	def(&c.CancelGrace, DefaultCancelGrace)
	def(&c.PollInterval, DefaultPollInterval)
	def(&c.BackoffMin, DefaultBackoffMin)
	def(&c.BackoffMax, DefaultBackoffMax)
	def(&c.BackoffReset, DefaultBackoffReset)
	def(&c.MismatchRetry, DefaultMismatchRetry)
	def(&c.FlushTimeout, DefaultFlushTimeout)
	def(&c.RequestTimeout, DefaultRequestTimeout)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.MaxUpload <= 0 {
		c.MaxUpload = DefaultMaxUpload
	}
	return c, nil
}

// Settings are the worker's user-facing settings as one layer of
// configuration: the YAML config file, the environment or the command
// line. A nil field is not set by that layer. The YAML keys are the flag
// names of `basalt worker`.
type Settings struct {
	Server *string `yaml:"server"`
	// Servers are more server URLs (replicas), after Server; a layer that
	// sets Server or Servers replaces both. Each entry (and Server) may
	// list several URLs separated by commas.
	Servers        []string       `yaml:"servers"`
	Token          *string        `yaml:"token"`
	TokenFile      *string        `yaml:"token-file"`
	JoinToken      *string        `yaml:"join-token"`
	Name           *string        `yaml:"name"`
	DataDir        *string        `yaml:"data-dir"`
	CAFile         *string        `yaml:"ca-file"`
	HTTP1          *bool          `yaml:"http1"`
	KeepJobs       *bool          `yaml:"keep-jobs"`
	Heartbeat      *time.Duration `yaml:"heartbeat"`
	CancelGrace    *time.Duration `yaml:"cancel-grace"`
	LogLevel       *string        `yaml:"log-level"`
	CacheDir       *string        `yaml:"cache-dir"`
	CacheMiB       *int64         `yaml:"cache-size-mib"`
	HTTPProxy      *string        `yaml:"http-proxy"`
	BootFiles      *string        `yaml:"boot-files"`
	TFTPListen     *string        `yaml:"tftp-listen"`
	BootHTTPListen *string        `yaml:"boot-http-listen"`
	BootServerIP   *string        `yaml:"boot-server-ip"`
}

// LoadSettings reads a YAML config file. Unknown keys are errors.
func LoadSettings(path string) (Settings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Settings{}, fmt.Errorf("worker config: %w", err)
	}
	// durations are read as strings first, so that a bad one is reported
	// with its key
	var f struct {
		Server         *string  `yaml:"server"`
		Servers        []string `yaml:"servers"`
		Token          *string  `yaml:"token"`
		TokenFile      *string  `yaml:"token-file"`
		JoinToken      *string  `yaml:"join-token"`
		Name           *string  `yaml:"name"`
		DataDir        *string  `yaml:"data-dir"`
		CAFile         *string  `yaml:"ca-file"`
		HTTP1          *bool    `yaml:"http1"`
		KeepJobs       *bool    `yaml:"keep-jobs"`
		Heartbeat      *string  `yaml:"heartbeat"`
		CancelGrace    *string  `yaml:"cancel-grace"`
		LogLevel       *string  `yaml:"log-level"`
		CacheDir       *string  `yaml:"cache-dir"`
		CacheMiB       *int64   `yaml:"cache-size-mib"`
		HTTPProxy      *string  `yaml:"http-proxy"`
		BootFiles      *string  `yaml:"boot-files"`
		TFTPListen     *string  `yaml:"tftp-listen"`
		BootHTTPListen *string  `yaml:"boot-http-listen"`
		BootServerIP   *string  `yaml:"boot-server-ip"`
	}
	if err := yaml.UnmarshalWithOptions(b, &f, yaml.Strict()); err != nil {
		return Settings{}, fmt.Errorf("worker config %s: %s", path, yaml.FormatError(err, false, true))
	}
	s := Settings{Server: f.Server, Servers: f.Servers, Token: f.Token, TokenFile: f.TokenFile, JoinToken: f.JoinToken, Name: f.Name,
		DataDir: f.DataDir, CAFile: f.CAFile, HTTP1: f.HTTP1, KeepJobs: f.KeepJobs, LogLevel: f.LogLevel,
		CacheDir: f.CacheDir, CacheMiB: f.CacheMiB, HTTPProxy: f.HTTPProxy,
		BootFiles: f.BootFiles, TFTPListen: f.TFTPListen, BootHTTPListen: f.BootHTTPListen, BootServerIP: f.BootServerIP}
	for _, d := range []struct {
		key string
		in  *string
		out **time.Duration
	}{{"heartbeat", f.Heartbeat, &s.Heartbeat}, {"cancel-grace", f.CancelGrace, &s.CancelGrace}} {
		if d.in == nil {
			continue
		}
		v, err := time.ParseDuration(*d.in)
		if err != nil {
			return Settings{}, fmt.Errorf("worker config %s: %s: %w", path, d.key, err)
		}
		*d.out = &v
	}
	return s, nil
}

// EnvSettings reads the settings the environment may carry through getenv:
// BASALT_WORKER_TOKEN, and the download proxy BASALT_HTTP_PROXY (or
// LAVA_PROXY, as LAVA workers call it).
func EnvSettings(getenv func(string) string) Settings {
	var s Settings
	if v := getenv("BASALT_WORKER_TOKEN"); v != "" {
		s.Token = &v
	}
	for _, k := range []string{"BASALT_HTTP_PROXY", "LAVA_PROXY"} {
		if v := getenv(k); v != "" {
			s.HTTPProxy = &v
			break
		}
	}
	return s
}

// Merge returns s overridden by every field over sets. Token and TokenFile
// are one setting: a layer that sets either replaces both.
func (s Settings) Merge(over Settings) Settings {
	if over.Token != nil || over.TokenFile != nil {
		s.Token, s.TokenFile = over.Token, over.TokenFile
	}
	set := func(dst **string, v *string) {
		if v != nil {
			*dst = v
		}
	}
	if over.Server != nil || over.Servers != nil {
		s.Server, s.Servers = over.Server, over.Servers
	}
	set(&s.JoinToken, over.JoinToken)
	set(&s.Name, over.Name)
	set(&s.DataDir, over.DataDir)
	set(&s.CAFile, over.CAFile)
	set(&s.LogLevel, over.LogLevel)
	set(&s.CacheDir, over.CacheDir)
	set(&s.HTTPProxy, over.HTTPProxy)
	set(&s.BootFiles, over.BootFiles)
	set(&s.TFTPListen, over.TFTPListen)
	set(&s.BootHTTPListen, over.BootHTTPListen)
	set(&s.BootServerIP, over.BootServerIP)
	if over.CacheMiB != nil {
		s.CacheMiB = over.CacheMiB
	}
	if over.HTTP1 != nil {
		s.HTTP1 = over.HTTP1
	}
	if over.KeepJobs != nil {
		s.KeepJobs = over.KeepJobs
	}
	if over.Heartbeat != nil {
		s.Heartbeat = over.Heartbeat
	}
	if over.CancelGrace != nil {
		s.CancelGrace = over.CancelGrace
	}
	return s
}

// Apply sets the fields of c that s sets, reading the token file if there
// is one.
func (s Settings) Apply(c *Config) error {
	str := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	if s.Server != nil || s.Servers != nil {
		var all []string
		if s.Server != nil {
			all = append(all, *s.Server)
		}
		var list []string
		for _, v := range append(all, s.Servers...) {
			for _, u := range strings.Split(v, ",") {
				if u = strings.TrimSpace(u); u != "" {
					list = append(list, u)
				}
			}
		}
		c.Server, c.Servers = "", nil
		if len(list) > 0 {
			c.Server = list[0]
		}
		if len(list) > 1 {
			c.Servers = list[1:]
		}
	}
	str(&c.Token, s.Token)
	str(&c.JoinToken, s.JoinToken)
	str(&c.Name, s.Name)
	str(&c.DataDir, s.DataDir)
	str(&c.CAFile, s.CAFile)
	str(&c.CacheDir, s.CacheDir)
	str(&c.HTTPProxy, s.HTTPProxy)
	str(&c.BootFiles, s.BootFiles)
	str(&c.TFTPListen, s.TFTPListen)
	str(&c.BootHTTPListen, s.BootHTTPListen)
	str(&c.BootServerIP, s.BootServerIP)
	if s.CacheMiB != nil {
		if *s.CacheMiB <= 0 {
			return fmt.Errorf("cache-size-mib must be positive, got %d", *s.CacheMiB)
		}
		c.CacheMiB = *s.CacheMiB
	}
	if s.TokenFile != nil && *s.TokenFile != "" {
		b, err := os.ReadFile(*s.TokenFile)
		if err != nil {
			return fmt.Errorf("token file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return fmt.Errorf("token file %s is empty", *s.TokenFile)
		}
		c.Token = tok
	}
	if s.HTTP1 != nil {
		c.HTTP1 = *s.HTTP1
	}
	if s.KeepJobs != nil {
		c.KeepJobs = *s.KeepJobs
	}
	if s.Heartbeat != nil {
		if *s.Heartbeat <= 0 {
			return fmt.Errorf("heartbeat must be positive, got %s", *s.Heartbeat)
		}
		c.Heartbeat = *s.Heartbeat
	}
	if s.CancelGrace != nil {
		if *s.CancelGrace <= 0 {
			return fmt.Errorf("cancel-grace must be positive, got %s", *s.CancelGrace)
		}
		c.CancelGrace = *s.CancelGrace
	}
	return nil
}

// readToken reads a token file; a missing file is an empty token.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
