package runtimes

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

const nodeRuntime = "nodejs20.x"

func TestNodeInvocations(t *testing.T) {
	requireInterpreter(t, nodeRuntime)
	rt := installed(t)
	tests := []struct {
		root, handler, event, want string
	}{
		{"cjs", "index.handler", `{"name":"ember"}`, `{"hello":"ember","style":"async"}`},
		{"cjs", "index.cb", `{"a":1}`, `{"style":"callback","got":{"a":1}}`},
		{"cjs", "index.legacy", `{}`, `{"style":"legacy"}`},
		{"cjs", "index.plain", `{}`, `{"style":"plain"}`},
		{"cjs", "index.none", `{}`, `null`},
		{"cjs", "index.echo", `[1,"two",{"three":3.5},null,true,"ünïcødé ✓"]`, `[1,"two",{"three":3.5},null,true,"ünïcødé ✓"]`},
		{"cjs", "index.nested.deeper.fn", `{}`, `"nested"`},
		{"cjs", "app.handler", `{}`, `"from cjs file"`},
		{"esmjs", "index.handler", `{}`, `{"esm":"esm .js with type module","typeofRequire":"undefined"}`},
	}
	for _, tt := range tests {
		t.Run(tt.root+"/"+tt.handler, func(t *testing.T) {
			t.Parallel()
			p := start(t, nodeRuntime, rt, "testdata/node/"+tt.root, tt.handler)
			wantResponse(t, p.invoke(t, tt.event), tt.want)
		})
	}
	t.Run("esm/index.handler", func(t *testing.T) {
		t.Parallel()
		p := start(t, nodeRuntime, rt, "testdata/node/esm", "index.handler")
		wantResponse(t, p.invoke(t, `{}`), `{"greeting":"hello from mjs","id":"`+p.lastID()+`"}`)
	})
}

func TestNodeCallbackWaitsForEmptyEventLoop(t *testing.T) {
	requireInterpreter(t, nodeRuntime)
	rt := installed(t)
	t.Run("waits", func(t *testing.T) {
		t.Parallel()
		p := start(t, nodeRuntime, rt, "testdata/node/cjs", "index.cbLater")
		begin := time.Now()
		wantResponse(t, p.invoke(t, `{}`), `"early"`)
		// The 30 ms timer the handler left behind ran before the response
		// went out.
		if d := time.Since(begin); d < 25*time.Millisecond {
			t.Errorf("response after %v: sent before the event loop was empty", d)
		}
		if !p.waitStdout(t, regexp.MustCompile(`(?m)\ttimer after callback$`)) {
			t.Errorf("timer did not run:\n%s", p.stdout.String())
		}
		wantResponse(t, p.invoke(t, `{}`), `"early"`)
	})
	t.Run("does not wait", func(t *testing.T) {
		t.Parallel()
		p := start(t, nodeRuntime, rt, "testdata/node/cjs", "index.cbNoWait")
		begin := time.Now()
		wantResponse(t, p.invoke(t, `{}`), `"no wait"`)
		wantResponse(t, p.invoke(t, `{}`), `"no wait"`)
		if d := time.Since(begin); d > 10*time.Second {
			t.Errorf("took %v: the pending timer held the response", d)
		}
	})
}

func TestNodeErrors(t *testing.T) {
	requireInterpreter(t, nodeRuntime)
	rt := installed(t)
	root := "testdata/node/cjs"

	t.Run("thrown", func(t *testing.T) {
		t.Parallel()
		p := start(t, nodeRuntime, rt, root, "index.throws")
		e := wantError(t, p.invoke(t, `{}`), "ValidationError", "field x is required")
		if len(e.StackTrace) < 2 || e.StackTrace[0] != "ValidationError: field x is required" || !strings.Contains(e.StackTrace[1], "index.js") {
			t.Errorf("stackTrace %q", e.StackTrace)
		}
		// The process survives a handler error.
		wantError(t, p.invoke(t, `{}`), "ValidationError", "field x is required")
		if !p.waitStdout(t, regexp.MustCompile(`(?m)^\S+Z\t`+regexp.QuoteMeta(p.lastID())+`\tERROR\tValidationError: field x is required$`)) {
			t.Errorf("error not logged:\n%s", p.stdout.String())
		}
	})
	t.Run("rejected", func(t *testing.T) {
		t.Parallel()
		p := start(t, nodeRuntime, rt, root, "index.rejects")
		wantError(t, p.invoke(t, `{}`), "TypeError", "async failure")
	})
	t.Run("callback string", func(t *testing.T) {
		t.Parallel()
		p := start(t, nodeRuntime, rt, root, "index.cbError")
		wantError(t, p.invoke(t, `{}`), "string", "plain string failure")
	})
	t.Run("not serializable", func(t *testing.T) {
		t.Parallel()
		p := start(t, nodeRuntime, rt, root, "index.bigint")
		wantError(t, p.invoke(t, `{}`), "Runtime.MarshalError", "BigInt")
		wantError(t, p.invoke(t, `{}`), "Runtime.MarshalError", "BigInt")
	})
	t.Run("response too large", func(t *testing.T) {
		t.Parallel()
		p := start(t, nodeRuntime, rt, root, "index.big")
		r := p.invoke(t, `{}`)
		wantError(t, r, "Function.ResponseSizeTooLarge", "exceeded maximum allowed payload size")
		if r.too413 != 1 {
			t.Errorf("%d responses refused with 413, want 1", r.too413)
		}
	})
	t.Run("bad event", func(t *testing.T) {
		t.Parallel()
		p := start(t, nodeRuntime, rt, root, "index.echo")
		wantError(t, p.invoke(t, `{not json`), "Runtime.UnmarshalError", "")
		wantResponse(t, p.invoke(t, `1`), `1`)
	})
	t.Run("uncaught exception", func(t *testing.T) {
		t.Parallel()
		p := start(t, nodeRuntime, rt, root, "index.uncaught")
		wantError(t, p.invoke(t, `{}`), "RangeError", "timer blew up")
		if code := p.wait(t); code == 0 {
			t.Errorf("runtime exited 0 after an uncaught exception")
		}
	})
	t.Run("unhandled rejection", func(t *testing.T) {
		t.Parallel()
		p := start(t, nodeRuntime, rt, root, "index.unhandled")
		wantError(t, p.invoke(t, `{}`), "Runtime.UnhandledPromiseRejection", "Error: nobody catches me")
		if code := p.wait(t); code == 0 {
			t.Errorf("runtime exited 0 after an unhandled rejection")
		}
	})
}

