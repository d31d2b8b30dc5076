package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/fnkv"
	"github.com/ember-run/ember/internal/secrets"
)

// Wire names.
const (
	pathPrefix        = "/2026-01-01/"
	hdrRevision       = "Ember-Revision"
	hdrFunctionError  = "Ember-Function-Error"
	hdrDeadline       = "Ember-Deadline-Ms"
	contentTypeJSON   = "application/json"
	contentTypeBinary = "application/octet-stream"
)

// Error types, in one table with their statuses.
const (
	errNotGranted   = "ServiceNotGranted"              // 403
	errBadRequest   = "InvalidRequestContentException" // 400
	errQuota        = "KeyQuotaExceeded"               // 400
	errNoPath       = "NotFound"                       // 404
	errNoSecret     = "SecretNotFound"                 // 404
	errNoKey        = "KeyNotFound"                    // 404
	errNoFunction   = "ResourceNotFoundException"      // 404
	errDenied       = "AccessDeniedException"          // 403
	errMethod       = "MethodNotAllowed"               // 405
	errConflict     = "RevisionConflict"               // 409
	errTooLarge     = "RequestEntityTooLarge"          // 413
	errTooMany      = "TooManyRequestsException"       // 429
	errService      = "ServiceException"               // 500
	errCallTimedOut = "CallTimedOut"                   // 502
	errCallFailed   = "CallFailed"                     // 502
)

// exchange is one request and its answer, recorded for the access log.
type exchange struct {
	s *Server
	w http.ResponseWriter
	r *http.Request
	a Access
	// bodyRead is set once the request body has been read to its end.
	bodyRead bool
}

func (x *exchange) fail(status int, typ, msg string) {
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{typ, msg})
	x.a.ErrorType = typ
	x.reply(status, contentTypeJSON, b)
}

func (x *exchange) reply(status int, contentType string, body []byte) {
	h := x.w.Header()
	if x.r.ContentLength != 0 && !x.bodyRead {
		// A body we did not read (refused, too large, too slow): net/http
		// would drain it after the handler, without a deadline, to reuse
		// the connection. Close the connection instead, and make the drain
		// give up at once.
		h["Connection"] = []string{"close"}
		_ = http.NewResponseController(x.w).SetReadDeadline(time.Now())
	}
	h["Content-Type"] = []string{contentType}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	x.w.WriteHeader(status)
	if len(body) > 0 {
		n, _ := x.w.Write(body) // a sandbox that went away learns nothing
		x.a.BytesOut = int64(n)
	}
	x.a.Status = status
}

// abort ends a request whose context is done (the server is closing or the
// sandbox hung up) without an answer: returning would make net/http send an
// empty 200.
func (x *exchange) abort() {
	x.a.ErrorType = "Canceled"
	panic(http.ErrAbortHandler)
}

func (x *exchange) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		x.fail(http.StatusInternalServerError, errService, "Encoding the answer failed")
		return
	}
	x.reply(status, contentTypeJSON, b)
}

func (x *exchange) method(want string) bool {
	if x.r.Method == want {
		return true
	}
	x.w.Header().Set("Allow", want)
	x.fail(http.StatusMethodNotAllowed, errMethod, "Use "+want)
	return false
}

