package loadgen

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// ErrInvalidPattern is wrapped by every error Pattern.Validate returns.
var ErrInvalidPattern = errors.New("loadgen: invalid pattern")

// Pattern is the traffic to replay.
type Pattern struct {
	// Functions are the targets, most popular first.
	Functions []string
	// Rate is the total arrival rate, in calls per second.
	Rate float64
	// Zipf is the popularity exponent s: function k gets a share of Rate
	// proportional to 1/(k+1)^s. 0 spreads the rate evenly.
	Zipf float64
	// Duration ends the arrivals after this long; Requests after this many.
	// At least one must be set; with both, whichever comes first ends them.
	Duration time.Duration
	Requests int
	// MaxInFlight bounds the calls waiting for an answer; arrivals beyond
	// it are shed.
	MaxInFlight int
	// Seed makes the arrivals reproducible.
	Seed uint64
	// Payload is the event every call sends.
	Payload []byte
}

// DefaultPattern is 50 calls/s for 30 s with Zipf 1.1, at most 256 in
// flight, seed 1; Functions is left for the caller.
func DefaultPattern() Pattern {
	return Pattern{
		Rate:        50,
		Zipf:        1.1,
		Duration:    30 * time.Second,
		MaxInFlight: 256,
		Seed:        1,
		Payload:     []byte("{}"),
	}
}

// Validate reports settings that cannot make a run.
func (p Pattern) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidPattern}, args...)...))
	}
	if len(p.Functions) == 0 {
		bad("no functions")
	}
	if !(p.Rate > 0) || math.IsInf(p.Rate, 0) {
		bad("rate %v: want a positive number of calls per second", p.Rate)
	}
	if !(p.Zipf >= 0) || math.IsInf(p.Zipf, 0) {
		bad("zipf exponent %v: want 0 (uniform) or more", p.Zipf)
	}
	if p.Duration < 0 || p.Requests < 0 {
		bad("duration and requests must not be negative")
	}
	if p.Duration == 0 && p.Requests == 0 {
		bad("set a duration or a number of requests")
	}
	if p.MaxInFlight < 1 {
		bad("in-flight bound %d: want at least 1", p.MaxInFlight)
	}
	return errors.Join(errs...)
}

// Shares is each function's fraction of the rate, in Functions' order.
func (p Pattern) Shares() []float64 {
	w := make([]float64, len(p.Functions))
	var sum float64
	for k := range w {
		w[k] = math.Pow(float64(k+1), -p.Zipf)
		sum += w[k]
	}
	for k := range w {
		w[k] /= sum
	}
	return w
}

// arrival is one call to send: at this offset from the start, to function fn.
type arrival struct {
	at time.Duration
	fn int
}

// schedule merges one Poisson stream per function into arrivals in time
// order. Each stream has its own generator, so a function's arrivals do
// not depend on how many functions there are after it.
type schedule struct {
	rates []float64 // calls per nanosecond
	rngs  []*rand.Rand
	next  arrivalHeap // each function's next arrival
	limit time.Duration
	left  int // arrivals still allowed; -1 for no count limit
}

func newSchedule(p Pattern) *schedule {
	s := &schedule{limit: p.Duration, left: -1}
	if p.Requests > 0 {
		s.left = p.Requests
	}
	for k, share := range p.Shares() {
		s.rates = append(s.rates, p.Rate*share/float64(time.Second))
		s.rngs = append(s.rngs, rand.New(rand.NewPCG(p.Seed, uint64(k))))
		s.next = append(s.next, arrival{at: s.gap(k), fn: k})
	}
	heap.Init(&s.next)
	return s
}

// gap draws function k's next exponential inter-arrival time.
func (s *schedule) gap(k int) time.Duration {
	return time.Duration(s.rngs[k].ExpFloat64() / s.rates[k])
}

// pop returns the next arrival, or false once the pattern is over.
func (s *schedule) pop() (arrival, bool) {
	a := s.next[0]
	if s.left == 0 || (s.limit > 0 && a.at >= s.limit) {
		return arrival{}, false
	}
	if s.left > 0 {
		s.left--
	}
	s.next[0].at += s.gap(a.fn)
	heap.Fix(&s.next, 0)
	return a, true
}

type arrivalHeap []arrival

func (h arrivalHeap) Len() int           { return len(h) }
func (h arrivalHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h arrivalHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *arrivalHeap) Push(x any)        { *h = append(*h, x.(arrival)) }
func (h *arrivalHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
