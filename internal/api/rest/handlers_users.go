package rest

import (
	"net/http"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

func (api *API) listUsers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	us, err := api.app.ListUsers(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(us, userJSON))
	return nil
}

func (api *API) createUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.UserInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	nu := app.NewUser{Username: in.Username}
	str := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	nu.Email, nu.FirstName, nu.LastName, nu.Password = str(in.Email), str(in.FirstName), str(in.LastName), str(in.Password)
	if in.IsSuperuser != nil {
		nu.IsSuperuser = *in.IsSuperuser
	}
	if in.IsActive != nil && !*in.IsActive {
		return invalidf("new users are active; deactivate with PATCH")
	}
	u, err := api.app.CreateUser(r.Context(), p, nu)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, userJSON(u))
	return nil
}

func (api *API) getUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	u, err := api.app.GetUser(r.Context(), p, r.PathValue("username"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userJSON(u))
	return nil
}

func (api *API) updateUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.UserInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Username != "" && in.Username != r.PathValue("username") {
		return invalidf("users cannot be renamed")
	}
	u, err := api.app.UpdateUser(r.Context(), p, r.PathValue("username"), app.UserUpdate{
		Email: in.Email, FirstName: in.FirstName, LastName: in.LastName, Password: in.Password,
		IsSuperuser: in.IsSuperuser, IsActive: in.IsActive})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userJSON(u))
	return nil
}

func (api *API) deleteUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := api.app.DeleteUser(r.Context(), p, r.PathValue("username")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func groupJSON(g lab.Group) wire.Group { return wire.Group{Name: g.Name, Members: nonNil(g.Members)} }

func (api *API) listGroups(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	gs, err := api.app.ListGroups(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(gs, groupJSON))
	return nil
}

func (api *API) createGroup(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.GroupInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if err := api.app.CreateGroup(r.Context(), p, in.Name); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.Group{Name: in.Name, Members: []string{}})
	return nil
}

func (api *API) getGroup(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := api.app.GetGroup(r.Context(), p, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, groupJSON(g))
	return nil
}

func (api *API) deleteGroup(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := api.app.DeleteGroup(r.Context(), p, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (api *API) setMember(w http.ResponseWriter, r *http.Request, p auth.Principal, member bool) error {
	if err := api.app.SetGroupMember(r.Context(), p, r.PathValue("name"), r.PathValue("username"), member); err != nil {
		return err
	}
	g, err := api.app.GetGroup(r.Context(), p, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, groupJSON(g))
	return nil
}

func (api *API) addMember(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return api.setMember(w, r, p, true)
}

func (api *API) removeMember(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return api.setMember(w, r, p, false)
}

func (api *API) listTokens(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireUser(p); err != nil {
		return err
	}
	ts, err := api.app.ListTokens(r.Context(), p, r.URL.Query().Get("owner"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(ts, tokenJSON))
	return nil
}

func (api *API) createToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireUser(p); err != nil {
		return err
	}
	var in wire.TokenInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	var exp time.Time
	if in.Expires != nil {
		exp = *in.Expires
	}
	tok, secret, err := api.app.CreateToken(r.Context(), p, in.Owner, in.Description, exp)
	if err != nil {
		return err
	}
	out := tokenJSON(tok)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (api *API) deleteToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := requireUser(p); err != nil {
		return err
	}
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	if err := api.app.DeleteToken(r.Context(), p, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
