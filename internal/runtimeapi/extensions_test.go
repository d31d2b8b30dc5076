package runtimeapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/runtimeapi"
	"github.com/ember-run/ember/internal/testenv"
)

const extBase = "/2020-01-01/extension/"

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// extOpts are Options with the Extensions API on.
func extOpts(names ...string) runtimeapi.Options {
	return runtimeapi.Options{
		ExtensionsAPI:   true,
		Extensions:      names,
		FunctionName:    "fn",
		FunctionVersion: "$LATEST",
		Handler:         "bootstrap",
		AccountID:       "123456789012",
	}
}

// extDo sends one Extensions API request and returns the response with its
// body read.
func (h *harness) extDo(method, path, id, body string, header map[string]string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, "http://"+h.addr+extBase+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if id != "" {
		req.Header.Set("Lambda-Extension-Identifier", id)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, b
}

// register registers an extension and returns its identifier.
func (h *harness) register(name string, events ...string) string {
	h.t.Helper()
	ev, _ := json.Marshal(map[string][]string{"events": events})
	resp, body := h.extDo("POST", "register", "", string(ev), map[string]string{"Lambda-Extension-Name": name})
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("register %s = %d %s", name, resp.StatusCode, body)
	}
	id := resp.Header.Get("Lambda-Extension-Identifier")
	if !uuidRE.MatchString(id) {
		h.t.Fatalf("register %s: identifier %q is not a UUID", name, id)
	}
	return id
}

