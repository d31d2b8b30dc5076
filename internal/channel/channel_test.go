package channel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/channel"
)

const (
	acct = "111111111111"
	base = "/2026-01-01/"
)

// harness is one Server on a loopback listener and a client playing the
// function.
type harness struct {
	t      testing.TB
	srv    *channel.Server
	url    string // http://127.0.0.1:port
	tr     *http.Transport
	client *http.Client
	served chan error
}

func start(t testing.TB, g channel.Grant, b channel.Backends, opts channel.Options) *harness {
	t.Helper()
	return serve(t, channel.New(g, b, opts))
}

// serve runs srv on a loopback listener until the test ends.
func serve(t testing.TB, srv *channel.Server) *harness {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, url: "http://" + l.Addr().String(), served: make(chan error, 1)}
	go func() { h.served <- h.srv.Serve(l) }()
	h.tr = &http.Transport{MaxIdleConnsPerHost: 64}
	h.client = &http.Client{Transport: h.tr}
	t.Cleanup(h.stop)
	return h
}

// stop closes the server and checks that Serve returned nil.
func (h *harness) stop() {
	h.t.Helper()
	h.tr.CloseIdleConnections()
	if err := h.srv.Close(); err != nil {
		h.t.Errorf("Close: %v", err)
	}
	select {
	case err, ok := <-h.served:
		if ok && err != nil {
			h.t.Errorf("Serve: %v", err)
		}
		if ok {
			close(h.served)
		}
	case <-time.After(5 * time.Second):
		h.t.Error("Serve did not return after Close")
	}
}

type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// errorType returns the errorType of a JSON error answer.
func (a answer) errorType() string {
	var doc struct{ ErrorType, ErrorMessage string }
	json.Unmarshal(a.body, &doc)
	return doc.ErrorType
}

func (h *harness) do(method, path string, body []byte, hdr ...string) answer {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

func (h *harness) expect(a answer, status int, errorType string) {
	h.t.Helper()
	if a.err != nil {
		h.t.Fatalf("request failed: %v", a.err)
	}
	if a.status != status || (errorType != "" && a.errorType() != errorType) {
		h.t.Fatalf("got %d %s, want %d %s", a.status, a.body, status, errorType)
	}
	if status >= 400 && a.header.Get("Content-Type") != "application/json" {
		h.t.Fatalf("error without a JSON content type: %v", a.header)
	}
}

func TestWhoami(t *testing.T) {
	g := channel.Grant{Account: acct, Function: "f", Version: "3", Portion: "signer",
		Secrets: []string{"api-key"}, KV: true, Functions: []string{"other"}, Portions: []string{"vault"}}
	h := start(t, g, channel.Backends{}, channel.Options{})
	a := h.do("GET", base+"whoami", nil)
	h.expect(a, 200, "")
	want := `{"account":"111111111111","function":"f","version":"3","portion":"signer",` +
		`"services":{"secrets":["api-key"],"kv":true,"functions":["other"],"portions":["vault"]}}`
	if string(a.body) != want {
		t.Fatalf("whoami:\n got %s\nwant %s", a.body, want)
	}
	h.expect(h.do("POST", base+"whoami", nil), 405, "MethodNotAllowed")

	bare := start(t, channel.Grant{Account: acct, Function: "g", Version: "$LATEST"}, channel.Backends{}, channel.Options{})
	a = bare.do("GET", base+"whoami", nil)
	if !strings.Contains(string(a.body), `"services":{"secrets":[],"kv":false,"functions":[],"portions":[]}`) {
		t.Fatalf("empty grant: %s", a.body)
	}
}

func TestUnknownPaths(t *testing.T) {
	h := start(t, channel.Grant{Account: acct, Function: "f"}, channel.Backends{}, channel.Options{})
	for _, p := range []string{"/", "/2018-06-01/runtime/invocation/next", base, base + "nope",
		base + "functions//invocations", base + "functions/a/b/invocations", base + "layers/x/invocations"} {
		h.expect(h.do("GET", p, nil), 404, "NotFound")
	}
}

func TestSecrets(t *testing.T) {
	sec := &memSecrets{}
	sec.set(acct, "f", "api-key", "s3cr3t")
	sec.set(acct, "f", "hidden", "not for you")
	sec.set(acct, "other", "api-key", "other's")
	g := channel.Grant{Account: acct, Function: "f", Secrets: []string{"api-key", "unset"}}
	h := start(t, g, channel.Backends{Secrets: sec}, channel.Options{})

	a := h.do("GET", base+"secrets/api-key", nil)
	h.expect(a, 200, "")
	if string(a.body) != "s3cr3t" || a.header.Get("Content-Type") != "application/octet-stream" ||
		a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("granted secret: %q %v", a.body, a.header)
	}
	h.expect(h.do("GET", base+"secrets/unset", nil), 404, "SecretNotFound")

	// Not granted: the same answer whether the secret exists or not, and
	// the backend is never asked.
	exists := h.do("GET", base+"secrets/hidden", nil)
	missing := h.do("GET", base+"secrets/hiddeN", nil)
	h.expect(exists, 403, "ServiceNotGranted")
	h.expect(missing, 403, "ServiceNotGranted")
	if strings.Replace(string(missing.body), "hiddeN", "hidden", 1) != string(exists.body) {
		t.Fatalf("answers differ:\n%s\n%s", exists.body, missing.body)
	}
	for _, c := range sec.calls() {
		if strings.Contains(c, "hidden") {
			t.Fatalf("backend asked for an ungranted secret: %v", sec.calls())
		}
	}
	h.expect(h.do("GET", base+"secrets/", nil), 403, "ServiceNotGranted")
	h.expect(h.do("GET", base+"secrets/api-key/x", nil), 403, "ServiceNotGranted")
	h.expect(h.do("PUT", base+"secrets/api-key", []byte("x")), 405, "MethodNotAllowed")

	// A failing backend is a 500 that says nothing of the failure.
	sec.err = errors.New("nats: connection to 10.0.0.7 refused")
	a = h.do("GET", base+"secrets/api-key", nil)
	h.expect(a, 500, "ServiceException")
	if strings.Contains(string(a.body), "10.0.0.7") {
		t.Fatalf("internal error leaked: %s", a.body)
	}
}

