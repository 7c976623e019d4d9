package cli_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/cli"
)

// uBootTemplate is a device-type template as a LAVA lab has it.
const uBootTemplate = `{% extends 'base-uboot.jinja2' %}
{% set console_device = console_device | default('ttyS0') %}
{% set baud_rate = baud_rate | default(115200) %}
{# a comment with <html> & "quotes" #}
`

// TestClientDeviceTypeTemplates: basalt device-types template set (from a
// file and from standard input), get, list and delete against a real
// server, with the refusals' exit codes and messages.
func TestClientDeviceTypeTemplates(t *testing.T) {
	l := newClientLab(t)
	l.setup()

	if out := l.ok("device-types", "template", "set", "qemu", l.file("qemu.jinja2", uBootTemplate)); out != "qemu: template set (184 bytes)\n" {
		t.Errorf("template set printed %q", out)
	}
	if len(uBootTemplate) != 184 {
		t.Fatalf("the fixture is %d bytes", len(uBootTemplate))
	}
	if got := l.ok("device-types", "template", "get", "qemu"); got != uBootTemplate {
		t.Errorf("template get = %q, want %q", got, uBootTemplate)
	}
	got := decode[wire.DeviceTemplate](t, l.ok("device-types", "template", "get", "qemu", "--json"))
	if got.Name != "qemu" || got.Template != uBootTemplate || got.Updated == nil {
		t.Errorf("template get --json = %+v", got)
	}

	// Standard input, a text without a final newline (get adds one).
	l.ok("device-types", "add", "bbb")
	var stdout, stderr bytes.Buffer
	root := cli.NewRoot(&stdout, &stderr)
	root.SetIn(strings.NewReader("{% extends 'base.jinja2' %}"))
	root.SetArgs([]string{"--config", l.cfg, "device-types", "template", "set", "bbb", "-"})
	if err := root.Execute(); err != nil || stdout.String() != "bbb: template set (27 bytes)\n" {
		t.Errorf("set from stdin: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	if got := l.ok("device-types", "template", "get", "bbb"); got != "{% extends 'base.jinja2' %}\n" {
		t.Errorf("get bbb = %q", got)
	}

	out := l.ok("device-types", "template", "list")
	if !regexp.MustCompile(`^NAME\s+UPDATED\nbbb\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\nqemu\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$`).MatchString(out) {
		t.Errorf("template list:\n%s", out)
	}
	page := decode[wire.List[wire.DeviceTemplate]](t, l.ok("device-types", "template", "list", "--json"))
	if page.Count != 2 || page.Results[0].Name != "bbb" || page.Results[1].Name != "qemu" || page.Results[0].Template != "" {
		t.Errorf("template list --json = %+v", page)
	}

	// Refusals.
	l.ok("users", "add", "bob")
	tk := decode[wire.Token](t, l.ok("tokens", "add", "--owner", "bob", "--description", "ci", "--json"))
	if !strings.HasPrefix(tk.Secret, auth.SecretPrefix) {
		t.Fatalf("tokens add = %+v", tk)
	}
	l.ok("identities", "add", "bob", "--uri", l.url, "--username", "bob", "--token", tk.Secret)
	big := strings.Repeat("x", 1<<20+1)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unknown type", []string{"device-types", "template", "set", "nope", l.file("n.jinja2", uBootTemplate)}, cli.ExitNotFound,
			`n.jinja2: set template of device type nope: get device type "nope": not found (HTTP 404)`},
		{"no template", []string{"device-types", "template", "get", "nope"}, cli.ExitNotFound, `device type "nope"`},
		{"user sets", []string{"-i", "bob", "device-types", "template", "set", "qemu", l.file("b.jinja2", "x")}, cli.ExitAuth, "HTTP 403"},
		{"user lists", []string{"-i", "bob", "device-types", "template", "list"}, cli.ExitAuth, "HTTP 403"},
		{"user deletes", []string{"-i", "bob", "device-types", "template", "delete", "qemu"}, cli.ExitAuth, "HTTP 403"},
		{"NUL", []string{"device-types", "template", "set", "qemu", l.file("nul.jinja2", "a\x00b")}, cli.ExitUsage,
			"nul.jinja2: invalid: template of device type qemu holds a NUL character (at byte 1), which is not allowed in text (HTTP 400)"},
		{"over 1 MiB", []string{"device-types", "template", "set", "qemu", l.file("big.jinja2", big)}, cli.ExitUsage,
			"big.jinja2 is larger than 1048576 bytes (1 MiB), the largest template the server takes"},
		{"empty file", []string{"device-types", "template", "set", "qemu", l.file("empty.jinja2", "\n")}, cli.ExitUsage,
			`empty.jinja2 is empty (use "basalt device-types template delete" to remove a template)`},
		{"missing file", []string{"device-types", "template", "set", "qemu", "/nonexistent.jinja2"}, cli.ExitUsage, "/nonexistent.jinja2"},
		{"missing FILE", []string{"device-types", "template", "set", "qemu"}, cli.ExitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut := l.expect(tt.code, tt.args...)
			if !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.stderr)
			}
		})
	}
	if _, errOut := l.expect(cli.ExitNotFound, "device-types", "template", "get", "nope"); !strings.Contains(errOut, "not found") {
		t.Errorf("get nope: %q", errOut)
	}
	if got := l.ok("-i", "bob", "device-types", "template", "get", "qemu"); got != uBootTemplate {
		t.Errorf("after the refusals bob reads %q", got)
	}

	// delete removes; get is then not found; the list shrinks.
	if out := l.ok("device-types", "template", "delete", "qemu"); out != "qemu: template removed\n" {
		t.Errorf("template delete printed %q", out)
	}
	_, errOut := l.expect(cli.ExitNotFound, "device-types", "template", "get", "qemu")
	if !strings.Contains(errOut, "device type qemu has no stored template") {
		t.Errorf("get after delete: %q", errOut)
	}
	page = decode[wire.List[wire.DeviceTemplate]](t, l.ok("device-types", "template", "list", "--json"))
	if page.Count != 1 || page.Results[0].Name != "bbb" {
		t.Errorf("list after delete = %+v", page)
	}
}
