package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/httpevent"
	"github.com/ember-run/ember/internal/invoke"
)

// Function URLs: the control plane (Create/Get/Update/Delete/
// ListFunctionUrlConfigs, Lambda's wire format) and the data plane, which
// serves each URL at {endpoint}/lambda-url/{urlId}/ with the API Gateway
// payload format 2.0 that Lambda's function URLs use.

const (
	urlPath    = "/2021-10-31/functions/{name}/url"
	urlPrefix  = "/lambda-url/"
	maxURLBody = httpevent.MaxPayload
)

type corsConfig struct {
	AllowCredentials bool     `json:"AllowCredentials"`
	AllowHeaders     []string `json:"AllowHeaders,omitempty"`
	AllowMethods     []string `json:"AllowMethods,omitempty"`
	AllowOrigins     []string `json:"AllowOrigins,omitempty"`
	ExposeHeaders    []string `json:"ExposeHeaders,omitempty"`
	MaxAge           int      `json:"MaxAge"`
}

type functionURLConfig struct {
	FunctionURL      string      `json:"FunctionUrl"`
	FunctionArn      string      `json:"FunctionArn"`
	AuthType         string      `json:"AuthType"`
	Cors             *corsConfig `json:"Cors,omitempty"`
	CreationTime     string      `json:"CreationTime"`
	LastModifiedTime string      `json:"LastModifiedTime,omitempty"`
	InvokeMode       string      `json:"InvokeMode"`
}

type functionURLRequest struct {
	AuthType   *string
	InvokeMode *string
	Cors       *struct {
		AllowCredentials *bool
		AllowHeaders     []string
		AllowMethods     []string
		AllowOrigins     []string
		ExposeHeaders    []string
		MaxAge           *int
	}
}

func (req functionURLRequest) input() catalog.FunctionURLInput {
	in := catalog.FunctionURLInput{AuthType: req.AuthType, InvokeMode: req.InvokeMode}
	if c := req.Cors; c != nil {
		in.Cors = &catalog.Cors{AllowHeaders: c.AllowHeaders, AllowMethods: c.AllowMethods, AllowOrigins: c.AllowOrigins, ExposeHeaders: c.ExposeHeaders}
		set(&in.Cors.AllowCredentials, c.AllowCredentials)
		set(&in.Cors.MaxAge, c.MaxAge)
	}
	return in
}