func TestKVNotGranted(t *testing.T) {
	kv := &memKV{}
	kv.Put(context.Background(), acct, "f", "k", []byte("v"), fnkvNone)
	h := start(t, channel.Grant{Account: acct, Function: "f"}, channel.Backends{KV: kv}, channel.Options{})
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		h.expect(h.do(m, base+"kv/k", []byte("x")), 403, "ServiceNotGranted")
	}
	h.expect(h.do("GET", base+"kv?prefix=", nil), 403, "ServiceNotGranted")
	if it, err := kv.Get(context.Background(), acct, "f", "k"); err != nil || string(it.Value) != "v" {
		t.Fatalf("store changed: %v", err)
	}
}

func kvPath(key string) string { return base + "kv/" + url.PathEscape(key) }

func TestKV(t *testing.T) {
	kv := &memKV{}
	g := channel.Grant{Account: acct, Function: "f", KV: true}
	h := start(t, g, channel.Backends{KV: kv}, channel.Options{MaxRequestBytes: 1024})

	h.expect(h.do("GET", kvPath("k"), nil), 404, "KeyNotFound")
	a := h.do("PUT", kvPath("k"), []byte("v1"))
	h.expect(a, 200, "")
	r1 := a.header.Get("Ember-Revision")
	if r1 == "" || string(a.body) != `{"revision":`+r1+`}` {
		t.Fatalf("put: %s %v", a.body, a.header)
	}
	a = h.do("GET", kvPath("k"), nil)
	h.expect(a, 200, "")
	if string(a.body) != "v1" || a.header.Get("Ember-Revision") != r1 || a.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("get: %q %v", a.body, a.header)
	}

	// Compare-and-set and create-only.
	a = h.do("PUT", kvPath("k"), []byte("v2"), "If-Match", r1)
	h.expect(a, 200, "")
	r2 := a.header.Get("Ember-Revision")
	h.expect(h.do("PUT", kvPath("k"), []byte("v3"), "If-Match", r1), 409, "RevisionConflict")
	h.expect(h.do("PUT", kvPath("k"), []byte("v3"), "If-Match", `"`+r2+`"`), 200, "") // quoted like an ETag
	h.expect(h.do("PUT", kvPath("k"), []byte("x"), "If-None-Match", "*"), 409, "RevisionConflict")
	h.expect(h.do("PUT", kvPath("new"), []byte("x"), "If-None-Match", "*"), 200, "")
	h.expect(h.do("PUT", kvPath("k"), []byte("x"), "If-Match", "abc"), 400, "InvalidRequestContentException")
	h.expect(h.do("PUT", kvPath("k"), []byte("x"), "If-None-Match", `"7"`), 400, "InvalidRequestContentException")
	h.expect(h.do("PUT", kvPath("k"), []byte("x"), "If-None-Match", "*", "If-Match", r2), 400, "InvalidRequestContentException")
	h.expect(h.do("DELETE", kvPath("k"), nil, "If-None-Match", "*"), 400, "InvalidRequestContentException")
	h.expect(h.do("DELETE", kvPath("k"), nil, "If-Match", r1), 409, "RevisionConflict")
	h.expect(h.do("DELETE", kvPath("k"), nil), 204, "")
	h.expect(h.do("DELETE", kvPath("k"), nil), 204, "")
	h.expect(h.do("GET", kvPath("k"), nil), 404, "KeyNotFound")

	// Keys are the decoded rest of the path: slashes, escapes, unicode.
	for _, k := range []string{"a/b/c", "100% sure?", "ünï#cödé", "..", "a//b"} {
		h.expect(h.do("PUT", kvPath(k), []byte(k)), 200, "")
		a := h.do("GET", kvPath(k), nil)
		if a.status != 200 || string(a.body) != k {
			t.Errorf("key %q: %d %q", k, a.status, a.body)
		}
	}
	h.expect(h.do("PUT", base+"kv/a%0Ab", []byte("x")), 400, "InvalidRequestContentException")
	h.expect(h.do("PUT", base+"kv/", []byte("x")), 400, "InvalidRequestContentException")
	h.expect(h.do("PUT", kvPath(strings.Repeat("k", 513)), []byte("x")), 400, "InvalidRequestContentException")
	h.expect(h.do("POST", kvPath("k"), nil), 405, "MethodNotAllowed")

	// Bodies over the request limit.
	h.expect(h.do("PUT", kvPath("big"), make([]byte, 1025)), 413, "RequestEntityTooLarge")
	h.expect(h.do("PUT", kvPath("big"), make([]byte, 1024)), 200, "")

	// Listing.
	a = h.do("GET", base+"kv?prefix=a/&limit=1", nil)
	h.expect(a, 200, "")
	if string(a.body) != `{"keys":["a//b"],"next":"a//b"}` {
		t.Fatalf("list page 1: %s", a.body)
	}
	a = h.do("GET", base+"kv?prefix=a/&limit=1&after="+url.QueryEscape("a//b"), nil)
	if string(a.body) != `{"keys":["a/b/c"]}` {
		t.Fatalf("list page 2: %s", a.body)
	}
	a = h.do("GET", base+"kv?prefix=zzz", nil)
	if string(a.body) != `{"keys":[]}` {
		t.Fatalf("empty list: %s", a.body)
	}
	h.expect(h.do("GET", base+"kv?limit=x", nil), 400, "InvalidRequestContentException")
	h.expect(h.do("GET", base+"kv?limit=0", nil), 400, "InvalidRequestContentException")
}

