package sigv4_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkv4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/aws-http-auth/credentials"
	smithysigv4 "github.com/aws/smithy-go/aws-http-auth/sigv4"

	"github.com/ember-run/ember/internal/sigv4"
)

const (
	testKey    = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testRegion = "local"

	invokePath = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Alocal%3A123456789012%3Afunction%3Afoo/invocations"
)

// base is the verifier's clock: midnight, so that skewed requests are signed
// on another day than the verifier's.
var base = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

func lookup(_ context.Context, id string) (string, error) {
	if id == testKey {
		return testSecret, nil
	}
	return "", fmt.Errorf("access key %q: %w", id, sigv4.ErrUnknownKey)
}

func newVerifier(now time.Time) *sigv4.Verifier {
	return &sigv4.Verifier{
		Lookup:   lookup,
		Services: []string{"lambda", "ember"},
		Now:      func() time.Time { return now },
	}
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// outcome is what the server-side Verify returned for one request.
type outcome struct {
	res sigv4.Result
	err error
}

// verifyServer is a real HTTP server that verifies every request it gets, so
// that Verify sees the *http.Request that net/http really produces.
type verifyServer struct {
	*httptest.Server
	got chan outcome
}

func newVerifyServer(t *testing.T, v *sigv4.Verifier) *verifyServer {
	t.Helper()
	s := &verifyServer{got: make(chan outcome, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			s.got <- outcome{err: err}
			return
		}
		res, err := v.Verify(r.Context(), r, body)
		s.got <- outcome{res, err}
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

// do sends req and returns what the server's Verify said about it.
func (s *verifyServer) do(t *testing.T, req *http.Request) outcome {
	t.Helper()
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	select {
	case o := <-s.got:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("server did not verify the request")
		return outcome{}
	}
}

func checkErr(t *testing.T, got, want error) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Fatalf("Verify: unexpected error: %v", got)
	case want != nil && !errors.Is(got, want):
		t.Fatalf("Verify: got error %v, want %v", got, want)
	}
}

type signFunc func(t *testing.T, req *http.Request, body []byte, key, secret string, at time.Time)

var signers = []struct {
	name string
	sign signFunc
}{
	{"aws-sdk-go-v2", func(t *testing.T, req *http.Request, body []byte, key, secret string, at time.Time) {
		creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}
		if err := sdkv4.NewSigner().SignHTTP(context.Background(), creds, req, hashHex(body), "lambda", testRegion, at); err != nil {
			t.Fatal(err)
		}
	}},
	{"ember", func(t *testing.T, req *http.Request, body []byte, key, secret string, at time.Time) {
		if err := sigv4.Sign(req, body, key, secret, testRegion, "lambda", at); err != nil {
			t.Fatal(err)
		}
	}},
	{"smithy-aws-http-auth", func(t *testing.T, req *http.Request, body []byte, key, secret string, at time.Time) {
		sum := sha256.Sum256(body)
		err := smithysigv4.New().SignRequest(&smithysigv4.SignRequestInput{
			Request:     req,
			PayloadHash: sum[:],
			Credentials: credentials.Credentials{AccessKeyID: key, SecretAccessKey: secret},
			Service:     "lambda",
			Region:      testRegion,
			Time:        at,
		})
		if err != nil {
			t.Fatal(err)
		}
	}},
}

// apiRequest is one kind of Lambda API call.
type apiRequest struct {
	name         string
	method       string
	target       string // path and query, escaped as on the wire
	body         string
	headers      map[string]string
	tamperHeader string // a signed header to change
	pathFrom     string // a piece of the path to change
	pathTo       string
}

