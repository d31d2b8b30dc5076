package e2e

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// The platform channel (EMBER_SERVICES_API) end to end: secrets and kv
// for a function without a network, brokered calls to other functions,
// external extensions, and a split-trust function whose portions run in
// separate sandboxes. The functions are svcfn (ops that call the channel)
// and extfn (an external extension).

var (
	binMu    sync.Mutex
	binCache = map[string][]byte{}
)

// buildStatic builds ./pkg (relative to test/e2e) as a static linux
// binary, once per test run.
func buildStatic(t testing.TB, pkg string) []byte {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if b, ok := binCache[pkg]; ok {
		return b
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, "./"+pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	binCache[pkg] = b
	return b
}

// httpfnZip is httpfn as a provided.al2023 bundle.
func httpfnZip(t testing.TB) []byte {
	return makeZip(t, zipEntry{name: "bootstrap", body: string(buildStatic(t, "httpfn")), mode: 0o755})
}

// svcZip is svcfn as a provided.al2023 bundle, with extfn in extensions/
// when withExtension.
func svcZip(t *testing.T, withExtension bool) []byte {
	entries := []zipEntry{{name: "bootstrap", body: string(buildStatic(t, "svcfn")), mode: 0o755}}
	if withExtension {
		entries = append(entries, zipEntry{name: "extensions/extfn", body: string(buildStatic(t, "extfn")), mode: 0o755})
	}
	return makeZip(t, entries...)
}

// svcResult is svcfn's answer.
type svcResult struct {
	Status        int    `json:"status"`
	Body          string `json:"body"`
	FunctionError string `json:"functionError"`
	Err           string `json:"err"`
	Handler       string `json:"handler"`
	Function      string `json:"function"`
	Sandbox       string `json:"sandbox"`
	PidNS         string `json:"pidns"`
	Pid           int    `json:"pid"`
	RequestID     string `json:"requestId"`

	log string // the invocation's log tail
}

func (r svcResult) String() string {
	return fmt.Sprintf("status %d functionError %q err %q body %q (function %s handler %s sandbox %s %s)",
		r.Status, r.FunctionError, r.Err, r.Body, r.Function, r.Handler, r.Sandbox, r.PidNS)
}

// inner decodes the body of a call or portion op: the callee's svcfn answer.
func (r svcResult) inner(t *testing.T) svcResult {
	t.Helper()
	var in svcResult
	if err := json.Unmarshal([]byte(r.Body), &in); err != nil {
		t.Fatalf("callee's answer is not svcfn's: %v; %v", err, r)
	}
	return in
}

// svc invokes an svcfn function with ev (a JSON object) and an optional
// request-time policy fragment; a function error fails the test.
func svc(t *testing.T, cl *lambda.Client, fn, ev, fragment string) svcResult {
	t.Helper()
	out := mustInvokeWith(t, cl, fn, ev, fragment)
	var r svcResult
	if err := json.Unmarshal([]byte(out.raw), &r); err != nil {
		t.Fatalf("%s %s: not svcfn's answer: %v: %s", fn, ev, err, out.raw)
	}
	r.log = out.log
	return r
}

// wantRefused checks a channel answer of 403 ServiceNotGranted.
func wantRefused(t *testing.T, r svcResult, what string) {
	t.Helper()
	if r.Status != 403 || !strings.Contains(r.Body, `"errorType":"ServiceNotGranted"`) {
		t.Errorf("%s: %v, want 403 ServiceNotGranted", what, r)
	}
}

func putPolicy(t *testing.T, c creds, fn, doc string) {
	t.Helper()
	if out, errOut, code := cliShared(t, c, "policy", "put", fn, "--file", writeTemp(t, "policy.json", []byte(doc))); code != 0 {
		t.Fatalf("policy put %s: exit %d\n%s%s", fn, code, out, errOut)
	}
}

func putSecret(t *testing.T, c creds, fn, name, value string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"Value": value})
	r := signedRequest(t, shared, c, "PUT", "/ember/functions/"+fn+"/secrets/"+name, body, testRegion, time.Time{})
	if r.status != 200 || !strings.Contains(string(r.body), `"Name":"`+name+`"`) || strings.Contains(string(r.body), value) {
		t.Fatalf("put secret %s/%s: %v", fn, name, r)
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestServicesSecretsAndKV: a function without a network reads its
// declared secret and its kv store through the channel; everything else
// is refused, and secret values appear nowhere but in the channel's answer.
func TestServicesSecretsAndKV(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "svc-secrets")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "vault", "provided.al2023", "bootstrap", svcZip(t, false), nil, 10, 128)
	putPolicy(t, c, "vault", `{"network":{"mode":"none"},"services":{"secrets":["db-password"],"kv":true}}`)
	password, token := "pw-"+randomHex(t), "tok-"+randomHex(t)
	putSecret(t, c, "vault", "db-password", password)
	putSecret(t, c, "vault", "api-token", token)

	if r := svc(t, cl, "vault", `{"op":"secret","name":"db-password"}`, ""); r.Status != 200 || r.Body != password {
		t.Errorf("declared secret: %v, want %q", r, password)
	}
	// Not declared: refused although it exists, exactly as a missing one.
	wantRefused(t, svc(t, cl, "vault", `{"op":"secret","name":"api-token"}`, ""), "undeclared existing secret")
	wantRefused(t, svc(t, cl, "vault", `{"op":"secret","name":"no-such"}`, ""), "undeclared missing secret")

	who := svc(t, cl, "vault", `{"op":"whoami"}`, "")
	var w struct {
		Account, Function, Portion string
		Services                   struct {
			Secrets []string
			KV      bool
		}
	}
	if err := json.Unmarshal([]byte(who.Body), &w); err != nil || who.Status != 200 {
		t.Fatalf("whoami: %v %v", err, who)
	}
	if w.Account != c.AccountId || w.Function != "vault" || w.Portion != "" || !slices.Equal(w.Services.Secrets, []string{"db-password"}) || !w.Services.KV {
		t.Errorf("whoami: %s", who.Body)
	}
	if strings.Contains(who.Body, password) {
		t.Errorf("whoami shows a secret value: %s", who.Body)
	}

	env := svc(t, cl, "vault", `{"op":"env"}`, "")
	if strings.Contains(env.Body, password) || strings.Contains(env.Body, token) {
		t.Errorf("a secret value is in the function's environment:\n%s", env.Body)
	}
	if !strings.Contains(env.Body, "EMBER_SERVICES_API=127.0.0.1:9002") || strings.Contains(env.Body, "HTTP_PROXY") {
		t.Errorf("environment of a network:none function:\n%s", env.Body)
	}

	// kv across invocations: the read runs in a fresh sandbox, so the value
	// came from the store and not from the sandbox.
	put := svc(t, cl, "vault", `{"op":"kvput","name":"orders/42","value":"shipped"}`, "")
	if put.Status != 200 || !strings.Contains(put.Body, `"revision":`) {
		t.Fatalf("kv put: %v", put)
	}
	get := svc(t, cl, "vault", `{"op":"kvget","name":"orders/42"}`, `{"isolation":"fresh"}`)
	if get.Status != 200 || get.Body != "shipped" || get.Sandbox == put.Sandbox {
		t.Errorf("kv get in a fresh sandbox: %v (put ran in %s)", get, put.Sandbox)
	}
	if r := svc(t, cl, "vault", `{"op":"kvget","name":"orders/43"}`, ""); r.Status != 404 || !strings.Contains(r.Body, "KeyNotFound") {
		t.Errorf("kv get of a missing key: %v", r)
	}

	// The API lists names and sizes, never values.
	list := signedRequest(t, shared, c, "GET", "/ember/functions/vault/secrets", nil, testRegion, time.Time{})
	var ls struct{ Secrets []struct{ Name string } }
	if list.status != 200 || json.Unmarshal(list.body, &ls) != nil || len(ls.Secrets) != 2 ||
		strings.Contains(string(list.body), password) || strings.Contains(string(list.body), token) {
		t.Errorf("list secrets: %v", list)
	} else if names := []string{ls.Secrets[0].Name, ls.Secrets[1].Name}; !slices.Contains(names, "db-password") || !slices.Contains(names, "api-token") {
		t.Errorf("list secrets: %v", list)
	}
	if r := signedRequest(t, shared, c, "DELETE", "/ember/functions/vault/secrets/db-password", nil, testRegion, time.Time{}); r.status != 204 {
		t.Errorf("delete secret: %v", r)
	}
	if r := svc(t, cl, "vault", `{"op":"secret","name":"db-password"}`, ""); r.Status != 404 || !strings.Contains(r.Body, "SecretNotFound") {
		t.Errorf("declared secret after delete: %v, want 404 SecretNotFound", r)
	}

	// A function whose policy names services but not the store.
	createFn(t, cl, "nokv", "provided.al2023", "bootstrap", svcZip(t, false), nil, 10, 128)
	putPolicy(t, c, "nokv", `{"network":{"mode":"none"},"services":{"secrets":["db-password"]}}`)
	wantRefused(t, svc(t, cl, "nokv", `{"op":"kvput","name":"k","value":"v"}`, ""), "kv put without kv")
	wantRefused(t, svc(t, cl, "nokv", `{"op":"kvget","name":"orders/42"}`, ""), "kv get without kv")
	// Secrets are per function: nokv's db-password is not vault's.
	if r := svc(t, cl, "nokv", `{"op":"secret","name":"db-password"}`, ""); r.Status != 404 {
		t.Errorf("another function's secret: %v, want 404 (nokv has none)", r)
	}
}