func TestNodeInitErrors(t *testing.T) {
	requireInterpreter(t, nodeRuntime)
	rt := installed(t)
	tests := []struct {
		root, handler, errorType, msg string
	}{
		{"cjs", "broken.handler", "Runtime.UserCodeSyntaxError", "SyntaxError: Unexpected token"},
		{"esmjs", "broken.handler", "Runtime.UserCodeSyntaxError", "SyntaxError: Unexpected token"},
		{"cjs", "index.nope", "Runtime.HandlerNotFound", "index.nope is undefined or not exported"},
		{"cjs", "nosuchfile.handler", "Runtime.ImportModuleError", "Cannot find module 'nosuchfile'"},
		{"cjs", "needsmissing.handler", "Runtime.ImportModuleError", "Cannot find module 'surely-not-installed-module'"},
		{"cjs", "initthrows.handler", "RangeError", "config missing"},
		{"cjs", "index", "Runtime.MalformedHandlerName", "Bad handler index"},
	}
	for _, tt := range tests {
		t.Run(tt.root+"/"+tt.handler, func(t *testing.T) {
			t.Parallel()
			p := start(t, nodeRuntime, rt, "testdata/node/"+tt.root, tt.handler)
			e := decodeError(t, p.initError(t))
			if e.ErrorType != tt.errorType || !strings.Contains(e.ErrorMessage, tt.msg) {
				t.Errorf("init error %s: %q, want %s containing %q", e.ErrorType, e.ErrorMessage, tt.errorType, tt.msg)
			}
		})
	}
}

func TestNodeContext(t *testing.T) {
	requireInterpreter(t, nodeRuntime)
	p := start(t, nodeRuntime, installed(t), "testdata/node/cjs", "index.ctx")
	r := p.invoke(t, `{}`,
		"Lambda-Runtime-Deadline-Ms", deadlineIn(5000),
		"Lambda-Runtime-Client-Context", `{"client":{"app_title":"demo"},"custom":{"k":"v"},"env":{}}`,
		"Lambda-Runtime-Cognito-Identity", `{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}`,
	)
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
	remaining, _ := got["remaining"].(float64)
	if remaining <= 0 || remaining > 5000 {
		t.Errorf("remaining time %v, want within (0, 5000]", got["remaining"])
	}
	delete(got, "remaining")
	want := map[string]any{
		"functionName":       "fn",
		"functionVersion":    "$LATEST",
		"invokedFunctionArn": "arn:aws:lambda:local:111111111111:function:fn",
		"memoryLimitInMB":    "256", // a string in Node
		"awsRequestId":       p.lastID(),
		"logGroupName":       "/aws/lambda/fn",
		"logStreamName":      "2024/01/02/[$LATEST]abc",
		"identity":           map[string]any{"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"},
		"clientContext":      map[string]any{"client": map[string]any{"app_title": "demo"}, "custom": map[string]any{"k": "v"}, "env": map[string]any{}},
		"waits":              true,
		"legacy":             []any{"function", "function", "function"},
		"traceId":            "Root=1-00000000-000000000000000000000000;Sampled=0",
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("context\n got %s\nwant %s", gj, wj)
	}
}

func TestNodeLogging(t *testing.T) {
	requireInterpreter(t, nodeRuntime)
	p := start(t, nodeRuntime, installed(t), "testdata/node/cjs", "index.log")
	wantResponse(t, p.invoke(t, `{}`), `"logged"`)
	id := regexp.QuoteMeta(p.lastID())
	for _, re := range []string{
		`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t` + id + `\tINFO\thello log$`,
		`(?m)^\S+Z\t` + id + `\tINFO\tan info$`,
		`(?m)^\S+Z\t` + id + `\tWARN\ta warning$`,
		`(?m)^\S+Z\t` + id + `\tERROR\tan error { code: 7 }$`,
	} {
		if !p.waitStdout(t, regexp.MustCompile(re)) {
			t.Errorf("stdout does not match %s:\n%s", re, p.stdout.String())
		}
	}
}

func TestNodeWarmReuse(t *testing.T) {
	requireInterpreter(t, nodeRuntime)
	p := start(t, nodeRuntime, installed(t), "testdata/node/cjs", "index.count")
	var pid float64
	for i := 1; i <= 5; i++ {
		var got struct{ Calls, Pid float64 }
		if err := json.Unmarshal(p.invoke(t, `{}`).body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Calls != float64(i) || (pid != 0 && got.Pid != pid) {
			t.Fatalf("invocation %d: calls %v pid %v (first pid %v)", i, got.Calls, got.Pid, pid)
		}
		pid = got.Pid
	}
}

func TestNodeSIGTERM(t *testing.T) {
	requireInterpreter(t, nodeRuntime)
	p := start(t, nodeRuntime, installed(t), "testdata/node/cjs", "index.handler")
	wantResponse(t, p.invoke(t, `{}`), `{"hello":"world","style":"async"}`)
	if code := p.terminate(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