var apiRequests = []apiRequest{
	{
		name:         "ListFunctions GET with escaped query",
		method:       http.MethodGet,
		target:       "/2015-03-31/functions/?MaxItems=10&Marker=a%2Fb&FunctionVersion=ALL",
		headers:      map[string]string{"X-Amz-Ember-Trace": "list-1"},
		tamperHeader: "X-Amz-Ember-Trace",
		pathFrom:     "/functions/",
		pathTo:       "/functionz/",
	},
	{
		name:         "CreateFunction POST JSON",
		method:       http.MethodPost,
		target:       "/2015-03-31/functions",
		body:         `{"FunctionName":"foo","Runtime":"provided.al2023","Handler":"bootstrap"}`,
		headers:      map[string]string{"Content-Type": "application/json", "X-Amz-Ember-Trace": "create-1"},
		tamperHeader: "X-Amz-Ember-Trace",
		pathFrom:     "/2015-03-31/",
		pathTo:       "/2016-03-31/",
	},
	{
		name:   "Invoke POST with ARN in path",
		method: http.MethodPost,
		target: invokePath + "?Qualifier=%24LATEST",
		body:   `{"hello":"world"}`,
		headers: map[string]string{
			"Content-Type":          "application/json",
			"X-Amz-Invocation-Type": "RequestResponse",
			"X-Amz-Log-Type":        "Tail",
		},
		tamperHeader: "X-Amz-Invocation-Type",
		pathFrom:     "function%3Afoo",
		pathTo:       "function%3Abar",
	},
}

func setBody(req *http.Request, body string) {
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
}

func TestVerifySignedRequests(t *testing.T) {
	cases := []struct {
		name   string
		at     time.Duration // signing time relative to the verifier's clock
		key    string
		secret string
		after  func(req *http.Request, a apiRequest) // applied after signing
		want   error
	}{
		{name: "accept"},
		{name: "accept 14 minutes old", at: -14 * time.Minute},
		{name: "accept 14 minutes ahead", at: 14 * time.Minute},
		{name: "tampered body", want: sigv4.ErrMismatch, after: func(req *http.Request, a apiRequest) {
			body := strings.ToUpper(a.body) // same length, so Content-Length still matches
			if body == a.body {
				body = "x"
			}
			setBody(req, body)
		}},
		{name: "tampered signed header", want: sigv4.ErrMismatch, after: func(req *http.Request, a apiRequest) {
			req.Header.Set(a.tamperHeader, "Event")
		}},
		{name: "tampered path", want: sigv4.ErrMismatch, after: func(req *http.Request, a apiRequest) {
			req.URL.RawPath = strings.Replace(req.URL.EscapedPath(), a.pathFrom, a.pathTo, 1)
			req.URL.Path = strings.Replace(req.URL.Path, a.pathFrom, a.pathTo, 1)
			if req.URL.Path == req.URL.RawPath {
				req.URL.RawPath = ""
			}
		}},
		{name: "tampered query", want: sigv4.ErrMismatch, after: func(req *http.Request, a apiRequest) {
			req.URL.RawQuery += "&Qualifier=1"
		}},
		{name: "tampered host", want: sigv4.ErrMismatch, after: func(req *http.Request, a apiRequest) {
			req.Host = "localhost:" + req.URL.Port()
		}},
		{name: "wrong secret", secret: "not-the-secret", want: sigv4.ErrMismatch},
		{name: "unknown key", key: "AKIDUNKNOWN", want: sigv4.ErrUnknownKey},
		{name: "16 minutes old", at: -16 * time.Minute, want: sigv4.ErrExpired},
		{name: "16 minutes ahead", at: 16 * time.Minute, want: sigv4.ErrExpired},
		{name: "scope date differs from X-Amz-Date", at: -30 * time.Second, want: sigv4.ErrMalformed, after: func(req *http.Request, a apiRequest) {
			req.Header.Set("X-Amz-Date", base.Add(30*time.Second).Format("20060102T150405Z"))
		}},
		{name: "missing Authorization", want: sigv4.ErrMissing, after: func(req *http.Request, a apiRequest) {
			req.Header.Del("Authorization")
		}},
	}
	srv := newVerifyServer(t, newVerifier(base))
	for _, s := range signers {
		for _, a := range apiRequests {
			for _, tc := range cases {
				t.Run(s.name+"/"+a.name+"/"+tc.name, func(t *testing.T) {
					req, err := http.NewRequest(a.method, srv.URL+a.target, strings.NewReader(a.body))
					if err != nil {
						t.Fatal(err)
					}
					for k, v := range a.headers {
						req.Header.Set(k, v)
					}
					key, secret := testKey, testSecret
					if tc.key != "" {
						key = tc.key
					}
					if tc.secret != "" {
						secret = tc.secret
					}
					s.sign(t, req, []byte(a.body), key, secret, base.Add(tc.at))
					if tc.after != nil {
						tc.after(req, a)
					}
					o := srv.do(t, req)
					checkErr(t, o.err, tc.want)
					if tc.want == nil {
						want := sigv4.Result{AccessKeyID: testKey, Region: testRegion, Service: "lambda", Time: base.Add(tc.at)}
						if o.res != want {
							t.Errorf("Result = %+v, want %+v", o.res, want)
						}
					}
				})
			}
		}
	}
}

