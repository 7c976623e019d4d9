package client

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
)

// DeviceFilter selects devices for ListDevices; zero fields do not filter.
type DeviceFilter struct {
	DeviceType string
	Worker     string
	Health     []string // Good, Unknown, Looping, Bad, Maintenance, Retired
	State      []string // Idle, Reserved, Running
}

func (f DeviceFilter) query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("device_type", f.DeviceType)
	set("worker", f.Worker)
	set("health", strings.Join(f.Health, ","))
	set("state", strings.Join(f.State, ","))
	return q
}

func limitQuery(limit int) url.Values {
	if limit <= 0 {
		return nil
	}
	return url.Values{"limit": {strconv.Itoa(limit)}}
}

// ListDevices returns the devices matching f (GET /devices).
func (c *Client) ListDevices(ctx context.Context, f DeviceFilter) (wire.List[wire.Device], error) {
	var out wire.List[wire.Device]
	err := c.do(ctx, request{method: "GET", path: "/devices", query: f.query(), out: &out})
	return out, err
}

// CreateDevice adds a device (POST /devices).
func (c *Client) CreateDevice(ctx context.Context, in wire.DeviceInput) (wire.Device, error) {
	var out wire.Device
	err := c.do(ctx, request{method: "POST", path: "/devices", body: in, out: &out})
	return out, err
}

// GetDevice returns one device (GET /devices/{hostname}).
func (c *Client) GetDevice(ctx context.Context, hostname string) (wire.Device, error) {
	var out wire.Device
	err := c.do(ctx, request{method: "GET", path: "/devices/" + seg(hostname), out: &out})
	return out, err
}

// UpdateDevice changes the non-nil fields of in (PATCH /devices/{hostname}).
// Health cannot change here: use SetDeviceHealth.
func (c *Client) UpdateDevice(ctx context.Context, hostname string, in wire.DeviceInput) (wire.Device, error) {
	var out wire.Device
	err := c.do(ctx, request{method: "PATCH", path: "/devices/" + seg(hostname), body: in, out: &out})
	return out, err
}

// SetDeviceHealth sets a device's health, recording reason in its history
// (POST /devices/{hostname}/health).
func (c *Client) SetDeviceHealth(ctx context.Context, hostname, health, reason string) (wire.Device, error) {
	var out wire.Device
	err := c.do(ctx, request{method: "POST", path: "/devices/" + seg(hostname) + "/health",
		body: wire.HealthInput{Health: health, Reason: reason}, out: &out})
	return out, err
}

// DeviceDictionary returns a device's dictionary (GET
// /devices/{hostname}/dictionary; admins only).
func (c *Client) DeviceDictionary(ctx context.Context, hostname string) (wire.Dictionary, error) {
	var out wire.Dictionary
	err := c.do(ctx, request{method: "GET", path: "/devices/" + seg(hostname) + "/dictionary", out: &out})
	return out, err
}

// SetDeviceDictionary replaces a device's dictionary (PUT
// /devices/{hostname}/dictionary).
func (c *Client) SetDeviceDictionary(ctx context.Context, hostname, dictionary string) (wire.Dictionary, error) {
	var out wire.Dictionary
	err := c.do(ctx, request{method: "PUT", path: "/devices/" + seg(hostname) + "/dictionary",
		body: wire.Dictionary{Dictionary: dictionary}, out: &out})
	return out, err
}

// DeviceHistory returns a device's health transitions, newest first (GET
// /devices/{hostname}/history); limit 0 takes the server's default.
func (c *Client) DeviceHistory(ctx context.Context, hostname string, limit int) (wire.List[wire.DeviceTransition], error) {
	var out wire.List[wire.DeviceTransition]
	err := c.do(ctx, request{method: "GET", path: "/devices/" + seg(hostname) + "/history", query: limitQuery(limit), out: &out})
	return out, err
}

// ListDeviceTypes returns every device type (GET /device-types).
func (c *Client) ListDeviceTypes(ctx context.Context) (wire.List[wire.DeviceType], error) {
	var out wire.List[wire.DeviceType]
	err := c.do(ctx, request{method: "GET", path: "/device-types", out: &out})
	return out, err
}

