package api

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/ember-run/ember/internal/pubapi"
	"github.com/ember-run/ember/internal/sigv4"
)

// gwInvoker records what the gateway asks to run, with the deadline it
// gave, and answers with payload (or a function error, or waits for the
// deadline when block is set).
type gwInvoker struct {
	mu        sync.Mutex
	reqs      []invoke.Request
	deadlines []time.Duration // time left at the call; 0 without a deadline
	payload   string
	fnErr     bool
	block     bool
}

var _ Invoker = (*gwInvoker)(nil)

func (g *gwInvoker) Invoke(ctx context.Context, req invoke.Request) (invoke.Response, error) {
	g.mu.Lock()
	g.reqs = append(g.reqs, req)
	var left time.Duration
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	g.deadlines = append(g.deadlines, left)
	payload, fnErr, block := g.payload, g.fnErr, g.block
	g.mu.Unlock()
	if block {
		<-ctx.Done()
		return invoke.Response{Payload: []byte(`{"errorMessage":"Task timed out"}`), FunctionError: "Unhandled", TimedOut: true}, nil
	}
	resp := invoke.Response{Payload: []byte(payload), ExecutedVersion: catalog.Latest}
	if fnErr {
		resp.FunctionError = "Unhandled"
	}
	return resp, nil
}

func (g *gwInvoker) Resolve(context.Context, string, string, string, *policy.Policy) (string, error) {
	return catalog.Latest, nil
}

func (g *gwInvoker) set(fn func(g *gwInvoker)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fn(g)
}

func (g *gwInvoker) last(t *testing.T) (invoke.Request, time.Duration, map[string]any) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.reqs) == 0 {
		t.Fatal("nothing was invoked")
	}
	req := g.reqs[len(g.reqs)-1]
	var ev map[string]any
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		t.Fatalf("event is not JSON: %v", err)
	}
	return req, g.deadlines[len(g.deadlines)-1], ev
}

func (g *gwInvoker) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.reqs)
}

type paFixture struct {
	*fixture
	third account.Credentials
	inv   *gwInvoker
	apis  *pubapi.Store
}

// newPAFixture: accounts a (owner of function "fn", 3 s timeout), b and c.
func newPAFixture(t *testing.T) *paFixture {
	t.Helper()
	deps, st := testDeps(t)
	apis, err := pubapi.Open(context.Background(), st, pubapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { apis.Close() })
	inv := &gwInvoker{payload: `{"statusCode":200,"body":"ok"}`}
	deps.Invoker, deps.APIs = inv, apis
	f := &paFixture{fixture: serve(t, deps), third: newAccount(t, deps, "c"), inv: inv, apis: apis}
	f.createFunction(t, "fn")
	return f
}