// TestVerifySDKCanonicalization covers inputs on which simpler signers
// disagree with aws-sdk-go-v2: whitespace inside header values, repeated
// headers, unnormalized paths, and query values whose order changes when
// encoded ("a/b" < "a-b" but "a%2Fb" > "a-b").
func TestVerifySDKCanonicalization(t *testing.T) {
	cases := []struct {
		name    string
		method  string
		target  string
		body    string
		headers http.Header
	}{
		{
			name:    "spaces and tabs in header values",
			method:  http.MethodPost,
			target:  invokePath,
			body:    `{}`,
			headers: http.Header{"X-Amz-Ember-Note": {"  two  spaces   and\ta tab  "}},
		},
		{
			name:    "repeated header",
			method:  http.MethodGet,
			target:  "/2015-03-31/functions",
			headers: http.Header{"X-Amz-Ember-Multi": {"a", "b  c"}},
		},
		{
			name:   "unnormalized path",
			method: http.MethodGet,
			target: "/2015-03-31//functions/./foo/../foo%3A1/configuration",
		},
		{
			name:   "query sorted after encoding",
			method: http.MethodGet,
			target: "/2015-03-31/functions?Marker=a-b&Marker=a%2Fb&Marker=a+b&Empty&Semi=x%3By",
		},
		{
			name:    "signed content type and empty body",
			method:  http.MethodDelete,
			target:  "/2015-03-31/functions/foo?Qualifier=%24LATEST",
			headers: http.Header{"Content-Type": {"application/json"}},
		},
	}
	srv := newVerifyServer(t, newVerifier(base))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.target, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tc.headers {
				req.Header[k] = vs
			}
			signers[0].sign(t, req, []byte(tc.body), testKey, testSecret, base)
			checkErr(t, srv.do(t, req).err, nil)

			// The same request with one value changed must fail, or the
			// case proves nothing.
			req, _ = http.NewRequest(tc.method, srv.URL+tc.target, strings.NewReader(tc.body))
			for k, vs := range tc.headers {
				req.Header[k] = vs
			}
			signers[0].sign(t, req, []byte(tc.body), testKey, testSecret, base)
			req.Header.Set("X-Amz-Date", base.Add(time.Second).Format("20060102T150405Z"))
			checkErr(t, srv.do(t, req).err, sigv4.ErrMismatch)
		})
	}
}

func TestVerifyContentSha256(t *testing.T) {
	body := []byte(`{"hello":"world"}`)
	cases := []struct {
		name     string
		declared string
		sent     []byte
		want     error
	}{
		{"declared hash matches", hashHex(body), body, nil},
		{"declared hash does not match body", hashHex(body), []byte(`{"hello":"WORLD"}`), sigv4.ErrMismatch},
		{"unsigned payload", "UNSIGNED-PAYLOAD", []byte(`anything`), nil},
		{"streaming payload unsupported", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", body, sigv4.ErrMalformed},
	}
	srv := newVerifyServer(t, newVerifier(base))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+invokePath, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Content-Sha256", tc.declared)
			creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
			if err := sdkv4.NewSigner().SignHTTP(context.Background(), creds, req, tc.declared, "lambda", testRegion, base); err != nil {
				t.Fatal(err)
			}
			setBody(req, string(tc.sent))
			checkErr(t, srv.do(t, req).err, tc.want)
		})
	}
}

