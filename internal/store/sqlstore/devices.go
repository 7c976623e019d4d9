package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// ---- device types ----

const deviceTypeCols = `name, description, health_frequency, health_denominator, disable_health_check, health_check, display,
	no_health_check_after_reservation`

func scanDeviceType(r scanner) (lab.DeviceType, error) {
	var dt lab.DeviceType
	var display bool
	err := r.Scan(&dt.Name, &dt.Description, &dt.HealthFrequency, asInt(&dt.HealthDenominator),
		&dt.DisableHealthCheck, &dt.HealthCheck, &display, &dt.NoHealthCheckAfterReservation)
	dt.Hidden = !display // the column keeps LAVA's name and sense
	return dt, err
}

func validDeviceType(dt lab.DeviceType) error {
	switch {
	case dt.Name == "":
		return fmt.Errorf("%w: device type name is empty", lab.ErrInvalid)
	case dt.HealthDenominator != lab.PerHours && dt.HealthDenominator != lab.PerJobs:
		return fmt.Errorf("%w: health denominator %d", lab.ErrInvalid, dt.HealthDenominator)
	}
	return lab.CheckHealthFrequency(dt.HealthFrequency)
}

// CreateDeviceType adds a device type; ErrConflict if the name is taken.
func (q *queries) CreateDeviceType(ctx context.Context, dt lab.DeviceType) error {
	op := fmt.Sprintf("create device type %q", dt.Name)
	if err := validDeviceType(dt); err != nil {
		return wrap(op, err)
	}
	return wrap(op, q.write(ctx, func(c conn) error {
		_, err := q.exec(ctx, c, "INSERT INTO device_types ("+deviceTypeCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			dt.Name, dt.Description, dt.HealthFrequency, int(dt.HealthDenominator), dt.DisableHealthCheck, dt.HealthCheck, !dt.Hidden,
			dt.NoHealthCheckAfterReservation)
		return err
	}))
}

// UpdateDeviceType replaces every field of the named type.
func (q *queries) UpdateDeviceType(ctx context.Context, dt lab.DeviceType) error {
	op := fmt.Sprintf("update device type %q", dt.Name)
	if err := validDeviceType(dt); err != nil {
		return wrap(op, err)
	}
	return wrap(op, q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, `UPDATE device_types SET description = ?, health_frequency = ?, health_denominator = ?,
			disable_health_check = ?, health_check = ?, display = ?, no_health_check_after_reservation = ? WHERE name = ?`,
			dt.Description, dt.HealthFrequency, int(dt.HealthDenominator), dt.DisableHealthCheck, dt.HealthCheck, !dt.Hidden,
			dt.NoHealthCheckAfterReservation, dt.Name)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}

// GetDeviceType returns the named type (not resolving aliases).
func (q *queries) GetDeviceType(ctx context.Context, name string) (lab.DeviceType, error) {
	dt, err := scanDeviceType(q.row(ctx, q.r(), "SELECT "+deviceTypeCols+" FROM device_types WHERE name = ?", name))
	return dt, wrap(fmt.Sprintf("get device type %q", name), notFound(err))
}

// ListDeviceTypes returns every type by name.
func (q *queries) ListDeviceTypes(ctx context.Context) ([]lab.DeviceType, error) {
	rows, err := q.query(ctx, q.r(), "SELECT "+deviceTypeCols+" FROM device_types ORDER BY name")
	dts, err := collect(rows, err, scanDeviceType)
	return dts, wrap("list device types", err)
}

// DeleteDeviceType removes a type, its aliases and its template (the
// stored template of its name); ErrConflict while a device or a job refers
// to it.
func (q *queries) DeleteDeviceType(ctx context.Context, name string) error {
	return wrap(fmt.Sprintf("delete device type %q", name), q.write(ctx, func(c conn) error {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM device_types WHERE name = ?"+q.d.forUpdate, name); err != nil || !ok {
			return firstErr(err, lab.ErrNotFound)
		}
		if used, err := q.exists(ctx, c, "SELECT 1 FROM devices WHERE device_type = ? LIMIT 1", name); err != nil || used {
			return firstErr(err, fmt.Errorf("%w: devices use it", lab.ErrConflict))
		}
		if used, err := q.exists(ctx, c, "SELECT 1 FROM jobs WHERE requested_type = ? LIMIT 1", name); err != nil || used {
			return firstErr(err, fmt.Errorf("%w: jobs use it", lab.ErrConflict))
		}
		_, err := q.exec(ctx, c, "DELETE FROM device_types WHERE name = ?", name)
		if kind(err) == errForeignKey { // a device or job appeared meanwhile
			return fmt.Errorf("%w: in use (%v)", lab.ErrConflict, err)
		}
		if err != nil {
			return err
		}
		// The type's own template goes with it (the table has no foreign
		// key: base templates are stored there too).
		_, err = q.exec(ctx, c, "DELETE FROM device_templates WHERE name = ?", name)
		return err
	}))
}

