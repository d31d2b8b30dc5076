package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ember-run/ember/internal/httpevent"
	"github.com/ember-run/ember/internal/invoke"
	"github.com/ember-run/ember/internal/pubapi"
)

// The gateway serves calls to published APIs:
//
//	ANY /apis/{apiId}/{stage}/{path...}
//
// over plain HTTP with a subscription key in X-Api-Key, or SigV4-signed by
// a subscribed account or by the API's owner. Answers it makes itself have
// API Gateway's shape, {"message": "..."}, with X-Amzn-ErrorType.

const (
	gatewayPrefix = "/apis/"
	apiKeyHeader  = "X-Api-Key"
)

// gatewayServices are the signing names a signed call may use: API
// Gateway's, and those of ember's own API.
var gatewayServices = []string{"execute-api", "lambda", "ember"}

var (
	errGatewayNotFound = errors.New("api: gateway: not found")
	errGatewayTimeout  = errors.New("api: gateway: the route's timeout passed")
)

// gatewayErrors is the one table of the gateway's own answers. Errors not
// in it are the signature's (403, from errorTable) or internal (500).
var gatewayErrors = []struct {
	err    error
	status int
	typ    string
	msg    string
}{
	{errGatewayNotFound, 404, "NotFoundException", "Not Found"},
	{httpevent.ErrNoRoute, 404, "NotFoundException", "Not Found"},
	{httpevent.ErrMethodNotAllowed, 404, "NotFoundException", "Not Found"},
	{pubapi.ErrUnauthorized, 403, "ForbiddenException", "Forbidden"},
	{pubapi.ErrRateLimited, 429, "TooManyRequestsException", "Too Many Requests"},
	{pubapi.ErrQuotaExceeded, 429, "LimitExceededException", "Limit Exceeded"},
	{httpevent.ErrTooLarge, 413, "RequestEntityTooLargeException", "Request Entity Too Large"},
	{invoke.ErrTooLarge, 413, "RequestEntityTooLargeException", "Request Entity Too Large"},
	{errGatewayTimeout, 504, "IntegrationTimeoutException", "Endpoint request timed out"},
	{invoke.ErrThrottled, 429, "TooManyRequestsException", "Too Many Requests"},
	{invoke.ErrUnavailable, 503, "ServiceUnavailableException", "Service Unavailable"},
	{invoke.ErrClosed, 503, "ServiceUnavailableException", "Service Unavailable"},
}

// callAPI is the handler of /apis/.
func (s *Server) callAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Apigw-Requestid", requestID(r))
	if err := s.serveAPI(w, r); err != nil {
		s.gatewayFail(w, r, err)
	}
}

func (s *Server) gatewayFail(w http.ResponseWriter, r *http.Request, err error) {
	status, typ, msg, known := 500, "InternalServerErrorException", "Internal Server Error", false
	for _, e := range gatewayErrors {
		if errors.Is(err, e.err) {
			status, typ, msg, known = e.status, e.typ, e.msg, true
			break
		}
	}
	if !known {
		// A refused signature: say why, as the control API does.
		if st, t, m, internal := classify(err); !internal && st == http.StatusForbidden {
			status, typ, msg, known = st, t, m, true
		}
	}
	switch {
	case !known:
		s.log.Error("api: gateway: internal error", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
	case status != http.StatusNotFound:
		s.log.Debug("api: gateway: call refused", "request_id", requestID(r), "path", r.URL.Path, "status", status, "err", err)
	}
	var retry time.Duration
	var le *pubapi.LimitError
	var te *invoke.ThrottleError
	switch {
	case errors.As(err, &le):
		retry = le.RetryAfter
	case errors.As(err, &te):
		retry = te.RetryAfter
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((retry+time.Second-1)/time.Second))))
	}
	w.Header().Set("X-Amzn-ErrorType", typ)
	httpevent.WriteMessage(w, status, msg)
}

// splitGatewayPath cuts /apis/{id}/{stage}/{path...} (escaped, as sent).
func splitGatewayPath(raw string) (id, stage, path string) {
	rest := strings.TrimPrefix(raw, gatewayPrefix)
	id, rest, _ = strings.Cut(rest, "/")
	stage, path, _ = strings.Cut(rest, "/")
	return id, stage, "/" + path
}

// gatewayCaller is who a call runs for.
type gatewayCaller struct {
	sub   *pubapi.Subscription // nil for the owner calling with a signature
	payer string
	iam   *httpevent.IAM
}

func iamOf(account, accessKey string) *httpevent.IAM {
	return &httpevent.IAM{AccessKey: accessKey, AccountID: account, CallerID: account,
		UserARN: "arn:aws:iam::" + account + ":root", UserID: account}
}

func signed(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-") || strings.Contains(r.URL.RawQuery, "X-Amz-Signature=")
}

