package invoke

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// counters are the pipeline's metrics, exported in Prometheus' text format
// by WriteMetrics.
type counters struct {
	warm, pool, fresh         atomic.Uint64 // invocations by start path
	functionErrors, throttles atomic.Uint64
	failures                  atomic.Uint64 // invocations refused by other errors
	evictedForMemory          atomic.Uint64 // idle sandboxes evicted under memory pressure
	queued, handoffs          atomic.Uint64 // requests that queued for a sandbox; sandboxes handed to one
}

func (s *Service) count(resp Response, in *instance, err error) {
	switch {
	case errors.Is(err, ErrThrottled):
		s.metrics.throttles.Add(1)
		return
	case err != nil:
		s.metrics.failures.Add(1)
		return
	case !resp.Cold:
		s.metrics.warm.Add(1)
	case in != nil && in.stem:
		s.metrics.pool.Add(1)
	default:
		s.metrics.fresh.Add(1)
	}
	if resp.FunctionError != "" {
		s.metrics.functionErrors.Add(1)
	}
}

// WriteMetrics writes the pipeline's counters and gauges in Prometheus'
// text exposition format.
func (s *Service) WriteMetrics(w io.Writer) {
	m := &s.metrics
	fmt.Fprintf(w, "# HELP ember_invocations_total Invocations run, by how their sandbox was obtained.\n# TYPE ember_invocations_total counter\n")
	fmt.Fprintf(w, "ember_invocations_total{start=\"warm\"} %d\n", m.warm.Load())
	fmt.Fprintf(w, "ember_invocations_total{start=\"warming_pool\"} %d\n", m.pool.Load())
	fmt.Fprintf(w, "ember_invocations_total{start=\"new_sandbox\"} %d\n", m.fresh.Load())
	fmt.Fprintf(w, "# HELP ember_function_errors_total Invocations that ended in a function error.\n# TYPE ember_function_errors_total counter\nember_function_errors_total %d\n", m.functionErrors.Load())
	fmt.Fprintf(w, "# HELP ember_throttles_total Invocations refused over a concurrency limit (429).\n# TYPE ember_throttles_total counter\nember_throttles_total %d\n", m.throttles.Load())
	fmt.Fprintf(w, "# HELP ember_invoke_failures_total Invocations refused for other reasons.\n# TYPE ember_invoke_failures_total counter\nember_invoke_failures_total %d\n", m.failures.Load())
	fmt.Fprintf(w, "# HELP ember_memory_evictions_total Idle sandboxes evicted because the host was low on memory.\n# TYPE ember_memory_evictions_total counter\nember_memory_evictions_total %d\n", m.evictedForMemory.Load())
	fmt.Fprintf(w, "# HELP ember_invoke_queued_total Invocations that queued for a starting or busy sandbox of their function instead of starting one.\n# TYPE ember_invoke_queued_total counter\nember_invoke_queued_total %d\n", m.queued.Load())
	fmt.Fprintf(w, "# HELP ember_invoke_handoffs_total Sandboxes handed straight to a queued invocation.\n# TYPE ember_invoke_handoffs_total counter\nember_invoke_handoffs_total %d\n", m.handoffs.Load())
	s.mu.Lock()
	live := s.live
	s.mu.Unlock()
	fmt.Fprintf(w, "# HELP ember_sandboxes Sandboxes on this node by state.\n# TYPE ember_sandboxes gauge\n")
	fmt.Fprintf(w, "ember_sandboxes{state=\"live\"} %d\n", live)
	fmt.Fprintf(w, "ember_sandboxes{state=\"idle\"} %d\n", s.Idle())
	fmt.Fprintf(w, "ember_sandboxes{state=\"warming_pool\"} %d\n", len(s.stems))
}
