package catalog

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/keyring"
	"github.com/ember-run/ember/internal/store"
)

const acct = "111111111111"

func newCatalog(t *testing.T) *Catalog {
	t.Helper()
	c, _ := newCatalogStore(t)
	return c
}

func newCatalogStore(t *testing.T) (*Catalog, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, _ := keyring.New(bytes.Repeat([]byte{5}, 32))
	c, err := New(context.Background(), st, Options{Region: "local", Sealer: ring})

	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, st
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, body := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(body))
	}
	w.Close()
	return buf.Bytes()
}

func create(t *testing.T, c *Catalog, name string) *Function {
	t.Helper()
	f, _, err := c.Create(context.Background(), acct, CreateInput{
		Name:   name,
		Config: Config{Runtime: "provided.al2023", Role: "arn:aws:iam::123456789012:role/r"},
		Zip:    zipOf(t, map[string]string{"bootstrap": "v1"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPublishIsIdempotentUntilSomethingChanges(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	create(t, c, "f")
	v1, err := c.Publish(ctx, acct, "f", PublishInput{})
	if err != nil || v1.Version != "1" {
		t.Fatalf("first publish: %v %v", v1.Version, err)
	}
	again, err := c.Publish(ctx, acct, "f", PublishInput{Description: "same code"})
	if err != nil || again.Version != "1" {
		t.Fatalf("unchanged publish made version %q (%v)", again.Version, err)
	}
	mem := 256
	if _, err := c.UpdateConfig(ctx, acct, "f", ConfigPatch{MemorySize: &mem}); err != nil {
		t.Fatal(err)
	}
	v2, err := c.Publish(ctx, acct, "f", PublishInput{})
	if err != nil || v2.Version != "2" || v2.MemorySize != 256 {
		t.Fatalf("publish after change: %+v %v", v2, err)
	}
	if _, err := c.Publish(ctx, acct, "f", PublishInput{CodeSha256: "bogus"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wrong CodeSha256: %v", err)
	}
	f, _ := c.Get(ctx, acct, "f")
	vs, _ := c.ListVersions(ctx, f)
	if len(vs) != 3 || vs[0].Version != Latest || vs[2].Version != "2" {
		t.Fatalf("versions: %+v", vs)
	}
	// The frozen version keeps its configuration.
	old, err := c.Resolve(ctx, f, "1")
	if err != nil || old.MemorySize != 128 {
		t.Fatalf("version 1 changed: %+v %v", old, err)
	}
}

func TestRevisionIDGuardsUpdates(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	f := create(t, c, "f")
	desc := "x"
	if _, err := c.UpdateConfig(ctx, acct, "f", ConfigPatch{Description: &desc, RevisionID: "stale"}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("stale revision: %v", err)
	}
	g, err := c.UpdateConfig(ctx, acct, "f", ConfigPatch{Description: &desc, RevisionID: f.Latest.RevisionID})
	if err != nil {
		t.Fatal(err)
	}
	if g.Latest.RevisionID == f.Latest.RevisionID {
		t.Fatal("revision id did not change")
	}
}

func TestVersionReferencedByAliasCannotBeDeleted(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	create(t, c, "f")
	c.Publish(ctx, acct, "f", PublishInput{})
	c.UpdateCode(ctx, acct, "f", CodeInput{Zip: zipOf(t, map[string]string{"bootstrap": "v2"})})
	c.Publish(ctx, acct, "f", PublishInput{})
	one, two := "1", "2"
	w := map[string]float64{"2": 0.25}
	if _, err := c.CreateAlias(ctx, acct, "f", AliasInput{Name: "live", FunctionVersion: &one, Weights: &w}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"1", "2"} {
		if err := c.Delete(ctx, acct, "f", q); !errors.Is(err, ErrConflict) {
			t.Fatalf("delete version %s used by alias: %v", q, err)
		}
	}
	bad := []map[string]float64{{"2": 1.5}, {"$LATEST": 0.5}, {"2": 0.1, "3": 0.1}, {"1": 0.5}, {"9": 0.5}}
	for _, b := range bad {
		b := b
		if _, err := c.UpdateAlias(ctx, acct, "f", AliasInput{Name: "live", Weights: &b}); !errors.Is(err, ErrInvalid) {
			t.Errorf("weights %v accepted: %v", b, err)
		}
	}
	empty := map[string]float64{}
	a, err := c.UpdateAlias(ctx, acct, "f", AliasInput{Name: "live", FunctionVersion: &two, Weights: &empty})
	if err != nil || a.AdditionalVersionWeights != nil || a.FunctionVersion != "2" {
		t.Fatalf("clear routing: %+v %v", a, err)
	}
	if err := c.Delete(ctx, acct, "f", "1"); err != nil {
		t.Fatalf("delete unreferenced version: %v", err)
	}
	f, _ := c.Get(ctx, acct, "f")
	if _, err := c.Resolve(ctx, f, "1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted version resolves: %v", err)
	}
	if err := c.Delete(ctx, acct, "f", Latest); !errors.Is(err, ErrInvalid) {
		t.Fatalf("delete $LATEST: %v", err)
	}
}

func TestDeleteCollectsCodeAndRecreateStartsFresh(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	create(t, c, "f")
	c.Publish(ctx, acct, "f", PublishInput{})
	f, _ := c.Get(ctx, acct, "f")
	obj := f.Latest.CodeObject
	if err := c.Delete(ctx, acct, "f", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Code(ctx, obj); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("code of deleted function still stored: %v", err)
	}
	g := create(t, c, "f")
	if len(g.Versions) != 0 {
		t.Fatalf("recreated function inherited versions %v", g.Versions)
	}
	vs, _ := c.ListVersions(ctx, g)
	if len(vs) != 1 {
		t.Fatalf("recreated function lists %d versions", len(vs))
	}
	if _, err := c.Code(ctx, g.Latest.CodeObject); err != nil {
		t.Fatalf("code of new function: %v", err)
	}
}

func TestPolicyGrantsOnlyWhatItSays(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	create(t, c, "f")
	c.Publish(ctx, acct, "f", PublishInput{})
	one := "1"
	c.CreateAlias(ctx, acct, "f", AliasInput{Name: "live", FunctionVersion: &one})
	const b, other = "222222222222", "333333333333"
	if _, err := c.AddPermission(ctx, acct, "f", PermissionInput{Qualifier: "live", StatementID: "s", Action: "lambda:InvokeFunction", Principal: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddPermission(ctx, acct, "f", PermissionInput{Qualifier: "live", StatementID: "s", Action: "lambda:InvokeFunction", Principal: b}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate sid: %v", err)
	}
	if _, err := c.AddPermission(ctx, acct, "f", PermissionInput{StatementID: "svc", Action: "lambda:InvokeFunction", Principal: "s3.amazonaws.com", SourceAccount: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddPermission(ctx, acct, "f", PermissionInput{StatementID: "x", Action: "lambda:UpdateFunctionCode", Principal: b}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mutating action granted: %v", err)
	}
	f, _ := c.Get(ctx, acct, "f")
	cases := []struct {
		caller, qual, action string
		want                 bool
	}{
		{acct, "", "lambda:GetFunction", true},
		{b, "live", "lambda:InvokeFunction", true},
		{b, "", "lambda:InvokeFunction", false},
		{b, "1", "lambda:InvokeFunction", false},
		{b, "live", "lambda:GetFunction", false},
		{other, "live", "lambda:InvokeFunction", false},
	}
	for _, tc := range cases {
		if got := f.Allows(tc.caller, tc.qual, tc.action); got != tc.want {
			t.Errorf("Allows(%s, %q, %s) = %v", tc.caller, tc.qual, tc.action, got)
		}
	}
	if !f.Visible(b) || f.Visible(other) {
		t.Fatal("visibility wrong")
	}
	p, err := c.Policy(f, "live")
	if err != nil || len(p.Statements) != 1 {
		t.Fatalf("policy: %v %v", p, err)
	}
	if err := c.RemovePermission(ctx, acct, "f", "live", "s", "stale"); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("stale revision: %v", err)
	}
	if err := c.RemovePermission(ctx, acct, "f", "live", "s", p.RevisionID); err != nil {
		t.Fatal(err)
	}
	f, _ = c.Get(ctx, acct, "f")
	if f.Visible(b) {
		t.Fatal("still visible after removal")
	}
	if _, err := c.Policy(f, "live"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty policy: %v", err)
	}
}

// Concurrent writers must never lose each other's updates.
func TestConcurrentUpdatesAreNotLost(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	create(t, c, "f")
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.TagResource(ctx, acct, "f", map[string]string{fmt.Sprintf("k%d", i): "v"})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	f, _ := c.Get(ctx, acct, "f")
	if len(f.Tags) != n {
		t.Fatalf("%d tags survived of %d", len(f.Tags), n)
	}
}

func TestReservedConcurrencyLeavesUnreservedMinimum(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	create(t, c, "a")
	create(t, c, "b")
	n := 800
	if _, err := c.PutConcurrency(ctx, acct, "a", &n); err != nil {
		t.Fatal(err)
	}
	m := 101
	if _, err := c.PutConcurrency(ctx, acct, "b", &m); !errors.Is(err, ErrInvalid) {
		t.Fatalf("over-reservation: %v", err)
	}
	m = 100
	if _, err := c.PutConcurrency(ctx, acct, "b", &m); err != nil {
		t.Fatal(err)
	}
	u, _ := c.AccountUsage(ctx, acct)
	if u.Reserved != 900 || u.FunctionCount != 2 {
		t.Fatalf("usage %+v", u)
	}
}

func TestBadBundleStoresNothing(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	_, _, err := c.Create(ctx, acct, CreateInput{
		Name:   "evil",
		Config: Config{Runtime: "provided.al2023", Role: "arn:aws:iam::123456789012:role/r"},
		Zip:    zipOf(t, map[string]string{"../../etc/passwd": "x"}),
	})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("zip-slip accepted: %v", err)
	}
	if _, err := c.Get(ctx, acct, "evil"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("partial function left: %v", err)
	}
	if objs, _ := c.blobs.List(ctx, acct+"/"); len(objs) != 0 {
		t.Fatalf("code stored for a rejected bundle: %v", objs)
	}
}

func TestEnvironmentIsSealedAtRest(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	create(t, c, "f")
	env := map[string]string{"DB_PASSWORD": "hunter2-very-secret"}
	if _, err := c.UpdateConfig(ctx, acct, "f", ConfigPatch{Environment: &env}); err != nil {
		t.Fatal(err)
	}
	v, err := c.Publish(ctx, acct, "f", PublishInput{})
	if err != nil {
		t.Fatal(err)
	}
	es, _ := c.kv.List(ctx, ">")
	for _, e := range es {
		if bytes.Contains(e.Value, []byte("hunter2")) {
			t.Fatalf("secret in clear in %s", e.Key)
		}
	}
	f, _ := c.Get(ctx, acct, "f")
	got, _ := c.Resolve(ctx, f, v.Version)
	if f.Latest.Environment["DB_PASSWORD"] != "hunter2-very-secret" || got.Environment["DB_PASSWORD"] != "hunter2-very-secret" {
		t.Fatalf("environment not restored: %v %v", f.Latest.Environment, got.Environment)
	}
	if again, _ := c.Publish(ctx, acct, "f", PublishInput{}); again.Version != v.Version {
		t.Fatalf("sealing broke publish idempotence: %s then %s", v.Version, again.Version)
	}
}

// Two catalogs on one store stand for two nodes: each sees the other's
// writes through the watch that feeds its cache.
func TestCacheFollowsOtherWriters(t *testing.T) {
	ctx := context.Background()
	a, st := newCatalogStore(t)
	ring, _ := keyring.New(bytes.Repeat([]byte{5}, 32))
	b, err := New(ctx, st, Options{Region: "local", Sealer: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	create(t, a, "f")
	if _, err := b.Get(ctx, acct, "f"); err != nil { // b caches it
		t.Fatal(err)
	}
	mem := 512
	if _, err := a.UpdateConfig(ctx, acct, "f", ConfigPatch{MemorySize: &mem}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		f, err := b.Get(ctx, acct, "f")
		return err == nil && f.Latest.MemorySize == 512
	})
	if err := a.Delete(ctx, acct, "f", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, err := b.Get(ctx, acct, "f")
		return errors.Is(err, ErrNotFound)
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