// body reads the request body, at most limit bytes, or answers 413 (or
// 400) and returns false.
func (x *exchange) body(limit int64) ([]byte, bool) {
	if x.r.ContentLength > limit {
		x.fail(http.StatusRequestEntityTooLarge, errTooLarge, "The body exceeds "+strconv.FormatInt(limit, 10)+" bytes")
		return nil, false
	}
	// A sandbox that sends its body slowly holds a slot; bound it. The
	// deadline is lifted afterwards: net/http watches the connection in the
	// background while the handler runs, and a read deadline passing then
	// would cancel a call still running (net/http lifts it too when the
	// body ends; TestBodyTimeout holds both to it).
	rc := http.NewResponseController(x.w)
	_ = rc.SetReadDeadline(time.Now().Add(x.s.bodyTimeout))
	var buf bytes.Buffer
	if cl := x.r.ContentLength; cl > 0 {
		buf.Grow(int(cl) + bytes.MinRead) // read in place, without regrowing
	}
	_, err := buf.ReadFrom(io.LimitReader(x.r.Body, limit+1))
	_ = rc.SetReadDeadline(time.Time{})
	b := buf.Bytes()
	x.a.BytesIn = int64(len(b))
	switch {
	case err != nil:
		x.fail(http.StatusBadRequest, errBadRequest, "Reading the body failed")
		return nil, false
	case int64(len(b)) > limit:
		x.fail(http.StatusRequestEntityTooLarge, errTooLarge, "The body exceeds "+strconv.FormatInt(limit, 10)+" bytes")
		return nil, false
	}
	x.bodyRead = true
	return b, true
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		panic(http.ErrAbortHandler) // closing: the connection is going too
	}
	defer s.inflight.Done()
	x := &exchange{s: s, w: w, r: r, a: Access{
		Time: time.Now(), Account: s.g.Account, Function: s.g.Function,
		Version: s.g.Version, Portion: s.g.Portion,
	}}
	defer s.logAccess(x)

	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		x.fail(http.StatusTooManyRequests, errTooMany,
			"More than "+strconv.Itoa(s.opts.MaxConcurrent)+" calls in flight from this sandbox")
		return
	}

	rest, ok := strings.CutPrefix(r.URL.Path, pathPrefix)
	switch {
	case !ok:
	case rest == "whoami":
		x.a.Service, x.a.Op = "whoami", "get"
		if x.method(http.MethodGet) {
			s.whoami(x)
		}
		return
	case strings.HasPrefix(rest, "secrets/"):
		x.a.Service, x.a.Op, x.a.Target = "secrets", "get", rest[len("secrets/"):]
		if x.method(http.MethodGet) {
			s.secret(x, x.a.Target)
		}
		return
	case rest == "kv":
		x.a.Service, x.a.Op = "kv", "list"
		if x.method(http.MethodGet) {
			s.kvList(x)
		}
		return
	case strings.HasPrefix(rest, "kv/"):
		x.a.Service, x.a.Target = "kv", rest[len("kv/"):]
		s.kvKey(x, x.a.Target)
		return
	case strings.HasSuffix(rest, "/invocations"):
		kind, target, _ := strings.Cut(strings.TrimSuffix(rest, "/invocations"), "/")
		if target == "" || strings.Contains(target, "/") || (kind != "functions" && kind != "portions") {
			break
		}
		x.a.Op, x.a.Target = "invoke", target
		if kind == "functions" {
			x.a.Service = "function"
		} else {
			x.a.Service = "portion"
		}
		if x.method(http.MethodPost) {
			s.invoke(x, kind == "portions", target)
		}
		return
	}
	x.fail(http.StatusNotFound, errNoPath, "Unknown path "+strconv.Quote(r.URL.Path))
}

func (s *Server) logAccess(x *exchange) {
	if s.opts.Log == nil {
		return
	}
	x.a.Duration = time.Since(x.a.Time)
	s.opts.Log(x.a)
}

func notGranted(x *exchange, what string) {
	x.fail(http.StatusForbidden, errNotGranted, what+" is not granted to this function")
}

// backendFailed answers 500 for an error the caller cannot act on, logging
// it here since the caller is not told what it was.
func (s *Server) backendFailed(x *exchange, err error) {
	if x.r.Context().Err() != nil {
		x.abort()
	}
	s.opts.Logger.Warn("platform channel backend failed", "account", s.g.Account, "function", s.g.Function,
		"service", x.a.Service, "op", x.a.Op, "err", err)
	x.fail(http.StatusInternalServerError, errService, "The "+x.a.Service+" service failed")
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

func (s *Server) whoami(x *exchange) {
	type services struct {
		Secrets   []string `json:"secrets"`
		KV        bool     `json:"kv"`
		Functions []string `json:"functions"`
		Portions  []string `json:"portions"`
	}
	x.json(http.StatusOK, struct {
		Account  string   `json:"account"`
		Function string   `json:"function"`
		Version  string   `json:"version"`
		Portion  string   `json:"portion"`
		Services services `json:"services"`
	}{s.g.Account, s.g.Function, s.g.Version, s.g.Portion, services{
		nonNil(s.g.Secrets), s.g.KV, nonNil(s.g.Functions), nonNil(s.g.Portions),
	}})
}

func (s *Server) secret(x *exchange, name string) {
	// The grant is checked before anything is read, so a name outside it
	// is refused alike whether or not it exists.
	if !s.secrets[name] {
		notGranted(x, "Secret "+strconv.Quote(name))
		return
	}
	if s.b.Secrets == nil {
		s.backendFailed(x, errors.New("no secrets backend"))
		return
	}
	v, err := s.b.Secrets.Get(x.r.Context(), s.g.Account, s.g.Function, name)
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		x.fail(http.StatusNotFound, errNoSecret, "Secret "+strconv.Quote(name)+" is not set")
	case err != nil:
		s.backendFailed(x, err)
	default:
		x.w.Header().Set("Cache-Control", "no-store")
		x.reply(http.StatusOK, contentTypeBinary, v)
	}
}

