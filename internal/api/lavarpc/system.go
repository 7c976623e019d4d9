package lavarpc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/api/lavawire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/version"
	"github.com/basalt-lab/basalt/internal/xmlrpc"
)

// APIVersion is system.api_version: LAVA's XML-RPC API version.
const APIVersion = 2

func systemMethods() []*Method {
	return []*Method{
		{Name: "system.listMethods", Returns: "array", Help: "The names of every method.",
			Call: func(c *Call) (any, error) { return c.Server.names, nil }},
		{Name: "system.methodHelp", Params: []Param{{Name: "method_name", Type: "string"}}, Returns: "string",
			Help: "The documentation of a method.",
			Call: func(c *Call) (any, error) {
				m, err := c.lookup(0)
				if err != nil {
					return nil, err
				}
				return m.help(), nil
			}},
		{Name: "system.methodSignature", Params: []Param{{Name: "method_name", Type: "string"}}, Returns: "array",
			Help: "The signature of a method: a list of one list, the return type then the parameter types.",
			Call: func(c *Call) (any, error) {
				m, err := c.lookup(0)
				if err != nil {
					return nil, err
				}
				return []any{m.signature()}, nil
			}},
		{Name: "system.multicall", Params: []Param{{Name: "subcalls", Type: "array"}}, Returns: "array",
			Help: "Calls several methods in one request, in order; each result is [value] or a fault struct {faultCode, faultString}.",
			Call: multicall},
		{Name: "system.getCapabilities", Returns: "struct", Help: "The XML-RPC specifications the server implements.",
			Call: func(*Call) (any, error) {
				return map[string]any{
					"xmlrpc":           map[string]any{"specUrl": "https://xmlrpc.com/spec.md", "specVersion": int64(1)},
					"introspect":       map[string]any{"specUrl": "http://xmlrpc-c.sourceforge.net/xmlrpc-c/introspection.html", "specVersion": int64(1)},
					"system.multicall": map[string]any{"specUrl": "https://mirrors.talideon.com/articles/multicall.html", "specVersion": int64(1)},
					"faults_interop":   map[string]any{"specUrl": "http://xmlrpc-epi.sourceforge.net/specs/rfc.fault_codes.php", "specVersion": int64(20010516)},
				}, nil
			}},
		{Name: "system.whoami", Returns: "string", Help: "The caller's user name, or nil for an anonymous caller.",
			Call: func(c *Call) (any, error) {
				if c.P.Kind != auth.KindUser {
					return nil, nil
				}
				return c.P.Username, nil
			}},
		{Name: "system.version", Returns: "string", Help: "The server's version.",
			Call: func(*Call) (any, error) { return version.Version, nil }},
		{Name: "system.api_version", Returns: "int", Help: "The XML-RPC API version (LAVA's: 2).",
			Call: func(*Call) (any, error) { return APIVersion, nil }},
		{Name: "system.master_config", Returns: "struct",
			Help: "LAVA's event settings: EVENT_TOPIC, EVENT_SOCKET (Basalt has no ZMQ socket: events are the WebSocket /ws/ on the main port), EVENT_NOTIFICATION (True: events are published) and LOG_SIZE_LIMIT (MB; 0: Basalt shows logs of any size).",
			Call: func(*Call) (any, error) {
				mc := lavawire.BasaltMasterConfig
				return map[string]any{"EVENT_TOPIC": mc.EventTopic, "EVENT_SOCKET": mc.EventSocket, "EVENT_NOTIFICATION": mc.EventNotification, "LOG_SIZE_LIMIT": mc.LogSizeLimit}, nil
			}},
		{Name: "system.user_can_view_jobs", Auth: true, Params: []Param{{Name: "job_list", Type: "array"}, {Name: "username", Type: "string", Optional: true}},
			Returns: "struct",
			Help: "For each job id of job_list, whether the caller (or, for administrators, username) may see the job: {\"<id>\": bool}. " +
				"Jobs that do not exist are left out, and so are jobs the caller itself may not see.",
			Call: userCanViewJobs},
		{Name: "system.user_can_view_devices", Auth: true, Params: []Param{{Name: "device_list", Type: "array"}, {Name: "username", Type: "string", Optional: true}},
			Returns: "struct",
			Help:    "For each hostname of device_list, whether the caller (or, for administrators, username) may see the device, grouped by device type: {type: [{hostname: {\"visible\": bool}}]}.",
			Call:    userCanViewDevices},
		{Name: "system.user_can_submit_to_types", Auth: true, Params: []Param{{Name: "type_list", Type: "array"}, {Name: "username", Type: "string", Optional: true}},
			Returns: "struct",
			Help:    "For each device type of type_list, whether the caller (or, for administrators, username) may submit jobs to it: {type: bool}; unknown types are left out.",
			Call:    userCanSubmitToTypes},
	}
}

// help is the method's documentation with its signature line.
func (m *Method) help() string {
	s := m.Name + "("
	for i, p := range m.Params {
		if i > 0 {
			s += ", "
		}
		s += p.Name
		if p.Optional {
			s += "=None"
		}
	}
	return s + ")\n\n" + m.Help
}

