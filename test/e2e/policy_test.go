package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// withHeader adds a header to a request made with aws-sdk-go-v2 (before
// it is signed), the way a Go caller sends X-Ember-Policy.
func withHeader(k, v string) func(*lambda.Options) {
	return func(o *lambda.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Build.Add(middleware.BuildMiddlewareFunc("emberHeader", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				if r, ok := in.Request.(*smithyhttp.Request); ok {
					r.Header.Set(k, v)
				}
				return next.HandleBuild(ctx, in)
			}), middleware.After)
		})
	}
}

// cliShared runs the ember CLI against the shared server.
func cliShared(t *testing.T, c creds, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return emberCLI(t, c, []string{"EMBER_ENDPOINT=" + shared.endpoint}, args...)
}

// invokeWith invokes with a request-time policy fragment ("" for none).
func invokeWith(t *testing.T, cl *lambda.Client, name, payload, fragment string) (invokeOut, error) {
	t.Helper()
	var opts []func(*lambda.Options)
	if fragment != "" {
		opts = append(opts, withHeader("X-Ember-Policy", fragment))
	}
	out, err := cl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(payload), LogType: "Tail"}, opts...)
	if err != nil {
		return invokeOut{}, err
	}
	res := invokeOut{status: out.StatusCode, raw: string(out.Payload), fnErr: aws.ToString(out.FunctionError), version: aws.ToString(out.ExecutedVersion)}
	json.Unmarshal(out.Payload, &res.payload)
	if l, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult)); err == nil {
		res.log = string(l)
	}
	return res, nil
}

func mustInvokeWith(t *testing.T, cl *lambda.Client, name, payload, fragment string) invokeOut {
	t.Helper()
	out, err := invokeWith(t, cl, name, payload, fragment)
	if err != nil {
		t.Fatalf("invoke %s (policy %s): %v", name, fragment, err)
	}
	if out.fnErr != "" {
		t.Fatalf("invoke %s (policy %s): function error %s", name, fragment, out.raw)
	}
	return out
}

// TestSecurityPolicyAPI: put/get/delete through the CLI, validation errors
// naming the field, RevisionId changes, and a published version freezing
// its policy.
func TestSecurityPolicyAPI(t *testing.T) {
	t.Parallel()
	c := newAccount(t, shared, "policy-api")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "pol", "provided.al2023", "bootstrap", goFunction(t), nil, 3, 128)
	before, err := cl.GetFunctionConfiguration(ctxT(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("pol")})
	if err != nil {
		t.Fatal(err)
	}
	doc := writeTemp(t, "policy.json", []byte(`{"network":{"mode":"allowlist","allow":["api.example.com:443","10.1.0.0/16:5432"]},"limits":{"pids":64},"isolation":"fresh"}`))
	out, errOut, code := cliShared(t, c, "policy", "put", "pol", "--file", doc)
	if code != 0 {
		t.Fatalf("policy put: %d %s %s", code, out, errOut)
	}
	var got struct {
		Policy     map[string]any
		Effective  map[string]any
		RevisionId string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("policy put output %q: %v", out, err)
	}
	if got.RevisionId == aws.ToString(before.RevisionId) || got.RevisionId == "" {
		t.Errorf("RevisionId unchanged by a policy change: %q", got.RevisionId)
	}
	eff, _ := json.Marshal(got.Effective)
	for _, want := range []string{`"mode":"allowlist"`, `"pids":64`, `"isolation":"fresh"`, `"syscalls":"default"`, `"tmpMB":512`} {
		if !strings.Contains(string(eff), want) {
			t.Errorf("effective policy %s lacks %s", eff, want)
		}
	}

	// Bad documents: a clear 400 naming the field; nothing changes.
	for _, bad := range []struct{ doc, want string }{
		{`{"network":{"mode":"allowlist","allow":["10.0.0.0/33"]}}`, "network.allow[0]"},
		{`{"limits":{"pids":1}}`, "limits.pids"},
		{`{"isolation":"sometimes"}`, "isolation"},
		{`{"netwrok":{}}`, "netwrok"},
		{`not json`, "invalid"},
	} {
		_, errOut, code := cliShared(t, c, "policy", "put", "pol", "--file", writeTemp(t, "bad.json", []byte(bad.doc)))
		if code == 0 || !strings.Contains(errOut, "InvalidParameterValueException") || !strings.Contains(errOut, bad.want) {
			t.Errorf("policy put %s: exit %d, stderr %q (want a 400 naming %s)", bad.doc, code, errOut, bad.want)
		}
	}

	// Publishing freezes the policy with the version.
	v, err := cl.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String("pol")})
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := cliShared(t, c, "policy", "delete", "pol"); code != 0 {
		t.Fatalf("policy delete: %s", errOut)
	}
	latest, _, _ := cliShared(t, c, "policy", "get", "pol")
	frozen, _, _ := cliShared(t, c, "policy", "get", "pol", "--qualifier", aws.ToString(v.Version))
	if strings.Contains(latest, "allowlist") || !strings.Contains(latest, `"isolation": "reuse"`) {
		t.Errorf("$LATEST after delete still has the policy: %s", latest)
	}
	if !strings.Contains(frozen, "allowlist") || !strings.Contains(frozen, "api.example.com:443") {
		t.Errorf("version %s lost its frozen policy: %s", aws.ToString(v.Version), frozen)
	}

	// Another account cannot read or set it (the function is invisible).
	other := newAccount(t, shared, "policy-api-other")
	arnPol := "arn:aws:lambda:" + testRegion + ":" + c.AccountId + ":function:pol"
	if _, errOut, code := cliShared(t, other, "policy", "get", arnPol); code == 0 || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Errorf("other account read the policy: %d %s", code, errOut)
	}
}

