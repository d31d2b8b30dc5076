package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKVCompareAndSet(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	kv, err := s.KV(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "a.b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	rev, err := kv.Create(ctx, "a.b", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "a.b", []byte("2")); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	rev2, err := kv.Update(ctx, "a.b", []byte("2"), rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, "a.b", []byte("3"), rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	if err := kv.Delete(ctx, "a.b", rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale delete: %v", err)
	}
	if err := kv.Delete(ctx, "a.b", rev2); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "a.b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := kv.Create(ctx, "a.b", []byte("again")); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
}

func TestKVListAndPersistence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	kv, _ := s.KV(ctx, "test")
	for i := 149; i >= 0; i-- {
		if _, err := kv.Put(ctx, fmt.Sprintf("fn.111111111111.f%03d", i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	kv.Put(ctx, "fn.222222222222.other", []byte("x"))
	kv.Delete(ctx, "fn.111111111111.f007", 0)
	b, _ := s.Blobs(ctx, "code")
	big := bytes.Repeat([]byte("0123456789"), 300_000) // spans many chunks
	if err := b.Put(ctx, "111111111111/abc", big); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close() // idempotent

	s = open(t, dir)
	defer s.Close()
	kv, _ = s.KV(ctx, "test")
	es, err := kv.List(ctx, "fn.111111111111.*")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 149 {
		t.Fatalf("listed %d, want 149", len(es))
	}
	for i := 1; i < len(es); i++ {
		if es[i-1].Key >= es[i].Key {
			t.Fatalf("not sorted at %d: %s %s", i, es[i-1].Key, es[i].Key)
		}
	}
	b, _ = s.Blobs(ctx, "code")
	got, err := b.Get(ctx, "111111111111/abc")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("blob after restart: %v (len %d)", err, len(got))
	}
	ls, _ := b.List(ctx, "111111111111/")
	if len(ls) != 1 {
		t.Fatalf("blob list: %v", ls)
	}
	b.Delete(ctx, "111111111111/abc")
	if _, err := b.Get(ctx, "111111111111/abc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted blob: %v", err)
	}
	if es, _ := kv.List(ctx, "nothing.*"); len(es) != 0 {
		t.Fatalf("empty list: %v", es)
	}
}
