//go:build linux

package linux_test

import (
	"context"
	"testing"
)

// BenchmarkCreateStartTrivial is a cold start: Create, Start /bin/true,
// wait for Done, Close.
func BenchmarkCreateStartTrivial(b *testing.B) {
	d, _ := newDriver(b)
	spec := baseSpec(b, "/bin/true")
	ctx := context.Background()
	for b.Loop() {
		sb, err := d.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := sb.Start(ctx, spec); err != nil {
			b.Fatal(err)
		}
		<-sb.Done()
		if err := sb.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreate is the part a warming pool does ahead of time.
func BenchmarkCreate(b *testing.B) {
	d, _ := newDriver(b)
	ctx := context.Background()
	for b.Loop() {
		sb, err := d.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		sb.Close()
		b.StartTimer()
	}
}

// BenchmarkStartOnly specialises a pre-created sandbox: Start /bin/true and
// wait for Done (Create and Close are outside the timer).
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