// Two sandboxes over one backend see only their own function's data.
func TestGrantsAreIsolated(t *testing.T) {
	kv := &memKV{}
	sec := &memSecrets{}
	sec.set(acct, "a", "token", "a's token")
	sec.set(acct, "b", "token", "b's token")
	b := channel.Backends{KV: kv, Secrets: sec}
	ha := start(t, channel.Grant{Account: acct, Function: "a", KV: true, Secrets: []string{"token"}}, b, channel.Options{})
	hb := start(t, channel.Grant{Account: acct, Function: "b", KV: true, Secrets: []string{"token"}}, b, channel.Options{})
	ha.expect(ha.do("PUT", kvPath("k"), []byte("from a")), 200, "")
	hb.expect(hb.do("GET", kvPath("k"), nil), 404, "KeyNotFound")
	hb.expect(hb.do("PUT", kvPath("k"), []byte("from b")), 200, "")
	if a := ha.do("GET", kvPath("k"), nil); string(a.body) != "from a" {
		t.Fatalf("a reads %q", a.body)
	}
	if a := ha.do("GET", base+"secrets/token", nil); string(a.body) != "a's token" {
		t.Fatalf("a's secret: %q", a.body)
	}
	if a := hb.do("GET", base+"secrets/token", nil); string(a.body) != "b's token" {
		t.Fatalf("b's secret: %q", a.body)
	}

	// The grant is copied: changing the caller's slices later changes nothing.
	g := channel.Grant{Account: acct, Function: "a", Secrets: []string{"token"}}
	hc := start(t, g, b, channel.Options{})
	g.Secrets[0] = "other"
	hc.expect(hc.do("GET", base+"secrets/token", nil), 200, "")
}

