package lavarpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/pyyaml"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/xmlrpc"
	"github.com/basalt-lab/basalt/internal/yamltree"
)

// labMethods are scheduler.devices.*, scheduler.device_types.*,
// scheduler.workers.*, scheduler.tags.*, scheduler.aliases.* and the older
// scheduler.* device methods.
func labMethods() []*Method {
	var all []*Method
	for _, ns := range [][]*Method{deviceMethods(), deviceTypeMethods(), workerMethods(), tagAliasMethods(), labLegacyMethods()} {
		all = append(all, ns...)
	}
	return all
}

// Basalt's permission model, as the methods below explain it where LAVA
// has per-object permissions.
const labPermsModel = "Basalt has no per-object permissions: device types, devices and workers are visible to everyone, " +
	"only superusers change them, and jobs are kept private with their visibility (personal, or {group: [...]}) " +
	"(docs/lava-clients.md)"

// labNotFound turns an app error meaning "no such object" into LAVA's 404
// fault with its message; other errors are returned as they are.
func labNotFound(err error, format string, args ...any) error {
	if errors.Is(err, lab.ErrNotFound) {
		return lavaFault(http.StatusNotFound, format, args...)
	}
	return err
}

// labUser is the caller as LAVA names it in messages.
func (c *Call) labUser() string {
	if c.P.Kind == auth.KindUser {
		return c.P.Username
	}
	return "AnonymousUser"
}

// labPerm checks what LAVA's check_perm(perm) checks: an authenticated
// caller (the method's Auth) holding perm, which in Basalt only
// superusers hold.
func (c *Call) labPerm(perm string) error {
	if auth.IsAdmin(c.P) {
		return nil
	}
	return lavaFault(http.StatusForbidden, "User '%s' is missing permission %s.", c.labUser(), perm)
}

// labAdmin checks what LAVA's can_change checks on one object (only
// superusers, in Basalt) and answers LAVA's 403 message otherwise, to
// anonymous callers too.
func (c *Call) labAdmin(format string, args ...any) error {
	if auth.IsAdmin(c.P) {
		return nil
	}
	return lavaFault(http.StatusForbidden, format, args...)
}

// labStaff checks what LAVA's check_staff checks: 401 for anonymous
// callers (the method's Auth), 403 "forbidden" for others who are not
// administrators.
func (c *Call) labStaff() error {
	if auth.IsAdmin(c.P) {
		return nil
	}
	return lavaFault(http.StatusForbidden, "forbidden")
}

// labStrings reads the string parameters at idx (a missing or None one
// is "").
func (c *Call) labStrings(idx ...int) ([]string, error) {
	p := c.labParams()
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = p.str(i)
	}
	return out, p.err
}

// labParams reads a call's parameters one after the other and keeps the
// first fault (a parameter of the wrong type): a method reads all the
// parameters it needs, in the order LAVA checks them, then checks err
// once.
type labParams struct {
	c   *Call
	err error
}

func (c *Call) labParams() *labParams { return &labParams{c: c} }

// str reads a string parameter ("" when missing or None).
func (p *labParams) str(i int) string { return labRead(p, p.c.String, i, "") }

// boolean reads a boolean parameter (def when missing or None).
func (p *labParams) boolean(i int, def bool) bool { return labRead(p, p.c.Bool, i, def) }

// integer reads an integer parameter (def when missing or None).
func (p *labParams) integer(i int, def int64) int64 { return labRead(p, p.c.Int, i, def) }

// optStr, optBool and optInt read an optional parameter: nil when it was
// not given or is None.
func (p *labParams) optStr(i int) *string { return labOpt(p, p.c.String, i) }
func (p *labParams) optBool(i int) *bool  { return labOpt(p, p.c.Bool, i) }
func (p *labParams) optInt(i int) *int64  { return labOpt(p, p.c.Int, i) }

// labRead reads parameter i with read (def when missing or None) unless
// a parameter read before was refused.
func labRead[T any](p *labParams, read func(int, T) (T, error), i int, def T) T {
	if p.err != nil {
		return def
	}
	v, err := read(i, def)
	p.err = err
	return v
}

// labOpt reads parameter i with read, or gives nil when it was not given
// or is None.
func labOpt[T any](p *labParams, read func(int, T) (T, error), i int) *T {
	if !p.c.Has(i) {
		return nil
	}
	var zero T
	v := labRead(p, read, i, zero)
	return &v
}

// labArg reads string parameter i, the name of an object, and finds the
// object with find (which answers LAVA's 404 fault when there is none).
func labArg[T any](c *Call, i int, find func(*Call, string) (T, error)) (string, T, error) {
	name, err := c.String(i, "")
	if err != nil {
		var none T
		return "", none, err
	}
	v, err := find(c, name)
	return name, v, err
}

// exists is find without the object: whether it exists, as LAVA's 404
// fault when it does not.
func exists[T any](find func(*Call, string) (T, error)) func(*Call, string) error {
	return func(c *Call, name string) error {
		_, err := find(c, name)
		return err
	}
}

// labDelete is a delete method: LAVA's permission perm, then the object
// parameter 0 names deleted by del; notFound is the 404 fault's message
// (%s: the name).
func labDelete(perm, notFound string, del func(*app.App, context.Context, auth.Principal, string) error) func(c *Call) (any, error) {
	return func(c *Call) (any, error) {
		if err := c.labPerm(perm); err != nil {
			return nil, err
		}
		name, err := c.String(0, "")
		if err != nil {
			return nil, err
		}
		return nil, labNotFound(del(c.App, c.ctx, c.P, name), notFound, name)
	}
}

// labHostnames are the hostnames of the devices keep keeps (all with
// keep nil), in order; [] for none.
func labHostnames(devs []lab.Device, keep func(lab.Device) bool) []string {
	hosts := []string{}
	for _, d := range devs {
		if keep == nil || keep(d) {
			hosts = append(hosts, d.Hostname)
		}
	}
	return hosts
}

