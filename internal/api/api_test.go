package api

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/account"
	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/keyring"
	"github.com/ember-run/ember/internal/sigv4"
	"github.com/ember-run/ember/internal/store"
)

type fixture struct {
	srv   *httptest.Server
	creds account.Credentials
	other account.Credentials
}

// testDeps opens what every test server of this package is built from: a
// store in a temporary directory, a keyring, the accounts service and a
// catalog, all closed when t ends. The store is returned for the parts a
// test adds to Deps.
func testDeps(t testing.TB) (Deps, *store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, err := keyring.New(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	accts, err := account.New(ctx, st, ring)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New(ctx, st, catalog.Options{Region: "local", Sealer: ring})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return Deps{Catalog: cat, Accounts: accts, Keyring: ring}, st
}

// serve creates accounts "a" (creds) and "b" (other) and serves the API
// over deps until t ends.
// otherSecret is a secret of the same length that differs from s in its
// first character, whatever that character is.
func otherSecret(s string) string {
	c := byte('A')
	if s[0] == c {
		c = 'B'
	}
	return string(c) + s[1:]
}

func serve(t testing.TB, deps Deps) *fixture {
	t.Helper()
	f := &fixture{creds: newAccount(t, deps, "a"), other: newAccount(t, deps, "b")}
	f.srv = httptest.NewServer(New(deps))
	t.Cleanup(f.srv.Close)
	return f
}

// newAccount creates account name and returns its keys.
func newAccount(t testing.TB, deps Deps, name string) account.Credentials {
	t.Helper()
	_, creds, err := deps.Accounts.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// newFixture is the API without an invoker, with accounts "a" and "b".
func newFixture(t testing.TB) *fixture {
	t.Helper()
	deps, _ := testDeps(t)
	return serve(t, deps)
}

// createFunction creates function name (testZip) as f.creds.
func (f *fixture) createFunction(t testing.TB, name string) {
	t.Helper()
	if resp, body := f.do(t, &f.creds, "POST", "/2015-03-31/functions", createReq(name)); resp.StatusCode != 201 {
		t.Fatalf("create function: %d %s", resp.StatusCode, body)
	}
}

func (f *fixture) do(t testing.TB, creds *account.Credentials, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(data))
	if creds != nil {
		if err := sigv4.Sign(req, data, creds.AccessKeyID, creds.SecretAccessKey, "local", "lambda", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func testZip() []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, _ := w.Create("bootstrap")
	f.Write([]byte("#!/bin/sh\n"))
	w.Close()
	return buf.Bytes()
}

func createReq(name string) map[string]any {
	return map[string]any{
		"FunctionName": name, "Runtime": "provided.al2023", "Role": "arn:aws:iam::123456789012:role/r",
		"Code": map[string]any{"ZipFile": testZip()},
	}
}

// Every failure is Lambda-shaped: status, X-Amzn-ErrorType, JSON body, request id.
func TestErrorShapes(t *testing.T) {
	f := newFixture(t)
	bad := f.creds
	bad.SecretAccessKey = otherSecret(bad.SecretAccessKey)
	unknown := f.creds
	unknown.AccessKeyID = "AKIAUNKNOWNUNKNOWN00"
	cases := []struct {
		name   string
		creds  *account.Credentials
		method string
		path   string
		body   any
		status int
		typ    string
	}{
		{"unsigned", nil, "GET", "/2015-03-31/functions", nil, 403, "MissingAuthenticationTokenException"},
		{"bad secret", &bad, "GET", "/2015-03-31/functions", nil, 403, "InvalidSignatureException"},
		{"unknown key", &unknown, "GET", "/2015-03-31/functions", nil, 403, "UnrecognizedClientException"},
		{"unknown route", &f.creds, "GET", "/nope", nil, 404, "UnknownOperationException"},
		{"wrong method", &f.creds, "PATCH", "/2015-03-31/functions/x", nil, 405, "MethodNotAllowedException"},
		{"wrong method 2", &f.creds, "POST", "/2015-03-31/functions/x/configuration", nil, 405, "MethodNotAllowedException"},
		{"missing function", &f.creds, "GET", "/2015-03-31/functions/missing", nil, 404, "ResourceNotFoundException"},
		{"bad name", &f.creds, "GET", "/2015-03-31/functions/bad%20name", nil, 400, "InvalidParameterValueException"},
		{"bad json", &f.creds, "POST", "/2015-03-31/functions", json.RawMessage(`{"FunctionName":`), 400, "InvalidRequestContentException"},
		{"bad role", &f.creds, "POST", "/2015-03-31/functions", map[string]any{"FunctionName": "x", "Runtime": "provided", "Role": "nope", "Code": map[string]any{"ZipFile": testZip()}}, 400, "InvalidParameterValueException"},
		{"bad max items", &f.creds, "GET", "/2015-03-31/functions?MaxItems=0", nil, 400, "InvalidParameterValueException"},
		{"non-admin account create", &f.creds, "POST", "/ember/accounts", map[string]string{"Name": "x"}, 403, "AccessDeniedException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any = tc.body
			if raw, ok := tc.body.(json.RawMessage); ok {
				body = nil
				req, _ := http.NewRequest(tc.method, f.srv.URL+tc.path, bytes.NewReader(raw))
				sigv4.Sign(req, raw, tc.creds.AccessKeyID, tc.creds.SecretAccessKey, "local", "lambda", time.Now())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				check(t, resp, out, tc.status, tc.typ)
				return
			}
			resp, out := f.do(t, tc.creds, tc.method, tc.path, body)
			check(t, resp, out, tc.status, tc.typ)
		})
	}
}

func check(t *testing.T, resp *http.Response, body []byte, status int, typ string) {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("X-Amzn-ErrorType") != typ {
		t.Fatalf("got %d %q, want %d %q: %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), status, typ, body)
	}
	var e struct{ Type, Message string }
	if err := json.Unmarshal(body, &e); err != nil || e.Message == "" || e.Type == "" {
		t.Fatalf("error body not Lambda-shaped: %s", body)
	}
	if resp.Header.Get("x-amzn-RequestId") == "" {
		t.Fatal("no request id")
	}
}

func TestCodeLinkIsOwnerOnlyAndTamperProof(t *testing.T) {
	f := newFixture(t)
	if resp, body := f.do(t, &f.creds, "POST", "/2015-03-31/functions", createReq("fn")); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	_, body := f.do(t, &f.creds, "GET", "/2015-03-31/functions/fn", nil)
	var got struct{ Code struct{ Location string } }
	json.Unmarshal(body, &got)
	resp, err := http.Get(got.Code.Location)
	if err != nil {
		t.Fatal(err)
	}
	zipped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(zipped, testZip()) {
		t.Fatalf("download: %d, %d bytes", resp.StatusCode, len(zipped))
	}
	tampered := got.Code.Location[:len(got.Code.Location)-1] + "0"
	if tampered == got.Code.Location {
		tampered = got.Code.Location[:len(got.Code.Location)-1] + "1"
	}
	if resp, _ := http.Get(tampered); resp.StatusCode != 403 {
		t.Fatalf("tampered link: %d", resp.StatusCode)
	}
	// Another account does not even see the function.
	acct := f.ownerOf(t)
	resp2, out := f.do(t, &f.other, "GET", "/2015-03-31/functions/arn:aws:lambda:local:"+acct+":function:fn", nil)
	check(t, resp2, out, 404, "ResourceNotFoundException")
}

func (f *fixture) ownerOf(t *testing.T) string { return f.creds.AccountID }

// BenchmarkGetFunctionConfiguration measures one signed control-plane read
// through the whole HTTP stack (SigV4 verify, key cache, KV read, render)
// against a bare HTTP echo handler on the same machine.
func BenchmarkGetFunctionConfiguration(b *testing.B) {
	f := newFixture(b)
	f.do(b, &f.creds, "POST", "/2015-03-31/functions", createReq("fn"))
	b.Run("ember", func(b *testing.B) {
		for b.Loop() {
			resp, _ := f.do(b, &f.creds, "GET", "/2015-03-31/functions/fn/configuration", nil)
			if resp.StatusCode != 200 {
				b.Fatal(resp.Status)
			}
		}
	})
	b.Run("bare-echo", func(b *testing.B) {
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Write(body)
		}))
		defer echo.Close()
		for b.Loop() {
			resp, err := http.Get(echo.URL + "/2015-03-31/functions/fn/configuration")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
