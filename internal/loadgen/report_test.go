package loadgen

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func millis(ms ...int) []time.Duration {
	d := make([]time.Duration, len(ms))
	for i, m := range ms {
		d[i] = time.Duration(m) * time.Millisecond
	}
	return d
}

func TestPercentiles(t *testing.T) {
	one100 := make([]int, 100)
	for i := range one100 {
		one100[i] = 100 - i // unsorted on purpose
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want Percentiles
	}{
		{"none", nil, Percentiles{}},
		{"one", millis(7), Percentiles{1, 7, 7, 7, 7}},
		{"two", millis(20, 10), Percentiles{2, 10, 20, 20, 20}},
		{"1 to 100", millis(one100...), Percentiles{100, 50, 90, 99, 100}},
		{"1 to 10", millis(3, 1, 4, 10, 5, 9, 2, 6, 8, 7), Percentiles{10, 5, 9, 10, 10}},
		{"one outlier in 200", append(millis(make([]int, 199)...), time.Second), Percentiles{200, 0, 0, 0, 1000}},
		{"sub-millisecond", []time.Duration{1500 * time.Microsecond}, Percentiles{1, 1.5, 1.5, 1.5, 1.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentiles(tc.in); got != tc.want {
				t.Errorf("percentiles = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTopIsTheBusiestTen(t *testing.T) {
	p := DefaultPattern()
	p.Functions = names(12)
	rec := newRecorder(p)
	for k := range 12 {
		for range k + 1 { // function k gets k+1 calls
			rec.done(k, time.Duration(k+1)*time.Millisecond, Result{}, nil)
		}
	}
	rep := rec.report(time.Second, time.Second, false)
	if len(rep.Top) != 10 || rep.Top[0].Function != "fn-11" || rep.Top[0].Calls != 12 || rep.Top[9].Function != "fn-02" {
		t.Fatalf("top = %+v, want fn-11 (12 calls) down to fn-02", rep.Top)
	}
	if rep.Top[0].P50Ms != 12 {
		t.Errorf("fn-11 p50 = %v, want 12", rep.Top[0].P50Ms)
	}
}

// TestWriteText compares the people's report with testdata/report.txt;
// -update rewrites it.
func TestWriteText(t *testing.T) {
	rep := &Report{
		Functions: 20, Rate: 50, Zipf: 1.1, Seed: 1, MaxInFlight: 256,
		Total: 1003, OK: 985, FunctionErrors: 2, Throttled: 10, Shed: 4, OtherErrors: 2,
		ColdStarts: 20, ColdRatio: 20.0 / 987,
		WindowSeconds: 20, ElapsedSeconds: 20.31, OfferedRate: 50.15, AchievedRate: 49.95,
		Latency: Latency{
			All:  Percentiles{987, 3.21, 5.5, 140.2, 310},
			Warm: Percentiles{967, 3.1, 4.9, 12.4, 40.5},
			Cold: Percentiles{20, 150.3, 230, 310, 310},
		},
		FunctionTime: Percentiles{987, 0.42, 0.9, 2.5, 11},
		Top: []FunctionStats{
			{"bench-00", 376, 1, 3.05},
			{"bench-01", 170, 1, 3.2},
			{"bench-02", 101, 2, 3.3},
		},
		ErrorSamples: []string{"ServiceException: sandbox start failed"},
	}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.txt")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("WriteText:\n%s\nwant (%s):\n%s", b.Bytes(), golden, want)
	}
}
