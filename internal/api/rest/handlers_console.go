package rest

import (
	"fmt"
	"net/http"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// consoleInput types into a running reservation's console.
func (api *API) consoleInput(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	var in wire.ConsoleInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	data := in.Bytes
	if in.Data != "" {
		if len(in.Bytes) > 0 {
			return fmt.Errorf("%w: console input has both data and bytes", lab.ErrInvalid)
		}
		data = []byte(in.Data)
	}
	ack, err := api.app.ConsoleInput(r.Context(), p, id, data, in.Power)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, wire.ConsoleAck{Seq: ack.Seq})
	return nil
}
