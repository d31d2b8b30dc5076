package sigv4_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/ember-run/ember/internal/sigv4"
)

// FuzzVerify feeds arbitrary Authorization headers, dates, paths and queries
// to Verify: it must never panic and must fail with one of the sentinels.
func FuzzVerify(f *testing.F) {
	seed := httptest.NewRequest(http.MethodPost, "http://ember.test"+invokePath+"?Qualifier=%24LATEST", nil)
	if err := sigv4.Sign(seed, []byte("{}"), testKey, testSecret, testRegion, "lambda", base); err != nil {
		f.Fatal(err)
	}
	amzDate := seed.Header.Get("X-Amz-Date")
	authz, sha := seed.Header.Get("Authorization"), seed.Header.Get("X-Amz-Content-Sha256")
	f.Add(authz, amzDate, sha, invokePath, "Qualifier=%24LATEST", []byte("{}"), true)
	f.Add(authz, amzDate, sha, invokePath, "Qualifier=%24LATEST", []byte("{}"), false)
	f.Add(authz, amzDate, "UNSIGNED-PAYLOAD", invokePath, "Qualifier=%24LATEST", []byte("{}"), true)
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/local/lambda/aws4_request,SignedHeaders=host,Signature=", amzDate, "", "", "", []byte(nil), true)
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;, Signature=,,", "20261124T000000Z", "zz", "/%zz", "a=%&b", []byte("x"), true)
	f.Add("", "", "", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261124%2Flocal%2Flambda%2Faws4_request&X-Amz-Date=20261124T000000Z&X-Amz-Expires=99999999999999999999&X-Amz-SignedHeaders=host&X-Amz-Signature=00", []byte(nil), false)

	sentinels := []error{sigv4.ErrMissing, sigv4.ErrMalformed, sigv4.ErrUnknownKey, sigv4.ErrMismatch, sigv4.ErrExpired}
	v := newVerifier(base)
	request := func(authz, date, sha, path, rawQuery string, asServer bool) *http.Request {
		u, err := url.Parse(path)
		if err != nil {
			u = &url.URL{Path: path}
		}
		u.RawQuery = rawQuery
		r := &http.Request{
			Method: http.MethodPost,
			URL:    u,
			Host:   "ember.test",
			Header: http.Header{"Authorization": {authz}, "X-Amz-Date": {date}, "X-Amz-Content-Sha256": {sha}},
		}
		if asServer {
			r.RequestURI = path + "?" + rawQuery
		}
		return r
	}
	// The first seeds must verify, so that the fuzzer mutates a valid request.
	for _, asServer := range []bool{true, false} {
		if _, err := v.Verify(context.Background(), request(authz, amzDate, sha, invokePath, "Qualifier=%24LATEST", asServer), []byte("{}")); err != nil {
			f.Fatalf("seed does not verify: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, authz, date, sha, path, rawQuery string, body []byte, asServer bool) {
		res, err := v.Verify(context.Background(), request(authz, date, sha, path, rawQuery, asServer), body)
		if err == nil {
			if res.AccessKeyID != testKey || res.Time.IsZero() {
				t.Fatalf("accepted with Result %+v", res)
			}
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("error %v is none of the sentinels", err)
	})
}
