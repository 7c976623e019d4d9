package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWorkerServerFlag: --server is repeatable and takes comma-separated
// URLs, after the config file's server: and servers:, which the flag
// replaces; each URL is checked.
func TestWorkerServerFlag(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(conf, []byte("server: http://f1:8000\nservers: [http://f2:8000]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // in the startup log, or in the error
		err  bool
	}{
		{name: "repeated and comma-separated", args: []string{"--server", "http://a:1,http://b:2", "--server", "http://c:3"},
			want: "servers=\"[http://a:1 http://b:2 http://c:3]\""},
		{name: "the file's lists", args: []string{"--config", conf}, want: "servers=\"[http://f1:8000 http://f2:8000]\""},
		{name: "the flag replaces the file's", args: []string{"--config", conf, "--server", "http://a:1"},
			want: "servers=[http://a:1]"},
		{name: "each URL checked", args: []string{"--server", "http://a:1,ftp://b"}, want: "scheme must be http or https", err: true},
		{name: "none", args: []string{"--server", ""}, want: "no server", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newWorkerCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append([]string{"--token", "wtok", "--name", "w1", "--data-dir", t.TempDir()}, tt.args...))
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the worker starts, logs its servers and stops at once
			err := cmd.ExecuteContext(ctx)
			if tt.err {
				if err == nil || !isUsage(err) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want a usage error with %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out.String())
			}
		})
	}
}