// authenticate finds the caller of API a: by subscription key, else by
// signature. A signed call's body must be read to check the signature; it
// is returned then.
func (s *Server) authenticate(r *http.Request, a *pubapi.API) (gatewayCaller, []byte, error) {
	if key := r.Header.Get(apiKeyHeader); key != "" {
		sub, err := s.apis.Authenticate(a, key)
		if err != nil {
			return gatewayCaller{}, nil, err
		}
		return gatewayCaller{sub: sub, payer: sub.Account, iam: iamOf(sub.Account, "")}, nil, nil
	}
	if !signed(r) {
		return gatewayCaller{}, nil, fmt.Errorf("%w: no API key and no signature", pubapi.ErrUnauthorized)
	}
	v := *s.verifier
	v.Services = gatewayServices
	ctx := r.Context()
	if _, err := v.Precheck(ctx, r); err != nil {
		return gatewayCaller{}, nil, err
	}
	body, err := readGatewayBody(r)
	if err != nil {
		return gatewayCaller{}, nil, err
	}
	res, err := v.Verify(ctx, r, body)
	if err != nil {
		return gatewayCaller{}, nil, err
	}
	_, acct, err := s.accts.Lookup(ctx, res.AccessKeyID)
	if err != nil {
		return gatewayCaller{}, nil, err
	}
	sub, err := s.apis.Subscriber(a, acct.ID)
	if err != nil {
		return gatewayCaller{}, nil, err
	}
	return gatewayCaller{sub: sub, payer: acct.ID, iam: iamOf(acct.ID, res.AccessKeyID)}, body, nil
}

func readGatewayBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return []byte{}, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, invoke.MaxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("%w: could not read request body: %v", errBadRequest, err)
	}
	if len(b) > invoke.MaxPayload {
		return nil, httpevent.ErrTooLarge
	}
	return b, nil
}

// serveAPI runs one call: find the API, the caller, the stage, charge the
// plan, match the route, build the format 2.0 event, invoke the route's
// function for the payer within the route's timeout, answer its result.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) error {
	if s.apis == nil {
		return fmt.Errorf("%w: published APIs are not available on this server", errGatewayNotFound)
	}
	id, stageName, path := splitGatewayPath(httpevent.RawPath(r))
	a, ok := s.apis.API(id)
	if !ok {
		return fmt.Errorf("%w: API %q", errGatewayNotFound, id)
	}
	if r.ContentLength > invoke.MaxPayload {
		return httpevent.ErrTooLarge
	}
	caller, body, err := s.authenticate(r, a)
	if err != nil {
		return err
	}
	st, ok := s.apis.Stage(a.ID, stageName)
	if !ok {
		return fmt.Errorf("%w: API %s has no stage %q", errGatewayNotFound, a.ID, stageName)
	}
	if caller.sub != nil {
		if err := s.apis.Admit(r.Context(), a, caller.sub); err != nil {
			return err
		}
	}
	target, route, err := st.Match(r.Method, path)
	if err != nil {
		return err
	}
	if body == nil {
		if body, err = readGatewayBody(r); err != nil {
			return err
		}
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	// The key is the subscriber's credential: the owner's function must
	// not see it (it could spend the subscriber's money with it).
	r.Header.Del(apiKeyHeader)
	route.Stage, route.AccountID, route.APIID, route.Path = st.Name, a.Owner, a.ID, path
	event, err := httpevent.Request(r, route, httpevent.Caller{RequestID: requestID(r), IAM: caller.iam}, s.now(), invoke.MaxPayload)
	if err != nil {
		return err
	}
	if s.invoker == nil {
		return fmt.Errorf("%w: this server runs no sandbox driver", invoke.ErrUnavailable)
	}
	ref, err := pubapi.ParseTarget(a.Owner, target.Target)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if target.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(target.Timeout)*time.Second)
		defer cancel()
	}
	resp, err := s.invoker.Invoke(ctx, invoke.Request{
		Account: a.Owner, Function: ref.Name, Qualifier: ref.Qualifier, Payload: event,
		InvokedARN: s.cat.ARN(a.Owner, ref.Name, ref.Qualifier),
		Payer:      caller.payer, API: a.ID + "/" + target.Key,
	})
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil {
		return fmt.Errorf("%w: %d s (route %s)", errGatewayTimeout, target.Timeout, target.Key)
	}
	if err != nil {
		return err
	}
	if resp.FunctionError != "" {
		httpevent.WriteFunctionError(w)
		return nil
	}
	if err := httpevent.WriteResponse(w, resp.Payload); err != nil {
		s.log.Warn("api: gateway: function response not sent", "request_id", requestID(r), "api", a.ID, "route", target.Key, "err", err)
	}
	return nil
}
