package runtimeapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/runtimeapi"
)

// BenchmarkInvokeRoundTrip measures Invoke → GET /next → POST /response over
// loopback with a small JSON event, against a Go client loop in this process
// and against an unmodified aws-lambda-go function in its own process.
//
//	go test -run '^$' -bench InvokeRoundTrip -benchmem ./internal/runtimeapi/
func BenchmarkInvokeRoundTrip(b *testing.B) {
	payload := []byte(`{"echo":{"hello":"world"}}`)

	b.Run("inprocess", func(b *testing.B) {
		h := start(b, runtimeapi.Options{})
		go echoRuntime(h)
		benchInvoke(b, h, payload)
	})

	b.Run("aws-lambda-go", func(b *testing.B) {
		bin := buildGoFn(b)
		h := start(b, runtimeapi.Options{})
		runGoFn(b, h, bin)
		benchInvoke(b, h, payload)
	})
}

func benchInvoke(b *testing.B, h *harness, payload []byte) {
	ctx := context.Background()
	if err := h.srv.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = "00000000-0000-4000-8000-" + strconv.Itoa(100000000000+i)
	}
	inv := runtimeapi.Invocation{
		Payload:     payload,
		Deadline:    time.Now().Add(time.Hour),
		FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:bench",
		TraceID:     "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=0",
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		inv.RequestID = ids[i%len(ids)]
		res, err := h.srv.Invoke(ctx, inv)
		if err != nil || res.FunctionError() {
			b.Fatalf("Invoke: %s %s %v", res.ErrorType, res.Payload, err)
		}
	}
}

// echoRuntime is a minimal runtime: it posts every event back as its
// response, until the server closes.
func echoRuntime(h *harness) {
	for {
		resp, err := h.client.Get(h.url + "invocation/next")
		if err != nil {
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return
		}
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		resp, err = h.client.Post(h.url+"invocation/"+id+"/response", "application/json", bytes.NewReader(body))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
