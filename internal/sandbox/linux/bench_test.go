//go:build linux

package linux_test

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCreateStartTrivial is a cold start without a warming pool:
// Create, Start /bin/true, wait for Done, Close. It also reports each
// phase in ms/op.
func BenchmarkCreateStartTrivial(b *testing.B) {
	d, _ := newDriver(b)
	spec := baseSpec(b, "/bin/true")
	ctx := context.Background()
	var create, start, done, close time.Duration
	for b.Loop() {
		t0 := time.Now()
		sb, err := d.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := sb.Start(ctx, spec); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		<-sb.Done()
		t3 := time.Now()
		if err := sb.Close(); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		create += t1.Sub(t0)
		start += t2.Sub(t1)
		done += t3.Sub(t2)
		close += t4.Sub(t3)
	}
	n := float64(b.N) * float64(time.Millisecond)
	b.ReportMetric(float64(create)/n, "create-ms/op")
	b.ReportMetric(float64(start)/n, "start-ms/op")
	b.ReportMetric(float64(done)/n, "done-ms/op")
	b.ReportMetric(float64(close)/n, "close-ms/op")
}

// BenchmarkStartOnly specialises a pre-created sandbox, as a warming pool
// would: Start /bin/true and wait for Done (Create and Close are outside
// the timer).
func BenchmarkStartOnly(b *testing.B) {
	d, _ := newDriver(b)
	spec := baseSpec(b, "/bin/true")
	ctx := context.Background()
	b.StopTimer()
	for range b.N {
		sb, err := d.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := sb.Start(ctx, spec); err != nil {
			b.Fatal(err)
		}
		<-sb.Done()
		b.StopTimer()
		sb.Close()
	}
}