// labJob is a job id as LAVA returns it: None for none (and for a job the
// caller may not see, which the app gives as 0).
func labJob(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// labDeviceHealth parses LAVA's upper-case device health names (GOOD,
// UNKNOWN, LOOPING, BAD, MAINTENANCE, RETIRED), exactly as LAVA's
// HEALTH_REVERSE does.
func labDeviceHealth(s string) (lab.DeviceHealth, bool) {
	h, err := lab.ParseDeviceHealth(s)
	if err != nil || s != strings.ToUpper(h.String()) {
		return 0, false
	}
	return h, true
}

// labStatus is LAVA's one-word device status of the older methods
// (build_device_status_display): idle, offline, retired, reserved or
// running.
func labStatus(d lab.Device) string {
	switch d.State {
	case lab.DeviceIdle:
		switch {
		case d.Health.Schedulable():
			return "idle"
		case d.Health == lab.DeviceRetired:
			return "retired"
		}
		return "offline"
	case lab.DeviceReserved:
		return "reserved"
	}
	return "running"
}

// labDevices returns every device as the caller may see it (all of them,
// in Basalt), by hostname.
func (c *Call) labDevices(f store.DeviceFilter) ([]lab.Device, error) {
	devs, err := c.App.ListDevices(c.ctx, c.P, f)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(devs, func(a, b lab.Device) int { return strings.Compare(a.Hostname, b.Hostname) })
	return devs, nil
}

// labContext reads a job context given as a YAML string (LAVA's context
// argument): a mapping, or nothing (None, empty text or null). bad words
// the fault as the method does.
func labContext(c *Call, i int, bad func(ctx, why string) error) (map[string]any, error) {
	s, err := c.String(i, "")
	if err != nil || strings.TrimSpace(s) == "" {
		return nil, err
	}
	root, err := yamltree.Read([]byte(s), yamltree.Limits{MaxBytes: 64 << 10, MaxDepth: 16, MaxKeys: 1000, MaxExpansion: 10000})
	if err != nil {
		return nil, bad(s, err.Error())
	}
	switch {
	case root == nil || root.Kind == yamltree.Null:
		return nil, nil
	case root.Kind == yamltree.Map:
		return labYAMLValue(root).(map[string]any), nil
	}
	return nil, bad(s, "the context must be a mapping, not "+root.Describe())
}

// labYAMLValue converts a YAML tree to plain Go values.
func labYAMLValue(n *yamltree.Node) any {
	switch n.Kind {
	case yamltree.Map:
		m := make(map[string]any, len(n.Entries))
		for _, e := range n.Entries {
			m[e.Key] = labYAMLValue(e.Value)
		}
		return m
	case yamltree.Seq:
		s := make([]any, len(n.Items))
		for i, it := range n.Items {
			s[i] = labYAMLValue(it)
		}
		return s
	case yamltree.Scalar:
		return n.Value
	}
	return nil
}

// labDictProblem is the message of an app error about a device
// dictionary, with each problem's position (as the fault of any method).
func labDictProblem(c *Call, err error) string {
	_, msg := c.Server.fault(c.method.Name, err)
	return msg
}

// ---- scheduler.devices.*

func deviceMethods() []*Method {
	host := Param{Name: "hostname", Type: "string"}
	return append([]*Method{
		{Name: "scheduler.devices.add", Auth: true, Returns: "nil", Call: devicesAdd,
			Params: []Param{host, {Name: "type_name", Type: "string"}, {Name: "worker_hostname", Type: "string"},
				{Name: "user_name", Type: "string", Optional: true}, {Name: "group_name", Type: "string", Optional: true},
				{Name: "public", Type: "boolean", Optional: true}, {Name: "health", Type: "string", Optional: true},
				{Name: "description", Type: "string", Optional: true}},
			Help: "[superuser only] Adds a device of device type type_name on worker worker_hostname, Idle, with health " +
				"(GOOD, UNKNOWN, LOOPING, BAD, MAINTENANCE or RETIRED; default UNKNOWN, as in LAVA) and description. " +
				"user_name, group_name and public are accepted and ignored, as in LAVA. The device needs a dictionary " +
				"(scheduler.devices.set_dictionary) before it runs jobs. Returns None."},
		{Name: "scheduler.devices.delete", Auth: true, Returns: "nil", Params: []Param{host},
			Call: labDelete("lava_scheduler_app.delete_device", "Device '%s' was not found.", (*app.App).DeleteDevice),
			Help: "[superuser only] Removes a device with its tags and history. Returns None. " +
				"Unlike LAVA, which deletes the device's jobs with it, Basalt keeps every job: a device that jobs ran on " +
				"or requested is not deleted (fault 409); set its health to RETIRED instead."},
		{Name: "scheduler.devices.update", Returns: "nil", Call: devicesUpdate,
			Params: []Param{host, {Name: "worker_hostname", Type: "string", Optional: true}, {Name: "user_name", Type: "string", Optional: true},
				{Name: "group_name", Type: "string", Optional: true}, {Name: "public", Type: "boolean", Optional: true},
				{Name: "health", Type: "string", Optional: true}, {Name: "description", Type: "string", Optional: true},
				{Name: "device_type", Type: "string", Optional: true}, {Name: "reason", Type: "string", Optional: true}},
			Help: "[superuser only] Updates the parameters given (not None): worker, health (GOOD, UNKNOWN, LOOPING, BAD, " +
				"MAINTENANCE or RETIRED, recorded in the device's history with reason, default \"xmlrpc api\"), description " +
				"and device type (the dictionary must then be valid for the new type). user_name must name a user but is " +
				"not kept (Basalt records no physical owner); group_name and public are ignored, as in LAVA. Returns None."},
		{Name: "scheduler.devices.list", Returns: "array", Call: devicesList,
			Params: []Param{{Name: "show_all", Type: "boolean", Optional: true}, {Name: "offline_info", Type: "boolean", Optional: true}},
			Help: "Lists the devices, retired ones only with show_all, by hostname: [{hostname, type, health, state, " +
				"current_job, pipeline}] with LAVA's display names (\"Good\", \"Idle\"). current_job is None when the device " +
				"is free, and also when it runs a job the caller may not see. offline_info is accepted and, as in LAVA, adds nothing."},
		{Name: "scheduler.devices.show", Returns: "struct", Params: []Param{host}, Call: devicesShow,
			Help: "Shows a device: {hostname, device_type, health, state, health_job (its type has a health check), " +
				"description, pipeline (True), has_device_dict, worker (None when none), current_job (None when free or " +
				"running a job the caller may not see), tags, permissions ([]: " + labPermsModel + ")}."},
		{Name: "scheduler.devices.get_dictionary", Returns: "base64", Call: devicesGetDictionary,
			Params: []Param{host, {Name: "render", Type: "boolean", Optional: true}, {Name: "context", Type: "string", Optional: true}},
			Help: "[superuser only] The device dictionary (Jinja2), or with render the device configuration it renders " +
				"(YAML) with its device-type template and context, a job context as a YAML string ({arch: arm64}). " +
				"Unlike LAVA, Basalt shows dictionaries and configurations to superusers only: they hold lab secrets " +
				"(power commands, addresses). Fault 404 when the device has no dictionary."},
		{Name: "scheduler.devices.set_dictionary", Returns: "boolean", Call: devicesSetDictionary,
			Params: []Param{host, {Name: "dictionary", Type: "string"}},
			Help: "[superuser only] Replaces the device dictionary. Unlike LAVA, Basalt validates it for the device's " +
				"type first (it must render with its template) and refuses a broken one with fault 400 naming each " +
				"problem and its line. Returns True."},
		{Name: "scheduler.devices.tags.add", Auth: true, Returns: "nil", Call: devicesTagsAdd,
			Params: []Param{host, {Name: "name", Type: "string"}},
			Help:   "[superuser only] Adds tag name to the device, creating the tag when it does not exist (as LAVA). Returns None."},
		{Name: "scheduler.devices.tags.delete", Returns: "nil", Call: devicesTagsDelete,
			Params: []Param{host, {Name: "name", Type: "string"}},
			Help:   "[superuser only] Removes tag name from the device. Returns None."},
		{Name: "scheduler.devices.tags.list", Returns: "array", Params: []Param{host}, Call: devicesTagsList,
			Help: "The names of the device's tags, sorted."},
	}, permsMethods(labPerms{ns: "scheduler.devices", param: host, what: "device", short: "device", noun: "device",
		find: exists((*Call).labDevice)})...)
}

func devicesAdd(c *Call) (any, error) {
	if err := c.labPerm("lava_scheduler_app.change_device"); err != nil {
		return nil, err
	}
	p := c.labParams()
	host, typ, worker := p.str(0), p.str(1), p.str(2)
	p.boolean(5, true) // public: ignored, as user_name and group_name
	health, desc := p.optStr(6), p.str(7)
	if p.err != nil {
		return nil, p.err
	}
	if _, err := c.App.GetDeviceType(c.ctx, typ); err != nil {
		return nil, labNotFound(err, "DeviceType '%s' was not found.", typ)
	}
	if _, err := c.App.GetWorker(c.ctx, worker); err != nil {
		return nil, labNotFound(err, "Worker '%s' was not found.", worker)
	}
	h := lab.DeviceUnknown
	if health != nil {
		var ok bool
		if h, ok = labDeviceHealth(*health); !ok {
			return nil, lavaFault(http.StatusBadRequest, "Invalid health")
		}
	}
	err := c.App.CreateDevice(c.ctx, c.P, lab.Device{Hostname: host, DeviceType: typ, Worker: worker, Description: desc, Health: h}, "xmlrpc api")
	if errors.Is(err, lab.ErrConflict) {
		return nil, lavaFault(http.StatusBadRequest, "Bad request: device already exists?")
	}
	return nil, err
}

// labDevice returns a device with LAVA's 404 fault when it does not exist.
func (c *Call) labDevice(host string) (lab.Device, error) {
	d, err := c.App.GetDevice(c.ctx, c.P, host)
	return d, labNotFound(err, "Device '%s' was not found.", host)
}

// labDeviceAdmin checks that the device exists, then LAVA's admin
// permission on it (superusers only, in Basalt).
func (c *Call) labDeviceAdmin(host string) error {
	if _, err := c.labDevice(host); err != nil {
		return err
	}
	return c.labAdmin("User '%s' needs admin permission on device %s.", c.labUser(), host)
}

func devicesUpdate(c *Call) (any, error) {
	p := c.labParams()
	host, worker, user := p.str(0), p.optStr(1), p.optStr(2)
	p.optStr(3) // group_name: ignored, as in LAVA
	health, desc, typ, reason := p.optStr(5), p.optStr(6), p.optStr(7), p.optStr(8)
	p.boolean(4, true) // public: ignored
	if p.err != nil {
		return nil, p.err
	}
	if err := c.labDeviceAdmin(host); err != nil {
		return nil, err
	}
	if worker != nil {
		if _, err := c.App.GetWorker(c.ctx, *worker); err != nil {
			return nil, labNotFound(err, "Unable to find worker '%s'", *worker)
		}
	}
	if user != nil {
		if _, err := c.App.GetUser(c.ctx, c.P, *user); err != nil {
			return nil, labNotFound(err, "Unable to find username '%s'", *user)
		}
	}
	var h lab.DeviceHealth
	if health != nil {
		var ok bool
		if h, ok = labDeviceHealth(*health); !ok {
			return nil, lavaFault(http.StatusBadRequest, "Health '%s' is invalid", *health)
		}
	}
	if typ != nil {
		if _, err := c.App.GetDeviceType(c.ctx, *typ); err != nil {
			return nil, labNotFound(err, "Unable to find device-type '%s'", *typ)
		}
	}
	if worker != nil || desc != nil || typ != nil {
		_, err := c.App.UpdateDeviceWith(c.ctx, c.P, host, func(d *lab.Device) error {
			if worker != nil {
				d.Worker = *worker
			}
			if desc != nil {
				d.Description = *desc
			}
			if typ != nil {
				d.DeviceType = *typ
			}
			return nil
		})
		if err != nil {
			return nil, labNotFound(err, "Device '%s' was not found.", host)
		}
	}
	if health != nil {
		why := "xmlrpc api"
		if reason != nil && *reason != "" {
			why = *reason
		}
		if _, err := c.App.SetDeviceHealth(c.ctx, c.P, host, h, why); err != nil {
			return nil, labNotFound(err, "Device '%s' was not found.", host)
		}
	}
	return nil, nil
}

func devicesList(c *Call) (any, error) {
	p := c.labParams()
	all := p.boolean(0, false)
	p.boolean(1, false) // offline_info: adds nothing, as in LAVA
	if p.err != nil {
		return nil, p.err
	}
	devs, err := c.labDevices(store.DeviceFilter{})
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, d := range devs {
		if d.Health == lab.DeviceRetired && !all {
			continue
		}
		out = append(out, xmlrpc.Struct{
			{Name: "hostname", Value: d.Hostname},
			{Name: "type", Value: d.DeviceType},
			{Name: "health", Value: d.Health.String()},
			{Name: "state", Value: d.State.String()},
			{Name: "current_job", Value: labJob(d.CurrentJob)},
			{Name: "pipeline", Value: true},
		})
	}
	return out, nil
}

func devicesShow(c *Call) (any, error) {
	host, d, err := labArg(c, 0, (*Call).labDevice)
	if err != nil {
		return nil, err
	}
	dt, err := c.App.GetDeviceType(c.ctx, d.DeviceType)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", host, err)
	}
	hasDict, err := c.App.DeviceHasDictionary(c.ctx, host)
	if err != nil {
		return nil, labNotFound(err, "Device '%s' was not found.", host)
	}
	tags := append([]string{}, d.Tags...)
	slices.Sort(tags)
	return xmlrpc.Struct{
		{Name: "hostname", Value: d.Hostname},
		{Name: "device_type", Value: d.DeviceType},
		{Name: "health", Value: d.Health.String()},
		{Name: "state", Value: d.State.String()},
		{Name: "health_job", Value: dt.HealthCheck != ""},
		{Name: "description", Value: d.Description},
		{Name: "pipeline", Value: true},
		{Name: "has_device_dict", Value: hasDict},
		{Name: "worker", Value: orNone(d.Worker)},
		{Name: "current_job", Value: labJob(d.CurrentJob)},
		{Name: "tags", Value: tags},
		{Name: "permissions", Value: []any{}},
	}, nil
}