func TestVerifyPresigned(t *testing.T) {
	const target = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Alocal%3A123456789012%3Afunction%3Afoo/configuration?Qualifier=%24LATEST&Marker=a%2Fb"
	cases := []struct {
		name    string
		at      time.Duration
		expires string // X-Amz-Expires; "" leaves it out
		payload string
		after   func(u string) string
		want    error
	}{
		{name: "accept", at: -4 * time.Minute, expires: "300"},
		{name: "accept hash of empty body", at: -4 * time.Minute, expires: "300", payload: hashHex(nil)},
		{name: "accept without X-Amz-Expires inside skew", at: -10 * time.Minute},
		{name: "accept 6 days old with 7 day expiry", at: -6 * 24 * time.Hour, expires: "604800"},
		{name: "expired", at: -6 * time.Minute, expires: "300", want: sigv4.ErrExpired},
		{name: "expired without X-Amz-Expires", at: -16 * time.Minute, want: sigv4.ErrExpired},
		{name: "not yet valid", at: 16 * time.Minute, expires: "300", want: sigv4.ErrExpired},
		{name: "expiry over 7 days", expires: "604801", want: sigv4.ErrMalformed},
		{name: "tampered query", expires: "300", want: sigv4.ErrMismatch, after: func(u string) string {
			return strings.Replace(u, "Qualifier=%24LATEST", "Qualifier=1", 1)
		}},
		{name: "tampered expiry", expires: "300", want: sigv4.ErrMismatch, after: func(u string) string {
			return strings.Replace(u, "X-Amz-Expires=300", "X-Amz-Expires=900", 1)
		}},
		{name: "signature removed", expires: "300", want: sigv4.ErrMalformed, after: func(u string) string {
			i := strings.Index(u, "&X-Amz-Signature=")
			return u[:i]
		}},
	}
	srv := newVerifyServer(t, newVerifier(base))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+target, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.expires != "" {
				req.URL.RawQuery += "&X-Amz-Expires=" + tc.expires
			}
			payload := tc.payload
			if payload == "" {
				payload = "UNSIGNED-PAYLOAD"
			}
			creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
			u, hdr, err := sdkv4.NewSigner().PresignHTTP(context.Background(), creds, req, payload, "lambda", testRegion, base.Add(tc.at))
			if err != nil {
				t.Fatal(err)
			}
			if tc.after != nil {
				u = tc.after(u)
			}
			preq, err := http.NewRequest(http.MethodGet, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range hdr {
				if k != "Host" {
					preq.Header[k] = vs
				}
			}
			o := srv.do(t, preq)
			checkErr(t, o.err, tc.want)
		})
	}
}

