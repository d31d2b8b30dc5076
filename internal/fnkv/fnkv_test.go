package fnkv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/store"
)

const acct = "111111111111"

func open(t *testing.T) (*Store, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func TestValidKey(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want bool
	}{
		{"a", true},
		{"users/42/profile", true},
		{"with space", true},
		{"ünïcödé/日本", true},
		{"*", true},
		{">", true},
		{"a.b..c", true},
		{"../etc/passwd", true}, // just bytes here
		{strings.Repeat("k", MaxKeyBytes), true},
		{strings.Repeat("é", MaxKeyBytes/2), true},
		{"", false},
		{strings.Repeat("k", MaxKeyBytes+1), false},
		{"tab\there", false},
		{"new\nline", false},
		{"nul\x00", false},
		{"\xff\xfe", false},        // not UTF-8
		{"zero\u200bwidth", false}, // format character
		{"nbsp\u00a0space", false}, // only ASCII space is printable space
		{"del\x7f", false},
	} {
		if got := ValidKey(tt.key); got != tt.want {
			t.Errorf("ValidKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestGetPutDeleteAndConditions(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	if _, err := s.Get(ctx, acct, "f", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	r1, err := s.Put(ctx, acct, "f", "k", []byte("v1"), Condition{})
	if err != nil {
		t.Fatal(err)
	}
	it, err := s.Get(ctx, acct, "f", "k")
	if err != nil || string(it.Value) != "v1" || it.Revision != r1 || it.Key != "k" || it.Modified.IsZero() {
		t.Fatalf("Get: %+v %v", it, err)
	}
	// Create-only.
	if _, err := s.Put(ctx, acct, "f", "k", []byte("x"), Condition{Absent: true}); !errors.Is(err, ErrConflict) {
		t.Fatalf("create-only on an existing key: %v", err)
	}
	// Compare-and-set.
	r2, err := s.Put(ctx, acct, "f", "k", []byte("v2"), Condition{Revision: r1})
	if err != nil || r2 <= r1 {
		t.Fatalf("CAS put: %d %v", r2, err)
	}
	if _, err := s.Put(ctx, acct, "f", "k", []byte("v3"), Condition{Revision: r1}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale CAS put: %v", err)
	}
	if _, err := s.Put(ctx, acct, "f", "nope", []byte("v"), Condition{Revision: r1}); !errors.Is(err, ErrConflict) {
		t.Fatalf("CAS put of a missing key: %v", err)
	}
	if _, err := s.Put(ctx, acct, "f", "k", nil, Condition{Revision: 1, Absent: true}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("both conditions: %v", err)
	}
	if err := s.Delete(ctx, acct, "f", "k", Condition{Revision: r1}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale CAS delete: %v", err)
	}
	if err := s.Delete(ctx, acct, "f", "k", Condition{Revision: r2}); err != nil {
		t.Fatalf("CAS delete: %v", err)
	}
	if err := s.Delete(ctx, acct, "f", "k", Condition{}); err != nil {
		t.Fatalf("delete of a missing key: %v", err)
	}
	if err := s.Delete(ctx, acct, "f", "k", Condition{Revision: r2}); !errors.Is(err, ErrConflict) {
		t.Fatalf("CAS delete of a missing key: %v", err)
	}
	// Create-only after a delete works.
	if _, err := s.Put(ctx, acct, "f", "k", []byte("again"), Condition{Absent: true}); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
	if n, _ := s.Count(ctx, acct, "f"); n != 1 {
		t.Fatalf("count = %d, want 1", n)
	}

	// Limits.
	if _, err := s.Put(ctx, acct, "f", "big", make([]byte, MaxValueBytes), Condition{}); err != nil {
		t.Fatalf("max value: %v", err)
	}
	_, err = s.Put(ctx, acct, "f", "big", make([]byte, MaxValueBytes+1), Condition{})
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("value too large: %v", err)
	}
	for _, bad := range []struct{ account, function, key string }{
		{acct, "f", ""},
		{acct, "f", "a\nb"},
		{"1", "f", "k"},
		{acct, "f.*", "k"},
	} {
		if _, err := s.Put(ctx, bad.account, bad.function, bad.key, nil, Condition{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Put %q: %v", bad, err)
		}
		if _, err := s.Get(ctx, bad.account, bad.function, bad.key); !errors.Is(err, ErrInvalid) {
			t.Errorf("Get %q: %v", bad, err)
		}
	}
}

func TestScopedByFunction(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	owners := []struct{ account, function string }{{acct, "f"}, {acct, "f2"}, {"222222222222", "f"}}
	for _, o := range owners {
		s.Put(ctx, o.account, o.function, "shared", []byte(o.account+"/"+o.function), Condition{})
	}
	for _, o := range owners {
		it, err := s.Get(ctx, o.account, o.function, "shared")
		if err != nil || string(it.Value) != o.account+"/"+o.function {
			t.Errorf("%v: %q %v", o, it.Value, err)
		}
		p, _ := s.List(ctx, o.account, o.function, ListQuery{})
		if len(p.Keys) != 1 {
			t.Errorf("%v lists %v", o, p.Keys)
		}
	}
	if err := s.DeleteFunction(ctx, acct, "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, acct, "f", "shared"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after DeleteFunction: %v", err)
	}
	if n, _ := s.Count(ctx, acct, "f"); n != 0 {
		t.Fatalf("count after DeleteFunction: %d", n)
	}
	for _, o := range owners[1:] {
		if _, err := s.Get(ctx, o.account, o.function, "shared"); err != nil {
			t.Errorf("%v lost its key: %v", o, err)
		}
	}
}

func TestListPrefixOrderAndPages(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	keys := []string{"b", "a/2", "a/10", "a/1", "a", "ab", "é", "a/1/x", "z z", strings.Repeat("ü", MaxKeyBytes/2)}
	for _, k := range keys {
		if _, err := s.Put(ctx, acct, "f", k, []byte(k), Condition{}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	long := strings.Repeat("ü", MaxKeyBytes/2)
	if it, err := s.Get(ctx, acct, "f", long); err != nil || string(it.Value) != long {
		t.Fatalf("512-byte key: %v", err)
	}
	for _, tt := range []struct {
		q    ListQuery
		want string
		next string
	}{
		{ListQuery{}, "a,a/1,a/1/x,a/10,a/2,ab,b,z z,é," + long, ""},
		{ListQuery{Prefix: "a/"}, "a/1,a/1/x,a/10,a/2", ""},
		{ListQuery{Prefix: "a/1"}, "a/1,a/1/x,a/10", ""},
		{ListQuery{Prefix: "a", Limit: 3}, "a,a/1,a/1/x", "a/1/x"},
		{ListQuery{Prefix: "a", Limit: 3, After: "a/1/x"}, "a/10,a/2,ab", ""},
		{ListQuery{Prefix: "é"}, "é", ""},
		{ListQuery{Prefix: "ü"}, long, ""},
		{ListQuery{Prefix: "nothing"}, "", ""},
	} {
		p, err := s.List(ctx, acct, "f", tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(p.Keys, ","); got != tt.want || p.Next != tt.next {
			t.Errorf("List(%+v) = %q next %q; want %q next %q", tt.q, got, p.Next, tt.want, tt.next)
		}
	}
	if _, err := s.List(ctx, acct, "f", ListQuery{Limit: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative limit: %v", err)
	}
}

func TestQuota(t *testing.T) {
	ctx := context.Background()
	s, st := open(t)
	s.maxKeys = 20
	// Many creators at once: the count never lets more than maxKeys in.
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for i := range 40 {
		wg.Go(func() {
			_, err := s.Put(ctx, acct, "f", fmt.Sprintf("k%02d", i), []byte("v"), Condition{})
			if err != nil && !errors.Is(err, ErrQuota) {
				t.Errorf("put %d: %v", i, err)
			}
			if err != nil {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	p, _ := s.List(ctx, acct, "f", ListQuery{Limit: MaxListLimit})
	n, _ := s.Count(ctx, acct, "f")
	if len(p.Keys) != 20 || n != 20 || refused != 20 {
		t.Fatalf("%d keys, count %d, %d refused; want 20, 20, 20", len(p.Keys), n, refused)
	}
	// Replacing at the quota is fine; another function has its own.
	if _, err := s.Put(ctx, acct, "f", p.Keys[0], []byte("new"), Condition{}); err != nil {
		t.Fatalf("replace at quota: %v", err)
	}
	if _, err := s.Put(ctx, acct, "g", "k", nil, Condition{}); err != nil {
		t.Fatalf("other function: %v", err)
	}
	s.Delete(ctx, acct, "f", p.Keys[0], Condition{})
	if _, err := s.Put(ctx, acct, "f", "fresh", nil, Condition{}); err != nil {
		t.Fatalf("after a delete: %v", err)
	}

	// A count that drifted up (a crash between writes) heals by a recount
	// when it would refuse a key.
	kv, _ := st.KV(ctx, Bucket)
	s.Delete(ctx, acct, "f", "fresh", Condition{})
	kv.Put(ctx, countKey(acct, "f"), []byte("20"))
	if _, err := s.Put(ctx, acct, "f", "healed", nil, Condition{}); !errors.Is(err, ErrQuota) {
		t.Fatalf("a count that just moved is trusted: %v", err)
	}
	s.now = func() time.Time { return time.Now().Add(recountAfter) }
	if _, err := s.Put(ctx, acct, "f", "healed", nil, Condition{}); err != nil {
		t.Fatalf("after drift: %v", err)
	}
	if n, _ := s.Count(ctx, acct, "f"); n != 20 {
		t.Fatalf("count after recount = %d, want 20", n)
	}
}

func TestConcurrentCAS(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	s.Put(ctx, acct, "f", "counter", []byte("0"), Condition{})
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for done := 0; done < each; {
				it, err := s.Get(ctx, acct, "f", "counter")
				if err != nil {
					t.Error(err)
					return
				}
				var n int
				fmt.Sscan(string(it.Value), &n)
				_, err = s.Put(ctx, acct, "f", "counter", []byte(fmt.Sprint(n+1)), Condition{Revision: it.Revision})
				if errors.Is(err, ErrConflict) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				done++
			}
		})
	}
	wg.Wait()
	it, _ := s.Get(ctx, acct, "f", "counter")
	if string(it.Value) != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %s, want %d (lost updates)", it.Value, workers*each)
	}
}