// CreateDeviceType adds a device type (POST /device-types).
func (c *Client) CreateDeviceType(ctx context.Context, in wire.DeviceTypeInput) (wire.DeviceType, error) {
	var out wire.DeviceType
	err := c.do(ctx, request{method: "POST", path: "/device-types", body: in, out: &out})
	return out, err
}

// GetDeviceType returns one device type (GET /device-types/{name}).
func (c *Client) GetDeviceType(ctx context.Context, name string) (wire.DeviceType, error) {
	var out wire.DeviceType
	err := c.do(ctx, request{method: "GET", path: "/device-types/" + seg(name), out: &out})
	return out, err
}

// UpdateDeviceType changes the non-nil fields of in (PATCH
// /device-types/{name}).
func (c *Client) UpdateDeviceType(ctx context.Context, name string, in wire.DeviceTypeInput) (wire.DeviceType, error) {
	var out wire.DeviceType
	err := c.do(ctx, request{method: "PATCH", path: "/device-types/" + seg(name), body: in, out: &out})
	return out, err
}

// DeleteDeviceType removes an unused device type (DELETE
// /device-types/{name}).
func (c *Client) DeleteDeviceType(ctx context.Context, name string) error {
	return c.do(ctx, request{method: "DELETE", path: "/device-types/" + seg(name)})
}

// HealthCheck returns a device type's health-check definition, empty when
// it has none (GET /device-types/{name}/health-check).
func (c *Client) HealthCheck(ctx context.Context, name string) (wire.DefinitionInput, error) {
	var out wire.DefinitionInput
	err := c.do(ctx, request{method: "GET", path: "/device-types/" + seg(name) + "/health-check", out: &out})
	return out, err
}

// SetHealthCheck sets a device type's health-check definition; an empty
// definition removes it (PUT /device-types/{name}/health-check).
func (c *Client) SetHealthCheck(ctx context.Context, name, definition string) (wire.DefinitionInput, error) {
	var out wire.DefinitionInput
	err := c.do(ctx, request{method: "PUT", path: "/device-types/" + seg(name) + "/health-check",
		body: wire.DefinitionInput{Definition: definition}, out: &out})
	return out, err
}

// DeviceTypeTemplate returns a device type's stored Jinja2 template (GET
// /device-types/{name}/template); a type without one is a 404 (IsNotFound).
func (c *Client) DeviceTypeTemplate(ctx context.Context, name string) (wire.DeviceTemplate, error) {
	var out wire.DeviceTemplate
	err := c.do(ctx, request{method: "GET", path: "/device-types/" + seg(name) + "/template", out: &out})
	return out, err
}

// SetDeviceTypeTemplate stores a device type's template and returns it as
// stored; an empty template removes it (PUT /device-types/{name}/template;
// admins only, at most 1 MiB).
func (c *Client) SetDeviceTypeTemplate(ctx context.Context, name, template string) (wire.DeviceTemplate, error) {
	var out wire.DeviceTemplate
	err := c.do(ctx, request{method: "PUT", path: "/device-types/" + seg(name) + "/template",
		body: wire.TemplateInput{Template: template}, out: &out})
	return out, err
}

// ListDeviceTemplates returns the names and update times of the stored
// device-type templates, without their texts (GET /device-templates;
// admins only).
func (c *Client) ListDeviceTemplates(ctx context.Context) (wire.List[wire.DeviceTemplate], error) {
	var out wire.List[wire.DeviceTemplate]
	err := c.do(ctx, request{method: "GET", path: "/device-templates", out: &out})
	return out, err
}

// ListAliases returns every device-type alias (GET /aliases).
func (c *Client) ListAliases(ctx context.Context) (wire.List[wire.Alias], error) {
	var out wire.List[wire.Alias]
	err := c.do(ctx, request{method: "GET", path: "/aliases", out: &out})
	return out, err
}

// CreateAlias adds an alias (POST /aliases).
func (c *Client) CreateAlias(ctx context.Context, in wire.Alias) (wire.Alias, error) {
	var out wire.Alias
	err := c.do(ctx, request{method: "POST", path: "/aliases", body: in, out: &out})
	return out, err
}

// DeleteAlias removes an alias (DELETE /aliases/{name}).
func (c *Client) DeleteAlias(ctx context.Context, name string) error {
	return c.do(ctx, request{method: "DELETE", path: "/aliases/" + seg(name)})
}

