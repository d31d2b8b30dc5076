package runtimes

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

const pyRuntime = "python3.12"

// lambdaError is the body of an /error or /init/error post.
type lambdaError struct {
	ErrorMessage string   `json:"errorMessage"`
	ErrorType    string   `json:"errorType"`
	StackTrace   []string `json:"stackTrace"`
}

func decodeError(t testing.TB, r result) lambdaError {
	t.Helper()
	var e lambdaError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if r.errorType != e.ErrorType {
		t.Errorf("header error type %q, body errorType %q", r.errorType, e.ErrorType)
	}
	return e
}

// wantResponse checks r is a response whose JSON equals want.
func wantResponse(t testing.TB, r result, want string) {
	t.Helper()
	if r.kind != "response" {
		t.Fatalf("got %s %s %s, want response %s", r.kind, r.errorType, r.body, want)
	}
	var got, exp any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("response %q is not JSON: %v", r.body, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	ej, _ := json.Marshal(exp)
	if string(gj) != string(ej) {
		t.Errorf("response %s, want %s", gj, ej)
	}
}

// wantError checks r is an invocation error of errorType whose message
// contains msg.
func wantError(t testing.TB, r result, errorType, msg string) lambdaError {
	t.Helper()
	if r.kind != "error" {
		t.Fatalf("got %s %s, want error %s", r.kind, r.body, errorType)
	}
	e := decodeError(t, r)
	if e.ErrorType != errorType || !strings.Contains(e.ErrorMessage, msg) {
		t.Errorf("error %s: %q, want %s containing %q", e.ErrorType, e.ErrorMessage, errorType, msg)
	}
	return e
}

func TestPythonInvocations(t *testing.T) {
	requireInterpreter(t, pyRuntime)
	rt := installed(t)
	root := "testdata/python"
	tests := []struct {
		handler, event, want string
	}{
		{"app.ok", `{"name":"ember"}`, `{"hello":"ember","n":1}`},
		{"app.none", `{}`, `null`},
		{"app.echo", `[1,"two",{"three":3.5},null,true]`, `[1,"two",{"three":3.5},null,true]`},
		{"app.echo", `{"s":"ünïcødé ✓"}`, `{"s":"ünïcødé ✓"}`},
		{"app.dates", `{}`, `{"d":"2024-01-02"}`},
		{"pkg/mod.handler", `{}`, `"from pkg.mod"`},
		{"pkg.mod.handler", `{}`, `"from pkg.mod"`},
		// The client's own directory is not on sys.path: the function's
		// bootstrap.py is the one imported.
		{"bootstrap.handler", `{}`, `"user bootstrap module"`},
	}
	for _, tt := range tests {
		t.Run(tt.handler, func(t *testing.T) {
			t.Parallel()
			p := start(t, pyRuntime, rt, root, tt.handler)
			wantResponse(t, p.invoke(t, tt.event), tt.want)
		})
	}
}

func TestPythonErrors(t *testing.T) {
	requireInterpreter(t, pyRuntime)
	rt := installed(t)
	root := "testdata/python"

	t.Run("ValueError", func(t *testing.T) {
		t.Parallel()
		p := start(t, pyRuntime, rt, root, "app.fail")
		e := wantError(t, p.invoke(t, `{"x":7}`), "ValueError", "bad input: 7")
		if e.ErrorMessage != "bad input: 7" {
			t.Errorf("errorMessage %q", e.ErrorMessage)
		}
		if len(e.StackTrace) == 0 || !strings.Contains(e.StackTrace[len(e.StackTrace)-1], "app.py") {
			t.Errorf("stackTrace %q does not end in the handler", e.StackTrace)
		}
		for _, line := range e.StackTrace {
			if strings.Contains(line, "bootstrap.py") {
				t.Errorf("stackTrace shows the runtime client: %q", line)
			}
		}
		// The process survives a handler error.
		wantError(t, p.invoke(t, `{"x":8}`), "ValueError", "bad input: 8")
		if !p.waitStdout(t, regexp.MustCompile(`(?m)^\[ERROR\] ValueError: bad input: 7$`)) {
			t.Errorf("error not logged: %q", p.stdout.String())
		}
	})
	t.Run("custom class", func(t *testing.T) {
		t.Parallel()
		p := start(t, pyRuntime, rt, root, "app.custom")
		wantError(t, p.invoke(t, `{}`), "CustomError", "custom")
	})
	t.Run("not serializable", func(t *testing.T) {
		t.Parallel()
		p := start(t, pyRuntime, rt, root, "app.unserializable")
		wantError(t, p.invoke(t, `{}`), "Runtime.MarshalError", "not JSON serializable")
		wantError(t, p.invoke(t, `{}`), "Runtime.MarshalError", "not JSON serializable")
	})
	t.Run("response too large", func(t *testing.T) {
		t.Parallel()
		p := start(t, pyRuntime, rt, root, "app.big")
		r := p.invoke(t, `{}`)
		wantError(t, r, "Function.ResponseSizeTooLarge", "exceeded maximum allowed payload size")
		if r.too413 != 1 {
			t.Errorf("%d responses refused with 413, want 1", r.too413)
		}
	})
	t.Run("bad event", func(t *testing.T) {
		t.Parallel()
		p := start(t, pyRuntime, rt, root, "app.echo")
		wantError(t, p.invoke(t, `{not json`), "Runtime.UnmarshalError", "")
		wantResponse(t, p.invoke(t, `1`), `1`)
	})
}

func TestPythonInitErrors(t *testing.T) {
	requireInterpreter(t, pyRuntime)
	rt := installed(t)
	tests := []struct {
		handler, errorType, msg string
	}{
		{"needs_missing.handler", "Runtime.ImportModuleError", "Unable to import module 'needs_missing': No module named 'surely_not_installed_module'"},
		{"nosuchfile.handler", "Runtime.ImportModuleError", "Unable to import module 'nosuchfile'"},
		{"app.missing", "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'app'"},
		{"app.not_callable", "Runtime.HandlerNotFound", "not callable"},
		{"broken.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'broken'"},
		{"init_raises.handler", "RuntimeError", "config missing"},
		{"app", "Runtime.MalformedHandlerName", "Bad handler 'app'"},
	}
	for _, tt := range tests {
		t.Run(tt.handler, func(t *testing.T) {
			t.Parallel()
			p := start(t, pyRuntime, rt, "testdata/python", tt.handler)
			e := decodeError(t, p.initError(t))
			if e.ErrorType != tt.errorType || !strings.Contains(e.ErrorMessage, tt.msg) {
				t.Errorf("init error %s: %q, want %s containing %q", e.ErrorType, e.ErrorMessage, tt.errorType, tt.msg)
			}
			if e.StackTrace == nil {
				t.Errorf("stackTrace missing (want a list, maybe empty): %s", e)
			}
		})
	}
}

func TestPythonContext(t *testing.T) {
	requireInterpreter(t, pyRuntime)
	p := start(t, pyRuntime, installed(t), "testdata/python", "app.ctx")
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
	if !strings.HasSuffix(got["cwd"].(string), "testdata/python") {
		t.Errorf("cwd %v, want the task root", got["cwd"])
	}
	delete(got, "cwd")
	want := map[string]any{
		"function_name":        "fn",
		"function_version":     "$LATEST",
		"invoked_function_arn": "arn:aws:lambda:local:111111111111:function:fn",
		"memory_limit_in_mb":   256.0, // an int in Python
		"aws_request_id":       p.lastID(),
		"log_group_name":       "/aws/lambda/fn",
		"log_stream_name":      "2024/01/02/[$LATEST]abc",
		"identity_id":          "id-1",
		"identity_pool":        "pool-1",
		"client_app_title":     "demo",
		"client_custom":        map[string]any{"k": "v"},
		"trace_id":             "Root=1-00000000-000000000000000000000000;Sampled=0",
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("context\n got %s\nwant %s", gj, wj)
	}
	if !strings.Contains(string(r.body), `"memory_limit_in_mb": 256,`) {
		t.Errorf("memory_limit_in_mb is not an int: %s", r.body)
	}

	// Without the optional headers identity is empty and client_context None.
	r = p.invoke(t, `{}`)
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got["identity_id"] != nil || got["client_app_title"] != nil {
		t.Errorf("context kept the previous invocation's identity: %s", r.body)
	}
}

func TestPythonLogging(t *testing.T) {
	requireInterpreter(t, pyRuntime)
	p := start(t, pyRuntime, installed(t), "testdata/python", "app.log")
	wantResponse(t, p.invoke(t, `{}`), `"logged"`)
	id := regexp.QuoteMeta(p.lastID())
	for _, re := range []string{
		`(?m)^printed line$`,
		`(?m)^\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t` + id + `\tinfo 42$`,
		`(?m)^\[WARNING\]\t\S+Z\t` + id + `\tcareful$`,
		`(?m)^\[ERROR\]\t\S+Z\t` + id + `\tfrom child$`,
	} {
		if !p.waitStdout(t, regexp.MustCompile(re)) {
			t.Errorf("stdout does not match %s:\n%s", re, p.stdout.String())
		}
	}
	if out := p.stdout.String(); strings.Contains(out, "not shown") {
		t.Errorf("a DEBUG record was written at level INFO:\n%s", out)
	}
}

// TestPythonWarmReuse shows one process serving many invocations with its
// module state kept.
func TestPythonWarmReuse(t *testing.T) {
	requireInterpreter(t, pyRuntime)
	p := start(t, pyRuntime, installed(t), "testdata/python", "app.count")
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

func TestPythonSIGTERM(t *testing.T) {
	requireInterpreter(t, pyRuntime)
	p := start(t, pyRuntime, installed(t), "testdata/python", "app.ok")
	wantResponse(t, p.invoke(t, `{}`), `{"hello":"world","n":1}`)
	if code := p.terminate(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
