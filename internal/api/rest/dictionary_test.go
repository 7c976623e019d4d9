package rest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// jsonString encodes s as a JSON string.
func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	must(t, err)
	return string(b)
}

// TestDictionaryErrorsCarryPositions: a device dictionary is validated when
// it is uploaded (PUT …/dictionary, PATCH and POST /devices); an invalid
// one is answered 400 invalid_dictionary with each problem's line, column
// and path, and the stored dictionary is left as it was.
func TestDictionaryErrorsCarryPositions(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			good := "{% extends 'qemu.jinja2' %}\n{% set memory = 1024 %}\n"
			status, body := e.do(admin, "PUT", "/devices/d1/dictionary", `{"dictionary":`+jsonString(t, good)+`}`)
			if status != 200 {
				t.Fatalf("valid dictionary: %d %s", status, body)
			}

			bad := "{% extends 'qemu.jinja2' %}\n{% set memroy = 1024 %}\n{% set memory = 'lots' %}\n"
			wantDetails := []wire.Problem{
				{Line: 2, Column: 8, Path: "$.memroy", Message: `unknown variable "memroy" for template qemu; did you mean "memory"?`},
				{Line: 3, Column: 17, Path: "$.memory", Message: `expected a number of MiB (1024) or a size like "2G", got the string "lots"`},
			}
			for _, req := range []struct{ method, path, body string }{
				{"PUT", "/devices/d1/dictionary", `{"dictionary":` + jsonString(t, bad) + `}`},
				{"PATCH", "/devices/d1", `{"dictionary":` + jsonString(t, bad) + `}`},
				{"POST", "/devices", `{"hostname":"d2","device_type":"qemu","worker_host":"w1","dictionary":` + jsonString(t, bad) + `}`},
			} {
				status, body := e.do(admin, req.method, req.path, req.body)
				if status != 400 {
					t.Fatalf("%s %s: status %d: %s", req.method, req.path, status, body)
				}
				var ej wire.ErrorResponse
				must(t, json.Unmarshal(body, &ej))
				if ej.Error.Code != "invalid_dictionary" || !strings.Contains(ej.Error.Message, "device dictionary: 2:8: $.memroy") {
					t.Errorf("%s %s: error %+v", req.method, req.path, ej.Error)
				}
				if len(ej.Error.Details) != len(wantDetails) {
					t.Fatalf("%s %s: details %+v", req.method, req.path, ej.Error.Details)
				}
				for i, d := range ej.Error.Details {
					if d != wantDetails[i] {
						t.Errorf("%s %s: detail %d = %+v, want %+v", req.method, req.path, i, d, wantDetails[i])
					}
				}
			}

			status, body = e.do(admin, "GET", "/devices/d1/dictionary", "")
			var dj wire.Dictionary
			must(t, json.Unmarshal(body, &dj))
			if status != 200 || dj.Dictionary != good {
				t.Errorf("dictionary after refused uploads: %d %q, want %q", status, dj.Dictionary, good)
			}
			if status, _ := e.do(admin, "GET", "/devices/d2", ""); status != 404 {
				t.Errorf("device d2 with an invalid dictionary was created (status %d)", status)
			}

			// A board's dictionary whose template the server does not have
			// is refused at the extends tag, saying where templates come from.
			must(t, e.App.CreateDeviceType(context.Background(), e.Principal(admin), lab.DeviceType{Name: "acme-board"}))
			bbb := "{% extends 'acme-board.jinja2' %}\n{% set connection_command = 'telnet serial 7001' %}\n"
			status, body = e.do(admin, "POST", "/devices", `{"hostname":"bbb01","device_type":"acme-board","worker_host":"w1","dictionary":`+jsonString(t, bbb)+`}`)
			var ej wire.ErrorResponse
			must(t, json.Unmarshal(body, &ej))
			want := wire.Problem{Line: 1, Column: 4, Message: "acme-board.jinja2: template not found (load it with `basalt device-types template set TYPE FILE`, or put it in the server's device-type templates directory)"}
			if status != 400 || ej.Error.Code != "invalid_dictionary" || len(ej.Error.Details) != 1 || ej.Error.Details[0] != want {
				t.Errorf("acme-board dictionary: %d %s", status, body)
			}
			// Once its template is stored, the same dictionary is accepted.
			status, body = e.do(admin, "PUT", "/device-types/acme-board/template", `{"template":`+jsonString(t, "commands:\n  connect: {{ connection_command }}\n")+`}`)
			if status != 200 {
				t.Fatalf("set template: %d %s", status, body)
			}
			if status, body = e.do(admin, "POST", "/devices", `{"hostname":"bbb01","device_type":"acme-board","worker_host":"w1","dictionary":`+jsonString(t, bbb)+`}`); status != 201 {
				t.Errorf("acme-board dictionary with its template: %d %s", status, body)
			}
			// On a qemu device, another template is a mismatch.
			status, body = e.do(admin, "PUT", "/devices/d1/dictionary", `{"dictionary":`+jsonString(t, bbb)+`}`)
			ej = wire.ErrorResponse{}
			must(t, json.Unmarshal(body, &ej))
			want = wire.Problem{Line: 1, Column: 12, Message: `the dictionary extends "acme-board" but the device type is "qemu": a qemu device extends qemu`}
			if status != 400 || len(ej.Error.Details) != 1 || ej.Error.Details[0] != want {
				t.Errorf("acme-board dictionary on a qemu device: %d %s", status, body)
			}

			// Empty text removes the dictionary.
			if status, body := e.do(admin, "PUT", "/devices/d1/dictionary", `{"dictionary":""}`); status != 200 {
				t.Errorf("empty dictionary: %d %s", status, body)
			}
		})
	}
}
