package e2e

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/ember-run/ember/internal/testenv"
)

var (
	goFnOnce sync.Once
	goFnZip  []byte
	goFnBody []byte // the bootstrap itself
	goFnErr  error
)

// goFunction builds gofn (an unmodified aws-lambda-go function) as
// a static `bootstrap` and zips it, once per test run.
func goFunction(t testing.TB) []byte {
	t.Helper()
	goFnOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ember-gofn-")
		if err != nil {
			goFnErr = err
			return
		}
		bin := filepath.Join(dir, "bootstrap")
		cmd := exec.Command("go", "build", "-o", bin, "./gofn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			goFnErr = fmt.Errorf("build gofn: %v\n%s", err, out)
			return
		}
		body, err := os.ReadFile(bin)
		if err != nil {
			goFnErr = err
			return
		}
		goFnZip = makeZip(t, zipEntry{name: "bootstrap", body: string(body), mode: 0o755})
		goFnBody = body
		os.RemoveAll(dir)
	})
	if goFnErr != nil {
		t.Fatal(goFnErr)
	}
	return goFnZip
}

// requireExecution skips where sandboxes cannot run (fails in CI).
func requireExecution(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
}

type invokeOut struct {
	status  int32
	payload map[string]any
	raw     string
	fnErr   string
	version string
	log     string
}

func invokeFn(t *testing.T, cl *lambda.Client, name, qualifier, payload string) invokeOut {
	t.Helper()
	in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(payload), LogType: types.LogTypeTail}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	out, err := cl.Invoke(ctxT(t), in)
	if err != nil {
		t.Fatalf("invoke %s: %v", name, err)
	}
	res := invokeOut{status: out.StatusCode, raw: string(out.Payload), fnErr: aws.ToString(out.FunctionError), version: aws.ToString(out.ExecutedVersion)}
	json.Unmarshal(out.Payload, &res.payload)
	if l, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult)); err == nil {
		res.log = string(l)
	}
	return res
}

func createFn(t *testing.T, cl *lambda.Client, name, runtime, handler string, zip []byte, env map[string]string, timeout, memory int32) {
	t.Helper()
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Runtime: types.Runtime(runtime), Role: aws.String(testRole),
		Code: &types.FunctionCode{ZipFile: zip}, Timeout: aws.Int32(timeout), MemorySize: aws.Int32(memory),
	}
	if handler != "" {
		in.Handler = aws.String(handler)
	}
	if env != nil {
		in.Environment = &types.Environment{Variables: env}
	}
	if _, err := cl.CreateFunction(ctxT(t), in); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

