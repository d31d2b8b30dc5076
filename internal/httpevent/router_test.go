package httpevent

import (
	"errors"
	"testing"
)

// The example of "Routing API requests" in the API Gateway guide.
func TestRouterDocExample(t *testing.T) {
	var rt Router[int]
	for i, key := range []string{"GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default"} {
		if err := rt.AddKey(key, i+1); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		method, path string
		want         int
		params       map[string]string
	}{
		{"GET", "/pets/dog/1", 1, nil},                                       // full static match
		{"GET", "/pets/dog/2", 2, map[string]string{"id": "2"}},              // full match with a variable
		{"GET", "/pets/cat/1", 3, map[string]string{"proxy": "cat/1"}},       // greedy, exact method
		{"POST", "/pets/dog/1", 4, map[string]string{"proxy": "pets/dog/1"}}, // ANY greedy beats $default
		{"GET", "/", 5, nil}, // a greedy variable needs a segment
		{"DELETE", "", 5, nil},
	} {
		got, route, err := rt.Match(tc.method, tc.path)
		if err != nil {
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s %s: route %d (%s), want %d", tc.method, tc.path, got, route.Key, tc.want)
		}
		check(t, tc.method+" "+tc.path+" params", route.Params, tc.params)
	}
}

func TestRouterPrecedence(t *testing.T) {
	routes := []string{
		"ANY /users/{id}",
		"GET /users/{id}",
		"GET /users/me",
		"GET /users/{id}/posts",
		"GET /{a}/dog",
		"GET /pets/{proxy+}",
		"GET /pets/cats/{rest+}",
		"GET /{x}/b/c",
		"GET /a/{y}/c",
		"GET /",
		"POST /files/{path+}",
		"GET /caf%C3%A9",
		"GET /café",
		"GET /files/{name}",
	}
	var rt Router[string]
	for _, key := range routes {
		if err := rt.AddKey(key, key); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	for _, tc := range []struct {
		method, path, want string
		params             map[string]string
	}{
		{"GET", "/users/me", "GET /users/me", nil},
		{"GET", "/users/42", "GET /users/{id}", map[string]string{"id": "42"}},
		{"DELETE", "/users/42", "ANY /users/{id}", map[string]string{"id": "42"}},
		{"DELETE", "/users/me", "ANY /users/{id}", map[string]string{"id": "me"}}, // the static route's method does not fit
		{"GET", "/users/42/posts", "GET /users/{id}/posts", map[string]string{"id": "42"}},
		{"GET", "/pets/dog", "GET /{a}/dog", map[string]string{"a": "pets"}},                      // a full match beats a greedy one
		{"GET", "/pets/cats/tom/1", "GET /pets/cats/{rest+}", map[string]string{"rest": "tom/1"}}, // longer greedy prefix
		{"GET", "/pets/mice/1", "GET /pets/{proxy+}", map[string]string{"proxy": "mice/1"}},
		{"GET", "/a/b/c", "GET /a/{y}/c", map[string]string{"y": "b"}}, // literal wins left to right
		{"GET", "/", "GET /", nil},
		{"GET", "", "GET /", nil},
		{"POST", "/files/a/b%2Fc/d", "POST /files/{path+}", map[string]string{"path": "a/b/c/d"}},
		{"GET", "/files/a%2Fb", "GET /files/{name}", map[string]string{"name": "a/b"}}, // %2F stays inside its segment
		{"GET", "/files/100%", "GET /files/{name}", map[string]string{"name": "100%"}}, // a bad escape is kept as sent
		{"GET", "/caf%C3%A9", "GET /café", nil},                                        // segments compare decoded
	} {
		got, route, err := rt.Match(tc.method, tc.path)
		if err != nil {
			t.Errorf("%s %q: %v", tc.method, tc.path, err)
			continue
		}
		if got != tc.want || route.Key != tc.want {
			t.Errorf("%s %q: %q (key %q), want %q", tc.method, tc.path, got, route.Key, tc.want)
		}
		check(t, tc.method+" "+tc.path+" params", route.Params, tc.params)
	}
}

func TestRouterNoMatch(t *testing.T) {
	var rt Router[int]
	for _, key := range []string{"GET /users/{id}", "POST /files/{path+}", "GET /users"} {
		if err := rt.AddKey(key, 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		method, path string
		want         error
	}{
		{"POST", "/users/1", ErrMethodNotAllowed},
		{"GET", "/files/x", ErrMethodNotAllowed},
		{"get", "/users/1", ErrMethodNotAllowed}, // methods are case-sensitive
		{"GET", "/nothing", ErrNoRoute},
		{"GET", "/users/", ErrNoRoute},   // an empty segment is no {id}
		{"GET", "/users/1/", ErrNoRoute}, // nor a trailing slash the same path
		{"POST", "/files/", ErrNoRoute},
		{"POST", "/files", ErrNoRoute},
		{"GET", "/", ErrNoRoute},
		{"GET", "users/1", ErrNoRoute},
	} {
		if _, _, err := rt.Match(tc.method, tc.path); !errors.Is(err, tc.want) {
			t.Errorf("%s %q: err %v, want %v", tc.method, tc.path, err, tc.want)
		}
	}
}

func TestRouterAddErrors(t *testing.T) {
	for _, tc := range []struct{ method, pattern string }{
		{"get", "/a"},
		{"CONNECT", "/a"},
		{"GET", "a"},
		{"GET", ""},
		{"GET", "/a//b"},
		{"GET", "/a/"},
		{"GET", "/a{b}"},
		{"GET", "/{a"},
		{"GET", "/{}"},
		{"GET", "/{+}"},
		{"GET", "/{a b}"},
		{"GET", "/{p+}/x"},
		{"GET", "/{a}/{a}"},
	} {
		var rt Router[int]
		if err := rt.Add(tc.method, tc.pattern, 1); !errors.Is(err, ErrBadRoute) {
			t.Errorf("Add(%q, %q) = %v, want ErrBadRoute", tc.method, tc.pattern, err)
		}
	}
	var rt Router[int]
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rt.AddKey("GET /a/{x}", 1))
	must(rt.AddKey("POST /a/{x}", 1))
	must(rt.AddKey("ANY /a/{x}", 1))
	must(rt.AddKey("$default", 1))
	for _, key := range []string{"GET /a/{y}", "$default", "GET", "GET  /a", "/a"} {
		if err := rt.AddKey(key, 2); !errors.Is(err, ErrBadRoute) {
			t.Errorf("AddKey(%q) = %v, want ErrBadRoute", key, err)
		}
	}
}
