package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ember-run/ember/internal/uuid"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ember-run/ember/internal/account"
	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/fnkv"
	"github.com/ember-run/ember/internal/invoke"
	"github.com/ember-run/ember/internal/keyring"
	"github.com/ember-run/ember/internal/metering"
	"github.com/ember-run/ember/internal/pubapi"
	"github.com/ember-run/ember/internal/secrets"
	"github.com/ember-run/ember/internal/sigv4"
)

// Body limits. A 50 MB zip travels base64-encoded inside JSON (≈ 67 MB).
const (
	maxCodeBody    = 72 << 20
	maxDefaultBody = 1 << 20
)

// Deps are the services the API calls.
type Deps struct {
	Catalog  *catalog.Catalog
	Accounts *account.Service
	Keyring  *keyring.Keyring
	Logger   *slog.Logger
	// Ready reports whether the server can serve (for /health).
	Ready func() bool
	// PublicURL overrides the scheme and host of links the API hands out.
	PublicURL string
	// Invoker runs functions; nil on a server without a sandbox driver.
	Invoker Invoker
	// Logs serves function logs; nil disables the logs API.
	Logs LogReader
	// Events stores Event invocations; nil refuses them.
	Events Enqueuer
	// Provisioner keeps provisioned sandboxes; nil refuses the API.
	Provisioner Provisioner
	// Secrets, KV and Meter back the secrets, per-function store and
	// usage APIs; nil refuses them.
	Secrets *secrets.Store
	KV      *fnkv.Store
	Meter   *metering.Meter
	// APIs backs published APIs (/ember/apis and the /apis/ gateway); nil
	// refuses them.
	APIs *pubapi.Store
}

// Server is the HTTP handler for the whole API.
type Server struct {
	secrets     *secrets.Store
	kv          *fnkv.Store
	meter       *metering.Meter
	apis        *pubapi.Store
	cat         *catalog.Catalog
	accts       *account.Service
	ring        *keyring.Keyring
	log         *slog.Logger
	ready       func() bool
	public      string
	invoker     Invoker
	logs        LogReader
	events      Enqueuer
	provisioner Provisioner
	draining    chan struct{}
	drainOnce   sync.Once
	verifier    *sigv4.Verifier
	mux         *http.ServeMux
	now         func() time.Time
}

var _ http.Handler = (*Server)(nil)

// New builds the API handler.
func New(d Deps) *Server {
	s := &Server{cat: d.Catalog, accts: d.Accounts, ring: d.Keyring, log: d.Logger, ready: d.Ready, public: strings.TrimRight(d.PublicURL, "/"), now: time.Now,
		invoker: d.Invoker, logs: d.Logs, events: d.Events, provisioner: d.Provisioner,
		secrets: d.Secrets, kv: d.KV, meter: d.Meter, apis: d.APIs,
		draining: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.ready == nil {
		s.ready = func() bool { return true }
	}
	s.verifier = &sigv4.Verifier{
		Lookup: func(ctx context.Context, akid string) (string, error) {
			secret, _, err := s.accts.Lookup(ctx, akid)
			return secret, err
		},
		Services: []string{"lambda", "ember"},
	}
	s.mux = http.NewServeMux()
	s.routes()
	return s
}

// call is one authenticated request.
type call struct {
	w       http.ResponseWriter
	r       *http.Request
	id      string
	body    []byte
	caller  account.Account
	started time.Time
}

// handler is an endpoint: it returns the status and a JSON body (nil for
// none), or an error that the edge maps.
type handler func(ctx context.Context, c *call) (int, any, error)

type callKey struct{}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /ember/code/{account}/{object}", s.downloadCode)
	s.mux.HandleFunc(urlPrefix, s.serveFunctionURL) // function URLs: any method, their own auth
	s.mux.HandleFunc(gatewayPrefix, s.callAPI)      // published APIs: any method, key or signature
	for _, rt := range append(s.lambdaRoutes(), s.apiRoutes()...) {
		s.mux.Handle(rt.pattern, s.authed(rt.limit, rt.h))
	}
	s.mux.Handle("/", s.authed(maxDefaultBody, func(ctx context.Context, c *call) (int, any, error) {
		if s.methodMismatch(c.r) {
			return 0, nil, fmt.Errorf("%w: %s is not allowed on %s", errMethod, c.r.Method, c.r.URL.Path)
		}
		return 0, nil, fmt.Errorf("%w: Unknown operation %s %s", errUnknownRoute, c.r.Method, c.r.URL.Path)
	}))
}

