package runtimeapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/runtimeapi"
)

const base = "/2018-06-01/runtime/"

// harness is one Server on a loopback listener plus an HTTP client playing
// the runtime.
type harness struct {
	t      testing.TB
	srv    *runtimeapi.Server
	url    string // http://127.0.0.1:port/2018-06-01/runtime/
	addr   string
	client *http.Client
}

func start(t testing.TB, opts runtimeapi.Options) *harness {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := runtimeapi.New(opts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return &harness{
		t:      t,
		srv:    srv,
		url:    "http://" + l.Addr().String() + base,
		addr:   l.Addr().String(),
		client: &http.Client{Transport: tr},
	}
}

// invoke runs Invoke in the background.
func (h *harness) invoke(ctx context.Context, inv runtimeapi.Invocation) <-chan invokeResult {
	ch := make(chan invokeResult, 1)
	go func() {
		r, err := h.srv.Invoke(ctx, inv)
		ch <- invokeResult{r, err}
	}()
	return ch
}

type invokeResult struct {
	res runtimeapi.Result
	err error
}

func wait(t testing.TB, ch <-chan invokeResult) invokeResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Invoke did not return")
		return invokeResult{}
	}
}

// next does GET invocation/next and returns the response with its body read.
func (h *harness) next() (*http.Response, []byte) {
	h.t.Helper()
	resp, err := h.client.Get(h.url + "invocation/next")
	if err != nil {
		h.t.Fatalf("GET next: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, b
}

// post sends body to path (relative to the runtime prefix) and returns the
// status and the response body.
func (h *harness) post(path string, body io.Reader, header http.Header) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func errorTypeOf(t testing.TB, body []byte) string {
	t.Helper()
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("not an error document: %q: %v", body, err)
	}
	if doc.ErrorMessage == "" {
		t.Errorf("error document %s has no errorMessage", body)
	}
	return doc.ErrorType
}

func TestRoundTrip(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	deadline := time.Now().Add(3 * time.Second).Truncate(time.Millisecond)
	inv := runtimeapi.Invocation{
		RequestID:       "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
		Payload:         []byte(`{"hello":"world"}`),
		Deadline:        deadline,
		FunctionARN:     "arn:aws:lambda:us-east-1:123456789012:function:fn",
		TraceID:         "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
		ClientContext:   `{"custom":{"a":"b"}}`,
		CognitoIdentity: `{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}`,
	}
	done := h.invoke(context.Background(), inv)

	resp, body := h.next()
	if resp.StatusCode != 200 || string(body) != string(inv.Payload) {
		t.Fatalf("next = %d %q", resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Lambda-Runtime-Aws-Request-Id":       inv.RequestID,
		"Lambda-Runtime-Deadline-Ms":          strconv.FormatInt(deadline.UnixMilli(), 10),
		"Lambda-Runtime-Invoked-Function-Arn": inv.FunctionARN,
		"Lambda-Runtime-Trace-Id":             inv.TraceID,
		"Lambda-Runtime-Client-Context":       inv.ClientContext,
		"Lambda-Runtime-Cognito-Identity":     inv.CognitoIdentity,
		"Content-Type":                        "application/json",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if err := h.srv.WaitReady(context.Background()); err != nil {
		t.Fatalf("WaitReady after next: %v", err)
	}

	status, ack := h.post("invocation/"+inv.RequestID+"/response", strings.NewReader(`"ok"`), nil)
	if status != http.StatusAccepted || string(ack) != `{"status":"OK"}` {
		t.Fatalf("response = %d %s", status, ack)
	}
	r := wait(t, done)
	if r.err != nil || string(r.res.Payload) != `"ok"` || r.res.FunctionError() {
		t.Fatalf("Invoke = %+v, %v", r.res, r.err)
	}
	if st := h.srv.Stats(); st.Invocations != 1 || st.Errors != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestGeneratedHeaders(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctxDeadline, _ := ctx.Deadline()
	done := h.invoke(ctx, runtimeapi.Invocation{RequestID: "r1"})
	resp, body := h.next()
	if len(body) != 0 {
		t.Errorf("body = %q", body)
	}
	if tid := resp.Header.Get("Lambda-Runtime-Trace-Id"); !regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Sampled=0$`).MatchString(tid) {
		t.Errorf("generated trace id %q", tid)
	}
	if got := resp.Header.Get("Lambda-Runtime-Deadline-Ms"); got != strconv.FormatInt(ctxDeadline.UnixMilli(), 10) {
		t.Errorf("deadline %s, want the context's %d", got, ctxDeadline.UnixMilli())
	}
	for _, k := range []string{"Lambda-Runtime-Client-Context", "Lambda-Runtime-Cognito-Identity"} {
		if _, ok := resp.Header[k]; ok {
			t.Errorf("%s sent though empty", k)
		}
	}
	h.post("invocation/r1/response", strings.NewReader("{}"), nil)
	if r := wait(t, done); r.err != nil {
		t.Fatal(r.err)
	}
}

func TestFunctionError(t *testing.T) {
	for _, tc := range []struct {
		name, header, body string
		wantType           string
		wantBody           string // "" = the body as posted
	}{
		{"header wins", "Custom.Header", `{"errorMessage":"boom","errorType":"Body.Type"}`, "Custom.Header", ""},
		{"body type", "", `{"errorMessage":"boom","errorType":"Body.Type","stackTrace":["a"]}`, "Body.Type", ""},
		{"no type", "", `{"errorMessage":"boom"}`, "Unhandled", ""},
		{"text with header", "Runtime.Crash", "segfault", "Runtime.Crash", `{"errorMessage":"segfault","errorType":"Runtime.Crash"}`},
		{"text", "", "plain text", "Unhandled", `{"errorMessage":"plain text","errorType":"Unhandled"}`},
		{"json but not an object", "", `null`, "Unhandled", `{"errorMessage":"null","errorType":"Unhandled"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, runtimeapi.Options{})
			done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
			h.next()
			hdr := http.Header{}
			if tc.header != "" {
				hdr.Set("Lambda-Runtime-Function-Error-Type", tc.header)
			}
			if status, b := h.post("invocation/r1/error", strings.NewReader(tc.body), hdr); status != http.StatusAccepted {
				t.Fatalf("error = %d %s", status, b)
			}
			r := wait(t, done)
			if r.err != nil {
				t.Fatal(r.err)
			}
			want := tc.wantBody
			if want == "" {
				want = tc.body
			}
			if !r.res.FunctionError() || r.res.ErrorType != tc.wantType || string(r.res.Payload) != want {
				t.Errorf("Result = %s %s, want %s %s", r.res.ErrorType, r.res.Payload, tc.wantType, want)
			}
			if st := h.srv.Stats(); st.Errors != 1 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

func TestBadRequestID(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	// Before any invocation.
	status, b := h.post("invocation/nope/response", strings.NewReader("{}"), nil)
	if status != http.StatusBadRequest || errorTypeOf(t, b) != "InvalidRequestID" {
		t.Fatalf("unknown id: %d %s", status, b)
	}
	done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
	h.next()
	for _, path := range []string{"invocation/r2/response", "invocation/r2/error"} {
		status, b := h.post(path, strings.NewReader("{}"), nil)
		if status != http.StatusBadRequest || errorTypeOf(t, b) != "InvalidRequestID" {
			t.Errorf("%s: %d %s", path, status, b)
		}
	}
	// The real one still goes through.
	if status, _ := h.post("invocation/r1/response", strings.NewReader("1"), nil); status != http.StatusAccepted {
		t.Fatalf("response = %d", status)
	}
	if r := wait(t, done); r.err != nil || string(r.res.Payload) != "1" {
		t.Fatalf("Invoke = %+v %v", r.res, r.err)
	}
}

func TestDoubleResult(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
	h.next()
	if status, _ := h.post("invocation/r1/response", strings.NewReader("1"), nil); status != http.StatusAccepted {
		t.Fatalf("first response = %d", status)
	}
	for _, path := range []string{"invocation/r1/response", "invocation/r1/error"} {
		if status, b := h.post(path, strings.NewReader("2"), nil); status != http.StatusBadRequest {
			t.Errorf("second %s = %d %s", path, status, b)
		}
	}
	if r := wait(t, done); string(r.res.Payload) != "1" {
		t.Fatalf("Invoke = %q", r.res.Payload)
	}
}

func TestResponseTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limit   int64
		size    int
		chunked bool
		wantMsg string
	}{
		{"default limit", 0, runtimeapi.DefaultMaxResponseBytes + 1, false,
			"Response payload size exceeded maximum allowed payload size (6291556 bytes)."},
		{"small limit chunked", 10, 11, true,
			"Response payload size exceeded maximum allowed payload size (10 bytes)."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, runtimeapi.Options{MaxResponseBytes: tc.limit})
			done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
			h.next()
			var body io.Reader = bytes.NewReader(bytes.Repeat([]byte("x"), tc.size))
			if tc.chunked {
				body = io.MultiReader(body) // hides the length: chunked
			}
			status, b := h.post("invocation/r1/response", body, nil)
			if status != http.StatusRequestEntityTooLarge || errorTypeOf(t, b) != "RequestEntityTooLarge" {
				t.Fatalf("response = %d %s", status, b)
			}
			r := wait(t, done)
			if r.err != nil || r.res.ErrorType != "Function.ResponseSizeTooLarge" {
				t.Fatalf("Invoke = %+v %v", r.res, r.err)
			}
			var doc struct{ ErrorMessage, ErrorType string }
			if err := json.Unmarshal(r.res.Payload, &doc); err != nil || doc.ErrorMessage != tc.wantMsg || doc.ErrorType != r.res.ErrorType {
				t.Errorf("payload %s", r.res.Payload)
			}
		})
	}
	// At the limit is fine.
	h := start(t, runtimeapi.Options{MaxResponseBytes: 10})
	done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
	h.next()
	if status, _ := h.post("invocation/r1/response", io.MultiReader(strings.NewReader("0123456789")), nil); status != http.StatusAccepted {
		t.Fatalf("at the limit: %d", status)
	}
	if r := wait(t, done); string(r.res.Payload) != "0123456789" {
		t.Fatalf("payload %q", r.res.Payload)
	}
}

func TestInitError(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	ready := make(chan error, 1)
	go func() { ready <- h.srv.WaitReady(context.Background()) }()
	if _, ok := h.srv.InitError(); ok {
		t.Fatal("InitError before any")
	}
	hdr := http.Header{"Lambda-Runtime-Function-Error-Type": {"Runtime.ImportModuleError"}}
	doc := `{"errorMessage":"Unable to import module 'app'","errorType":"Runtime.ImportModuleError"}`
	if status, b := h.post("init/error", strings.NewReader(doc), hdr); status != http.StatusAccepted {
		t.Fatalf("init/error = %d %s", status, b)
	}
	select {
	case err := <-ready:
		if !errors.Is(err, runtimeapi.ErrInitFailed) {
			t.Fatalf("WaitReady = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitReady did not return")
	}
	res, ok := h.srv.InitError()
	if !ok || res.ErrorType != "Runtime.ImportModuleError" || string(res.Payload) != doc {
		t.Fatalf("InitError = %+v %v", res, ok)
	}
	if _, err := h.srv.Invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"}); !errors.Is(err, runtimeapi.ErrInitFailed) {
		t.Errorf("Invoke after init error = %v", err)
	}
	if resp, _ := h.next(); resp.StatusCode != http.StatusForbidden {
		t.Errorf("next after init error = %d", resp.StatusCode)
	}
	if status, _ := h.post("init/error", strings.NewReader("again"), nil); status != http.StatusForbidden {
		t.Errorf("second init/error = %d", status)
	}
	// The runtime exits after init/error; the init error stays the answer.
	h.srv.Fail(errors.New("exit status 1"))
	for range 20 {
		if err := h.srv.WaitReady(context.Background()); !errors.Is(err, runtimeapi.ErrInitFailed) {
			t.Fatalf("WaitReady after init error and exit = %v", err)
		}
	}
}

func TestInitErrorAfterReady(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
	h.next()
	if status, _ := h.post("init/error", strings.NewReader("late"), nil); status != http.StatusForbidden {
		t.Errorf("init/error after ready = %d", status)
	}
	h.post("invocation/r1/response", strings.NewReader("1"), nil)
	wait(t, done)
}

func TestInvokeTimeout(t *testing.T) {
	h := start(t, runtimeapi.Options{})

	// Nobody asks for the event.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.srv.Invoke(ctx, runtimeapi.Invocation{RequestID: "r0"}); !errors.Is(err, runtimeapi.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Invoke without a runtime = %v", err)
	}

	// The runtime takes the event and never answers.
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := h.invoke(ctx, runtimeapi.Invocation{RequestID: "r1"})
	h.next()
	if r := wait(t, done); !errors.Is(r.err, runtimeapi.ErrTimeout) {
		t.Fatalf("Invoke = %v", r.err)
	}
	// A late answer is accepted and dropped; the runtime is about to be killed.
	if status, _ := h.post("invocation/r1/response", strings.NewReader("late"), nil); status != http.StatusAccepted {
		t.Errorf("late response = %d", status)
	}

	// A cancelled (not timed out) context is reported as such.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := h.srv.Invoke(ctx, runtimeapi.Invocation{RequestID: "r2"}); !errors.Is(err, context.Canceled) || errors.Is(err, runtimeapi.ErrTimeout) {
		t.Errorf("cancelled Invoke = %v", err)
	}
}

