package catalog

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ember-run/ember/internal/keyring"
)

const consumer = "222222222222"

// A cross-account alias needs the owner's grant (on the qualifier or the
// whole function), a name of its own, valid customizations; its variables
// are sealed at rest; it is listed and deleted in its own namespace only,
// and other nodes see it through the watch.
func TestCrossAlias(t *testing.T) {
	ctx := context.Background()
	c, st := newCatalogStore(t)
	create(t, c, "pricing")
	target := c.ARN(acct, "pricing", "")
	in := CrossAliasInput{Name: "calc", Target: target, Parameters: []byte(`{"region":"eu"}`),
		Environment: map[string]string{"TENANT_TOKEN": "tok-very-secret"}, MemorySize: 128}

	if _, err := c.PutCrossAlias(ctx, consumer, in); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an invisible target: %v, want not found", err)
	}
	if _, err := c.AddPermission(ctx, acct, "pricing", PermissionInput{StatementID: "read", Action: "lambda:GetFunction", Principal: consumer}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutCrossAlias(ctx, consumer, in); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a visible target without an invoke or alias grant: %v, want forbidden", err)
	}
	if _, err := c.AddPermission(ctx, acct, "pricing", PermissionInput{StatementID: "alias", Action: ActionCrossLink, Principal: consumer}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []CrossAliasInput{
		{Name: "x", Target: c.ARN(consumer, "own", "")},
		{Name: "x", Target: "pricing"},
		{Name: "x", Target: target, Parameters: []byte(`[1,2]`)},
		{Name: "x", Target: target, Environment: map[string]string{"AWS_SECRET_ACCESS_KEY": "k"}},
		{Name: "x", Target: target, Environment: map[string]string{"EMBER_SERVICES_API": "k"}},
		{Name: "x", Target: target, MemorySize: 64},
		{Name: "bad:name", Target: target},
	} {
		if _, err := c.PutCrossAlias(ctx, consumer, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want invalid", bad, err)
		}
	}
	a, err := c.PutCrossAlias(ctx, consumer, in)
	if err != nil {
		t.Fatal(err)
	}
	if a.TargetAccount != acct || a.TargetFunction != "pricing" || a.TargetQualifier != "" || a.RevisionID == "" {
		t.Fatalf("alias: %+v", a)
	}
	es, _ := c.kv.List(ctx, ">")
	for _, e := range es {
		if bytes.Contains(e.Value, []byte("tok-very-secret")) {
			t.Fatalf("alias variable in clear in %s", e.Key)
		}
	}
	// Replacing keeps the creation time and changes the revision.
	again, err := c.PutCrossAlias(ctx, consumer, in)
	if err != nil || again.RevisionID == a.RevisionID || !again.Created.Equal(a.Created) {
		t.Fatalf("replace: %+v %v", again, err)
	}
	// The name is the consumer's: no function may take it, and it is not
	// the owner's.
	if _, _, err := c.Create(ctx, consumer, CreateInput{Name: "calc", Config: Config{Runtime: "provided.al2023", Role: "arn:aws:iam::123456789012:role/r"},
		Zip: zipOf(t, map[string]string{"bootstrap": "x"})}); !errors.Is(err, ErrExists) {
		t.Fatalf("function over a cross-account alias: %v", err)
	}
	if _, err := c.CrossAlias(ctx, acct, "calc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the owner sees the consumer's alias: %v", err)
	}
	if l, err := c.CrossAliases(ctx, acct); err != nil || len(l) != 0 {
		t.Fatalf("owner's list: %v %v", l, err)
	}

	// Another node reads it, variables opened, and sees it go.
	ring, _ := keyring.New(bytes.Repeat([]byte{5}, 32))
	other, err := New(ctx, st, Options{Region: "local", Sealer: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	got, err := other.CrossAlias(ctx, consumer, "calc")
	if err != nil || got.Environment["TENANT_TOKEN"] != "tok-very-secret" || string(got.Parameters) != `{"region":"eu"}` {
		t.Fatalf("other node: %+v %v", got, err)
	}
	l, err := c.CrossAliases(ctx, consumer)
	if err != nil || len(l) != 1 || l[0].Name != "calc" {
		t.Fatalf("list: %v %v", l, err)
	}
	if err := c.DeleteCrossAlias(ctx, consumer, "calc"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, err := other.CrossAlias(ctx, consumer, "calc")
		return errors.Is(err, ErrNotFound)
	})
	if err := c.DeleteCrossAlias(ctx, consumer, "calc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// A grant on one qualifier covers aliases of that qualifier only; a grant
// on the function covers every qualifier.
func TestFunctionGrants(t *testing.T) {
	f := &Function{Account: acct, Policies: map[string]*Policy{
		"live": {Statements: []Statement{{Effect: "Allow", Principal: map[string]string{"AWS": "arn:aws:iam::" + consumer + ":root"}, Action: ActionInvoke}}},
	}}
	if !f.Grants(consumer, "live") || f.Grants(consumer, "") || f.Grants(consumer, "1") || f.Grants("333333333333", "live") {
		t.Fatal("qualifier grant")
	}
	f.Policies[""] = &Policy{Statements: []Statement{{Effect: "Allow", Principal: map[string]string{"AWS": "arn:aws:iam::" + consumer + ":root"}, Action: ActionCrossLink}}}
	if !f.Grants(consumer, "") || !f.Grants(consumer, "1") {
		t.Fatal("function grant")
	}
}