func TestInvokeGoFunction(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "invoke-go")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "gofn", "provided.al2023", "bootstrap", goFunction(t), map[string]string{"GREETING": "hi"}, 2, 128)

	first := invokeFn(t, cl, "gofn", "", `{"value":"one"}`)
	if first.status != 200 || first.fnErr != "" || first.payload["echo"] != "one" || first.payload["env"] != "hi" {
		t.Fatalf("first invoke: %+v", first)
	}
	if first.version != "$LATEST" || first.payload["memory"] != "128" || first.payload["version"] != "$LATEST" {
		t.Fatalf("context: %+v", first)
	}
	if !strings.HasSuffix(first.payload["functionArn"].(string), ":function:gofn") || first.payload["requestId"] == "" {
		t.Fatalf("invoked ARN / request id: %+v", first.payload)
	}
	if ms := first.payload["remainingMs"].(float64); ms <= 0 || ms > 2000 {
		t.Fatalf("deadline not passed through: remaining %v ms", ms)
	}
	for _, want := range []string{"START RequestId: ", "END RequestId: ", "REPORT RequestId: ", "Init Duration: ", "Max Memory Used: "} {
		if !strings.Contains(first.log, want) {
			t.Fatalf("log tail lacks %q:\n%s", want, first.log)
		}
	}
	// Warm reuse: the same sandbox serves, /tmp state survives, no init.
	second := invokeFn(t, cl, "gofn", "", `{"mode":"print","value":"two"}`)
	if second.payload["count"].(float64) != 2 {
		t.Fatalf("not reused warm: count %v", second.payload["count"])
	}
	if strings.Contains(second.log, "Init Duration") || !strings.Contains(second.log, "hello from the function: two") {
		t.Fatalf("warm log:\n%s", second.log)
	}
	// A function error is a 200 with the error document.
	e := invokeFn(t, cl, "gofn", "", `{"mode":"error","value":"x"}`)
	if e.status != 200 || e.fnErr != "Unhandled" || e.payload["errorMessage"] != "boom: x" {
		t.Fatalf("function error: %+v", e)
	}
	// Publishing freezes a version, which runs in a fresh sandbox.
	v, err := cl.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String("gofn")})
	if err != nil {
		t.Fatal(err)
	}
	fresh := invokeFn(t, cl, "gofn", *v.Version, `{}`)
	if fresh.version != "1" || fresh.payload["count"].(float64) != 1 || fresh.payload["version"] != "1" {
		t.Fatalf("version 1 not fresh: %+v", fresh)
	}
	// Updating configuration never serves the old configuration.
	if _, err := cl.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("gofn"), Environment: &types.Environment{Variables: map[string]string{"GREETING": "changed"}},
	}); err != nil {
		t.Fatal(err)
	}
	after := invokeFn(t, cl, "gofn", "", `{}`)
	if after.payload["env"] != "changed" || after.payload["count"].(float64) != 1 {
		t.Fatalf("config update served stale sandbox: %+v", after.payload)
	}
	// Client context reaches the function.
	cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"k":"ctx-value"}}`))
	out, err := cl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String("gofn"), Payload: []byte(`{}`), ClientContext: aws.String(cc)})
	if err != nil || !strings.Contains(string(out.Payload), "ctx-value") {
		t.Fatalf("client context: %v %s", err, out.Payload)
	}
	// DryRun checks without running.
	dry, err := cl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String("gofn"), InvocationType: types.InvocationTypeDryRun})
	if err != nil || dry.StatusCode != 204 {
		t.Fatalf("dry run: %v %+v", err, dry)
	}
}

func TestInvokeFailures(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "invoke-fail")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "fail", "provided.al2023", "bootstrap", goFunction(t), nil, 1, 128)

	to := invokeFn(t, cl, "fail", "", `{"mode":"sleep","mb":5}`)
	if to.fnErr != "Unhandled" || !strings.HasSuffix(to.payload["errorMessage"].(string), "Task timed out after 1.00 seconds") {
		t.Fatalf("timeout: %+v", to)
	}
	if ok := invokeFn(t, cl, "fail", "", `{}`); ok.fnErr != "" || ok.payload["count"].(float64) != 1 {
		t.Fatalf("after a timeout the next invoke must work in a fresh sandbox: %+v", ok)
	}
	// Out of memory gets its own function with room to reach the limit: at
	// 128 MB the sandbox's CPU share is small, and on a loaded machine
	// filling 128 MB can take longer than the 1 s timeout above.
	createFn(t, cl, "oom", "provided.al2023", "bootstrap", goFunction(t), nil, 30, 128)
	oom := invokeFn(t, cl, "oom", "", `{"mode":"oom"}`)
	if oom.fnErr != "Unhandled" || oom.payload["errorType"] != "Runtime.OutOfMemory" {
		t.Fatalf("oom: %+v", oom)
	}
	crash := invokeFn(t, cl, "fail", "", `{"mode":"crash"}`)
	if crash.fnErr != "Unhandled" || crash.payload["errorType"] != "Runtime.ExitError" || !strings.Contains(crash.payload["errorMessage"].(string), "exit status 3") {
		t.Fatalf("crash: %+v", crash)
	}
	if !strings.Contains(crash.log, "about to crash") {
		t.Fatalf("crash output not in the log:\n%s", crash.log)
	}
	if ok := invokeFn(t, cl, "fail", "", `{"value":"alive"}`); ok.payload["echo"] != "alive" {
		t.Fatalf("next invoke after crash: %+v", ok)
	}
	// Not JSON → 400.
	_, err := cl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String("fail"), Payload: []byte("not json")})
	wantErr(t, err, "InvalidRequestContentException", 400, "non-JSON payload")
	// Over 6 MB → 413.
	huge := `{"v":"` + strings.Repeat("a", 6*1024*1024) + `"}`
	_, err = cl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String("fail"), Payload: []byte(huge)})
	wantErrOneOf(t, err, "6 MB payload", "RequestTooLargeException", "RequestEntityTooLargeException")
	// A response over 6 MB is a function error, and the next call works.
	big := invokeFn(t, cl, "fail", "", `{"mode":"big"}`)
	if big.fnErr != "Unhandled" || big.payload["errorType"] != "Function.ResponseSizeTooLarge" {
		t.Fatalf("7 MB response: %+v", big.payload)
	}
	if ok := invokeFn(t, cl, "fail", "", `{"value":"after-big"}`); ok.fnErr != "" || ok.payload["echo"] != "after-big" {
		t.Fatalf("after a too-large response: %+v", ok)
	}
	// No bootstrap in the bundle: Runtime.InvalidEntrypoint, as in Lambda.
	createFn(t, cl, "noboot", "provided.al2023", "", makeZip(t, zipEntry{name: "readme.txt", body: "no bootstrap here"}), nil, 3, 128)
	nb := invokeFn(t, cl, "noboot", "", `{}`)
	if nb.fnErr != "Unhandled" || nb.payload["errorType"] != "Runtime.InvalidEntrypoint" {
		t.Fatalf("missing bootstrap: %+v", nb)
	}
	// Init failure: a bootstrap that exits at once.
	createFn(t, cl, "badinit", "provided.al2023", "", makeZip(t, zipEntry{name: "bootstrap", mode: 0o755, body: "#!/bin/sh\necho init failing >&2\nexit 7\n"}), nil, 3, 128)
	bad := invokeFn(t, cl, "badinit", "", `{}`)
	if bad.fnErr != "Unhandled" || bad.payload["errorType"] != "Runtime.ExitError" || !strings.Contains(bad.log, "init failing") {
		t.Fatalf("init failure: %+v", bad)
	}
}

func TestInvokePythonNodeShell(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "invoke-lang")
	cl := lambdaClient(shared, c)

	py := makeZip(t, zipEntry{name: "app.py", body: `