type route struct {
	pattern string
	limit   int64
	h       handler
}

// ServeHTTP stamps a request id on every response and turns panics into
// ServiceException rather than dropped connections.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	w.Header().Set("x-amzn-RequestId", id)
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("api: panic", "request_id", id, "panic", p, "stack", string(debug.Stack()))
			writeError(w, 500, "ServiceException", "An internal error occurred in ember.")
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// methodMismatch reports a path that exists for other methods only.
func (s *Server) methodMismatch(r *http.Request) bool {
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" && p != "/" && !strings.HasPrefix(p, "/") {
			return true
		}
	}
	return false
}

type requestIDKey struct{}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

func newRequestID() string { return uuid.New() }

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, typ, msg, internal := classify(err)
	if internal {
		s.log.Error("api: internal error", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
		msg += " Request id: " + requestID(r)
	} else if status >= 400 && status != 404 {
		s.log.Debug("api: request refused", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "type", typ, "msg", msg)
	}
	var te *invoke.ThrottleError
	if errors.As(err, &te) {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(te.RetryAfter.Seconds()))))
		writeErrorReason(w, status, typ, te.Message, te.Reason)
		return
	}
	writeError(w, status, typ, msg)
}

// authed reads the body (bounded), verifies the signature, resolves the
// caller's account and runs h.
func (s *Server) authed(limit int64, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Refuse unauthenticated callers before reading any body.
		if _, err := s.verifier.Precheck(r.Context(), r); err != nil {
			s.fail(w, r, err)
			return
		}
		if r.ContentLength > limit {
			s.fail(w, r, fmt.Errorf("%w: Request must be smaller than %d bytes for this operation", errBodyTooLarge, limit))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			s.fail(w, r, fmt.Errorf("%w: could not read request body: %v", errBadRequest, err))
			return
		}
		if int64(len(body)) > limit {
			s.fail(w, r, fmt.Errorf("%w: Request must be smaller than %d bytes for this operation", errBodyTooLarge, limit))
			return
		}
		res, err := s.verifier.Verify(r.Context(), r, body)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		_, acct, err := s.accts.Lookup(r.Context(), res.AccessKeyID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		c := &call{w: w, r: r, id: requestID(r), body: body, caller: acct, started: s.now()}
		ctx := context.WithValue(r.Context(), callKey{}, c)
		status, out, err := h(ctx, c)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		switch o := out.(type) {
		case rawResponse:
			writeRaw(w, o)
		case streamed:
			// the handler wrote the response itself
		default:
			writeJSON(w, status, out)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if v == nil {
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, 500, "ServiceException", "An internal error occurred in ember.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if !s.ready() {
		writeError(w, 503, "ServiceException", "ember is starting")
		return
	}
	writeJSON(w, 200, map[string]string{"Status": "ok"})
}

// decode parses a JSON body into v; an empty body is an empty object.
func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%w: Could not parse request body into json: Could not parse field %q: expected %s", errBadRequest, te.Field, te.Type)
		}
		return fmt.Errorf("%w: Could not parse request body into json: %v", errBadRequest, err)
	}
	return nil
}

// Drain ends long-lived streams (log followers) so a graceful shutdown is
// not held open by them; requests such as invocations run to completion.
func (s *Server) Drain() {
	s.drainOnce.Do(func() { close(s.draining) })
}