// firstErr returns err when it is set, else alt.
func firstErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

// ---- aliases ----

// CreateAlias adds an alias; ErrInvalid when its type does not exist,
// ErrConflict when the name is taken.
func (q *queries) CreateAlias(ctx context.Context, a lab.Alias) error {
	op := fmt.Sprintf("create alias %q", a.Name)
	if a.Name == "" {
		return wrap(op, fmt.Errorf("%w: alias name is empty", lab.ErrInvalid))
	}
	return wrap(op, q.write(ctx, func(c conn) error {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM device_types WHERE name = ?", a.DeviceType); err != nil || !ok {
			return firstErr(err, fmt.Errorf("%w: device type %q does not exist", lab.ErrInvalid, a.DeviceType))
		}
		_, err := q.exec(ctx, c, "INSERT INTO aliases (name, device_type) VALUES (?, ?)", a.Name, a.DeviceType)
		return err
	}))
}

// DeleteAlias removes an alias.
func (q *queries) DeleteAlias(ctx context.Context, name string) error {
	return wrap(fmt.Sprintf("delete alias %q", name), q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, "DELETE FROM aliases WHERE name = ?", name)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}

// ListAliases returns every alias by name.
func (q *queries) ListAliases(ctx context.Context) ([]lab.Alias, error) {
	rows, err := q.query(ctx, q.r(), "SELECT name, device_type FROM aliases ORDER BY name")
	as, err := collect(rows, err, func(r scanner) (lab.Alias, error) {
		var a lab.Alias
		return a, r.Scan(&a.Name, &a.DeviceType)
	})
	return as, wrap("list aliases", err)
}

// ResolveDeviceType looks name up as an alias first, then as a type.
func (q *queries) ResolveDeviceType(ctx context.Context, name string) (lab.DeviceType, error) {
	op := fmt.Sprintf("resolve device type %q", name)
	dt, err := scanDeviceType(q.row(ctx, q.r(), `SELECT t.name, t.description, t.health_frequency, t.health_denominator,
		t.disable_health_check, t.health_check, t.display, t.no_health_check_after_reservation
		FROM aliases a JOIN device_types t ON t.name = a.device_type WHERE a.name = ?`, name))
	if err == nil {
		return dt, nil
	}
	if err = notFound(err); err != lab.ErrNotFound {
		return dt, wrap(op, err)
	}
	dt, err = scanDeviceType(q.row(ctx, q.r(), "SELECT "+deviceTypeCols+" FROM device_types WHERE name = ?", name))
	return dt, wrap(op, notFound(err))
}

// ---- tags ----

// CreateTag adds a tag; ErrConflict when the name is taken.
func (q *queries) CreateTag(ctx context.Context, t lab.Tag) error {
	op := fmt.Sprintf("create tag %q", t.Name)
	if t.Name == "" {
		return wrap(op, fmt.Errorf("%w: tag name is empty", lab.ErrInvalid))
	}
	return wrap(op, q.write(ctx, func(c conn) error {
		_, err := q.exec(ctx, c, "INSERT INTO tags (name, description) VALUES (?, ?)", t.Name, t.Description)
		return err
	}))
}

// GetTag returns one tag.
func (q *queries) GetTag(ctx context.Context, name string) (lab.Tag, error) {
	var t lab.Tag
	err := q.row(ctx, q.r(), "SELECT name, description FROM tags WHERE name = ?", name).Scan(&t.Name, &t.Description)
	return t, wrap(fmt.Sprintf("get tag %q", name), notFound(err))
}

