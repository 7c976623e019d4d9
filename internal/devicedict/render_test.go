package devicedict_test

import (
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/deviceconfig"
	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/jinja"
)

// Templates in LAVA's form, written for this test: a base with blocks and
// a board type extending it.
var testTemplates = jinja.MapLoader{
	"mini-base.jinja2": `hostname: {{ scheduled_device_name }}
devicetype: {{ scheduled_device_type }}
commands:
  connect: {{ connection_command|default('telnet localhost 7000') }}
{% if power_on_command %}
  power_on: {{ power_on_command }}
{% endif %}
{% block body %}{% endblock %}
`,
	"mini-board.jinja2": `{% extends 'mini-base.jinja2' %}
{% set console = console_device|default('ttyS0') %}
{% block body %}
actions:
  boot:
    methods:
      u-boot:
        ramdisk:
          commands:
          - setenv bootargs console={{ console }} {{ extra_kernel_args|default('') }}
{% endblock %}
`,
	"broken.jinja2":     "{% extends 'mini-base.jinja2' %}\n{% block body %}\n{{ 1 + }}\n{% endblock %}\n",
	"not-config.jinja2": "- a list\n",
}

func TestRendererRender(t *testing.T) {
	r := &devicedict.Renderer{Templates: testTemplates}
	dict := "{% extends 'mini-board.jinja2' %}\n{% set connection_command = 'telnet 127.0.0.1 7001' %}\n{% set power_on_command = 'pdu on 3' %}\n{% set extra_kernel_args = extra_kernel_args|default('quiet') %}\n"
	out, err := r.Render(dict, "bbb-01", "mini-board", map[string]any{"extra_kernel_args": "loglevel=7"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := deviceconfig.Read(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if c.Hostname != "bbb-01" || c.DeviceType != "mini-board" || c.Commands.Connect != "telnet 127.0.0.1 7001" ||
		len(c.Commands.PowerOn) != 1 || c.Commands.PowerOn[0] != "pdu on 3" {
		t.Errorf("config %+v", c)
	}
	// The job's context reaches the dictionary's default(): LAVA's way of
	// letting a job set a variable.
	if got := c.BootMethods["u-boot"].CommandSets["ramdisk"]; len(got) != 1 || got[0] != "setenv bootargs console=ttyS0 loglevel=7" {
		t.Errorf("ramdisk commands %q", got)
	}
	if err := r.Check(dict, "bbb-01", "mini-board"); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestRendererErrors(t *testing.T) {
	r := &devicedict.Renderer{Templates: testTemplates}
	for _, tc := range []struct{ name, dict, want string }{
		{"dictionary syntax", "{% extends 'mini-board.jinja2' %}\n{% set x = %}\n", "2:"},
		{"missing template", "# a board\n{% extends 'nowhere.jinja2' %}\n", "2:4: nowhere.jinja2: template not found (load it with `basalt device-types template set TYPE FILE`"},
		{"template error", "{% extends 'broken.jinja2' %}\n", "1:12: rendering with the device-type template: broken.jinja2:3:"},
		{"not a configuration", "{% extends 'not-config.jinja2' %}\n", `1:12: the configuration rendered from template "not-config" is not valid: 1:1: the rendered device configuration must be a mapping, got a list`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Render(tc.dict, "d1", "mini-board", nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if cerr := r.Check(tc.dict, "d1", "mini-board"); cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Check gives %v, Render %v", cerr, err)
			}
		})
	}
	// The YAML form renders the same: its variables as {% set %} lines.
	yml, err := r.Render("extends: mini-board\nconnection_command: telnet 127.0.0.1 7001\npower_on_command: pdu on 3\n", "bbb-01", "mini-board", map[string]any{"extra_kernel_args": "loglevel=7"})
	if err != nil {
		t.Fatal(err)
	}
	jin, _ := r.Render("{% extends 'mini-board.jinja2' %}\n{% set connection_command = 'telnet 127.0.0.1 7001' %}\n{% set power_on_command = 'pdu on 3' %}\n", "bbb-01", "mini-board", map[string]any{"extra_kernel_args": "loglevel=7"})
	if yml != jin {
		t.Errorf("YAML form renders\n%s\nLAVA's form\n%s", yml, jin)
	}
	// Without templates, a rendered dictionary is refused with the reason.
	_, err = (&devicedict.Renderer{}).Render("{% extends 'mini-board.jinja2' %}\n", "d1", "mini-board", nil)
	if err == nil || !strings.Contains(err.Error(), "no device-type templates are available") {
		t.Errorf("no templates: %v", err)
	}
	// qemu dictionaries keep their own checks.
	if err := r.Check("{% extends 'qemu.jinja2' %}\n{% set memory = 'lots' %}\n", "q1", "qemu"); err == nil || !strings.Contains(err.Error(), "$.memory") {
		t.Errorf("qemu check: %v", err)
	}
}
