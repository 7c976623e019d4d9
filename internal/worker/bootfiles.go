package worker

import (
	"fmt"
	"strconv"
	"time"

	"github.com/basalt-lab/basalt/internal/bootfiles"
	"github.com/basalt-lab/basalt/internal/bootfiles/tftp"
	"github.com/basalt-lab/basalt/internal/dispatcher"
)

// bootServer is the worker's boot-file server: boards' bootloaders fetch
// the files of their job (published for the job's life) over TFTP and,
// when configured, HTTP.
type bootServer struct {
	files *bootfiles.Service
}

// startBootServer opens the boot-files directory and listens on the TFTP
// (and HTTP) addresses; a port it cannot have stops the worker from
// starting, with the reason. Job directories of a previous run are kept:
// the job processes outlive the worker, and those a restarted worker
// reattaches keep their boot files (adopt, then sweep the rest, in
// recover).
func (w *Worker) startBootServer() (*bootServer, error) {
	cfg := w.cfg
	svc, err := bootfiles.Listen(cfg.BootFiles, cfg.TFTPListen, cfg.BootHTTPListen, true, func(err error) {
		w.log.Error("boot-file server stopped", "err", err)
	})
	if err != nil {
		return nil, fmt.Errorf("worker: boot files: %w", err)
	}
	svc.TFTP.Log = func(t tftp.Transfer) {
		args := []any{"client", fmt.Sprint(t.Remote), "file", t.File, "bytes", t.Bytes, "blksize", t.BlockSize,
			"window", t.Window, "retransmits", t.Retransmits, "took", t.Duration.Round(time.Millisecond)}
		if t.Err != nil {
			w.log.Warn("tftp transfer failed", append(args, "err", t.Err)...)
			return
		}
		w.log.Info("tftp transfer", args...)
	}
	w.log.Info("serving boot files", "dir", svc.Dir(), "tftp", svc.TFTPAddr.String(), "http", cfg.BootHTTPListen, "server_ip", cfg.BootServerIP)
	return &bootServer{files: svc}, nil
}

// close stops serving.
func (b *bootServer) close() {
	if b != nil {
		b.files.Close()
	}
}

// settings publishes a job's directory and returns the job process's
// settings with it.
func (w *Worker) jobSettings(id int64) (dispatcher.Settings, error) {
	cfg := w.cfg
	s := dispatcher.Settings{CacheDir: cfg.CacheDir, CacheBytes: cfg.CacheMiB << 20, HTTPProxy: cfg.HTTPProxy}
	if w.boot == nil {
		return s, nil
	}
	dir, prefix, err := w.boot.files.Publish(strconv.FormatInt(id, 10))
	if err != nil {
		return s, fmt.Errorf("publish the job's boot files: %w", err)
	}
	s.BootFilesDir, s.BootFilesPrefix, s.BootServerIP = dir, prefix, cfg.BootServerIP
	return s, nil
}

// unpublish withdraws a finished job's boot files.
func (w *Worker) unpublish(id int64) {
	if w.boot == nil {
		return
	}
	if err := w.boot.files.Unpublish(strconv.FormatInt(id, 10)); err != nil {
		w.log.Warn("cannot remove a job's boot files", "job", id, "err", err)
	}
}

// adopt serves again the boot files of a job a previous run published,
// for a job process that outlived it.
func (w *Worker) adopt(id int64, dir string) {
	if w.boot == nil {
		return
	}
	s, err := dispatcher.ReadSettings(dir)
	if err != nil || s.BootFilesPrefix == "" {
		return
	}
	if err := w.boot.files.Adopt(strconv.FormatInt(id, 10), s.BootFilesPrefix); err != nil {
		w.log.Warn("cannot serve a reattached job's boot files again", "job", id, "err", err)
	}
}

// sweepBootFiles removes the boot files of jobs no longer here.
func (w *Worker) sweepBootFiles() {
	if w.boot == nil {
		return
	}
	if err := w.boot.files.Sweep(); err != nil {
		w.log.Warn("cannot remove old boot files", "err", err)
	}
}
