package loadgen

import (
	"context"
	"sync"
	"time"
)

// Invoker calls one function synchronously. A throttle is a Result, not an
// error; an error is anything else that kept the call from an answer.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (Result, error)
}

// Result is what one call's answer says about the call.
type Result struct {
	// Cold is set when the call waited for a new sandbox to initialise.
	Cold bool
	// Duration is the function's run time as the platform reported it;
	// 0 when it did not say. The latency Run reports is measured by Run.
	Duration time.Duration
	// FunctionError is the function's error kind (e.g. "Unhandled"), or "".
	FunctionError string
	// Throttled is set when the platform refused the call with 429.
	Throttled bool
}

// Run sends p's arrivals to inv and reports on them once every call sent
// has answered. Cancelling ctx stops the arrivals and the calls in flight;
// the report then covers what happened so far and says Interrupted. The
// only error is an invalid pattern.
func Run(ctx context.Context, inv Invoker, p Pattern) (*Report, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	rec := newRecorder(p)
	sched := newSchedule(p)
	slots := make(chan struct{}, p.MaxInFlight)
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	start := time.Now()
	interrupted := false
arrivals:
	for {
		a, ok := sched.pop()
		if !ok {
			// A timed run lasts its whole duration, so the offered
			// rate is measured over the window the pattern describes.
			if p.Duration > 0 && sched.left != 0 {
				if !sleepUntil(ctx, timer, start.Add(p.Duration)) {
					interrupted = true
				}
			}
			break
		}
		if !sleepUntil(ctx, timer, start.Add(a.at)) {
			interrupted = true
			break arrivals
		}
		select {
		case slots <- struct{}{}:
		default:
			rec.shed(a.fn)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			t0 := time.Now()
			res, err := inv.Invoke(ctx, p.Functions[a.fn], p.Payload)
			rec.done(a.fn, time.Since(t0), res, err)
		}()
	}
	window := time.Since(start)
	wg.Wait()
	return rec.report(window, time.Since(start), interrupted), nil
}

// sleepUntil waits for t on timer; false if ctx ended first.
func sleepUntil(ctx context.Context, timer *time.Timer, t time.Time) bool {
	if ctx.Err() != nil {
		return false
	}
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer.Reset(d)
	select {
	case <-ctx.Done():
		timer.Stop()
		return false
	case <-timer.C:
		return true
	}
}

// maxErrorSamples is how many distinct error messages a report keeps.
const maxErrorSamples = 5

// recorder collects outcomes from the calls' goroutines.
type recorder struct {
	p Pattern

	mu                                                       sync.Mutex
	total, ok, fnErrors, throttled, shedN, others, coldCount int
	all, warm, cold, fnTime                                  []time.Duration
	perFn                                                    []fnRecord
	samples                                                  []string
}

type fnRecord struct {
	calls, cold int
	latency     []time.Duration
}

func newRecorder(p Pattern) *recorder {
	return &recorder{p: p, perFn: make([]fnRecord, len(p.Functions))}
}

func (r *recorder) shed(fn int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	r.shedN++
	r.perFn[fn].calls++
}

func (r *recorder) done(fn int, latency time.Duration, res Result, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	f := &r.perFn[fn]
	f.calls++
	switch {
	case err != nil:
		r.others++
		r.sample(err.Error())
		return
	case res.Throttled:
		r.throttled++
		return
	case res.FunctionError != "":
		r.fnErrors++
	default:
		r.ok++
	}
	// The call ran: it counts for latency and cold starts.
	r.all = append(r.all, latency)
	f.latency = append(f.latency, latency)
	if res.Duration > 0 {
		r.fnTime = append(r.fnTime, res.Duration)
	}
	if res.Cold {
		r.coldCount++
		f.cold++
		r.cold = append(r.cold, latency)
	} else {
		r.warm = append(r.warm, latency)
	}
}

func (r *recorder) sample(msg string) {
	if len(r.samples) == maxErrorSamples {
		return
	}
	for _, s := range r.samples {
		if s == msg {
			return
		}
	}
	r.samples = append(r.samples, msg)
}