// lookup returns the method named by parameter i.
func (c *Call) lookup(i int) (*Method, error) {
	name, err := c.String(i, "")
	if err != nil {
		return nil, err
	}
	m, ok := c.Server.methods[name]
	if !ok {
		return nil, &xmlrpc.Fault{Code: FaultNoSuchMethod, Message: fmt.Sprintf("No such method: %q", name)}
	}
	return m, nil
}

// multicall runs system.multicall.
func multicall(c *Call) (any, error) {
	list, ok := c.Arg(0).([]any)
	if !ok {
		return nil, &xmlrpc.Fault{Code: FaultBadParams, Message: "system.multicall expected a list of methods to call"}
	}
	out := make([]any, 0, len(list))
	for _, sub := range list {
		v, err := c.multicallOne(sub)
		if err != nil {
			code, msg := c.Server.fault("system.multicall", err)
			out = append(out, xmlrpc.Struct{{Name: "faultCode", Value: code}, {Name: "faultString", Value: msg}})
			continue
		}
		out = append(out, []any{v})
	}
	return out, nil
}

func (c *Call) multicallOne(sub any) (any, error) {
	bad := func(msg string) error { return &xmlrpc.Fault{Code: FaultBadParams, Message: "system.multicall " + msg} }
	m, ok := sub.(map[string]any)
	if !ok {
		return nil, bad("expected struct")
	}
	name, ok := m["methodName"]
	if !ok {
		return nil, bad("methodName not specified")
	}
	ns, ok := name.(string)
	if !ok {
		return nil, bad("methodName must be a string")
	}
	params, ok := m["params"]
	if !ok {
		return nil, bad("params not specified")
	}
	ps, ok := params.([]any)
	if !ok {
		return nil, bad("params must be an array")
	}
	if len(m) > 2 {
		return nil, bad("specified additional arguments")
	}
	if ns == "system.multicall" {
		return nil, bad("cannot call system.multicall recursively")
	}
	return c.Server.dispatch(c.ctx, c.P, ns, ps)
}

// onBehalf returns the principal the user_can_* queries answer for: the
// caller, or for administrators the user named by parameter i.
func (c *Call) onBehalf(i int) (auth.Principal, error) {
	name, err := c.String(i, "")
	if err != nil || name == "" {
		return c.P, err
	}
	return c.App.ActAs(c.ctx, c.P, name)
}

func userCanViewJobs(c *Call) (any, error) {
	ids, ok := c.Arg(0).([]any)
	if !ok {
		return nil, c.badParam(0, "job list argument must be a list")
	}
	who, err := c.onBehalf(1)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, v := range ids {
		key := jobPyStr(v)
		id, ok := jobID(v)
		if s, isStr := v.(string); isStr && strings.Contains(s, ".") {
			// A sub_id names a job of a multinode group, as in LAVA.
			j, err := jobBySubID(c, s)
			if err != nil {
				continue // not a job the caller may see
			}
			id, ok = j.ID, true
		} else if ok {
			// The caller learns nothing about jobs it may not see itself.
			if _, err := c.App.GetJob(c.ctx, c.P, id); err != nil {
				if errors.Is(err, lab.ErrNotFound) {
					continue
				}
				return nil, err
			}
		}
		if !ok {
			continue
		}
		_, err := c.App.GetJob(c.ctx, who, id)
		switch {
		case err == nil:
			out[key] = true
		case errors.Is(err, lab.ErrNotFound):
			out[key] = false
		default:
			return nil, err
		}
	}
	return out, nil
}

// jobID reads a job id given as an integer or a string ("1234"); a
// multinode sub_id ("1234.0") is looked up by jobBySubID.
func jobID(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func userCanViewDevices(c *Call) (any, error) {
	names, err := c.Strings(0)
	if err != nil {
		return nil, c.badParam(0, "device list argument must be a list")
	}
	who, err := c.onBehalf(1)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, h := range names {
		d, err := c.App.GetDevice(c.ctx, c.P, h)
		if errors.Is(err, lab.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		_, err = c.App.GetDevice(c.ctx, who, h)
		visible := err == nil
		if err != nil && !errors.Is(err, lab.ErrNotFound) {
			return nil, err
		}
		list, _ := out[d.DeviceType].([]any)
		out[d.DeviceType] = append(list, map[string]any{h: map[string]any{"visible": visible}})
	}
	return out, nil
}

func userCanSubmitToTypes(c *Call) (any, error) {
	names, err := c.Strings(0)
	if err != nil {
		return nil, c.badParam(0, "type list argument must be a list")
	}
	who, err := c.onBehalf(1)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, n := range names {
		if _, err := c.App.GetDeviceType(c.ctx, n); err != nil {
			if errors.Is(err, lab.ErrNotFound) {
				continue
			}
			return nil, err
		}
		out[n] = auth.CanSubmit(who)
	}
	return out, nil
}