func TestWaitReadyTimeout(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := h.srv.WaitReady(ctx); !errors.Is(err, runtimeapi.ErrTimeout) {
		t.Fatalf("WaitReady = %v", err)
	}
}

func TestFail(t *testing.T) {
	cause := errors.New("exit status 2")

	t.Run("WaitReady", func(t *testing.T) {
		h := start(t, runtimeapi.Options{})
		ready := make(chan error, 1)
		go func() { ready <- h.srv.WaitReady(context.Background()) }()
		time.Sleep(10 * time.Millisecond)
		h.srv.Fail(cause)
		err := <-ready
		if !errors.Is(err, runtimeapi.ErrExited) || !errors.Is(err, cause) {
			t.Fatalf("WaitReady = %v", err)
		}
	})
	t.Run("Invoke waiting for next", func(t *testing.T) {
		h := start(t, runtimeapi.Options{})
		done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
		time.Sleep(10 * time.Millisecond)
		h.srv.Fail(cause)
		if r := wait(t, done); !errors.Is(r.err, runtimeapi.ErrExited) || !errors.Is(r.err, cause) {
			t.Fatalf("Invoke = %v", r.err)
		}
	})
	t.Run("Invoke running", func(t *testing.T) {
		h := start(t, runtimeapi.Options{})
		done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
		h.next()
		h.srv.Fail(nil)
		if r := wait(t, done); !errors.Is(r.err, runtimeapi.ErrExited) {
			t.Fatalf("Invoke = %v", r.err)
		}
		if _, err := h.srv.Invoke(context.Background(), runtimeapi.Invocation{RequestID: "r2"}); !errors.Is(err, runtimeapi.ErrExited) {
			t.Fatalf("Invoke after Fail = %v", err)
		}
	})
}

