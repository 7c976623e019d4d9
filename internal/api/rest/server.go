package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/basalt-lab/basalt/internal/api/admit"
	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpserve"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// Prefix is where the API is mounted (wire.Prefix).
const Prefix = wire.Prefix

// maxBody bounds request bodies (job definitions, dictionaries).
const maxBody = 4 << 20

// Route is one API endpoint. The table of routes is the single source the
// mux, the OpenAPI test and the permission-matrix test all read.
type Route struct {
	Method  string
	Pattern string // path below wire.Prefix, Go ServeMux syntax
	handler func(*API, http.ResponseWriter, *http.Request, auth.Principal) error
	Summary string
	Access  Access // who may call it (documentation; the app layer enforces)
	In      any    // request body type (nil: none)
	Out     any    // response body type (nil: none, or not JSON)
}

// Access says who may call an endpoint.
type Access string

// Access levels, from most to least open.
const (
	AccessPublic Access = "public" // anyone; anonymous callers see public objects only
	AccessUser   Access = "user"   // any authenticated user
	AccessOwner  Access = "owner"  // the object's owner or an admin
	AccessSelf   Access = "self"   // the user themself or an admin
	AccessWorker Access = "worker" // the named worker's own token
	AccessAdmin  Access = "admin"  // superusers
)

// API serves /api/v1 over an app.App.
type API struct {
	app   *app.App
	mux   *http.ServeMux
	guard httpserve.Guard // runs every route's requests
}

// SetAdmission makes the API shed load beyond l's limit (package admit).
// Long polls of a log (?wait=) are not counted: they mostly wait.
func (api *API) SetAdmission(l *admit.Limiter) { api.guard.Admit = l }

// New returns the API handler. Mount it at "/" or under wire.Prefix's parent.
func New(a *app.App, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	api := &API{app: a, mux: http.NewServeMux(), guard: httpserve.Guard{
		App: a, Log: log, MaxBody: maxBody, WriteError: writeError,
		Challenge:  `Token realm="basalt", Basic realm="basalt"`,
		Unadmitted: longPoll,
	}}
	for _, r := range Routes() {
		api.mux.HandleFunc(r.Method+" "+wire.Prefix+r.Pattern, api.wrap(r))
	}
	api.mux.HandleFunc(wire.Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("no endpoint %s %s: %w", r.Method, r.URL.Path, lab.ErrNotFound))
	})
	return api
}

