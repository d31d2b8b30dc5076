package httpevent

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

var (
	// ErrNoRoute: no route's path matches. API Gateway answers 404
	// {"message":"Not Found"}.
	ErrNoRoute = errors.New("httpevent: no route")
	// ErrMethodNotAllowed: a route's path matches but none of those routes
	// takes the method. API Gateway does not tell this apart from
	// ErrNoRoute (it answers 404); ember may answer 405.
	ErrMethodNotAllowed = errors.New("httpevent: method not allowed")
	// ErrBadRoute: Add was given a route API Gateway would refuse.
	ErrBadRoute = errors.New("httpevent: invalid route")
)

// methods are those an HTTP API route may name.
var methods = map[string]bool{
	"ANY": true, "GET": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "HEAD": true, "OPTIONS": true,
}

// Router chooses the route of a published API for a request, by API
// Gateway's precedence: a full match beats a greedy {param+} one; among
// those the most specific path wins, comparing segments left to right, a
// literal segment beating a {param}; for the same path an exact method
// beats ANY; a route whose
// method does not fit is passed over for a less specific one that fits;
// the $default route catches the rest.
//
// The zero Router is empty and ready. Add must not run concurrently with
// Match; Match may run concurrently with itself.
type Router[T any] struct {
	routes []*entry[T] // most specific first
	def    *entry[T]
}

type segKind uint8

const (
	literal segKind = iota // order is precedence
	param
	greedy
)

type segment struct {
	kind segKind
	text string // the literal, or the parameter's name
}

type entry[T any] struct {
	key    string // "GET /users/{id}"
	method string
	segs   []segment
	shape  string // method and path with parameter names erased, to find clashes
	target T
}

// AddKey adds a route given by its route key, "METHOD /path" or "$default".
func (rt *Router[T]) AddKey(routeKey string, target T) error {
	if routeKey == Default {
		return rt.Add("ANY", Default, target)
	}
	method, pattern, ok := strings.Cut(routeKey, " ")
	if !ok {
		return fmt.Errorf("%w: route key %q is neither %q nor \"METHOD /path\"", ErrBadRoute, routeKey, Default)
	}
	return rt.Add(method, pattern, target)
}

// Add adds the route method pattern, e.g. ("GET", "/users/{id}") or
// ("ANY", "/files/{path+}"). The pattern "$default" adds the catch-all
// route, whatever the method.
func (rt *Router[T]) Add(method, pattern string, target T) error {
	if pattern == Default {
		if rt.def != nil {
			return fmt.Errorf("%w: %s added twice", ErrBadRoute, Default)
		}
		rt.def = &entry[T]{key: Default, target: target}
		return nil
	}
	if !methods[method] {
		return fmt.Errorf("%w: method %q (want ANY, GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS)", ErrBadRoute, method)
	}
	segs, err := parsePattern(pattern)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBadRoute, pattern, err)
	}
	e := &entry[T]{key: method + " " + pattern, method: method, segs: segs, target: target}
	var shape strings.Builder
	shape.WriteString(method)
	for _, s := range segs {
		shape.WriteString("/")
		switch s.kind {
		case literal:
			shape.WriteString(s.text)
		case param:
			shape.WriteString("{}")
		case greedy:
			shape.WriteString("{+}")
		}
	}
	e.shape = shape.String()
	for _, o := range rt.routes {
		if o.shape == e.shape {
			return fmt.Errorf("%w: %q clashes with %q", ErrBadRoute, e.key, o.key)
		}
	}
	i, _ := slices.BinarySearchFunc(rt.routes, e, compareEntries[T])
	rt.routes = slices.Insert(rt.routes, i, e)
	return nil
}

