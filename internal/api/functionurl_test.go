package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/account"
	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/invoke"
	"github.com/ember-run/ember/internal/policy"
	"github.com/ember-run/ember/internal/sigv4"
)

// fakeInvoker records invocations and answers with resp or err.
type fakeInvoker struct {
	mu   sync.Mutex
	reqs []invoke.Request
	resp invoke.Response
	err  error
}

var _ Invoker = (*fakeInvoker)(nil)

func (f *fakeInvoker) Invoke(ctx context.Context, req invoke.Request) (invoke.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return f.resp, f.err
}

func (f *fakeInvoker) Resolve(ctx context.Context, account, function, qualifier string, fragment *policy.Policy) (string, error) {
	return catalog.Latest, nil
}

func (f *fakeInvoker) answer(resp invoke.Response, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resp, f.err = resp, err
}

// last returns the last invocation and how many there were.
func (f *fakeInvoker) last() (invoke.Request, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return invoke.Request{}, 0
	}
	return f.reqs[len(f.reqs)-1], len(f.reqs)
}

// urlFixture is the API fixture with an invoker, and a function "fn" of
// the first account.
func urlFixture(t *testing.T) (*fixture, *fakeInvoker) {
	t.Helper()
	deps, _ := testDeps(t)
	inv := &fakeInvoker{resp: invoke.Response{Payload: []byte(`{"statusCode":200,"body":"ok"}`), ExecutedVersion: catalog.Latest}}
	deps.Invoker = inv
	f := serve(t, deps)
	f.createFunction(t, "fn")
	return f, inv
}

