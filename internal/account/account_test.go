package account

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/ember-run/ember/internal/keyring"
	"github.com/ember-run/ember/internal/store"
)

func newService(t *testing.T, dir string) (*Service, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := keyring.New(bytes.Repeat([]byte{3}, 32))
	s, err := New(context.Background(), st, ring)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func TestAccountsAndKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, st := newService(t, dir)
	admin, err := s.Bootstrap(ctx)
	if err != nil || admin == nil {
		t.Fatalf("bootstrap: %v %v", admin, err)
	}
	if again, err := s.Bootstrap(ctx); err != nil || again != nil {
		t.Fatalf("second bootstrap created credentials: %v %v", again, err)
	}
	a, creds, err := s.Create(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[1-9]\d{11}$`).MatchString(a.ID) || len(creds.SecretAccessKey) != 40 || !strings.HasPrefix(creds.AccessKeyID, "AKIA") {
		t.Fatalf("bad ids: %+v %+v", a, creds)
	}
	if _, _, err := s.Create(ctx, "alice"); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, _, err := s.Create(ctx, "bad name!"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	secret, acct, err := s.Lookup(ctx, creds.AccessKeyID)
	if err != nil || secret != creds.SecretAccessKey || acct.ID != a.ID {
		t.Fatalf("lookup: %v %v", acct, err)
	}
	k2, err := s.CreateKey(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKey(ctx, a.ID, creds.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Lookup(ctx, creds.AccessKeyID); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("deleted key still works: %v", err)
	}
	st.Close()

	// Secrets are sealed at rest and survive a restart.
	s, st = newService(t, dir)
	defer st.Close()
	raw, _ := s.kv.Get(ctx, keyKey(k2.AccessKeyID))
	if bytes.Contains(raw.Value, []byte(k2.SecretAccessKey)) {
		t.Fatal("secret stored in clear")
	}
	if secret, _, err := s.Lookup(ctx, k2.AccessKeyID); err != nil || secret != k2.SecretAccessKey {
		t.Fatalf("lookup after restart: %v", err)
	}
	all, _ := s.List(ctx)
	if len(all) != 2 {
		t.Fatalf("accounts: %+v", all)
	}
	adminAcct, _ := s.Get(ctx, admin.AccountID)
	if err := s.Delete(ctx, adminAcct.ID); !errors.Is(err, ErrForbidden) {
		t.Fatalf("admin deleted: %v", err)
	}
	if err := s.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Lookup(ctx, k2.AccessKeyID); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("key of deleted account works: %v", err)
	}
	if _, _, err := s.Create(ctx, "alice"); err != nil {
		t.Fatalf("name not released: %v", err)
	}
}

func TestUIDsAreDistinctAndStable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, st := newService(t, dir)
	seen := map[int]string{}
	for _, id := range []string{"111111111111", "222222222222", "333333333333"} {
		uid, err := s.UID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if uid < UIDBase || seen[uid] != "" {
			t.Fatalf("uid %d for %s (seen: %v)", uid, id, seen)
		}
		seen[uid] = id
	}
	st.Close()
	s, st = newService(t, dir)
	defer st.Close()
	for uid, id := range seen {
		if got, _ := s.UID(ctx, id); got != uid {
			t.Fatalf("uid of %s changed across restart: %d → %d", id, uid, got)
		}
	}
}
