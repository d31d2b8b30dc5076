package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ember-run/ember/internal/keyring"
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
	ring, _ := keyring.New(bytes.Repeat([]byte{7}, 32))
	s, err := New(context.Background(), st, ring)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	for _, tt := range []struct {
		name, account, function, secret string
		value                           []byte
		want                            error
	}{
		{"ok", acct, "f", "API_KEY.v2-x", []byte("v"), nil},
		{"empty value", acct, "f", "empty", nil, nil},
		{"max value", acct, "f", "big", make([]byte, MaxValueBytes), nil},
		{"max name", acct, "f", strings.Repeat("n", MaxNameLen), []byte("v"), nil},
		{"value too big", acct, "f", "big2", make([]byte, MaxValueBytes+1), ErrInvalid},
		{"name too long", acct, "f", strings.Repeat("n", MaxNameLen+1), []byte("v"), ErrInvalid},
		{"empty name", acct, "f", "", []byte("v"), ErrInvalid},
		{"space", acct, "f", "a b", []byte("v"), ErrInvalid},
		{"equals", acct, "f", "a=b", []byte("v"), ErrInvalid},
		{"slash", acct, "f", "a/b", []byte("v"), ErrInvalid},
		{"wildcard", acct, "f", "*", []byte("v"), ErrInvalid},
		{"bad account", "12", "f", "n", []byte("v"), ErrInvalid},
		{"bad function", acct, "f.g", "n", []byte("v"), ErrInvalid},
		{"wildcard function", acct, ">", "n", []byte("v"), ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Put(ctx, tt.account, tt.function, tt.secret, tt.value)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Put: %v, want %v", err, tt.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "secrets: ") {
				t.Fatalf("error not prefixed: %v", err)
			}
		})
	}
	if _, err := s.Get(ctx, acct, "f", "no such"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Get invalid name: %v", err)
	}
}

func TestPutGetListDelete(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	m, err := s.Put(ctx, acct, "f", "db.password", []byte("hunter2"))
	if err != nil || m.Name != "db.password" || m.Size != 7 || m.LastModified.IsZero() {
		t.Fatalf("Put: %+v %v", m, err)
	}
	s.Put(ctx, acct, "f", "db-password", []byte("other")) // '-' sorts before '.'
	s.Put(ctx, acct, "f", "a", []byte("1"))
	s.Put(ctx, acct, "f2", "db.password", []byte("f2's"))
	s.Put(ctx, "222222222222", "f", "db.password", []byte("B's"))

	for _, tt := range []struct{ account, function, name, want string }{
		{acct, "f", "db.password", "hunter2"},
		{acct, "f", "db-password", "other"},
		{acct, "f2", "db.password", "f2's"},
		{"222222222222", "f", "db.password", "B's"},
	} {
		got, err := s.Get(ctx, tt.account, tt.function, tt.name)
		if err != nil || string(got) != tt.want {
			t.Errorf("Get %s/%s/%s = %q, %v; want %q", tt.account, tt.function, tt.name, got, err, tt.want)
		}
	}
	if _, err := s.Get(ctx, acct, "f", "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}

	ms, err := s.List(ctx, acct, "f")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, fmt.Sprintf("%s:%d", m.Name, m.Size))
	}
	if got := strings.Join(names, ","); got != "a:1,db-password:5,db.password:7" {
		t.Fatalf("List = %s", got)
	}

	// Replace keeps one record and changes the value.
	if _, err := s.Put(ctx, acct, "f", "a", []byte("22")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, acct, "f", "a"); string(got) != "22" {
		t.Fatalf("after replace: %q", got)
	}
	if ms, _ := s.List(ctx, acct, "f"); len(ms) != 3 || ms[0].Size != 2 {
		t.Fatalf("List after replace: %+v", ms)
	}

	if err := s.Delete(ctx, acct, "f", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, acct, "f", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Get(ctx, acct, "f", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get deleted: %v", err)
	}

	if err := s.DeleteFunction(ctx, acct, "f"); err != nil {
		t.Fatal(err)
	}
	if ms, _ := s.List(ctx, acct, "f"); len(ms) != 0 {
		t.Fatalf("after DeleteFunction: %+v", ms)
	}
	if err := s.DeleteFunction(ctx, acct, "f"); err != nil {
		t.Fatalf("DeleteFunction of nothing: %v", err)
	}
	// Neighbours are untouched.
	if got, _ := s.Get(ctx, acct, "f2", "db.password"); string(got) != "f2's" {
		t.Fatalf("f2 lost its secret: %q", got)
	}
	if got, _ := s.Get(ctx, "222222222222", "f", "db.password"); string(got) != "B's" {
		t.Fatalf("account B lost its secret: %q", got)
	}
}

func TestSealedAtRestAndBoundToRecord(t *testing.T) {
	ctx := context.Background()
	s, st := open(t)
	s.Put(ctx, acct, "f", "token", []byte("very-secret-value"))
	s.Put(ctx, acct, "f", "other", []byte("something else"))
	kv, _ := st.KV(ctx, Bucket)
	es, err := kv.List(ctx, ">")
	if err != nil || len(es) != 2 {
		t.Fatalf("raw list: %d %v", len(es), err)
	}
	for _, e := range es {
		if bytes.Contains(e.Value, []byte("very-secret")) {
			t.Fatalf("value in clear in %s", e.Key)
		}
	}
	// A sealed value copied onto another record does not open there.
	tok, _ := kv.Get(ctx, key(acct, "f", "token"))
	if _, err := kv.Put(ctx, key(acct, "f", "other"), tok.Value); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, acct, "f", "other"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("moved value opened: %q %v", v, err)
	}
	// Another master key cannot read them.
	ring, _ := keyring.New(bytes.Repeat([]byte{8}, 32))
	other, _ := New(ctx, st, ring)
	if v, err := other.Get(ctx, acct, "f", "token"); !errors.Is(err, keyring.ErrOpen) {
		t.Fatalf("wrong key: %q %v", v, err)
	}
}

func TestLimitPerFunction(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	for i := range MaxPerFunc - 1 {
		if _, err := s.Put(ctx, acct, "f", fmt.Sprintf("s%03d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	// Racing creators of distinct names at the edge: the limit holds.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { s.Put(ctx, acct, "f", fmt.Sprintf("race%d", i), []byte("v")) })
	}
	wg.Wait()
	ms, _ := s.List(ctx, acct, "f")
	if len(ms) > MaxPerFunc {
		t.Fatalf("%d secrets after a race, limit %d", len(ms), MaxPerFunc)
	}
	for len(ms) < MaxPerFunc {
		if _, err := s.Put(ctx, acct, "f", fmt.Sprintf("fill%d", len(ms)), []byte("v")); err != nil {
			t.Fatal(err)
		}
		ms, _ = s.List(ctx, acct, "f")
	}
	if _, err := s.Put(ctx, acct, "f", "one-more", []byte("v")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("101st secret: %v", err)
	}
	if _, err := s.Put(ctx, acct, "f", "s000", []byte("replaced")); err != nil {
		t.Fatalf("replacing at the limit: %v", err)
	}
	if _, err := s.Put(ctx, acct, "g", "one-more", []byte("v")); err != nil {
		t.Fatalf("another function is not limited by f: %v", err)
	}
	s.Delete(ctx, acct, "f", "s001")
	if _, err := s.Put(ctx, acct, "f", "one-more", []byte("v")); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}