import os, json
count = 0
def main(event, context):
    global count
    count += 1
    print("python says", event.get("value"))
    if event.get("fail"):
        raise ValueError("bad value")
    return {"value": event.get("value"), "count": count, "env": os.environ.get("GREETING"),
            "fn": context.function_name, "mem": context.memory_limit_in_mb}
`})
	createFn(t, cl, "py", "python3.12", "app.main", py, map[string]string{"GREETING": "py-env"}, 5, 256)
	r := invokeFn(t, cl, "py", "", `{"value":"v1"}`)
	if r.fnErr != "" || r.payload["value"] != "v1" || r.payload["env"] != "py-env" || r.payload["fn"] != "py" || r.payload["mem"].(float64) != 256 {
		t.Fatalf("python: %+v", r)
	}
	if !strings.Contains(r.log, "python says v1") {
		t.Fatalf("python log:\n%s", r.log)
	}
	if r2 := invokeFn(t, cl, "py", "", `{"value":"v2"}`); r2.payload["count"].(float64) != 2 {
		t.Fatalf("python warm reuse: %+v", r2)
	}
	pe := invokeFn(t, cl, "py", "", `{"fail":true}`)
	if pe.fnErr != "Unhandled" || pe.payload["errorType"] != "ValueError" || pe.payload["errorMessage"] != "bad value" {
		t.Fatalf("python error: %+v", pe)
	}

	node := makeZip(t, zipEntry{name: "index.mjs", body: `
let count = 0;
export const handler = async (event, context) => {
  count++;
  console.log("node says", event.value);
  if (event.fail) throw new TypeError("node failure");
  return { value: event.value, count, fn: context.functionName };
};
`})
	createFn(t, cl, "node", "nodejs20.x", "index.handler", node, nil, 5, 256)
	n := invokeFn(t, cl, "node", "", `{"value":"n1"}`)
	if n.fnErr != "" || n.payload["value"] != "n1" || n.payload["fn"] != "node" || !strings.Contains(n.log, "node says n1") {
		t.Fatalf("node: %+v\n%s", n, n.log)
	}
	ne := invokeFn(t, cl, "node", "", `{"fail":true}`)
	if ne.fnErr != "Unhandled" || ne.payload["errorType"] != "TypeError" {
		t.Fatalf("node error: %+v", ne)
	}

	// A custom runtime in shell: the bootstrap speaks the Runtime API with curl.
	sh := makeZip(t, zipEntry{name: "bootstrap", mode: 0o755, body: `#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  H=$(mktemp)
  EVENT=$(curl -sS -D "$H" "$API/next")
  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$H" | cut -d: -f2 | tr -d ' \r\n')
  echo "shell got $EVENT"
  curl -sS -X POST "$API/$ID/response" -d "{\"shell\":$EVENT}" >/dev/null
  rm -f "$H"
