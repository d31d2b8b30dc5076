package httpevent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// when is the example time of the AWS documentation's event.
var when = time.Date(2020, 3, 12, 19, 3, 58, 390e6, time.UTC)

// functionURL is the Route a function URL request gets.
func functionURL(r *http.Request) Route {
	return Route{
		AccountID:  "123456789012",
		APIID:      "abcdefg",
		DomainName: "abcdefg.lambda-url.us-east-1.on.aws",
		Path:       RawPath(r),
	}
}

type requestCase struct {
	name   string
	req    func() *http.Request
	route  func(*http.Request) Route
	caller Caller
}

func newReq(method, target string, body io.Reader, header ...string) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = "abcdefg.lambda-url.us-east-1.on.aws"
	r.RemoteAddr = "203.0.113.9:50123"
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

var requestCases = []requestCase{
	{
		// The request behind the example in the Lambda and API Gateway guides.
		name: "doc-example",
		req: func() *http.Request {
			return newReq("POST", "/my/path?parameter1=value1&parameter1=value2&parameter2=value",
				strings.NewReader("Hello from client!"),
				"Content-Type", "text/plain", "User-Agent", "agent",
				"Header1", "value1", "Header2", "value1", "Header2", "value2",
				"Cookie", "cookie1; cookie2")
		},
		route: functionURL,
	},
	{
		name: "published-api-named-stage",
		req: func() *http.Request {
			r := newReq("PUT", "/apis/a1b2c3/prod/users/42?verbose", strings.NewReader(`{"name":"Ada"}`),
				"Content-Type", "application/json; charset=utf-8", "User-Agent", "curl/8.5.0", "Accept", "*/*")
			r.Host = "ember.example.com:8443"
			return r
		},
		route: func(*http.Request) Route {
			return Route{
				Key: "PUT /users/{id}", Params: map[string]string{"id": "42"},
				Stage: "prod", StageVariables: map[string]string{"table": "users-prod"},
				AccountID: "123456789012", APIID: "a1b2c3", Path: "/users/42",
			}
		},
		caller: Caller{SourceIP: "198.51.100.20", RequestID: "JKJaXmPLvHcESHA="},
	},
	{
		name: "published-api-default-stage-root",
		req: func() *http.Request {
			r := newReq("GET", "/apis/a1b2c3/", nil)
			r.Host = "ember.example.com"
			return r
		},
		route: func(*http.Request) Route {
			return Route{Stage: Default, AccountID: "123456789012", APIID: "a1b2c3", Path: "/"}
		},
	},
	{
		name: "binary-body",
		req: func() *http.Request {
			return newReq("POST", "/upload", bytes.NewReader([]byte{0x89, 'P', 'N', 'G', 0, 0xff}), "Content-Type", "image/png")
		},
		route: functionURL,
	},
	{
		name: "form-post-is-base64",
		req: func() *http.Request {
			return newReq("POST", "/login", strings.NewReader("user=ada&pass=x"), "Content-Type", "application/x-www-form-urlencoded")
		},
		route: functionURL,
	},
	{
		name:  "no-content-type-is-base64",
		req:   func() *http.Request { return newReq("POST", "/", strings.NewReader("plain words")) },
		route: functionURL,
	},
	{
		name: "invalid-utf8-text-is-base64",
		req: func() *http.Request {
			return newReq("POST", "/", strings.NewReader("caf\xe9"), "Content-Type", "text/plain; charset=latin1")
		},
		route: functionURL,
	},
	{
		name: "gzipped-json-is-base64",
		req: func() *http.Request {
			return newReq("POST", "/", strings.NewReader("\x1f\x8b\x08\x00"), "Content-Type", "application/json", "Content-Encoding", "gzip")
		},
		route: functionURL,
	},
	{
		name: "credentials-and-hop-by-hop-dropped",
		req: func() *http.Request {
			return newReq("GET", "/private", nil,
				"Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20200312/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
				"X-Amz-Date", "20200312T190358Z", "X-Amz-Security-Token", "FwoGZXIvYXdzEXAMPLE",
				"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD", "X-Ember-Api-Key", "sk_live_secret",
				"X-Ember-Policy", "{}", "Connection", "keep-alive, X-Secret-Hop", "Keep-Alive", "timeout=5",
				"X-Secret-Hop", "1", "Upgrade", "h2c", "Proxy-Authorization", "Basic Zm9vOmJhcg==",
				"X-Amz-User-Agent", "aws-sdk-go-v2/1.0")
		},
		route: functionURL,
		caller: Caller{IAM: &IAM{
			AccessKey: "AKIDEXAMPLE", AccountID: "111122223333", CallerID: "AIDACKCEVSQ6C2EXAMPLE",
			UserARN: "arn:aws:iam::111122223333:user/example-user", UserID: "AIDACKCEVSQ6C2EXAMPLE",
		}},
	},
	{
		name: "bearer-authorization-kept",
		req: func() *http.Request {
			return newReq("GET", "/me", nil, "Authorization", "Bearer eyJhbGciOi.x.y")
		},
		route: functionURL,
	},
	{
		name: "presigned-query-stripped",
		req: func() *http.Request {
			return newReq("GET", "/report?month=2020-03&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20200312%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Date=20200312T190358Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeef&format=csv", nil)
		},
		route: functionURL,
	},
	{
		name: "encoded-path-and-odd-query",
		req: func() *http.Request {
			return newReq("GET", "/files/a%20b/c%2Fd?q=a+b&x=%41&bad=%zz&semi=a;b&flag&=orphan&q=%26", nil)
		},
		route: functionURL,
	},
	{
		name: "forwarded-for-appended",
		req: func() *http.Request {
			r := newReq("GET", "/", nil, "X-Forwarded-For", "192.0.2.60", "X-Forwarded-Proto", "https", "X-Html", "<b>&</b>")
			return r
		},
		route: functionURL,
	},
}

