package httpevent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func FuzzWriteResponse(f *testing.F) {
	for _, tc := range responseCases {
		if len(tc.payload) < 1<<16 {
			f.Add([]byte(tc.payload))
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		w := httptest.NewRecorder()
		err := WriteResponse(w, payload)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
		if w.Header().Get("Content-Type") == "" {
			t.Fatal("no Content-Type")
		}
		if err != nil && (w.Code != 502 || w.Body.String() != internalError) {
			t.Fatalf("error %v but status %d body %q", err, w.Code, w.Body)
		}
		for name, vals := range w.Header() {
			for _, v := range vals {
				if !validHeaderName(name) || !validHeaderValue(v) {
					t.Fatalf("header %q: %q", name, v)
				}
			}
		}
	})
}

func fuzzRouter(t testing.TB) *Router[string] {
	var rt Router[string]
	for _, key := range []string{
		"GET /", "GET /users/{id}", "ANY /users/{id}/posts/{post}", "GET /users/me",
		"POST /files/{path+}", "ANY /{proxy+}", "GET /{a}/b/{c}", "DELETE /a/{b}/c",
	} {
		if err := rt.AddKey(key, key); err != nil {
			t.Fatal(err)
		}
	}
	return &rt
}

func FuzzRouterMatch(f *testing.F) {
	for _, s := range [][2]string{{"GET", "/users/1"}, {"POST", "/files/a/b"}, {"PUT", "/x/b/y"}, {"GET", "/%zz/b/%2F"}, {"GET", ""}, {"GET", "//"}} {
		f.Add(s[0], s[1])
	}
	rt := fuzzRouter(f)
	f.Fuzz(func(t *testing.T, method, path string) {
		target, route, err := rt.Match(method, path)
		if err != nil {
			return
		}
		if target != route.Key {
			t.Fatalf("target %q but key %q", target, route.Key)
		}
		m, pattern, _ := strings.Cut(route.Key, " ")
		if m != method && m != "ANY" {
			t.Fatalf("%s %q matched %q", method, path, route.Key)
		}
		if want := strings.Count(pattern, "{"); len(route.Params) != want {
			t.Fatalf("%q: %d params %v, want %d", route.Key, len(route.Params), route.Params, want)
		}
		for name, v := range route.Params {
			if v == "" {
				t.Fatalf("%q: empty %s", route.Key, name)
			}
		}
	})
}

func FuzzRequest(f *testing.F) {
	f.Add("/a%20b", "q=1&q=2", "text/plain", "cookie1; cookie2", []byte("hello"))
	f.Add("/", "", "", "", []byte{0xff, 0})
	f.Fuzz(func(t *testing.T, path, query, contentType, cookie string, body []byte) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(string(body)))
		r.URL.RawQuery = query
		r.Header = http.Header{"Content-Type": {contentType}, "Cookie": {cookie}}
		ev, err := Request(r, Route{Path: path, Params: map[string]string{"p": path}}, Caller{RequestID: "x"}, when, 0)
		if err != nil {
			t.Fatal(err)
		}
		var e events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(ev, &e); err != nil {
			t.Fatalf("%v\n%s", err, ev)
		}
		if len(body) > 0 && !e.IsBase64Encoded && e.Body != string(body) {
			t.Fatalf("text body %q became %q", body, e.Body)
		}
	})
}