done
`})
	createFn(t, cl, "shell", "provided", "", sh, nil, 5, 128)
	s := invokeFn(t, cl, "shell", "", `{"x":1}`)
	if s.fnErr != "" || s.raw != `{"shell":{"x":1}}` || !strings.Contains(s.log, `shell got {"x":1}`) {
		t.Fatalf("shell runtime: %+v\n%s", s, s.log)
	}
}

func TestInvokeWithAWSCLI(t *testing.T) {
	requireExecution(t)
	requireAWSCLI(t)
	t.Parallel()
	c := newAccount(t, shared, "invoke-cli")
	zip := writeTemp(t, "fn.zip", goFunction(t))
	awsJSON(t, shared, c, "lambda", "create-function", "--function-name", "clifn", "--runtime", "provided.al2023",
		"--handler", "bootstrap", "--role", testRole, "--zip-file", "fileb://"+zip)
	outFile := filepath.Join(t.TempDir(), "out.json")
	args := []string{"lambda", "invoke", "--function-name", "clifn", "--payload", `{"value":"from-cli"}`, "--log-type", "Tail", outFile}
	if awsIsV2 {
		args = append(args, "--cli-binary-format", "raw-in-base64-out")
	}
	meta := awsJSON(t, shared, c, args...)
	if meta["StatusCode"].(float64) != 200 || meta["ExecutedVersion"] != "$LATEST" {
		t.Fatalf("cli invoke: %v", meta)
	}
	body, _ := os.ReadFile(outFile)
	if !strings.Contains(string(body), `"echo":"from-cli"`) {
		t.Fatalf("cli payload: %s", body)
	}
	l, _ := base64.StdEncoding.DecodeString(meta["LogResult"].(string))
	if !strings.Contains(string(l), "REPORT RequestId:") {
		t.Fatalf("cli log tail: %s", l)
	}
}

func TestSandboxesNeverCrossAccounts(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	a := newAccount(t, shared, "iso-a")
	b := newAccount(t, shared, "iso-b")
	code := goFunction(t)
	for _, c := range []creds{a, b} {
		createFn(t, lambdaClient(shared, c), "same", "provided.al2023", "bootstrap", code, map[string]string{"GREETING": c.AccountId}, 3, 128)
	}
	for i := 1; i <= 2; i++ {
		for _, c := range []creds{a, b} {
			r := invokeFn(t, lambdaClient(shared, c), "same", "", `{}`)
			if r.payload["env"] != c.AccountId || r.payload["count"].(float64) != float64(i) {
				t.Fatalf("account %s round %d: %+v (a sandbox was shared across accounts?)", c.AccountId, i, r.payload)
			}
		}
	}
}

func TestInvokeAliasWeights(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "invoke-alias")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "w", "provided.al2023", "bootstrap", goFunction(t), map[string]string{"GREETING": "v1"}, 3, 128)
	if _, err := cl.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String("w")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.UpdateFunctionConfiguration(ctxT(t), &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("w"), Environment: &types.Environment{Variables: map[string]string{"GREETING": "v2"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String("w")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateAlias(ctxT(t), &lambda.CreateAliasInput{
		FunctionName: aws.String("w"), Name: aws.String("live"), FunctionVersion: aws.String("1"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.5}},
	}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 40 {
		r := invokeFn(t, cl, "w", "live", `{}`)
		want := map[string]string{"1": "v1", "2": "v2"}[r.version]
		if r.payload["env"] != want {
			t.Fatalf("executed version %s ran config %v", r.version, r.payload["env"])
		}
		seen[r.version]++
	}
	if seen["1"] == 0 || seen["2"] == 0 {
		t.Fatalf("a 50/50 alias served only %v", seen)
	}
	// Weight 0: always the primary.
	if _, err := cl.UpdateAlias(ctxT(t), &lambda.UpdateAliasInput{
		FunctionName: aws.String("w"), Name: aws.String("live"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0}},
	}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if r := invokeFn(t, cl, "w", "live", `{}`); r.version != "1" {
			t.Fatalf("weight 0 routed to %s", r.version)
		}
	}
}

func TestInvokeThrottledByReservedConcurrency(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "invoke-throttle")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "limited", "provided.al2023", "bootstrap", goFunction(t), nil, 3, 128)
	if _, err := cl.PutFunctionConcurrency(ctxT(t), &lambda.PutFunctionConcurrencyInput{
		FunctionName: aws.String("limited"), ReservedConcurrentExecutions: aws.Int32(0),
	}); err != nil {
		t.Fatal(err)
	}
	_, err := cl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String("limited"), Payload: []byte(`{}`)})
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
		t.Fatalf("reserved concurrency 0: want 429 with the reserved reason, got %v", err)
	}
	if aws.ToString(tm.RetryAfterSeconds) == "" {
		t.Fatalf("429 without Retry-After: %+v", tm)
	}
	if _, err := cl.DeleteFunctionConcurrency(ctxT(t), &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("limited")}); err != nil {
		t.Fatal(err)
	}
	if r := invokeFn(t, cl, "limited", "", `{"value":"ok"}`); r.payload["echo"] != "ok" {
		t.Fatalf("after removing the reservation: %+v", r)
	}
}

// TestInvokeEvent: an Event invocation is accepted with 202 after it is
// stored, then runs; its log shows up.
func TestInvokeEvent(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "invoke-event")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "ev", "provided.al2023", "bootstrap", goFunction(t), nil, 3, 128)
	out, err := cl.Invoke(ctxT(t), &lambda.InvokeInput{
		FunctionName: aws.String("ev"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"mode":"print","value":"from-an-event"}`),
	})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("event invoke: %v %+v", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		logs, _, code := emberCLI(t, c, nil, "logs", "ev", "--endpoint", shared.endpoint)
		if code == 0 && strings.Contains(logs, "hello from the function: from-an-event") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event never ran; logs:\n%s", logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Too big for an event (256 KB), fine for a sync call.
	_, err = cl.Invoke(ctxT(t), &lambda.InvokeInput{
		FunctionName: aws.String("ev"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`{"v":"` + strings.Repeat("a", 300*1024) + `"}`),
	})
	wantErrOneOf(t, err, "300 KB event", "RequestTooLargeException", "RequestEntityTooLargeException")
	// An event for a function that does not exist is refused at once.
	_, err = cl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String("nope"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)})
	wantErr(t, err, "ResourceNotFoundException", 404, "event for a missing function")
}