// publicBase is the scheme and host clients reach this server at.
func (s *Server) publicBase(r *http.Request) string {
	if s.public != "" {
		return s.public
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) renderFunctionURL(r *http.Request, f *catalog.Function, qualifier string, u catalog.FunctionURL, modified bool) functionURLConfig {
	out := functionURLConfig{
		FunctionURL: s.publicBase(r) + urlPrefix + u.ID + "/", FunctionArn: s.cat.ARN(f.Account, f.Name, qualifier),
		AuthType: u.AuthType, CreationTime: formatTime(u.Created), InvokeMode: u.InvokeMode,
	}
	if modified {
		out.LastModifiedTime = formatTime(u.LastModified)
	}
	if c := u.Cors; c != nil {
		out.Cors = &corsConfig{AllowCredentials: c.AllowCredentials, AllowHeaders: c.AllowHeaders, AllowMethods: c.AllowMethods,
			AllowOrigins: c.AllowOrigins, ExposeHeaders: c.ExposeHeaders, MaxAge: c.MaxAge}
	}
	return out
}

func (s *Server) createFunctionURL(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:CreateFunctionUrlConfig", true)
	if err != nil {
		return 0, nil, err
	}
	var req functionURLRequest
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	u, err := s.cat.CreateFunctionURL(ctx, t.fn.Account, t.fn.Name, t.qualifier, req.input())
	if err != nil {
		return 0, nil, err
	}
	return 201, s.renderFunctionURL(c.r, t.fn, t.qualifier, u, false), nil
}

func (s *Server) getFunctionURL(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:GetFunctionUrlConfig", true)
	if err != nil {
		return 0, nil, err
	}
	u, err := t.fn.FunctionURLOf(t.qualifier)
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderFunctionURL(c.r, t.fn, t.qualifier, u, true), nil
}

func (s *Server) updateFunctionURL(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:UpdateFunctionUrlConfig", true)
	if err != nil {
		return 0, nil, err
	}
	var req functionURLRequest
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	u, err := s.cat.UpdateFunctionURL(ctx, t.fn.Account, t.fn.Name, t.qualifier, req.input())
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderFunctionURL(c.r, t.fn, t.qualifier, u, true), nil
}

func (s *Server) deleteFunctionURL(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:DeleteFunctionUrlConfig", true)
	if err != nil {
		return 0, nil, err
	}
	if err := s.cat.DeleteFunctionURL(ctx, t.fn.Account, t.fn.Name, t.qualifier); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (s *Server) listFunctionURLs(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:ListFunctionUrlConfigs", true)
	if err != nil {
		return 0, nil, err
	}
	q := c.r.URL.Query()
	if v := q.Get("MaxItems"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 50 {
			return 0, nil, fmt.Errorf("%w: 1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50", errBadParameter, v)
		}
	}
	quals := make([]string, 0, len(t.fn.URLs))
	for qual := range t.fn.URLs {
		quals = append(quals, qual)
	}
	slices.Sort(quals)
	// "" is the unqualified function's; markers need a non-empty key.
	start, end, next, err := page(q, len(quals), func(i int) string { return "q" + quals[i] }, 50)
	if err != nil {
		return 0, nil, err
	}
	out := make([]functionURLConfig, 0, end-start)
	for _, qual := range quals[start:end] {
		out = append(out, s.renderFunctionURL(c.r, t.fn, qual, *t.fn.URLs[qual], true))
	}
	resp := map[string]any{"FunctionUrlConfigs": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	return 200, resp, nil
}

// ---- serving ----

// serveFunctionURL answers any request to /lambda-url/{urlId}/{path...}:
// CORS preflights from the URL's config, everything else by invoking the
// function with a format 2.0 event. It runs outside authed: a NONE URL is
// public, and an AWS_IAM URL checks its signature here, answering the way
// Lambda's URLs do rather than with the control plane's errors.
func (s *Server) serveFunctionURL(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, sub, _ := strings.Cut(strings.TrimPrefix(httpevent.RawPath(r), urlPrefix), "/")
	f, q, u, err := s.cat.FunctionURLByID(ctx, id)
	if err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			urlError(w, http.StatusNotFound, "ResourceNotFoundException", "Not Found")
			return
		}
		s.log.Error("api: function URL lookup", "request_id", requestID(r), "err", err)
		urlError(w, http.StatusInternalServerError, "ServiceException", "Internal Server Error")
		return
	}
	origin := r.Header.Get("Origin")
	if u.Cors != nil && origin != "" {
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			preflight(w, r, u.Cors, origin)
			return
		}
		// Set before anything is written, so errors carry them too and a
		// browser can read them.
		corsHeaders(w.Header(), u.Cors, origin)
	}

	var iam *httpevent.IAM
	if u.AuthType == catalog.URLAuthIAM {
		// Refuse unsigned callers before reading a body.
		if _, err := s.verifier.Precheck(ctx, r); err != nil {
			s.log.Debug("api: function URL refused", "request_id", requestID(r), "err", err)
			urlError(w, http.StatusForbidden, "AccessDeniedException", "Forbidden")
			return
		}
	}
	if r.ContentLength > maxURLBody {
		urlError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request Entity Too Large")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxURLBody+1))
	if err != nil {
		urlError(w, http.StatusBadRequest, "InvalidRequestContentException", "Bad Request")
		return
	}
	if len(body) > maxURLBody {
		urlError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request Entity Too Large")
		return
	}
	if u.AuthType == catalog.URLAuthIAM {
		if iam, err = s.urlCaller(ctx, r, body, f, q); err != nil {
			s.log.Debug("api: function URL refused", "request_id", requestID(r), "err", err)
			urlError(w, http.StatusForbidden, "AccessDeniedException", "Forbidden")
			return
		}
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	event, err := httpevent.Request(r, httpevent.Route{AccountID: f.Account, APIID: id, Path: "/" + sub},
		httpevent.Caller{RequestID: requestID(r), IAM: iam}, s.now(), maxURLBody)
	if err != nil {
		urlError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request Entity Too Large")
		return
	}
	if s.invoker == nil {
		urlError(w, http.StatusBadGateway, "ResourceNotReadyException", "Internal Server Error")
		return
	}
	// The owner pays for calls to its URLs, whoever signed them.
	resp, err := s.invoker.Invoke(ctx, invoke.Request{
		Account: f.Account, Function: f.Name, Qualifier: q, Payload: event,
		InvokedARN: s.cat.ARN(f.Account, f.Name, q), Payer: f.Account,
	})
	if err != nil {
		s.urlInvokeError(w, r, err)
		return
	}
	if resp.FunctionError != "" {
		urlError(w, http.StatusBadGateway, "", "Internal Server Error")
		return
	}
	var out *bufferedResponse
	if u.InvokeMode == catalog.URLResponseStream {
		out, err = streamedResponse(resp.Payload)
	} else {
		out = &bufferedResponse{header: http.Header{}}
		err = httpevent.WriteResponse(out, resp.Payload)
	}
	if err != nil {
		s.log.Info("api: function URL response refused", "request_id", requestID(r), "function", f.Name, "err", err)
		urlError(w, http.StatusBadGateway, "", "Internal Server Error")
		return
	}
	h := w.Header()
	for k, v := range out.header {
		h[k] = v
	}
	if u.Cors != nil && origin != "" {
		corsHeaders(h, u.Cors, origin) // the URL's CORS config wins over the function's
	}
	if out.status != http.StatusNoContent && out.status != http.StatusNotModified {
		h.Set("Content-Length", itoa(out.body.Len()))
	}
	w.WriteHeader(out.status)
	w.Write(out.body.Bytes()) // net/http drops the body of a HEAD, 204 or 304
}

// urlCaller verifies an AWS_IAM URL request (SigV4, service lambda) and
// that its account may invoke the URL: the owner, or granted
// lambda:InvokeFunctionUrl or lambda:InvokeFunction on the qualifier.
func (s *Server) urlCaller(ctx context.Context, r *http.Request, body []byte, f *catalog.Function, q string) (*httpevent.IAM, error) {
	res, err := s.verifier.Verify(ctx, r, body)
	if err != nil {
		return nil, err
	}
	if res.Service != "lambda" {
		return nil, fmt.Errorf("%w: function URLs are signed for the service lambda, not %q", errDenied, res.Service)
	}
	_, acct, err := s.accts.Lookup(ctx, res.AccessKeyID)
	if err != nil {
		return nil, err
	}
	if !f.Allows(acct.ID, q, "lambda:InvokeFunctionUrl") && !f.Allows(acct.ID, q, "lambda:InvokeFunction") {
		return nil, fmt.Errorf("%w: %s may not invoke the URL of %s", errDenied, acct.ID, s.cat.ARN(f.Account, f.Name, q))
	}
	return &httpevent.IAM{
		AccessKey: res.AccessKeyID, AccountID: acct.ID, CallerID: acct.ID,
		UserARN: "arn:aws:iam::" + acct.ID + ":root", UserID: acct.ID,
	}, nil
}

// urlInvokeError answers a failed invocation: Lambda's statuses, generic
// messages (a public URL tells its callers nothing about the function).
func (s *Server) urlInvokeError(w http.ResponseWriter, r *http.Request, err error) {
	status, typ, _, internal := classify(err)
	if internal {
		s.log.Error("api: function URL invocation", "request_id", requestID(r), "err", err)
	}
	var te *invoke.ThrottleError
	switch {
	case errors.As(err, &te):
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(te.RetryAfter.Seconds()))))
		urlError(w, http.StatusTooManyRequests, typ, "Rate Exceeded.")
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		urlError(w, status, typ, "Rate Exceeded.")
	case status == http.StatusNotFound, status == http.StatusRequestEntityTooLarge, status == http.StatusServiceUnavailable:
		urlError(w, status, typ, http.StatusText(status))
	default:
		urlError(w, http.StatusBadGateway, typ, "Internal Server Error")
	}
}

