package sqlstore

import (
	"context"
	"fmt"

	"github.com/basalt-lab/basalt/internal/lab"
)

// ---- device-type templates (migration 0004) ----

// SetDeviceTemplate creates or replaces the named template; Updated is the
// store's clock.
func (q *queries) SetDeviceTemplate(ctx context.Context, name, text string) error {
	op := fmt.Sprintf("set device template %q", name)
	if name == "" {
		return wrap(op, fmt.Errorf("%w: template name is empty", lab.ErrInvalid))
	}
	return wrap(op, q.write(ctx, func(c conn) error {
		_, err := q.exec(ctx, c, `INSERT INTO device_templates (name, text, updated) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET text = excluded.text, updated = excluded.updated`,
			name, text, q.d.ts(now()))
		return err
	}))
}

// GetDeviceTemplate returns the named template with its text.
func (q *queries) GetDeviceTemplate(ctx context.Context, name string) (lab.DeviceTemplate, error) {
	var t lab.DeviceTemplate
	err := q.row(ctx, q.r(), "SELECT name, text, updated FROM device_templates WHERE name = ?", name).
		Scan(&t.Name, &t.Text, timeDest{&t.Updated})
	return t, wrap(fmt.Sprintf("get device template %q", name), notFound(err))
}

// ListDeviceTemplates returns every template's name and update time, by
// name; the texts are not read.
func (q *queries) ListDeviceTemplates(ctx context.Context) ([]lab.DeviceTemplate, error) {
	rows, err := q.query(ctx, q.r(), "SELECT name, updated FROM device_templates ORDER BY name")
	ts, err := collect(rows, err, func(r scanner) (lab.DeviceTemplate, error) {
		var t lab.DeviceTemplate
		return t, r.Scan(&t.Name, timeDest{&t.Updated})
	})
	return ts, wrap("list device templates", err)
}

// DeleteDeviceTemplate removes the named template.
func (q *queries) DeleteDeviceTemplate(ctx context.Context, name string) error {
	return wrap(fmt.Sprintf("delete device template %q", name), q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, "DELETE FROM device_templates WHERE name = ?", name)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}