// TestSidecarFunctionCalls: a function calls the functions its policy
// names through the channel; each callee runs in its own sandbox and the
// calls are metered, to the caller's account also when the callee belongs
// to another account.
func TestSidecarFunctionCalls(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "sidecar")
	owner := newAccount(t, shared, "sidecar-owner")
	cl, ocl := lambdaClient(shared, c), lambdaClient(shared, owner)
	code := svcZip(t, false)
	for _, fn := range []string{"front", "helper", "other"} {
		createFn(t, cl, fn, "provided.al2023", "bootstrap", code, nil, 10, 128)
	}
	createFn(t, ocl, "remote", "provided.al2023", "bootstrap", code, nil, 10, 128)
	remoteARN := "arn:aws:lambda:" + testRegion + ":" + owner.AccountId + ":function:remote"
	putPolicy(t, c, "front", `{"network":{"mode":"none"},"services":{"functions":["helper",`+fmt.Sprintf("%q", remoteARN)+`]}}`)

	r := svc(t, cl, "front", `{"op":"call","name":"helper","payload":{"op":"whoami"}}`, "")
	if r.Status != 200 || r.FunctionError != "" {
		t.Fatalf("call helper: %v", r)
	}
	in := r.inner(t)
	if in.Function != "helper" || in.Status != 200 || !strings.Contains(in.Body, `"function":"helper"`) {
		t.Errorf("helper's answer: %v", in)
	}
	if in.Sandbox == "" || in.Sandbox == r.Sandbox || in.PidNS == "" || in.PidNS == r.PidNS {
		t.Errorf("helper shared the caller's sandbox: caller %s %s, helper %s %s", r.Sandbox, r.PidNS, in.Sandbox, in.PidNS)
	}
	// By ARN too; and the callee's failure comes back as its error document.
	byARN := svc(t, cl, "front", `{"op":"call","name":"arn:aws:lambda:`+testRegion+`:`+c.AccountId+`:function:helper","payload":{"op":"id"}}`, "")
	if byARN.Status != 200 || byARN.inner(t).Function != "helper" {
		t.Errorf("call helper by ARN: %v", byARN)
	}
	failed := svc(t, cl, "front", `{"op":"call","name":"helper","payload":{"op":"explode"}}`, "")
	if failed.Status != 200 || failed.FunctionError != "Unhandled" || !strings.Contains(failed.Body, `unknown op \"explode\"`) {
		t.Errorf("a failing callee: %v", failed)
	}
	wantRefused(t, svc(t, cl, "front", `{"op":"call","name":"other","payload":{}}`, ""), "call to a function not named")
	wantRefused(t, svc(t, cl, "helper", `{"op":"call","name":"front","payload":{}}`, ""), "call from a function without a grant")

	// Another account's function: named in the policy, but its owner must
	// grant the call too.
	if r := svc(t, cl, "front", `{"op":"call","name":"`+remoteARN+`","payload":{"op":"id"}}`, ""); r.Status != 403 || !strings.Contains(r.Body, "AccessDeniedException") {
		t.Errorf("call to another account's function without its grant: %v", r)
	}
	if _, err := ocl.AddPermission(ctxT(t), &lambda.AddPermissionInput{
		FunctionName: aws.String("remote"), StatementId: aws.String("sidecar"),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String(c.AccountId),
	}); err != nil {
		t.Fatal(err)
	}
	if r := svc(t, cl, "front", `{"op":"call","name":"`+remoteARN+`","payload":{"op":"id"}}`, ""); r.Status != 200 || r.inner(t).Function != "remote" {
		t.Errorf("call to another account's function with its grant: %v", r)
	}

	// Metering: front ran 6 times, helper 4 (one failed, one direct), other never;
	// the remote call is the caller's, keyed by owner:function.
	paid := usageBy(t, c, "by=function&role=payer")
	if paid["front"].Invocations != 6 || paid["helper"].Invocations != 4 || paid["other"].Invocations != 0 || paid[owner.AccountId+":remote"].Invocations != 1 {
		t.Errorf("the caller's usage by function: %v", paid)
	}
	if got := usageBy(t, owner, "by=function&role=owner"); got["remote"].Invocations != 1 {
		t.Errorf("the callee owner's view of others' use: %v", got)
	}
	if got := usageBy(t, owner, "by=function&role=payer"); len(got) != 0 {
		t.Errorf("the callee owner paid for a call it did not make: %v", got)
	}
}

