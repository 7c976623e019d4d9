package devicedict

import (
	"errors"
	"fmt"
	"strings"

	"github.com/basalt-lab/basalt/internal/deviceconfig"
	"github.com/basalt-lab/basalt/internal/jinja"
)

// Renderer renders device dictionaries with their device-type templates,
// as LAVA does (Device.load_configuration): the dictionary is the
// template HOSTNAME.jinja2, found before any other; it extends a device
// type's template found through Templates; the context is the job's
// context: plus scheduled_device_name and scheduled_device_type. The
// environment is LAVA's (jinja.NewLAVA: trim_blocks, its three filters).
type Renderer struct {
	// Templates finds the device-type templates by file name
	// ("beaglebone-black.jinja2", "base-uboot.jinja2").
	Templates jinja.Loader
}

// Rendered reports whether a dictionary runs through its device-type
// template: every dictionary that names one (qemu devices and boards),
// except those of simulated devices, which this package reads itself.
func Rendered(d *Dict, deviceType string) bool {
	return d != nil && Kind(d, deviceType) != KindSimulated && d.template(deviceType) != ""
}

// Render renders dict for the device hostname of type deviceType and a job
// whose context is context (nil for none), and returns the device's
// configuration (YAML). Failures are *Errors placed in the dictionary:
// its own syntax at their position, a template's problem or a
// configuration that does not read at the extends line, naming the
// template and its line.
func (r *Renderer) Render(dict, hostname, deviceType string, context map[string]any) (string, error) {
	d, err := Parse(dict)
	if err != nil {
		return "", err
	}
	out, err := r.render(d, dict, hostname, deviceType, context)
	if err != nil {
		return "", err
	}
	return out, nil
}

// Check validates dict for a device hostname of type deviceType: the
// checks of Check for dictionaries this package reads itself and for qemu
// devices (each variable), then for all but simulated devices a render
// without job context whose result must read as a device configuration
// (deviceconfig.Read) and, for qemu devices, give a QEMU command
// (QEMUConfig). Problems are *Errors.
func (r *Renderer) Check(dict, hostname, deviceType string) error {
	d, err := Parse(dict)
	if err != nil {
		return err
	}
	if !Rendered(d, deviceType) || deviceType == TemplateQEMU || Kind(d, deviceType) == KindQEMU {
		if err := d.Validate(deviceType); err != nil || !Rendered(d, deviceType) {
			return err
		}
	}
	out, err := r.render(d, dict, hostname, deviceType, nil)
	if err != nil || Kind(d, deviceType) != KindQEMU {
		return err
	}
	rc, err := deviceconfig.Read(out)
	if err == nil {
		_, err = QEMUConfig(rc, d.Resolve(nil))
	}
	if err != nil {
		var errs errList
		errs.add(d.templateAt(), "", err.Error())
		return errs.result()
	}
	return nil
}

// notFoundHint says where templates come from.
const notFoundHint = " (load it with `basalt device-types template set TYPE FILE`, or put it in the server's device-type templates directory)"

// templateAt is the position of the dictionary's extends (1:1 when it has
// none): where problems of its rendered configuration are reported.
func (d *Dict) templateAt() pos {
	at := resolve(d.templateSrc)
	if at.line == 0 {
		at = pos{1, 1}
	}
	return at
}

// render renders a parsed dictionary and reads the result.
func (r *Renderer) render(d *Dict, dict, hostname, deviceType string, context map[string]any) (string, error) {
	var errs errList
	at := d.templateAt()
	if r == nil || r.Templates == nil {
		errs.add(at, "", fmt.Sprintf("device type template %q cannot be rendered here: no device-type templates are available", d.template(deviceType)))
		return "", errs.result()
	}
	self := hostname + ".jinja2"
	env := jinja.NewLAVA(jinja.ChainLoader(jinja.MapLoader{self: dict}, r.Templates))
	ctx := make(map[string]any, len(context)+2)
	for k, v := range context {
		ctx[k] = v
	}
	name := self
	if d.Form == FormYAML {
		// The YAML form's variables are the {% set %} lines of LAVA's
		// form: the template renders with them over the job's context.
		ctx = d.Resolve(context)
		name = d.template(deviceType) + ".jinja2"
	}
	if _, ok := ctx["arch"]; !ok && Kind(d, deviceType) == KindQEMU {
		ctx["arch"] = DefaultArch // Basalt's default; LAVA's jobs must set it
	}
	ctx["scheduled_device_name"] = hostname
	ctx["scheduled_device_type"] = deviceType
	out, err := env.Render(name, ctx)
	if err != nil {
		var je *jinja.Error
		switch {
		case errors.As(err, &je) && je.Template == self && je.Line > 0:
			msg := je.Msg
			if strings.Contains(msg, jinja.ErrNotFound.Error()) {
				msg += notFoundHint
			}
			errs.add(pos{je.Line, max(je.Column, 1)}, "", msg)
		case errors.Is(err, jinja.ErrNotFound):
			errs.add(at, "", fmt.Sprintf("device type template %q not found: %v%s", d.template(deviceType), err, notFoundHint))
		default:
			msg := fmt.Sprintf("rendering with the device-type template: %v", err)
			if strings.Contains(msg, jinja.ErrNotFound.Error()) {
				msg += notFoundHint
			}
			errs.add(at, "", msg)
		}
		return "", errs.result()
	}
	if _, err := deviceconfig.Read(out); err != nil {
		errs.add(at, "", fmt.Sprintf("the configuration rendered from template %q is not valid: %s", d.template(deviceType), strings.TrimSpace(err.Error())))
		return "", errs.result()
	}
	return out, nil
}