func (f *fixture) createURL(t *testing.T, query string, body any) functionURLConfig {
	t.Helper()
	resp, out := f.do(t, &f.creds, "POST", "/2021-10-31/functions/fn/url"+query, body)
	if resp.StatusCode != 201 {
		t.Fatalf("create url: %d %s", resp.StatusCode, out)
	}
	var cfg functionURLConfig
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func urlID(t *testing.T, f *fixture, cfg functionURLConfig) string {
	t.Helper()
	prefix := f.srv.URL + "/lambda-url/"
	if !strings.HasPrefix(cfg.FunctionURL, prefix) || !strings.HasSuffix(cfg.FunctionURL, "/") {
		t.Fatalf("FunctionUrl %q is not %s{id}/", cfg.FunctionURL, prefix)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(cfg.FunctionURL, prefix), "/")
	if !catalog.ValidURLID(id) {
		t.Fatalf("url id %q", id)
	}
	return id
}

func TestFunctionURLControlPlane(t *testing.T) {
	f, _ := urlFixture(t)
	acct := f.creds.AccountID
	fnARN := "arn:aws:lambda:local:" + acct + ":function:fn"

	created := f.createURL(t, "", map[string]any{"AuthType": "NONE", "Cors": map[string]any{"AllowOrigins": []string{"https://a.example"}, "MaxAge": 30}})
	id := urlID(t, f, created)
	if created.FunctionArn != fnARN || created.AuthType != "NONE" || created.InvokeMode != "BUFFERED" ||
		created.LastModifiedTime != "" || created.Cors == nil || created.Cors.MaxAge != 30 {
		t.Fatalf("create: %+v", created)
	}
	if _, err := time.Parse(timeLayout, created.CreationTime); err != nil {
		t.Fatalf("CreationTime %q: %v", created.CreationTime, err)
	}

	resp, out := f.do(t, &f.creds, "POST", "/2021-10-31/functions/fn/url", map[string]any{"AuthType": "NONE"})
	check(t, resp, out, 409, "ResourceConflictException")

	resp, out = f.do(t, &f.creds, "GET", "/2021-10-31/functions/fn/url", nil)
	var got functionURLConfig
	json.Unmarshal(out, &got)
	if resp.StatusCode != 200 || got.FunctionURL != created.FunctionURL || got.LastModifiedTime == "" {
		t.Fatalf("get: %d %s", resp.StatusCode, out)
	}

	resp, out = f.do(t, &f.creds, "PUT", "/2021-10-31/functions/fn/url", map[string]any{"AuthType": "AWS_IAM"})
	json.Unmarshal(out, &got)
	if resp.StatusCode != 200 || got.AuthType != "AWS_IAM" || got.FunctionURL != created.FunctionURL || got.Cors == nil {
		t.Fatalf("update: %d %s", resp.StatusCode, out)
	}

	// Validation, with Lambda's error types.
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		typ                string
	}{
		{"$LATEST", "POST", "/2021-10-31/functions/fn/url?Qualifier=$LATEST", map[string]any{"AuthType": "NONE"}, 400, "InvalidParameterValueException"},
		{"version", "POST", "/2021-10-31/functions/fn/url?Qualifier=1", map[string]any{"AuthType": "NONE"}, 400, "InvalidParameterValueException"},
		{"missing alias", "POST", "/2021-10-31/functions/fn/url?Qualifier=live", map[string]any{"AuthType": "NONE"}, 404, "ResourceNotFoundException"},
		{"bad auth type", "PUT", "/2021-10-31/functions/fn/url", map[string]any{"AuthType": "PUBLIC"}, 400, "InvalidParameterValueException"},
		{"bad cors", "PUT", "/2021-10-31/functions/fn/url", map[string]any{"Cors": map[string]any{"MaxAge": 100000}}, 400, "InvalidParameterValueException"},
		{"bad json", "PUT", "/2021-10-31/functions/fn/url", map[string]any{"AuthType": 3}, 400, "InvalidRequestContentException"},
		{"missing function", "GET", "/2021-10-31/functions/nope/url", nil, 404, "ResourceNotFoundException"},
		{"list qualified", "GET", "/2021-10-31/functions/fn:live/urls", nil, 400, "InvalidParameterValueException"},
		{"list max items", "GET", "/2021-10-31/functions/fn/urls?MaxItems=51", nil, 400, "InvalidParameterValueException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := f.do(t, &f.creds, tc.method, tc.path, tc.body)
			check(t, resp, out, tc.status, tc.typ)
		})
	}

	// Another account: not even visible; with some grant, still refused.
	other := "/2021-10-31/functions/" + fnARN + "/url"
	resp, out = f.do(t, &f.other, "GET", other, nil)
	check(t, resp, out, 404, "ResourceNotFoundException")
	resp, out = f.do(t, &f.creds, "POST", "/2015-03-31/functions/fn/policy", map[string]any{
		"StatementId": "b", "Action": "lambda:GetFunction", "Principal": f.other.AccountID})
	if resp.StatusCode != 201 {
		t.Fatalf("add permission: %s", out)
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		resp, out = f.do(t, &f.other, m, other, map[string]any{"AuthType": "NONE"})
		check(t, resp, out, 403, "AccessDeniedException")
	}
	resp, out = f.do(t, &f.other, "POST", other+"?Qualifier=x", map[string]any{"AuthType": "NONE"})
	check(t, resp, out, 403, "AccessDeniedException")

	// An alias gets a URL of its own; the list pages through both.
	f.do(t, &f.creds, "POST", "/2015-03-31/functions/fn/versions", nil)
	if resp, out := f.do(t, &f.creds, "POST", "/2015-03-31/functions/fn/aliases", map[string]any{"Name": "live", "FunctionVersion": "1"}); resp.StatusCode != 201 {
		t.Fatalf("alias: %s", out)
	}
	live := f.createURL(t, "?Qualifier=live", map[string]any{"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"})
	if live.FunctionArn != fnARN+":live" || live.InvokeMode != "RESPONSE_STREAM" || urlID(t, f, live) == id {
		t.Fatalf("alias url: %+v", live)
	}
	var listed []string
	marker := ""
	for range 3 {
		resp, out = f.do(t, &f.creds, "GET", "/2021-10-31/functions/fn/urls?MaxItems=1"+marker, nil)
		var page struct {
			FunctionUrlConfigs []functionURLConfig
			NextMarker         string
		}
		if err := json.Unmarshal(out, &page); err != nil || resp.StatusCode != 200 || len(page.FunctionUrlConfigs) != 1 {
			t.Fatalf("list: %d %s", resp.StatusCode, out)
		}
		listed = append(listed, page.FunctionUrlConfigs[0].FunctionArn)
		if page.NextMarker == "" {
			break
		}
		marker = "&Marker=" + page.NextMarker
	}
	if len(listed) != 2 || listed[0] != fnARN || listed[1] != fnARN+":live" {
		t.Fatalf("listed %v", listed)
	}

	// Deleting the alias takes its URL; deleting the config answers 204 once.
	f.do(t, &f.creds, "DELETE", "/2015-03-31/functions/fn/aliases/live", nil)
	if r := get(t, live.FunctionURL); r.StatusCode != 404 {
		t.Fatalf("alias URL after DeleteAlias: %d", r.StatusCode)
	}
	if resp, out := f.do(t, &f.creds, "DELETE", "/2021-10-31/functions/fn/url", nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, out)
	}
	resp, out = f.do(t, &f.creds, "GET", "/2021-10-31/functions/fn/url", nil)
	check(t, resp, out, 404, "ResourceNotFoundException")
	resp, out = f.do(t, &f.creds, "DELETE", "/2021-10-31/functions/fn/url", nil)
	check(t, resp, out, 404, "ResourceNotFoundException")
	if r := get(t, created.FunctionURL); r.StatusCode != 404 {
		t.Fatalf("URL after delete: %d", r.StatusCode)
	}
}

