package invoke

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/testenv"
)

// TestBurstCoalesces: a burst of short calls to a function with no sandbox
// starts a few sandboxes, not one per call; the rest queue and are served
// warm by the sandboxes that come free.
func TestBurstCoalesces(t *testing.T) {
	e := newEnv(t, Options{})
	e.createFast(t, "f")
	const calls = 12
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	cold := make(chan bool, calls)
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.svc.Invoke(context.Background(), Request{Account: acct, Function: "f", Payload: []byte(`{}`)})
			if err == nil && resp.FunctionError != "" {
				err = fmt.Errorf("function error: %s", resp.Payload)
			}
			errs <- err
			cold <- resp.Cold
		}()
	}
	wg.Wait()
	close(errs)
	close(cold)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	colds := 0
	for c := range cold {
		if c {
			colds++
		}
	}
	created := e.driver.count()
	// Each starting sandbox takes at most coalescePerStart waiters, so 12
	// simultaneous calls need about 12/(1+4) starts.
	if created > 4 || colds != created {
		t.Fatalf("%d calls made %d sandboxes (%d cold answers); want at most 4, one cold answer each", calls, created, colds)
	}
	var b strings.Builder
	e.svc.WriteMetrics(&b)
	if !strings.Contains(b.String(), "ember_invoke_handoffs_total ") || strings.Contains(b.String(), "ember_invoke_handoffs_total 0\n") {
		t.Fatalf("no handoffs counted:\n%s", b.String())
	}
	if e.svc.Idle() != created {
		t.Fatalf("%d idle after the burst, want all %d", e.svc.Idle(), created)
	}
	e.svc.mu.Lock()
	for k, d := range e.svc.demand {
		if d.busy != 0 || d.starting != 0 || len(d.waiters) != 0 {
			t.Errorf("key %s: %d busy, %d starting, %d waiting after the burst", k, d.busy, d.starting, len(d.waiters))
		}
	}
	e.svc.mu.Unlock()
}

// TestLongCallsScaleOut: calls that keep their sandbox busy do not queue
// behind each other for longer than a cold start: three concurrent 5 s
// calls run in parallel in three sandboxes.
func TestLongCallsScaleOut(t *testing.T) {
	e := newEnv(t, Options{})
	e.create(t, "f", 10)
	var wg sync.WaitGroup
	start := time.Now()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.svc.Invoke(context.Background(), Request{Account: acct, Function: "f", Payload: []byte(`{"cmd":"sleep"}`)})
			if err != nil || resp.FunctionError != "" {
				t.Errorf("invoke: %v %s", err, resp.Payload)
			}
		}()
	}
	wg.Wait()
	// Serialised, the three would take 15 s.
	if took := time.Since(start); took > 9*time.Second {
		t.Fatalf("three concurrent 5 s calls took %v: they queued behind each other", took)
	}
	if n := e.driver.count(); n != 3 {
		t.Fatalf("made %d sandboxes, want 3", n)
	}
}

// TestQueuedCallerGivesUp: a queued call whose context ends returns its
// error and leaves no waiter behind; the sandbox it waited for serves the
// next call.
func TestQueuedCallerGivesUp(t *testing.T) {
	e := newEnv(t, Options{})
	e.create(t, "f", 10)
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		e.svc.Invoke(context.Background(), Request{Account: acct, Function: "f", Payload: []byte(`{"cmd":"sleep"}`)})
	}()
	e.waitBusy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := e.svc.Invoke(ctx, Request{Account: acct, Function: "f", Payload: []byte(`{}`)}); err == nil {
		t.Fatal("a call whose context ended while queued succeeded")
	}
	if e.svc.metrics.queued.Load() == 0 {
		t.Fatal("the call did not queue")
	}
	e.svc.mu.Lock()
	for k, d := range e.svc.demand {
		if len(d.waiters) != 0 {
			t.Errorf("key %s keeps %d waiters", k, len(d.waiters))
		}
	}
	e.svc.mu.Unlock()
	<-busy
	if resp, _ := e.invoke(t, "f", `{}`); resp.Cold {
		t.Fatal("the sandbox freed after the long call did not serve the next one warm")
	}
}

func (d *hostDriver) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.created
}

// fastRuntime is a provided bootstrap in python speaking the Runtime API
// over one kept-alive connection: a warm call costs about a millisecond,
// far less than a cold start (the shell runtime's cost about as much).
const fastRuntime = `#!/usr/bin/env python3
import http.client, os
c = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
while True:
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse()
    event = r.read()
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    c.request("POST", "/2018-06-01/runtime/invocation/%s/response" % rid, body=event)
    c.getresponse().read()
`

