package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Device-type templates stored in the database (LAVA's
// scheduler.device_types.set_template and get_template). A type's own
// template is named after the type; the renderer searches stored templates
// first, then the server's template directory, then the ones Basalt ships.

// MaxTemplateSize is the largest device-type template accepted, in bytes
// (1 MiB, as for device dictionaries).
const MaxTemplateSize = 1 << 20

// SetDeviceTypeTemplate stores text as the template of device type
// typeName, replacing any (admin only). The type must exist (ErrNotFound).
// The text must be at most MaxTemplateSize bytes of UTF-8 without NUL and
// pass Config.CheckTemplate when set; otherwise it is refused with
// ErrInvalid and nothing changes. Empty text removes the template (a type
// without one is left as it is), as an empty health check does.
func (a *App) SetDeviceTypeTemplate(ctx context.Context, p auth.Principal, typeName, text string) error {
	if err := requireAdmin(p, "set device-type template"); err != nil {
		return err
	}
	if text != "" {
		if err := a.checkTemplate(typeName, text); err != nil {
			return err
		}
	}
	err := a.st.InTx(ctx, func(q store.Queries) error {
		if _, err := q.GetDeviceType(ctx, typeName); err != nil {
			return err
		}
		if text == "" {
			if err := q.DeleteDeviceTemplate(ctx, typeName); err != nil && !errors.Is(err, lab.ErrNotFound) {
				return err
			}
			return nil
		}
		return q.SetDeviceTemplate(ctx, typeName, text)
	})
	if err != nil {
		return fmt.Errorf("set template of device type %s: %w", typeName, err)
	}
	return nil
}

// checkTemplate refuses a template that is too large, not text, or that
// Config.CheckTemplate rejects, with lab.ErrInvalid.
func (a *App) checkTemplate(typeName, text string) error {
	if len(text) > MaxTemplateSize {
		return fmt.Errorf("%w: template of device type %s is %d bytes; the limit is %d (1 MiB)", lab.ErrInvalid, typeName, len(text), MaxTemplateSize)
	}
	if err := checkTexts("template of device type "+typeName, text); err != nil {
		return err
	}
	if a.cfg.CheckTemplate == nil {
		return nil
	}
	if err := a.cfg.CheckTemplate(typeName, text); err != nil {
		if errors.Is(err, lab.ErrInvalid) {
			return fmt.Errorf("template of device type %s: %w", typeName, err)
		}
		return fmt.Errorf("%w: template of device type %s: %w", lab.ErrInvalid, typeName, err)
	}
	return nil
}

// DeviceTypeTemplate returns the stored template of device type typeName,
// for anyone who may see the type (device types are public). ErrNotFound
// when the type does not exist or has no stored template (it may still have
// one in the server's template directory or among Basalt's own).
func (a *App) DeviceTypeTemplate(ctx context.Context, _ auth.Principal, typeName string) (lab.DeviceTemplate, error) {
	// Two reads, no transaction: a template whose type is deleted between
	// them is gone with it a moment later.
	if _, err := a.st.GetDeviceType(ctx, typeName); err != nil {
		return lab.DeviceTemplate{}, fmt.Errorf("template of device type %s: %w", typeName, err)
	}
	t, err := a.st.GetDeviceTemplate(ctx, typeName)
	switch {
	case errors.Is(err, lab.ErrNotFound):
		return lab.DeviceTemplate{}, fmt.Errorf("device type %s has no stored template: %w", typeName, lab.ErrNotFound)
	case err != nil:
		return lab.DeviceTemplate{}, fmt.Errorf("template of device type %s: %w", typeName, err)
	}
	return t, nil
}

// DeleteDeviceTypeTemplate removes the stored template of device type
// typeName (admin only); ErrNotFound when the type does not exist or has
// none.
func (a *App) DeleteDeviceTypeTemplate(ctx context.Context, p auth.Principal, typeName string) error {
	if err := requireAdmin(p, "delete device-type template"); err != nil {
		return err
	}
	noTemplate := false
	err := a.st.InTx(ctx, func(q store.Queries) error {
		if _, err := q.GetDeviceType(ctx, typeName); err != nil {
			return err
		}
		err := q.DeleteDeviceTemplate(ctx, typeName)
		noTemplate = errors.Is(err, lab.ErrNotFound)
		return err
	})
	switch {
	case noTemplate:
		return fmt.Errorf("device type %s has no stored template: %w", typeName, lab.ErrNotFound)
	case err != nil:
		return fmt.Errorf("delete template of device type %s: %w", typeName, err)
	}
	return nil
}

// DeviceTemplates lists every stored template, by name, with its update
// time and without its text (admin only). Names are those of device types,
// or of other templates stored directly in the store (base templates).
func (a *App) DeviceTemplates(ctx context.Context, p auth.Principal) ([]lab.DeviceTemplate, error) {
	if err := requireAdmin(p, "list device templates"); err != nil {
		return nil, err
	}
	ts, err := a.st.ListDeviceTemplates(ctx)
	if err != nil {
		return nil, err
	}
	return ts, nil
}
