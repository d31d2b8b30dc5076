package catalog

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/keyring"
	"github.com/ember-run/ember/internal/store"
)

func urlStr(s string) *string { return &s }

func TestFunctionURLLifecycle(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	create(t, c, "f")

	u, err := c.CreateFunctionURL(ctx, acct, "f", "", FunctionURLInput{AuthType: urlStr(URLAuthNone)})
	if err != nil {
		t.Fatal(err)
	}
	if !ValidURLID(u.ID) || u.AuthType != URLAuthNone || u.InvokeMode != URLBuffered || u.Created.IsZero() {
		t.Fatalf("created: %+v", u)
	}
	if _, err := c.CreateFunctionURL(ctx, acct, "f", "", FunctionURLInput{AuthType: urlStr(URLAuthIAM)}); !errors.Is(err, ErrExists) ||
		!strings.Contains(err.Error(), "FunctionUrlConfig exists for this Lambda function") {
		t.Fatalf("second create: %v", err)
	}

	f, q, got, err := c.FunctionURLByID(ctx, u.ID)
	if err != nil || f.Name != "f" || f.Account != acct || q != "" || got.ID != u.ID {
		t.Fatalf("lookup: %v %q %+v %v", f, q, got, err)
	}

	c.now = func() time.Time { return u.Created.Add(time.Minute) }
	cors := &Cors{AllowOrigins: []string{"https://example.com"}, AllowMethods: []string{"get", "POST"}, MaxAge: 60}
	up, err := c.UpdateFunctionURL(ctx, acct, "f", "", FunctionURLInput{AuthType: urlStr(URLAuthIAM), Cors: cors})
	if err != nil {
		t.Fatal(err)
	}
	if up.ID != u.ID || up.AuthType != URLAuthIAM || up.Cors == nil || up.Cors.AllowMethods[0] != "GET" ||
		!up.Created.Equal(u.Created) || !up.LastModified.After(u.LastModified) {
		t.Fatalf("updated: %+v (was %+v)", up, u)
	}
	if cors.AllowMethods[0] != "get" {
		t.Fatal("update changed the caller's Cors")
	}
	// Omitted fields stay as they are.
	again, err := c.UpdateFunctionURL(ctx, acct, "f", "", FunctionURLInput{InvokeMode: urlStr(URLResponseStream)})
	if err != nil || again.AuthType != URLAuthIAM || again.Cors == nil || again.InvokeMode != URLResponseStream {
		t.Fatalf("partial update: %+v %v", again, err)
	}
	f, _ = c.Get(ctx, acct, "f")
	if stored, err := f.FunctionURLOf(""); err != nil || stored.InvokeMode != URLResponseStream || stored.ID != u.ID {
		t.Fatalf("stored: %+v %v", stored, err)
	}
	// An empty Cors removes the CORS configuration.
	if cleared, err := c.UpdateFunctionURL(ctx, acct, "f", "", FunctionURLInput{Cors: &Cors{}}); err != nil || cleared.Cors != nil {
		t.Fatalf("clearing Cors: %+v %v", cleared, err)
	}

	if err := c.DeleteFunctionURL(ctx, acct, "f", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.FunctionURLByID(ctx, u.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup after delete: %v", err)
	}
	f, _ = c.Get(ctx, acct, "f")
	if _, err := f.FunctionURLOf(""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := c.DeleteFunctionURL(ctx, acct, "f", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := c.UpdateFunctionURL(ctx, acct, "f", "", FunctionURLInput{AuthType: urlStr(URLAuthNone)}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update after delete: %v", err)
	}
	// A new URL is a new id.
	u2, err := c.CreateFunctionURL(ctx, acct, "f", "", FunctionURLInput{AuthType: urlStr(URLAuthNone)})
	if err != nil || u2.ID == u.ID {
		t.Fatalf("re-create: %+v %v", u2, err)
	}
}

func TestFunctionURLValidation(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	create(t, c, "f")
	none := urlStr(URLAuthNone)
	cases := []struct {
		name      string
		qualifier string
		in        FunctionURLInput
		want      error
	}{
		{"no auth type", "", FunctionURLInput{}, ErrInvalid},
		{"bad auth type", "", FunctionURLInput{AuthType: urlStr("OPEN")}, ErrInvalid},
		{"bad invoke mode", "", FunctionURLInput{AuthType: none, InvokeMode: urlStr("STREAM")}, ErrInvalid},
		{"$LATEST", Latest, FunctionURLInput{AuthType: none}, ErrInvalid},
		{"version", "1", FunctionURLInput{AuthType: none}, ErrInvalid},
		{"missing alias", "live", FunctionURLInput{AuthType: none}, ErrNotFound},
		{"bad method", "", FunctionURLInput{AuthType: none, Cors: &Cors{AllowMethods: []string{"TRACE"}}}, ErrInvalid},
		{"seven methods", "", FunctionURLInput{AuthType: none, Cors: &Cors{AllowMethods: []string{"GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"}}}, ErrInvalid},
		{"max age", "", FunctionURLInput{AuthType: none, Cors: &Cors{MaxAge: 86401}}, ErrInvalid},
		{"negative max age", "", FunctionURLInput{AuthType: none, Cors: &Cors{MaxAge: -1}}, ErrInvalid},
		{"empty origin", "", FunctionURLInput{AuthType: none, Cors: &Cors{AllowOrigins: []string{""}}}, ErrInvalid},
		{"long origin", "", FunctionURLInput{AuthType: none, Cors: &Cors{AllowOrigins: []string{strings.Repeat("o", 254)}}}, ErrInvalid},
		{"header with newline", "", FunctionURLInput{AuthType: none, Cors: &Cors{AllowHeaders: []string{"x\r\nSet-Cookie: a=b"}}}, ErrInvalid},
		{"missing function", "", FunctionURLInput{AuthType: none}, nil}, // checked below with another name
	}
	for _, tc := range cases[:len(cases)-1] {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateFunctionURL(ctx, acct, "f", tc.qualifier, tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := c.CreateFunctionURL(ctx, acct, "nope", "", FunctionURLInput{AuthType: none}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing function: %v", err)
	}
	f, _ := c.Get(ctx, acct, "f")
	if len(f.URLs) != 0 {
		t.Fatalf("refused creates stored something: %+v", f.URLs)
	}
	if _, err := c.CreateFunctionURL(ctx, acct, "f", "", FunctionURLInput{AuthType: none, InvokeMode: urlStr("")}); err != nil {
		t.Fatalf("empty InvokeMode (the SDK's zero value): %v", err)
	}
}

// An alias's URL is its own, and goes with the alias; the function's goes
// with the function. Neither index record outlives them.
func TestFunctionURLGoesWithAliasAndFunction(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	create(t, c, "f")
	if _, err := c.Publish(ctx, acct, "f", PublishInput{}); err != nil {
		t.Fatal(err)
	}
	one := "1"
	if _, err := c.CreateAlias(ctx, acct, "f", AliasInput{Name: "live", FunctionVersion: &one}); err != nil {
		t.Fatal(err)
	}
	fnURL, err := c.CreateFunctionURL(ctx, acct, "f", "", FunctionURLInput{AuthType: urlStr(URLAuthNone)})
	if err != nil {
		t.Fatal(err)
	}
	liveURL, err := c.CreateFunctionURL(ctx, acct, "f", "live", FunctionURLInput{AuthType: urlStr(URLAuthIAM)})
	if err != nil {
		t.Fatal(err)
	}
	if liveURL.ID == fnURL.ID {
		t.Fatal("alias and function share a URL id")
	}
	if _, q, u, err := c.FunctionURLByID(ctx, liveURL.ID); err != nil || q != "live" || u.AuthType != URLAuthIAM {
		t.Fatalf("alias URL lookup: %q %+v %v", q, u, err)
	}

	if err := c.DeleteAlias(ctx, acct, "f", "live"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.FunctionURLByID(ctx, liveURL.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alias URL after DeleteAlias: %v", err)
	}
	if _, err := c.kv.Get(ctx, urlKey(liveURL.ID)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stale index record kept: %v", err)
	}
	// An alias created again under the name does not get the old URL back.
	if _, err := c.CreateAlias(ctx, acct, "f", AliasInput{Name: "live", FunctionVersion: &one}); err != nil {
		t.Fatal(err)
	}
	f, _ := c.Get(ctx, acct, "f")
	if _, err := f.FunctionURLOf("live"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("recreated alias has a URL: %v", err)
	}

	if err := c.Delete(ctx, acct, "f", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.kv.Get(ctx, urlKey(fnURL.ID)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("index record outlived the function: %v", err)
	}
	create(t, c, "f") // the same name, a new function
	if _, _, _, err := c.FunctionURLByID(ctx, fnURL.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old URL serves the new function: %v", err)
	}
}

// The config is stored with the function: another catalog on the store
// (a restart, another node) finds it by id.
func TestFunctionURLIsDurable(t *testing.T) {
	ctx := context.Background()
	a, st := newCatalogStore(t)
	create(t, a, "f")
	u, err := a.CreateFunctionURL(ctx, acct, "f", "", FunctionURLInput{AuthType: urlStr(URLAuthNone),
		Cors: &Cors{AllowOrigins: []string{"*"}, ExposeHeaders: []string{"x-a"}, AllowCredentials: true}})
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := keyring.New(bytes.Repeat([]byte{5}, 32))
	b, err := New(ctx, st, Options{Region: "local", Sealer: ring})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f, q, got, err := b.FunctionURLByID(ctx, u.ID)
	if err != nil || f.Name != "f" || q != "" || got.Cors == nil || !got.Cors.AllowCredentials || got.Cors.ExposeHeaders[0] != "x-a" {
		t.Fatalf("other catalog: %+v %v", got, err)
	}
}

func TestURLIDs(t *testing.T) {
	seen := map[string]bool{}
	chars := map[rune]bool{}
	for range 2000 {
		id := newURLID()
		if !ValidURLID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
		for _, r := range id {
			chars[r] = true
		}
	}
	if len(chars) != len(urlIDChars) {
		t.Fatalf("ids use %d of %d characters", len(chars), len(urlIDChars))
	}
	for _, bad := range []string{"", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", strings.Repeat("a", 31), strings.Repeat("a", 33), strings.Repeat("a", 31) + "."} {
		if ValidURLID(bad) {
			t.Errorf("ValidURLID(%q)", bad)
		}
	}
}