func (e *env) createFast(t *testing.T, name string) {
	t.Helper()
	testenv.LookPath(t, "python3") // the runtime used here; skips, or fails in CI
	_, _, err := e.cat.Create(context.Background(), acct, catalog.CreateInput{
		Name: name, Zip: zipOf(t, "bootstrap", fastRuntime),
		Config: catalog.Config{Runtime: "provided.al2023", Role: "arn:aws:iam::123456789012:role/r", Timeout: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestShouldWait(t *testing.T) {
	s := &Service{opts: Options{MaxStarting: 4}}
	cold := 40 * time.Millisecond
	for _, c := range []struct {
		name string
		d    demand
		want bool
	}{
		{"nothing to wait for", demand{}, false},
		{"first burst: waiters per start", demand{starting: 1, waiters: make([]chan *instance, 3)}, true},
		{"first burst: a fifth starts another", demand{starting: 1, waiters: make([]chan *instance, 4)}, false},
		{"never more starts than the node runs", demand{starting: 4, waiters: make([]chan *instance, 100)}, true},
		{"unknown call time: wait for a busy one", demand{busy: 1}, true},
		{"short calls: a queue of 30 on one sandbox", demand{busy: 1, call: time.Millisecond, waiters: make([]chan *instance, 30)}, true},
		{"short calls: a queue as long as a start", demand{busy: 1, call: time.Millisecond, waiters: make([]chan *instance, 40)}, false},
		{"short calls spread over two", demand{busy: 2, call: time.Millisecond, waiters: make([]chan *instance, 60)}, true},
		{"long calls scale out at once", demand{busy: 3, call: 5 * time.Second}, false},
	} {
		if got := s.shouldWaitLocked(&c.d, cold); got != c.want {
			t.Errorf("%s: shouldWait = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestWarmingPoolShrinksWhenIdle: with no cold start for an idle TTL the
// stem cells are closed; the next cold start refills the pool.
func TestWarmingPoolShrinksWhenIdle(t *testing.T) {
	// The TTL leaves the refill after the cold start time to finish on a
	// loaded machine before the pool counts as idle again.
	const ttl = 2 * time.Second
	e := newEnv(t, Options{WarmPool: 2, IdleTTL: ttl})
	e.create(t, "f", 3)
	waitUntil(t, "a full warming pool", func() bool { return len(e.svc.stems) == 2 })
	waitUntil(t, "an empty warming pool after the idle TTL", func() bool { return len(e.svc.stems) == 0 })
	time.Sleep(ttl)
	if n := len(e.svc.stems); n != 0 {
		t.Fatalf("the idle warming pool refilled itself: %d stem cells", n)
	}
	if r, _ := e.invoke(t, "f", `{}`); !r.Cold {
		t.Fatal("first call not cold")
	}
	waitUntil(t, "the pool refilled after a cold start", func() bool { return len(e.svc.stems) == 2 })
}

// TestCloseEndsWaits: closing the service ends queued requests' waits at
// once with ErrClosed.
func TestCloseEndsWaits(t *testing.T) {
	e := newEnv(t, Options{})
	e.create(t, "f", 10)
	go e.svc.Invoke(context.Background(), Request{Account: acct, Function: "f", Payload: []byte(`{"cmd":"sleep"}`)})
	e.waitBusy(t)
	// Teach the key a short call time, so the next request queues for
	// the busy sandbox rather than start one.
	e.svc.mu.Lock()
	for _, d := range e.svc.demand {
		d.call = time.Millisecond
	}
	e.svc.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		_, err := e.svc.Invoke(context.Background(), Request{Account: acct, Function: "f", Payload: []byte(`{}`)})
		errc <- err
	}()
	waitUntil(t, "a queued request", func() bool { return e.svc.metrics.queued.Load() == 1 })
	go e.svc.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("queued request ended with %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("closing left a queued request waiting")
	}
}

// TestStartTurnsAreShared: one account holds at most MaxStarting-1 of the
// node's start turns, so another account's start goes ahead at once.
func TestStartTurnsAreShared(t *testing.T) {
	s := &Service{opts: Options{MaxStarting: 3}, starts: make(chan struct{}, 3)}
	ctx := context.Background()
	var dones []func()
	for range 2 {
		done, err := s.startTurn(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		dones = append(dones, done)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.startTurn(short, "a"); err == nil {
		t.Fatal("an account took every start turn of the node")
	}
	done, err := s.startTurn(ctx, "b")
	if err != nil {
		t.Fatalf("another account waited for the first one's burst: %v", err)
	}
	done()
	for _, d := range dones {
		d()
	}
	if len(s.starts) != 0 || len(s.turns["a"]) != 0 || len(s.turns["b"]) != 0 {
		t.Fatalf("turns not given back: %d node, %d a, %d b", len(s.starts), len(s.turns["a"]), len(s.turns["b"]))
	}
	if done, err := s.startTurn(ctx, "a"); err != nil {
		t.Fatal(err)
	} else {
		done()
	}
}

// waitBusy waits until some pool key has one sandbox serving a call.
func (e *env) waitBusy(t *testing.T) {
	t.Helper()
	waitUntil(t, "a busy sandbox", func() bool {
		e.svc.mu.Lock()
		defer e.svc.mu.Unlock()
		for _, d := range e.svc.demand {
			if d.busy == 1 {
				return true
			}
		}
		return false
	})
}
