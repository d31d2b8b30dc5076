package httpevent

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

const internalError = `{"message":"Internal Server Error"}`

type responseCase struct {
	name    string
	payload string
	status  int
	header  map[string][]string // checked names only; nil slice: must be absent
	body    string
	bad     bool // WriteResponse reports ErrBadResponse
}

var responseCases = []responseCase{
	// Inferred: any valid JSON without a statusCode is the body of a 200.
	{name: "inferred string", payload: `"Hello, world!"`, status: 200, body: `"Hello, world!"`,
		header: map[string][]string{"Content-Type": {"application/json"}, "Content-Length": {"15"}}},
	{name: "inferred object", payload: `{ "message": "Hello, world!" }`, status: 200, body: `{ "message": "Hello, world!" }`,
		header: map[string][]string{"Content-Type": {"application/json"}}},
	{name: "inferred number", payload: `42`, status: 200, body: `42`},
	{name: "inferred null", payload: `null`, status: 200, body: `null`},
	{name: "inferred array", payload: `[1,2]`, status: 200, body: `[1,2]`},
	{name: "object with body but no statusCode is inferred", payload: `{"body":"x","headers":{"X-A":"1"}}`, status: 200,
		body: `{"body":"x","headers":{"X-A":"1"}}`, header: map[string][]string{"X-A": nil}},
	{name: "null statusCode is inferred", payload: `{"statusCode":null,"body":"x"}`, status: 200, body: `{"statusCode":null,"body":"x"}`},

	// Structured.
	{name: "structured", status: 201, body: `{"message":"Hello, world!"}`,
		payload: `{"statusCode":201,"headers":{"Content-Type":"application/json","My-Custom-Header":"Custom Value"},"body":"{\"message\":\"Hello, world!\"}","isBase64Encoded":false}`,
		header:  map[string][]string{"Content-Type": {"application/json"}, "My-Custom-Header": {"Custom Value"}, "Content-Length": {"27"}}},
	{name: "content type from function, any case", payload: `{"statusCode":200,"headers":{"content-type":"text/html"},"body":"<p>hi</p>"}`,
		status: 200, body: `<p>hi</p>`, header: map[string][]string{"Content-Type": {"text/html"}}},
	{name: "default content type even when empty", payload: `{"statusCode":404}`, status: 404, body: ``,
		header: map[string][]string{"Content-Type": {"application/json"}, "Content-Length": {"0"}}},
	{name: "cookies become Set-Cookie each, before the header's", status: 200,
		payload: `{"statusCode":200,"cookies":["Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT","Cookie_2=Value2; Max-Age=78000"],"headers":{"Set-Cookie":"c3=3"}}`,
		header:  map[string][]string{"Set-Cookie": {"Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT", "Cookie_2=Value2; Max-Age=78000", "c3=3"}}},
	{name: "comma value stays one header", payload: `{"statusCode":200,"headers":{"Cache-Control":"no-cache, no-store"}}`, status: 200,
		header: map[string][]string{"Cache-Control": {"no-cache, no-store"}}},
	{name: "multiValueHeaders ignored", payload: `{"statusCode":200,"multiValueHeaders":{"X-Multi":["1","2"]},"body":"ok"}`, status: 200, body: "ok",
		header: map[string][]string{"X-Multi": nil}},
	{name: "scalars coerced", payload: `{"statusCode":"202","headers":{"X-Num":12,"X-Bool":true,"X-Null":null},"body":5,"isBase64Encoded":"false"}`,
		status: 202, body: "5", header: map[string][]string{"X-Num": {"12"}, "X-Bool": {"true"}, "X-Null": nil}},
	{name: "integral float status", payload: `{"statusCode":200.0}`, status: 200},
	{name: "base64 body", payload: `{"statusCode":200,"headers":{"Content-Type":"image/png"},"body":"iVBORwD/","isBase64Encoded":true}`,
		status: 200, body: "\x89PNG\x00\xff", header: map[string][]string{"Content-Type": {"image/png"}, "Content-Length": {"6"}}},
	{name: "base64 body without padding", payload: `{"statusCode":200,"body":"aGk","isBase64Encoded":"true"}`, status: 200, body: "hi"},
	{name: "transport headers from the function dropped", payload: `{"statusCode":200,"headers":{"Content-Length":"999","Connection":"close","Transfer-Encoding":"chunked"},"body":"abc"}`,
		status: 200, body: "abc", header: map[string][]string{"Content-Length": {"3"}, "Connection": nil, "Transfer-Encoding": nil}},
	{name: "no body for 204", payload: `{"statusCode":204,"body":"ignored"}`, status: 204, body: "",
		header: map[string][]string{"Content-Length": nil}},

	// Malformed: 502.
	{name: "not JSON", payload: `Hello`, bad: true},
	{name: "empty payload", payload: ``, bad: true},
	{name: "status zero (aws-lambda-go's unset StatusCode)", payload: `{"statusCode":0,"body":"x"}`, bad: true},
	{name: "status 1xx", payload: `{"statusCode":101}`, bad: true},
	{name: "status 600", payload: `{"statusCode":600}`, bad: true},
	{name: "status huge", payload: `{"statusCode":1e300}`, bad: true},
	{name: "status negative", payload: `{"statusCode":-200}`, bad: true},
	{name: "status fraction", payload: `{"statusCode":200.5}`, bad: true},
	{name: "status word", payload: `{"statusCode":"OK"}`, bad: true},
	{name: "status bool", payload: `{"statusCode":true}`, bad: true},
	{name: "status object", payload: `{"statusCode":{}}`, bad: true},
	{name: "body object", payload: `{"statusCode":200,"body":{"a":1}}`, bad: true},
	{name: "headers array", payload: `{"statusCode":200,"headers":["a"]}`, bad: true},
	{name: "header value object", payload: `{"statusCode":200,"headers":{"X-A":{"b":1}}}`, bad: true},
	{name: "header value with CRLF", payload: `{"statusCode":200,"headers":{"X-A":"a\r\nSet-Cookie: evil=1"}}`, bad: true},
	{name: "header name with space", payload: `{"statusCode":200,"headers":{"Bad Name":"x"}}`, bad: true},
	{name: "cookie with LF", payload: `{"statusCode":200,"cookies":["a=1\nb"]}`, bad: true},
	{name: "cookies not an array", payload: `{"statusCode":200,"cookies":"a=1"}`, bad: true},
	{name: "invalid base64", payload: `{"statusCode":200,"body":"not base64!","isBase64Encoded":true}`, bad: true},
	{name: "isBase64Encoded not a boolean", payload: `{"statusCode":200,"body":"","isBase64Encoded":"yes"}`, bad: true},
	{name: "too large", payload: `"` + strings.Repeat("a", MaxPayload) + `"`, bad: true},
}

