package lavarpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/basalt-lab/basalt/internal/api/admit"
	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpauth"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/xmlrpc"
)

// Path is where the API is mounted; Path+"/" serves it too.
const Path = "/RPC2"

// The XML-RPC fault codes of the call itself (LAVA's, from the
// xmlrpc-epi list); the faults of methods use HTTP statuses.
const (
	FaultInvalidRequest = -32600
	FaultNoSuchMethod   = -32601
	FaultBadParams      = -32602
	FaultInternal       = -32603
)

// Server serves the XML-RPC API over an app.App.
type Server struct {
	app     *app.App
	log     *slog.Logger
	admit   *admit.Limiter
	methods map[string]*Method
	names   []string
}

// New returns the API handler; mount it at Path and Path+"/".
func New(a *app.App, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{app: a, log: log, methods: map[string]*Method{}}
	for _, m := range Methods() {
		if _, dup := s.methods[m.Name]; dup {
			panic("lavarpc: method " + m.Name + " declared twice")
		}
		s.methods[m.Name] = m
		s.names = append(s.names, m.Name)
	}
	sort.Strings(s.names)
	return s
}

// SetAdmission makes the API shed load beyond l's limit (package admit).
func (s *Server) SetAdmission(l *admit.Limiter) { s.admit = l }

// ServeHTTP answers one XML-RPC request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic in XML-RPC handler", "panic", v)
			s.writeFault(w, FaultInternal, "Internal Server Error (the server's log has the details)")
		}
	}()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "XML-RPC: POST a <methodCall> (docs/lava-clients.md)", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, xmlrpc.DefaultLimits.MaxBytes)
	release, err := s.admit.Enter(w, r, xmlrpc.DefaultLimits.MaxBytes)
	if err != nil {
		s.writeHTTPError(w, err)
		return
	}
	defer release()
	p, status, msg := s.authenticate(r)
	if status != 0 {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="XML-RPC Authentication token"`)
		}
		http.Error(w, msg, status)
		return
	}
	call, err := xmlrpc.ReadCall(r.Body, xmlrpc.DefaultLimits)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, xmlrpc.ErrTooLarge) {
			http.Error(w, fmt.Sprintf("the request body is larger than %d bytes", xmlrpc.DefaultLimits.MaxBytes), http.StatusRequestEntityTooLarge)
			return
		}
		if errors.Is(err, apierr.ErrBodyTimeout) {
			s.writeHTTPError(w, err)
			return
		}
		s.writeFault(w, FaultInvalidRequest, "Unable to decode request: "+err.Error())
		return
	}
	v, err := s.dispatch(r.Context(), p, call.Method, call.Params)
	if err != nil {
		s.writeError(w, call.Method, err)
		return
	}
	var b bytes.Buffer
	if err := xmlrpc.WriteResponse(&b, v); err != nil {
		s.log.Error("XML-RPC response cannot be written", "method", call.Method, "err", err)
		s.writeFault(w, FaultInternal, "Internal Server Error (the server's log has the details)")
		return
	}
	writeXML(w, b.Bytes())
}

// authenticate reads LAVA's credentials: none (anonymous) or HTTP Basic
// user:token. It returns an HTTP status and message for a request that
// must be refused before any XML-RPC (0 when it may go on).
func (s *Server) authenticate(r *http.Request) (auth.Principal, int, string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return auth.Anonymous(), 0, ""
	}
	scheme, _, ok := strings.Cut(h, " ")
	switch {
	case !ok:
		return auth.Principal{}, http.StatusBadRequest, "Invalid HTTP_AUTHORIZATION header"
	case scheme != "Basic":
		return auth.Principal{}, http.StatusBadRequest, "Unsupported HTTP_AUTHORIZATION header, only Basic scheme is supported"
	}
	if _, _, ok := r.BasicAuth(); !ok {
		return auth.Principal{}, http.StatusBadRequest, "Corrupted HTTP_AUTHORIZATION header, no user:pass"
	}
	p, err := httpauth.Principal(r, s.app)
	if err != nil {
		if m := apierr.Map(err); m.Condition() || m.Status >= 500 || m.Status == http.StatusTooManyRequests {
			s.report("authenticate", err)
			return auth.Principal{}, m.Status, m.Message
		}
		return auth.Principal{}, http.StatusUnauthorized, "Invalid token"
	}
	return p, 0, ""
}

// dispatch calls one method (system.multicall calls it for each of its
// calls).
func (s *Server) dispatch(ctx context.Context, p auth.Principal, name string, params []any) (any, error) {
	m, ok := s.methods[name]
	if !ok {
		return nil, &xmlrpc.Fault{Code: FaultNoSuchMethod, Message: fmt.Sprintf("No such method: %q", name)}
	}
	if err := m.checkArity(params); err != nil {
		return nil, err
	}
	if m.Auth && p.Kind == auth.KindAnonymous {
		return nil, &xmlrpc.Fault{Code: http.StatusUnauthorized, Message: "Authentication with user and token required for this API."}
	}
	return m.Call(&Call{ctx: ctx, P: p, App: s.app, Server: s, method: m, args: params})
}

// writeError answers with the fault of a method's error: its own fault,
// or the HTTP status of the one error mapping (apierr) as the code.
func (s *Server) writeError(w http.ResponseWriter, method string, err error) {
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		s.writeFault(w, f.Code, f.Message)
		return
	}
	code, msg := s.fault(method, err)
	s.writeFault(w, code, msg)
}

// fault is the fault code and message of a method's error.
func (s *Server) fault(method string, err error) (int, string) {
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		return f.Code, f.Message
	}
	s.report(method, err)
	// The message of positioned errors (job definitions, dictionaries)
	// already lists each problem with its place.
	m := apierr.Map(err)
	return m.Status, m.Message
}

// report logs a failure that is a bug and hands a condition of the server
// (disk full, database unavailable) to the app.
func (s *Server) report(method string, err error) {
	switch m := apierr.Map(err); {
	case m.Internal():
		s.log.Error("XML-RPC call failed", "method", method, "err", err)
	case m.Condition():
		s.app.NoteFault(err)
	}
}

func (s *Server) writeFault(w http.ResponseWriter, code int, msg string) {
	var b bytes.Buffer
	_ = xmlrpc.WriteFault(&b, code, msg)
	writeXML(w, b.Bytes())
}

// writeHTTPError answers a request refused before any XML-RPC (load shed,
// slow body) with its HTTP status.
func (s *Server) writeHTTPError(w http.ResponseWriter, err error) {
	m := apierr.Map(err)
	m.SetHeaders(w.Header())
	http.Error(w, m.Message, m.Status)
}

func writeXML(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(body)
}
