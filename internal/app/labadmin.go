package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/jinja"
	"github.com/basalt-lab/basalt/internal/lab"
)

// Lab administration that LAVA's XML-RPC API offers (package
// api/lavarpc): deleting devices and workers, a device's rendered
// configuration, and device-type templates as rendering finds them.

// ErrNoDictionary is the error of an operation on a device's dictionary
// when the device has none (it wraps lab.ErrNotFound).
var ErrNoDictionary = fmt.Errorf("the device has no dictionary: %w", lab.ErrNotFound)

// DeleteDevice removes a device with its tags and history (admin only).
// A device that jobs refer to (ran on it, requested it, or holds it) is
// not deleted: jobs are kept with what they ran on, so such a device is
// retired instead (ErrConflict, saying so).
func (a *App) DeleteDevice(ctx context.Context, p auth.Principal, hostname string) error {
	if err := requireAdmin(p, "delete device"); err != nil {
		return err
	}
	err := a.st.DeleteDevice(ctx, hostname)
	if errors.Is(err, lab.ErrConflict) {
		return fmt.Errorf("%w (Basalt keeps every job with the device it ran on: set the device's health to Retired instead)", err)
	}
	if err != nil {
		return err
	}
	a.Kick()
	return nil
}

// DeleteWorker removes a worker with its history and its tokens (admin
// only); its devices stay, attached to no worker, as in LAVA. A worker
// with a busy device, or one that jobs requested, is not deleted
// (ErrConflict): retire it instead.
func (a *App) DeleteWorker(ctx context.Context, p auth.Principal, name string) error {
	if err := requireAdmin(p, "delete worker"); err != nil {
		return err
	}
	err := a.st.DeleteWorker(ctx, name)
	if errors.Is(err, lab.ErrConflict) {
		return fmt.Errorf("%w (wait for its devices' jobs to end, or set the worker's health to Retired instead)", err)
	}
	if err != nil {
		return err
	}
	a.placed.forget() // its jobs' placements are gone with it
	a.Kick()
	return nil
}

// DeviceHasDictionary reports whether a device has a dictionary (public,
// like the device; the dictionary itself is for admins only).
func (a *App) DeviceHasDictionary(ctx context.Context, hostname string) (bool, error) {
	d, err := a.st.GetDevice(ctx, hostname)
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(d.Dictionary) != "", nil
}

// RenderDeviceConfig returns the configuration of a device: its
// dictionary rendered with its device-type template (searched as for
// jobs: stored, the server's directory, shipped) and the job context
// jobContext (nil for none), as a job on it would get it. Admin only, like
// the dictionary: the configuration holds the same lab secrets.
// ErrNoDictionary when the device has none; ErrInvalid when its
// dictionary goes through no template (simulated devices, which Basalt
// reads itself) or does not render (*devicedict.Errors, with positions).
func (a *App) RenderDeviceConfig(ctx context.Context, p auth.Principal, hostname string, jobContext map[string]any) (string, error) {
	if err := requireAdmin(p, "render device configuration"); err != nil {
		return "", err
	}
	d, err := a.st.GetDevice(ctx, hostname)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(d.Dictionary) == "" {
		return "", fmt.Errorf("device %s: %w", hostname, ErrNoDictionary)
	}
	dict, err := devicedict.Parse(d.Dictionary)
	if err != nil {
		return "", fmt.Errorf("device %s: device dictionary: %w", hostname, err)
	}
	if !devicedict.Rendered(dict, d.DeviceType) {
		if devicedict.Kind(dict, d.DeviceType) == devicedict.KindSimulated {
			return "", fmt.Errorf("%w: device %s is a simulated device: Basalt reads its dictionary itself, no device-type template renders it", lab.ErrInvalid, hostname)
		}
		return "", fmt.Errorf("%w: the dictionary of device %s extends no device-type template", lab.ErrInvalid, hostname)
	}
	out, err := a.renderer(ctx, a.st).Render(d.Dictionary, hostname, d.DeviceType, jobContext)
	if err != nil {
		return "", fmt.Errorf("device %s: device dictionary: %w", hostname, err)
	}
	return out, nil
}