// invoker is a fake Backends.Invoke that records calls.
type invoker struct {
	mu    sync.Mutex
	calls []channel.Call
	fn    func(ctx context.Context, c channel.Call) (channel.Result, error)
}

func (iv *invoker) invoke(ctx context.Context, c channel.Call) (channel.Result, error) {
	iv.mu.Lock()
	iv.calls = append(iv.calls, c)
	fn := iv.fn
	iv.mu.Unlock()
	if fn == nil {
		return channel.Result{Payload: append([]byte(`{"echo":`), append(c.Payload, '}')...)}, nil
	}
	return fn(ctx, c)
}

func (iv *invoker) last(t testing.TB) channel.Call {
	t.Helper()
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if len(iv.calls) == 0 {
		t.Fatal("no call reached the backend")
	}
	return iv.calls[len(iv.calls)-1]
}

func (iv *invoker) count() int {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	return len(iv.calls)
}

func fnPath(target string) string {
	return base + "functions/" + url.PathEscape(target) + "/invocations"
}

func TestInvokeGrants(t *testing.T) {
	iv := &invoker{}
	g := channel.Grant{Account: acct, Function: "caller", Version: "7", Functions: []string{
		"plain",
		"pinned:prod",
		"222222222222:function:theirs",
		"arn:aws:lambda:local:333333333333:function:arnd",
	}}
	h := start(t, g, channel.Backends{Invoke: iv.invoke}, channel.Options{})
	for _, tt := range []struct {
		target string
		ok     bool
	}{
		{"plain", true},
		{"plain:3", true}, // no qualifier in the grant: any version or alias
		{"plain:$LATEST", true},
		{acct + ":function:plain", true},
		{"arn:aws:lambda:local:" + acct + ":function:plain:live", true},
		{"pinned:prod", true},
		{"pinned", false},
		{"pinned:1", false},
		{"222222222222:function:theirs", true},
		{"theirs", false}, // that name in the caller's own account
		{"arn:aws:lambda:local:222222222222:function:theirs", true},
		{"arn:aws:lambda:local:333333333333:function:arnd", true},
		{"arn:aws:lambda:elsewhere:333333333333:function:arnd", false},
		{"arnd", false},
		{"caller", false}, // itself, unless granted
		{"Plain", false},
	} {
		before := iv.count()
		a := h.do("POST", fnPath(tt.target), []byte(`"hi"`))
		switch {
		case tt.ok && a.status != 200:
			t.Errorf("%s: %d %s, want 200", tt.target, a.status, a.body)
		case tt.ok && iv.last(t).Target != tt.target:
			t.Errorf("%s: backend saw target %q", tt.target, iv.last(t).Target)
		case !tt.ok && (a.status != 403 || a.errorType() != "ServiceNotGranted"):
			t.Errorf("%s: %d %s, want 403 ServiceNotGranted", tt.target, a.status, a.body)
		case !tt.ok && iv.count() != before:
			t.Errorf("%s: refused call reached the backend", tt.target)
		}
	}
	h.expect(h.do("POST", fnPath("bad name!"), nil), 400, "InvalidRequestContentException")
	h.expect(h.do("GET", fnPath("plain"), nil), 405, "MethodNotAllowed")
	// Portions are granted apart from functions.
	h.expect(h.do("POST", base+"portions/plain/invocations", nil), 403, "ServiceNotGranted")
}

