package loadgen

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

func names(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("fn-%02d", i)
	}
	return s
}

// arrivals draws the first n arrivals of p.
func arrivals(t *testing.T, p Pattern, n int) []arrival {
	t.Helper()
	p.Requests, p.Duration = n, 0
	s := newSchedule(p)
	var out []arrival
	for {
		a, ok := s.pop()
		if !ok {
			break
		}
		out = append(out, a)
	}
	if len(out) != n {
		t.Fatalf("schedule gave %d arrivals, want %d", len(out), n)
	}
	return out
}

// gaps are the inter-arrival times of the arrivals of fn (-1: all), in seconds.
func gaps(as []arrival, fn int) []float64 {
	var out []float64
	var last time.Duration
	for _, a := range as {
		if fn >= 0 && a.fn != fn {
			continue
		}
		out = append(out, (a.at - last).Seconds())
		last = a.at
	}
	return out
}

func meanCV(x []float64) (mean, cv float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss/float64(len(x))) / mean
}

func within(got, want, tol float64) bool { return math.Abs(got-want) <= tol*want }

func TestPoissonArrivals(t *testing.T) {
	p := DefaultPattern()
	p.Functions = names(10)
	p.Rate = 100
	as := arrivals(t, p, 20000)

	if !slices.IsSortedFunc(as, func(a, b arrival) int { return cmp.Compare(a.at, b.at) }) {
		t.Fatal("arrivals are not in time order")
	}
	// The merged stream is Poisson at the total rate: exponential gaps,
	// mean 1/R and coefficient of variation 1.
	mean, cv := meanCV(gaps(as, -1))
	if !within(mean, 1/p.Rate, 0.03) {
		t.Errorf("mean inter-arrival %.5fs, want %.5fs ±3%%", mean, 1/p.Rate)
	}
	if !within(cv, 1, 0.05) {
		t.Errorf("inter-arrival CV %.3f, want 1 ±5%% (exponential)", cv)
	}
	// So is each function's own stream, at its share of the rate.
	shares := p.Shares()
	for _, fn := range []int{0, 1} {
		mean, cv := meanCV(gaps(as, fn))
		want := 1 / (p.Rate * shares[fn])
		if !within(mean, want, 0.05) || !within(cv, 1, 0.05) {
			t.Errorf("function %d: mean gap %.5fs (want %.5fs ±5%%), CV %.3f (want 1 ±5%%)", fn, mean, want, cv)
		}
	}
}

func TestArrivalsAreSeeded(t *testing.T) {
	p := DefaultPattern()
	p.Functions = names(5)
	a, b := arrivals(t, p, 500), arrivals(t, p, 500)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different arrivals")
	}
	p.Seed = 2
	if c := arrivals(t, p, 500); slices.Equal(a, c) {
		t.Error("seeds 1 and 2 gave the same arrivals")
	}
}

func TestZipfShares(t *testing.T) {
	for _, tc := range []struct {
		s       float64
		n       int
		uniform bool
	}{{0, 8, true}, {0.8, 8, false}, {1.1, 10, false}, {2, 5, false}} {
		t.Run(fmt.Sprint(tc.s), func(t *testing.T) {
			p := DefaultPattern()
			p.Functions, p.Zipf = names(tc.n), tc.s
			shares := p.Shares()
			var sum float64
			for k, w := range shares {
				sum += w
				if tc.uniform && !within(w, 1/float64(tc.n), 1e-12) {
					t.Errorf("share %d = %v, want %v", k, w, 1/float64(tc.n))
				}
				if !tc.uniform && k > 0 && !(w < shares[k-1]) {
					t.Errorf("share %d = %v is not below share %d = %v", k, w, k-1, shares[k-1])
				}
			}
			if !within(sum, 1, 1e-12) {
				t.Errorf("shares sum to %v", sum)
			}
			if tc.uniform {
				return
			}
			// The arrivals follow the shares: counts in the same order,
			// function 0 first, each within 4 standard deviations.
			const n = 20000
			counts := make([]int, tc.n)
			for _, a := range arrivals(t, p, n) {
				counts[a.fn]++
			}
			for k, c := range counts {
				want := n * shares[k]
				if math.Abs(float64(c)-want) > 4*math.Sqrt(want) {
					t.Errorf("function %d: %d arrivals, want about %.0f", k, c, want)
				}
				if k > 0 && c >= counts[k-1] {
					t.Errorf("function %d got %d arrivals, not fewer than function %d's %d", k, c, k-1, counts[k-1])
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultPattern()
	ok.Functions = names(3)
	if err := ok.Validate(); err != nil {
		t.Fatalf("default pattern: %v", err)
	}
	for name, change := range map[string]func(*Pattern){
		"no functions":    func(p *Pattern) { p.Functions = nil },
		"zero rate":       func(p *Pattern) { p.Rate = 0 },
		"NaN rate":        func(p *Pattern) { p.Rate = math.NaN() },
		"negative zipf":   func(p *Pattern) { p.Zipf = -1 },
		"no end":          func(p *Pattern) { p.Duration, p.Requests = 0, 0 },
		"negative count":  func(p *Pattern) { p.Requests = -1 },
		"no in-flight":    func(p *Pattern) { p.MaxInFlight = 0 },
		"infinite rate":   func(p *Pattern) { p.Rate = math.Inf(1) },
		"negative length": func(p *Pattern) { p.Duration = -time.Second },
	} {
		p := ok
		change(&p)
		if err := p.Validate(); !errors.Is(err, ErrInvalidPattern) {
			t.Errorf("%s: Validate = %v, want ErrInvalidPattern", name, err)
		}
	}
}