// CheckDeviceDictionary validates a device's stored dictionary as it would
// be validated when set (admin only: problems quote the dictionary): nil
// when it is valid, ErrNoDictionary when there is none, else the
// problems (*devicedict.Errors, lab.ErrInvalid).
func (a *App) CheckDeviceDictionary(ctx context.Context, p auth.Principal, hostname string) error {
	if err := requireAdmin(p, "check device dictionary"); err != nil {
		return err
	}
	d, err := a.st.GetDevice(ctx, hostname)
	if err != nil {
		return err
	}
	if strings.TrimSpace(d.Dictionary) == "" {
		return fmt.Errorf("device %s: %w", hostname, ErrNoDictionary)
	}
	return a.checkDictionary(ctx, a.st, hostname, d.DeviceType, d.Dictionary)
}

// TemplateSource says where a device-type template was found.
type TemplateSource string

// Where templates are found, in the order they are searched.
const (
	// TemplateStored: stored through the API (SetDeviceTypeTemplate).
	TemplateStored TemplateSource = "stored"
	// TemplateDirectory: the server's template directory
	// (Config.TemplatesDir).
	TemplateDirectory TemplateSource = "directory"
	// TemplateShipped: the templates Basalt ships (Config.Templates).
	TemplateShipped TemplateSource = "shipped"
)

// checkTemplateName refuses a template name that is not one file name.
func checkTemplateName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") || strings.ContainsRune(name, 0) {
		return fmt.Errorf("%w: invalid device-type template name %q", lab.ErrInvalid, name)
	}
	return nil
}

// DeviceTypeTemplateText returns the template rendering uses for name (a
// device type's name, or any template's file name, with or without
// ".jinja2"), searched as rendering searches: stored, the server's
// directory, then shipped; and where it was found. Templates are public,
// as in LAVA. ErrNotFound when none has that name; ErrInvalid for a name
// that is not a file name.
func (a *App) DeviceTypeTemplateText(ctx context.Context, name string) (string, TemplateSource, error) {
	base := strings.TrimSuffix(name, ".jinja2")
	if err := checkTemplateName(base); err != nil {
		return "", "", err
	}
	file := base + ".jinja2"
	type source struct {
		from TemplateSource
		l    jinja.Loader
	}
	sources := []source{{TemplateStored, storedTemplates{ctx: ctx, q: a.st}}}
	if a.cfg.TemplatesDir != "" {
		sources = append(sources, source{TemplateDirectory, jinja.DirLoader(a.cfg.TemplatesDir)})
	}
	if a.cfg.Templates != nil {
		sources = append(sources, source{TemplateShipped, jinja.FSLoader(a.cfg.Templates)})
	}
	for _, s := range sources {
		text, err := s.l.Load(file)
		if err == nil {
			return text, s.from, nil
		}
		if !errors.Is(err, jinja.ErrNotFound) {
			return "", "", fmt.Errorf("device-type template %s: %w", file, err)
		}
	}
	return "", "", fmt.Errorf("device-type template %s: none is stored, in the server's template directory or shipped: %w", file, lab.ErrNotFound)
}

// DeviceTypeTemplateNames returns the names (without ".jinja2") of every
// template rendering can find: stored ones, those of the server's
// directory and those Basalt ships, sorted, each once. Public, like the
// templates.
func (a *App) DeviceTypeTemplateNames(ctx context.Context) ([]string, error) {
	stored, err := a.st.ListDeviceTemplates(ctx)
	if err != nil {
		return nil, fmt.Errorf("list device-type templates: %w", err)
	}
	var names []string
	for _, t := range stored {
		names = append(names, t.Name)
	}
	if a.cfg.TemplatesDir != "" {
		files, err := filepath.Glob(filepath.Join(a.cfg.TemplatesDir, "*.jinja2"))
		if err != nil {
			return nil, fmt.Errorf("list device-type templates: %w", err)
		}
		for _, f := range files {
			if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
				names = append(names, strings.TrimSuffix(filepath.Base(f), ".jinja2"))
			}
		}
	}
	if a.cfg.Templates != nil {
		files, err := fs.Glob(a.cfg.Templates, "*.jinja2")
		if err != nil {
			return nil, fmt.Errorf("list device-type templates: %w", err)
		}
		for _, f := range files {
			names = append(names, strings.TrimSuffix(f, ".jinja2"))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