// compareEntries orders routes most specific first: every full match
// before any greedy one, then segment kinds left to right (two patterns only
// ever compete for the same path, so kinds are enough), then an exact
// method before ANY.
func compareEntries[T any](a, b *entry[T]) int {
	if ga, gb := a.greedy(), b.greedy(); ga != gb {
		if ga {
			return 1
		}
		return -1
	}
	for i := 0; i < len(a.segs) && i < len(b.segs); i++ {
		if a.segs[i].kind != b.segs[i].kind {
			return int(a.segs[i].kind) - int(b.segs[i].kind)
		}
	}
	if len(a.segs) != len(b.segs) {
		return len(b.segs) - len(a.segs)
	}
	switch {
	case a.method == b.method:
		return 0
	case a.method == "ANY":
		return 1
	case b.method == "ANY":
		return -1
	}
	return 0
}

func (e *entry[T]) greedy() bool {
	return len(e.segs) > 0 && e.segs[len(e.segs)-1].kind == greedy
}

func parsePattern(pattern string) ([]segment, error) {
	if !strings.HasPrefix(pattern, "/") {
		return nil, errors.New("does not start with /")
	}
	if pattern == "/" {
		return nil, nil
	}
	parts := strings.Split(pattern[1:], "/")
	segs := make([]segment, 0, len(parts))
	seen := map[string]bool{}
	for i, p := range parts {
		if p == "" {
			return nil, errors.New("empty segment")
		}
		if !strings.HasPrefix(p, "{") {
			if strings.ContainsAny(p, "{}") {
				return nil, fmt.Errorf("segment %q: a variable must be a whole segment", p)
			}
			segs = append(segs, segment{kind: literal, text: p})
			continue
		}
		if !strings.HasSuffix(p, "}") {
			return nil, fmt.Errorf("segment %q is not closed", p)
		}
		name, kind := p[1:len(p)-1], param
		if n, ok := strings.CutSuffix(name, "+"); ok {
			name, kind = n, greedy
			if i != len(parts)-1 {
				return nil, fmt.Errorf("greedy %q is not the last segment", p)
			}
		}
		if !validName(name) {
			return nil, fmt.Errorf("variable name %q", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("variable %q twice", name)
		}
		seen[name] = true
		segs = append(segs, segment{kind: kind, text: name})
	}
	return segs, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Match finds the route for method and path, the path below the API and
// its stage, percent-encoded as sent ("" is "/"). The Route has Key and
// Params (decoded) set. Without a match it returns ErrNoRoute or
// ErrMethodNotAllowed, unless a $default route takes the request.
func (rt *Router[T]) Match(method, path string) (T, Route, error) {
	if path == "" {
		path = "/"
	}
	var zero T
	pathMatched := false
	if raw, ok := splitPath(path); ok {
		for _, e := range rt.routes {
			params, ok := e.match(raw)
			if !ok {
				continue
			}
			if e.method == method || e.method == "ANY" {
				return e.target, Route{Key: e.key, Params: params}, nil
			}
			pathMatched = true
		}
	}
	if rt.def != nil {
		return rt.def.target, Route{Key: Default}, nil
	}
	if pathMatched {
		return zero, Route{}, ErrMethodNotAllowed
	}
	return zero, Route{}, ErrNoRoute
}

// splitPath cuts an escaped path into its escaped segments; "/" has none.
func splitPath(path string) ([]string, bool) {
	if !strings.HasPrefix(path, "/") {
		return nil, false
	}
	if path == "/" {
		return nil, true
	}
	return strings.Split(path[1:], "/"), true
}

func (e *entry[T]) match(raw []string) (map[string]string, bool) {
	var params map[string]string
	set := func(name, v string) {
		if params == nil {
			params = map[string]string{}
		}
		params[name] = v
	}
	for i, s := range e.segs {
		if s.kind == greedy {
			if i >= len(raw) {
				return nil, false
			}
			rest := strings.Join(raw[i:], "/")
			if rest == "" {
				return nil, false
			}
			set(s.text, unescapePath(rest))
			return params, true
		}
		if i >= len(raw) {
			return nil, false
		}
		v := unescapePath(raw[i])
		switch s.kind {
		case literal:
			if v != s.text {
				return nil, false
			}
		case param:
			if v == "" {
				return nil, false
			}
			set(s.text, v)
		}
	}
	if len(raw) != len(e.segs) {
		return nil, false
	}
	return params, true
}

func unescapePath(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