// ListTags returns every tag by name.
func (q *queries) ListTags(ctx context.Context) ([]lab.Tag, error) {
	rows, err := q.query(ctx, q.r(), "SELECT name, description FROM tags ORDER BY name")
	ts, err := collect(rows, err, func(r scanner) (lab.Tag, error) {
		var t lab.Tag
		return t, r.Scan(&t.Name, &t.Description)
	})
	return ts, wrap("list tags", err)
}

// DeleteTag removes a tag, and with it from every device and job that
// carries it (as LAVA does).
func (q *queries) DeleteTag(ctx context.Context, name string) error {
	return wrap(fmt.Sprintf("delete tag %q", name), q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, "DELETE FROM tags WHERE name = ?", name)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}

// ---- devices ----

const deviceCols = "hostname, device_type, worker, description, state, health, current_job, last_health_report_job, dictionary"

func scanDevice(r scanner) (lab.Device, error) {
	var d lab.Device
	err := r.Scan(&d.Hostname, &d.DeviceType, strDest{&d.Worker}, &d.Description, asInt(&d.State), asInt(&d.Health),
		asInt(&d.CurrentJob), asInt(&d.LastHealthReportJob), &d.Dictionary)
	return d, err
}

func validHealth(h lab.DeviceHealth) error {
	if h < lab.DeviceGood || h > lab.DeviceRetired {
		return fmt.Errorf("%w: device health %d", lab.ErrInvalid, h)
	}
	return nil
}

// checkDeviceRefs returns ErrInvalid naming the first of the device's type,
// worker or tags that does not exist.
func (q *queries) checkDeviceRefs(ctx context.Context, c conn, d lab.Device) error {
	if ok, err := q.exists(ctx, c, "SELECT 1 FROM device_types WHERE name = ?", d.DeviceType); err != nil || !ok {
		return firstErr(err, fmt.Errorf("%w: device type %q does not exist", lab.ErrInvalid, d.DeviceType))
	}
	if d.Worker != "" {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM workers WHERE name = ?", d.Worker); err != nil || !ok {
			return firstErr(err, fmt.Errorf("%w: worker %q does not exist", lab.ErrInvalid, d.Worker))
		}
	}
	return q.checkTags(ctx, c, d.Tags)
}

// checkTags returns ErrInvalid naming the first tag that does not exist.
func (q *queries) checkTags(ctx context.Context, c conn, tags []string) error {
	for _, t := range normSet(tags) {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM tags WHERE name = ?", t); err != nil || !ok {
			return firstErr(err, fmt.Errorf("%w: tag %q does not exist", lab.ErrInvalid, t))
		}
	}
	return nil
}

func (q *queries) setDeviceTags(ctx context.Context, c conn, hostname string, tags []string) error {
	if _, err := q.exec(ctx, c, "DELETE FROM device_tags WHERE device = ?", hostname); err != nil {
		return err
	}
	for _, t := range normSet(tags) {
		if _, err := q.exec(ctx, c, "INSERT INTO device_tags (device, tag) VALUES (?, ?)", hostname, t); err != nil {
			return err
		}
	}
	return nil
}