// TestVerifyMalformed feeds hand-written Authorization headers; the signature
// material is real (from Sign) wherever the case does not replace it.
func TestVerifyMalformed(t *testing.T) {
	signed := func(t *testing.T) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://ember.test"+invokePath, strings.NewReader(`{}`))
		if err := sigv4.Sign(r, []byte(`{}`), testKey, testSecret, testRegion, "lambda", base); err != nil {
			t.Fatal(err)
		}
		return r
	}
	sig := func(r *http.Request) string {
		_, s, _ := strings.Cut(r.Header.Get("Authorization"), "Signature=")
		return s
	}
	cases := []struct {
		name   string
		modify func(r *http.Request)
		want   error
	}{
		{"as signed", func(r *http.Request) {}, nil},
		{"no spaces after commas", func(r *http.Request) {
			r.Header.Set("Authorization", strings.ReplaceAll(r.Header.Get("Authorization"), ", ", ","))
		}, nil},
		{"elements reordered", func(r *http.Request) {
			h := r.Header.Get("Authorization")
			alg, rest, _ := strings.Cut(h, " ")
			parts := strings.Split(rest, ", ")
			r.Header.Set("Authorization", alg+" "+parts[2]+", "+parts[0]+", "+parts[1])
		}, nil},
		{"empty Authorization", func(r *http.Request) { r.Header.Set("Authorization", "") }, sigv4.ErrMissing},
		{"other scheme", func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, sigv4.ErrMalformed},
		{"algorithm only", func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256") }, sigv4.ErrMalformed},
		{"sigv4a", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
		}, sigv4.ErrMalformed},
		{"upper-case signature", func(r *http.Request) {
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", strings.Replace(h, sig(r), strings.ToUpper(sig(r)), 1))
		}, sigv4.ErrMalformed},
		{"short signature", func(r *http.Request) {
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:len(h)-1])
		}, sigv4.ErrMalformed},
		{"signed headers without host", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=host;", "SignedHeaders=", 1))
		}, sigv4.ErrMalformed},
		{"signed headers unsorted", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=host;x-amz-content-sha256", "SignedHeaders=x-amz-content-sha256;host", 1))
		}, sigv4.ErrMalformed},
		{"credential without terminator", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/aws4_request", "", 1))
		}, sigv4.ErrMalformed},
		{"credential with bad date", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20261124/", "/2026-11-24/", 1))
		}, sigv4.ErrMalformed},
		{"service not accepted", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/lambda/", "/s3/", 1))
		}, sigv4.ErrMalformed},
		{"service accepted, other region", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/local/lambda/", "/eu-west-1/ember/", 1))
		}, sigv4.ErrMismatch},
		{"repeated element", func(r *http.Request) {
			r.Header.Set("Authorization", r.Header.Get("Authorization")+", Signature="+sig(r))
		}, sigv4.ErrMalformed},
		{"missing X-Amz-Date", func(r *http.Request) { r.Header.Del("X-Amz-Date") }, sigv4.ErrMalformed},
		{"X-Amz-Date not ISO 8601 basic", func(r *http.Request) { r.Header.Set("X-Amz-Date", base.Format(time.RFC3339)) }, sigv4.ErrMalformed},
		{"header and query auth", func(r *http.Request) {
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
			r.RequestURI += "?" + r.URL.RawQuery
		}, sigv4.ErrMalformed},
		{"bad query escape", func(r *http.Request) { r.URL.RawQuery = "a=%zz"; r.RequestURI += "?" + r.URL.RawQuery }, sigv4.ErrMalformed},
	}
	v := newVerifier(base)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := signed(t)
			tc.modify(r)
			_, err := v.Verify(context.Background(), r, []byte(`{}`))
			checkErr(t, err, tc.want)
		})
	}
}

func TestVerifyExpiredMessage(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://ember.test/2015-03-31/functions", nil)
	if err := sigv4.Sign(r, nil, testKey, testSecret, testRegion, "lambda", base.Add(-16*time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err := newVerifier(base).Verify(context.Background(), r, nil)
	const want = "Signature expired: 20261123T234400Z is now earlier than 20261123T234500Z (20261124T000000Z - 15 min.)"
	if !errors.Is(err, sigv4.ErrExpired) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want ErrExpired with %q", err, want)
	}
}

func TestVerifyLookupFailure(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://ember.test/2015-03-31/functions", nil)
	if err := sigv4.Sign(r, nil, testKey, testSecret, testRegion, "lambda", base); err != nil {
		t.Fatal(err)
	}
	storeDown := errors.New("store unavailable")
	v := newVerifier(base)
	v.Lookup = func(context.Context, string) (string, error) { return "", storeDown }
	_, err := v.Verify(context.Background(), r, nil)
	if !errors.Is(err, storeDown) || errors.Is(err, sigv4.ErrMismatch) || errors.Is(err, sigv4.ErrUnknownKey) {
		t.Fatalf("got %v, want the lookup error", err)
	}
}
