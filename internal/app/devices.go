package app

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// namePattern is what names of device types, devices, workers, tags and
// aliases may look like: they appear in URLs and job YAML.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)

func checkName(kind, name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w: %s name %q must be 1–200 letters, digits, '.', '_' or '-', starting with a letter or digit", lab.ErrInvalid, kind, name)
	}
	return nil
}

// checkTexts refuses the first of the free texts given as pairs (what,
// value) that cannot be stored as text (lab.CheckText: not UTF-8, or a NUL
// character), with what in the message. The store refuses them too; this
// names the field.
func checkTexts(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := lab.CheckText(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// ListDeviceTypes returns every device type (public information).
func (a *App) ListDeviceTypes(ctx context.Context) ([]lab.DeviceType, error) {
	return a.st.ListDeviceTypes(ctx)
}

// GetDeviceType returns one device type.
func (a *App) GetDeviceType(ctx context.Context, name string) (lab.DeviceType, error) {
	dt, err := a.st.GetDeviceType(ctx, name)
	if err != nil {
		return dt, err
	}
	return dt, nil
}

// CreateDeviceType adds a device type (admin only). A zero HealthFrequency
// becomes LAVA's default of 24 (hours).
func (a *App) CreateDeviceType(ctx context.Context, p auth.Principal, dt lab.DeviceType) error {
	if err := requireAdmin(p, "create device type"); err != nil {
		return err
	}
	if err := checkName("device type", dt.Name); err != nil {
		return err
	}
	if len(dt.Name) > 50 {
		return fmt.Errorf("%w: device type name %q is longer than 50 characters", lab.ErrInvalid, dt.Name)
	}
	if dt.HealthFrequency == 0 {
		dt.HealthFrequency = 24
	}
	if err := lab.CheckHealthFrequency(dt.HealthFrequency); err != nil {
		return err
	}
	if err := checkTexts("device type description", dt.Description); err != nil {
		return err
	}
	if err := a.st.CreateDeviceType(ctx, dt); err != nil {
		return err
	}
	return nil
}

// UpdateDeviceTypeWith applies edit to a device type in one transaction
// (admin only) and returns the result. The name cannot change.
func (a *App) UpdateDeviceTypeWith(ctx context.Context, p auth.Principal, name string, edit func(*lab.DeviceType) error) (lab.DeviceType, error) {
	if err := requireAdmin(p, "update device type"); err != nil {
		return lab.DeviceType{}, err
	}
	var out lab.DeviceType
	err := a.st.InTx(ctx, func(q store.Queries) error {
		dt, err := q.GetDeviceType(ctx, name)
		if err != nil {
			return err
		}
		if err := edit(&dt); err != nil {
			return err
		}
		dt.Name = name
		if err := lab.CheckHealthFrequency(dt.HealthFrequency); err != nil {
			return err
		}
		if err := checkTexts("device type description", dt.Description); err != nil {
			return err
		}
		if err := q.UpdateDeviceType(ctx, dt); err != nil {
			return err
		}
		out = dt
		return nil
	})
	if err != nil {
		return lab.DeviceType{}, err
	}
	a.Kick()
	return out, nil
}

// SetHealthCheck stores the health-check job of a device type (admin only).
// The definition is parsed now, so a broken check is refused at upload
// rather than discovered when a device falls due. Empty removes the check.
func (a *App) SetHealthCheck(ctx context.Context, p auth.Principal, name, definition string) error {
	if definition != "" {
		def, err := jobdef.Parse([]byte(definition))
		if err != nil {
			return err
		}
		if def.DeviceType != name {
			if dt, err := a.st.ResolveDeviceType(ctx, def.DeviceType); err != nil || dt.Name != name {
				return defError(def, "$.device_type", fmt.Sprintf("a health check for %q must have device_type %q", name, name))
			}
		}
	}
	_, err := a.UpdateDeviceTypeWith(ctx, p, name, func(dt *lab.DeviceType) error {
		dt.HealthCheck = definition
		return nil
	})
	return err
}

// DeleteDeviceType removes an unused device type (admin only).
func (a *App) DeleteDeviceType(ctx context.Context, p auth.Principal, name string) error {
	if err := requireAdmin(p, "delete device type"); err != nil {
		return err
	}
	if err := a.st.DeleteDeviceType(ctx, name); err != nil {
		return err
	}
	return nil
}

// ListAliases returns every device-type alias.
func (a *App) ListAliases(ctx context.Context) ([]lab.Alias, error) { return a.st.ListAliases(ctx) }

// CreateAlias adds an alias for a device type (admin only).
func (a *App) CreateAlias(ctx context.Context, p auth.Principal, al lab.Alias) error {
	if err := requireAdmin(p, "create alias"); err != nil {
		return err
	}
	if err := checkName("alias", al.Name); err != nil {
		return err
	}
	if _, err := a.st.GetDeviceType(ctx, al.Name); err == nil {
		return fmt.Errorf("create alias %q: a device type has that name: %w", al.Name, lab.ErrConflict)
	}
	if err := a.st.CreateAlias(ctx, al); err != nil {
		return err
	}
	return nil
}

// DeleteAlias removes an alias (admin only).
func (a *App) DeleteAlias(ctx context.Context, p auth.Principal, name string) error {
	if err := requireAdmin(p, "delete alias"); err != nil {
		return err
	}
	if err := a.st.DeleteAlias(ctx, name); err != nil {
		return err
	}
	return nil
}

// ListTags returns every tag.
func (a *App) ListTags(ctx context.Context) ([]lab.Tag, error) { return a.st.ListTags(ctx) }

// GetTag returns one tag.
func (a *App) GetTag(ctx context.Context, name string) (lab.Tag, error) {
	t, err := a.st.GetTag(ctx, name)
	if err != nil {
		return t, err
	}
	return t, nil
}

// CreateTag adds a tag (admin only).
func (a *App) CreateTag(ctx context.Context, p auth.Principal, t lab.Tag) error {
	if err := requireAdmin(p, "create tag"); err != nil {
		return err
	}
	if err := checkName("tag", t.Name); err != nil {
		return err
	}
	if err := checkTexts("tag description", t.Description); err != nil {
		return err
	}
	if err := a.st.CreateTag(ctx, t); err != nil {
		return err
	}
	return nil
}

// DeleteTag removes a tag (admin only).
func (a *App) DeleteTag(ctx context.Context, p auth.Principal, name string) error {
	if err := requireAdmin(p, "delete tag"); err != nil {
		return err
	}
	if err := a.st.DeleteTag(ctx, name); err != nil {
		return err
	}
	return nil
}

// ListDevices returns the devices matching f as p may see them: a job p
// may not see is 0 (see redactDevices).
func (a *App) ListDevices(ctx context.Context, p auth.Principal, f store.DeviceFilter) ([]lab.Device, error) {
	devs, err := a.st.ListDevices(ctx, f)
	if err != nil {
		return nil, err
	}
	if err := a.redactDevices(ctx, p, devs); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return devs, nil
}

// GetDevice returns one device as p may see it (see ListDevices).
func (a *App) GetDevice(ctx context.Context, p auth.Principal, hostname string) (lab.Device, error) {
	d, err := a.st.GetDevice(ctx, hostname)
	if err != nil {
		return lab.Device{}, err
	}
	devs := []lab.Device{d}
	if err := a.redactDevices(ctx, p, devs); err != nil {
		return lab.Device{}, fmt.Errorf("get device %s: %w", hostname, err)
	}
	return devs[0], nil
}

// CreateDevice adds a device (admin only). New devices start Idle in
// Maintenance unless the caller gives another health (as in LAVA); the
// initial health is recorded in the device's history. The dictionary, if
// any, must be valid for the device type.
func (a *App) CreateDevice(ctx context.Context, p auth.Principal, d lab.Device, reason string) error {
	if err := requireAdmin(p, "create device"); err != nil {
		return err
	}
	if err := checkName("device", d.Hostname); err != nil {
		return err
	}
	if err := checkTexts("device description", d.Description, "reason", reason); err != nil {
		return err
	}
	if err := a.checkDictionary(ctx, a.st, d.Hostname, d.DeviceType, d.Dictionary); err != nil {
		return err
	}
	health := d.Health
	d.State, d.CurrentJob, d.LastHealthReportJob = lab.DeviceIdle, 0, 0
	d.Health = lab.DeviceMaintenance
	slices.Sort(d.Tags)
	d.Tags = slices.Compact(d.Tags)
	err := a.st.InTx(ctx, func(q store.Queries) error {
		if err := q.CreateDevice(ctx, d); err != nil {
			return err
		}
		if health != lab.DeviceMaintenance {
			if reason == "" {
				reason = "created"
			}
			_, err := q.SetDeviceHealth(ctx, d.Hostname, health, p.Username, reason, 0)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.emit(Event{Kind: "device", Device: d.Hostname, Health: health.String(), State: lab.DeviceIdle.String()})
	a.Kick()
	return nil
}

// UpdateDeviceWith applies edit to a device's description, type, worker,
// tags and dictionary in one transaction (admin only); state and health are
// not touched. It returns the updated device. When the dictionary or the
// device type changes, the dictionary is validated for the (new) type.
func (a *App) UpdateDeviceWith(ctx context.Context, p auth.Principal, hostname string, edit func(*lab.Device) error) (lab.Device, error) {
	if err := requireAdmin(p, "update device"); err != nil {
		return lab.Device{}, err
	}
	var out lab.Device
	err := a.st.InTx(ctx, func(q store.Queries) error {
		d, err := q.GetDevice(ctx, hostname)
		if err != nil {
			return err
		}
		oldDict, oldType := d.Dictionary, d.DeviceType
		if err := edit(&d); err != nil {
			return err
		}
		d.Hostname = hostname
		if err := checkTexts("device description", d.Description); err != nil {
			return err
		}
		if d.Dictionary != oldDict || d.DeviceType != oldType {
			if err := a.checkDictionary(ctx, q, hostname, d.DeviceType, d.Dictionary); err != nil {
				return err
			}
		}
		slices.Sort(d.Tags)
		d.Tags = slices.Compact(d.Tags)
		if err := q.UpdateDevice(ctx, d); err != nil {
			return err
		}
		out, err = q.GetDevice(ctx, hostname)
		return err
	})
	if err != nil {
		return lab.Device{}, err
	}
	a.placed.forget() // its jobs' worker may have changed
	a.Kick()
	return out, nil
}

// SetDeviceHealth changes a device's health with a reason (admin only); the
// change is recorded in its history with p as the actor.
func (a *App) SetDeviceHealth(ctx context.Context, p auth.Principal, hostname string, h lab.DeviceHealth, reason string) (lab.DeviceTransition, error) {
	if err := requireAdmin(p, "set device health"); err != nil {
		return lab.DeviceTransition{}, err
	}
	if reason == "" {
		return lab.DeviceTransition{}, fmt.Errorf("%w: a reason is required to change a device's health", lab.ErrInvalid)
	}
	if err := checkTexts("reason", reason); err != nil {
		return lab.DeviceTransition{}, err
	}
	tr, err := a.st.SetDeviceHealth(ctx, hostname, h, p.Username, reason, 0)
	if err != nil {
		return tr, fmt.Errorf("set health of %q: %w", hostname, err)
	}
	if tr.ID != 0 { // the health changed
		a.emit(Event{Kind: "device", Device: hostname, State: tr.NewState.String(), Health: tr.NewHealth.String()})
	}
	a.Kick()
	return tr, nil
}

// DeviceHistory returns a device's transitions, newest first, as p may
// see them: a job p may not see is 0 and "a private job" in the reason.
func (a *App) DeviceHistory(ctx context.Context, p auth.Principal, hostname string, limit int) ([]lab.DeviceTransition, error) {
	if _, err := a.st.GetDevice(ctx, hostname); err != nil {
		return nil, err
	}
	trs, err := a.st.DeviceHistory(ctx, hostname, limit)
	if err != nil {
		return nil, err
	}
	if err := a.redactTransitions(ctx, p, trs); err != nil {
		return nil, fmt.Errorf("history of device %s: %w", hostname, err)
	}
	return trs, nil
}

// DeviceDictionary returns a device's dictionary. It can hold lab secrets
// (power commands, addresses), so only admins may read it.
func (a *App) DeviceDictionary(ctx context.Context, p auth.Principal, hostname string) (string, error) {
	if err := requireAdmin(p, "read device dictionary"); err != nil {
		return "", err
	}
	d, err := a.st.GetDevice(ctx, hostname)
	return d.Dictionary, err
}

// SetDeviceDictionary replaces a device's dictionary (admin only). The
// dictionary is validated for the device's type (see
// docs/device-dictionaries.md); an invalid one is refused with every
// problem and its position (*devicedict.Errors, lab.ErrInvalid). Empty text
// removes the dictionary.
func (a *App) SetDeviceDictionary(ctx context.Context, p auth.Principal, hostname, dict string) error {
	_, err := a.UpdateDeviceWith(ctx, p, hostname, func(d *lab.Device) error {
		d.Dictionary = dict
		return nil
	})
	return err
}
