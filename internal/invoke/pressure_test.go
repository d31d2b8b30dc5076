package invoke

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/catalog"
)

// TestKeepAliveTag: a function's ember:keep-alive tag reclaims its idle
// sandbox after its own TTL while another function keeps the server's.
func TestKeepAliveTag(t *testing.T) {
	e := newEnv(t, Options{IdleTTL: time.Hour})
	e.create(t, "short", 3)
	e.create(t, "long", 3)
	if err := e.cat.TagResource(context.Background(), acct, "short", map[string]string{catalog.KeepAliveTag: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.cat.TagResource(context.Background(), acct, "long", map[string]string{catalog.KeepAliveTag: "forever"}); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("bad keep-alive tag accepted: %v", err)
	}
	e.invoke(t, "short", `{}`)
	e.invoke(t, "long", `{}`)
	if e.svc.Idle() != 2 {
		t.Fatalf("idle %d, want 2", e.svc.Idle())
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.svc.Idle() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the keep-alive tag did not reclaim: idle %d", e.svc.Idle())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The survivor is the untagged function's: it is still warm.
	if r, _ := e.invoke(t, "long", `{}`); r.Cold {
		t.Error("the untagged function lost its warm sandbox")
	}
}

// TestMemoryPressure: below MinAvailableMB the janitor evicts idle
// sandboxes, a cold start with nothing left to evict gets a 429 saying
// why, and everything works again once memory is back.
func TestMemoryPressure(t *testing.T) {
	var avail atomic.Uint64
	avail.Store(8 << 30)
	e := newEnv(t, Options{MinAvailableMB: 512, MemAvailable: func() (uint64, error) { return avail.Load(), nil }})
	e.create(t, "a", 3)
	e.create(t, "b", 3)
	e.invoke(t, "a", `{}`)
	e.invoke(t, "b", `{}`)
	if e.svc.Idle() != 2 {
		t.Fatalf("idle %d", e.svc.Idle())
	}
	avail.Store(100 << 20) // the host is short by 412 MB
	deadline := time.Now().Add(5 * time.Second)
	for e.svc.Idle() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("idle sandboxes not evicted under memory pressure: %d", e.svc.Idle())
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err := e.svc.Invoke(context.Background(), Request{Account: acct, Function: "a", Payload: []byte(`{}`)})
	var te *ThrottleError
	if !errors.As(err, &te) || !strings.Contains(te.Message, "low on memory") {
		t.Fatalf("cold start under memory pressure: %v", err)
	}
	var sb strings.Builder
	e.svc.WriteMetrics(&sb)
	if !strings.Contains(sb.String(), "ember_memory_evictions_total 2") {
		t.Errorf("metrics:\n%s", sb.String())
	}
	avail.Store(8 << 30)
	if r, _ := e.invoke(t, "a", `{}`); !r.Cold || r.FunctionError != "" {
		t.Fatalf("after the pressure: %+v", r)
	}
}