// TestEventInvokeConfigAndDestinations: retries and destinations follow
// the function's event invoke configuration.
func TestEventInvokeConfigAndDestinations(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "event-config")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "src", "provided.al2023", "bootstrap", goFunction(t), nil, 3, 128)
	sink := makeZip(t, zipEntry{name: "app.py", body: "import json\ndef main(event, context):\n    print('SINK', json.dumps(event, sort_keys=True))\n    return {}\n"})
	createFn(t, cl, "sink", "python3.12", "app.main", sink, nil, 5, 128)
	sinkARN := "arn:aws:lambda:local:" + c.AccountId + ":function:sink"
	put, err := cl.PutFunctionEventInvokeConfig(ctxT(t), &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("src"), MaximumRetryAttempts: aws.Int32(0), MaximumEventAgeInSeconds: aws.Int32(600),
		DestinationConfig: &types.DestinationConfig{
			OnSuccess: &types.OnSuccess{Destination: aws.String(sinkARN)},
			OnFailure: &types.OnFailure{Destination: aws.String(sinkARN)},
		},
	})
	if err != nil || aws.ToInt32(put.MaximumRetryAttempts) != 0 || put.LastModified == nil {
		t.Fatalf("put event invoke config: %v %+v", err, put)
	}
	got, err := cl.GetFunctionEventInvokeConfig(ctxT(t), &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("src")})
	if err != nil || aws.ToString(got.DestinationConfig.OnFailure.Destination) != sinkARN {
		t.Fatalf("get: %v %+v", err, got)
	}
	_, err = cl.PutFunctionEventInvokeConfig(ctxT(t), &lambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("src"), MaximumRetryAttempts: aws.Int32(5),
	})
	wantErr(t, err, "InvalidParameterValueException", 400, "5 retries")

	for _, payload := range []string{`{"value":"ok-event"}`, `{"mode":"error","value":"bad-event"}`} {
		if _, err := cl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String("src"), InvocationType: types.InvocationTypeEvent, Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		logs, _, _ := emberCLI(t, c, nil, "logs", "sink", "--endpoint", shared.endpoint)
		okSeen := strings.Contains(logs, `"condition": "Success"`) && strings.Contains(logs, "ok-event")
		failSeen := strings.Contains(logs, `"condition": "RetriesExhausted"`) && strings.Contains(logs, "boom: bad-event")
		if okSeen && failSeen {
			// MaximumRetryAttempts 0: the failing event ran exactly once.
			srcLogs, _, _ := emberCLI(t, c, nil, "logs", "src", "--endpoint", shared.endpoint)
			if n := strings.Count(srcLogs, "REPORT RequestId"); n != 2 {
				t.Fatalf("source ran %d times, want 2 (no retries):\n%s", n, srcLogs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("destination records missing; sink logs:\n%s", logs)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if _, err := cl.DeleteFunctionEventInvokeConfig(ctxT(t), &lambda.DeleteFunctionEventInvokeConfigInput{FunctionName: aws.String("src")}); err != nil {
		t.Fatal(err)
	}
	_, err = cl.GetFunctionEventInvokeConfig(ctxT(t), &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("src")})
	wantErr(t, err, "ResourceNotFoundException", 404, "deleted config")
}

func TestProvisionedConcurrency(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	c := newAccount(t, shared, "provisioned")
	cl := lambdaClient(shared, c)
	createFn(t, cl, "pc", "provided.al2023", "bootstrap", goFunction(t), nil, 3, 128)
	if _, err := cl.PublishVersion(ctxT(t), &lambda.PublishVersionInput{FunctionName: aws.String("pc")}); err != nil {
		t.Fatal(err)
	}
	_, err := cl.PutProvisionedConcurrencyConfig(ctxT(t), &lambda.PutProvisionedConcurrencyConfigInput{
		FunctionName: aws.String("pc"), Qualifier: aws.String("$LATEST"), ProvisionedConcurrentExecutions: aws.Int32(1),
	})
	wantErr(t, err, "InvalidParameterValueException", 400, "provisioned $LATEST")
	put, err := cl.PutProvisionedConcurrencyConfig(ctxT(t), &lambda.PutProvisionedConcurrencyConfigInput{
		FunctionName: aws.String("pc"), Qualifier: aws.String("1"), ProvisionedConcurrentExecutions: aws.Int32(2),
	})
	if err != nil || aws.ToInt32(put.RequestedProvisionedConcurrentExecutions) != 2 {
		t.Fatalf("put: %v %+v", err, put)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := cl.GetProvisionedConcurrencyConfig(ctxT(t), &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String("pc"), Qualifier: aws.String("1")})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == types.ProvisionedConcurrencyStatusEnumReady && aws.ToInt32(got.AvailableProvisionedConcurrentExecutions) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never READY: %+v", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The first invocation finds an initialised sandbox: no Init Duration.
	r := invokeFn(t, cl, "pc", "1", `{"value":"p"}`)
	if r.payload["echo"] != "p" || strings.Contains(r.log, "Init Duration") {
		t.Fatalf("provisioned invoke was not warm: %+v\n%s", r.payload, r.log)
	}
	list, err := cl.ListProvisionedConcurrencyConfigs(ctxT(t), &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String("pc")})
	if err != nil || len(list.ProvisionedConcurrencyConfigs) != 1 || !strings.HasSuffix(aws.ToString(list.ProvisionedConcurrencyConfigs[0].FunctionArn), ":pc:1") {
		t.Fatalf("list: %v %+v", err, list)
	}
	if _, err := cl.DeleteProvisionedConcurrencyConfig(ctxT(t), &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String("pc"), Qualifier: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	_, err = cl.GetProvisionedConcurrencyConfig(ctxT(t), &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String("pc"), Qualifier: aws.String("1")})
	wantErr(t, err, "ProvisionedConcurrencyConfigNotFoundException", 404, "deleted provisioned config")
}