func (s *Server) kvGranted(x *exchange) bool {
	if !s.g.KV {
		notGranted(x, "The key-value store")
		return false
	}
	if s.b.KV == nil {
		s.backendFailed(x, errors.New("no kv backend"))
		return false
	}
	return true
}

// kvFailed answers a kv backend error.
func (s *Server) kvFailed(x *exchange, err error) {
	msg := strings.TrimPrefix(err.Error(), "fnkv: ")
	switch {
	case errors.Is(err, fnkv.ErrTooLarge):
		x.fail(http.StatusRequestEntityTooLarge, errTooLarge, msg)
	case errors.Is(err, fnkv.ErrInvalid):
		x.fail(http.StatusBadRequest, errBadRequest, msg)
	case errors.Is(err, fnkv.ErrNotFound):
		x.fail(http.StatusNotFound, errNoKey, msg)
	case errors.Is(err, fnkv.ErrConflict):
		x.fail(http.StatusConflict, errConflict, msg)
	case errors.Is(err, fnkv.ErrQuota):
		x.fail(http.StatusBadRequest, errQuota, msg)
	default:
		s.backendFailed(x, err)
	}
}

func (s *Server) kvKey(x *exchange, key string) {
	switch x.r.Method {
	case http.MethodGet:
		x.a.Op = "get"
	case http.MethodPut:
		x.a.Op = "put"
	case http.MethodDelete:
		x.a.Op = "delete"
	default:
		x.w.Header().Set("Allow", "GET, PUT, DELETE")
		x.fail(http.StatusMethodNotAllowed, errMethod, "Use GET, PUT or DELETE")
		return
	}
	if !s.kvGranted(x) {
		return
	}
	if !fnkv.ValidKey(key) {
		x.fail(http.StatusBadRequest, errBadRequest, "A key is 1 to "+strconv.Itoa(fnkv.MaxKeyBytes)+" bytes of printable UTF-8")
		return
	}
	ctx := x.r.Context()
	switch x.r.Method {
	case http.MethodGet:
		it, err := s.b.KV.Get(ctx, s.g.Account, s.g.Function, key)
		if err != nil {
			s.kvFailed(x, err)
			return
		}
		x.w.Header().Set(hdrRevision, strconv.FormatUint(it.Revision, 10))
		x.reply(http.StatusOK, contentTypeBinary, it.Value)
	case http.MethodPut:
		c, ok := conditions(x, true)
		if !ok {
			return
		}
		v, ok := x.body(s.opts.MaxRequestBytes)
		if !ok {
			return
		}
		rev, err := s.b.KV.Put(ctx, s.g.Account, s.g.Function, key, v, c)
		if err != nil {
			s.kvFailed(x, err)
			return
		}
		x.w.Header().Set(hdrRevision, strconv.FormatUint(rev, 10))
		x.json(http.StatusOK, struct {
			Revision uint64 `json:"revision"`
		}{rev})
	case http.MethodDelete:
		c, ok := conditions(x, false)
		if !ok {
			return
		}
		if err := s.b.KV.Delete(ctx, s.g.Account, s.g.Function, key, c); err != nil {
			s.kvFailed(x, err)
			return
		}
		x.reply(http.StatusNoContent, contentTypeJSON, nil)
	}
}

// conditions reads If-Match (a revision, bare or quoted) and, when
// create is allowed, If-None-Match: *.
func conditions(x *exchange, create bool) (fnkv.Condition, bool) {
	var c fnkv.Condition
	if m := x.r.Header.Get("If-Match"); m != "" {
		rev, err := strconv.ParseUint(strings.Trim(m, `"`), 10, 64)
		if err != nil || rev == 0 {
			x.fail(http.StatusBadRequest, errBadRequest, "If-Match must be a revision")
			return c, false
		}
		c.Revision = rev
	}
	if m := x.r.Header.Get("If-None-Match"); m != "" {
		if !create || m != "*" {
			x.fail(http.StatusBadRequest, errBadRequest, "If-None-Match may only be * on PUT")
			return c, false
		}
		if c.Revision != 0 {
			x.fail(http.StatusBadRequest, errBadRequest, "If-Match and If-None-Match exclude each other")
			return c, false
		}
		c.Absent = true
	}
	return c, true
}

