package rest_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// templateBody is the JSON body of a PUT of text.
func templateBody(text string) string {
	b, _ := json.Marshal(wire.TemplateInput{Template: text})
	return string(b)
}

// wantError checks an error response's status and code.
func wantError(t *testing.T, what string, status int, body []byte, wantStatus int, code, msg string) {
	t.Helper()
	var ej wire.ErrorResponse
	if err := json.Unmarshal(body, &ej); err != nil {
		t.Fatalf("%s: error body is not wire.ErrorResponse: %v: %.200s", what, err, body)
	}
	if status != wantStatus || ej.Error.Code != code || !strings.Contains(ej.Error.Message, msg) {
		t.Errorf("%s: %d %+v, want %d %s with %q", what, status, ej.Error, wantStatus, code, msg)
	}
}

// TestDeviceTypeTemplate: PUT stores a template and answers with it as
// stored, GET returns it to anyone, GET /device-templates lists names and
// times without texts for admins, an empty PUT removes it; unknown types
// and missing templates are 404, users 403, anonymous 401, a text over
// 1 MiB 400 and a body over the server's limit 413.
func TestDeviceTypeTemplate(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			text := "{% extends 'base-uboot.jinja2' %}\n{% set console_device = console_device | default('ttyAMA0') %}\n{# <café> & \"quotes\" #}\n"
			before := time.Now().UTC().Truncate(time.Microsecond)
			status, body := e.do(admin, "PUT", "/device-types/qemu/template", templateBody(text))
			after := time.Now().UTC()
			if status != 200 {
				t.Fatalf("PUT: %d %s", status, body)
			}
			var put wire.DeviceTemplate
			must(t, json.Unmarshal(body, &put))
			if put.Name != "qemu" || put.Template != text || put.Updated == nil || put.Updated.Before(before) || put.Updated.After(after) {
				t.Errorf("PUT answered %+v, want qemu's text updated within [%v, %v]", put, before, after)
			}

			for _, who := range []int{anon, alice, admin} {
				status, body := e.do(who, "GET", "/device-types/qemu/template", "")
				var got wire.DeviceTemplate
				if status != 200 || json.Unmarshal(body, &got) != nil || got.Name != "qemu" || got.Template != text ||
					got.Updated == nil || !got.Updated.Equal(*put.Updated) {
					t.Errorf("GET as %s: %d %s", identNames[who], status, body)
				}
			}

			status, body = e.do(admin, "GET", "/device-templates", "")
			var list wire.List[wire.DeviceTemplate]
			must(t, json.Unmarshal(body, &list))
			if status != 200 || list.Count != 1 || len(list.Results) != 1 || list.Results[0].Name != "qemu" ||
				list.Results[0].Template != "" || !list.Results[0].Updated.Equal(*put.Updated) {
				t.Errorf("list: %d %s", status, body)
			}
			if strings.Contains(string(body), `"template"`) {
				t.Errorf("list carries texts: %s", body)
			}

			big := strings.Repeat("x", 1<<20+1)
			huge := strings.Repeat("x", 5<<20)
			cases := []struct {
				name, method, path, body string
				who                      int
				status                   int
				code, msg                string
			}{
				{"unknown type GET", "GET", "/device-types/nope/template", "", alice, 404, "not_found", `device type "nope"`},
				{"unknown type PUT", "PUT", "/device-types/nope/template", templateBody(text), admin, 404, "not_found", `device type "nope"`},
				{"user PUT", "PUT", "/device-types/qemu/template", templateBody("x"), alice, 403, "forbidden", "set device-type template"},
				{"anonymous PUT", "PUT", "/device-types/qemu/template", templateBody("x"), anon, 401, "unauthenticated", "set device-type template"},
				{"user list", "GET", "/device-templates", "", alice, 403, "forbidden", "list device templates"},
				{"over 1 MiB", "PUT", "/device-types/qemu/template", templateBody(big), admin, 400, "invalid",
					"template of device type qemu is 1048577 bytes; the limit is 1048576 (1 MiB)"},
				{"NUL", "PUT", "/device-types/qemu/template", templateBody("a\x00b"), admin, 400, "invalid", "holds a NUL character"},
				{"body over the limit", "PUT", "/device-types/qemu/template", templateBody(huge), admin, 413, "too_large", "request body too large"},
				{"unknown field", "PUT", "/device-types/qemu/template", `{"text":"x"}`, admin, 400, "invalid", `unknown field "text"`},
			}
			for _, c := range cases {
				status, body := e.do(c.who, c.method, c.path, c.body)
				wantError(t, c.name, status, body, c.status, c.code, c.msg)
			}
			status, body = e.do(alice, "GET", "/device-types/qemu/template", "")
			var got wire.DeviceTemplate
			if json.Unmarshal(body, &got) != nil || status != 200 || got.Template != text {
				t.Errorf("after the refusals: %d %.200s", status, body)
			}

			// The largest template round-trips.
			exact := strings.Repeat("{{ x }}\n", (1<<20)/8)
			status, body = e.do(admin, "PUT", "/device-types/qemu/template", templateBody(exact))
			if json.Unmarshal(body, &got) != nil || status != 200 || got.Template != exact {
				t.Errorf("PUT 1 MiB: %d, %d bytes back", status, len(got.Template))
			}

			// An empty template removes it, twice over.
			for i := range 2 {
				status, body = e.do(admin, "PUT", "/device-types/qemu/template", templateBody(""))
				if status != 200 || strings.TrimSpace(string(body)) != "{\n  \"name\": \"qemu\",\n  \"updated\": null\n}" {
					t.Errorf("remove %d: %d %s", i, status, body)
				}
			}
			status, body = e.do(alice, "GET", "/device-types/qemu/template", "")
			wantError(t, "GET after removal", status, body, 404, "not_found", "device type qemu has no stored template")
			status, body = e.do(admin, "GET", "/device-templates", "")
			if status != 200 || strings.TrimSpace(string(body)) != "{\n  \"count\": 0,\n  \"limit\": 0,\n  \"offset\": 0,\n  \"results\": []\n}" {
				t.Errorf("list after removal: %d %s", status, body)
			}
		})
	}
}

// TestDeviceTemplateSchema: the responses carry exactly the properties the
// OpenAPI description gives DeviceTemplate.
func TestDeviceTemplateSchema(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	_, body := e.do(anon, "GET", "/openapi.json", "")
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	must(t, json.Unmarshal(body, &doc))
	s, ok := doc.Components.Schemas["DeviceTemplate"]
	if !ok {
		t.Fatal("no DeviceTemplate schema")
	}
	var props []string
	for k := range s.Properties {
		props = append(props, k)
	}
	slices.Sort(props)
	slices.Sort(s.Required)
	if fmt.Sprint(props) != "[name template updated]" || fmt.Sprint(s.Required) != "[name updated]" {
		t.Errorf("DeviceTemplate schema: properties %v, required %v", props, s.Required)
	}
	_, body = e.do(admin, "PUT", "/device-types/qemu/template", templateBody("{# t #}\n"))
	var m map[string]any
	must(t, json.Unmarshal(body, &m))
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if fmt.Sprint(keys) != "[name template updated]" {
		t.Errorf("PUT answered fields %v", keys)
	}
}
