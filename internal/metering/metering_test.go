package metering_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/metering"
	"github.com/ember-run/ember/internal/store"
)

const (
	acctA = "111111111111" // owns "resize" and publishes an API over it
	acctB = "222222222222" // calls A's code through its own alias and A's API
	acctC = "333333333333"
)

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newMeter(t testing.TB, st *store.Store, opts metering.Options) *metering.Meter {
	t.Helper()
	m, err := metering.New(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// setup opens a store and a meter, both closed at the end of the test.
func setup(t testing.TB, opts metering.Options) *metering.Meter {
	t.Helper()
	st := openStore(t, t.TempDir())
	m := newMeter(t, st, opts)
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	return m
}

func flush(t testing.TB, m *metering.Meter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func usage(t testing.TB, m *metering.Meter, q metering.Query) map[string]metering.Row {
	t.Helper()
	rows, err := m.Usage(context.Background(), q)
	if err != nil {
		t.Fatalf("usage %+v: %v", q, err)
	}
	return byKey(t, rows)
}

func byKey(t testing.TB, rows []metering.Row) map[string]metering.Row {
	t.Helper()
	out := map[string]metering.Row{}
	for i, r := range rows {
		if i > 0 && rows[i-1].Key >= r.Key {
			t.Fatalf("rows not sorted by key: %q before %q", rows[i-1].Key, r.Key)
		}
		out[r.Key] = r
	}
	return out
}

func keys(rows map[string]metering.Row) []string {
	var ks []string
	for k := range rows {
		ks = append(ks, k)
	}
	return ks
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

func TestBilling(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		mem    int
		billed int64
		gbs    float64
	}{
		{0, 128, 0, 0},
		{time.Nanosecond, 128, 1, 0.000125},
		{time.Millisecond, 128, 1, 0.000125},
		{1200 * time.Microsecond, 128, 2, 0.00025},
		{time.Millisecond + time.Nanosecond, 128, 2, 0.00025},
		{time.Second, 1024, 1000, 1},
		{15 * time.Minute, 10240, 900_000, 9000},
	} {
		billed := metering.Billed(tc.d)
		gbs := metering.GBSeconds(tc.mem, billed)
		if billed != tc.billed || !near(gbs, tc.gbs) {
			t.Errorf("%v at %d MB: billed %d ms, %g GB-s; want %d ms, %g GB-s", tc.d, tc.mem, billed, gbs, tc.billed, tc.gbs)
		}
	}
}

// traffic is one day's calls across three accounts.
func traffic(m *metering.Meter, at time.Time) {
	rec := func(r metering.Record) {
		r.Time = at
		m.Record(r)
	}
	// A calls its own function, directly and through its own alias.
	rec(metering.Record{RequestID: "a1", Payer: acctA, Owner: acctA, Function: "resize", Version: "3", Duration: 1200 * time.Microsecond, MemoryMB: 128, Cold: true})
	rec(metering.Record{RequestID: "a2", Payer: acctA, Owner: acctA, Function: "resize", Version: "3", Alias: "live", Duration: time.Millisecond, MemoryMB: 128, Outcome: metering.FunctionError})
	// B calls A's function through B's cross-account alias "thumbs".
	rec(metering.Record{RequestID: "b1", Payer: acctB, Owner: acctA, Function: "resize", Version: "3", Alias: "thumbs", Duration: 10 * time.Millisecond, MemoryMB: 256, Cold: true})
	rec(metering.Record{RequestID: "b2", Payer: acctB, Owner: acctA, Function: "resize", Version: "3", Alias: "thumbs", Duration: 3 * time.Second, MemoryMB: 256, Outcome: metering.Timeout})
	// B calls A's published API, then is throttled on it.
	rec(metering.Record{RequestID: "b3", Payer: acctB, Owner: acctA, Function: "resize", Version: "3", API: "a1b2c3/GET /thumb/{id}", Duration: 5 * time.Millisecond, MemoryMB: 128})
	rec(metering.Record{RequestID: "b4", Payer: acctB, Owner: acctA, Function: "resize", API: "a1b2c3/GET /thumb/{id}", Outcome: metering.Throttled})
	// B calls its own function.
	rec(metering.Record{RequestID: "b5", Payer: acctB, Owner: acctB, Function: "index", Version: "$LATEST", Duration: 100 * time.Millisecond, MemoryMB: 512})
	// C calls A's function directly by ARN (granted by a resource policy).
	rec(metering.Record{RequestID: "c1", Payer: acctC, Owner: acctA, Function: "resize", Version: "3", Duration: 2 * time.Millisecond, MemoryMB: 128, Outcome: metering.Failed})
}

func TestPayerView(t *testing.T) {
	m := setup(t, metering.Options{})
	traffic(m, time.Now())
	flush(t, m)

	total := usage(t, m, metering.Query{Account: acctB})
	want := metering.Row{Invocations: 4, Errors: 1, Throttles: 1, Cold: 1,
		Duration: 3115 * time.Millisecond, BilledMs: 3115, GBSeconds: (256*3010 + 128*5 + 512*100) / 1024000.0}
	if got := total[""]; got.Invocations != want.Invocations || got.Errors != want.Errors || got.Throttles != want.Throttles ||
		got.Cold != want.Cold || got.Duration != want.Duration || got.BilledMs != want.BilledMs || !near(got.GBSeconds, want.GBSeconds) || len(total) != 1 {
		t.Errorf("B's total %+v, want %+v", total, want)
	}

	for _, tc := range []struct {
		by   string
		want map[string]int64 // key → invocations + throttles
	}{
		{metering.ByFunction, map[string]int64{"thumbs": 2, "a1b2c3/GET /thumb/{id}": 2, "index": 1}},
		{metering.ByAlias, map[string]int64{"thumbs": 2, "": 3}},
		{metering.ByAPI, map[string]int64{"a1b2c3/GET /thumb/{id}": 2, "": 3}},
		{metering.ByOwner, map[string]int64{acctA: 4, acctB: 1}},
		{metering.ByPayer, map[string]int64{acctB: 5}},
	} {
		rows := usage(t, m, metering.Query{Account: acctB, By: tc.by})
		if len(rows) != len(tc.want) {
			t.Errorf("B by %q: keys %q, want %v", tc.by, keys(rows), tc.want)
		}
		for k, n := range tc.want {
			if r := rows[k]; r.Invocations+r.Throttles != n {
				t.Errorf("B by %q: %q has %+v, want %d calls", tc.by, k, r, n)
			}
		}
	}

	// A's own calls, by function and by alias; C's direct call by ARN.
	a := usage(t, m, metering.Query{Account: acctA, By: metering.ByFunction})
	if r := a["resize"]; len(a) != 1 || r.Invocations != 2 || r.Errors != 1 || r.Cold != 1 || r.BilledMs != 3 || !near(r.GBSeconds, 128*3/1024000.0) {
		t.Errorf("A by function: %+v", a)
	}
	if a := usage(t, m, metering.Query{Account: acctA, By: metering.ByAlias}); a["live"].Invocations != 1 || a[""].Invocations != 1 {
		t.Errorf("A by alias: %+v", a)
	}
	if c := usage(t, m, metering.Query{Account: acctC, By: metering.ByFunction}); c[acctA+":resize"].Errors != 1 || len(c) != 1 {
		t.Errorf("C by function: %+v", c)
	}
}

func TestOwnerView(t *testing.T) {
	m := setup(t, metering.Options{})
	traffic(m, time.Now())
	flush(t, m)

	// Only other accounts' use of A's code, aggregated per function.
	for _, by := range []string{metering.ByTotal, metering.ByFunction} {
		rows, err := m.Usage(context.Background(), metering.Query{Account: acctA, Role: metering.Owner, By: by})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Fatalf("A as owner by %q: %+v", by, rows)
		}
		r := rows[0]
		if key := map[string]string{"": "", "function": "resize"}[by]; r.Key != key {
			t.Errorf("A as owner by %q: key %q", by, r.Key)
		}
		if r.Invocations != 4 || r.Errors != 2 || r.Throttles != 1 || r.Cold != 1 || r.BilledMs != 3017 {
			t.Errorf("A as owner by %q: %+v", by, r)
		}
		for _, secret := range []string{acctB, acctC, "thumbs", "a1b2c3", "b1"} {
			if strings.Contains(fmt.Sprintf("%+v", rows), secret) {
				t.Errorf("owner view shows %q: %+v", secret, rows)
			}
		}
	}
	for _, by := range []string{metering.ByAlias, metering.ByAPI, metering.ByPayer, metering.ByOwner, "requestId"} {
		if _, err := m.Usage(context.Background(), metering.Query{Account: acctA, Role: metering.Owner, By: by}); !errors.Is(err, metering.ErrInvalid) {
			t.Errorf("owner by %q: err %v, want ErrInvalid", by, err)
		}
	}
	// B owns only "index", which nobody else called.
	if rows := usage(t, m, metering.Query{Account: acctB, Role: metering.Owner, By: metering.ByFunction}); len(rows) != 0 {
		t.Errorf("B as owner: %+v", rows)
	}
}

func TestAll(t *testing.T) {
	m := setup(t, metering.Options{})
	traffic(m, time.Now())
	flush(t, m)
	for _, tc := range []struct {
		by   string
		want map[string]int64
	}{
		{metering.ByTotal, map[string]int64{"": 8}},
		{metering.ByPayer, map[string]int64{acctA: 2, acctB: 5, acctC: 1}},
		{metering.ByOwner, map[string]int64{acctA: 7, acctB: 1}},
		{metering.ByFunction, map[string]int64{acctA + ":resize": 7, acctB + ":index": 1}},
		{metering.ByAlias, map[string]int64{acctA + ":live": 1, acctB + ":thumbs": 2, "": 5}},
	} {
		rows, err := m.All(context.Background(), metering.Query{By: tc.by})
		if err != nil {
			t.Fatal(err)
		}
		got := byKey(t, rows)
		if len(got) != len(tc.want) {
			t.Errorf("all by %q: keys %q", tc.by, keys(got))
		}
		for k, n := range tc.want {
			if r := got[k]; r.Invocations+r.Throttles != n {
				t.Errorf("all by %q: %q has %+v, want %d", tc.by, k, r, n)
			}
		}
	}
}

func TestWindow(t *testing.T) {
	m := setup(t, metering.Options{})
	now := time.Now()
	for h := range 5 { // records 4h, 3h, 2h, 1h and 0h ago
		m.Record(metering.Record{Time: now.Add(-time.Duration(4-h) * time.Hour), Payer: acctA, Owner: acctA, Function: "f", Duration: time.Millisecond, MemoryMB: 128})
	}
	flush(t, m)
	for _, tc := range []struct {
		name         string
		since, until time.Time
		want         int64
	}{
		{"all", time.Time{}, time.Time{}, 5},
		{"since", now.Add(-150 * time.Minute), time.Time{}, 3},
		{"until", time.Time{}, now.Add(-2 * time.Hour), 2}, // exclusive
		{"both", now.Add(-3 * time.Hour), now.Add(-time.Hour), 2},
		{"future", now.Add(time.Minute), time.Time{}, 0},
		{"empty", now.Add(-time.Hour), now.Add(-time.Hour), 0},
	} {
		rows := usage(t, m, metering.Query{Account: acctA, Since: tc.since, Until: tc.until})
		if got := rows[""].Invocations; got != tc.want {
			t.Errorf("%s: %d invocations, want %d", tc.name, got, tc.want)
		}
	}
	if _, err := m.Usage(context.Background(), metering.Query{Account: acctA, Since: now, Until: now.Add(-time.Second)}); !errors.Is(err, metering.ErrInvalid) {
		t.Errorf("until before since: %v", err)
	}
}

func TestQueryValidation(t *testing.T) {
	m := setup(t, metering.Options{})
	for _, q := range []metering.Query{
		{},
		{Account: "111.222"},
		{Account: "usage.>"},
		{Account: acctA, By: "color"},
		{Account: acctA, Role: metering.Role(7)},
	} {
		if _, err := m.Usage(context.Background(), q); !errors.Is(err, metering.ErrInvalid) {
			t.Errorf("%+v: err %v, want ErrInvalid", q, err)
		}
	}
	if _, err := m.All(context.Background(), metering.Query{By: "requestId"}); !errors.Is(err, metering.ErrInvalid) {
		t.Errorf("all by requestId: %v", err)
	}
	if err := (metering.Options{MaxPending: -1}).Validate(); err == nil {
		t.Error("negative MaxPending accepted")
	}
}

func TestRestartPersistence(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	m := newMeter(t, st, metering.Options{})
	traffic(m, time.Now())
	// Close alone must store what is buffered.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	m.Record(metering.Record{Payer: acctA, Owner: acctA, Function: "late"})
	if s := m.Stats(); s.Recorded != 8 || s.Dropped != 1 {
		t.Errorf("stats after close: %+v", s)
	}
	st.Close()

	st = openStore(t, dir)
	defer st.Close()
	m = newMeter(t, st, metering.Options{})
	defer m.Close()
	rows, err := m.All(context.Background(), metering.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Invocations != 7 || rows[0].Throttles != 1 {
		t.Fatalf("after restart: %+v", rows)
	}
}

func TestOverflowDropsAndNeverBlocks(t *testing.T) {
	m := setup(t, metering.Options{MaxPending: 4, FlushInterval: time.Hour})
	m.SetKickAt(math.MaxInt) // nothing drains the buffer until Flush
	start := time.Now()
	for range 100_000 {
		m.Record(metering.Record{Payer: acctA, Owner: acctA, Function: "f", Duration: time.Millisecond, MemoryMB: 128})
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("100000 records into a full buffer took %v", d)
	}
	if s := m.Stats(); s.Recorded != 4 || s.Dropped != 99_996 || s.Lost != 0 {
		t.Errorf("stats %+v", s)
	}
	flush(t, m)
	m.Record(metering.Record{Payer: acctA, Owner: acctA, Function: "f"})
	flush(t, m)
	if rows := usage(t, m, metering.Query{Account: acctA}); rows[""].Invocations != 5 {
		t.Errorf("stored %+v, want 5 invocations", rows)
	}
}

func TestInvalidAccountsDropped(t *testing.T) {
	m := setup(t, metering.Options{})
	m.Record(metering.Record{Payer: "1.2", Owner: acctA, Function: "f"})
	m.Record(metering.Record{Payer: acctA, Owner: "", Function: "f"})
	m.Record(metering.Record{Payer: acctA, Owner: acctA, Function: "f"})
	flush(t, m)
	if s := m.Stats(); s.Recorded != 3 || s.Dropped != 2 {
		t.Errorf("stats %+v", s)
	}
	if rows := usage(t, m, metering.Query{Account: acctA}); rows[""].Invocations != 1 {
		t.Errorf("stored %+v", rows)
	}
}

func TestLargeBatchesSplit(t *testing.T) {
	m := setup(t, metering.Options{FlushInterval: time.Hour})
	m.SetKickAt(math.MaxInt)
	route := "a1b2c3/GET /" + strings.Repeat("x", 1000) // ~1 KB a record: several messages
	const n = 2000
	for i := range n {
		m.Record(metering.Record{RequestID: fmt.Sprint(i), Payer: acctB, Owner: acctA, Function: "resize", API: route, Duration: time.Millisecond, MemoryMB: 128})
	}
	flush(t, m)
	rows := usage(t, m, metering.Query{Account: acctB, By: metering.ByAPI})
	if r := rows[route]; r.Invocations != n || r.BilledMs != n || !near(r.GBSeconds, n*0.000125) {
		t.Errorf("got %+v", rows[route])
	}
}

// TestHammer records from many goroutines while flushes and queries run.
func TestHammer(t *testing.T) {
	m := setup(t, metering.Options{FlushInterval: 5 * time.Millisecond})
	const workers, each = 8, 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m.Record(metering.Record{Payer: acctB, Owner: []string{acctA, acctB}[w%2], Function: "f", Duration: time.Duration(i) * time.Microsecond, MemoryMB: 128})
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			if err := m.Flush(context.Background()); err != nil {
				t.Error(err)
			}
			if _, err := m.Usage(context.Background(), metering.Query{Account: acctB}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	flush(t, m)
	s := m.Stats()
	rows := usage(t, m, metering.Query{Account: acctB, By: metering.ByOwner})
	if got := rows[acctA].Invocations + rows[acctB].Invocations; uint64(got) != s.Recorded || s.Recorded+s.Dropped != workers*each || s.Lost != 0 {
		t.Errorf("stored %d, stats %+v", got, s)
	}
}

// TestStoreGone: records that cannot be stored are reported, not hidden.
func TestStoreGone(t *testing.T) {
	st := openStore(t, t.TempDir())
	m := newMeter(t, st, metering.Options{FlushInterval: time.Hour})
	st.Close()
	m.Record(metering.Record{Payer: acctA, Owner: acctA, Function: "f"})
	if err := m.Flush(context.Background()); !errors.Is(err, metering.ErrNotSaved) {
		t.Errorf("flush: %v, want ErrNotSaved", err)
	}
	if err := m.Close(); !errors.Is(err, metering.ErrNotSaved) {
		t.Errorf("close: %v, want ErrNotSaved", err)
	}
	if s := m.Stats(); s.Lost != 1 {
		t.Errorf("stats %+v", s)
	}
}

var benchRecord = metering.Record{Time: time.Now(), RequestID: "0f8fad5b-d9cb-469f-a165-70867728950e", Payer: acctB, Owner: acctA,
	Function: "resize", Version: "3", Alias: "thumbs", Duration: 12 * time.Millisecond, MemoryMB: 256}

// BenchmarkRecord is the invocation path's cost: an accepted record, the
// flusher kept out of the measurement.
func BenchmarkRecord(b *testing.B) {
	const batch = 1 << 14
	m := setup(b, metering.Options{MaxPending: batch, FlushInterval: time.Hour})
	m.SetKickAt(math.MaxInt)
	b.ReportAllocs()
	for i := range b.N {
		if i%batch == batch-1 {
			b.StopTimer()
			flush(b, m)
			b.StartTimer()
		}
		m.Record(benchRecord)
	}
	if d := m.Stats().Dropped; d != 0 {
		b.Fatalf("%d dropped", d)
	}
}

// BenchmarkRecordParallel is Record saturated from every core with the
// flusher running: far faster than it can store, so most records take the
// drop path (drops/op). It shows that a full buffer costs no more than an
// append and never blocks.
func BenchmarkRecordParallel(b *testing.B) {
	m := setup(b, metering.Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Record(benchRecord)
		}
	})
	b.ReportMetric(float64(m.Stats().Dropped)/float64(b.N), "drops/op")
}

// BenchmarkRecordStored is the whole cost of a record, encoding and
// publishing included: the sustainable rate on one core.
func BenchmarkRecordStored(b *testing.B) {
	const batch = 1 << 14
	m := setup(b, metering.Options{MaxPending: batch, FlushInterval: time.Hour})
	m.SetKickAt(math.MaxInt)
	b.ReportAllocs()
	for i := range b.N {
		if i%batch == batch-1 {
			flush(b, m)
		}
		m.Record(benchRecord)
	}
	flush(b, m)
}

func BenchmarkUsage(b *testing.B) {
	m := setup(b, metering.Options{})
	for i := range 100_000 {
		m.Record(metering.Record{Payer: acctB, Owner: acctA, Function: "resize", Alias: "thumbs", RequestID: fmt.Sprint(i), Duration: time.Millisecond, MemoryMB: 128})
		if i%10_000 == 0 {
			flush(b, m)
		}
	}
	flush(b, m)
	b.ResetTimer()
	for range b.N {
		rows, err := m.Usage(context.Background(), metering.Query{Account: acctB, By: metering.ByFunction})
		if err != nil || len(rows) != 1 || rows[0].Invocations != 100_000 {
			b.Fatal(rows, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/record")
}