func (s *Server) kvList(x *exchange) {
	if !s.kvGranted(x) {
		return
	}
	q := x.r.URL.Query()
	lq := fnkv.ListQuery{Prefix: q.Get("prefix"), After: q.Get("after")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			x.fail(http.StatusBadRequest, errBadRequest, "limit must be a positive integer")
			return
		}
		lq.Limit = min(n, fnkv.MaxListLimit)
	}
	x.a.Target = lq.Prefix
	p, err := s.b.KV.List(x.r.Context(), s.g.Account, s.g.Function, lq)
	if err != nil {
		s.kvFailed(x, err)
		return
	}
	x.json(http.StatusOK, struct {
		Keys []string `json:"keys"`
		Next string   `json:"next,omitempty"`
	}{nonNil(p.Keys), p.Next})
}

func (s *Server) invoke(x *exchange, portion bool, target string) {
	call := Call{Grant: s.g.clone()}
	if portion {
		if !s.portions[target] {
			notGranted(x, "Portion "+strconv.Quote(target))
			return
		}
		call.Portion = target
	} else {
		ref, err := arn.ParseFunctionName(target)
		if err != nil {
			x.fail(http.StatusBadRequest, errBadRequest, strings.TrimPrefix(err.Error(), "arn: "))
			return
		}
		if !s.functionGranted(ref) {
			notGranted(x, "Function "+strconv.Quote(target))
			return
		}
		call.Target = target
	}
	if s.b.Invoke == nil {
		s.backendFailed(x, errors.New("no invoke backend"))
		return
	}
	now := time.Now()
	deadline := now.Add(s.opts.CallTimeout)
	if h := x.r.Header.Get(hdrDeadline); h != "" {
		ms, err := strconv.ParseInt(h, 10, 64)
		if err != nil || ms <= 0 {
			x.fail(http.StatusBadRequest, errBadRequest, hdrDeadline+" must be a time in epoch milliseconds")
			return
		}
		deadline = time.UnixMilli(ms)
	}
	deadline = earliest(deadline, now.Add(s.opts.MaxCallTimeout))
	if s.opts.CallerDeadline != nil {
		if cd := s.opts.CallerDeadline(); !cd.IsZero() {
			deadline = earliest(deadline, cd)
		}
	}
	payload, ok := x.body(s.opts.MaxInvokeBytes)
	if !ok {
		return
	}
	if !deadline.After(time.Now()) {
		x.fail(http.StatusBadGateway, errCallTimedOut, "The call's deadline has passed")
		return
	}
	call.Payload, call.Deadline = payload, deadline

	ctx, cancel := context.WithDeadline(x.r.Context(), deadline)
	defer cancel()
	res, err := s.b.Invoke(ctx, call)
	if err != nil {
		s.callFailed(x, ctx, err)
		return
	}
	if int64(len(res.Payload)) > s.opts.MaxInvokeBytes {
		x.fail(http.StatusBadGateway, errCallFailed, "The response exceeds "+strconv.FormatInt(s.opts.MaxInvokeBytes, 10)+" bytes")
		return
	}
	if res.FunctionError != "" {
		x.w.Header().Set(hdrFunctionError, res.FunctionError)
		x.a.FunctionError = res.FunctionError
	}
	x.reply(http.StatusOK, contentTypeJSON, res.Payload)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// callFailed answers a brokering error.
func (s *Server) callFailed(x *exchange, ctx context.Context, err error) {
	msg := strings.TrimPrefix(err.Error(), "channel: ")
	switch {
	case x.r.Context().Err() != nil:
		x.abort()
	case errors.Is(err, ErrNotFound):
		x.fail(http.StatusNotFound, errNoFunction, msg)
	case errors.Is(err, ErrForbidden):
		x.fail(http.StatusForbidden, errDenied, msg)
	case errors.Is(err, ErrThrottled):
		x.fail(http.StatusTooManyRequests, errTooMany, msg)
	case errors.Is(err, ErrInvalid):
		x.fail(http.StatusBadRequest, errBadRequest, msg)
	case ctx.Err() != nil:
		x.fail(http.StatusBadGateway, errCallTimedOut, "The call did not finish before its deadline")
	default:
		s.opts.Logger.Warn("platform channel call failed", "account", s.g.Account, "function", s.g.Function,
			"target", x.a.Target, "service", x.a.Service, "err", err)
		x.fail(http.StatusBadGateway, errCallFailed, "The call could not be completed")
	}
}