func TestInvokeBrokering(t *testing.T) {
	iv := &invoker{}
	g := channel.Grant{Account: acct, Function: "caller", Version: "7", Portion: "", Functions: []string{"callee"},
		Portions: []string{"signer"}, Secrets: []string{"s"}}
	h := start(t, g, channel.Backends{Invoke: iv.invoke}, channel.Options{MaxInvokeBytes: 4096})

	// Payload in, payload out, the caller's grant and the target handed over.
	a := h.do("POST", fnPath("callee"), []byte(`{"n":1}`))
	h.expect(a, 200, "")
	if string(a.body) != `{"echo":{"n":1}}` || a.header.Get("Ember-Function-Error") != "" {
		t.Fatalf("invoke: %s %v", a.body, a.header)
	}
	c := iv.last(t)
	if c.Target != "callee" || c.Portion != "" || string(c.Payload) != `{"n":1}` ||
		c.Grant.Account != acct || c.Grant.Function != "caller" || c.Grant.Version != "7" {
		t.Fatalf("call: %+v", c)
	}
	// The default deadline.
	if d := time.Until(c.Deadline); d < 28*time.Second || d > 30*time.Second {
		t.Fatalf("default deadline in %v, want 30s", d)
	}
	// The backend may not change our grant through the copy it gets.
	c.Grant.Secrets[0] = "stolen"
	if a := h.do("GET", base+"whoami", nil); !strings.Contains(string(a.body), `"secrets":["s"]`) {
		t.Fatalf("grant changed through a call: %s", a.body)
	}

	// A portion.
	h.expect(h.do("POST", base+"portions/signer/invocations", []byte(`"sign me"`)), 200, "")
	if c := iv.last(t); c.Portion != "signer" || c.Target != "" || string(c.Payload) != `"sign me"` || c.Grant.Version != "7" {
		t.Fatalf("portion call: %+v", c)
	}
	h.expect(h.do("POST", base+"portions/vault/invocations", nil), 403, "ServiceNotGranted")

	// The callee's function error is passed on, with its document.
	iv.fn = func(ctx context.Context, c channel.Call) (channel.Result, error) {
		return channel.Result{Payload: []byte(`{"errorType":"ValueError","errorMessage":"bad"}`), FunctionError: "Unhandled"}, nil
	}
	a = h.do("POST", fnPath("callee"), nil)
	h.expect(a, 200, "")
	if a.header.Get("Ember-Function-Error") != "Unhandled" || !strings.Contains(string(a.body), "ValueError") {
		t.Fatalf("function error: %s %v", a.body, a.header)
	}

	// Explicit deadline, and the caller's own deadline as a cap.
	iv.fn = nil
	want := time.Now().Add(5 * time.Second).Truncate(time.Millisecond)
	h.expect(h.do("POST", fnPath("callee"), nil, "Ember-Deadline-Ms", strconv.FormatInt(want.UnixMilli(), 10)), 200, "")
	if got := iv.last(t).Deadline; !got.Equal(want) {
		t.Fatalf("deadline %v, want %v", got, want)
	}
	h.expect(h.do("POST", fnPath("callee"), nil, "Ember-Deadline-Ms", "soon"), 400, "InvalidRequestContentException")
	before := iv.count()
	h.expect(h.do("POST", fnPath("callee"), nil, "Ember-Deadline-Ms", strconv.FormatInt(time.Now().Add(-time.Second).UnixMilli(), 10)),
		502, "CallTimedOut")
	if iv.count() != before {
		t.Fatal("a call already past its deadline reached the backend")
	}

	// Sizes both ways.
	h.expect(h.do("POST", fnPath("callee"), make([]byte, 4097)), 413, "RequestEntityTooLarge")
	iv.fn = func(ctx context.Context, c channel.Call) (channel.Result, error) {
		return channel.Result{Payload: make([]byte, 4097)}, nil
	}
	h.expect(h.do("POST", fnPath("callee"), nil), 502, "CallFailed")

	// Errors the backend reports.
	for _, tt := range []struct {
		err    error
		status int
		typ    string
	}{
		{fmt.Errorf("%w: Function not found: arn:aws:lambda:local:%s:function:callee", channel.ErrNotFound, acct), 404, "ResourceNotFoundException"},
		{fmt.Errorf("%w: the owner does not allow it", channel.ErrForbidden), 403, "AccessDeniedException"},
		{fmt.Errorf("%w: rate exceeded", channel.ErrThrottled), 429, "TooManyRequestsException"},
		{fmt.Errorf("%w: region elsewhere", channel.ErrInvalid), 400, "InvalidRequestContentException"},
		{errors.New("scheduler: node 10.1.2.3 unreachable"), 502, "CallFailed"},
	} {
		iv.fn = func(context.Context, channel.Call) (channel.Result, error) { return channel.Result{}, tt.err }
		a := h.do("POST", fnPath("callee"), nil)
		h.expect(a, tt.status, tt.typ)
		if strings.Contains(string(a.body), "10.1.2.3") {
			t.Fatalf("internal error leaked: %s", a.body)
		}
	}
}