// TestRequestTimePolicy: fragments tighten only; fresh isolation gets a new
// sandbox every time; a no-network request never lands in a networked
// sandbox; the allow-list proxy lets listed destinations through and
// refuses others; tmp wiping, strict syscalls and the output limit apply.
func TestRequestTimePolicy(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "policy-req")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "net", "provided.al2023", "bootstrap", goFunction(t), nil, 5, 128)

	// A target on the host's loopback, reachable only through the proxy and
	// only because the policy lists its address explicitly.
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
			return
		}
		fmt.Fprint(w, "target says hi")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	target := fmt.Sprintf("http://127.0.0.1:%d/", port)
	doc := fmt.Sprintf(`{"network":{"mode":"allowlist","allow":["127.0.0.1:%d"]}}`, port)
	if _, errOut, code := cliShared(t, c, "policy", "put", "net", "--file", writeTemp(t, "p.json", []byte(doc))); code != 0 {
		t.Fatalf("policy put: %s", errOut)
	}

	// Allowed through the proxy; the decision is in the function's log.
	ok := mustInvokeWith(t, cl, "net", fmt.Sprintf(`{"mode":"fetch","value":%q}`, target), "")
	if ok.payload["echo"] != "200 target says hi" || ok.payload["proxy"] == "" {
		t.Fatalf("allowed fetch: %s", ok.raw)
	}
	if !strings.Contains(ok.log, "[ember egress] allow GET 127.0.0.1:") {
		t.Errorf("no egress decision in the log:\n%s", ok.log)
	}
	networked := ok.payload["sandbox"]
	// A port not listed, and the metadata address: refused by the proxy.
	for _, u := range []string{fmt.Sprintf("http://127.0.0.1:%d/", port+1), "http://169.254.169.254/latest/meta-data/"} {
		r := mustInvokeWith(t, cl, "net", fmt.Sprintf(`{"mode":"fetch","value":%q}`, u), "")
		if !strings.HasPrefix(r.payload["echo"].(string), "403 ") {
			t.Errorf("fetch %s: %s (want the proxy's 403)", u, r.raw)
		}
	}
	// A redirect to an internal host is handed back, not followed.
	before := hits.Load()
	r := mustInvokeWith(t, cl, "net", fmt.Sprintf(`{"mode":"fetch","value":%q}`, target+"redirect"), "")
	if !strings.HasPrefix(r.payload["echo"].(string), "302") || hits.Load() != before+1 {
		t.Errorf("redirect: %s (hits %d→%d)", r.raw, before, hits.Load())
	}

	// network none on request: never the networked sandbox, no proxy, no way out.
	before = hits.Load()
	none := mustInvokeWith(t, cl, "net", fmt.Sprintf(`{"mode":"fetch","value":%q}`, target), `{"network":{"mode":"none"}}`)
	if none.payload["sandbox"] == networked || none.payload["proxy"] != nil || !strings.HasPrefix(none.payload["echo"].(string), "error:") {
		t.Errorf("network:none request: %s (networked sandbox %v)", none.raw, networked)
	}
	if hits.Load() != before {
		t.Errorf("a network:none invocation reached the target")
	}
	// Again: a warm none sandbox, still not the networked one.
	again := mustInvokeWith(t, cl, "net", `{}`, `{"network":{"mode":"none"}}`)
	if again.payload["sandbox"] != none.payload["sandbox"] {
		t.Errorf("the tightened pool was not reused warm: %v vs %v", again.payload["sandbox"], none.payload["sandbox"])
	}
	// The plain call still goes to the networked sandbox.
	if plain := mustInvokeWith(t, cl, "net", `{}`, ""); plain.payload["sandbox"] != networked {
		t.Errorf("plain call left its warm sandbox: %v vs %v", plain.payload["sandbox"], networked)
	}

	// Widening is refused with a 400 that says so, and runs nothing.
	for _, frag := range []string{
		`{"network":{"mode":"allowlist","allow":["evil.example.com:443"]}}`,
		`{"limits":{"pids":4096}}`,
		`{"filesystem":{"tmpMB":4096}}`,
		`{"isolation":"shared"}`,
		`{nope`,
	} {
		_, err := invokeWith(t, cl, "net", `{}`, frag)
		if code, status := apiErr(err); status != 400 || code != "InvalidParameterValueException" {
			t.Errorf("fragment %s: %v (want 400 InvalidParameterValueException)", frag, err)
		}
	}

	// fresh: a new sandbox for every call, never reused.
	seen := map[any]bool{}
	for range 3 {
		f := mustInvokeWith(t, cl, "net", `{}`, `{"isolation":"fresh"}`)
		if seen[f.payload["sandbox"]] || f.payload["count"].(float64) != 1 {
			t.Errorf("fresh isolation reused a sandbox: %s", f.raw)
		}
		seen[f.payload["sandbox"]] = true
	}

	// tmpPersists false: the sandbox stays warm but /tmp is empty each time.
	for range 2 {
		w := mustInvokeWith(t, cl, "net", `{}`, `{"filesystem":{"tmpPersists":false}}`)
		if w.payload["count"].(float64) != 1 {
			t.Errorf("/tmp survived an invocation under tmpPersists:false: %s", w.raw)
		}
	}

	// strict syscalls: listening is refused; default allows it.
	if l := mustInvokeWith(t, cl, "net", `{"mode":"listen"}`, ""); l.payload["echo"] != "listening" {
		t.Errorf("default profile: %s", l.raw)
	}
	if l := mustInvokeWith(t, cl, "net", `{"mode":"listen"}`, `{"syscalls":"strict"}`); !strings.Contains(l.payload["echo"].(string), "operation not permitted") {
		t.Errorf("strict profile let the function listen: %s", l.raw)
	}

	// Output limit: 4 MiB against a 1 MiB limit stops the runtime with a
	// clear error; the next call works.
	flood, err := invokeWith(t, cl, "net", `{"mode":"flood","mb":4}`, `{"limits":{"outputBytes":1048576}}`)
	if err != nil || flood.fnErr == "" || !strings.Contains(flood.raw, "Runtime.OutputLimitExceeded") {
		t.Errorf("flood past the output limit: %+v %v", flood, err)
	}
	mustInvokeWith(t, cl, "net", `{}`, `{"limits":{"outputBytes":1048576}}`)
}
