package rest

import (
	"net/http"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// --- device-type templates (LAVA's scheduler.device_types.get_template and
// set_template, REST /api/v0.2/devicetypes/<name>/template/)

// templateJSON is t's wire form; withText false leaves the text out (for
// listings).
func templateJSON(t lab.DeviceTemplate, withText bool) wire.DeviceTemplate {
	out := wire.DeviceTemplate{Name: t.Name}
	if withText {
		out.Template = t.Text
	}
	if !t.Updated.IsZero() {
		u := t.Updated.UTC()
		out.Updated = &u
	}
	return out
}

func (api *API) getTemplate(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	t, err := api.app.DeviceTypeTemplate(r.Context(), p, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, templateJSON(t, true))
	return nil
}

// putTemplate sets the template (the request body is bounded like every
// request's; the app bounds the text to 1 MiB) and answers with it as
// stored; an empty template removes it and answers with no update time.
func (api *API) putTemplate(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.TemplateInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := api.app.SetDeviceTypeTemplate(r.Context(), p, name, in.Template); err != nil {
		return err
	}
	if in.Template == "" {
		writeJSON(w, http.StatusOK, wire.DeviceTemplate{Name: name})
		return nil
	}
	t, err := api.app.DeviceTypeTemplate(r.Context(), p, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, templateJSON(t, true))
	return nil
}

func (api *API) listTemplates(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ts, err := api.app.DeviceTemplates(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(ts, func(t lab.DeviceTemplate) wire.DeviceTemplate { return templateJSON(t, false) }))
	return nil
}
