package async

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/invoke"
	"github.com/ember-run/ember/internal/store"
)

// recorder is a stand-in invoker that records calls and fails the first
// failures of each request with a function error.
type recorder struct {
	mu       sync.Mutex
	calls    map[string]int
	failures int
	throttle int
}

func (r *recorder) Invoke(ctx context.Context, req invoke.Request) (invoke.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := string(req.Payload)
	r.calls[key]++
	if r.throttle > 0 {
		r.throttle--
		return invoke.Response{}, &invoke.ThrottleError{Reason: invoke.ReasonAccountLimit, Message: "busy"}
	}
	if r.calls[key] <= r.failures {
		return invoke.Response{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"boom"}`)}, nil
	}
	return invoke.Response{Payload: []byte(`{}`)}, nil
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[key]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestFunctionErrorsAreRetriedThenDropped(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	rec := &recorder{calls: map[string]int{}, failures: 10}
	q, err := Open(context.Background(), st, Options{Invoker: rec, RetryDelays: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Enqueue(context.Background(), Event{RequestID: "r1", Account: "111111111111", Function: "f", Payload: []byte(`"a"`)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three attempts", func() bool { return rec.count(`"a"`) == 3 })
	waitFor(t, "the drop", func() bool { return q.Stats().Dropped == 1 })
	time.Sleep(300 * time.Millisecond)
	if n := rec.count(`"a"`); n != 3 {
		t.Fatalf("%d attempts, want 1 + 2 retries", n)
	}
	if s := q.Stats(); s.FunctionErrors != 3 || s.Retried != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSuccessAfterRetryAndThrottleBackoff(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	rec := &recorder{calls: map[string]int{}, failures: 2, throttle: 1}
	q, err := Open(context.Background(), st, Options{Invoker: rec, RetryDelays: []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q.Enqueue(context.Background(), Event{RequestID: "r1", Account: "111111111111", Function: "f", Payload: []byte(`"b"`)})
	// Delivery 1 is throttled (backoff), delivery 2 a function error
	// (retry 1), delivery 3 succeeds: the throttle used no retry.
	waitFor(t, "success", func() bool { return q.Stats().Succeeded == 1 })
	if s := q.Stats(); s.FunctionErrors != 1 || s.Dropped != 0 || rec.count(`"b"`) != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRestartLosesNoEvent(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	// No workers: accept events only.
	q, err := Open(context.Background(), st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := q.Enqueue(context.Background(), Event{RequestID: "id" + string(rune('a'+i)), Account: "111111111111", Function: "f", Payload: []byte{'"', byte('a' + i), '"'}}); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	st.Close()

	st = openStore(t, dir)
	defer st.Close()
	rec := &recorder{calls: map[string]int{}}
	q, err = Open(context.Background(), st, Options{Invoker: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	waitFor(t, "all 20 events after the restart", func() bool { return q.Stats().Succeeded == 20 })
	for i := range 20 {
		if n := rec.count(string([]byte{'"', byte('a' + i), '"'})); n != 1 {
			t.Fatalf("event %d ran %d times", i, n)
		}
	}
}

func TestOversizedEventRefused(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	q, _ := Open(context.Background(), st, Options{})
	defer q.Close()
	err := q.Enqueue(context.Background(), Event{RequestID: "x", Account: "111111111111", Function: "f", Payload: make([]byte, MaxEventSize+1)})
	if err == nil {
		t.Fatal("oversized event accepted")
	}
}