// ok sends a control request and decodes a 2xx answer.
func (f *paFixture) ok(t *testing.T, c *account.Credentials, method, path string, body any, want int) map[string]any {
	t.Helper()
	resp, out := f.do(t, c, method, path, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	var m map[string]any
	json.Unmarshal(out, &m)
	return m
}

// refused sends a control request that must fail with status and type,
// and a message naming field (if given).
func (f *paFixture) refused(t *testing.T, c *account.Credentials, method, path string, body any, status int, typ, field string) {
	t.Helper()
	resp, out := f.do(t, c, method, path, body)
	check(t, resp, out, status, typ)
	if field != "" && !strings.Contains(string(out), field) {
		t.Fatalf("%s %s: message does not name %s: %s", method, path, field, out)
	}
}

// publishedAPI makes an API of a with three routes, shared with b and
// deployed as prod; b subscribes. It returns the id and b's key.
func (f *paFixture) publishedAPI(t *testing.T) (string, string) {
	t.Helper()
	id := f.ok(t, &f.creds, "POST", "/ember/apis", map[string]any{"Name": "items"}, 201)["ApiId"].(string)
	for _, r := range []map[string]any{
		{"RouteKey": "GET /items/{id}", "Target": "fn", "TimeoutSeconds": 1},
		{"RouteKey": "POST /items", "Target": "fn"},
		{"RouteKey": "ANY /files/{proxy+}", "Target": "fn:$LATEST"},
	} {
		f.ok(t, &f.creds, "PUT", "/ember/apis/"+id+"/routes", r, 200)
	}
	f.ok(t, &f.creds, "PUT", "/ember/apis/"+id+"/visibility", map[string]any{"Visibility": "accounts", "Accounts": []string{f.other.AccountID}}, 200)
	f.ok(t, &f.creds, "POST", "/ember/apis/"+id+"/stages/prod", nil, 201)
	sub := f.ok(t, &f.other, "POST", "/ember/apis/"+id+"/subscription", nil, 201)
	return id, sub["Key"].(string)
}

func TestPublishedAPIControl(t *testing.T) {
	f := newPAFixture(t)
	a, b, c := &f.creds, &f.other, &f.third

	f.refused(t, a, "POST", "/ember/apis", map[string]any{}, 400, "InvalidParameterValueException", "Name")
	created := f.ok(t, a, "POST", "/ember/apis", map[string]any{"Name": "items", "Description": "d"}, 201)
	id := created["ApiId"].(string)
	if !pubapi.ValidID(id) || created["Owner"] != a.AccountID || created["Visibility"] != "private" ||
		!strings.HasSuffix(created["Endpoint"].(string), "/apis/"+id) {
		t.Fatalf("created: %v", created)
	}
	f.refused(t, a, "POST", "/ember/apis", map[string]any{"Name": "items"}, 409, "ResourceConflictException", "")
	f.refused(t, a, "GET", "/ember/apis/zzzzzzzzzz", nil, 404, "ResourceNotFoundException", "")

	routes := "/ember/apis/" + id + "/routes"
	f.refused(t, a, "PUT", routes, map[string]any{"RouteKey": "GET items", "Target": "fn"}, 400, "InvalidParameterValueException", "RouteKey")
	f.refused(t, a, "PUT", routes, map[string]any{"RouteKey": "GET /items", "Target": "nosuch"}, 400, "InvalidParameterValueException", "Target")
	f.refused(t, a, "PUT", routes, map[string]any{"RouteKey": "GET /items", "Target": "fn:nosuchalias"}, 400, "InvalidParameterValueException", "Target")
	f.refused(t, a, "PUT", routes, map[string]any{"RouteKey": "GET /items", "Target": "fn", "TimeoutSeconds": 4}, 400, "InvalidParameterValueException", "TimeoutSeconds")
	f.refused(t, a, "PUT", routes, map[string]any{"RouteKey": "GET /items"}, 400, "InvalidParameterValueException", "Target")
	f.ok(t, a, "PUT", routes, map[string]any{"RouteKey": "get /items/{id}", "Target": "fn", "TimeoutSeconds": 3}, 200)
	// The owner may use the API's name instead of its id.
	got := f.ok(t, a, "GET", "/ember/apis/items", nil, 200)
	if rs := got["Routes"].([]any); len(rs) != 1 || rs[0].(map[string]any)["RouteKey"] != "GET /items/{id}" || rs[0].(map[string]any)["Target"] != "fn" {
		t.Fatalf("routes: %v", got["Routes"])
	}

	// Private: others cannot see, change or subscribe.
	f.refused(t, b, "GET", "/ember/apis/"+id, nil, 403, "AccessDeniedException", "")
	f.refused(t, b, "PUT", routes, map[string]any{"RouteKey": "GET /x", "Target": "fn"}, 403, "AccessDeniedException", "")
	f.refused(t, b, "POST", "/ember/apis/"+id+"/subscription", nil, 403, "AccessDeniedException", "")

	vis := "/ember/apis/" + id + "/visibility"
	f.refused(t, a, "PUT", vis, map[string]any{"Visibility": "accounts", "Accounts": []string{"999999999999"}}, 400, "InvalidParameterValueException", "Accounts")
	f.refused(t, a, "PUT", vis, map[string]any{"Visibility": "everyone"}, 400, "InvalidParameterValueException", "Visibility")
	f.ok(t, a, "PUT", vis, map[string]any{"Visibility": "accounts", "Accounts": []string{b.AccountID}}, 200)
	f.ok(t, a, "POST", "/ember/apis/"+id+"/stages/prod", map[string]any{"Description": "first"}, 201)
	f.refused(t, b, "POST", "/ember/apis/"+id+"/stages/prod", nil, 403, "AccessDeniedException", "")

	// b sees the stages' route keys, not what they run.
	resp, body := f.do(t, b, "GET", "/ember/apis/"+id, nil)
	if resp.StatusCode != 200 || strings.Contains(string(body), `"Target"`) || !strings.Contains(string(body), "GET /items/{id}") {
		t.Fatalf("b's view: %d %s", resp.StatusCode, body)
	}
	if shared := f.ok(t, b, "GET", "/ember/apis?shared=true", nil, 200)["Apis"].([]any); len(shared) != 1 {
		t.Fatalf("shared with b: %v", shared)
	}
	if shared := f.ok(t, c, "GET", "/ember/apis?shared=true", nil, 200)["Apis"].([]any); len(shared) != 0 {
		t.Fatalf("shared with c: %v", shared)
	}

	f.refused(t, c, "POST", "/ember/apis/"+id+"/subscription", nil, 403, "AccessDeniedException", "")
	sub := f.ok(t, b, "POST", "/ember/apis/"+id+"/subscription", nil, 201)
	key, _ := sub["Key"].(string)
	if len(key) != pubapi.KeyLen || sub["KeyPrefix"] != key[:4] || sub["ApiId"] != id {
		t.Fatalf("subscription: %v", sub)
	}
	f.refused(t, b, "POST", "/ember/apis/"+id+"/subscription", nil, 409, "ResourceConflictException", "")

	// The key is never shown again, to anyone.
	for _, r := range []struct {
		c    *account.Credentials
		path string
	}{{b, "/ember/apis/subscriptions"}, {b, "/ember/apis/" + id + "/subscription"}, {a, "/ember/apis/" + id + "/subscribers"}, {a, "/ember/apis/" + id}} {
		resp, body := f.do(t, r.c, "GET", r.path, nil)
		if resp.StatusCode != 200 || strings.Contains(string(body), key) || strings.Contains(string(body), pubapi.HashKey(key)) {
			t.Fatalf("GET %s: %d %s", r.path, resp.StatusCode, body)
		}
	}
	subs := f.ok(t, a, "GET", "/ember/apis/"+id+"/subscribers", nil, 200)["Subscribers"].([]any)
	if len(subs) != 1 || subs[0].(map[string]any)["Account"] != b.AccountID {
		t.Fatalf("subscribers: %v", subs)
	}
	f.refused(t, b, "GET", "/ember/apis/"+id+"/subscribers", nil, 403, "AccessDeniedException", "")

	plan := "/ember/apis/" + id + "/subscribers/" + b.AccountID + "/plan"
	f.refused(t, a, "PUT", plan, map[string]any{"RateLimit": -1}, 400, "InvalidParameterValueException", "RateLimit")
	f.refused(t, b, "PUT", plan, map[string]any{"RateLimit": 100}, 403, "AccessDeniedException", "")
	set := f.ok(t, a, "PUT", plan, map[string]any{"RateLimit": 2, "DailyQuota": 50}, 200)
	if p := set["Plan"].(map[string]any); p["RateLimit"] != 2.0 || p["Burst"] != 2.0 || p["DailyQuota"] != 50.0 || set["CustomPlan"] != true {
		t.Fatalf("plan: %v", set)
	}
	f.ok(t, a, "DELETE", plan, nil, 200)

	f.ok(t, b, "DELETE", "/ember/apis/"+id+"/subscription", nil, 204)
	f.refused(t, b, "DELETE", "/ember/apis/"+id+"/subscription", nil, 404, "ResourceNotFoundException", "")
	f.refused(t, b, "DELETE", "/ember/apis/"+id, nil, 403, "AccessDeniedException", "")
	f.ok(t, a, "DELETE", "/ember/apis/"+id, nil, 204)
	f.refused(t, a, "GET", "/ember/apis/"+id, nil, 404, "ResourceNotFoundException", "")
}

// call sends a request to the gateway with an optional key.
func (f *paFixture) call(t *testing.T, method, path, key string, body []byte, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// signedCall sends a SigV4-signed request (service execute-api).
func (f *paFixture) signedCall(t *testing.T, c *account.Credentials, method, path string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err := sigv4.Sign(req, body, c.AccessKeyID, c.SecretAccessKey, "local", "execute-api", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func wantGateway(t *testing.T, resp *http.Response, body []byte, status int, typ, message string) {
	t.Helper()
	var m struct{ Message string }
	json.Unmarshal(body, &m)
	if resp.StatusCode != status || m.Message != message || resp.Header.Get("X-Amzn-ErrorType") != typ {
		t.Fatalf("got %d %q %s, want %d %q {\"message\":%q}", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body, status, typ, message)
	}
}

func TestGatewayCalls(t *testing.T) {
	f := newPAFixture(t)
	id, key := f.publishedAPI(t)
	base := "/apis/" + id + "/prod"

	f.inv.set(func(g *gwInvoker) {
		g.payload = `{"statusCode":201,"headers":{"X-Made":"yes"},"cookies":["a=1"],"body":"made"}`
	})
	resp, body := f.call(t, "GET", base+"/items/42?q=1&q=2", key, nil, map[string]string{"Cookie": "c=3"})
	if resp.StatusCode != 201 || string(body) != "made" || resp.Header.Get("X-Made") != "yes" || resp.Header.Get("Set-Cookie") != "a=1" {
		t.Fatalf("call: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	req, left, ev := f.inv.last(t)
	if req.Account != f.creds.AccountID || req.Function != "fn" || req.Qualifier != "" || req.Payer != f.other.AccountID ||
		req.API != id+"/GET /items/{id}" || !strings.HasSuffix(req.InvokedARN, ":"+f.creds.AccountID+":function:fn") {
		t.Fatalf("invoke request: %+v", req)
	}
	if left <= 0 || left > time.Second {
		t.Fatalf("the route's 1 s timeout is not the call's deadline: %v left", left)
	}
	rc := ev["requestContext"].(map[string]any)
	iam := rc["authorizer"].(map[string]any)["iam"].(map[string]any)
	if ev["routeKey"] != "GET /items/{id}" || ev["rawPath"] != "/prod/items/42" || ev["rawQueryString"] != "q=1&q=2" ||
		ev["pathParameters"].(map[string]any)["id"] != "42" || ev["queryStringParameters"].(map[string]any)["q"] != "1,2" ||
		rc["apiId"] != id || rc["stage"] != "prod" || rc["accountId"] != f.creds.AccountID || iam["accountId"] != f.other.AccountID {
		t.Fatalf("event: %s", req.Payload)
	}
	if h := ev["headers"].(map[string]any); h["x-api-key"] != nil || len(ev["cookies"].([]any)) != 1 {
		t.Fatalf("the key reached the function, or cookies lost: %v", ev)
	}

	// A route without a timeout of its own runs on the function's.
	f.inv.set(func(g *gwInvoker) { g.payload = `{"ok":true}` })
	resp, body = f.call(t, "POST", base+"/items", key, []byte{0, 1, 2, 0xff}, map[string]string{"Content-Type": "application/octet-stream"})
	if resp.StatusCode != 200 || string(body) != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("post: %d %s", resp.StatusCode, body)
	}
	req, left, ev = f.inv.last(t)
	if left != 0 || ev["body"] != "AAEC/w==" || ev["isBase64Encoded"] != true {
		t.Fatalf("post: deadline %v, event %s", left, req.Payload)
	}
	resp, _ = f.call(t, "DELETE", base+"/files/a/b%2Fc", key, nil, nil)
	req, _, ev = f.inv.last(t)
	if resp.StatusCode != 200 || req.Qualifier != "$LATEST" || ev["pathParameters"].(map[string]any)["proxy"] != "a/b/c" || ev["routeKey"] != "ANY /files/{proxy+}" {
		t.Fatalf("greedy route: %d %s", resp.StatusCode, req.Payload)
	}

	// Refusals, none of which runs anything.
	before := f.inv.count()
	for _, tc := range []struct {
		name, method, path, key string
		status                  int
		typ, msg                string
	}{
		{"no key", "GET", base + "/items/1", "", 403, "ForbiddenException", "Forbidden"},
		{"wrong key", "GET", base + "/items/1", strings.Repeat("x", pubapi.KeyLen), 403, "ForbiddenException", "Forbidden"},
		{"unmapped", "GET", base + "/nothing", key, 404, "NotFoundException", "Not Found"},
		{"wrong method", "PUT", base + "/items", key, 404, "NotFoundException", "Not Found"},
		{"unknown stage", "GET", "/apis/" + id + "/dev/items/1", key, 404, "NotFoundException", "Not Found"},
		{"unknown api", "GET", "/apis/zzzzzzzzzz/prod/items/1", key, 404, "NotFoundException", "Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.call(t, tc.method, tc.path, tc.key, nil, nil)
			wantGateway(t, resp, body, tc.status, tc.typ, tc.msg)
		})
	}
	resp, body = f.call(t, "POST", base+"/items", key, make([]byte, invoke.MaxPayload+1), nil)
	wantGateway(t, resp, body, 413, "RequestEntityTooLargeException", "Request Entity Too Large")
	if n := f.inv.count(); n != before {
		t.Fatalf("refused calls invoked %d times", n-before)
	}

	// Signed calls: a subscriber pays, the owner needs no subscription,
	// anyone else is refused.
	resp, body = f.signedCall(t, &f.other, "POST", base+"/items", []byte(`{"x":1}`))
	// (no Content-Type: the body reaches the function base64-encoded)
	if req, _, ev = f.inv.last(t); resp.StatusCode != 200 || req.Payer != f.other.AccountID || ev["body"] != "eyJ4IjoxfQ==" {
		t.Fatalf("signed by b: %d %s; payer %s, event %s", resp.StatusCode, body, req.Payer, req.Payload)
	}
	resp, body = f.signedCall(t, &f.creds, "GET", base+"/items/7", nil)
	if req, _, _ = f.inv.last(t); resp.StatusCode != 200 || req.Payer != f.creds.AccountID {
		t.Fatalf("signed by the owner: %d %s; payer %s", resp.StatusCode, body, req.Payer)
	}
	resp, body = f.signedCall(t, &f.third, "GET", base+"/items/7", nil)
	wantGateway(t, resp, body, 403, "ForbiddenException", "Forbidden")
	bad := f.other
	bad.SecretAccessKey = strings.Repeat("x", len(bad.SecretAccessKey))
	resp, body = f.signedCall(t, &bad, "GET", base+"/items/7", nil)
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "InvalidSignatureException" {
		t.Fatalf("bad signature: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// Function errors and timeouts.
	f.inv.set(func(g *gwInvoker) { g.fnErr = true })
	resp, body = f.call(t, "GET", base+"/items/1", key, nil, nil)
	if resp.StatusCode != 502 || string(body) != `{"message":"Internal Server Error"}` {
		t.Fatalf("function error: %d %s", resp.StatusCode, body)
	}
	f.inv.set(func(g *gwInvoker) { g.fnErr, g.block = false, true })
	start := time.Now()
	resp, body = f.call(t, "GET", base+"/items/1", key, nil, nil)
	wantGateway(t, resp, body, 504, "IntegrationTimeoutException", "Endpoint request timed out")
	if took := time.Since(start); took < time.Second || took > 3*time.Second {
		t.Fatalf("the 1 s route timeout took %v", took)
	}
	f.inv.set(func(g *gwInvoker) { g.block = false })

	// Unsubscribed: the key stops working.
	f.ok(t, &f.other, "DELETE", "/ember/apis/"+id+"/subscription", nil, 204)
	resp, body = f.call(t, "GET", base+"/items/1", key, nil, nil)
	wantGateway(t, resp, body, 403, "ForbiddenException", "Forbidden")
	resp, body = f.signedCall(t, &f.other, "GET", base+"/items/1", nil)
	wantGateway(t, resp, body, 403, "ForbiddenException", "Forbidden")
}

func TestGatewayPlans(t *testing.T) {
	f := newPAFixture(t)
	id, key := f.publishedAPI(t)
	path := "/apis/" + id + "/prod/items/1"
	plan := "/ember/apis/" + id + "/subscribers/" + f.other.AccountID + "/plan"

	f.ok(t, &f.creds, "PUT", plan, map[string]any{"RateLimit": 1, "Burst": 2}, 200)
	var ok, limited int
	for range 5 {
		resp, body := f.call(t, "GET", path, key, nil, nil)
		switch resp.StatusCode {
		case 200:
			ok++
		case 429:
			limited++
			wantGateway(t, resp, body, 429, "TooManyRequestsException", "Too Many Requests")
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("burst: %d %s", resp.StatusCode, body)
		}
	}
	if ok < 2 || ok > 3 || limited < 2 {
		t.Fatalf("rate 1/s burst 2: %d passed, %d limited", ok, limited)
	}

	// A quota of what was used plus two: two more calls, then 429.
	used := int64(ok)
	f.ok(t, &f.creds, "PUT", plan, map[string]any{"DailyQuota": used + 2}, 200)
	for i := range 2 {
		if resp, body := f.call(t, "GET", path, key, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("call %d within quota: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := f.call(t, "GET", path, key, nil, nil)
	wantGateway(t, resp, body, 429, "LimitExceededException", "Limit Exceeded")
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("quota 429 Retry-After %q", ra)
	}
	subs := f.ok(t, &f.creds, "GET", "/ember/apis/"+id+"/subscribers", nil, 200)["Subscribers"].([]any)
	if n := subs[0].(map[string]any)["CallsToday"].(float64); int64(n) != used+2 {
		t.Fatalf("calls today %v, want %d", n, used+2)
	}
	// The owner's own calls are not limited by subscribers' plans.
	if resp, body := f.signedCall(t, &f.creds, "GET", path, nil); resp.StatusCode != 200 {
		t.Fatalf("owner: %d %s", resp.StatusCode, body)
	}
}