// ServeHTTP implements http.Handler.
func (api *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { api.mux.ServeHTTP(w, r) }

// Routes lists every endpoint of the API.
func Routes() []Route {
	return []Route{
		{"GET", "/openapi.json", (*API).openAPI, "This OpenAPI description", AccessPublic, nil, nil},
		{"GET", "/system/version", (*API).version, "Server version", AccessPublic, nil, wire.Version{}},
		{"GET", "/system/whoami", (*API).whoami, "Who the caller is", AccessPublic, nil, wire.Whoami{}},
		{"POST", "/token", (*API).tokenFromPassword, "Exchange username and password for a new API token", AccessPublic, wire.LoginInput{}, wire.Token{}},

		{"GET", "/jobs", (*API).listJobs, "List visible jobs (filters: state, health, device_type, device, submitter, health_check, target_group, q; paging: limit, offset)", AccessPublic, nil, wire.List[wire.Job]{}},
		{"POST", "/jobs", (*API).submitJob, "Submit a job definition (the answer lists its warnings)", AccessUser, wire.DefinitionInput{}, wire.Submitted{}},
		{"POST", "/jobs/validate", (*API).validateJob, "Validate a job definition without submitting it (strict: warnings are errors)", AccessPublic, wire.ValidateInput{}, wire.Validation{}},
		{"GET", "/jobs/{id}", (*API).getJob, "Show a job", AccessPublic, nil, wire.Job{}},
		{"GET", "/jobs/{id}/queue", (*API).jobQueue, "Why a queued job waits: a summary, job-level reasons and, for every device of its scope, the first reason it does not take the job (verdict not_queued once the job has left the queue)", AccessPublic, nil, wire.Queue{}},
		{"GET", "/jobs/{id}/definition", (*API).jobDefinition, "The job definition as YAML (?original=true for the submitted text)", AccessPublic, nil, nil},
		{"POST", "/jobs/{id}/cancel", (*API).cancelJob, "Cancel a job", AccessOwner, nil, wire.Job{}},
		{"GET", "/jobs/{id}/logs", (*API).jobLogs, "Log records of a job as NDJSON, one {dt, lvl, msg} object per line (?start=&end= line range; ?wait=30s long-polls for new lines; X-Total-Lines header)", AccessPublic, nil, nil},
		{"GET", "/jobs/{id}/results", (*API).jobResults, "Test cases of a job, in log order (filters: suite, set, case, result; paging: limit (default 1000, at most 10000), offset; log lines are 0-based)", AccessPublic, nil, wire.List[wire.Result]{}},
		{"GET", "/jobs/{id}/suites", (*API).jobSuites, "Test suites of a job with their cases counted by result, in log order", AccessPublic, nil, wire.List[wire.Suite]{}},
		{"POST", "/jobs/{id}/resubmit", (*API).resubmitJob, "Submit a job's definition again", AccessOwner, nil, wire.Submitted{}},
		{"GET", "/jobs/{id}/notifications", (*API).jobNotifications, "The notifications of a job's notify block (callbacks, e-mails, IRC) with every attempt to send them, oldest first", AccessPublic, nil, wire.List[wire.Notification]{}},

		{"GET", "/reservations", (*API).listReservations, "List queued and current reservations, oldest first (filters: device, holder; ?finished=true lists ended ones too, newest first; paging: limit, offset)", AccessPublic, nil, wire.List[wire.Reservation]{}},
		{"GET", "/reservations/{id}", (*API).getReservation, "Show a reservation", AccessPublic, nil, wire.Reservation{}},
		{"POST", "/reservations/{id}/extend", (*API).extendReservation, "Give a reservation more time: its duration while queued, its end while it runs (what is left at most the server's maximum)", AccessOwner, wire.ExtendInput{}, wire.Reservation{}},
		{"POST", "/reservations/{id}/release", (*API).releaseReservation, "End a reservation: its holder releases it, an admin ends anyone's (queued: canceled at once)", AccessOwner, nil, wire.Reservation{}},

		{"GET", "/devices", (*API).listDevices, "List devices (filters: device_type, worker, health, state)", AccessPublic, nil, wire.List[wire.Device]{}},
		{"POST", "/devices", (*API).createDevice, "Add a device", AccessAdmin, wire.DeviceInput{}, wire.Device{}},
		{"GET", "/devices/{hostname}", (*API).getDevice, "Show a device", AccessPublic, nil, wire.Device{}},
		{"PATCH", "/devices/{hostname}", (*API).updateDevice, "Change a device's type, worker, description, tags or dictionary", AccessAdmin, wire.DeviceInput{}, wire.Device{}},
		{"POST", "/devices/{hostname}/health", (*API).setDeviceHealth, "Set a device's health with a reason", AccessAdmin, wire.HealthInput{}, wire.Device{}},
		{"GET", "/devices/{hostname}/dictionary", (*API).getDictionary, "Read a device dictionary", AccessAdmin, nil, wire.Dictionary{}},
		{"PUT", "/devices/{hostname}/dictionary", (*API).putDictionary, "Replace a device dictionary", AccessAdmin, wire.Dictionary{}, wire.Dictionary{}},
		{"POST", "/devices/{hostname}/reservations", (*API).reserveDevice, "Reserve a device for yourself: duration (\"2h\", 1 minute to the server's maximum), reason, priority (default 50); queued like a job naming the device", AccessUser, wire.ReserveInput{}, wire.Reservation{}},
		{"GET", "/devices/{hostname}/history", (*API).deviceHistory, "A device's health transitions, newest first", AccessPublic, nil, wire.List[wire.DeviceTransition]{}},

		{"GET", "/device-types", (*API).listDeviceTypes, "List device types", AccessPublic, nil, wire.List[wire.DeviceType]{}},
		{"POST", "/device-types", (*API).createDeviceType, "Add a device type", AccessAdmin, wire.DeviceTypeInput{}, wire.DeviceType{}},
		{"GET", "/device-types/{name}", (*API).getDeviceType, "Show a device type", AccessPublic, nil, wire.DeviceType{}},
		{"PATCH", "/device-types/{name}", (*API).updateDeviceType, "Change a device type", AccessAdmin, wire.DeviceTypeInput{}, wire.DeviceType{}},
		{"DELETE", "/device-types/{name}", (*API).deleteDeviceType, "Remove an unused device type", AccessAdmin, nil, nil},
		{"GET", "/device-types/{name}/health-check", (*API).getHealthCheck, "The device type's health-check job", AccessPublic, nil, wire.DefinitionInput{}},
		{"PUT", "/device-types/{name}/health-check", (*API).putHealthCheck, "Set (or with an empty definition remove) the health-check job", AccessAdmin, wire.DefinitionInput{}, wire.DefinitionInput{}},
		{"GET", "/device-types/{name}/template", (*API).getTemplate, "The device type's stored template (Jinja2); 404 when it has none", AccessPublic, nil, wire.DeviceTemplate{}},
		{"PUT", "/device-types/{name}/template", (*API).putTemplate, "Set (or with an empty template remove) the device type's stored template, at most 1 MiB", AccessAdmin, wire.TemplateInput{}, wire.DeviceTemplate{}},
		{"GET", "/device-templates", (*API).listTemplates, "List stored device-type templates: names and update times, without texts", AccessAdmin, nil, wire.List[wire.DeviceTemplate]{}},

		{"GET", "/aliases", (*API).listAliases, "List device-type aliases", AccessPublic, nil, wire.List[wire.Alias]{}},
		{"POST", "/aliases", (*API).createAlias, "Add an alias", AccessAdmin, wire.Alias{}, wire.Alias{}},
		{"DELETE", "/aliases/{name}", (*API).deleteAlias, "Remove an alias", AccessAdmin, nil, nil},

		{"GET", "/tags", (*API).listTags, "List tags", AccessPublic, nil, wire.List[wire.Tag]{}},
		{"POST", "/tags", (*API).createTag, "Add a tag", AccessAdmin, wire.Tag{}, wire.Tag{}},
		{"GET", "/tags/{name}", (*API).getTag, "Show a tag", AccessPublic, nil, wire.Tag{}},
		{"DELETE", "/tags/{name}", (*API).deleteTag, "Remove a tag", AccessAdmin, nil, nil},

		{"GET", "/workers", (*API).listWorkers, "List workers", AccessPublic, nil, wire.List[wire.Worker]{}},
		{"POST", "/workers", (*API).createWorker, "Add a worker; the response holds its token, shown once", AccessAdmin, wire.WorkerInput{}, wire.NewWorker{}},
		{"GET", "/workers/{name}", (*API).getWorker, "Show a worker", AccessPublic, nil, wire.Worker{}},
		{"PATCH", "/workers/{name}", (*API).updateWorker, "Change a worker's description, job limit or health", AccessAdmin, wire.WorkerInput{}, wire.Worker{}},
		{"POST", "/workers/{name}/token", (*API).rotateWorkerToken, "Revoke a worker's tokens and issue a new one", AccessAdmin, nil, wire.WorkerToken{}},
		{"POST", "/workers/{name}/join-token", (*API).joinToken, "Issue a one-time join token the worker exchanges for its own token", AccessAdmin, wire.JoinTokenInput{}, wire.JoinToken{}},
		{"GET", "/workers/{name}/history", (*API).workerHistory, "A worker's state and health transitions, newest first", AccessPublic, nil, wire.List[wire.WorkerTransition]{}},
		{"POST", "/workers/{name}/heartbeat", (*API).heartbeat, "Heartbeat from the worker itself (worker token only)", AccessWorker, wire.HeartbeatInput{}, wire.Worker{}},

		{"GET", "/users", (*API).listUsers, "List users", AccessAdmin, nil, wire.List[wire.User]{}},
		{"POST", "/users", (*API).createUser, "Add a user", AccessAdmin, wire.UserInput{}, wire.User{}},
		{"GET", "/users/{username}", (*API).getUser, "Show a user (admins, or the user themself)", AccessSelf, nil, wire.User{}},
		{"PATCH", "/users/{username}", (*API).updateUser, "Change a user (users may change their own e-mail, names and password)", AccessSelf, wire.UserInput{}, wire.User{}},
		{"DELETE", "/users/{username}", (*API).deleteUser, "Remove a user and their tokens", AccessAdmin, nil, nil},

		{"GET", "/groups", (*API).listGroups, "List groups", AccessAdmin, nil, wire.List[wire.Group]{}},
		{"POST", "/groups", (*API).createGroup, "Add a group", AccessAdmin, wire.GroupInput{}, wire.Group{}},
		{"GET", "/groups/{name}", (*API).getGroup, "Show a group", AccessAdmin, nil, wire.Group{}},
		{"DELETE", "/groups/{name}", (*API).deleteGroup, "Remove a group", AccessAdmin, nil, nil},
		{"PUT", "/groups/{name}/members/{username}", (*API).addMember, "Add a user to a group", AccessAdmin, nil, wire.Group{}},
		{"DELETE", "/groups/{name}/members/{username}", (*API).removeMember, "Remove a user from a group", AccessAdmin, nil, wire.Group{}},

		{"GET", "/tokens", (*API).listTokens, "List your tokens (admins: ?owner=)", AccessUser, nil, wire.List[wire.Token]{}},
		{"POST", "/tokens", (*API).createToken, "Create a token; the secret is shown once", AccessUser, wire.TokenInput{}, wire.Token{}},
		{"DELETE", "/tokens/{id}", (*API).deleteToken, "Revoke a token", AccessUser, nil, nil},

		{"POST", "/reservations/{id}/console", (*API).consoleInput, "Type into a running reservation's console (text, bytes or a power action); its holder only. What the board prints is the reservation's log (/jobs/{id}/logs)", AccessOwner, wire.ConsoleInput{}, wire.ConsoleAck{}},
	}
}

// wrap turns a route into an http.HandlerFunc: bound the body, shed load,
// authenticate, call, map errors, recover from panics (a bug must answer
// 500, not kill the server); package httpserve does it all.
func (api *API) wrap(rt Route) http.HandlerFunc {
	route := rt.Method + " " + rt.Pattern
	h := func(w http.ResponseWriter, r *http.Request, p auth.Principal) error { return rt.handler(api, w, r, p) }
	return func(w http.ResponseWriter, r *http.Request) { api.guard.Serve(w, r, route, h) }
}

// longPoll says a request long-polls a log (?wait=): it mostly waits, and
// admission does not count it.
func longPoll(r *http.Request) bool { return r.URL.Query().Has("wait") }

// writeError answers with err's status and error envelope (package
// apierr, the one mapping every transport uses).
func writeError(w http.ResponseWriter, err error) {
	m := apierr.Map(err)
	m.SetHeaders(w.Header())
	writeJSON(w, m.Status, m.Body())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// readJSON decodes the request body strictly: unknown fields are errors.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, apierr.ErrBodyTimeout) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: request body is empty (expected JSON)", lab.ErrInvalid)
		}
		return fmt.Errorf("%w: request body: %v", lab.ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: request body has data after the JSON value", lab.ErrInvalid)
	}
	return nil
}

func writeText(w http.ResponseWriter, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, body)
}

// requireUser is for endpoints that need an authenticated caller of any kind.
func requireUser(p auth.Principal) error {
	if p.Kind == auth.KindAnonymous {
		return fmt.Errorf("this endpoint needs a token: %w", lab.ErrUnauthenticated)
	}
	return nil
}

// invalidf is a 400 error with a message for the caller.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", lab.ErrInvalid, fmt.Sprintf(format, args...))
}
