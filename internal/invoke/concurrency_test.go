package invoke

import (
	"context"
	"sync"
	"testing"

	"github.com/ember-run/ember/internal/catalog"
)

// The account's sum of reservations is read once and then only after a
// change that may move it: a reservation counts at once, and an unchanged
// account costs no store reads (each one a JetStream consumer).
func TestReservedTotalFollowsChanges(t *testing.T) {
	ctx := context.Background()
	_, cat := newCatalog(t, t.TempDir(), 100)
	for _, name := range []string{"a", "b"} {
		if _, _, err := cat.Create(ctx, acct, catalog.CreateInput{Name: name, Zip: zipOf(t, "bootstrap", shellRuntime),
			Config: catalog.Config{Runtime: "provided.al2023", Role: "arn:aws:iam::123456789012:role/r"}}); err != nil {
			t.Fatal(err)
		}
	}
	l := newLimiter(cat)
	if n := l.reservedTotal(ctx, acct); n != 0 {
		t.Fatalf("reserved %d, want 0", n)
	}
	first := l.reserved[acct].read
	// Concurrent callers of an unchanged account share the sum read.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if n := l.reservedTotal(ctx, acct); n != 0 {
				t.Errorf("reserved %d, want 0", n)
			}
		})
	}
	wg.Wait()
	if l.reserved[acct].read != first {
		t.Fatal("the sum was read again without a change")
	}
	// A configuration change leaves the sum alone (a cold-start benchmark
	// changes one before every call).
	desc := "changed"
	for _, name := range []string{"a", "b"} {
		if _, err := cat.Get(ctx, acct, name); err != nil { // cached, as an invocation would have it
			t.Fatal(err)
		}
	}
	l.reservedTotal(ctx, acct)
	first = l.reserved[acct].read
	if _, err := cat.UpdateConfig(ctx, acct, "a", catalog.ConfigPatch{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	if l.reservedTotal(ctx, acct); l.reserved[acct].read != first {
		t.Fatal("a configuration change made the sum be read again")
	}
	four := 4
	if _, err := cat.PutConcurrency(ctx, acct, "b", &four); err != nil {
		t.Fatal(err)
	}
	if n := l.reservedTotal(ctx, acct); n != 4 {
		t.Fatalf("after a reservation: %d, want 4", n)
	}
	if err := cat.Delete(ctx, acct, "b", ""); err != nil {
		t.Fatal(err)
	}
	if n := l.reservedTotal(ctx, acct); n != 0 {
		t.Fatalf("after deleting the reserved function: %d, want 0", n)
	}
}
