package worker

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

// TestSettingsLayers: the config file, then the environment, then the
// flags; token and token-file are one setting.
func TestSettingsLayers(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tok")
	os.WriteFile(tokFile, []byte("from-file\n"), 0o600)
	conf := filepath.Join(dir, "worker.yaml")
	os.WriteFile(conf, []byte(`server: https://lab.example.com
name: rack1
token: from-config
heartbeat: 15s
cancel-grace: 1m
http1: true
keep-jobs: true
data-dir: /var/lib/basalt-worker
`), 0o600)
	tests := []struct {
		name  string
		env   map[string]string
		flags Settings
		want  Config
	}{
		{name: "file only",
			want: Config{Server: "https://lab.example.com", Name: "rack1", Token: "from-config", Heartbeat: 15 * time.Second,
				CancelGrace: time.Minute, HTTP1: true, KeepJobs: true, DataDir: "/var/lib/basalt-worker"}},
		{name: "environment over file", env: map[string]string{"BASALT_WORKER_TOKEN": "from-env"},
			want: Config{Server: "https://lab.example.com", Name: "rack1", Token: "from-env", Heartbeat: 15 * time.Second,
				CancelGrace: time.Minute, HTTP1: true, KeepJobs: true, DataDir: "/var/lib/basalt-worker"}},
		{name: "flags over everything", env: map[string]string{"BASALT_WORKER_TOKEN": "from-env"},
			flags: Settings{Server: ptr("http://other:8000"), TokenFile: ptr(tokFile), HTTP1: ptr(false), Heartbeat: ptr(time.Second)},
			want: Config{Server: "http://other:8000", Name: "rack1", Token: "from-file", Heartbeat: time.Second,
				CancelGrace: time.Minute, KeepJobs: true, DataDir: "/var/lib/basalt-worker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadSettings(conf)
			if err != nil {
				t.Fatal(err)
			}
			s = s.Merge(EnvSettings(func(k string) string { return tt.env[k] })).Merge(tt.flags)
			var got Config
			if err := s.Apply(&got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Logger" }, cmp.Ignore())); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSettingsErrors: unknown keys, bad values and unreadable token files
// are errors that say where.
func TestSettingsErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "server: http://x\ntokn: abc\n", "tokn"},
		{"bad duration", "heartbeat: soon\n", "heartbeat"},
		{"negative duration", "heartbeat: -1s\n", "heartbeat must be positive"},
		{"missing token file", "token-file: /nonexistent/tok\n", "token file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "w.yaml")
			os.WriteFile(p, []byte(tt.yaml), 0o600)
			s, err := LoadSettings(p)
			if err == nil {
				err = s.Apply(&Config{})
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestConfigChecks: New refuses configurations it cannot run.
func TestConfigChecks(t *testing.T) {
	tests := []struct {
		name, server, want string
	}{
		{"no server", "", "no server URL"},
		{"bad scheme", "ftp://x", "scheme must be http or https"},
		{"no host", "http://", "no host"},
		{"credentials in the URL", "http://u:p@x", "must not have credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Server: tt.server, Name: "w", DataDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	w, err := New(Config{Server: "http://lab:8000/base/", DataDir: "rel", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if w.link.servers[0].base != "http://lab:8000/base" || !filepath.IsAbs(w.cfg.DataDir) || w.Name() == "" {
		t.Errorf("base %q, data dir %q, name %q", w.link.servers[0].base, w.cfg.DataDir, w.Name())
	}
}

// TestSettingsFileHasEveryKey: every Settings field can be set from the
// config file, under its yaml key.
func TestSettingsFileHasEveryKey(t *testing.T) {
	tokFile := filepath.Join(t.TempDir(), "tok")
	var yaml strings.Builder
	typ := reflect.TypeFor[Settings]()
	for f := range typ.Fields() {
		key := f.Tag.Get("yaml")
		switch {
		case f.Type.Kind() == reflect.Slice:
			fmt.Fprintf(&yaml, "%s: [%s]\n", key, tokFile)
		case f.Type.Elem().Kind() == reflect.Bool:
			fmt.Fprintf(&yaml, "%s: true\n", key)
		case f.Type.Elem() == reflect.TypeFor[time.Duration]():
			fmt.Fprintf(&yaml, "%s: 3s\n", key)
		case f.Type.Elem().Kind() == reflect.Int64:
			fmt.Fprintf(&yaml, "%s: 64\n", key)
		default:
			fmt.Fprintf(&yaml, "%s: %s\n", key, tokFile)
		}
	}
	p := filepath.Join(t.TempDir(), "w.yaml")
	os.WriteFile(p, []byte(yaml.String()), 0o600)
	s, err := LoadSettings(p)
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(s)
	for i := range v.NumField() {
		if v.Field(i).IsNil() {
			t.Errorf("key %q of Settings is not read from the file", typ.Field(i).Tag.Get("yaml"))
		}
	}
}

// TestServerLists: several server URLs come from the repeated or
// comma-separated flag, the file's server: and servers: keys, and a layer
// that sets either replaces both; New keeps them in order, Server first,
// and checks each.
func TestServerLists(t *testing.T) {
	tests := []struct {
		name         string
		file         string
		flags        Settings
		want         string
		wantServers  []string
		wantNewError string
	}{
		{name: "server: alone", file: "server: http://a:8000\n", want: "http://a:8000"},
		{name: "servers: list", file: "servers: [http://a:8000, http://b:8000]\n",
			want: "http://a:8000", wantServers: []string{"http://b:8000"}},
		{name: "server: then servers:", file: "server: http://a:8000\nservers:\n  - http://b:8000\n  - http://c:8000\n",
			want: "http://a:8000", wantServers: []string{"http://b:8000", "http://c:8000"}},
		{name: "comma-separated server:", file: "server: http://a:8000, http://b:8000\n",
			want: "http://a:8000", wantServers: []string{"http://b:8000"}},
		{name: "flags replace the file's list", file: "servers: [http://a:8000, http://b:8000]\n",
			flags: Settings{Servers: []string{"http://x:1", "http://y:2,http://z:3"}},
			want:  "http://x:1", wantServers: []string{"http://y:2", "http://z:3"}},
		{name: "a bad URL in the list", file: "servers: [http://a:8000, ftp://b]\n",
			want: "http://a:8000", wantServers: []string{"ftp://b"}, wantNewError: "scheme must be http or https"},
		{name: "the same server twice", file: "servers: [http://a:8000, http://a:8000/]\n",
			want: "http://a:8000", wantServers: []string{"http://a:8000/"}, wantNewError: "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "w.yaml")
			os.WriteFile(p, []byte(tt.file), 0o600)
			s, err := LoadSettings(p)
			if err != nil {
				t.Fatal(err)
			}
			var c Config
			if err := s.Merge(tt.flags).Apply(&c); err != nil {
				t.Fatal(err)
			}
			if c.Server != tt.want || !slices.Equal(c.Servers, tt.wantServers) {
				t.Fatalf("server %q servers %q, want %q %q", c.Server, c.Servers, tt.want, tt.wantServers)
			}
			c.Name, c.DataDir, c.Logger = "w", t.TempDir(), slog.New(slog.DiscardHandler)
			w, err := New(c)
			if tt.wantNewError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantNewError) {
					t.Fatalf("New: error %v, want %q", err, tt.wantNewError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string{tt.want}, tt.wantServers...)
			if got := w.link.bases(); !slices.Equal(got, want) {
				t.Errorf("link servers %q, want %q", got, want)
			}
		})
	}
}
