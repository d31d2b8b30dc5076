package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Published APIs end to end: account A puts httpfn (an unmodified API
// Gateway v2 aws-lambda-go handler) behind an API built with `ember api`,
// shares it with B, and B calls it with plain net/http and its key; the
// calls are billed to B.

// pubEcho is httpfn's echo of the request it was given.
type pubEcho struct {
	Method          string            `json:"method"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	RouteKey        string            `json:"routeKey"`
	PathParameters  map[string]string `json:"pathParameters"`
	Query           map[string]string `json:"query"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	AccountID       string            `json:"accountId"`
	APIID           string            `json:"apiId"`
	Stage           string            `json:"stage"`
	CallerAccount   string            `json:"callerAccount"`
	FunctionARN     string            `json:"functionArn"`
}

// apiCLI runs `ember api ARGS` as c against the shared server, requires
// success and decodes the JSON it prints (if any).
func apiCLI(t *testing.T, c creds, args ...string) map[string]any {
	t.Helper()
	out, errOut, code := cliShared(t, c, append([]string{"api"}, args...)...)
	if code != 0 {
		t.Fatalf("ember api %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	if strings.TrimSpace(out) == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("ember api %s: stdout is not a JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// apiCLIRefused runs `ember api ARGS` as c and requires a refusal whose
// message holds want.
func apiCLIRefused(t *testing.T, c creds, want string, args ...string) {
	t.Helper()
	out, errOut, code := cliShared(t, c, append([]string{"api"}, args...)...)
	if code != 254 || !strings.Contains(errOut, want) {
		t.Fatalf("ember api %s: exit %d, want 254 and %q\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
}

// apiCall calls a published API over plain HTTP with key (none if "").
func apiCall(t *testing.T, method, url, key string, header http.Header, body []byte) rawResult {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	return doRaw(t, req)
}

func echoed(t *testing.T, r rawResult, what string) pubEcho {
	t.Helper()
	var e pubEcho
	if r.status != 200 || json.Unmarshal(r.body, &e) != nil {
		t.Fatalf("%s: %v, want httpfn's echo", what, r)
	}
	return e
}

// wantGatewayError checks the gateway's own answer: status, X-Amzn-ErrorType
// and {"message": msg}.
func wantGatewayError(t *testing.T, r rawResult, status int, msg, what string) {
	t.Helper()
	var m map[string]any
	if r.status != status || json.Unmarshal(r.body, &m) != nil || m["message"] != msg || r.header.Get("X-Amzn-Errortype") == "" {
		t.Errorf("%s: %v, want %d {\"message\":%q} with X-Amzn-ErrorType", what, r, status, msg)
	}
}

func TestPublishedAPI(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	a := newAccount(t, shared, "pubapi-owner")
	b := newAccount(t, shared, "pubapi-subscriber")
	c := newAccount(t, shared, "pubapi-outsider")
	d := newAccount(t, shared, "pubapi-quota")
	createFn(t, lambdaClient(shared, a), "items", "provided.al2023", "bootstrap", httpfnZip(t), nil, 10, 128)

	// A builds the API with the CLI.
	id, _ := apiCLI(t, a, "create", "shop", "--description", "e2e shop")["ApiId"].(string)
	if len(id) != 10 {
		t.Fatalf("api id %q", id)
	}
	apiCLI(t, a, "route", id, "GET /items/{id}", "items", "--timeout", "5")
	apiCLI(t, a, "route", id, "POST /items", "items")
	apiCLI(t, a, "route", id, "ANY /files/{proxy+}", "items")
	apiCLIRefused(t, a, "TimeoutSeconds", "route", id, "GET /slow", "items", "--timeout", "11")
	apiCLIRefused(t, a, "RouteKey", "route", id, "GET slow", "items")
	apiCLI(t, a, "publish", id, "--accounts", b.AccountId+","+d.AccountId)
	stage := apiCLI(t, a, "deploy", id, "prod")
	if stage["StageName"] != "prod" || !strings.HasSuffix(stage["InvokeUrl"].(string), "/apis/"+id+"/prod") {
		t.Fatalf("deploy: %v", stage)
	}

	// C is not listed: it may not subscribe.
	apiCLIRefused(t, c, "AccessDeniedException (HTTP 403)", "subscribe", id)
	sub := apiCLI(t, b, "subscribe", id)
	key, _ := sub["Key"].(string)
	if len(key) != 40 || sub["ApiId"] != id || sub["Owner"] != a.AccountId {
		t.Fatalf("subscribe: %v", sub)
	}
	if list := apiCLI(t, b, "list"); !strings.Contains(mustJSON(list["Subscriptions"]), id) || strings.Contains(mustJSON(list), key) {
		t.Fatalf("B's list: %v", list)
	}

	base := shared.endpoint + "/apis/" + id + "/prod"
	paidByB := 0 // successful calls B made to GET /items/{id}

	// Path parameters, query, headers; the key stays with ember.
	e := echoed(t, apiCall(t, "GET", base+"/items/42?color=red&size=1", key, nil, nil), "GET /items/42")
	paidByB++
	if e.RouteKey != "GET /items/{id}" || e.RawPath != "/prod/items/42" || e.PathParameters["id"] != "42" ||
		e.Query["color"] != "red" || e.RawQueryString != "color=red&size=1" || e.Method != "GET" ||
		e.APIID != id || e.Stage != "prod" || e.AccountID != a.AccountId || e.CallerAccount != b.AccountId ||
		!strings.HasSuffix(e.FunctionARN, ":"+a.AccountId+":function:items") {
		t.Errorf("echo: %+v", e)
	}
	if _, ok := e.Headers["x-api-key"]; ok {
		t.Error("the subscriber's key reached the owner's function")
	}
	r := apiCall(t, "GET", base+"/items/7", key, nil, nil)
	paidByB++
	if r.header.Get("X-Httpfn") != "1" || len(r.header.Values("Set-Cookie")) != 2 {
		t.Errorf("response headers and cookies: %v", r.header)
	}

	// Bodies: JSON as text, bytes base64-encoded.
	e = echoed(t, apiCall(t, "POST", base+"/items", key, http.Header{"Content-Type": {"application/json"}}, []byte(`{"name":"ada"}`)), "POST /items")
	if e.Method != "POST" || e.Body != `{"name":"ada"}` || e.IsBase64Encoded || e.RouteKey != "POST /items" {
		t.Errorf("json body: %+v", e)
	}
	// (httpfn echoes the decoded body as a JSON string: bytes that are
	// not UTF-8 could not come back, so these are control bytes.)
	bin := []byte("\x00\x01bin\x7f")
	e = echoed(t, apiCall(t, "POST", base+"/items", key, http.Header{"Content-Type": {"application/octet-stream"}}, bin), "binary POST")
	if e.Body != string(bin) || !e.IsBase64Encoded {
		t.Errorf("binary body: %+v", e)
	}
	// A greedy ANY route: status codes and binary answers.
	if r := apiCall(t, "GET", base+"/files/status/418", key, nil, nil); r.status != 418 || string(r.body) != "status 418" {
		t.Errorf("status 418: %v", r)
	}
	if r := apiCall(t, "GET", base+"/files/binary", key, nil, nil); r.status != 200 || !bytes.Equal(r.body, []byte{0, 1, 0xfe, 0xff}) || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("binary answer: %v", r)
	}
	e = echoed(t, apiCall(t, "DELETE", base+"/files/a/b/c", key, nil, nil), "DELETE /files/a/b/c")
	if e.RouteKey != "ANY /files/{proxy+}" || e.PathParameters["proxy"] != "a/b/c" || e.Method != "DELETE" {
		t.Errorf("greedy: %+v", e)
	}
	// Signed by B instead of a key: B pays too.
	s := signedRequest(t, shared, b, "GET", "/apis/"+id+"/prod/items/9", nil, testRegion, time.Time{})
	if e := echoed(t, s, "signed by B"); e.CallerAccount != b.AccountId || e.PathParameters["id"] != "9" {
		t.Errorf("signed: %+v", e)
	}
	paidByB++

	// Refusals.
	wantGatewayError(t, apiCall(t, "GET", base+"/items/1", "", nil, nil), 403, "Forbidden", "no key")
	wantGatewayError(t, apiCall(t, "GET", base+"/items/1", strings.Repeat("k", 40), nil, nil), 403, "Forbidden", "wrong key")
	wantGatewayError(t, signedRequest(t, shared, c, "GET", "/apis/"+id+"/prod/items/1", nil, testRegion, time.Time{}), 403, "Forbidden", "signed by C")
	wantGatewayError(t, apiCall(t, "GET", base+"/nothing", key, nil, nil), 404, "Not Found", "unmapped path")
	wantGatewayError(t, apiCall(t, "PUT", base+"/items", key, nil, nil), 404, "Not Found", "unmapped method")
	wantGatewayError(t, apiCall(t, "GET", shared.endpoint+"/apis/"+id+"/dev/items/1", key, nil, nil), 404, "Not Found", "unknown stage")
	wantGatewayError(t, apiCall(t, "GET", shared.endpoint+"/apis/zzzzzzzzzz/prod/items/1", key, nil, nil), 404, "Not Found", "unknown api")
	wantGatewayError(t, apiCall(t, "POST", base+"/items", key, nil, bytes.Repeat([]byte("x"), 6*1024*1024+1)), 413, "Request Entity Too Large", "7 MB body")

	// Route edits reach prod only when it is deployed again.
	apiCLI(t, a, "route", id, "POST /items", "--delete")
	apiCLI(t, a, "route", id, "GET /new", "items")
	if r := apiCall(t, "POST", base+"/items", key, nil, []byte("x")); r.status != 200 {
		t.Errorf("a removed route stopped before the redeploy: %v", r)
	}
	wantGatewayError(t, apiCall(t, "GET", base+"/new", key, nil, nil), 404, "Not Found", "an added route before the redeploy")
	apiCLI(t, a, "deploy", id, "prod")
	wantGatewayError(t, apiCall(t, "POST", base+"/items", key, nil, []byte("x")), 404, "Not Found", "a removed route after the redeploy")
	if e := echoed(t, apiCall(t, "GET", base+"/new", key, nil, nil), "GET /new"); e.RouteKey != "GET /new" {
		t.Errorf("new route: %+v", e)
	}

	// A plan of 2 requests/s, burst 2: a burst of 10 is mostly refused.
	apiCLI(t, a, "plan", id, "--account", b.AccountId, "--rate", "2", "--burst", "2")
	var mu sync.Mutex
	var wg sync.WaitGroup
	statuses := map[int]int{}
	retryAfter := ""
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := apiCall(t, "GET", base+"/items/1", key, nil, nil)
			mu.Lock()
			defer mu.Unlock()
			statuses[r.status]++
			if r.status == 429 {
				retryAfter = r.header.Get("Retry-After")
				var m map[string]any
				if json.Unmarshal(r.body, &m); m["message"] != "Too Many Requests" {
					t.Errorf("rate 429: %v", r)
				}
			}
		}()
	}
	wg.Wait()
	if statuses[200] < 2 || statuses[200] > 5 || statuses[429] < 5 || statuses[200]+statuses[429] != 10 || retryAfter == "" {
		t.Errorf("burst of 10 at 2/s burst 2: %v, Retry-After %q", statuses, retryAfter)
	}
	paidByB += statuses[200]

	// D subscribes with a daily quota of 5.
	keyD, _ := apiCLI(t, d, "subscribe", id)["Key"].(string)
	apiCLI(t, a, "plan", id, "--account", d.AccountId, "--quota", "5")
	for i := range 5 {
		if r := apiCall(t, "GET", base+"/items/"+string(rune('a'+i)), keyD, nil, nil); r.status != 200 {
			t.Fatalf("D's call %d within its quota: %v", i+1, r)
		}
	}
	r = apiCall(t, "GET", base+"/items/f", keyD, nil, nil)
	wantGatewayError(t, r, 429, "Limit Exceeded", "D's sixth call")
	if r.header.Get("Retry-After") == "" {
		t.Error("quota 429 without Retry-After")
	}
	subs := apiCLI(t, a, "subscribers", id)
	if out := mustJSON(subs); !strings.Contains(out, d.AccountId) || !strings.Contains(out, `"CallsToday": 5`) || strings.Contains(out, keyD) {
		t.Errorf("subscribers: %s", out)
	}

	// Usage: B's calls are on B, with GB-seconds; none of them on A.
	route := id + "/GET /items/{id}"
	ub := usageBy(t, b, "by=api&role=payer")
	if got := ub[route]; got.Invocations != int64(paidByB) || got.GBSeconds <= 0 {
		t.Errorf("B's usage of %s: %+v, want %d invocations and GB-seconds (all: %v)", route, got, paidByB, ub)
	}
	for k := range usageBy(t, a, "by=api&role=payer") {
		if strings.HasPrefix(k, id+"/") {
			t.Errorf("A pays for calls through its API: %s", k)
		}
	}
	if ud := usageBy(t, d, "by=api&role=payer"); ud[route].Invocations != 5 {
		t.Errorf("D's usage: %v", ud)
	}

	// Unsubscribed: the key is refused.
	apiCLI(t, b, "unsubscribe", id)
	wantGatewayError(t, apiCall(t, "GET", base+"/items/1", key, nil, nil), 403, "Forbidden", "after unsubscribe")
	if list := apiCLI(t, b, "list"); strings.Contains(mustJSON(list["Subscriptions"]), id) {
		t.Errorf("B still lists the subscription: %v", list)
	}
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