// TestExtensionEvents: an external extension in the bundle's extensions/
// gets INVOKE with each request id, and SHUTDOWN (spindown) when the idle
// sandbox is reclaimed.
func TestExtensionEvents(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "extension")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "ext", "provided.al2023", "bootstrap", svcZip(t, true), nil, 10, 128)
	putPolicy(t, c, "ext", `{"services":{"kv":true}}`)
	// The keep-alive a sandbox gets is the function's when it starts: tag
	// first, so the sandbox is reclaimed after a second idle.
	fn, err := cl.GetFunction(ctxT(t), &lambda.GetFunctionInput{FunctionName: aws.String("ext")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.TagResource(ctxT(t), &lambda.TagResourceInput{
		Resource: fn.Configuration.FunctionArn, Tags: map[string]string{"ember:keep-alive": "1"},
	}); err != nil {
		t.Fatal(err)
	}

	first := svc(t, cl, "ext", `{"op":"extevents"}`, "")
	if first.Status != 200 || first.Body != "INVOKE "+first.RequestID+"\n" {
		t.Fatalf("first invocation: the extension recorded %v", first)
	}
	if !strings.Contains(first.log, "extfn INVOKE "+first.RequestID) {
		t.Errorf("the extension's output is not in the invocation's log:\n%s", first.log)
	}
	// Well inside the keep-alive, so the same sandbox serves.
	time.Sleep(200 * time.Millisecond)
	second := svc(t, cl, "ext", `{"op":"extevents"}`, "")
	if second.Sandbox != first.Sandbox {
		t.Fatalf("the second invocation ran in another sandbox (%s, first %s)", second.Sandbox, first.Sandbox)
	}
	if want := "INVOKE " + first.RequestID + "\nINVOKE " + second.RequestID + "\n"; second.Body != want {
		t.Errorf("second invocation: the extension recorded %q, want %q", second.Body, want)
	}

	// Idle past its keep-alive, the sandbox is reclaimed: the extension
	// gets SHUTDOWN and records it in kv, which another sandbox reads. The
	// reads run in fresh sandboxes, so they never keep the first one warm.
	key := "extfn/shutdown/" + first.Sandbox
	deadline := time.Now().Add(15 * time.Second)
	time.Sleep(time.Second)
	for {
		r := svc(t, cl, "ext", `{"op":"kvget","name":"`+key+`"}`, `{"isolation":"fresh"}`)
		if r.Sandbox == first.Sandbox {
			t.Fatalf("a fresh-isolation read ran in the warm sandbox %s", r.Sandbox)
		}
		if r.Status == 200 {
			if r.Body != "spindown" {
				t.Errorf("shutdown reason %q, want spindown", r.Body)
			}
			break
		}
		if r.Status != 404 || time.Now().After(deadline) {
			t.Fatalf("the extension never recorded SHUTDOWN: %v", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// What it printed on SHUTDOWN belongs in the function's logs (the
	// sandbox is gone by now: its output must have been stored on close).
	deadline = time.Now().Add(3 * time.Second)
	for {
		logs, errOut, code := cliShared(t, c, "logs", "ext")
		if code == 0 && strings.Contains(logs, "SHUTDOWN spindown") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the extension's SHUTDOWN output is not in the function's logs (exit %d %s):\n%s", code, errOut, logs)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestSplitTrustSigner: the entry portion (no network, strict syscalls)
// has a signer portion sign for it with a secret it cannot read; the two
// run in separate sandboxes and pid namespaces and share nothing, and the
// signer cannot call back.
func TestSplitTrustSigner(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "split-trust")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "split", "provided.al2023", "bootstrap", svcZip(t, false), nil, 10, 128)
	putPolicy(t, c, "split", `{
		"network": {"mode": "none"},
		"syscalls": "strict",
		"services": {"portions": ["signer"]},
		"portions": {"signer": {"handler": "signer", "trust": 10, "policy": {"services": {"secrets": ["signing-key"]}}}}
	}`)
	key := "key-" + randomHex(t)
	putSecret(t, c, "split", "signing-key", key)

	r := svc(t, cl, "split", `{"op":"portion","name":"signer","payload":{"op":"sign","value":"pay 10 to bob"}}`, "")
	if r.Status != 200 || r.FunctionError != "" || r.Handler != "bootstrap" {
		t.Fatalf("entry → signer: %v", r)
	}
	signed := r.inner(t)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("pay 10 to bob"))
	if want := hex.EncodeToString(m.Sum(nil)); signed.Status != 200 || signed.Body != want || signed.Handler != "signer" {
		t.Errorf("signer's answer: %v, want the HMAC %s from handler signer", signed, want)
	}
	if signed.Sandbox == r.Sandbox || signed.PidNS == "" || signed.PidNS == r.PidNS {
		t.Errorf("the portions share a sandbox: entry %s %s, signer %s %s", r.Sandbox, r.PidNS, signed.Sandbox, signed.PidNS)
	}
	// Calling a portion not granted.
	wantRefused(t, svc(t, cl, "split", `{"op":"portion","name":"auditor","payload":{}}`, ""), "entry → undeclared portion")

	// The entry cannot read the key: not through the channel, not in its
	// environment, not in the signer's files or processes.
	wantRefused(t, svc(t, cl, "split", `{"op":"secret","name":"signing-key"}`, ""), "entry reads signing-key")
	if env := svc(t, cl, "split", `{"op":"env"}`, ""); strings.Contains(env.Body, key) {
		t.Errorf("the key is in the entry's environment:\n%s", env.Body)
	}
	if f := svc(t, cl, "split", `{"op":"readfile","path":"/tmp/signing-key"}`, ""); f.Status == 200 || !strings.Contains(f.Err, "no such file") {
		t.Errorf("the entry read the signer's /tmp: %v", f)
	}
	// The file is there, in the signer's sandbox.
	if f := svc(t, cl, "split", `{"op":"portion","name":"signer","payload":{"op":"readfile","path":"/tmp/signing-key"}}`, "").inner(t); f.Body != key {
		t.Errorf("the signer's own /tmp: %v", f)
	}
	entryProcs := svc(t, cl, "split", `{"op":"proc"}`, "")
	signerProcs := svc(t, cl, "split", `{"op":"portion","name":"signer","payload":{"op":"proc"}}`, "").inner(t)
	for _, p := range []struct {
		res          svcResult
		self, absent string
	}{{entryProcs, "bootstrap", "signer"}, {signerProcs, "signer", "bootstrap"}} {
		if p.res.Status != 200 || !strings.Contains(p.res.Body, "handler="+p.self) || strings.Contains(p.res.Body, "handler="+p.absent) {
			t.Errorf("/proc of the %s portion:\n%s", p.self, p.res.Body)
		}
	}

	// Each side's grant, as the channel tells it.
	who := svc(t, cl, "split", `{"op":"portion","name":"signer","payload":{"op":"whoami"}}`, "").inner(t)
	if !strings.Contains(who.Body, `"portion":"signer"`) || !strings.Contains(who.Body, `"secrets":["signing-key"]`) || !strings.Contains(who.Body, `"portions":[]`) {
		t.Errorf("signer's whoami: %s", who.Body)
	}
	// No way back into the entry: it is no portion the signer may call,
	// and the function is not among the signer's functions.
	back := svc(t, cl, "split", `{"op":"portion","name":"signer","payload":{"op":"call","name":"split","payload":{"op":"id"}}}`, "").inner(t)
	wantRefused(t, back, "signer → the function")
	wantRefused(t, svc(t, cl, "split", `{"op":"portion","name":"signer","payload":{"op":"portion","name":"signer","payload":{}}}`, "").inner(t), "signer → a portion")
	// A direct Invoke runs the entry, never the signer.
	if d := svc(t, cl, "split", `{"op":"id"}`, ""); d.Handler != "bootstrap" {
		t.Errorf("Invoke ran handler %q", d.Handler)
	}
}
