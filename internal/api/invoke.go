package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ember-run/ember/internal/async"
	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/invoke"
	"github.com/ember-run/ember/internal/policy"
)

// Invoker runs invocations (invoke.Service implements it).
type Invoker interface {
	Invoke(ctx context.Context, req invoke.Request) (invoke.Response, error)
	Resolve(ctx context.Context, account, function, qualifier string, fragment *policy.Policy) (string, error)
}

// maxInvokeBody admits a 6 MB payload; larger bodies get 413.
const maxInvokeBody = invoke.MaxPayload

// rawResponse is a handler result written as-is (Invoke's body is the
// function's output, not JSON of ours).
type rawResponse struct {
	status  int
	headers map[string]string
	body    []byte
}

// policyHeader carries a request-time policy fragment: JSON in the shape
// of a security policy document that may only tighten the function's.
const policyHeader = "X-Ember-Policy"

func (s *Server) invoke(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:InvokeFunction", false)
	if errors.Is(err, catalog.ErrNotFound) {
		if a := s.ownCrossAlias(ctx, c); a != nil {
			// The caller's own cross-account alias: the invoke path
			// resolves it (and checks the grant) as the caller's call.
			ref, _ := s.ref(c)
			t, err = target{fn: &catalog.Function{Account: a.Account, Name: a.Name}, qualifier: ref.Qualifier, owner: true}, nil
		}
	}
	if err != nil {
		return 0, nil, err
	}
	if s.invoker == nil {
		return 0, nil, fmt.Errorf("%w: this server runs no sandbox driver", invoke.ErrUnavailable)
	}
	h := c.r.Header
	typ := h.Get("X-Amz-Invocation-Type")
	switch typ {
	case "", "RequestResponse", "Event", "DryRun":
	default:
		return 0, nil, fmt.Errorf("%w: 1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", errBadParameter, typ)
	}
	if lt := h.Get("X-Amz-Log-Type"); lt != "" && lt != "None" && lt != "Tail" {
		return 0, nil, fmt.Errorf("%w: 1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]", errBadParameter, lt)
	}
	var clientContext string
	if cc := h.Get("X-Amz-Client-Context"); cc != "" {
		if len(cc) > 3583 {
			return 0, nil, fmt.Errorf("%w: Client context must be at most 3583 bytes (base64)", errBadParameter)
		}
		raw, err := base64.StdEncoding.DecodeString(cc)
		if err != nil {
			return 0, nil, fmt.Errorf("%w: Client context must be base64-encoded JSON", errBadParameter)
		}
		clientContext = string(raw)
	}
	var fragment *policy.Policy
	if hp := h.Get(policyHeader); hp != "" {
		if fragment, err = policy.Parse([]byte(hp)); err != nil {
			return 0, nil, fmt.Errorf("%s: %w", policyHeader, err)
		}
	}
	if typ == "DryRun" {
		v, err := s.invoker.Resolve(ctx, t.fn.Account, t.fn.Name, t.qualifier, fragment)
		if err != nil {
			return 0, nil, err
		}
		return 0, rawResponse{status: 204, headers: map[string]string{"X-Amz-Executed-Version": v}}, nil
	}
	req := invoke.Request{
		Account: t.fn.Account, Function: t.fn.Name, Qualifier: t.qualifier, Payload: c.body,
		ClientContext: clientContext, InvokedARN: s.cat.ARN(t.fn.Account, t.fn.Name, t.qualifier),
		LogTail: h.Get("X-Amz-Log-Type") == "Tail", Policy: fragment,
	}
	if typ == "Event" {
		if err := s.async(ctx, req, c.id); err != nil {
			return 0, nil, err
		}
		return 0, rawResponse{status: 202}, nil
	}
	resp, err := s.invoker.Invoke(ctx, req)
	if err != nil {
		return 0, nil, err
	}
	out := rawResponse{status: 200, headers: map[string]string{
		"X-Amz-Executed-Version": resp.ExecutedVersion,
		"Content-Type":           "application/json",
	}, body: resp.Payload}
	if resp.FunctionError != "" {
		out.headers["X-Amz-Function-Error"] = resp.FunctionError
	}
	if req.LogTail {
		out.headers["X-Amz-Log-Result"] = base64.StdEncoding.EncodeToString(resp.LogTail)
	}
	return 0, out, nil
}

// Enqueuer stores Event invocations durably (async.Queue implements it).
type Enqueuer interface {
	Enqueue(ctx context.Context, ev async.Event) error
}

// async stores an Event invocation before answering 202: once accepted, a
// crash or restart does not lose it.
func (s *Server) async(ctx context.Context, req invoke.Request, requestID string) error {
	if s.events == nil {
		return fmt.Errorf("%w: asynchronous invocation is not available on this server", invoke.ErrUnavailable)
	}
	if _, err := s.invoker.Resolve(ctx, req.Account, req.Function, req.Qualifier, req.Policy); err != nil {
		return err
	}
	return s.events.Enqueue(ctx, async.Event{
		RequestID: requestID, Account: req.Account, Function: req.Function, Qualifier: req.Qualifier,
		Payload: req.Payload, InvokedARN: req.InvokedARN, ClientContext: req.ClientContext,
		Policy: req.Policy,
	})
}

func writeRaw(w http.ResponseWriter, r rawResponse) {
	for k, v := range r.headers {
		w.Header().Set(k, v)
	}
	if r.body != nil {
		w.Header().Set("Content-Length", strconv.Itoa(len(r.body)))
	}
	w.WriteHeader(r.status)
	w.Write(r.body)
}