// extEvent is what GET event/next returns.
type extEvent struct {
	EventType          string `json:"eventType"`
	DeadlineMs         int64  `json:"deadlineMs"`
	RequestID          string `json:"requestId"`
	InvokedFunctionArn string `json:"invokedFunctionArn"`
	Tracing            struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"tracing"`
	ShutdownReason string `json:"shutdownReason"`
}

// extNext does GET event/next in the background.
func (h *harness) extNext(id string) <-chan extEvent {
	ch := make(chan extEvent, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+h.addr+extBase+"event/next", nil)
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := h.client.Do(req)
		if err != nil {
			close(ch) // the server closed
			return
		}
		defer resp.Body.Close()
		var ev extEvent
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			h.t.Errorf("event/next = %d %s", resp.StatusCode, b)
			close(ch)
			return
		}
		if !uuidRE.MatchString(resp.Header.Get("Lambda-Extension-Event-Identifier")) {
			h.t.Errorf("event identifier %q", resp.Header.Get("Lambda-Extension-Event-Identifier"))
		}
		if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil {
			h.t.Errorf("event/next body: %v", err)
		}
		ch <- ev
	}()
	return ch
}

// nextAsync does GET invocation/next (the runtime) in the background and
// delivers the request id it got.
func (h *harness) nextAsync() <-chan string {
	ch := make(chan string, 1)
	go func() {
		resp, err := h.client.Get(h.url + "invocation/next")
		if err != nil {
			close(ch)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ch <- resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
	}()
	return ch
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing after 10s", what)
	}
	var zero T
	return zero
}

// quiet asserts that nothing arrives on ch for a while.
func quiet[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s: got %v, want nothing yet", what, v)
	case <-time.After(150 * time.Millisecond):
	}
}

func waitReadyAsync(h *harness) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- h.srv.WaitReady(context.Background()) }()
	return ch
}

func TestExtensionRegister(t *testing.T) {
	h := start(t, extOpts())
	resp, body := h.extDo("POST", "register", "", `{"events":["INVOKE","SHUTDOWN"]}`, map[string]string{"Lambda-Extension-Name": "a"})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("register = %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if want := `{"functionName":"fn","functionVersion":"$LATEST","handler":"bootstrap"}`; string(body) != want {
		t.Errorf("register body %s, want %s", body, want)
	}
	resp, body = h.extDo("POST", "register", "", `{"events":["INVOKE"]}`,
		map[string]string{"Lambda-Extension-Name": "b", "Lambda-Extension-Accept-Feature": "accountId"})
	if want := `{"functionName":"fn","functionVersion":"$LATEST","handler":"bootstrap","accountId":"123456789012"}`; resp.StatusCode != 200 || string(body) != want {
		t.Errorf("register with accountId = %d %s, want %s", resp.StatusCode, body, want)
	}
	if a, b := h.srv.Extensions()[0].ID, resp.Header.Get("Lambda-Extension-Identifier"); a == b {
		t.Errorf("two extensions share identifier %s", a)
	}

	for _, tc := range []struct {
		name, body, wantType string
	}{
		{"", `{"events":["INVOKE"]}`, "Extension.InvalidExtensionName"},
		{"c", `{"events":["INVOKE","BOGUS"]}`, "Extension.InvalidEventType"},
		{"c", `{"events":"INVOKE"}`, "InvalidRequestFormat"},
		{"c", ``, "InvalidRequestFormat"},
		{"a", `{"events":["SHUTDOWN"]}`, "Extension.InvalidExtensionState"}, // name taken
	} {
		resp, body := h.extDo("POST", "register", "", tc.body, map[string]string{"Lambda-Extension-Name": tc.name})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("register %q %s = %d %s, want 403", tc.name, tc.body, resp.StatusCode, body)
			continue
		}
		if typ := errorTypeOf(t, body); typ != tc.wantType {
			t.Errorf("register %q %s: error type %q, want %q", tc.name, tc.body, typ, tc.wantType)
		}
	}
	got := h.srv.Extensions()
	if len(got) != 2 || got[0].Name != "a" || !slices.Equal(got[0].Events, []string{"INVOKE", "SHUTDOWN"}) ||
		got[1].Name != "b" || !slices.Equal(got[1].Events, []string{"INVOKE"}) {
		t.Errorf("Extensions() = %+v", got)
	}
}

func TestExtensionTooMany(t *testing.T) {
	h := start(t, extOpts())
	for i := range runtimeapi.MaxExtensions {
		h.register("e"+strconv.Itoa(i), "INVOKE")
	}
	resp, body := h.extDo("POST", "register", "", `{"events":[]}`, map[string]string{"Lambda-Extension-Name": "one-more"})
	if resp.StatusCode != 403 || errorTypeOf(t, body) != "Extension.TooManyExtensions" {
		t.Errorf("register past the limit = %d %s", resp.StatusCode, body)
	}
}

func TestExtensionIdentifierErrors(t *testing.T) {
	h := start(t, extOpts())
	h.register("a", "INVOKE")
	for _, tc := range []struct{ id, wantType string }{
		{"", "Extension.MissingExtensionIdentifier"},
		{"not-a-uuid", "Extension.InvalidExtensionIdentifier"},
		{"00000000-0000-4000-8000-000000000000", "Extension.UnknownExtensionIdentifier"},
	} {
		for _, p := range []struct{ method, path string }{{"GET", "event/next"}, {"POST", "init/error"}, {"POST", "exit/error"}} {
			resp, body := h.extDo(p.method, p.path, tc.id, "", map[string]string{"Lambda-Extension-Function-Error-Type": "Extension.Test"})
			if resp.StatusCode != 403 || errorTypeOf(t, body) != tc.wantType {
				t.Errorf("%s %s with id %q = %d %s, want 403 %s", p.method, p.path, tc.id, resp.StatusCode, body, tc.wantType)
			}
		}
	}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "register", 405},
		{"POST", "event/next", 405},
		{"GET", "init/error", 405},
		{"GET", "nope", 404},
	} {
		if resp, body := h.extDo(tc.method, tc.path, "", "", nil); resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.want)
		}
	}
}

// Init is complete only when the runtime and every registered extension
// have asked for their first event; registration closes then.
func TestExtensionInitWaitsForExtensions(t *testing.T) {
	h := start(t, extOpts())
	id := h.register("slow", "INVOKE", "SHUTDOWN")
	runtimeNext := h.nextAsync()
	ready := waitReadyAsync(h)
	quiet(t, ready, "WaitReady before the extension's first /event/next")

	// Registration is still open while init runs.
	id2 := h.register("quick", "SHUTDOWN")
	first := h.extNext(id2)
	quiet(t, ready, "WaitReady with one extension still initializing")

	events := h.extNext(id)
	if err := recv(t, ready, "WaitReady"); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	resp, body := h.extDo("POST", "register", "", `{"events":["INVOKE"]}`, map[string]string{"Lambda-Extension-Name": "late"})
	if resp.StatusCode != 403 || errorTypeOf(t, body) != "Extension.RegistrationClosed" {
		t.Errorf("register after init = %d %s, want 403 Extension.RegistrationClosed", resp.StatusCode, body)
	}
	quiet(t, events, "an extension's first /event/next before any invocation")
	quiet(t, first, "a SHUTDOWN-only extension's /event/next")
	quiet(t, runtimeNext, "the runtime's /next")
}

// With Options.Extensions, init also waits for extensions that have not
// registered yet: a runtime quicker than its extensions cannot close
// registration under them.
func TestExtensionInitWaitsForExpected(t *testing.T) {
	h := start(t, extOpts("ext-a"))
	h.nextAsync()
	ready := waitReadyAsync(h)
	quiet(t, ready, "WaitReady before ext-a registered")
	id := h.register("ext-a", "INVOKE")
	quiet(t, ready, "WaitReady before ext-a's first /event/next")
	h.extNext(id)
	if err := recv(t, ready, "WaitReady"); err != nil {
		t.Fatal(err)
	}

	h2 := start(t, extOpts("never"))
	h2.nextAsync()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := h2.srv.WaitReady(ctx); !errors.Is(err, runtimeapi.ErrTimeout) {
		t.Errorf("WaitReady with an extension that never registers: %v", err)
	}
}

func TestExtensionInvokeLifecycle(t *testing.T) {
	h := start(t, extOpts())
	id := h.register("ext", "INVOKE", "SHUTDOWN")
	shutdownOnly := h.register("shut", "SHUTDOWN")
	events := h.extNext(id)
	shutEvents := h.extNext(shutdownOnly)
	runtimeNext := h.nextAsync()
	if err := h.srv.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(5 * time.Second).Truncate(time.Millisecond)
	inv := runtimeapi.Invocation{
		RequestID:   "11111111-2222-4333-8444-555555555555",
		Payload:     []byte(`{"n":1}`),
		Deadline:    deadline,
		FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:fn",
		TraceID:     "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
	}
	done := h.invoke(context.Background(), inv)
	if got := recv(t, runtimeNext, "the runtime's event"); got != inv.RequestID {
		t.Fatalf("runtime got request %q", got)
	}
	ev := recv(t, events, "the extension's INVOKE")
	if ev.EventType != "INVOKE" || ev.RequestID != inv.RequestID || ev.DeadlineMs != deadline.UnixMilli() ||
		ev.InvokedFunctionArn != inv.FunctionARN || ev.Tracing.Type != "X-Amzn-Trace-Id" || ev.Tracing.Value != inv.TraceID {
		t.Errorf("INVOKE event %+v", ev)
	}

	// The runtime's response ends Invoke while the extension still works.
	if status, b := h.post("invocation/"+inv.RequestID+"/response", strings.NewReader(`"one"`), nil); status != 202 {
		t.Fatalf("response = %d %s", status, b)
	}
	if r := wait(t, done); r.err != nil || string(r.res.Payload) != `"one"` {
		t.Fatalf("Invoke = %+v %v", r.res, r.err)
	}
	settled := make(chan error, 1)
	go func() { settled <- h.srv.Settle(context.Background()) }()
	quiet(t, settled, "Settle while the extension holds the event")

	// The next invocation waits for the extension.
	runtimeNext = h.nextAsync()
	inv2 := inv
	inv2.RequestID = "22222222-2222-4333-8444-555555555555"
	done2 := h.invoke(context.Background(), inv2)
	quiet(t, runtimeNext, "the runtime's second event before the extension finished the first")

	events = h.extNext(id) // the extension is done with the first event
	if err := recv(t, settled, "Settle"); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if got := recv(t, runtimeNext, "the runtime's second event"); got != inv2.RequestID {
		t.Fatalf("runtime got request %q", got)
	}
	if ev := recv(t, events, "the second INVOKE"); ev.RequestID != inv2.RequestID {
		t.Errorf("second INVOKE %+v", ev)
	}
	quiet(t, shutEvents, "INVOKE to an extension subscribed to SHUTDOWN only")
	h.post("invocation/"+inv2.RequestID+"/response", strings.NewReader(`"two"`), nil)
	if r := wait(t, done2); r.err != nil || string(r.res.Payload) != `"two"` {
		t.Fatalf("second Invoke = %+v %v", r.res, r.err)
	}
	if st := h.srv.Stats(); st.Invocations != 2 {
		t.Errorf("Stats = %+v", st)
	}
}

// Settle (and so the next Invoke) gives up at the last invocation's deadline.
func TestExtensionSettleDeadline(t *testing.T) {
	h := start(t, extOpts())
	id := h.register("stuck", "INVOKE")
	events := h.extNext(id)
	go echoRuntime(h)
	if err := h.srv.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	if _, err := h.srv.Invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1", Deadline: deadline}); err != nil {
		t.Fatal(err)
	}
	recv(t, events, "INVOKE")
	// The extension never asks for the next event.
	if err := h.srv.Settle(context.Background()); !errors.Is(err, runtimeapi.ErrTimeout) {
		t.Errorf("Settle past the deadline: %v", err)
	}
	if time.Now().Before(deadline) {
		t.Error("Settle returned before the invocation's deadline")
	}
	if _, err := h.srv.Invoke(context.Background(), runtimeapi.Invocation{RequestID: "r2"}); !errors.Is(err, runtimeapi.ErrTimeout) {
		t.Errorf("Invoke after a stuck extension: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.srv.Settle(ctx); !errors.Is(err, context.Canceled) && !errors.Is(err, runtimeapi.ErrTimeout) {
		t.Errorf("Settle with a canceled context: %v", err)
	}
}

func TestExtensionShutdown(t *testing.T) {
	h := start(t, extOpts())
	a := h.register("a", "INVOKE", "SHUTDOWN")
	b := h.register("b", "INVOKE") // not subscribed to SHUTDOWN
	evA, evB := h.extNext(a), h.extNext(b)
	h.nextAsync()
	if err := h.srv.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	shut := make(chan error, 1)
	go func() { shut <- h.srv.Shutdown(ctx, runtimeapi.ShutdownSpindown) }()
	ev := recv(t, evA, "SHUTDOWN")
	if ev.EventType != "SHUTDOWN" || ev.ShutdownReason != "spindown" || ev.DeadlineMs != deadline.UnixMilli() {
		t.Errorf("SHUTDOWN event %+v (deadline %d)", ev, deadline.UnixMilli())
	}
	quiet(t, shut, "Shutdown before the extension asked for its next event")
	quiet(t, evB, "SHUTDOWN to an extension not subscribed to it")
	h.extNext(a)
	if err := recv(t, shut, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := h.srv.Invoke(ctx, runtimeapi.Invocation{RequestID: "r"}); !errors.Is(err, runtimeapi.ErrShutdown) {
		t.Errorf("Invoke after Shutdown: %v", err)
	}
	if err := h.srv.Shutdown(ctx, "bogus"); err == nil {
		t.Error("Shutdown with an unknown reason succeeded")
	}
}

// Shutdown waits at most until its context's deadline.
func TestExtensionShutdownGrace(t *testing.T) {
	h := start(t, extOpts())
	a := h.register("a", "SHUTDOWN")
	evA := h.extNext(a)
	h.nextAsync()
	if err := h.srv.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := h.srv.Shutdown(ctx, runtimeapi.ShutdownTimeout)
	if !errors.Is(err, runtimeapi.ErrTimeout) || time.Since(start) > 5*time.Second {
		t.Errorf("Shutdown with a stuck extension: %v after %v", err, time.Since(start))
	}
	if ev := recv(t, evA, "SHUTDOWN"); ev.ShutdownReason != "timeout" {
		t.Errorf("SHUTDOWN %+v", ev)
	}
}

// Without extensions Shutdown returns at once and ends invocations.
func TestShutdownWithoutExtensions(t *testing.T) {
	h := start(t, runtimeapi.Options{})
	if err := h.srv.Shutdown(context.Background(), runtimeapi.ShutdownSpindown); err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.Invoke(context.Background(), runtimeapi.Invocation{RequestID: "r"}); !errors.Is(err, runtimeapi.ErrShutdown) {
		t.Errorf("Invoke after Shutdown: %v", err)
	}
}

func TestExtensionInitError(t *testing.T) {
	h := start(t, extOpts())
	id := h.register("ext", "INVOKE", "SHUTDOWN")
	ready := waitReadyAsync(h)
	resp, body := h.extDo("POST", "init/error", id, "", nil)
	if resp.StatusCode != 403 || errorTypeOf(t, body) != "Extension.MissingHeader" {
		t.Errorf("init/error without a type = %d %s", resp.StatusCode, body)
	}
	resp, body = h.extDo("POST", "init/error", id, `{"errorMessage":"no config","errorType":"Extension.ConfigInvalid"}`,
		map[string]string{"Lambda-Extension-Function-Error-Type": "Extension.ConfigInvalid"})
	if resp.StatusCode != 202 {
		t.Fatalf("init/error = %d %s", resp.StatusCode, body)
	}
	err := recv(t, ready, "WaitReady")
	if !errors.Is(err, runtimeapi.ErrInitFailed) || !strings.Contains(err.Error(), "Extension.ConfigInvalid") {
		t.Errorf("WaitReady = %v", err)
	}
	res, ok := h.srv.InitError()
	if !ok || res.ErrorType != "Extension.ConfigInvalid" || !strings.Contains(string(res.Payload), "no config") {
		t.Errorf("InitError = %+v %v", res, ok)
	}
	if got := h.srv.Extensions(); got[0].InitError != "Extension.ConfigInvalid" {
		t.Errorf("Extensions() = %+v", got)
	}
	// No further call succeeds, and the runtime's init is over too.
	if resp, body := h.extDo("GET", "event/next", id, "", nil); resp.StatusCode != 403 || errorTypeOf(t, body) != "Extension.InvalidExtensionState" {
		t.Errorf("event/next after init/error = %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.next(); resp.StatusCode != 403 {
		t.Errorf("runtime /next after an extension's init/error = %d", resp.StatusCode)
	}
	if _, err := h.srv.Invoke(context.Background(), runtimeapi.Invocation{RequestID: "r"}); !errors.Is(err, runtimeapi.ErrInitFailed) {
		t.Errorf("Invoke = %v", err)
	}
}

// exit/error during init fails it; after init it is recorded and the
// extension no longer holds invocations up.
func TestExtensionExitError(t *testing.T) {
	h := start(t, extOpts())
	a := h.register("a", "INVOKE")
	b := h.register("b", "INVOKE")
	evA, evB := h.extNext(a), h.extNext(b)
	go echoRuntime(h)
	if err := h.srv.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.Invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"}); err != nil {
		t.Fatal(err)
	}
	recv(t, evA, "INVOKE to a")
	recv(t, evB, "INVOKE to b")
	evA = h.extNext(a)
	if resp, body := h.extDo("POST", "exit/error", b, `{"errorMessage":"lost"}`,
		map[string]string{"Lambda-Extension-Function-Error-Type": "Extension.Crash"}); resp.StatusCode != 202 {
		t.Fatalf("exit/error = %d %s", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Settle(ctx); err != nil {
		t.Errorf("Settle after b exited: %v", err)
	}
	if got := h.srv.Extensions(); got[1].ExitError != "Extension.Crash" {
		t.Errorf("Extensions() = %+v", got)
	}
	if _, err := h.srv.Invoke(ctx, runtimeapi.Invocation{RequestID: "r2"}); err != nil {
		t.Errorf("Invoke after b exited: %v", err)
	}
	recv(t, evA, "second INVOKE to a")

	h2 := start(t, extOpts())
	c := h2.register("c", "SHUTDOWN")
	h2.nextAsync()
	h2.extDo("POST", "exit/error", c, "", map[string]string{"Lambda-Extension-Function-Error-Type": "Extension.Crash"})
	if err := h2.srv.WaitReady(ctx); !errors.Is(err, runtimeapi.ErrInitFailed) {
		t.Errorf("WaitReady after exit/error during init: %v", err)
	}
}

// A second /event/next from the same extension supersedes a parked one.
func TestExtensionNextSuperseded(t *testing.T) {
	h := start(t, extOpts())
	id := h.register("ext", "INVOKE")
	req, _ := http.NewRequest("GET", "http://"+h.addr+extBase+"event/next", nil)
	req.Header.Set("Lambda-Extension-Identifier", id)
	old := make(chan *http.Response, 1)
	go func() {
		resp, err := h.client.Do(req)
		if err != nil {
			t.Error(err)
			close(old)
			return
		}
		resp.Body.Close()
		old <- resp
	}()
	time.Sleep(100 * time.Millisecond)
	cur := h.extNext(id)
	if resp := recv(t, old, "the superseded /event/next"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the superseded /event/next = %d, want 403", resp.StatusCode)
	}
	go echoRuntime(h)
	if err := h.srv.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.Invoke(context.Background(), runtimeapi.Invocation{RequestID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, cur, "INVOKE"); ev.RequestID != "r1" {
		t.Errorf("INVOKE %+v", ev)
	}
}

// Close cuts off parked /event/next calls like the runtime's /next.
func TestExtensionCloseUnblocksNext(t *testing.T) {
	h := start(t, extOpts())
	ch := h.extNext(h.register("ext", "INVOKE"))
	time.Sleep(50 * time.Millisecond)
	h.srv.Close()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("event/next got an event from a closed server")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event/next still parked after Close")
	}
}

// buildExtension compiles testdata/extension, an external extension that
// speaks the Extensions API over HTTP like the ones Lambda users ship.
func buildExtension(t testing.TB) string {
	t.Helper()
	goBin := testenv.LookPath(t, "go")
	out := filepath.Join(t.TempDir(), "echo-ext")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, "./testdata/extension")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/extension: %v\n%s", err, b)
	}
	return out
}

// An extension in its own process, against a real listener: it registers
// under its file name, sees every invocation and leaves on SHUTDOWN.
func TestExtensionProcess(t *testing.T) {
	bin := buildExtension(t)
	h := start(t, extOpts("echo-ext"))
	cmd := exec.Command(bin)
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + h.addr, "EXT_WORK_MS=100"}
	lines := make(chan string, 16)
	cmd.Stdout = lineWriter(lines)
	cmd.Stderr = &logWriter{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The sandbox reports an extension's exit the same way.
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		h.srv.ExtensionExited("echo-ext")
		exited <- err
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	go echoRuntime(h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.srv.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if got := recv(t, lines, "registration"); got != "registered fn $LATEST bootstrap" {
		t.Errorf("extension says %q", got)
	}
	for i := range 3 {
		id := "req-" + strconv.Itoa(i)
		deadline := time.Now().Add(10 * time.Second)
		start := time.Now()
		res, err := h.srv.Invoke(ctx, runtimeapi.Invocation{RequestID: id, Payload: []byte(`{}`), Deadline: deadline})
		if err != nil || res.FunctionError() {
			t.Fatalf("Invoke %d: %+v %v", i, res, err)
		}
		if err := h.srv.Settle(ctx); err != nil {
			t.Fatalf("Settle: %v", err)
		}
		// The extension works 100 ms on every event; settling waits for it.
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("invocation %d settled after %v, before the extension finished", i, d)
		}
		want := "INVOKE " + id + " " + strconv.FormatInt(deadline.UnixMilli(), 10)
		if got := recv(t, lines, "INVOKE line"); got != want {
			t.Errorf("extension says %q, want %q", got, want)
		}
	}
	// The extension exits on SHUTDOWN rather than asking for another
	// event; its exit ends Shutdown well before the grace period.
	shutCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	begin := time.Now()
	if err := h.srv.Shutdown(shutCtx, runtimeapi.ShutdownSpindown); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if got := recv(t, lines, "SHUTDOWN line"); got != "SHUTDOWN spindown" {
		t.Errorf("extension says %q", got)
	}
	err := <-exited
	exited <- err // for the cleanup
	if err != nil {
		t.Errorf("extension exited: %v", err)
	}
	if got := h.srv.Extensions(); len(got) != 1 || got[0].ExitError != "" {
		t.Errorf("Extensions() = %+v", got)
	}
}

func TestExtensionExited(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// An expected extension that dies before registering fails init.
	h := start(t, extOpts("a"))
	h.nextAsync()
	h.srv.ExtensionExited("unknown") // ignored
	h.srv.ExtensionExited("a")
	if err := h.srv.WaitReady(ctx); !errors.Is(err, runtimeapi.ErrInitFailed) || !strings.Contains(err.Error(), "Extension.Crash") {
		t.Errorf("WaitReady after an extension died during init: %v", err)
	}

	// One that dies during an invocation no longer holds it up.
	h = start(t, extOpts())
	a := h.register("a", "INVOKE", "SHUTDOWN")
	ev := h.extNext(a)
	go echoRuntime(h)
	if err := h.srv.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.Invoke(ctx, runtimeapi.Invocation{RequestID: "r1"}); err != nil {
		t.Fatal(err)
	}
	recv(t, ev, "INVOKE")
	settled := make(chan error, 1)
	go func() { settled <- h.srv.Settle(ctx) }()
	quiet(t, settled, "Settle while the extension works")
	h.srv.ExtensionExited("a")
	if err := recv(t, settled, "Settle"); err != nil {
		t.Errorf("Settle after the extension died: %v", err)
	}
	if got := h.srv.Extensions(); got[0].ExitError != "Extension.Crash" {
		t.Errorf("Extensions() = %+v", got)
	}
	if err := h.srv.Shutdown(ctx, runtimeapi.ShutdownSpindown); err != nil {
		t.Errorf("Shutdown with the extension gone: %v", err)
	}
}

// lineWriter sends each complete line written to it to a channel.
type lineWriter chan<- string

func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.SplitAfter(string(p), "\n") {
		if l = strings.TrimSuffix(l, "\n"); l != "" {
			w <- l
		}
	}
	return len(p), nil
}

// BenchmarkInvokeWithExtension is BenchmarkInvokeRoundTrip/inprocess with
// one extension subscribed to INVOKE: what an extension adds to a warm
// invocation (its event, and its next /event/next before the next Invoke).
//
//	go test -run '^$' -bench InvokeWithExtension -benchmem ./internal/runtimeapi/
func BenchmarkInvokeWithExtension(b *testing.B) {
	h := start(b, extOpts("ext"))
	id := h.register("ext", "INVOKE", "SHUTDOWN")
	go func() {
		for {
			req, _ := http.NewRequest("GET", "http://"+h.addr+extBase+"event/next", nil)
			req.Header.Set("Lambda-Extension-Identifier", id)
			resp, err := h.client.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return
			}
		}
	}()
	go echoRuntime(h)
	benchInvoke(b, h, []byte(`{"echo":{"hello":"world"}}`))
	b.StopTimer()
	if err := h.srv.Settle(context.Background()); err != nil {
		b.Fatal(err)
	}
}