func get(t *testing.T, u string) *http.Response {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// call sends a request to a function URL; creds signs it (service lambda).
func callURL(t *testing.T, method, u string, header http.Header, body []byte, creds *account.Credentials) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	if creds != nil {
		if err := sigv4.Sign(req, body, creds.AccessKeyID, creds.SecretAccessKey, "local", "lambda", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// urlEvent is the part of the format 2.0 event the tests look at.
type urlEvent struct {
	Version, RouteKey, RawPath, RawQueryString, Body string
	Cookies                                          []string
	Headers, QueryStringParameters                   map[string]string
	IsBase64Encoded                                  bool
	RequestContext                                   struct {
		AccountID, APIID, DomainName, RequestID, RouteKey, Stage string
		HTTP                                                     struct{ Method, Path string }
		Authorizer                                               *struct {
			IAM struct{ AccountID, AccessKey, UserARN string }
		}
	}
}

func lastEvent(t *testing.T, inv *fakeInvoker) (invoke.Request, urlEvent) {
	t.Helper()
	req, n := inv.last()
	if n == 0 {
		t.Fatal("the function was not invoked")
	}
	var ev urlEvent
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		t.Fatalf("event: %v: %s", err, req.Payload)
	}
	return req, ev
}

func wantURLMessage(t *testing.T, resp *http.Response, body []byte, status int, msg string) {
	t.Helper()
	var m map[string]any
	if resp.StatusCode != status || json.Unmarshal(body, &m) != nil || m["Message"] != msg || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %s, want %d {\"Message\":%q}", resp.StatusCode, body, status, msg)
	}
}

func TestFunctionURLServesFormat2(t *testing.T) {
	f, inv := urlFixture(t)
	cfg := f.createURL(t, "", map[string]any{"AuthType": "NONE"})
	id := urlID(t, f, cfg)
	inv.answer(invoke.Response{Payload: []byte(`{"statusCode":201,"headers":{"X-Out":"1"},"cookies":["a=b"],"body":"created"}`)}, nil)

	h := http.Header{"Cookie": {"c1=v1; c2=v2"}, "X-In": {"yes"}, "Content-Type": {"application/json"}}
	resp, body := callURL(t, "POST", cfg.FunctionURL+"a/b%20c?x=1&y=two", h, []byte(`{"k":"v"}`), nil)
	if resp.StatusCode != 201 || string(body) != "created" || resp.Header.Get("X-Out") != "1" || resp.Header.Get("Set-Cookie") != "a=b" {
		t.Fatalf("response: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	req, ev := lastEvent(t, inv)
	acct := f.creds.AccountID
	if req.Account != acct || req.Function != "fn" || req.Qualifier != "" || req.Payer != acct ||
		req.InvokedARN != "arn:aws:lambda:local:"+acct+":function:fn" {
		t.Fatalf("invoke request: %+v", req)
	}
	rc := ev.RequestContext
	if ev.Version != "2.0" || ev.RouteKey != "$default" || ev.RawPath != "/a/b%20c" || ev.RawQueryString != "x=1&y=two" ||
		ev.QueryStringParameters["y"] != "two" || ev.Body != `{"k":"v"}` || ev.IsBase64Encoded ||
		strings.Join(ev.Cookies, ";") != "c1=v1;c2=v2" || ev.Headers["x-in"] != "yes" {
		t.Fatalf("event: %+v", ev)
	}
	if rc.APIID != id || rc.AccountID != acct || rc.Stage != "$default" || rc.RouteKey != "$default" ||
		rc.DomainName != strings.TrimPrefix(f.srv.URL, "http://") || rc.HTTP.Method != "POST" || rc.HTTP.Path != "/a/b%20c" ||
		rc.RequestID != resp.Header.Get("x-amzn-RequestId") || rc.Authorizer != nil {
		t.Fatalf("requestContext: %+v (request id header %q)", rc, resp.Header.Get("x-amzn-RequestId"))
	}

	// The URL itself, with or without its slash, is the path "/".
	for _, u := range []string{cfg.FunctionURL, strings.TrimSuffix(cfg.FunctionURL, "/")} {
		callURL(t, "DELETE", u, nil, nil, nil)
		if _, ev := lastEvent(t, inv); ev.RawPath != "/" || ev.RequestContext.HTTP.Method != "DELETE" {
			t.Fatalf("%s: rawPath %q", u, ev.RawPath)
		}
	}
	// Binary bodies travel base64.
	callURL(t, "PUT", cfg.FunctionURL+"bin", http.Header{"Content-Type": {"application/octet-stream"}}, []byte{0, 1, 0xff}, nil)
	if _, ev := lastEvent(t, inv); !ev.IsBase64Encoded || ev.Body != "AAH/" {
		t.Fatalf("binary body: %+v", ev)
	}

	_, before := inv.last()
	failures := []struct {
		name   string
		resp   invoke.Response
		err    error
		status int
		msg    string
	}{
		{"function error", invoke.Response{Payload: []byte(`{"errorMessage":"boom"}`), FunctionError: "Unhandled"}, nil, 502, "Internal Server Error"},
		{"malformed response", invoke.Response{Payload: []byte(`{"statusCode":99}`)}, nil, 502, "Internal Server Error"},
		{"throttled", invoke.Response{}, &invoke.ThrottleError{Reason: invoke.ReasonAccountLimit, Message: "Rate exceeded", RetryAfter: 3 * time.Second}, 429, "Rate Exceeded."},
		{"runtime", invoke.Response{}, invoke.ErrRuntime, 502, "Internal Server Error"},
		{"internal", invoke.Response{}, errors.New("disk on fire"), 502, "Internal Server Error"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			inv.answer(tc.resp, tc.err)
			resp, body := callURL(t, "GET", cfg.FunctionURL, nil, nil, nil)
			wantURLMessage(t, resp, body, tc.status, tc.msg)
			if tc.status == 429 && resp.Header.Get("Retry-After") != "3" {
				t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
			if strings.Contains(string(body), "disk") || strings.Contains(string(body), "boom") {
				t.Fatalf("leaks the error: %s", body)
			}
		})
	}
	if _, n := inv.last(); n != before+len(failures) {
		t.Fatalf("%d invocations, want %d", n, before+len(failures))
	}

	// Over 6 MB: 413 before invoking.
	resp, body = callURL(t, "POST", cfg.FunctionURL, nil, bytes.Repeat([]byte("x"), invoke.MaxPayload+1), nil)
	wantURLMessage(t, resp, body, 413, "Request Entity Too Large")
	if _, n := inv.last(); n != before+len(failures) {
		t.Fatal("an oversized request was invoked")
	}
	// Unknown ids.
	for _, u := range []string{f.srv.URL + "/lambda-url/" + strings.Repeat("a", 32) + "/", f.srv.URL + "/lambda-url/NOT-AN-ID/x", f.srv.URL + "/lambda-url/"} {
		resp, body := callURL(t, "GET", u, nil, nil, nil)
		wantURLMessage(t, resp, body, 404, "Not Found")
	}
}

func TestFunctionURLIAM(t *testing.T) {
	f, inv := urlFixture(t)
	cfg := f.createURL(t, "", map[string]any{"AuthType": "AWS_IAM"})
	body := []byte(`{"signed":true}`)
	h := http.Header{"Content-Type": {"application/json"}}

	resp, out := callURL(t, "POST", cfg.FunctionURL+"p", h, body, nil)
	wantURLMessage(t, resp, out, 403, "Forbidden")
	bad := f.creds
	bad.SecretAccessKey = otherSecret(bad.SecretAccessKey)
	resp, out = callURL(t, "POST", cfg.FunctionURL+"p", h, body, &bad)
	wantURLMessage(t, resp, out, 403, "Forbidden")
	// A signature for the ember service is not one for a function URL.
	req, _ := http.NewRequest("POST", cfg.FunctionURL+"p", bytes.NewReader(body))
	sigv4.Sign(req, body, f.creds.AccessKeyID, f.creds.SecretAccessKey, "local", "ember", time.Now())
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 403 {
		t.Fatalf("ember-scoped signature: %d", r2.StatusCode)
	}
	if _, n := inv.last(); n != 0 {
		t.Fatal("a refused request was invoked")
	}

	resp, out = callURL(t, "POST", cfg.FunctionURL+"p?q=1", h, body, &f.creds)
	if resp.StatusCode != 200 {
		t.Fatalf("owner: %d %s", resp.StatusCode, out)
	}
	_, ev := lastEvent(t, inv)
	if ev.RequestContext.Authorizer == nil || ev.RequestContext.Authorizer.IAM.AccountID != f.creds.AccountID ||
		ev.RequestContext.Authorizer.IAM.AccessKey != f.creds.AccessKeyID || ev.Body != string(body) || ev.RawQueryString != "q=1" {
		t.Fatalf("owner event: %+v", ev)
	}
	if _, ok := ev.Headers["authorization"]; ok {
		t.Fatal("the signature reached the function")
	}

	resp, out = callURL(t, "POST", cfg.FunctionURL+"p", h, body, &f.other)
	wantURLMessage(t, resp, out, 403, "Forbidden")
	// A grant of something else does not open the URL.
	f.do(t, &f.creds, "POST", "/2015-03-31/functions/fn/policy", map[string]any{"StatementId": "read", "Action": "lambda:GetFunction", "Principal": f.other.AccountID})
	resp, out = callURL(t, "POST", cfg.FunctionURL+"p", h, body, &f.other)
	wantURLMessage(t, resp, out, 403, "Forbidden")
	f.do(t, &f.creds, "POST", "/2015-03-31/functions/fn/policy", map[string]any{"StatementId": "url", "Action": "lambda:InvokeFunctionUrl",
		"Principal": f.other.AccountID, "FunctionUrlAuthType": "AWS_IAM"})
	resp, out = callURL(t, "POST", cfg.FunctionURL+"p", h, body, &f.other)
	if resp.StatusCode != 200 {
		t.Fatalf("granted: %d %s", resp.StatusCode, out)
	}
	req2, ev := lastEvent(t, inv)
	if ev.RequestContext.Authorizer.IAM.AccountID != f.other.AccountID || req2.Payer != f.creds.AccountID || ev.RequestContext.AccountID != f.creds.AccountID {
		t.Fatalf("grantee event: %+v, payer %s", ev.RequestContext, req2.Payer)
	}
}

func TestFunctionURLCORS(t *testing.T) {
	f, inv := urlFixture(t)
	cfg := f.createURL(t, "", map[string]any{"AuthType": "AWS_IAM", "Cors": map[string]any{
		"AllowOrigins": []string{"https://app.example"}, "AllowMethods": []string{"GET", "POST"},
		"AllowHeaders": []string{"X-Custom", "Content-Type"}, "ExposeHeaders": []string{"X-Out"},
		"MaxAge": 600, "AllowCredentials": true}})

	// The preflight is answered from the config, without a signature and
	// without invoking.
	pre := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"x-custom"}}
	resp, _ := callURL(t, "OPTIONS", cfg.FunctionURL+"x", pre, nil, nil)
	want := map[string]string{
		"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Methods": "GET,POST",
		"Access-Control-Allow-Headers": "X-Custom,Content-Type", "Access-Control-Max-Age": "600", "Access-Control-Allow-Credentials": "true",
	}
	for k, v := range want {
		if resp.StatusCode != 200 || resp.Header.Get(k) != v {
			t.Fatalf("preflight %s = %q, want %q (%d)", k, resp.Header.Get(k), v, resp.StatusCode)
		}
	}
	for _, h := range []http.Header{
		{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"}},
		{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"DELETE"}},
		{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"x-other"}},
	} {
		resp, _ := callURL(t, "OPTIONS", cfg.FunctionURL, h, nil, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("refused preflight %v: %d %v", h, resp.StatusCode, resp.Header)
		}
	}
	if _, n := inv.last(); n != 0 {
		t.Fatal("a preflight invoked the function")
	}

	// A normal request from the origin gets the headers, errors included.
	inv.answer(invoke.Response{Payload: []byte(`{"statusCode":200,"headers":{"X-Out":"1","Access-Control-Allow-Origin":"*"},"body":"hi"}`)}, nil)
	resp, body := callURL(t, "GET", cfg.FunctionURL, http.Header{"Origin": {"https://app.example"}}, nil, &f.creds)
	if resp.StatusCode != 200 || string(body) != "hi" || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		resp.Header.Get("Access-Control-Expose-Headers") != "X-Out" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		strings.Join(resp.Header.Values("Vary"), ",") != "Origin" {
		t.Fatalf("simple request: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = callURL(t, "GET", cfg.FunctionURL, http.Header{"Origin": {"https://app.example"}}, nil, nil)
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("refusal lacks CORS headers: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = callURL(t, "GET", cfg.FunctionURL, http.Header{"Origin": {"https://evil.example"}}, nil, &f.creds)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		// the function's own header stays when the config does not match
		t.Fatalf("other origin: %d %v", resp.StatusCode, resp.Header)
	}

	// Without a CORS config an OPTIONS request is the function's.
	f.do(t, &f.creds, "PUT", "/2021-10-31/functions/fn/url", map[string]any{"AuthType": "NONE", "Cors": map[string]any{}})
	resp, _ = callURL(t, "OPTIONS", cfg.FunctionURL, pre, nil, nil)
	if _, ev := lastEvent(t, inv); resp.StatusCode != 200 || ev.RequestContext.HTTP.Method != "OPTIONS" {
		t.Fatalf("OPTIONS without CORS: %d %+v", resp.StatusCode, ev.RequestContext.HTTP)
	}
}

func TestFunctionURLStreamModeIsBuffered(t *testing.T) {
	f, inv := urlFixture(t)
	cfg := f.createURL(t, "", map[string]any{"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"})
	prelude := `{"statusCode":202,"headers":{"Content-Type":"text/plain","X-S":"1"},"cookies":["s=1"]}`
	inv.answer(invoke.Response{Payload: append(append([]byte(prelude), make([]byte, 8)...), "streamed body"...)}, nil)
	resp, body := callURL(t, "GET", cfg.FunctionURL, nil, nil, nil)
	if resp.StatusCode != 202 || string(body) != "streamed body" || resp.Header.Get("Content-Type") != "text/plain" ||
		resp.Header.Get("X-S") != "1" || resp.Header.Get("Set-Cookie") != "s=1" {
		t.Fatalf("prelude: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	// Without a prelude the whole output is the body, even if it looks like
	// a format 2.0 response (Lambda streams it as it is).
	inv.answer(invoke.Response{Payload: []byte(`{"statusCode":404,"body":"x"}`)}, nil)
	resp, body = callURL(t, "GET", cfg.FunctionURL, nil, nil, nil)
	if resp.StatusCode != 200 || string(body) != `{"statusCode":404,"body":"x"}` || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("no prelude: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	inv.answer(invoke.Response{Payload: append([]byte(`{"statusCode":700}`), make([]byte, 8)...)}, nil)
	resp, body = callURL(t, "GET", cfg.FunctionURL, nil, nil, nil)
	wantURLMessage(t, resp, body, 502, "Internal Server Error")
}
