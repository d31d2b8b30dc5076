package loadgen

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is the outcome of a run. Every arrival is counted exactly once:
// Total = OK + FunctionErrors + Throttled + Shed + OtherErrors.
type Report struct {
	// The pattern that ran.
	Functions   int
	Rate        float64
	Zipf        float64
	Seed        uint64
	MaxInFlight int
	// Interrupted is set when the run was stopped before its end.
	Interrupted bool `json:",omitempty"`

	Total          int
	OK             int // answered, no function error
	FunctionErrors int // answered with a function error
	Throttled      int // refused with 429
	Shed           int // not sent: MaxInFlight calls were already waiting
	OtherErrors    int // no answer: transport errors, other error statuses

	// ColdStarts counts answered calls (OK + FunctionErrors) that waited
	// for a new sandbox; ColdRatio is their fraction of answered calls.
	ColdStarts int
	ColdRatio  float64

	// WindowSeconds is how long arrivals were offered: the duration, or
	// until the last arrival of a request-count run. ElapsedSeconds also
	// includes waiting for the last answers.
	WindowSeconds  float64
	ElapsedSeconds float64
	// OfferedRate is arrivals per second of the window; AchievedRate is
	// the calls actually sent (arrivals not shed) per second.
	OfferedRate  float64
	AchievedRate float64

	// Latency is measured by the generator from send to answer, over
	// answered calls only: a throttle's quick 429 is not a latency.
	Latency Latency
	// FunctionTime is the run time the platform reported for answered
	// calls (the REPORT line's Duration), when it reported one.
	FunctionTime Percentiles

	// Top is the ten functions with the most arrivals.
	Top []FunctionStats
	// ErrorSamples are the first distinct messages of OtherErrors.
	ErrorSamples []string `json:",omitempty"`
}

// Latency splits answered calls by whether they started cold.
type Latency struct {
	All, Warm, Cold Percentiles
}

// Percentiles of a set of durations, in milliseconds (nearest rank).
type Percentiles struct {
	Count                      int
	P50Ms, P90Ms, P99Ms, MaxMs float64
}

// FunctionStats is one function's line in the top table.
type FunctionStats struct {
	Function string
	Calls    int // arrivals, whatever became of them
	Cold     int
	P50Ms    float64 // over its answered calls
}

// topN is how many functions Report.Top lists.
const topN = 10

func (r *recorder) report(window, elapsed time.Duration, interrupted bool) *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &Report{
		Functions: len(r.p.Functions), Rate: r.p.Rate, Zipf: r.p.Zipf, Seed: r.p.Seed, MaxInFlight: r.p.MaxInFlight,
		Interrupted: interrupted,
		Total:       r.total, OK: r.ok, FunctionErrors: r.fnErrors, Throttled: r.throttled, Shed: r.shedN, OtherErrors: r.others,
		ColdStarts:     r.coldCount,
		WindowSeconds:  window.Seconds(),
		ElapsedSeconds: elapsed.Seconds(),
		Latency:        Latency{All: percentiles(r.all), Warm: percentiles(r.warm), Cold: percentiles(r.cold)},
		FunctionTime:   percentiles(r.fnTime),
		ErrorSamples:   slices.Clone(r.samples),
	}
	if answered := r.ok + r.fnErrors; answered > 0 {
		rep.ColdRatio = float64(r.coldCount) / float64(answered)
	}
	if window > 0 {
		rep.OfferedRate = float64(r.total) / window.Seconds()
		rep.AchievedRate = float64(r.total-r.shedN) / window.Seconds()
	}
	for k, f := range r.perFn {
		if f.calls == 0 {
			continue
		}
		rep.Top = append(rep.Top, FunctionStats{Function: r.p.Functions[k], Calls: f.calls, Cold: f.cold, P50Ms: percentiles(f.latency).P50Ms})
	}
	slices.SortStableFunc(rep.Top, func(a, b FunctionStats) int { return cmp.Compare(b.Calls, a.Calls) })
	if len(rep.Top) > topN {
		rep.Top = rep.Top[:topN]
	}
	return rep
}

// percentiles sorts d in place.
func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	return Percentiles{
		Count: len(d),
		P50Ms: ms(rank(d, 50)), P90Ms: ms(rank(d, 90)), P99Ms: ms(rank(d, 99)),
		MaxMs: ms(d[len(d)-1]),
	}
}

// rank is the nearest-rank pct-th percentile of sorted: the smallest value
// with at least pct% of the values at or below it. Integer arithmetic, so
// p99 of 100 values is the 99th, never the 100th by a rounding error.
func rank(sorted []time.Duration, pct int) time.Duration {
	i := (pct*len(sorted)+99)/100 - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d functions, %s calls/s Poisson, Zipf s=%.2f, seed %d, at most %d in flight\n",
		r.Functions, num(r.Rate), r.Zipf, r.Seed, r.MaxInFlight)
	if r.Interrupted {
		b.WriteString("INTERRUPTED: the numbers cover the run until it was stopped\n")
	}
	fmt.Fprintf(&b, "\ncalls      %d: %d ok, %d function errors, %d throttled, %d shed, %d other errors\n",
		r.Total, r.OK, r.FunctionErrors, r.Throttled, r.Shed, r.OtherErrors)
	fmt.Fprintf(&b, "rate       %s/s offered, %s/s sent over %.1fs (%.1fs until the last answer)\n",
		num(r.OfferedRate), num(r.AchievedRate), r.WindowSeconds, r.ElapsedSeconds)
	fmt.Fprintf(&b, "cold       %d of %d answered calls (%.1f%%)\n\n", r.ColdStarts, r.OK+r.FunctionErrors, 100*r.ColdRatio)

	const row = "%-*s %7s %9s %9s %9s %9s\n"
	fmt.Fprintf(&b, row, 11, "latency", "calls", "p50", "p90", "p99", "max")
	for _, l := range []struct {
		name string
		p    Percentiles
	}{{"all", r.Latency.All}, {"warm", r.Latency.Warm}, {"cold", r.Latency.Cold}, {"in function", r.FunctionTime}} {
		fmt.Fprintf(&b, row, 11, l.name, strconv.Itoa(l.p.Count), dur(l.p.P50Ms), dur(l.p.P90Ms), dur(l.p.P99Ms), dur(l.p.MaxMs))
	}

	if len(r.Top) > 0 {
		w := len("function")
		for _, f := range r.Top {
			w = max(w, len(f.Function))
		}
		const top = "\n%-*s %7s %7s %9s"
		fmt.Fprintf(&b, top, w, "function", "calls", "cold", "p50")
		for _, f := range r.Top {
			fmt.Fprintf(&b, top, w, f.Function, strconv.Itoa(f.Calls), strconv.Itoa(f.Cold), dur(f.P50Ms))
		}
		b.WriteString("\n")
	}
	if len(r.ErrorSamples) > 0 {
		b.WriteString("\nother errors, first of each kind:\n")
		for _, s := range r.ErrorSamples {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// num prints a rate without needless decimals.
func num(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.1f", f)
}

// dur prints milliseconds at a precision that suits their size.
func dur(ms float64) string {
	switch {
	case ms == 0:
		return "-"
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1000)
}