func devicesGetDictionary(c *Call) (any, error) {
	p := c.labParams()
	host, render := p.str(0), p.boolean(1, false)
	if p.err != nil {
		return nil, p.err
	}
	if _, err := c.labDevice(host); err != nil {
		return nil, err
	}
	if !auth.IsAdmin(c.P) {
		return nil, lavaFault(http.StatusForbidden, "Device '%s' not available to user '%s': Basalt shows device dictionaries to superusers only (they hold lab secrets).", host, c.labUser())
	}
	jobCtx, err := labContext(c, 2, func(ctx, why string) error {
		return lavaFault(http.StatusBadRequest, "Job Context '%s' is not valid: %s", ctx, why)
	})
	if err != nil {
		return nil, err
	}
	var text string
	if render {
		text, err = c.App.RenderDeviceConfig(c.ctx, c.P, host, jobCtx)
	} else {
		text, err = c.App.DeviceDictionary(c.ctx, c.P, host)
		if err == nil && strings.TrimSpace(text) == "" {
			err = app.ErrNoDictionary
		}
	}
	if errors.Is(err, app.ErrNoDictionary) {
		return nil, lavaFault(http.StatusNotFound, "Device '%s' does not have a configuration", host)
	}
	if err != nil {
		return nil, labNotFound(err, "Device '%s' was not found.", host)
	}
	return xmlrpc.Binary(text), nil
}

func devicesSetDictionary(c *Call) (any, error) {
	if _, err := c.labSetDictionary((*Call).labDeviceAdmin); err != nil {
		return nil, err
	}
	return true, nil
}

// labSetDictionary replaces the dictionary of the device parameter 0
// names with parameter 1, once admin (the method's check of the device
// and of the caller's rights) lets it, and returns the hostname.
func (c *Call) labSetDictionary(admin func(c *Call, host string) error) (string, error) {
	s, err := c.labStrings(0, 1)
	if err != nil {
		return "", err
	}
	host, dict := s[0], s[1]
	if err := admin(c, host); err != nil {
		return "", err
	}
	return host, labNotFound(c.App.SetDeviceDictionary(c.ctx, c.P, host, dict), "Device '%s' was not found.", host)
}

