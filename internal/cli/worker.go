package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/dispatcher"
	"github.com/basalt-lab/basalt/internal/worker"
)

// newWorkerCommand builds `basalt worker`, the worker daemon; extra are
// added as its subcommands (the dispatcher's hidden `run-job`).
func newWorkerCommand(extra ...*cobra.Command) *cobra.Command {
	var (
		token, tokenFile, joinToken, name, dataDir, caFile, configFile, logLevel string
		cacheDir, httpProxy, bootFiles, tftpListen, bootHTTPListen, bootServerIP string
		servers                                                                  []string
		cacheMiB                                                                 int64
		http1, keepJobs                                                          bool
		heartbeat, cancelGrace                                                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a Basalt worker: one outbound connection to the server, jobs on this host's devices",
		Long: `Run a Basalt worker daemon on a lab host.

The worker dials the server (it never listens), keeps one connection open
(HTTP/2; through plain HTTP/1.1 proxies it falls back by itself), receives
its jobs on it and runs each in its own process. Job logs are uploaded as
they are written and nothing is lost when the link or the worker goes down:
job processes outlive the worker, and a restarted worker picks them up from
the data directory.

Settings come from --config (YAML; the keys are the flag names), then the
environment (BASALT_WORKER_TOKEN), then the flags. To join a new worker,
give --join-token once: the worker stores its own token in DATA/token.

With several server replicas (one database), give every replica's URL
(--server A --server B, or --server A,B, or servers: in --config) or one
load balancer's address: the worker talks to one replica at a time and
moves to the next when it fails, losing nothing.`,
		Example: `  basalt worker --server https://lab.example.com --join-token bst_… --name rack1-host3
  basalt worker --server https://lab1.example.com,https://lab2.example.com --token-file /etc/basalt/worker.token
  basalt worker --config /etc/basalt/worker.yaml`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var s worker.Settings
			if configFile != "" {
				var err error
				if s, err = worker.LoadSettings(configFile); err != nil {
					return usageError{err}
				}
			}
			s = s.Merge(worker.EnvSettings(os.Getenv))
			var fl worker.Settings
			f := cmd.Flags()
			strFlags := map[string]*string{"token": &token, "token-file": &tokenFile,
				"join-token": &joinToken, "name": &name, "data-dir": &dataDir, "ca-file": &caFile, "log-level": &logLevel,
				"cache-dir": &cacheDir, "http-proxy": &httpProxy, "boot-files": &bootFiles, "tftp-listen": &tftpListen,
				"boot-http-listen": &bootHTTPListen, "boot-server-ip": &bootServerIP}
			dst := map[string]**string{"token": &fl.Token, "token-file": &fl.TokenFile,
				"join-token": &fl.JoinToken, "name": &fl.Name, "data-dir": &fl.DataDir, "ca-file": &fl.CAFile, "log-level": &fl.LogLevel,
				"cache-dir": &fl.CacheDir, "http-proxy": &fl.HTTPProxy, "boot-files": &fl.BootFiles, "tftp-listen": &fl.TFTPListen,
				"boot-http-listen": &fl.BootHTTPListen, "boot-server-ip": &fl.BootServerIP}
			for k, v := range strFlags {
				if f.Changed(k) {
					*dst[k] = v
				}
			}
			if f.Changed("server") {
				fl.Servers = servers
			}
			if f.Changed("http1") {
				fl.HTTP1 = &http1
			}
			if f.Changed("cache-size-mib") {
				fl.CacheMiB = &cacheMiB
			}
			if f.Changed("keep-jobs") {
				fl.KeepJobs = &keepJobs
			}
			if f.Changed("heartbeat") {
				fl.Heartbeat = &heartbeat
			}
			if f.Changed("cancel-grace") {
				fl.CancelGrace = &cancelGrace
			}
			s = s.Merge(fl)

			lvl := slog.LevelInfo
			if s.LogLevel != nil {
				if err := lvl.UnmarshalText([]byte(*s.LogLevel)); err != nil {
					return usageError{fmt.Errorf("log-level: %w", err)}
				}
			}
			cfg := worker.Config{Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl}))}
			if err := s.Apply(&cfg); err != nil {
				return usageError{err}
			}
			if cfg.Server == "" && len(cfg.Servers) == 0 {
				return usageError{fmt.Errorf("no server: give --server URL (or server: or servers: in --config)")}
			}
			w, err := worker.New(cfg)
			if err != nil {
				return usageError{err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return w.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML file with the settings below (keys = flag names; unknown keys are errors)")
	f.StringSliceVar(&servers, "server", nil, "the server's URL (http:// or https://); repeat it or separate URLs with commas to list every replica of the lab: the worker uses one and moves to the next when it fails")
	f.StringVar(&token, "token", "", "the worker token (prefer BASALT_WORKER_TOKEN, --token-file or a join token: flags show in ps)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the worker token")
	f.StringVar(&joinToken, "join-token", "", "one-time join token, exchanged for the worker's own token (stored in DATA/token) when it has none")
	f.StringVar(&name, "name", "", "the worker's name on the server (default the host name)")
	f.StringVar(&dataDir, "data-dir", worker.DefaultDataDir, "directory for the stored token and the job directories")
	f.StringVar(&caFile, "ca-file", "", "PEM file of certificate authorities to trust (in addition to the system's)")
	f.BoolVar(&http1, "http1", false, "use HTTP/1.1 only (default: HTTP/2, falling back to HTTP/1.1 by itself)")
	f.DurationVar(&heartbeat, "heartbeat", worker.DefaultHeartbeat, "heartbeat interval until the server announces its own")
	f.DurationVar(&cancelGrace, "cancel-grace", worker.DefaultCancelGrace, "time a canceled job has between SIGTERM and SIGKILL")
	f.BoolVar(&keepJobs, "keep-jobs", false, "keep job directories after their end is reported (debugging)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&cacheDir, "cache-dir", "", "download cache shared by the jobs (default DATA/cache)")
	f.Int64Var(&cacheMiB, "cache-size-mib", dispatcher.DefaultCacheBytes>>20, "bound of the download cache in MiB")
	f.StringVar(&httpProxy, "http-proxy", "", "proxy URL for the jobs' http(s) downloads (LAVA_PROXY; also BASALT_HTTP_PROXY)")
	f.StringVar(&bootFiles, "boot-files", "", "directory of the boot-file server boards fetch kernels, ramdisks and device trees from over TFTP (and HTTP); empty: none, tftp deploys fail")
	f.StringVar(&tftpListen, "tftp-listen", worker.DefaultTFTPListen, "UDP address of the TFTP server (with --boot-files)")
	f.StringVar(&bootHTTPListen, "boot-http-listen", "", "TCP address serving the boot files over HTTP too (with --boot-files; empty: not served over HTTP)")
	f.StringVar(&bootServerIP, "boot-server-ip", "", "the worker's address as the boards see it, {SERVER_IP} in bootloader commands (default: the host of --tftp-listen)")
	cmd.AddCommand(extra...)
	return cmd
}