// ListTags returns every tag (GET /tags).
func (c *Client) ListTags(ctx context.Context) (wire.List[wire.Tag], error) {
	var out wire.List[wire.Tag]
	err := c.do(ctx, request{method: "GET", path: "/tags", out: &out})
	return out, err
}

// CreateTag adds a tag (POST /tags).
func (c *Client) CreateTag(ctx context.Context, in wire.Tag) (wire.Tag, error) {
	var out wire.Tag
	err := c.do(ctx, request{method: "POST", path: "/tags", body: in, out: &out})
	return out, err
}

// GetTag returns one tag (GET /tags/{name}).
func (c *Client) GetTag(ctx context.Context, name string) (wire.Tag, error) {
	var out wire.Tag
	err := c.do(ctx, request{method: "GET", path: "/tags/" + seg(name), out: &out})
	return out, err
}

// DeleteTag removes a tag (DELETE /tags/{name}).
func (c *Client) DeleteTag(ctx context.Context, name string) error {
	return c.do(ctx, request{method: "DELETE", path: "/tags/" + seg(name)})
}

// ListWorkers returns every worker (GET /workers).
func (c *Client) ListWorkers(ctx context.Context) (wire.List[wire.Worker], error) {
	var out wire.List[wire.Worker]
	err := c.do(ctx, request{method: "GET", path: "/workers", out: &out})
	return out, err
}

// CreateWorker adds a worker (POST /workers). The answer holds the worker's
// token secret, which the server shows only this once.
func (c *Client) CreateWorker(ctx context.Context, in wire.WorkerInput) (wire.NewWorker, error) {
	var out wire.NewWorker
	err := c.do(ctx, request{method: "POST", path: "/workers", body: in, out: &out})
	return out, err
}

// GetWorker returns one worker (GET /workers/{name}).
func (c *Client) GetWorker(ctx context.Context, name string) (wire.Worker, error) {
	var out wire.Worker
	err := c.do(ctx, request{method: "GET", path: "/workers/" + seg(name), out: &out})
	return out, err
}

// UpdateWorker changes the non-nil fields of in, with in.Reason recorded
// for a health change (PATCH /workers/{name}).
func (c *Client) UpdateWorker(ctx context.Context, name string, in wire.WorkerInput) (wire.Worker, error) {
	var out wire.Worker
	err := c.do(ctx, request{method: "PATCH", path: "/workers/" + seg(name), body: in, out: &out})
	return out, err
}

// RotateWorkerToken revokes a worker's tokens and returns a new one (POST
// /workers/{name}/token).
func (c *Client) RotateWorkerToken(ctx context.Context, name string) (wire.WorkerToken, error) {
	var out wire.WorkerToken
	err := c.do(ctx, request{method: "POST", path: "/workers/" + seg(name) + "/token", out: &out})
	return out, err
}

// WorkerHistory returns a worker's transitions, newest first (GET
// /workers/{name}/history); limit 0 takes the server's default.
func (c *Client) WorkerHistory(ctx context.Context, name string, limit int) (wire.List[wire.WorkerTransition], error) {
	var out wire.List[wire.WorkerTransition]
	err := c.do(ctx, request{method: "GET", path: "/workers/" + seg(name) + "/history", query: limitQuery(limit), out: &out})
	return out, err
}

// Heartbeat reports a worker alive with its version (POST
// /workers/{name}/heartbeat). Only the worker's own token may call it.
func (c *Client) Heartbeat(ctx context.Context, name, version string) (wire.Worker, error) {
	var out wire.Worker
	err := c.do(ctx, request{method: "POST", path: "/workers/" + seg(name) + "/heartbeat",
		body: wire.HeartbeatInput{Version: version}, out: &out})
	return out, err
}

// CreateJoinToken issues a one-time join token for a worker (POST
// /workers/{name}/join-token); ttl 0 takes the server's default of a day.
func (c *Client) CreateJoinToken(ctx context.Context, name string, ttl time.Duration) (wire.JoinToken, error) {
	var out wire.JoinToken
	err := c.do(ctx, request{method: "POST", path: "/workers/" + seg(name) + "/join-token",
		body: wire.JoinTokenInput{TTLSeconds: int64(ttl / time.Second)}, out: &out})
	return out, err
}