// CreateDevice adds a device with its tags and health as given. Its state
// starts Idle with no current job and no health report: those follow jobs.
func (q *queries) CreateDevice(ctx context.Context, d lab.Device) error {
	op := fmt.Sprintf("create device %q", d.Hostname)
	if d.Hostname == "" {
		return wrap(op, fmt.Errorf("%w: hostname is empty", lab.ErrInvalid))
	}
	if err := validHealth(d.Health); err != nil {
		return wrap(op, err)
	}
	return wrap(op, q.write(ctx, func(c conn) error {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM devices WHERE hostname = ?", d.Hostname); err != nil || ok {
			return firstErr(err, fmt.Errorf("%w: device exists", lab.ErrConflict))
		}
		if err := q.checkDeviceRefs(ctx, c, d); err != nil {
			return err
		}
		if _, err := q.exec(ctx, c, `INSERT INTO devices (hostname, device_type, worker, description, state, health, dictionary)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			d.Hostname, d.DeviceType, nullStr(d.Worker), d.Description, int(lab.DeviceIdle), int(d.Health), d.Dictionary); err != nil {
			return err
		}
		return q.setDeviceTags(ctx, c, d.Hostname, d.Tags)
	}))
}

// deviceTags loads the tags of the devices selected by the subquery sub
// (which selects hostnames) into byHost.
func (q *queries) loadDeviceTags(ctx context.Context, c conn, devs []lab.Device, sub string, args ...any) error {
	if len(devs) == 0 {
		return nil
	}
	rows, err := q.query(ctx, c, "SELECT device, tag FROM device_tags WHERE device IN ("+sub+") ORDER BY device, tag", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	idx := make(map[string]int, len(devs))
	for i, d := range devs {
		idx[d.Hostname] = i
	}
	for rows.Next() {
		var host, tag string
		if err := rows.Scan(&host, &tag); err != nil {
			return err
		}
		if i, ok := idx[host]; ok {
			devs[i].Tags = append(devs[i].Tags, tag)
		}
	}
	return rows.Err()
}

// GetDevice returns one device with its tags.
func (q *queries) GetDevice(ctx context.Context, hostname string) (lab.Device, error) {
	var d lab.Device
	err := q.view(ctx, func(c conn) error {
		var err error
		if d, err = q.getDevice(ctx, c, hostname); err != nil {
			return err
		}
		devs := []lab.Device{d}
		err = q.loadDeviceTags(ctx, c, devs, "?", hostname)
		d = devs[0]
		return err
	})
	return d, wrap(fmt.Sprintf("get device %q", hostname), err)
}

func (q *queries) getDevice(ctx context.Context, c conn, hostname string) (lab.Device, error) {
	d, err := scanDevice(q.row(ctx, c, "SELECT "+deviceCols+" FROM devices WHERE hostname = ?", hostname))
	return d, notFound(err)
}

// ListDevices returns the devices matching f, by hostname, with their tags.
func (q *queries) ListDevices(ctx context.Context, f store.DeviceFilter) ([]lab.Device, error) {
	var w where
	if f.DeviceType != "" {
		w.add("device_type = ?", f.DeviceType)
	}
	if f.Worker != "" {
		w.add("worker = ?", f.Worker)
	}
	if len(f.Health) > 0 {
		w.in("health", ints(f.Health))
	}
	if len(f.State) > 0 {
		w.in("state", ints(f.State))
	}
	var devs []lab.Device
	err := q.view(ctx, func(c conn) error {
		rows, err := q.query(ctx, c, "SELECT "+deviceCols+" FROM devices"+w.sql()+" ORDER BY hostname", w.args...)
		if devs, err = collect(rows, err, scanDevice); err != nil {
			return err
		}
		return q.loadDeviceTags(ctx, c, devs, "SELECT hostname FROM devices"+w.sql(), w.args...)
	})
	return devs, wrap("list devices", err)
}

// UpdateDevice changes description, type, worker, tags and dictionary.
func (q *queries) UpdateDevice(ctx context.Context, d lab.Device) error {
	return wrap(fmt.Sprintf("update device %q", d.Hostname), q.write(ctx, func(c conn) error {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM devices WHERE hostname = ?"+q.d.forUpdate, d.Hostname); err != nil || !ok {
			return firstErr(err, lab.ErrNotFound)
		}
		if err := q.checkDeviceRefs(ctx, c, d); err != nil {
			return err
		}
		if _, err := q.exec(ctx, c, "UPDATE devices SET description = ?, device_type = ?, worker = ?, dictionary = ? WHERE hostname = ?",
			d.Description, d.DeviceType, nullStr(d.Worker), d.Dictionary, d.Hostname); err != nil {
			return err
		}
		return q.setDeviceTags(ctx, c, d.Hostname, d.Tags)
	}))
}

// SetDeviceHealth sets a device's health and records the change; it
// records nothing and returns the zero transition when health is unchanged.
func (q *queries) SetDeviceHealth(ctx context.Context, hostname string, health lab.DeviceHealth, actor, reason string, job int64) (lab.DeviceTransition, error) {
	op := fmt.Sprintf("set health of device %q to %s", hostname, health)
	if err := validHealth(health); err != nil {
		return lab.DeviceTransition{}, wrap(op, err)
	}
	var tr lab.DeviceTransition
	err := q.write(ctx, func(c conn) error {
		tr = lab.DeviceTransition{}
		var cur lab.DeviceTransition
		err := q.row(ctx, c, "SELECT state, health FROM devices WHERE hostname = ?"+q.d.forUpdate, hostname).
			Scan(asInt(&cur.OldState), asInt(&cur.OldHealth))
		if err != nil {
			return notFound(err)
		}
		if cur.OldHealth == health {
			return nil
		}
		if job != 0 {
			if ok, err := q.exists(ctx, c, "SELECT 1 FROM jobs WHERE id = ?", job); err != nil || !ok {
				return firstErr(err, fmt.Errorf("%w: job %d does not exist", lab.ErrInvalid, job))
			}
		}
		if _, err := q.exec(ctx, c, "UPDATE devices SET health = ? WHERE hostname = ?", int(health), hostname); err != nil {
			return err
		}
		cur.Device, cur.Time, cur.Actor, cur.Reason, cur.Job = hostname, now(), actor, reason, job
		cur.NewHealth, cur.NewState = health, cur.OldState
		if err := q.row(ctx, c, `INSERT INTO device_transitions (device, time, actor, reason, old_health, new_health, old_state, new_state, job)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			hostname, q.d.ts(cur.Time), actor, reason, int(cur.OldHealth), int(health), int(cur.OldState), int(cur.NewState), nullID(job)).
			Scan(&cur.ID); err != nil {
			return err
		}
		tr = cur
		return nil
	})
	return tr, wrap(op, err)
}

