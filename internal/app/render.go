package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/basalt-lab/basalt/internal/deviceconfig"
	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/jinja"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// storedTemplates finds device-type templates stored through the API
// (SetDeviceTypeTemplate), by file name: "base-uboot.jinja2" is the
// stored template base-uboot.
type storedTemplates struct {
	ctx context.Context
	q   store.Queries
}

// Load returns a stored template; a name that is not stored wraps
// jinja.ErrNotFound so that the next source is searched.
func (l storedTemplates) Load(name string) (string, error) {
	base, ok := strings.CutSuffix(name, ".jinja2")
	if !ok || base == "" {
		return "", fmt.Errorf("%s: %w", name, jinja.ErrNotFound)
	}
	t, err := l.q.GetDeviceTemplate(l.ctx, base)
	if errors.Is(err, lab.ErrNotFound) {
		return "", fmt.Errorf("%s: %w", name, jinja.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("device-type template %s: %w", name, err)
	}
	return t.Text, nil
}

// renderer renders dictionaries with the device-type templates, searched
// in order: those stored through the API, the server's templates
// directory (Config.TemplatesDir), then the templates Basalt ships
// (Config.Templates). q reads the stored ones (the transaction's, when
// there is one).
func (a *App) renderer(ctx context.Context, q store.Queries) *devicedict.Renderer {
	loaders := []jinja.Loader{storedTemplates{ctx: ctx, q: q}}
	if a.cfg.TemplatesDir != "" {
		loaders = append(loaders, jinja.DirLoader(a.cfg.TemplatesDir))
	}
	if a.cfg.Templates != nil {
		loaders = append(loaders, jinja.FSLoader(a.cfg.Templates))
	}
	return &devicedict.Renderer{Templates: jinja.ChainLoader(loaders...)}
}

// checkDictionary validates a device dictionary for a device of type
// deviceType: a broken dictionary is refused at upload rather than
// discovered by the job that uses the device. Dictionaries of qemu and
// simulated devices are checked variable by variable; all but simulated
// ones are rendered with their device-type template and the result must
// read as a device configuration (a qemu one giving a QEMU command). The error wraps
// *devicedict.Errors (and so lab.ErrInvalid) with each problem's
// position.
func (a *App) checkDictionary(ctx context.Context, q store.Queries, hostname, deviceType, dict string) error {
	if err := a.renderer(ctx, q).Check(dict, hostname, deviceType); err != nil {
		return fmt.Errorf("device %s: device dictionary: %w", hostname, err)
	}
	return nil
}

// renderAssigned renders the configuration of a job's device when its
// dictionary goes through a device-type template (boards and qemu
// devices), with the job's context. It returns "" for devices the
// dispatcher reads from their dictionary (simulated ones). A failure is returned as the reason the job cannot run.
func (a *App) renderAssigned(ctx context.Context, d lab.Device, jobContext map[string]any) (config, problem string) {
	dict, err := devicedict.Parse(d.Dictionary)
	if err != nil || !devicedict.Rendered(dict, d.DeviceType) {
		return "", "" // the dispatcher reports a dictionary that does not parse
	}
	out, err := a.renderer(ctx, a.st).Render(d.Dictionary, d.Hostname, d.DeviceType, jobContext)
	if err != nil {
		return "", fmt.Sprintf("device %s: its dictionary does not render: %v", d.Hostname, err)
	}
	return out, ""
}

// methodProblem checks the job's deploy and boot methods against what a
// device runs, as LAVA's validation does: its kind's methods, and for a
// device whose dictionary renders through a template, the methods its
// configuration (rendered with the job's context) offers. It returns the
// path of the first action the device cannot run and why; "" when it can
// run them all, or when the device cannot be judged here (no dictionary,
// or one that does not parse or render: the job process says why).
func (a *App) methodProblem(ctx context.Context, d lab.Device, def *jobdef.Job) (path, why string, err error) {
	dict, perr := devicedict.Parse(d.Dictionary)
	if perr != nil || strings.TrimSpace(d.Dictionary) == "" {
		return "", "", nil
	}
	kind := devicedict.Kind(dict, d.DeviceType)
	if !devicedict.Rendered(dict, d.DeviceType) {
		if kind == "" {
			return "", "", nil
		}
		path, why = devicedict.JobProblem(kind, nil, d.Hostname, def)
		return path, why, nil
	}
	if kind == "" {
		kind = devicedict.KindBoard
	}
	out, rerr := a.renderer(ctx, a.st).Render(d.Dictionary, d.Hostname, d.DeviceType, def.Context)
	if rerr != nil {
		if errors.Is(rerr, lab.ErrDatabaseUnavailable) {
			return "", "", rerr
		}
		return "", "", nil
	}
	rc, rerr := deviceconfig.Read(out)
	if rerr != nil {
		return "", "", nil
	}
	path, why = devicedict.JobProblem(kind, rc, d.Hostname, def)
	return path, why, nil
}