func TestWriteResponse(t *testing.T) {
	for _, tc := range responseCases {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			err := WriteResponse(w, []byte(tc.payload))
			if tc.bad {
				if !errors.Is(err, ErrBadResponse) {
					t.Errorf("err = %v, want ErrBadResponse", err)
				}
				tc.status, tc.body = http.StatusBadGateway, internalError
				if tc.header == nil {
					tc.header = map[string][]string{"Content-Type": {"application/json"}}
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if got := w.Body.String(); got != tc.body {
				t.Errorf("body %q, want %q", got, tc.body)
			}
			for name, want := range tc.header {
				check(t, name, w.Header().Values(name), want)
			}
		})
	}
}

// Responses as aws-lambda-go's types marshal them, which always carry
// "multiValueHeaders":null, "cookies":null and "headers":null when unset.
func TestWriteResponseFromAWSTypes(t *testing.T) {
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Run("APIGatewayV2HTTPResponse", func(t *testing.T) {
		w := httptest.NewRecorder()
		err := WriteResponse(w, marshal(events.APIGatewayV2HTTPResponse{
			StatusCode: 418, Headers: map[string]string{"X-Tea": "earl grey"}, Body: "short and stout",
			Cookies: []string{"a=1", "b=2"},
		}))
		if err != nil {
			t.Fatal(err)
		}
		check(t, "status", w.Code, 418)
		check(t, "X-Tea", w.Header().Get("X-Tea"), "earl grey")
		check(t, "Set-Cookie", w.Header().Values("Set-Cookie"), []string{"a=1", "b=2"})
		check(t, "body", w.Body.String(), "short and stout")
	})
	t.Run("APIGatewayV2HTTPResponse zero value", func(t *testing.T) {
		w := httptest.NewRecorder()
		if err := WriteResponse(w, marshal(events.APIGatewayV2HTTPResponse{})); !errors.Is(err, ErrBadResponse) {
			t.Errorf("err = %v, want ErrBadResponse", err)
		}
		check(t, "status", w.Code, 502)
	})
	t.Run("LambdaFunctionURLResponse base64", func(t *testing.T) {
		w := httptest.NewRecorder()
		err := WriteResponse(w, marshal(events.LambdaFunctionURLResponse{
			StatusCode: 200, Headers: map[string]string{"Content-Type": "application/octet-stream"},
			Body: "AAEC/w==", IsBase64Encoded: true,
		}))
		if err != nil {
			t.Fatal(err)
		}
		check(t, "body", w.Body.String(), "\x00\x01\x02\xff")
		check(t, "Content-Type", w.Header().Get("Content-Type"), "application/octet-stream")
	})
}

func TestWriteFunctionError(t *testing.T) {
	w := httptest.NewRecorder()
	WriteFunctionError(w)
	check(t, "status", w.Code, 502)
	check(t, "body", w.Body.String(), internalError)
	check(t, "Content-Type", w.Header().Get("Content-Type"), "application/json")
}

func TestWriteMessage(t *testing.T) {
	w := httptest.NewRecorder()
	WriteMessage(w, 404, "Not Found")
	check(t, "status", w.Code, 404)
	check(t, "body", w.Body.String(), `{"message":"Not Found"}`)
}

// On the wire: every cookie its own Set-Cookie line, HEAD requests fine.
func TestWriteResponseThroughServer(t *testing.T) {
	payload := `{"statusCode":200,"cookies":["a=1","b=2"],"headers":{"X-List":"x, y"},"body":"hello"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := WriteResponse(w, []byte(payload)); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, srv.URL, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		check(t, method+" Set-Cookie", resp.Header.Values("Set-Cookie"), []string{"a=1", "b=2"})
		check(t, method+" X-List", resp.Header.Values("X-List"), []string{"x, y"})
		check(t, method+" Content-Length", resp.ContentLength, int64(5))
		if method == "GET" {
			check(t, "body", string(body), "hello")
		}
	}
}