func devicesTagsAdd(c *Call) (any, error) {
	if err := c.labPerm("lava_scheduler_app.add_tag"); err != nil {
		return nil, err
	}
	s, err := c.labStrings(0, 1)
	if err != nil {
		return nil, err
	}
	host, tag := s[0], s[1]
	if _, err := c.labDevice(host); err != nil {
		return nil, err
	}
	if _, err := c.App.GetTag(c.ctx, tag); errors.Is(err, lab.ErrNotFound) {
		if err := c.App.CreateTag(c.ctx, c.P, lab.Tag{Name: tag}); err != nil && !errors.Is(err, lab.ErrConflict) {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	_, err = c.App.UpdateDeviceWith(c.ctx, c.P, host, func(d *lab.Device) error {
		d.Tags = append(d.Tags, tag)
		return nil
	})
	return nil, labNotFound(err, "Device '%s' was not found.", host)
}

func devicesTagsDelete(c *Call) (any, error) {
	s, err := c.labStrings(0, 1)
	if err != nil {
		return nil, err
	}
	host, tag := s[0], s[1]
	if err := c.labDeviceAdmin(host); err != nil {
		return nil, err
	}
	if _, err := c.labTag(tag); err != nil {
		return nil, err
	}
	_, err = c.App.UpdateDeviceWith(c.ctx, c.P, host, func(d *lab.Device) error {
		d.Tags = slices.DeleteFunc(d.Tags, func(t string) bool { return t == tag })
		return nil
	})
	return nil, labNotFound(err, "Device '%s' was not found.", host)
}

func devicesTagsList(c *Call) (any, error) {
	_, d, err := labArg(c, 0, (*Call).labDevice)
	if err != nil {
		return nil, err
	}
	tags := append([]string{}, d.Tags...)
	slices.Sort(tags)
	return tags, nil
}

// ---- perms_add, perms_delete and perms_list, of devices and device types

// labPerms are the objects of one kind that have permission methods.
type labPerms struct {
	ns    string // the methods' namespace: scheduler.devices
	param Param  // the parameter naming an object
	what  string // an object in the help texts: "device type"
	short string // and in short: "type"
	noun  string // an object in LAVA's faults: "device-type"
	// find checks that the object exists, with LAVA's 404 fault.
	find func(c *Call, name string) error
}

// permsMethods are the permission methods of objects of one kind. Basalt
// has no per-object permissions (labPermsModel): adding one is refused,
// deleting one finds the object and the group and does nothing, and the
// list is empty.
func permsMethods(o labPerms) []*Method {
	perm := []Param{o.param, {Name: "group", Type: "string"}, {Name: "permission", Type: "string"}}
	return []*Method{
		{Name: o.ns + ".perms_add", Auth: true, Returns: "nil", Params: perm,
			Help: "[superuser only] Refused with fault 400: " + labPermsModel + ".",
			Call: func(c *Call) (any, error) {
				s, err := o.args(c, 0, 1, 2)
				if err != nil {
					return nil, err
				}
				if err := c.labGroup(s[1]); err != nil {
					return nil, err
				}
				return nil, lavaFault(http.StatusBadRequest, "Permission '%s' for group '%s' on %s '%s' cannot be set: %s.", s[2], s[1], o.noun, s[0], labPermsModel)
			}},
		{Name: o.ns + ".perms_delete", Auth: true, Returns: "nil", Params: perm,
			Help: "[superuser only] Removes a group's permission on the " + o.what + ": none is ever set in Basalt, so this " +
				"does nothing once the " + o.short + " and the group are found. Returns None.",
			Call: func(c *Call) (any, error) {
				s, err := o.args(c, 0, 1, 2)
				if err != nil {
					return nil, err
				}
				return nil, c.labGroup(s[1])
			}},
		{Name: o.ns + ".perms_list", Auth: true, Returns: "array", Params: []Param{o.param},
			Help: "[superuser only] The groups' permissions on the " + o.what + ", [{name, group}]: always [] (" + labPermsModel + ").",
			Call: func(c *Call) (any, error) {
				if _, err := o.args(c, 0); err != nil {
					return nil, err
				}
				return []any{}, nil
			}},
	}
}

// args checks what every permission method checks first: an
// administrator (LAVA's check_staff), the string parameters idx, the
// first naming an object that exists. It returns the parameters.
func (o labPerms) args(c *Call, idx ...int) ([]string, error) {
	if err := c.labStaff(); err != nil {
		return nil, err
	}
	s, err := c.labStrings(idx...)
	if err != nil {
		return nil, err
	}
	return s, o.find(c, s[0])
}

// labGroup checks that a group exists, with LAVA's 404 fault.
func (c *Call) labGroup(name string) error {
	_, err := c.App.GetGroup(c.ctx, c.P, name)
	return labNotFound(err, "Group '%s' was not found.", name)
}

// ---- scheduler.device_types.*

func deviceTypeMethods() []*Method {
	name := Param{Name: "name", Type: "string"}
	return append([]*Method{
		{Name: "scheduler.device_types.add", Auth: true, Returns: "nil", Call: deviceTypesAdd,
			Params: []Param{name, {Name: "description", Type: "string"}, {Name: "display", Type: "boolean"},
				{Name: "owners_only", Type: "boolean"}, {Name: "health_frequency", Type: "int"}, {Name: "health_denominator", Type: "string"}},
			Help: "[superuser only] Adds a device type: description, display (shown in listings), owners_only (ignored, " +
				"as in LAVA), health_frequency and health_denominator (\"hours\" or \"jobs\"): a health check every so many " +
				"hours or jobs. Its devices need a template (scheduler.device_types.set_template, or one of the server's " +
				"directory or of those Basalt ships). Returns None."},
		{Name: "scheduler.device_types.update", Returns: "nil", Call: deviceTypesUpdate,
			Params: []Param{name, {Name: "description", Type: "string", Optional: true}, {Name: "display", Type: "boolean", Optional: true},
				{Name: "owners_only", Type: "boolean", Optional: true}, {Name: "health_frequency", Type: "int", Optional: true},
				{Name: "health_denominator", Type: "string", Optional: true}, {Name: "health_disabled", Type: "boolean", Optional: true}},
			Help: "[superuser only] Updates the fields given (not None): description, display, health_frequency, " +
				"health_denominator (\"hours\" or \"jobs\") and health_disabled. owners_only is ignored, as in LAVA. Returns None."},
		{Name: "scheduler.device_types.list", Returns: "array", Call: deviceTypesList,
			Params: []Param{{Name: "show_all", Type: "boolean", Optional: true}},
			Help: "Lists the device types by name: [{name, devices (how many), installed (True), template (a template of " +
				"that name exists: stored, in the server's directory or shipped)}]; show_all adds the templates that no " +
				"device type uses yet (base templates aside) as {name, devices: 0, installed: False, template: True}."},
		{Name: "scheduler.device_types.show", Returns: "struct", Params: []Param{name}, Call: deviceTypesShow,
			Help: "Shows a device type: {name, description, display, health_disabled, health_denominator (\"hours\" or " +
				"\"jobs\"), health_frequency, aliases, devices (hostnames), default_template (the template rendering uses " +
				"is Basalt's own, not one stored or in the server's directory), permissions ([]: " + labPermsModel + ")}."},
		{Name: "scheduler.device_types.devices", Returns: "array", Call: deviceTypesDevices,
			Params: []Param{name, {Name: "health", Type: "string", Optional: true}},
			Help: "The devices of a device type, [{hostname, health, state}], by hostname; health (GOOD, UNKNOWN, " +
				"LOOPING, BAD, MAINTENANCE or RETIRED, any case) keeps those with that health."},
		{Name: "scheduler.device_types.get_template", Returns: "base64", Params: []Param{name}, Call: deviceTypesGetTemplate,
			Help: "The Jinja2 template that rendering uses for name (a device type, or any template's name; \".jinja2\" " +
				"may be left out), searched as for jobs: stored (set_template), the server's template directory, then " +
				"the templates Basalt ships. Fault 404 when there is none."},
		{Name: "scheduler.device_types.set_template", Returns: "nil", Call: deviceTypesSetText((*app.App).SetDeviceTypeTemplate),
			Params: []Param{name, {Name: "config", Type: "string"}},
			Help: "[superuser only] Stores config as the Jinja2 template of device type name, in Basalt's database " +
				"(LAVA writes a file); it is found before the server's directory and Basalt's own. At most 1 MiB, and " +
				"its syntax is checked (fault 400). An empty config removes the stored template. Returns None."},
		{Name: "scheduler.device_types.get_health_check", Returns: "base64", Params: []Param{name}, Call: deviceTypesGetHealthCheck,
			Help: "The health-check job definition (YAML) of device type name. Basalt keeps one per device type, " +
				"in its database (LAVA: a file per template name). Fault 404 when the type has none."},
		{Name: "scheduler.device_types.set_health_check", Returns: "nil", Call: deviceTypesSetText((*app.App).SetHealthCheck),
			Params: []Param{name, {Name: "config", Type: "string"}},
			Help: "[superuser only] Stores config as the health-check job of device type name. Unlike LAVA, Basalt " +
				"validates it as a job for that type first (fault 400 naming each problem and its line). An empty " +
				"config removes the health check. Returns None."},
		{Name: "scheduler.device_types.aliases.add", Auth: true, Returns: "nil", Call: deviceTypesAliasesAdd,
			Params: []Param{name, {Name: "alias", Type: "string"}},
			Help:   "[superuser only] Makes alias an alias of device type name, creating it, or moving it from another type as LAVA does. Returns None."},
		{Name: "scheduler.device_types.aliases.delete", Returns: "nil", Call: deviceTypesAliasesDelete,
			Params: []Param{name, {Name: "alias", Type: "string"}},
			Help: "[superuser only] Removes alias from device type name. Basalt's aliases always name a type, so the alias " +
				"is deleted (LAVA keeps it without a type); an alias of another type is not found (fault 404). Returns None."},
		{Name: "scheduler.device_types.aliases.list", Returns: "array", Params: []Param{name}, Call: deviceTypesAliasesList,
			Help: "The aliases of device type name, sorted."},
	}, permsMethods(labPerms{ns: "scheduler.device_types", param: name, what: "device type", short: "type", noun: "device-type",
		find: exists((*Call).labDeviceType)})...)
}

// labDeviceType returns a device type with LAVA's 404 fault when it does
// not exist.
func (c *Call) labDeviceType(name string) (lab.DeviceType, error) {
	dt, err := c.App.GetDeviceType(c.ctx, name)
	return dt, labNotFound(err, "Device-type '%s' was not found.", name)
}

// labDeviceTypeAdmin checks that the device type exists, then LAVA's
// permission perm ("admin" or "change") on it (superusers only, in
// Basalt).
func (c *Call) labDeviceTypeAdmin(name, perm string) error {
	if _, err := c.labDeviceType(name); err != nil {
		return err
	}
	return c.labAdmin("No '%s' permissions for device-type '%s'.", perm, name)
}

// labAliasesOf returns the names of the aliases of device type name.
func (c *Call) labAliasesOf(name string) ([]string, error) {
	aliases, err := c.App.ListAliases(c.ctx)
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, a := range aliases {
		if a.DeviceType == name {
			names = append(names, a.Name)
		}
	}
	return names, nil
}

// labDenominator parses LAVA's health_denominator ("hours" or "jobs",
// exactly).
func labDenominator(s string) (lab.HealthDenominator, error) {
	switch s {
	case "hours":
		return lab.PerHours, nil
	case "jobs":
		return lab.PerJobs, nil
	}
	return 0, lavaFault(http.StatusBadRequest, "Bad request: invalid health_denominator.")
}

func deviceTypesAdd(c *Call) (any, error) {
	if err := c.labPerm("lava_scheduler_app.change_devicetype"); err != nil {
		return nil, err
	}
	p := c.labParams()
	name, desc, denominator := p.str(0), p.str(1), p.str(5)
	display := p.boolean(2, true)
	p.boolean(3, false) // owners_only: ignored, as in LAVA
	freq := p.integer(4, 24)
	if p.err != nil {
		return nil, p.err
	}
	den, err := labDenominator(denominator)
	if err != nil {
		return nil, err
	}
	err = c.App.CreateDeviceType(c.ctx, c.P, lab.DeviceType{Name: name, Description: desc, Hidden: !display,
		HealthFrequency: int(freq), HealthDenominator: den})
	if errors.Is(err, lab.ErrConflict) {
		return nil, lavaFault(http.StatusBadRequest, "Bad request: device-type name is already used.")
	}
	return nil, err
}

func deviceTypesUpdate(c *Call) (any, error) {
	p := c.labParams()
	name, desc, den, display, disabled := p.str(0), p.optStr(1), p.optStr(5), p.optBool(2), p.optBool(6)
	p.boolean(3, false) // owners_only: ignored, as in LAVA
	freq := p.optInt(4)
	if p.err != nil {
		return nil, p.err
	}
	if err := c.labDeviceTypeAdmin(name, "admin"); err != nil {
		return nil, err
	}
	var d lab.HealthDenominator
	if den != nil {
		var err error
		if d, err = labDenominator(*den); err != nil {
			return nil, err
		}
	}
	_, err := c.App.UpdateDeviceTypeWith(c.ctx, c.P, name, func(dt *lab.DeviceType) error {
		if desc != nil {
			dt.Description = *desc
		}
		if display != nil {
			dt.Hidden = !*display
		}
		if freq != nil {
			dt.HealthFrequency = int(*freq)
		}
		if den != nil {
			dt.HealthDenominator = d
		}
		if disabled != nil {
			dt.DisableHealthCheck = *disabled
		}
		return nil
	})
	return nil, labNotFound(err, "Device-type '%s' was not found.", name)
}

func deviceTypesList(c *Call) (any, error) {
	all, err := c.Bool(0, false)
	if err != nil {
		return nil, err
	}
	dts, err := c.App.ListDeviceTypes(c.ctx)
	if err != nil {
		return nil, err
	}
	devs, err := c.labDevices(store.DeviceFilter{})
	if err != nil {
		return nil, err
	}
	templates, err := c.App.DeviceTypeTemplateNames(c.ctx)
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	for _, d := range devs {
		count[d.DeviceType]++
	}
	out := []any{}
	installed := map[string]bool{}
	for _, dt := range dts {
		installed[dt.Name] = true
		out = append(out, xmlrpc.Struct{
			{Name: "name", Value: dt.Name},
			{Name: "devices", Value: count[dt.Name]},
			{Name: "installed", Value: true},
			{Name: "template", Value: slices.Contains(templates, dt.Name)},
		})
	}
	if all {
		for _, t := range templates {
			if installed[t] || strings.HasPrefix(t, "base") {
				continue
			}
			out = append(out, xmlrpc.Struct{
				{Name: "name", Value: t},
				{Name: "devices", Value: 0},
				{Name: "installed", Value: false},
				{Name: "template", Value: true},
			})
		}
	}
	return out, nil
}

func deviceTypesShow(c *Call) (any, error) {
	name, dt, err := labArg(c, 0, (*Call).labDeviceType)
	if err != nil {
		return nil, err
	}
	names, err := c.labAliasesOf(name)
	if err != nil {
		return nil, err
	}
	devs, err := c.labDevices(store.DeviceFilter{DeviceType: name})
	if err != nil {
		return nil, err
	}
	_, from, err := c.App.DeviceTypeTemplateText(c.ctx, name)
	if err != nil && !errors.Is(err, lab.ErrNotFound) && !errors.Is(err, lab.ErrInvalid) {
		return nil, err
	}
	return xmlrpc.Struct{
		{Name: "name", Value: dt.Name},
		{Name: "description", Value: dt.Description},
		{Name: "display", Value: !dt.Hidden},
		{Name: "health_disabled", Value: dt.DisableHealthCheck},
		{Name: "health_denominator", Value: dt.HealthDenominator.String()},
		{Name: "health_frequency", Value: dt.HealthFrequency},
		{Name: "aliases", Value: names},
		{Name: "devices", Value: labHostnames(devs, nil)},
		{Name: "default_template", Value: from != app.TemplateStored && from != app.TemplateDirectory},
		{Name: "permissions", Value: []any{}},
	}, nil
}

func deviceTypesDevices(c *Call) (any, error) {
	s, err := c.labStrings(0, 1)
	if err != nil {
		return nil, err
	}
	name, health := s[0], s[1]
	if _, err := c.labDeviceType(name); err != nil {
		return nil, err
	}
	f := store.DeviceFilter{DeviceType: name}
	if health != "" {
		h, ok := labDeviceHealth(strings.ToUpper(health))
		if !ok {
			return nil, lavaFault(http.StatusBadRequest, "Invalid health '%s'", health)
		}
		f.Health = []lab.DeviceHealth{h}
	}
	devs, err := c.labDevices(f)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, d := range devs {
		out = append(out, xmlrpc.Struct{
			{Name: "hostname", Value: d.Hostname},
			{Name: "health", Value: d.Health.String()},
			{Name: "state", Value: d.State.String()},
		})
	}
	return out, nil
}

func deviceTypesGetTemplate(c *Call) (any, error) {
	name, err := c.String(0, "")
	if err != nil {
		return nil, err
	}
	text, _, err := c.App.DeviceTypeTemplateText(c.ctx, name)
	switch {
	case errors.Is(err, lab.ErrInvalid):
		return nil, lavaFault(http.StatusBadRequest, "Invalid device-type '%s'", name)
	case err != nil:
		return nil, labNotFound(err, "Device-type '%s' was not found.", name)
	}
	return xmlrpc.Binary(text), nil
}

// deviceTypesSetText stores a text of a device type with set (its
// template, its health check): parameter 0 names the type, parameter 1
// is the text.
func deviceTypesSetText(set func(a *app.App, ctx context.Context, p auth.Principal, name, text string) error) func(c *Call) (any, error) {
	return func(c *Call) (any, error) {
		s, err := c.labStrings(0, 1)
		if err != nil {
			return nil, err
		}
		if err := c.labDeviceTypeAdmin(s[0], "change"); err != nil {
			return nil, err
		}
		return nil, labNotFound(set(c.App, c.ctx, c.P, s[0], s[1]), "Device-type '%s' was not found.", s[0])
	}
}

func deviceTypesGetHealthCheck(c *Call) (any, error) {
	name, dt, err := labArg(c, 0, (*Call).labDeviceType)
	if err != nil {
		return nil, err
	}
	if dt.HealthCheck == "" {
		return nil, lavaFault(http.StatusNotFound, "Device-type '%s' was not found.", name)
	}
	return xmlrpc.Binary(dt.HealthCheck), nil
}

// labAlias returns an alias, and whether it exists.
func (c *Call) labAlias(name string) (lab.Alias, bool, error) {
	aliases, err := c.App.ListAliases(c.ctx)
	if err != nil {
		return lab.Alias{}, false, err
	}
	for _, a := range aliases {
		if a.Name == name {
			return a, true, nil
		}
	}
	return lab.Alias{}, false, nil
}

func deviceTypesAliasesAdd(c *Call) (any, error) {
	if err := c.labPerm("lava_scheduler_app.add_alias"); err != nil {
		return nil, err
	}
	s, err := c.labStrings(0, 1)
	if err != nil {
		return nil, err
	}
	name, alias := s[0], s[1]
	if _, err := c.labDeviceType(name); err != nil {
		return nil, err
	}
	old, found, err := c.labAlias(alias)
	switch {
	case err != nil:
		return nil, err
	case found && old.DeviceType == name:
		return nil, nil
	case found:
		if err := c.App.DeleteAlias(c.ctx, c.P, alias); err != nil && !errors.Is(err, lab.ErrNotFound) {
			return nil, err
		}
	}
	return nil, c.App.CreateAlias(c.ctx, c.P, lab.Alias{Name: alias, DeviceType: name})
}

func deviceTypesAliasesDelete(c *Call) (any, error) {
	s, err := c.labStrings(0, 1)
	if err != nil {
		return nil, err
	}
	name, alias := s[0], s[1]
	if err := c.labDeviceTypeAdmin(name, "admin"); err != nil {
		return nil, err
	}
	a, found, err := c.labAlias(alias)
	if err != nil {
		return nil, err
	}
	if !found || a.DeviceType != name {
		return nil, lavaFault(http.StatusNotFound, "Alias '%s' was not found.", alias)
	}
	return nil, labNotFound(c.App.DeleteAlias(c.ctx, c.P, alias), "Alias '%s' was not found.", alias)
}

func deviceTypesAliasesList(c *Call) (any, error) {
	name, _, err := labArg(c, 0, (*Call).labDeviceType)
	if err != nil {
		return nil, err
	}
	out, err := c.labAliasesOf(name)
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// ---- scheduler.workers.*

// What Basalt has instead of LAVA's per-worker files.
const (
	labNoConfig = "Basalt workers have no dispatcher.yaml: a worker's settings are its command-line flags or its " +
		"config file (--config), on the worker's host (basalt worker --help, docs/worker.md)"
	labNoEnv = "Basalt workers have no env.yaml or env-dut.yaml: a job's environment is the worker's own " +
		"(its proxy: --http-proxy, or HTTP_PROXY, HTTPS_PROXY and NO_PROXY), set on the worker's host (docs/worker.md)"
	labNoCertificate = "Basalt has no ZMQ certificates: a worker authenticates with its own token over HTTPS " +
		"(basalt workers join-token, docs/worker.md)"
)

func workerMethods() []*Method {
	host := Param{Name: "hostname", Type: "string"}
	text := func(name string) []Param { return []Param{host, {Name: name, Type: "string"}} }
	return []*Method{
		{Name: "scheduler.workers.add", Auth: true, Returns: "nil", Call: workersAdd,
			Params: []Param{host, {Name: "description", Type: "string", Optional: true}, {Name: "disabled", Type: "boolean", Optional: true}},
			Help: "[superuser only] Adds a worker, Offline, Active (Retired when disabled). Returns None: as in LAVA, " +
				"the worker's token is not returned; give the worker a join token (basalt workers join-token NAME, or " +
				"POST /api/v1/workers/NAME/join-token) or a new token (POST /api/v1/workers/NAME/token)."},
		{Name: "scheduler.workers.delete", Auth: true, Returns: "nil", Params: []Param{host},
			Call: labDelete("lava_scheduler_app.delete_worker", "Worker '%s' was not found.", (*app.App).DeleteWorker),
			Help: "[superuser only] Removes a worker with its history and its tokens; its devices stay, attached to no " +
				"worker, as in LAVA. Unlike LAVA, a worker whose device is busy or that jobs requested is not deleted " +
				"(fault 409): Basalt keeps every job. Returns None."},
		{Name: "scheduler.workers.update", Auth: true, Returns: "nil", Call: workersUpdate,
			Params: []Param{host, {Name: "description", Type: "string", Optional: true}, {Name: "health", Type: "string", Optional: true},
				{Name: "job_limit", Type: "int", Optional: true}},
			Help: "[superuser only] Updates the fields given (not None): description, health (ACTIVE, MAINTENANCE or " +
				"RETIRED; it passes to the worker's devices as in LAVA, and is recorded in the histories as \"xmlrpc api\") " +
				"and job_limit (how many of its devices may run jobs at once, 0: no limit). Returns None."},
		{Name: "scheduler.workers.list", Returns: "array", Call: workersList,
			Params: []Param{{Name: "show_all", Type: "boolean", Optional: true}},
			Help:   "The names of the workers, retired ones only with show_all, sorted."},
		{Name: "scheduler.workers.show", Returns: "struct", Params: []Param{host}, Call: workersShow,
			Help: "Shows a worker: {hostname, description, state, health, devices (hostnames), last_ping (its last " +
				"heartbeat; 0001-01-01T00:00:00 when it never connected: Basalt does not keep LAVA's creation time " +
				"there), job_limit, version (None until it connects), default_config, default_env, default_env_dut " +
				"(always True: Basalt workers have no per-worker files)}. LAVA adds the worker's token for superusers; " +
				"Basalt keeps only a hash of it and cannot show it, so token is never given."},
		{Name: "scheduler.workers.get_config", Returns: "base64", Params: []Param{host}, Call: workersGetFile("dispatcher configuration"),
			Help: "The worker's dispatcher.yaml: fault 404 \"does not have a dispatcher configuration\", what LAVA " +
				"answers for a worker without one. " + labNoConfig + "."},
		{Name: "scheduler.workers.set_config", Auth: true, Returns: "boolean", Params: text("config"), Call: workersSetFile(labNoConfig),
			Help: "[superuser only] Refused with fault 400: " + labNoConfig + "."},
		{Name: "scheduler.workers.get_env", Returns: "base64", Params: []Param{host}, Call: workersGetFile("env file"),
			Help: "The worker's env.yaml: fault 404 \"does not have an env file\", what LAVA answers for a worker " +
				"without one. " + labNoEnv + "."},
		{Name: "scheduler.workers.set_env", Auth: true, Returns: "boolean", Params: text("env"), Call: workersSetFile(labNoEnv),
			Help: "[superuser only] Refused with fault 400: " + labNoEnv + "."},
		{Name: "scheduler.workers.get_env_dut", Returns: "base64", Params: []Param{host}, Call: workersGetFile("env-dut file"),
			Help: "The worker's env-dut.yaml: fault 404 \"does not have an env-dut file\", what LAVA answers for a " +
				"worker without one. " + labNoEnv + "."},
		{Name: "scheduler.workers.set_env_dut", Auth: true, Returns: "boolean", Params: text("env"), Call: workersSetFile(labNoEnv),
			Help: "[superuser only] Refused with fault 400: " + labNoEnv + "."},
		{Name: "scheduler.workers.get_certificate", Returns: "base64", Params: []Param{host}, Call: workersGetCertificate,
			Help: "[superuser only] The worker's ZMQ certificate (LAVA 2020.04 to 2020.08): fault 404 \"does not have a " +
				"certificate uploaded\". " + labNoCertificate + "."},
		{Name: "scheduler.workers.set_certificate", Returns: "boolean", Params: text("key"), Call: workersSetCertificate,
			Help: "[superuser only] Refused with fault 400: " + labNoCertificate + "."},
	}
}

// labWorker returns a worker with LAVA's 404 fault when it does not exist.
func (c *Call) labWorker(name string) (lab.Worker, error) {
	w, err := c.App.GetWorker(c.ctx, name)
	return w, labNotFound(err, "Worker '%s' was not found.", name)
}

// labWorkerFile checks a worker name as LAVA's per-worker file methods
// do: a name LAVA would use as a file name ("Invalid worker name"
// otherwise), of a worker that exists.
func (c *Call) labWorkerFile(name string) error {
	if name == "" || strings.Contains(strings.TrimRight(name, "/"), "/") || strings.HasPrefix(name, "/") {
		return lavaFault(http.StatusBadRequest, "Invalid worker name")
	}
	_, err := c.labWorker(name)
	return err
}

func workersAdd(c *Call) (any, error) {
	if err := c.labPerm("lava_scheduler_app.add_worker"); err != nil {
		return nil, err
	}
	p := c.labParams()
	name, desc, disabled := p.str(0), p.str(1), p.boolean(2, false)
	if p.err != nil {
		return nil, p.err
	}
	_, err := c.App.CreateWorker(c.ctx, c.P, lab.Worker{Name: name, Description: desc})
	if errors.Is(err, lab.ErrConflict) {
		return nil, lavaFault(http.StatusBadRequest, "Bad request: worker already exists?")
	}
	if err != nil || !disabled {
		return nil, err
	}
	retired := lab.WorkerRetired
	_, err = c.App.UpdateWorker(c.ctx, c.P, name, app.WorkerUpdate{Health: &retired, Reason: "xmlrpc api"})
	return nil, err
}

func workersUpdate(c *Call) (any, error) {
	if err := c.labPerm("lava_scheduler_app.change_worker"); err != nil {
		return nil, err
	}
	p := c.labParams()
	name, desc, health := p.str(0), p.optStr(1), p.optStr(2)
	if p.err != nil {
		return nil, p.err
	}
	if _, err := c.labWorker(name); err != nil {
		return nil, err
	}
	u := app.WorkerUpdate{Description: desc, Reason: "xmlrpc api"}
	if health != nil {
		var h lab.WorkerHealth
		switch *health {
		case "ACTIVE":
			h = lab.WorkerActive
		case "MAINTENANCE":
			h = lab.WorkerMaintenance
		case "RETIRED":
			h = lab.WorkerRetired
		default:
			return nil, lavaFault(http.StatusBadRequest, "Invalid health: %s", *health)
		}
		u.Health = &h
	}
	if c.Has(3) {
		n, ok := c.Arg(3).(int64)
		if !ok || n < 0 || n > 1<<31-1 {
			return nil, lavaFault(http.StatusBadRequest, "Invalid job limit")
		}
		limit := int(n)
		u.JobLimit = &limit
	}
	_, err := c.App.UpdateWorker(c.ctx, c.P, name, u)
	return nil, labNotFound(err, "Worker '%s' was not found.", name)
}

func workersList(c *Call) (any, error) {
	all, err := c.Bool(0, false)
	if err != nil {
		return nil, err
	}
	ws, err := c.App.ListWorkers(c.ctx)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, w := range ws {
		if w.Health != lab.WorkerRetired || all {
			out = append(out, w.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

func workersShow(c *Call) (any, error) {
	name, w, err := labArg(c, 0, (*Call).labWorker)
	if err != nil {
		return nil, err
	}
	devs, err := c.labDevices(store.DeviceFilter{Worker: name})
	if err != nil {
		return nil, err
	}
	return xmlrpc.Struct{
		{Name: "hostname", Value: w.Name},
		{Name: "description", Value: w.Description},
		{Name: "state", Value: w.State.String()},
		{Name: "health", Value: w.Health.String()},
		{Name: "devices", Value: labHostnames(devs, nil)},
		{Name: "last_ping", Value: w.LastHeartbeat},
		{Name: "job_limit", Value: w.JobLimit},
		{Name: "version", Value: orNone(w.Version)},
		{Name: "default_config", Value: true},
		{Name: "default_env", Value: true},
		{Name: "default_env_dut", Value: true},
	}, nil
}

// workersGetFile answers what LAVA answers for a worker without the file
// (what names it in the message).
func workersGetFile(what string) func(c *Call) (any, error) {
	return func(c *Call) (any, error) {
		name, err := c.String(0, "")
		if err != nil {
			return nil, err
		}
		if err := c.labWorkerFile(name); err != nil {
			return nil, err
		}
		article := "a"
		if strings.HasPrefix(what, "env") {
			article = "an"
		}
		return nil, lavaFault(http.StatusNotFound, "Worker '%s' does not have %s %s", name, article, what)
	}
}

// workersSetFile refuses to store a worker file, saying why.
func workersSetFile(why string) func(c *Call) (any, error) {
	return func(c *Call) (any, error) {
		if err := c.labPerm("lava_scheduler_app.change_worker"); err != nil {
			return nil, err
		}
		s, err := c.labStrings(0, 1)
		if err != nil {
			return nil, err
		}
		if err := c.labWorkerFile(s[0]); err != nil {
			return nil, err
		}
		return nil, lavaFault(http.StatusBadRequest, "%s.", why)
	}
}

func workersGetCertificate(c *Call) (any, error) {
	name, err := c.labCertificateWorker()
	if err != nil {
		return nil, err
	}
	return nil, lavaFault(http.StatusNotFound, "Worker '%s' does not have a certificate uploaded (%s)", name, labNoCertificate)
}

func workersSetCertificate(c *Call) (any, error) {
	if _, err := c.labCertificateWorker(); err != nil {
		return nil, err
	}
	if _, err := c.String(1, ""); err != nil {
		return nil, err
	}
	return nil, lavaFault(http.StatusBadRequest, "%s.", labNoCertificate)
}

// labCertificateWorker checks what LAVA's certificate methods checked: a
// worker name, the worker, and the right to change it.
func (c *Call) labCertificateWorker() (string, error) {
	name, err := c.String(0, "")
	if err != nil {
		return "", err
	}
	if err := c.labWorkerFile(name); err != nil {
		return "", err
	}
	return name, c.labAdmin("Insufficient permissions. Please contact system administrator.")
}

// ---- scheduler.tags.* and scheduler.aliases.*

func tagAliasMethods() []*Method {
	name := Param{Name: "name", Type: "string"}
	return []*Method{
		{Name: "scheduler.tags.add", Auth: true, Returns: "nil", Call: tagsAdd,
			Params: []Param{name, {Name: "description", Type: "string", Optional: true}},
			Help:   "[superuser only] Creates a device tag with a description. Returns None."},
		{Name: "scheduler.tags.delete", Auth: true, Returns: "nil", Params: []Param{name},
			Call: labDelete("lava_scheduler_app.delete_tag", "Tag '%s' was not found.", (*app.App).DeleteTag),
			Help: "[superuser only] Removes a device tag, from every device too. Returns None."},
		{Name: "scheduler.tags.list", Returns: "array", Call: tagsList,
			Help: "The device tags by name: [{name, description}], description None when empty."},
		{Name: "scheduler.tags.show", Returns: "struct", Params: []Param{name}, Call: tagsShow,
			Help: "Shows a device tag: {name, description, devices (the hostnames of the devices that have it)}."},
		{Name: "scheduler.aliases.add", Auth: true, Returns: "nil", Call: aliasesAdd,
			Params: []Param{name, {Name: "device_type_name", Type: "string"}},
			Help:   "[superuser only] Creates alias name of device type device_type_name. Returns None."},
		{Name: "scheduler.aliases.delete", Auth: true, Returns: "nil", Params: []Param{name},
			Call: labDelete("lava_scheduler_app.delete_alias", "Alias '%s' was not found.", (*app.App).DeleteAlias),
			Help: "[superuser only] Removes a device-type alias. Returns None."},
		{Name: "scheduler.aliases.list", Returns: "array", Call: aliasesList,
			Help: "The names of the device-type aliases, sorted."},
		{Name: "scheduler.aliases.show", Returns: "struct", Params: []Param{name}, Call: aliasesShow,
			Help: "Shows a device-type alias: {name, device_type}."},
	}
}

func tagsAdd(c *Call) (any, error) {
	if err := c.labPerm("lava_scheduler_app.add_tag"); err != nil {
		return nil, err
	}
	s, err := c.labStrings(0, 1)
	if err != nil {
		return nil, err
	}
	err = c.App.CreateTag(c.ctx, c.P, lab.Tag{Name: s[0], Description: s[1]})
	if errors.Is(err, lab.ErrConflict) {
		return nil, lavaFault(http.StatusBadRequest, "Bad request: tag already exists?")
	}
	return nil, err
}

func tagsList(c *Call) (any, error) {
	ts, err := c.App.ListTags(c.ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ts, func(a, b lab.Tag) int { return strings.Compare(a.Name, b.Name) })
	out := []any{}
	for _, t := range ts {
		out = append(out, xmlrpc.Struct{{Name: "name", Value: t.Name}, {Name: "description", Value: orNone(t.Description)}})
	}
	return out, nil
}

// labTag returns a tag with LAVA's 404 fault when it does not exist.
func (c *Call) labTag(name string) (lab.Tag, error) {
	t, err := c.App.GetTag(c.ctx, name)
	return t, labNotFound(err, "Tag '%s' was not found.", name)
}

func tagsShow(c *Call) (any, error) {
	name, t, err := labArg(c, 0, (*Call).labTag)
	if err != nil {
		return nil, err
	}
	devs, err := c.labDevices(store.DeviceFilter{})
	if err != nil {
		return nil, err
	}
	hosts := labHostnames(devs, func(d lab.Device) bool { return slices.Contains(d.Tags, name) })
	return xmlrpc.Struct{{Name: "name", Value: t.Name}, {Name: "description", Value: orNone(t.Description)}, {Name: "devices", Value: hosts}}, nil
}

func aliasesAdd(c *Call) (any, error) {
	if err := c.labPerm("lava_scheduler_app.add_alias"); err != nil {
		return nil, err
	}
	s, err := c.labStrings(0, 1)
	if err != nil {
		return nil, err
	}
	if _, err := c.App.GetDeviceType(c.ctx, s[1]); errors.Is(err, lab.ErrNotFound) {
		return nil, lavaFault(http.StatusBadRequest, "Bad request. DeviceType does not exist")
	} else if err != nil {
		return nil, err
	}
	err = c.App.CreateAlias(c.ctx, c.P, lab.Alias{Name: s[0], DeviceType: s[1]})
	if errors.Is(err, lab.ErrConflict) {
		return nil, lavaFault(http.StatusBadRequest, "Bad request. Alias or DeviceType name already exists.")
	}
	return nil, err
}

func aliasesList(c *Call) (any, error) {
	as, err := c.App.ListAliases(c.ctx)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, a := range as {
		out = append(out, a.Name)
	}
	slices.Sort(out)
	return out, nil
}

func aliasesShow(c *Call) (any, error) {
	name, err := c.String(0, "")
	if err != nil {
		return nil, err
	}
	a, found, err := c.labAlias(name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, lavaFault(http.StatusNotFound, "Alias '%s' was not found.", name)
	}
	return xmlrpc.Struct{{Name: "name", Value: a.Name}, {Name: "device_type", Value: a.DeviceType}}, nil
}

// ---- the older scheduler.* device methods

func labLegacyMethods() []*Method {
	host := Param{Name: "hostname", Type: "string"}
	return []*Method{
		{Name: "scheduler.all_devices", Returns: "array", Call: allDevices,
			Help: "Every device that is not retired, by hostname: [[hostname, device type, status, current job, True]] " +
				"with LAVA's status words (idle, offline, reserved, running); the current job is None when free, " +
				"and also when it is a job the caller may not see."},
		{Name: "scheduler.all_device_types", Returns: "array", Call: allDeviceTypes,
			Help: "The device types that have devices not retired, by name, with how many are idle (Idle, Good or " +
				"Unknown, on an Online worker), busy (Reserved or Running) and offline (Idle and either on an Offline " +
				"worker, or Bad or Looping): [{name, idle, busy, offline}], as LAVA counts them."},
		{Name: "scheduler.get_device_status", Returns: "struct", Params: []Param{host}, Call: getDeviceStatus,
			Help: "A device's status: {hostname, status (idle, offline, retired, reserved or running), job (None when " +
				"free or a job the caller may not see), offline_since (None), offline_by (None), is_pipeline (True)}."},
		{Name: "scheduler.put_into_maintenance_mode", Auth: true, Returns: "nil", Call: putIntoMode(lab.DeviceMaintenance, "maintenance"),
			Params: []Param{host, {Name: "reason", Type: "string"}, {Name: "notify", Type: "string", Optional: true}},
			Help: "[superuser only] Sets the device's health to Maintenance, recorded in its history with reason " +
				"(required). notify is accepted and ignored, as in LAVA. Returns None."},
		{Name: "scheduler.put_into_online_mode", Auth: true, Returns: "nil", Call: putIntoMode(lab.DeviceUnknown, "online"),
			Params: []Param{host, {Name: "reason", Type: "string"}, {Name: "skip_health_check", Type: "boolean", Optional: true}},
			Help: "[superuser only] Sets the device's health to Unknown (a health check runs before its next job, when " +
				"its type has one), recorded in its history with reason (required). skip_health_check is accepted and " +
				"ignored, as in LAVA. Returns None."},
		{Name: "scheduler.get_device_type_by_alias", Returns: "struct", Params: []Param{{Name: "alias", Type: "string"}}, Call: getDeviceTypeByAlias,
			Help: "The device types that have an alias whose name contains alias: {alias: [device type names]}, an " +
				"empty list when none."},
		{Name: "scheduler.get_device_config", Returns: "base64", Call: getDeviceConfig,
			Params: []Param{{Name: "device_hostname", Type: "string"}, {Name: "context", Type: "string", Optional: true}},
			Help: "[superuser only] The device's configuration (YAML): its dictionary rendered with its device-type " +
				"template and context, a job context as a YAML string ({arch: arm64}). Unlike LAVA, for superusers " +
				"only: configurations hold lab secrets (power commands, addresses)."},
		{Name: "scheduler.import_device_dictionary", Auth: true, Returns: "string", Call: importDeviceDictionary,
			Params: []Param{host, {Name: "jinja_str", Type: "string"}},
			Help: "[superuser only] Replaces the device dictionary, like scheduler.devices.set_dictionary (validated " +
				"first). Returns \"Device dictionary updated for HOSTNAME\"."},
		{Name: "scheduler.export_device_dictionary", Auth: true, Returns: "base64", Params: []Param{host}, Call: exportDeviceDictionary,
			Help: "[superuser only] The device dictionary, like scheduler.devices.get_dictionary."},
		{Name: "scheduler.validate_pipeline_devices", Returns: "base64", Call: validatePipelineDevices,
			Params: []Param{{Name: "name", Type: "string", Optional: true}},
			Help: "[superuser only] Checks that the dictionaries of the devices that are not retired render into valid " +
				"configurations: those of device type name, else the device of hostname name, else all. Returns YAML, " +
				"by hostname: {Valid: null} or {Invalid: the problems}. Unlike LAVA, for superusers only: the problems " +
				"quote the dictionaries."},
		{Name: "scheduler.get_publisher_event_socket", Returns: "string", Call: getPublisherEventSocket,
			Help: "LAVA's ZMQ event socket. Basalt has none and does not serve events yet: fault 404 saying so. " +
				"lavacli from 2020.09 on listens to events over WebSocket at /ws/ and does not ask for it."},
	}
}

func allDevices(c *Call) (any, error) {
	devs, err := c.labDevices(store.DeviceFilter{})
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, d := range devs {
		if d.Health != lab.DeviceRetired {
			out = append(out, []any{d.Hostname, d.DeviceType, labStatus(d), labJob(d.CurrentJob), true})
		}
	}
	return out, nil
}

func allDeviceTypes(c *Call) (any, error) {
	devs, err := c.labDevices(store.DeviceFilter{})
	if err != nil {
		return nil, err
	}
	ws, err := c.App.ListWorkers(c.ctx)
	if err != nil {
		return nil, err
	}
	workerState := map[string]lab.WorkerState{}
	for _, w := range ws {
		workerState[w.Name] = w.State
	}
	type counts struct{ idle, busy, offline int }
	byType := map[string]*counts{}
	var names []string
	for _, d := range devs {
		if d.Health == lab.DeviceRetired {
			continue
		}
		n := byType[d.DeviceType]
		if n == nil {
			n = &counts{}
			byType[d.DeviceType] = n
			names = append(names, d.DeviceType)
		}
		state, attached := workerState[d.Worker]
		switch {
		case d.State != lab.DeviceIdle:
			n.busy++
		case d.Health.Schedulable() && attached && state == lab.WorkerOnline:
			n.idle++
		case d.Health != lab.DeviceMaintenance && ((attached && state == lab.WorkerOffline) || !d.Health.Schedulable()):
			n.offline++
		}
	}
	slices.Sort(names)
	out := []any{}
	for _, name := range names {
		n := byType[name]
		out = append(out, xmlrpc.Struct{{Name: "name", Value: name}, {Name: "busy", Value: n.busy}, {Name: "idle", Value: n.idle}, {Name: "offline", Value: n.offline}})
	}
	return out, nil
}

func getDeviceStatus(c *Call) (any, error) {
	host, err := c.String(0, "")
	if err != nil {
		return nil, err
	}
	if host == "" {
		return nil, lavaFault(http.StatusBadRequest, "Bad request: Hostname was not specified.")
	}
	d, err := c.labDevice(host)
	if err != nil {
		return nil, err
	}
	return xmlrpc.Struct{
		{Name: "hostname", Value: d.Hostname},
		{Name: "status", Value: labStatus(d)},
		{Name: "job", Value: labJob(d.CurrentJob)},
		{Name: "offline_since", Value: nil},
		{Name: "offline_by", Value: nil},
		{Name: "is_pipeline", Value: true},
	}, nil
}

// putIntoMode sets a device's health with a reason (mode names it in
// LAVA's messages).
func putIntoMode(h lab.DeviceHealth, mode string) func(c *Call) (any, error) {
	return func(c *Call) (any, error) {
		s, err := c.labStrings(0, 1)
		if err != nil {
			return nil, err
		}
		host, reason := s[0], s[1]
		switch {
		case host == "":
			return nil, lavaFault(http.StatusBadRequest, "Bad request: Hostname was not specified.")
		case reason == "":
			return nil, lavaFault(http.StatusBadRequest, "Bad request: Reason was not specified.")
		}
		if _, err := c.labDevice(host); err != nil {
			return nil, err
		}
		if err := c.labAdmin("Permission denied for user to put %s into %s mode.", host, mode); err != nil {
			return nil, err
		}
		_, err = c.App.SetDeviceHealth(c.ctx, c.P, host, h, reason)
		return nil, labNotFound(err, "Device '%s' was not found.", host)
	}
}

func getDeviceTypeByAlias(c *Call) (any, error) {
	alias, err := c.String(0, "")
	if err != nil {
		return nil, err
	}
	as, err := c.App.ListAliases(c.ctx)
	if err != nil {
		return nil, err
	}
	types := []string{}
	for _, a := range as {
		if strings.Contains(a.Name, alias) && !slices.Contains(types, a.DeviceType) {
			types = append(types, a.DeviceType)
		}
	}
	slices.Sort(types)
	return map[string]any{alias: types}, nil
}

func getDeviceConfig(c *Call) (any, error) {
	host, err := c.String(0, "")
	if err != nil {
		return nil, err
	}
	if host == "" {
		return nil, lavaFault(http.StatusBadRequest, "Bad request: Device hostname was not specified.")
	}
	jobCtx, err := labContext(c, 1, func(ctx, why string) error {
		return lavaFault(http.StatusBadRequest, "Job context '%s' is not valid. %s", ctx, why)
	})
	if err != nil {
		return nil, err
	}
	if _, err := c.App.GetDevice(c.ctx, c.P, host); err != nil {
		return nil, labNotFound(err, "Specified device was not found.")
	}
	if !auth.IsAdmin(c.P) {
		return nil, lavaFault(http.StatusUnauthorized, "Permission denied for user to device %s: Basalt shows device configurations to superusers only (they hold lab secrets).", host)
	}
	text, err := c.App.RenderDeviceConfig(c.ctx, c.P, host, jobCtx)
	if errors.Is(err, app.ErrNoDictionary) {
		return nil, lavaFault(http.StatusNotFound, "Device '%s' does not have a configuration", host)
	}
	if err != nil {
		return nil, labNotFound(err, "Specified device was not found.")
	}
	return xmlrpc.Binary(text), nil
}

func importDeviceDictionary(c *Call) (any, error) {
	host, err := c.labSetDictionary(func(c *Call, host string) error {
		if _, err := c.labDevice(host); err != nil {
			return err
		}
		return c.labAdmin("Permission denied for user to store the configuration for %s on disk.", host)
	})
	if err != nil {
		return nil, err
	}
	return "Device dictionary updated for " + host, nil
}

func exportDeviceDictionary(c *Call) (any, error) {
	host, _, err := labArg(c, 0, (*Call).labDevice)
	if err != nil {
		return nil, err
	}
	if err := c.labAdmin("Permission denied for user to retrieve device dictionary for '%s'.", host); err != nil {
		return nil, err
	}
	dict, err := c.App.DeviceDictionary(c.ctx, c.P, host)
	if err != nil {
		return nil, labNotFound(err, "Device '%s' was not found.", host)
	}
	if strings.TrimSpace(dict) == "" {
		return nil, lavaFault(http.StatusNotFound, "Device '%s' does not have a device dictionary", host)
	}
	return xmlrpc.Binary(dict), nil
}

func validatePipelineDevices(c *Call) (any, error) {
	name, err := c.String(0, "")
	if err != nil {
		return nil, err
	}
	if err := c.labAdmin("Basalt validates device configurations for superusers only: their problems quote the device dictionaries, which hold lab secrets."); err != nil {
		return nil, err
	}
	all, err := c.labDevices(store.DeviceFilter{})
	if err != nil {
		return nil, err
	}
	var devs []lab.Device
	for _, match := range []func(d lab.Device) bool{
		func(d lab.Device) bool { return name == "" || d.DeviceType == name },
		func(d lab.Device) bool { return d.Hostname == name },
	} {
		for _, d := range all {
			if d.Health != lab.DeviceRetired && match(d) {
				devs = append(devs, d)
			}
		}
		if len(devs) > 0 || name == "" {
			break
		}
	}
	switch {
	case len(devs) == 0 && name != "":
		return nil, lavaFault(http.StatusNotFound, "No devices found with hostname or device type name %s, visible by the user", name)
	case len(devs) == 0:
		return nil, lavaFault(http.StatusNotFound, "No pipeline devices visible by user were found on this instance.")
	}
	results := pyfmt.Map{}
	for _, d := range devs {
		err := c.App.CheckDeviceDictionary(c.ctx, c.P, d.Hostname)
		var result pyfmt.Item
		switch {
		case err == nil:
			result = pyfmt.Item{Key: "Valid", Value: nil}
		case errors.Is(err, app.ErrNoDictionary):
			result = pyfmt.Item{Key: "Invalid", Value: "Missing device dictionary"}
		case errors.Is(err, lab.ErrInvalid):
			result = pyfmt.Item{Key: "Invalid", Value: labDictProblem(c, err)}
		case errors.Is(err, lab.ErrNotFound): // deleted meanwhile
			continue
		default:
			return nil, err
		}
		results = append(results, pyfmt.Item{Key: d.Hostname, Value: pyfmt.Map{result}})
	}
	text, err := pyyaml.Dump(results) // LAVA: yaml_safe_dump(results)
	if err != nil {
		return nil, err
	}
	return xmlrpc.Binary(text), nil
}

func getPublisherEventSocket(*Call) (any, error) {
	return nil, lavaFault(http.StatusNotFound, "Basalt has no ZMQ event socket: LAVA's events are a WebSocket at /ws/ on its main port, which lavacli events listen (2020.09 and later) uses (docs/lava-clients.md).")
}
