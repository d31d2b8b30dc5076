package runtimeapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/runtimeapi"
	"github.com/ember-run/ember/internal/testenv"
)

// buildGoFn compiles testdata/gofn, an unmodified aws-lambda-go function. It
// is a module of its own (ember does not depend on aws-lambda-go), so the go
// command may fetch aws-lambda-go through the usual proxy when the module
// cache lacks it.
func buildGoFn(t testing.TB) string {
	t.Helper()
	goBin := testenv.LookPath(t, "go")
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, ".")
	cmd.Dir = filepath.Join("testdata", "gofn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/gofn: %v\n%s", err, b)
	}
	return out
}

// runGoFn starts the function as a host process against h, the way a
// sandbox would, and calls Fail when it exits. The returned channel is
// closed after the process has exited.
func runGoFn(t testing.TB, h *harness, bin string) <-chan struct{} {
	t.Helper()
	cmd := exec.Command(bin)
	// No _LAMBDA_SERVER_PORT: it would switch aws-lambda-go to its legacy RPC mode.
	cmd.Env = []string{
		"AWS_LAMBDA_RUNTIME_API=" + h.addr,
		"AWS_LAMBDA_FUNCTION_NAME=gofn",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_REGION=us-east-1",
		"_HANDLER=bootstrap",
	}
	out := &logWriter{t: t}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		h.srv.Fail(fmt.Errorf("bootstrap: %w", err))
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return exited
}

// logWriter sends the function's output to the test log while the test
// runs (the process may outlive it by a moment).
type logWriter struct{ t testing.TB }

func (w *logWriter) Write(p []byte) (int, error) {
	if b, ok := w.t.(*testing.B); ok && b.N > 1 {
		return len(p), nil
	}
	w.t.Logf("bootstrap: %s", p)
	return len(p), nil
}

func TestAWSLambdaGo(t *testing.T) {
	bin := buildGoFn(t)
	h := start(t, runtimeapi.Options{MaxResponseBytes: 1 << 20})
	exited := runGoFn(t, h, bin)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}

	const arn = "arn:aws:lambda:us-east-1:123456789012:function:gofn"
	for i := range 5 {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		deadline := time.Now().Add(3 * time.Second)
		ictx, icancel := context.WithDeadline(ctx, deadline)
		res, err := h.srv.Invoke(ictx, runtimeapi.Invocation{
			RequestID:       id,
			Payload:         []byte(`{"n":` + strconv.Itoa(i) + `}`),
			Deadline:        deadline,
			FunctionARN:     arn,
			TraceID:         "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=0",
			ClientContext:   `{"custom":{"k":"v"}}`,
			CognitoIdentity: `{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"}`,
		})
		icancel()
		if err != nil || res.FunctionError() {
			t.Fatalf("Invoke %d: %s %s %v", i, res.ErrorType, res.Payload, err)
		}
		var got struct {
			Event             map[string]float64
			RequestID         string
			FunctionArn       string
			DeadlineMs        int64
			TraceID           string
			ClientCustom      map[string]string
			CognitoIdentityID string
		}
		if err := json.Unmarshal(res.Payload, &got); err != nil {
			t.Fatalf("Invoke %d: %s: %v", i, res.Payload, err)
		}
		if got.Event["n"] != float64(i) || got.RequestID != id || got.FunctionArn != arn ||
			got.DeadlineMs != deadline.UnixMilli() || got.TraceID == "" ||
			got.ClientCustom["k"] != "v" || got.CognitoIdentityID != "cid" {
			t.Errorf("Invoke %d: lambdacontext %+v", i, got)
		}
	}

	// A returned Go error: aws-lambda-go posts /error with the error's type
	// name in the document (it sets no Lambda-Runtime-Function-Error-Type header).
	res, err := h.srv.Invoke(ctx, runtimeapi.Invocation{RequestID: "fail-1", Payload: []byte(`{"fail":"boom"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ ErrorMessage, ErrorType string }
	if json.Unmarshal(res.Payload, &doc); res.ErrorType != "errorString" || doc.ErrorType != "errorString" || doc.ErrorMessage != "boom" {
		t.Fatalf("error result: %s %s", res.ErrorType, res.Payload)
	}
	// The sandbox is still usable after a function error.
	if res, err := h.srv.Invoke(ctx, runtimeapi.Invocation{RequestID: "after-fail", Payload: []byte(`{"echo":1}`)}); err != nil || string(res.Payload) != `{"echo":1}` {
		t.Fatalf("after error: %s %v", res.Payload, err)
	}

	// Too large: 413 is fatal to aws-lambda-go, so the process exits.
	res, err = h.srv.Invoke(ctx, runtimeapi.Invocation{RequestID: "big-1", Payload: []byte(`{"big":2000000}`)})
	if err != nil || res.ErrorType != runtimeapi.ErrorTypeResponseTooLarge {
		t.Fatalf("big: %s %.200s %v", res.ErrorType, res.Payload, err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("aws-lambda-go kept running after a 413")
	}
	if _, err := h.srv.Invoke(ctx, runtimeapi.Invocation{RequestID: "after-exit"}); !errors.Is(err, runtimeapi.ErrExited) {
		t.Fatalf("Invoke after exit = %v", err)
	}
	if st := h.srv.Stats(); st.Invocations != 8 || st.Errors != 2 {
		t.Errorf("Stats = %+v", st)
	}
}