func TestCloseDuringInvoke(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	invoke := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
	if resp, _ := h.next(); resp.Header.Get("Lambda-Runtime-Aws-Request-Id") != "r1" {
		t.Fatal("no event")
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if r := wait(t, invoke); !errors.Is(r.err, runtimeapi.ErrClosed) {
		t.Fatalf("Invoke = %v", r.err)
	}
	if err := h.srv.WaitReady(context.Background()); err != nil {
		t.Errorf("WaitReady after ready and Close = %v", err)
	}
}

func TestCloseUnblocksNext(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	got := make(chan error, 1)
	go func() {
		resp, err := h.client.Get(h.url + "invocation/next")
		if err == nil {
			resp.Body.Close()
			err = errors.New("got a response: " + resp.Status)
		}
		got <- err
	}()
	if err := h.srv.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.srv.Close()
	select {
	case err := <-got:
		if err == nil || strings.Contains(err.Error(), "got a response") {
			t.Fatalf("next after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("next still blocked after Close")
	}
	if _, err := h.srv.Invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"}); !errors.Is(err, runtimeapi.ErrClosed) {
		t.Errorf("Invoke after Close = %v", err)
	}
}

func TestBusy(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
	time.Sleep(10 * time.Millisecond)
	if _, err := h.srv.Invoke(context.Background(), runtimeapi.Invocation{RequestID: "r2"}); !errors.Is(err, runtimeapi.ErrBusy) {
		t.Fatalf("concurrent Invoke = %v", err)
	}
	h.next()
	h.post("invocation/r1/response", strings.NewReader("1"), nil)
	wait(t, done)
	// Free again.
	done = h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r2"})
	h.next()
	h.post("invocation/r2/response", strings.NewReader("2"), nil)
	if r := wait(t, done); string(r.res.Payload) != "2" {
		t.Fatal(r)
	}
}

func TestNextWithoutResponse(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
	h.next()
	next := make(chan []byte, 1)
	go func() {
		resp, body := h.next()
		next <- []byte(resp.Header.Get("Lambda-Runtime-Aws-Request-Id") + " " + string(body))
	}()
	r := wait(t, done)
	if r.err != nil || r.res.ErrorType != runtimeapi.ErrorTypeNoResponse || errorTypeOf(t, r.res.Payload) != runtimeapi.ErrorTypeNoResponse {
		t.Fatalf("Invoke = %+v %v", r.res, r.err)
	}
	if status, _ := h.post("invocation/r1/response", strings.NewReader("late"), nil); status != http.StatusBadRequest {
		t.Errorf("response after next = %d", status)
	}
	done = h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r2", Payload: []byte("2")})
	if got := string(<-next); got != "r2 2" {
		t.Fatalf("second next got %q", got)
	}
	h.post("invocation/r2/response", strings.NewReader("ok"), nil)
	if r := wait(t, done); string(r.res.Payload) != "ok" {
		t.Fatal(r)
	}
}

// trailerBody streams body and then sets the trailers, like aws-lambda-go's
// errorCapturingReader.
type trailerBody struct {
	r       io.Reader
	trailer http.Header
	set     map[string]string
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		for k, v := range b.set {
			b.trailer.Set(k, v)
		}
	}
	return n, err
}

func TestStreaming(t *testing.T) {
	errDoc := `{"errorMessage":"broke mid-stream","errorType":"StreamError"}`
	for _, tc := range []struct {
		name     string
		trailers map[string]string
		wantType string
		wantBody string
	}{
		{"ok", nil, "", "chunk1chunk2"},
		{"error trailers", map[string]string{
			"Lambda-Runtime-Function-Error-Type": "StreamError",
			"Lambda-Runtime-Function-Error-Body": base64.StdEncoding.EncodeToString([]byte(errDoc)),
		}, "StreamError", errDoc},
		{"error type only", map[string]string{
			"Lambda-Runtime-Function-Error-Type": "StreamError",
		}, "StreamError", `{"errorMessage":"","errorType":"StreamError"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, runtimeapi.Options{})
			done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
			h.next()
			trailer := http.Header{"Lambda-Runtime-Function-Error-Type": nil, "Lambda-Runtime-Function-Error-Body": nil}
			pr, pw := io.Pipe()
			go func() {
				pw.Write([]byte("chunk1"))
				time.Sleep(5 * time.Millisecond)
				pw.Write([]byte("chunk2"))
				pw.Close()
			}()
			body := &trailerBody{r: pr, trailer: trailer, set: tc.trailers}
			req, _ := http.NewRequest(http.MethodPost, h.url+"invocation/r1/response", body)
			req.Header.Set("Lambda-Runtime-Function-Response-Mode", "streaming")
			req.Header.Set("Content-Type", "application/vnd.awslambda.http-integration-response")
			req.Trailer = trailer
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("status %d", resp.StatusCode)
			}
			r := wait(t, done)
			if r.err != nil || r.res.ErrorType != tc.wantType || string(r.res.Payload) != tc.wantBody {
				t.Fatalf("Invoke = %s %s %v", r.res.ErrorType, r.res.Payload, r.err)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/", 404},
		{"GET", base + "invocation/", 404},
		{"POST", base + "invocation//response", 404},
		{"POST", base + "invocation/r1/other", 404},
		{"POST", base + "invocation/r1/response/x", 404},
		{"GET", "/2020-01-01/extension/event/next", 404},
		{"POST", base + "invocation/next", 405},
		{"GET", base + "invocation/r1/response", 405},
		{"GET", base + "init/error", 405},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+h.addr+tc.path, nil)
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
			continue
		}
		if resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: content type %q", tc.method, tc.path, resp.Header.Get("Content-Type"))
		}
		errorTypeOf(t, b)
	}
}

func TestErrorBodyCap(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
	h.next()
	hdr := http.Header{"Lambda-Runtime-Function-Error-Type": {"Big"}}
	status, _ := h.post("invocation/r1/error", bytes.NewReader(make([]byte, 1<<20+1)), hdr)
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", status)
	}
	if r := wait(t, done); r.res.ErrorType != "Big" {
		t.Fatalf("Invoke = %+v %v", r.res, r.err)
	}
}

// TestHammer runs many invocations through a runtime loop while some time
// out, checking that every Invoke gets its own result or a timeout and that
// nothing deadlocks.
func TestHammer(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			req, _ := http.NewRequest(http.MethodGet, h.url+"invocation/next", nil)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			resp, err := h.client.Do(req.WithContext(ctx))
			if err != nil {
				cancel()
				return
			}
			id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			switch i % 7 {
			case 3: // too slow: the Invoke times out
				time.Sleep(15 * time.Millisecond)
			case 5: // skip the response
				continue
			}
			path := "/response"
			if i%4 == 0 {
				path = "/error"
			}
			resp, err = h.client.Post(h.url+"invocation/"+id+path, "application/json", bytes.NewReader(body))
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	var ok, timeouts int
	for i := range 300 {
		id := "req-" + strconv.Itoa(i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		res, err := h.srv.Invoke(ctx, runtimeapi.Invocation{RequestID: id, Payload: []byte(`"` + id + `"`)})
		cancel()
		switch {
		case errors.Is(err, runtimeapi.ErrTimeout):
			timeouts++
		case err != nil:
			t.Fatalf("Invoke %s: %v", id, err)
		case res.ErrorType == runtimeapi.ErrorTypeNoResponse:
			ok++
		case res.ErrorType == runtimeapi.ErrorTypeUnhandled && strings.Contains(string(res.Payload), `\"`+id+`\"`):
			ok++
		case res.ErrorType != "" || string(res.Payload) != `"`+id+`"`:
			t.Fatalf("Invoke %s got %s %s", id, res.ErrorType, res.Payload)
		default:
			ok++
		}
	}
	close(stop)
	h.srv.Close()
	wg.Wait()
	if ok < 100 {
		t.Errorf("only %d of 300 invocations completed (%d timed out)", ok, timeouts)
	}
	t.Logf("%d completed, %d timed out", ok, timeouts)
}

// TestConnectionLimit checks that a runtime cannot hold more than MaxConns
// connections, and that a closed one frees its slot.
func TestConnectionLimit(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	type conn struct {
		net.Conn
		r *bufio.Reader
	}
	// answer reads one response from c, which must be a 404.
	answer := func(c conn, wait time.Duration) error {
		c.SetReadDeadline(time.Now().Add(wait))
		resp, err := http.ReadResponse(c.r, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return nil
	}
	ask := func(c conn, wait time.Duration) error {
		if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		return answer(c, wait)
	}
	var conns []conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range runtimeapi.MaxConns + 1 {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn{c, bufio.NewReader(c)})
	}
	for i, c := range conns[:runtimeapi.MaxConns] {
		if err := ask(c, 5*time.Second); err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
	}
	extra := conns[runtimeapi.MaxConns]
	if err := ask(extra, 200*time.Millisecond); err == nil {
		t.Fatal("a connection over the limit was served")
	}
	conns[0].Close()
	conns = conns[1:]
	if err := answer(extra, 5*time.Second); err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
}

// TestResultWaitsWhileAnotherIsRead: a result posted while another for the
// same invocation is still being read waits for it, and is taken when the
// first breaks off, as a runtime that retries a broken connection expects.
func TestResultWaitsWhileAnotherIsRead(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	done := h.invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"})
	h.next()
	partial, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Close()
	if _, err := io.WriteString(partial, "POST "+base+"invocation/r1/response HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the server start reading it
	second := make(chan int, 1)
	go func() {
		status, _ := h.post("invocation/r1/response", strings.NewReader("whole"), nil)
		second <- status
	}()
	select {
	case status := <-second:
		t.Fatalf("the second result was answered (%d) while the first was being read", status)
	case <-time.After(200 * time.Millisecond):
	}
	partial.Close()
	select {
	case status := <-second:
		if status != http.StatusAccepted {
			t.Fatalf("second result = %d, want 202 once the first broke off", status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second result still waits after the first broke off")
	}
	if r := wait(t, done); string(r.res.Payload) != "whole" {
		t.Fatalf("Invoke = %q", r.res.Payload)
	}
}
