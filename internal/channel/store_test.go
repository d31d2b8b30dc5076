package channel_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/ember-run/ember/internal/channel"
	"github.com/ember-run/ember/internal/fnkv"
	"github.com/ember-run/ember/internal/keyring"
	"github.com/ember-run/ember/internal/secrets"
	"github.com/ember-run/ember/internal/store"
)

// The channel over the real backends on an embedded JetStream.
func TestOverRealStore(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, _ := keyring.New(bytes.Repeat([]byte{3}, 32))
	sec, err := secrets.New(ctx, st, ring)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := fnkv.New(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sec.Put(ctx, acct, "f", "db.password", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	sec.Put(ctx, acct, "f", "admin-token", []byte("not granted"))

	g := channel.Grant{Account: acct, Function: "f", Version: "1", KV: true, Secrets: []string{"db.password", "unset"}}
	h := start(t, g, channel.Backends{Secrets: sec, KV: kv}, channel.Options{})

	a := h.do("GET", base+"secrets/db.password", nil)
	h.expect(a, 200, "")
	if string(a.body) != "hunter2" {
		t.Fatalf("secret: %q", a.body)
	}
	h.expect(h.do("GET", base+"secrets/unset", nil), 404, "SecretNotFound")
	h.expect(h.do("GET", base+"secrets/admin-token", nil), 403, "ServiceNotGranted")

	a = h.do("PUT", kvPath("users/1"), []byte(`{"name":"ada"}`), "If-None-Match", "*")
	h.expect(a, 200, "")
	rev := a.header.Get("Ember-Revision")
	h.expect(h.do("PUT", kvPath("users/1"), []byte("x"), "If-None-Match", "*"), 409, "RevisionConflict")
	h.expect(h.do("PUT", kvPath("users/1"), []byte(`{"name":"ada l."}`), "If-Match", rev), 200, "")
	h.expect(h.do("PUT", kvPath("users/1"), []byte("stale"), "If-Match", rev), 409, "RevisionConflict")
	a = h.do("GET", kvPath("users/1"), nil)
	if string(a.body) != `{"name":"ada l."}` {
		t.Fatalf("kv get: %q", a.body)
	}
	// Under the request limit but over the store's value limit.
	h.expect(h.do("PUT", kvPath("big"), make([]byte, fnkv.MaxValueBytes+1)), 413, "RequestEntityTooLarge")
	a = h.do("GET", base+"kv?prefix=users/", nil)
	if string(a.body) != `{"keys":["users/1"]}` {
		t.Fatalf("kv list: %s", a.body)
	}
	// The store holds the key under the granted function only.
	if _, err := kv.Get(ctx, acct, "f", "users/1"); err != nil {
		t.Fatal(err)
	}
	if n, _ := kv.Count(ctx, acct, "f"); n != 1 {
		t.Fatalf("count %d", n)
	}
}
