package dispatcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SettingsFile is the worker's settings for one job process, written by
// the worker daemon (or `basalt run`) beside JobFile before the job process
// starts. It is optional: without it the defaults apply.
const SettingsFile = "settings.json"

// DefaultCacheBytes bounds the download cache when the settings do not.
const DefaultCacheBytes = 10 << 30

// Settings are the worker host's settings a job process needs: where the
// shared download cache lives and which HTTP proxy downloads use (LAVA's
// LAVA_PROXY).
type Settings struct {
	// CacheDir is the download cache shared by the worker's jobs; empty
	// means DIR/cache, a cache of this job only.
	CacheDir string `json:"cache_dir,omitempty"`
	// CacheBytes bounds the cache; ≤ 0 means DefaultCacheBytes.
	CacheBytes int64 `json:"cache_bytes,omitempty"`
	// HTTPProxy is the proxy URL of http and https downloads; empty: none.
	HTTPProxy string `json:"http_proxy,omitempty"`
	// BootFilesDir is the job's directory on the worker's TFTP and HTTP
	// boot-file server, published for this job only: a tftp deploy writes
	// the job's files into it. Empty: the worker serves no boot files and
	// tftp deploys fail.
	BootFilesDir string `json:"boot_files_dir,omitempty"`
	// BootFilesPrefix is how bootloaders name BootFilesDir in their
	// requests ("jobs/42-1f3a…"): the path of a published file is
	// BootFilesPrefix/NAME/FILE.
	BootFilesPrefix string `json:"boot_files_prefix,omitempty"`
	// BootServerIP is the worker's address as the boards see it, what
	// bootloader commands get for {SERVER_IP}.
	BootServerIP string `json:"boot_server_ip,omitempty"`
}

// WriteSettings writes DIR/settings.json atomically.
func WriteSettings(dir string, s Settings) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode %s: %w", SettingsFile, err)
	}
	return writeFileAtomic(dir, SettingsFile, append(b, '\n'))
}

// ReadSettings reads DIR/settings.json; a missing file gives the defaults.
func ReadSettings(dir string) (Settings, error) {
	var s Settings
	b, err := os.ReadFile(filepath.Join(dir, SettingsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s.withDefaults(dir), nil
	}
	if err != nil {
		return s, fmt.Errorf("read settings: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read settings: %s: %w", SettingsFile, err)
	}
	return s.withDefaults(dir), nil
}

func (s Settings) withDefaults(dir string) Settings {
	if s.CacheDir == "" {
		s.CacheDir = filepath.Join(dir, "cache")
	}
	if s.CacheBytes <= 0 {
		s.CacheBytes = DefaultCacheBytes
	}
	return s
}