func TestInvokeDeadline(t *testing.T) {
	iv := &invoker{fn: func(ctx context.Context, c channel.Call) (channel.Result, error) {
		<-ctx.Done()
		return channel.Result{}, ctx.Err()
	}}
	callerDeadline := time.Now().Add(300 * time.Millisecond)
	g := channel.Grant{Account: acct, Function: "caller", Functions: []string{"slow"}}
	h := start(t, g, channel.Backends{Invoke: iv.invoke}, channel.Options{
		CallerDeadline: func() time.Time { return callerDeadline },
	})
	// The header asks for a minute; the caller has 300 ms left.
	t0 := time.Now()
	a := h.do("POST", fnPath("slow"), nil, "Ember-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
	h.expect(a, 502, "CallTimedOut")
	if el := time.Since(t0); el > 5*time.Second {
		t.Fatalf("took %v", el)
	}
	if got := iv.last(t).Deadline; !got.Equal(callerDeadline) {
		t.Fatalf("deadline %v, want the caller's %v", got, callerDeadline)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 8)
	iv := &invoker{fn: func(ctx context.Context, c channel.Call) (channel.Result, error) {
		started <- struct{}{}
		select {
		case <-release:
			return channel.Result{Payload: []byte("done")}, nil
		case <-ctx.Done():
			return channel.Result{}, ctx.Err()
		}
	}}
	g := channel.Grant{Account: acct, Function: "f", Functions: []string{"g"}}
	h := start(t, g, channel.Backends{Invoke: iv.invoke}, channel.Options{MaxConcurrent: 2})
	results := make(chan answer, 2)
	for range 2 {
		go func() { results <- h.do("POST", fnPath("g"), nil) }()
	}
	<-started
	<-started
	h.expect(h.do("POST", fnPath("g"), nil), 429, "TooManyRequestsException")
	h.expect(h.do("GET", base+"whoami", nil), 429, "TooManyRequestsException")
	close(release)
	for range 2 {
		if a := <-results; a.status != 200 || string(a.body) != "done" {
			t.Fatalf("held call: %d %s %v", a.status, a.body, a.err)
		}
	}
	h.expect(h.do("GET", base+"whoami", nil), 200, "")
}

func TestCloseCutsSlowCall(t *testing.T) {
	started := make(chan struct{})
	seen := make(chan error, 1)
	iv := &invoker{fn: func(ctx context.Context, c channel.Call) (channel.Result, error) {
		close(started)
		<-ctx.Done()
		seen <- ctx.Err()
		return channel.Result{}, ctx.Err()
	}}
	g := channel.Grant{Account: acct, Function: "f", Functions: []string{"g"}}
	h := start(t, g, channel.Backends{Invoke: iv.invoke}, channel.Options{})
	res := make(chan answer, 1)
	go func() { res <- h.do("POST", fnPath("g"), nil) }()
	<-started
	t0 := time.Now()
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el > 2*time.Second {
		t.Fatalf("Close took %v", el)
	}
	select {
	case err := <-seen:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("backend saw %v, want context.Canceled", err)
		}
	default:
		t.Fatal("Close returned before the call's handler did")
	}
	if a := <-res; a.err == nil {
		t.Fatalf("cut call got an answer: %d %s", a.status, a.body)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestAccessLog(t *testing.T) {
	var mu sync.Mutex
	var log []channel.Access
	sec := &memSecrets{}
	sec.set(acct, "f", "s", "value")
	g := channel.Grant{Account: acct, Function: "f", Version: "2", Portion: "p", Secrets: []string{"s"}, Functions: []string{"g"}}
	iv := &invoker{fn: func(ctx context.Context, c channel.Call) (channel.Result, error) {
		return channel.Result{Payload: []byte("{}"), FunctionError: "Unhandled"}, nil
	}}
	h := start(t, g, channel.Backends{Secrets: sec, Invoke: iv.invoke}, channel.Options{Log: func(a channel.Access) {
		mu.Lock()
		log = append(log, a)
		mu.Unlock()
	}})
	h.do("GET", base+"secrets/s", nil)
	h.do("GET", base+"secrets/nope", nil)
	h.do("POST", fnPath("g"), []byte("12345"))
	h.do("GET", kvPath("k"), nil)
	mu.Lock()
	defer mu.Unlock()
	if len(log) != 4 {
		t.Fatalf("%d access records: %+v", len(log), log)
	}
	for i, want := range []channel.Access{
		{Service: "secrets", Op: "get", Target: "s", Status: 200, BytesOut: 5},
		{Service: "secrets", Op: "get", Target: "nope", Status: 403, ErrorType: "ServiceNotGranted"},
		{Service: "function", Op: "invoke", Target: "g", Status: 200, BytesIn: 5, BytesOut: 2, FunctionError: "Unhandled"},
		{Service: "kv", Op: "get", Target: "k", Status: 403, ErrorType: "ServiceNotGranted"},
	} {
		got := log[i]
		if got.Account != acct || got.Function != "f" || got.Version != "2" || got.Portion != "p" || got.Time.IsZero() {
			t.Errorf("record %d identity: %+v", i, got)
		}
		got.Account, got.Function, got.Version, got.Portion, got.Time, got.Duration = "", "", "", "", time.Time{}, 0
		if want.ErrorType != "" {
			got.BytesOut = 0 // the error document's size is not the point
		}
		if got != want {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

// After Close and with the client's connections gone, nothing the server
// started is left running, blocked calls included.
func TestNoGoroutineLeaks(t *testing.T) {
	baseline := runtime.NumGoroutine()
	func() {
		kv := &memKV{}
		iv := &invoker{fn: func(ctx context.Context, c channel.Call) (channel.Result, error) {
			if string(c.Payload) == "block" {
				<-ctx.Done()
				return channel.Result{}, ctx.Err()
			}
			return channel.Result{Payload: c.Payload}, nil
		}}
		g := channel.Grant{Account: acct, Function: "f", KV: true, Functions: []string{"g"}}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := channel.New(g, channel.Backends{KV: kv, Invoke: iv.invoke}, channel.Options{MaxConcurrent: 4})
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }()
		tr := &http.Transport{}
		client := &http.Client{Transport: tr}
		u := "http://" + l.Addr().String()
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				body := "x"
				if i%5 == 0 {
					body = "block"
				}
				resp, err := client.Post(u+fnPath("g"), "application/json", strings.NewReader(body))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			wg.Go(func() {
				req, _ := http.NewRequest("PUT", u+kvPath(fmt.Sprint("k", i)), strings.NewReader("v"))
				if resp, err := client.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		time.Sleep(100 * time.Millisecond)
		srv.Close()
		wg.Wait()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		tr.CloseIdleConnections()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A body must arrive within the body timeout, but a call may run for longer
// than that once its body is in.
func TestBodyTimeout(t *testing.T) {
	iv := &invoker{fn: func(ctx context.Context, c channel.Call) (channel.Result, error) {
		select {
		case <-time.After(400 * time.Millisecond):
			return channel.Result{Payload: []byte("late but fine")}, nil
		case <-ctx.Done():
			return channel.Result{}, ctx.Err()
		}
	}}
	srv := channel.New(channel.Grant{Account: acct, Function: "f", Functions: []string{"g"}},
		channel.Backends{Invoke: iv.invoke}, channel.Options{})
	srv.SetBodyTimeout(100 * time.Millisecond)
	h := serve(t, srv)

	a := h.do("POST", fnPath("g"), []byte("payload"))
	h.expect(a, 200, "")
	if string(a.body) != "late but fine" {
		t.Fatalf("long call: %q", a.body)
	}

	// A body that trickles in is cut off.
	c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab", fnPath("g"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(c)
	if !bytes.HasPrefix(reply, []byte("HTTP/1.1 400")) {
		t.Fatalf("slow body: %q", reply)
	}
	if n := iv.count(); n != 1 {
		t.Fatalf("%d calls reached the backend, want 1", n)
	}
}