// urlError writes a function URL's own error shape, {"Message": "..."}.
func urlError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(struct{ Message string }{msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", itoa(len(b)))
	if typ != "" {
		h.Set("X-Amzn-ErrorType", typ)
	}
	w.WriteHeader(status)
	w.Write(b)
}

// ---- CORS ----

// corsOrigin returns the Access-Control-Allow-Origin value for origin, or
// "" when the config does not allow it.
func corsOrigin(c *catalog.Cors, origin string) string {
	for _, o := range c.AllowOrigins {
		switch {
		case o == "*" && !c.AllowCredentials:
			return "*"
		case o == "*", strings.EqualFold(o, origin):
			return origin // credentials forbid the wildcard: echo the origin
		}
	}
	return ""
}

// corsHeaders adds the headers of a simple (non-preflight) CORS response.
func corsHeaders(h http.Header, c *catalog.Cors, origin string) {
	if !slices.Contains(h.Values("Vary"), "Origin") {
		h.Add("Vary", "Origin")
	}
	allow := corsOrigin(c, origin)
	if allow == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", allow)
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if len(c.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposeHeaders, ","))
	}
}

// preflight answers an OPTIONS preflight from the config without invoking
// the function. A request the config does not allow gets 200 without the
// Access-Control-Allow-* headers, which the browser takes as a refusal.
func preflight(w http.ResponseWriter, r *http.Request, c *catalog.Cors, origin string) {
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	method := strings.ToUpper(strings.TrimSpace(r.Header.Get("Access-Control-Request-Method")))
	var asked []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				asked = append(asked, name)
			}
		}
	}
	allow := corsOrigin(c, origin)
	anyMethod := slices.Contains(c.AllowMethods, "*")
	anyHeader := slices.Contains(c.AllowHeaders, "*")
	ok := allow != "" && (anyMethod || slices.Contains(c.AllowMethods, method))
	for _, name := range asked {
		ok = ok && (anyHeader || slices.ContainsFunc(c.AllowHeaders, func(a string) bool { return strings.EqualFold(a, name) }))
	}
	if ok {
		h.Set("Access-Control-Allow-Origin", allow)
		if anyMethod {
			h.Set("Access-Control-Allow-Methods", method)
		} else {
			h.Set("Access-Control-Allow-Methods", strings.Join(c.AllowMethods, ","))
		}
		if len(asked) > 0 {
			if anyHeader {
				h.Set("Access-Control-Allow-Headers", strings.Join(asked, ","))
			} else {
				h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowHeaders, ","))
			}
		}
		if c.AllowCredentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if c.MaxAge > 0 {
			h.Set("Access-Control-Max-Age", strconv.Itoa(c.MaxAge))
		}
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// ---- responses ----

