package rest

import (
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/version"
)

// The OpenAPI description is built from the route table and the very Go
// types the handlers encode and decode, so it cannot drift from them; the
// tests check that real responses carry exactly the documented fields.

var (
	openAPIOnce sync.Once
	openAPIDoc  map[string]any
)

// OpenAPI returns the OpenAPI 3.1 description of /api/v1.
func OpenAPI() map[string]any {
	openAPIOnce.Do(func() { openAPIDoc = buildOpenAPI() })
	return openAPIDoc
}

func (api *API) openAPI(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, OpenAPI())
	return nil
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

func buildOpenAPI() map[string]any {
	schemas := map[string]any{}
	paths := map[string]any{}
	for _, rt := range Routes() {
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": strings.ToLower(rt.Method) + strings.NewReplacer("/", "_", "{", "", "}", "", "-", "_", ".", "_").Replace(rt.Pattern),
			"x-access":    string(rt.Access),
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Pattern, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.In != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaRef(reflect.TypeOf(rt.In), schemas)}}}
		}
		responses := map[string]any{
			"default": map[string]any{"description": "error", "content": map[string]any{
				"application/json": map[string]any{"schema": schemaRef(reflect.TypeOf(wire.ErrorResponse{}), schemas)}}},
		}
		okCode, okDesc := "200", "success"
		switch {
		case rt.Method == "POST" && rt.Out != nil && createdRoutes[rt.Pattern]:
			okCode, okDesc = "201", "created"
		case rt.Out == nil && rt.Method == "DELETE":
			okCode, okDesc = "204", "deleted"
		}
		ok := map[string]any{"description": okDesc}
		switch {
		case rt.Out != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaRef(reflect.TypeOf(rt.Out), schemas)}}
		case strings.HasSuffix(rt.Pattern, "/logs"):
			ok["content"] = map[string]any{"application/x-ndjson": map[string]any{"schema": map[string]any{"type": "string"}}}
		case strings.HasSuffix(rt.Pattern, "/definition"):
			ok["content"] = map[string]any{"application/yaml": map[string]any{"schema": map[string]any{"type": "string"}}}
		case rt.Pattern == "/openapi.json":
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		}
		responses[okCode] = ok
		op["responses"] = responses
		item, _ := paths[wire.Prefix+rt.Pattern].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[wire.Prefix+rt.Pattern] = item
		}
		item[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Basalt API",
			"version":     version.Version,
			"description": "Basalt's JSON API. Authenticate with `Authorization: Token <secret>` or HTTP Basic `username:token`. Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"token": map[string]any{"type": "apiKey", "in": "header", "name": "Authorization", "description": "Token <secret>"},
				"basic": map[string]any{"type": "http", "scheme": "basic", "description": "username:token"},
			},
		},
		"security": []any{map[string]any{}, map[string]any{"token": []any{}}, map[string]any{"basic": []any{}}},
	}
}

// createdRoutes are the POST endpoints that answer 201.
var createdRoutes = map[string]bool{
	"/token": true, "/jobs": true, "/jobs/{id}/resubmit": true, "/devices": true, "/device-types": true,
	"/aliases": true, "/tags": true, "/workers": true, "/workers/{name}/token": true, "/users": true,
	"/groups": true, "/tokens": true, "/workers/{name}/join-token": true,
}

var timeType = reflect.TypeOf(time.Time{})

// schemaRef returns a JSON schema for t, registering named struct types in
// schemas and referring to them.
func schemaRef(t reflect.Type, schemas map[string]any) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Pointer:
		inner := schemaRef(t.Elem(), schemas)
		return map[string]any{"anyOf": []any{inner, map[string]any{"type": "null"}}}
	case t.Kind() == reflect.Slice:
		return map[string]any{"type": "array", "items": schemaRef(t.Elem(), schemas)}
	case t.Kind() == reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaRef(t.Elem(), schemas)}
	case t.Kind() == reflect.String:
		return map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		return map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return map[string]any{"type": "integer"}
	case t.Kind() == reflect.Struct:
		name := strings.NewReplacer("[", "_", "]", "", "github.com/basalt-lab/basalt/internal/api/wire.", "").Replace(t.Name())
		if _, ok := schemas[name]; !ok {
			schemas[name] = map[string]any{} // break cycles
			props := map[string]any{}
			var required []string
			for i := range t.NumField() {
				f := t.Field(i)
				tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if tag == "" || tag == "-" || !f.IsExported() {
					continue
				}
				props[tag] = schemaRef(f.Type, schemas)
				if !strings.Contains(f.Tag.Get("json"), "omitempty") {
					required = append(required, tag)
				}
			}
			schemas[name] = map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}
