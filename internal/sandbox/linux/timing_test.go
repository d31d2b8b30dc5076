//go:build linux

package linux_test

import (
	"context"
	"testing"
	"time"
)

func TestTimingPhases(t *testing.T) {
	d, _ := newDriver(t)
	spec := baseSpec(t, "/bin/true")
	ctx := context.Background()
	var tc, ts, td, tx time.Duration
	const n = 100
	for range n {
		t0 := time.Now()
		sb, err := d.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		if err := sb.Start(ctx, spec); err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		<-sb.Done()
		t3 := time.Now()
		sb.Close()
		t4 := time.Now()
		tc += t1.Sub(t0)
		ts += t2.Sub(t1)
		td += t3.Sub(t2)
		tx += t4.Sub(t3)
	}
	t.Logf("create %v start %v done %v close %v", tc/n, ts/n, td/n, tx/n)
}
