package devicedict

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/lab"
)

func mustParse(t *testing.T, text string) *Dict {
	t.Helper()
	d, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return d
}

func TestParseLiterals(t *testing.T) {
	tests := []struct {
		expr string
		want any
	}{
		{`'single'`, "single"},
		{`"double"`, "double"},
		{`'it\'s'`, "it's"},
		{`"a\\b"`, `a\b`},
		{`'\s+'`, `\s+`}, // unknown escapes keep their backslash, as in Python
		{`"\x41\u00e9\U0001F600\101\n"`, "Aé😀A\n"},
		{`'ab' "cd"`, "abcd"},
		{`42`, 42},
		{`-7`, -7},
		{`1_000_000`, 1000000},
		{`0x1F`, 31},
		{`0o17`, 15},
		{`0b101`, 5},
		{`0`, 0},
		{`1.5`, 1.5},
		{`-2.5e3`, -2500.0},
		{`true`, true},
		{`True`, true},
		{`false`, false},
		{`False`, false},
		{`none`, nil},
		{`None`, nil},
		{`[]`, []any{}},
		{`[1, 'two', [3],]`, []any{1, "two", []any{3}}},
		{`('a', 'b')`, []any{"a", "b"}},
		{`('a',)`, []any{"a"}},
		{`('a')`, "a"},
		{`()`, []any{}},
		{`{}`, map[string]any{}},
		{`{'a': 1, "b": {'c': [true, none]},}`, map[string]any{"a": 1, "b": map[string]any{"c": []any{true, nil}}}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			d := mustParse(t, "{% extends 'qemu.jinja2' %}{% set x = "+tt.expr+" %}")
			if len(d.Vars) != 1 {
				t.Fatalf("vars = %+v", d.Vars)
			}
			if diff := cmp.Diff(tt.want, d.Vars[0].Value); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWhitespaceControlAndPositions(t *testing.T) {
	text := "{#- comment -#}\r\n{%- extends 'qemu.jinja2' -%}\n  {%+ set  memory\n   = 1024 +%}\n{% set é = 1 %}{% set cpus = 2 %}"
	// $ is not a Jinja2 name character: the error must point at it.
	_, err := Parse(strings.Replace(text, "é", "$", 1))
	if err == nil || err.Error() != `5:8: unexpected char '$'` {
		t.Fatalf("err = %v", err)
	}
	// Jinja2 names are Python identifiers: é is one, and columns count
	// characters.
	d := mustParse(t, text)
	got := []string{}
	for _, v := range d.Vars {
		got = append(got, v.Name+"@"+strconv.Itoa(v.Line)+":"+strconv.Itoa(v.Column))
	}
	want := []string{"memory@3:12", "é@5:8", "cpus@5:23"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
}

func TestParseForms(t *testing.T) {
	tests := []struct {
		name, text string
		form       Form
		template   string
		vars       int
	}{
		{"empty", "", FormEmpty, "", 0},
		{"blank", " \n\t\n", FormEmpty, "", 0},
		{"yaml comments", "# nothing yet\n", FormEmpty, "", 0},
		{"yaml null document", "~\n", FormEmpty, "", 0},
		{"byte order mark", "\ufeffmemory: 1024\n", FormYAML, "", 1},
		{"yaml flow mapping", "{memory: 1024, extends: qemu}", FormYAML, "qemu", 1},
		{"jinja after yaml comment", "# LAVA dictionary\n{% extends 'qemu.jinja2' %}", FormJinja, "qemu", 0},
		{"comment first", "{# x #}{% extends 'qemu.jinja2' %}", FormJinja, "qemu", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustParse(t, tt.text)
			if d.Form != tt.form || d.Template != tt.template || len(d.Vars) != tt.vars {
				t.Errorf("got form %q template %q vars %+v", d.Form, d.Template, d.Vars)
			}
			if err := d.Validate("qemu"); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	big := "memory: 1024\n# " + strings.Repeat("x", MaxSize) + "\n"
	if _, err := Parse(big); err == nil || !strings.Contains(err.Error(), "larger than the 1048576 bytes allowed") {
		t.Errorf("big: %v", err)
	}
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	if _, err := Parse("{% extends 'qemu.jinja2' %}{% set x = " + deep(MaxDepth) + " %}"); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
	for _, text := range []string{
		"{% extends 'qemu.jinja2' %}{% set x = " + deep(MaxDepth+1) + " %}",
		"x: " + deep(MaxDepth+1),
		"x: " + strings.Repeat("{a: ", MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1),
	} {
		_, err := Parse(text)
		if err == nil || !strings.Contains(err.Error(), "nesting deeper than 64 levels") {
			t.Errorf("%.40s…: %v", text, err)
		}
	}
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'j'; i++ {
		prev := string(i - 1)
		bomb += string(i) + ": &" + string(i) + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
			", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
	}
	if _, err := Parse(bomb); err == nil || !strings.Contains(err.Error(), "aliases expand to more than") {
		t.Errorf("alias bomb: %v", err)
	}
}

func TestErrorsAreInvalid(t *testing.T) {
	err := Check("{% extends 'qemu.jinja2' %}{% set memory = 'x' %}", "qemu")
	var de *Errors
	if !errors.As(err, &de) || !errors.Is(err, lab.ErrInvalid) || len(de.Items) != 1 {
		t.Fatalf("err = %#v", err)
	}
	want := Error{Line: 1, Column: 44, Path: "$.memory", Msg: `expected a number of MiB (1024) or a size like "2G", got the string "x"`}
	if diff := cmp.Diff(want, de.Items[0]); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestTextEncoding: a dictionary, Jinja2 or YAML, must be UTF-8 text
// without NUL characters; the first bad byte is reported at its position.
func TestTextEncoding(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       Error
	}{
		{"Jinja2 comment", "{% extends 'qemu.jinja2' %}\n{% set memory = 2048 %}\n{# caf\xe9 #}\n",
			Error{Line: 3, Column: 7, Msg: "the text is not UTF-8: byte 0xe9 is not part of a UTF-8 character"}},
		{"Jinja2 value with NUL", "\ufeff{% extends 'qemu.jinja2' %}\n{% set netdevice = 'ta\x00p' %}\n",
			Error{Line: 2, Column: 23, Msg: "a NUL character (byte 0) is not allowed"}},
		{"YAML value", "memory: 20\xff48\n", Error{Line: 1, Column: 11, Msg: "the text is not UTF-8: byte 0xff is not part of a UTF-8 character"}},
	} {
		err := Check(c.text, "qemu")
		var de *Errors
		if !errors.As(err, &de) || !errors.Is(err, lab.ErrInvalid) || len(de.Items) != 1 {
			t.Fatalf("%s: err = %v", c.name, err)
		}
		if diff := cmp.Diff(c.want, de.Items[0]); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("{% extends 'qemu.jinja2' %}\n")
	for i := 0; i < maxErrors+10; i++ {
		b.WriteString("{% set unknown_" + strconv.Itoa(i) + " = 1 %}\n")
	}
	var de *Errors
	if err := Check(b.String(), "qemu"); !errors.As(err, &de) {
		t.Fatalf("err = %v", err)
	}
	if len(de.Items) != maxErrors+1 || de.Items[maxErrors].Msg != "too many errors; 10 more not shown" {
		t.Errorf("%d items, last %+v", len(de.Items), de.Items[len(de.Items)-1])
	}
}

func TestValidateTemplates(t *testing.T) {
	tests := []struct {
		name, text, deviceType, kind, err string
	}{
		{"empty on any type", "", "beaglebone-black", "", ""},
		{"extends qemu on qemu", "{% extends 'qemu.jinja2' %}", "qemu", KindQEMU, ""},
		{"extends qemu on another type", "{% extends 'qemu.jinja2' %}{% set memory = 2048 %}", "qemu-big", KindQEMU, ""},
		{"yaml without extends on qemu", "memory: 1024", "qemu", KindQEMU, ""},
		{"yaml without extends on another type", "memory: 1024", "bbb", "", `1:1: device type template "bbb" is not supported yet (supported: qemu)`},
		{"yaml without extends and no type", "memory: 1024", "", "", "1:1: the dictionary names no template"},
		{"physical template alone", "{% extends 'beaglebone-black.jinja2' %}", "beaglebone-black", "", `1:12: device type template "beaglebone-black" is not supported yet (supported: qemu)`},
		{"other template on qemu", "extends: juno\n", "qemu", "", `1:10: the dictionary extends "juno" but the device type is "qemu"`},
		{"simulated on any type", "simulated: {boot_time: 0}", "beaglebone-black", KindSimulated, ""},
		{"simulated with a template", "extends: juno\nsimulated:\n", "juno", KindSimulated, ""},
		{"simulated refuses qemu variables", "simulated:\nmemory: 1024\n", "qemu", KindSimulated, `2:1: $.memory: unknown variable "memory" for a simulated device`},
		{"none is unset", "{% extends 'qemu.jinja2' %}{% set memory = none %}", "qemu", KindQEMU, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustParse(t, tt.text)
			if k := Kind(d, tt.deviceType); k != tt.kind {
				t.Errorf("Kind = %q, want %q", k, tt.kind)
			}
			err := d.Validate(tt.deviceType)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
				t.Errorf("Validate = %v, want %q", err, tt.err)
			}
		})
	}
	if Kind(nil, "qemu") != "" {
		t.Error("Kind(nil) is not empty")
	}
}

// TestValidateHandBuilt checks a Dict built without Parse (no positions
// on the values): problems are placed at the variable.
func TestValidateHandBuilt(t *testing.T) {
	d := &Dict{Template: "qemu", Vars: []Var{
		{Name: "memory", Value: int64(1024), Line: 3, Column: 5},
		{Name: "extra_options", Value: []any{"-smp 2", 7}, Line: 4, Column: 5},
	}}
	err := d.Validate("qemu")
	if err == nil || err.Error() != "4:5: $.extra_options[1]: expected a string, got the integer 7" {
		t.Errorf("Validate = %v", err)
	}
}

func TestResolve(t *testing.T) {
	d := mustParse(t, `{% extends 'qemu.jinja2' %}
{% set memory = 1024 %}
{% set arch = arch | default('amd64') %}
{% set boot_console = console | default('ttyS0,115200') %}
{% set cpus = memory | default(1) %}
`)
	tests := []struct {
		name    string
		context map[string]any
		want    map[string]any
	}{
		{"no context", nil, map[string]any{"memory": 1024, "arch": "amd64", "boot_console": "ttyS0,115200", "cpus": 1024}},
		{"context overrides defaults, not plain sets", map[string]any{"arch": "arm64", "memory": 4096, "console": "ttyAMA0"},
			map[string]any{"memory": 1024, "arch": "arm64", "boot_console": "ttyAMA0", "console": "ttyAMA0", "cpus": 1024}},
		{"context variables the dictionary does not set pass through", map[string]any{"no_kvm": true, "extra_kernel_args": "quiet"},
			map[string]any{"memory": 1024, "arch": "amd64", "boot_console": "ttyS0,115200", "cpus": 1024, "no_kvm": true, "extra_kernel_args": "quiet"}},
		{"a context none is a value", map[string]any{"arch": nil},
			map[string]any{"memory": 1024, "arch": nil, "boot_console": "ttyS0,115200", "cpus": 1024}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cmp.Diff(nil, tt.context)
			got := d.Resolve(tt.context)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if after := cmp.Diff(nil, tt.context); after != before {
				t.Error("Resolve changed the context")
			}
		})
	}
	var none *Dict
	if got := none.Resolve(map[string]any{"a": 1}); !cmp.Equal(got, map[string]any{"a": 1}) {
		t.Errorf("nil dict: %v", got)
	}
}

func TestSettings(t *testing.T) {
	d := mustParse(t, `{% extends 'qemu.jinja2' %}
{% set user_commands = {'touch': {'do': 'touch /tmp/x', 'undo': 'rm /tmp/x'}, 'sleep': {'do': 'sleep 1'}} %}
{% set environment = {'LAB': 'one', 'RACK': 3, 'FAST': true, 'RATIO': 1.5} %}
{% set lava_test_sh_cmd = '/bin/bash' %}{% set failure_retry = 3 %}
{% set kernel_start_message = '' %}
{% set action_timeout_auto_login = 5 %}{% set action_timeout_power_off = 15 %}{% set connection_timeout_feedback = 20 %}
{% set power_on_command = ['pdu on 1', 'sleep 1'] %}{% set power_off_command = 'pdu off 1' %}
{% set connection_command = 'telnet localhost 7001' %}
{% set test_character_delay = 25 %}
`)
	vars := d.Resolve(map[string]any{"lava_test_results_dir": "/tmp/lava-%s", "boot_retry": 2})
	if diff := cmp.Diff(map[string]UserCommand{"touch": {Do: "touch /tmp/x", Undo: "rm /tmp/x"}, "sleep": {Do: "sleep 1"}}, UserCommands(vars)); diff != "" {
		t.Errorf("UserCommands (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"LAB": "one", "RACK": "3", "FAST": "true", "RATIO": "1.5"}, Environment(vars)); diff != "" {
		t.Errorf("Environment (-want +got):\n%s", diff)
	}
	wantConst := Constants{ShCmd: "/bin/bash", ResultsDir: "/tmp/lava-%s", ShellFile: DefaultShellFile, DefaultShellPrompt: DefaultShellPrompt,
		KernelStartMessage: "", ShutdownMessage: DefaultShutdownMessage, FailureRetry: 3, BootRetry: 2}
	if diff := cmp.Diff(wantConst, ReadConstants(vars)); diff != "" {
		t.Errorf("Constants (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Constants{ShCmd: "/bin/sh", ResultsDir: "/lava-%s", ShellFile: "~/.bashrc", DefaultShellPrompt: "lava-test: # ",
		KernelStartMessage: "Linux version [0-9]", ShutdownMessage: DefaultShutdownMessage, FailureRetry: 1}, ReadConstants(nil)); diff != "" {
		t.Errorf("default Constants (-want +got):\n%s", diff)
	}
	to := Timeouts(vars)
	for name, want := range map[string]time.Duration{"auto-login-action": 5 * time.Minute, "power-off": 15 * time.Second, "dd-image": 10 * time.Minute, "umount-retry": 45 * time.Second} {
		if to.Actions[name] != want {
			t.Errorf("action %s = %v, want %v", name, to.Actions[name], want)
		}
	}
	for name, want := range map[string]time.Duration{"lava-test-shell": 20 * time.Second, "lava-docker-test-shell": 20 * time.Second, "auto-login-action": 2 * time.Minute} {
		if to.Connections[name] != want {
			t.Errorf("connection %s = %v, want %v", name, to.Connections[name], want)
		}
	}
	if len(to.Actions) != len(actionTimeouts) {
		t.Errorf("%d action timeouts, want %d", len(to.Actions), len(actionTimeouts))
	}
	wantCmds := Commands{Connect: "telnet localhost 7001", PowerOn: []string{"pdu on 1", "sleep 1"}, PowerOff: []string{"pdu off 1"}}
	if diff := cmp.Diff(wantCmds, ReadCommands(vars)); diff != "" {
		t.Errorf("Commands (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(CharacterDelays{Test: 25 * time.Millisecond}, ReadCharacterDelays(vars)); diff != "" {
		t.Errorf("CharacterDelays (-want +got):\n%s", diff)
	}
}

func TestVariables(t *testing.T) {
	q := Variables("qemu")
	for _, name := range []string{"arch", "memory", "cpus", "user_commands", "action_timeout_auto_login", "connection_timeout_feedback", "sync_to_lava"} {
		if !contains(q, name) {
			t.Errorf("qemu variables lack %s", name)
		}
	}
	if contains(q, "simulated") || !contains(Variables("simulated"), "simulated") || contains(Variables("simulated"), "memory") {
		t.Error("simulated variables are mixed up with qemu's")
	}
	if Variables("juno") != nil {
		t.Error("variables for an unknown template")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestClosest(t *testing.T) {
	names := []string{"memory", "machine", "monitor", "undo", "do"}
	for in, want := range map[string]string{"memroy": "memory", "mem": "", "udno": "undo", "machin": "machine", "zzzzzz": "", "dp": "do"} {
		if got := closest(in, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}