// bufferedResponse holds a response until it is known to be sendable, so a
// malformed one becomes a clean 502 instead of half a response.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// streamPreludeEnd separates the JSON prelude of a streamed HTTP response
// (statusCode, headers, cookies) from its body.
var streamPreludeEnd = make([]byte, 8)

// streamedResponse reads the output of a RESPONSE_STREAM function, which
// ember buffers whole: Lambda's HTTP integration stream, a JSON prelude and
// eight NUL bytes before the body (aws-lambda-go's
// LambdaFunctionURLStreamingResponse, Node's HttpResponseStream.from), or
// else the body alone, sent as application/octet-stream with 200.
func streamedResponse(payload []byte) (*bufferedResponse, error) {
	out := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	i := bytes.Index(payload, streamPreludeEnd)
	var prelude struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Cookies    []string          `json:"cookies"`
	}
	if i <= 0 || payload[0] != '{' || json.Unmarshal(payload[:i], &prelude) != nil {
		out.header.Set("Content-Type", "application/octet-stream")
		out.body.Write(payload)
		return out, nil
	}
	if prelude.StatusCode != 0 {
		if prelude.StatusCode < 200 || prelude.StatusCode > 599 {
			return nil, fmt.Errorf("%w: statusCode %d is not an HTTP status in 200-599", httpevent.ErrBadResponse, prelude.StatusCode)
		}
		out.status = prelude.StatusCode
	}
	for name, v := range prelude.Headers {
		if !validHeaderName(name) || !validHeaderValue(v) {
			return nil, fmt.Errorf("%w: header %q: invalid", httpevent.ErrBadResponse, name)
		}
		if lower := strings.ToLower(name); lower != "content-length" && lower != "transfer-encoding" && lower != "connection" {
			out.header.Set(name, v)
		}
	}
	for _, c := range prelude.Cookies {
		if !validHeaderValue(c) {
			return nil, fmt.Errorf("%w: cookie %q: invalid", httpevent.ErrBadResponse, c)
		}
		out.header.Add("Set-Cookie", c)
	}
	if out.header.Get("Content-Type") == "" {
		out.header.Set("Content-Type", "application/octet-stream")
	}
	out.body.Write(payload[i+len(streamPreludeEnd):])
	return out, nil
}

// validHeaderName: a token (RFC 9110 section 5.1).
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// validHeaderValue: no control bytes but tab, so no CR or LF to split the
// response with.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
