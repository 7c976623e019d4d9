package lavarest

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpauth"
	"github.com/basalt-lab/basalt/internal/api/lavawire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/version"
)

// root lists the collections of the API, as DRF's router does.
func (api *API) root(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	out := map[string]string{}
	for _, name := range []string{"aliases", "devices", "devicetypes", "jobs", "system", "tags", "workers"} {
		out[name] = absURL(r, Prefix+"/"+name+"/", nil)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// system answers the system collection itself, empty as in LAVA.
func (api *API) system(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return nil
}

// version answers the server's version without reading the database or
// the credentials: KernelCI uses it as a liveness probe.
func (api *API) version(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, lavawire.Version{Version: version.Version})
	return nil
}

// whoami answers the caller's username ("" when anonymous).
func (api *API) whoami(w http.ResponseWriter, _ *http.Request, p auth.Principal) error {
	writeJSON(w, http.StatusOK, lavawire.Whoami{User: p.Username})
	return nil
}

// masterConfig answers LAVA's event settings
// (lavawire.BasaltMasterConfig).
func (api *API) masterConfig(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, lavawire.BasaltMasterConfig)
	return nil
}

// tokenDescription describes the tokens token/ creates, as LAVA's do.
const tokenDescription = "Created by REST API call"

// token exchanges a username and a password for a new API token of the
// user (LAVA returns one of the user's existing tokens, but Basalt keeps
// only their hashes). Missing fields and bad credentials answer 400 in
// DRF's form; a throttled login 429.
func (api *API) token(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	in, err := readInput(r)
	if err != nil {
		return err
	}
	fields := map[string]string{}
	for _, name := range []string{"username", "password"} {
		v, _, err := in.str(name)
		if err != nil {
			return err
		}
		if v == "" {
			return fieldErr(name, "This field is required.")
		}
		fields[name] = v
	}
	p, err := api.app.Login(r.Context(), fields["username"], fields["password"], httpauth.ClientAddr(r))
	if errors.Is(err, lab.ErrUnauthenticated) {
		return fieldErr("non_field_errors", "Unable to log in with provided credentials.")
	} else if err != nil {
		return err
	}
	_, secret, err := api.app.CreateToken(r.Context(), p, p.Username, tokenDescription, time.Time{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, lavawire.Token{Token: secret})
	return nil
}

// Routes lists every endpoint of the API, below Prefix.
func Routes() []Route {
	return slices.Concat([]Route{
		{Method: "GET", Pattern: "/", handler: (*API).root, Summary: "The API's collections"},
		{Method: "GET", Pattern: "/system/", handler: (*API).system, Summary: "System utilities (empty)"},
		{Method: "GET", Pattern: "/system/version/", handler: (*API).version, Bare: true,
			Summary: "The server's version, without reading the database or the credentials (a liveness probe)"},
		{Method: "GET", Pattern: "/system/whoami/", handler: (*API).whoami, Summary: "The caller's username (\"\" when anonymous)"},
		{Method: "GET", Pattern: "/system/master_config/", handler: (*API).masterConfig, Summary: "LAVA's event settings"},
		{Method: "POST", Pattern: "/token/", handler: (*API).token, Summary: "A new API token for {username, password}"},
	}, jobRoutes(), resultRoutes(), labRoutes())
}