func TestRequestGolden(t *testing.T) {
	for _, tc := range requestCases {
		t.Run(tc.name, func(t *testing.T) {
			got := buildEvent(t, tc)
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatalf("event is not JSON: %v\n%s", err, got)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", tc.name+".json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("event differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", golden, pretty.Bytes(), want)
			}
		})
	}
}

func buildEvent(t *testing.T, tc requestCase) []byte {
	t.Helper()
	r := tc.req()
	caller := tc.caller
	if caller.RequestID == "" {
		caller.RequestID = "id-" + tc.name
	}
	ev, err := Request(r, tc.route(r), caller, when, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// Every event must decode into both of aws-lambda-go's types, which is what
// Go handlers receive.
func TestRequestDecodesIntoAWSTypes(t *testing.T) {
	for _, tc := range requestCases {
		t.Run(tc.name, func(t *testing.T) {
			ev := buildEvent(t, tc)
			var api events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(ev, &api); err != nil {
				t.Fatalf("APIGatewayV2HTTPRequest: %v", err)
			}
			var furl events.LambdaFunctionURLRequest
			if err := json.Unmarshal(ev, &furl); err != nil {
				t.Fatalf("LambdaFunctionURLRequest: %v", err)
			}
			if api.Version != "2.0" || furl.Version != "2.0" {
				t.Errorf("version %q/%q", api.Version, furl.Version)
			}
			if api.RawPath != api.RequestContext.HTTP.Path {
				t.Errorf("rawPath %q but http.path %q", api.RawPath, api.RequestContext.HTTP.Path)
			}
			if api.RouteKey != api.RequestContext.RouteKey {
				t.Errorf("routeKey %q but requestContext.routeKey %q", api.RouteKey, api.RequestContext.RouteKey)
			}
			for name := range api.Headers {
				if name != strings.ToLower(name) {
					t.Errorf("header %q is not lower case", name)
				}
			}
			if _, ok := api.Headers["cookie"]; ok {
				t.Error("cookie left in headers")
			}
		})
	}
}

func TestRequestFields(t *testing.T) {
	find := func(name string) requestCase {
		for _, tc := range requestCases {
			if tc.name == name {
				return tc
			}
		}
		t.Fatalf("no case %q", name)
		return requestCase{}
	}
	decode := func(name string) events.APIGatewayV2HTTPRequest {
		var e events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(buildEvent(t, find(name)), &e); err != nil {
			t.Fatal(err)
		}
		return e
	}

	t.Run("doc example", func(t *testing.T) {
		var e events.LambdaFunctionURLRequest
		if err := json.Unmarshal(buildEvent(t, find("doc-example")), &e); err != nil {
			t.Fatal(err)
		}
		check(t, "rawPath", e.RawPath, "/my/path")
		check(t, "rawQueryString", e.RawQueryString, "parameter1=value1&parameter1=value2&parameter2=value")
		check(t, "cookies", e.Cookies, []string{"cookie1", "cookie2"})
		check(t, "header1", e.Headers["header1"], "value1")
		check(t, "header2", e.Headers["header2"], "value1,value2")
		check(t, "query", e.QueryStringParameters, map[string]string{"parameter1": "value1,value2", "parameter2": "value"})
		check(t, "body", e.Body, "Hello from client!")
		check(t, "isBase64Encoded", e.IsBase64Encoded, false)
		rc := e.RequestContext
		check(t, "accountId", rc.AccountID, "123456789012")
		check(t, "apiId", rc.APIID, "abcdefg")
		check(t, "domainName", rc.DomainName, "abcdefg.lambda-url.us-east-1.on.aws")
		check(t, "domainPrefix", rc.DomainPrefix, "abcdefg")
		check(t, "method", rc.HTTP.Method, "POST")
		check(t, "protocol", rc.HTTP.Protocol, "HTTP/1.1")
		check(t, "sourceIp", rc.HTTP.SourceIP, "203.0.113.9")
		check(t, "userAgent", rc.HTTP.UserAgent, "agent")
		check(t, "time", rc.Time, "12/Mar/2020:19:03:58 +0000")
		check(t, "timeEpoch", rc.TimeEpoch, int64(1584039838390))
		check(t, "authorizer", rc.Authorizer, (*events.LambdaFunctionURLRequestContextAuthorizerDescription)(nil))
	})

	t.Run("named stage is in rawPath", func(t *testing.T) {
		e := decode("published-api-named-stage")
		check(t, "rawPath", e.RawPath, "/prod/users/42")
		check(t, "routeKey", e.RouteKey, "PUT /users/{id}")
		check(t, "stage", e.RequestContext.Stage, "prod")
		check(t, "pathParameters", e.PathParameters, map[string]string{"id": "42"})
		check(t, "stageVariables", e.StageVariables, map[string]string{"table": "users-prod"})
		check(t, "query", e.QueryStringParameters, map[string]string{"verbose": ""})
		check(t, "body", e.Body, `{"name":"Ada"}`)
		check(t, "domainPrefix", e.RequestContext.DomainPrefix, "ember")
		check(t, "x-forwarded-port", e.Headers["x-forwarded-port"], "8443")
		check(t, "requestId", e.RequestContext.RequestID, "JKJaXmPLvHcESHA=")
	})

	t.Run("binary bodies round-trip", func(t *testing.T) {
		for name, want := range map[string]string{
			"binary-body":                 "\x89PNG\x00\xff",
			"form-post-is-base64":         "user=ada&pass=x",
			"no-content-type-is-base64":   "plain words",
			"invalid-utf8-text-is-base64": "caf\xe9",
			"gzipped-json-is-base64":      "\x1f\x8b\x08\x00",
		} {
			e := decode(name)
			if !e.IsBase64Encoded {
				t.Errorf("%s: isBase64Encoded false", name)
				continue
			}
			got, err := base64.StdEncoding.DecodeString(e.Body)
			if err != nil || string(got) != want {
				t.Errorf("%s: body decodes to %q, %v; want %q", name, got, err, want)
			}
		}
	})

	t.Run("credentials never reach the function", func(t *testing.T) {
		ev := buildEvent(t, find("credentials-and-hop-by-hop-dropped"))
		for _, secret := range []string{"AWS4-HMAC-SHA256", "FwoGZXIvYXdzEXAMPLE", "sk_live_secret", "UNSIGNED-PAYLOAD", "Zm9vOmJhcg==", "x-secret-hop", "keep-alive", "upgrade", "x-ember"} {
			if bytes.Contains(bytes.ToLower(ev), bytes.ToLower([]byte(secret))) {
				t.Errorf("event contains %q:\n%s", secret, ev)
			}
		}
		var e events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(ev, &e); err != nil {
			t.Fatal(err)
		}
		check(t, "x-amz-user-agent", e.Headers["x-amz-user-agent"], "aws-sdk-go-v2/1.0")
		if e.RequestContext.Authorizer == nil || e.RequestContext.Authorizer.IAM == nil {
			t.Fatal("no authorizer.iam")
		}
		check(t, "iam.userArn", e.RequestContext.Authorizer.IAM.UserARN, "arn:aws:iam::111122223333:user/example-user")
		check(t, "iam.accessKey", e.RequestContext.Authorizer.IAM.AccessKey, "AKIDEXAMPLE")
		var f events.LambdaFunctionURLRequest
		if err := json.Unmarshal(ev, &f); err != nil {
			t.Fatal(err)
		}
		check(t, "furl iam.accountId", f.RequestContext.Authorizer.IAM.AccountID, "111122223333")
	})

	t.Run("presign parameters stripped, the rest as sent", func(t *testing.T) {
		e := decode("presigned-query-stripped")
		check(t, "rawQueryString", e.RawQueryString, "month=2020-03&format=csv")
		check(t, "query", e.QueryStringParameters, map[string]string{"month": "2020-03", "format": "csv"})
	})

	t.Run("encoding", func(t *testing.T) {
		e := decode("encoded-path-and-odd-query")
		check(t, "rawPath", e.RawPath, "/files/a%20b/c%2Fd")
		check(t, "rawQueryString", e.RawQueryString, "q=a+b&x=%41&bad=%zz&semi=a;b&flag&=orphan&q=%26")
		check(t, "query", e.QueryStringParameters, map[string]string{"q": "a b,&", "x": "A", "bad": "%zz", "semi": "a;b", "flag": ""})
	})

	t.Run("empty parts are absent, not null", func(t *testing.T) {
		var m map[string]any
		if err := json.Unmarshal(buildEvent(t, find("published-api-default-stage-root")), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"body", "cookies", "queryStringParameters", "pathParameters", "stageVariables"} {
			if _, ok := m[k]; ok {
				t.Errorf("%s present: %v", k, m[k])
			}
		}
		check(t, "rawPath", m["rawPath"], "/")
		check(t, "routeKey", m["routeKey"], "$default")
		check(t, "isBase64Encoded", m["isBase64Encoded"], false)
	})

	t.Run("x-forwarded-for appended", func(t *testing.T) {
		e := decode("forwarded-for-appended")
		check(t, "x-forwarded-for", e.Headers["x-forwarded-for"], "192.0.2.60, 203.0.113.9")
		check(t, "x-forwarded-proto", e.Headers["x-forwarded-proto"], "https")
		check(t, "x-forwarded-port", e.Headers["x-forwarded-port"], "80")
	})
}

func TestRequestTooLarge(t *testing.T) {
	route := Route{Path: "/"}
	// Declared too large: refused before reading.
	r := newReq("POST", "/", strings.NewReader("0123456789"))
	if _, err := Request(r, route, Caller{}, when, 9); !errors.Is(err, ErrTooLarge) {
		t.Errorf("declared: got %v, want ErrTooLarge", err)
	}
	// Chunked, no length: found while reading.
	r = newReq("POST", "/", io.MultiReader(strings.NewReader("01234"), strings.NewReader("56789")))
	r.ContentLength = -1
	if _, err := Request(r, route, Caller{}, when, 9); !errors.Is(err, ErrTooLarge) {
		t.Errorf("chunked: got %v, want ErrTooLarge", err)
	}
	// Exactly at the limit is fine.
	r = newReq("POST", "/", strings.NewReader("012345678"))
	if _, err := Request(r, route, Caller{}, when, 9); err != nil {
		t.Errorf("at the limit: %v", err)
	}
}

func TestRequestDefaults(t *testing.T) {
	r := newReq("GET", "/x", nil)
	ev, err := Request(r, Route{Path: RawPath(r)}, Caller{}, when, 0)
	if err != nil {
		t.Fatal(err)
	}
	var e events.LambdaFunctionURLRequest
	if err := json.Unmarshal(ev, &e); err != nil {
		t.Fatal(err)
	}
	ev, err = Request(r, Route{Stage: "prod", Path: "x"}, Caller{}, when, 0)
	if err != nil {
		t.Fatal(err)
	}
	var staged events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(ev, &staged); err != nil {
		t.Fatal(err)
	}
	check(t, "rawPath of a path without its slash", staged.RawPath, "/prod/x")
	check(t, "domainName from Host", e.RequestContext.DomainName, "abcdefg.lambda-url.us-east-1.on.aws")
	check(t, "sourceIp from RemoteAddr", e.RequestContext.HTTP.SourceIP, "203.0.113.9")
	if len(e.RequestContext.RequestID) != 36 {
		t.Errorf("requestId %q is not a UUID", e.RequestContext.RequestID)
	}
}

// Through a real server: Go moves Host out of the header map, keeps the
// request target as sent, and reads chunked bodies.
func TestRequestThroughServer(t *testing.T) {
	got := make(chan events.LambdaFunctionURLRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := Request(r, Route{Path: RawPath(r)}, Caller{RequestID: "x"}, when, 0)
		if err != nil {
			t.Error(err)
		}
		var e events.LambdaFunctionURLRequest
		if err := json.Unmarshal(ev, &e); err != nil {
			t.Error(err)
		}
		got <- e
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /a/%7Euser/./b%2f?z=1&a=2 HTTP/1.1\r\nHost: fn.local:9000\r\nContent-Type: text/plain\r\n"+
		"Cookie: a=1\r\nCookie: b=2; c=3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	e := <-got
	check(t, "rawPath", e.RawPath, "/a/%7Euser/./b%2f")
	check(t, "rawQueryString", e.RawQueryString, "z=1&a=2")
	check(t, "host", e.Headers["host"], "fn.local:9000")
	check(t, "cookies", e.Cookies, []string{"a=1", "b=2", "c=3"})
	check(t, "body", e.Body, "hello")
	if _, ok := e.Headers["transfer-encoding"]; ok {
		t.Error("transfer-encoding forwarded")
	}
}

func check[V any](t *testing.T, what string, got, want V) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}