// DeleteDevice removes a device with its tags and history (by cascade);
// ErrConflict while a job refers to it (requested it, ran on it or holds
// it): jobs are kept, so a device with jobs is retired rather than
// deleted.
func (q *queries) DeleteDevice(ctx context.Context, hostname string) error {
	return wrap(fmt.Sprintf("delete device %q", hostname), q.write(ctx, func(c conn) error {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM devices WHERE hostname = ?"+q.d.forUpdate, hostname); err != nil || !ok {
			return firstErr(err, lab.ErrNotFound)
		}
		if used, err := q.exists(ctx, c, "SELECT 1 FROM jobs WHERE actual_device = ? LIMIT 1", hostname); err != nil || used {
			return firstErr(err, fmt.Errorf("%w: jobs ran on it", lab.ErrConflict))
		}
		if used, err := q.exists(ctx, c, "SELECT 1 FROM jobs WHERE requested_device = ? LIMIT 1", hostname); err != nil || used {
			return firstErr(err, fmt.Errorf("%w: jobs requested it", lab.ErrConflict))
		}
		_, err := q.exec(ctx, c, "DELETE FROM devices WHERE hostname = ?", hostname)
		if kind(err) == errForeignKey { // a job appeared meanwhile
			return fmt.Errorf("%w: in use (%v)", lab.ErrConflict, err)
		}
		return err
	}))
}

// DeviceHistory returns a device's transitions, newest first; limit ≤ 0
// means all.
func (q *queries) DeviceHistory(ctx context.Context, hostname string, limit int) ([]lab.DeviceTransition, error) {
	var out []lab.DeviceTransition
	err := q.view(ctx, func(c conn) error {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM devices WHERE hostname = ?", hostname); err != nil || !ok {
			return firstErr(err, lab.ErrNotFound)
		}
		rows, err := q.query(ctx, c, `SELECT id, device, time, actor, reason, old_health, new_health, old_state, new_state, job
			FROM device_transitions WHERE device = ? ORDER BY id DESC`+limitClause(limit), hostname)
		out, err = collect(rows, err, func(r scanner) (lab.DeviceTransition, error) {
			var t lab.DeviceTransition
			return t, r.Scan(&t.ID, &t.Device, timeDest{&t.Time}, &t.Actor, &t.Reason, asInt(&t.OldHealth), asInt(&t.NewHealth),
				asInt(&t.OldState), asInt(&t.NewState), asInt(&t.Job))
		})
		return err
	})
	return out, wrap(fmt.Sprintf("history of device %q", hostname), err)
}

// limitClause returns " LIMIT n", or nothing for n ≤ 0.
func limitClause(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" LIMIT %d", n)
}

// where accumulates the conditions of a WHERE clause and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// in adds "col IN (…)" for the given integer values.
func (w *where) in(col string, vals []any) {
	w.add(col+" IN ("+placeholders(len(vals))+")", vals...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// ints converts enumeration values to query arguments.
func ints[T ~int](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = int(v)
	}
	return out
}
