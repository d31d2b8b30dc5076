package loadgen

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeInvoker answers after a fixed latency (longer for a function's first
// call, which it reports cold) and tracks how many calls overlap. Runs use
// it inside a synctest bubble, so its sleeps take no real time and the
// latencies Run measures are exact.
type fakeInvoker struct {
	warm, cold time.Duration
	answer     func(function string) (Result, error) // nil: plain success

	mu                sync.Mutex
	seen              map[string]bool
	inFlight, most, n int
}

func (f *fakeInvoker) Invoke(ctx context.Context, function string, payload []byte) (Result, error) {
	f.mu.Lock()
	first := !f.seen[function]
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	f.seen[function] = true
	f.inFlight++
	f.n++
	f.most = max(f.most, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()

	var res Result
	var err error
	if f.answer != nil {
		res, err = f.answer(function)
	}
	if err != nil || res.Throttled {
		return res, err
	}
	d := f.warm
	if first {
		d, res.Cold = f.cold, true
	}
	select {
	case <-time.After(d):
		res.Duration = d / 2
		return res, nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

func run(t *testing.T, inv Invoker, p Pattern) *Report {
	t.Helper()
	rep, err := Run(context.Background(), inv, p)
	if err != nil {
		t.Fatal(err)
	}
	if sum := rep.OK + rep.FunctionErrors + rep.Throttled + rep.Shed + rep.OtherErrors; sum != rep.Total {
		t.Errorf("outcomes sum to %d, total is %d: %+v", sum, rep.Total, rep)
	}
	return rep
}

func TestRunIsOpenLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Calls take 2 s and arrive every 20 ms on average: a closed loop
		// would need 200 s for 100 of them.
		f := &fakeInvoker{warm: 2 * time.Second, cold: 2 * time.Second}
		p := DefaultPattern()
		p.Functions, p.Rate, p.Requests, p.Duration = names(3), 50, 100, 0
		rep := run(t, f, p)
		if rep.Total != 100 || rep.OK != 100 {
			t.Fatalf("total %d, ok %d; want 100, 100", rep.Total, rep.OK)
		}
		if tail := rep.ElapsedSeconds - rep.WindowSeconds; math.Abs(tail-2) > 1e-6 {
			t.Errorf("the last answer came %vs after the last arrival, want exactly the 2s call", tail)
		}
		if rep.WindowSeconds > 3 {
			t.Errorf("arrivals took %vs, want about 2s (100 at 50/s)", rep.WindowSeconds)
		}
		if f.most < 50 {
			t.Errorf("at most %d calls overlapped; an open loop overlaps about 100", f.most)
		}
	})
}

func TestRunShedsAtTheBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeInvoker{warm: time.Second, cold: time.Second}
		p := DefaultPattern()
		p.Functions, p.Rate, p.Duration, p.MaxInFlight = names(1), 100, 2*time.Second, 10
		rep := run(t, f, p)
		if f.most != 10 {
			t.Errorf("%d calls overlapped, want the bound, 10", f.most)
		}
		if rep.Shed < 150 || rep.OK+rep.Shed != rep.Total || rep.OK != f.n {
			t.Errorf("total %d, ok %d, shed %d, calls made %d: want about 200 arrivals, ~30 sent, the rest shed", rep.Total, rep.OK, rep.Shed, f.n)
		}
		// Shed, not queued: 200 calls queued behind 10 slots would
		// take 20 s. The run ends 1 s after its 2 s window at most.
		if rep.WindowSeconds != 2 || rep.ElapsedSeconds > 3 {
			t.Errorf("window %vs, elapsed %vs; want 2s and at most 3s", rep.WindowSeconds, rep.ElapsedSeconds)
		}
		if rep.AchievedRate >= rep.OfferedRate {
			t.Errorf("achieved %v/s, offered %v/s: shed calls were not sent", rep.AchievedRate, rep.OfferedRate)
		}
	})
}

func TestRunCountsOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		f := &fakeInvoker{warm: 10 * time.Millisecond, cold: 300 * time.Millisecond,
			answer: func(fn string) (Result, error) {
				switch fn {
				case "fails":
					return Result{FunctionError: "Unhandled"}, nil
				case "throttled":
					return Result{Throttled: true}, nil
				case "broken":
					return Result{}, boom
				}
				return Result{}, nil
			}}
		p := DefaultPattern()
		p.Functions = []string{"fine", "fails", "throttled", "broken"}
		p.Zipf, p.Rate, p.Requests, p.Duration = 0, 40, 400, 0
		rep := run(t, f, p)

		calls := map[string]int{}
		for _, fs := range rep.Top {
			calls[fs.Function] = fs.Calls
		}
		if rep.Total != 400 || rep.OK != calls["fine"] || rep.FunctionErrors != calls["fails"] ||
			rep.Throttled != calls["throttled"] || rep.OtherErrors != calls["broken"] || rep.Shed != 0 {
			t.Errorf("report %+v does not match the calls per function %v", rep, calls)
		}
		// Each answered function's first call is its cold start.
		if rep.ColdStarts != 2 || rep.Latency.Cold.Count != 2 {
			t.Errorf("cold starts %d (latency count %d), want 2", rep.ColdStarts, rep.Latency.Cold.Count)
		}
		answered := rep.OK + rep.FunctionErrors
		if rep.Latency.All.Count != answered || rep.Latency.Warm.Count != answered-2 {
			t.Errorf("latency counts all %d, warm %d; want %d, %d (throttles and errors have none)",
				rep.Latency.All.Count, rep.Latency.Warm.Count, answered, answered-2)
		}
		if want := 2 / float64(answered); rep.ColdRatio != want {
			t.Errorf("cold ratio %v, want %v", rep.ColdRatio, want)
		}
		if l := rep.Latency; l.Cold.P50Ms != 300 || l.Cold.MaxMs != 300 || l.Warm.P50Ms != 10 || l.Warm.P99Ms != 10 || l.All.MaxMs != 300 {
			t.Errorf("latency %+v: want cold 300ms, warm 10ms", l)
		}
		if rep.FunctionTime.P50Ms != 5 {
			t.Errorf("function time p50 %vms, want the reported 5ms", rep.FunctionTime.P50Ms)
		}
		if len(rep.ErrorSamples) != 1 || rep.ErrorSamples[0] != "boom" {
			t.Errorf("error samples %q, want one \"boom\"", rep.ErrorSamples)
		}
	})
}

func TestRunStopsWhenCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeInvoker{warm: time.Hour, cold: time.Hour}
		p := DefaultPattern()
		p.Functions, p.Duration, p.MaxInFlight = names(2), time.Hour, 10000
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Second, cancel)
		rep, err := Run(ctx, f, p)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Interrupted || rep.ElapsedSeconds != 10 {
			t.Errorf("interrupted %v after %vs; want true after 10s", rep.Interrupted, rep.ElapsedSeconds)
		}
		if rep.OtherErrors != rep.Total || rep.Total == 0 {
			t.Errorf("total %d, other errors %d: want every call in flight cancelled", rep.Total, rep.OtherErrors)
		}
	})
}

func TestRunRejectsAnInvalidPattern(t *testing.T) {
	if _, err := Run(context.Background(), &fakeInvoker{}, Pattern{}); !errors.Is(err, ErrInvalidPattern) {
		t.Errorf("Run with an empty pattern: %v, want ErrInvalidPattern", err)
	}
}
