// Package loadgen replays an invocation pattern against a Lambda-compatible
// target and reports what it saw: outcomes, cold starts and latency.
//
// The pattern is many functions with skewed popularity: function k (0-based)
// gets a share of the total rate proportional to 1/(k+1)^s (Zipf; s = 0 is
// uniform), and each function's calls arrive as its own Poisson process
// (exponential inter-arrival times from a per-function generator seeded from
// Pattern.Seed, so a seed replays the same arrivals). The sum of the
// streams is again Poisson at the total rate.
//
// The run is open-loop: an arrival is sent at its time whether or not
// earlier calls have answered, as real traffic is. A closed loop would slow
// down exactly when the target does and hide the latency that matters.
// In-flight calls are bounded; an arrival that finds the bound reached is
// shed and counted, never queued, so a slow target cannot make the
// generator's memory grow or its arrivals drift.
//
// The target is an Invoker. LambdaInvoker is the real one (aws-sdk-go-v2,
// LogType Tail, cold when the REPORT line carries Init Duration); tests use
// fakes.
package loadgen
