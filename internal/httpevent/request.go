package httpevent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ember-run/ember/internal/uuid"
)

// MaxPayload is Lambda's synchronous payload limit: the default bound on a
// request body, and the bound on a function's response.
const MaxPayload = 6 * 1024 * 1024

// Default is the route key of a catch-all route and the name of the stage
// served at the root; function URLs use it for both.
const Default = "$default"

// timeLayout is requestContext.time, e.g. "12/Mar/2020:19:03:58 +0000".
const timeLayout = "02/Jan/2006:15:04:05 -0700"

var (
	// ErrTooLarge: the request body is over the limit given to Request.
	ErrTooLarge = errors.New("httpevent: request body too large")
	// ErrBadResponse: the function's result cannot be made into an HTTP
	// response; WriteResponse has answered 502.
	ErrBadResponse = errors.New("httpevent: malformed function response")
)

// Route says what the request reached: the endpoint and the route that
// matched. Router.Match fills Key and Params; the caller fills the rest.
type Route struct {
	Key    string            // routeKey such as "GET /users/{id}"; "" means $default
	Params map[string]string // pathParameters, decoded
	Stage  string            // "" means $default
	// StageVariables are the stage's variables (stageVariables).
	StageVariables map[string]string
	AccountID      string // the function owner's account (requestContext.accountId)
	APIID          string // the API id, or a function URL's id
	DomainName     string // "" means the request's Host
	// Path is the request path below the API and its stage, percent-encoded
	// as sent (RawPath for a function URL). Under a named stage the event's
	// rawPath is "/"+Stage+Path.
	Path string
}

// Caller says who sent the request.
type Caller struct {
	SourceIP  string // "" means the host of r.RemoteAddr
	RequestID string // requestContext.requestId; "" means a new UUID
	IAM       *IAM   // set when the request was SigV4-authenticated
}

// IAM is the identity of a SigV4-signed request
// (requestContext.authorizer.iam).
type IAM struct {
	AccessKey      string
	AccountID      string
	CallerID       string
	UserARN        string
	UserID         string
	PrincipalOrgID string
}

type event struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	RequestContext        requestContext    `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	PathParameters        map[string]string `json:"pathParameters,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
	StageVariables        map[string]string `json:"stageVariables,omitempty"`
}

type requestContext struct {
	AccountID    string      `json:"accountId"`
	APIID        string      `json:"apiId"`
	Authorizer   *authorizer `json:"authorizer,omitempty"`
	DomainName   string      `json:"domainName"`
	DomainPrefix string      `json:"domainPrefix"`
	HTTP         httpInfo    `json:"http"`
	RequestID    string      `json:"requestId"`
	RouteKey     string      `json:"routeKey"`
	Stage        string      `json:"stage"`
	Time         string      `json:"time"`
	TimeEpoch    int64       `json:"timeEpoch"`
}

type authorizer struct {
	IAM iamInfo `json:"iam"`
}

type iamInfo struct {
	AccessKey       string    `json:"accessKey"`
	AccountID       string    `json:"accountId"`
	CallerID        string    `json:"callerId"`
	CognitoIdentity *struct{} `json:"cognitoIdentity"` // always null, as AWS sends it
	PrincipalOrgID  *string   `json:"principalOrgId"`
	UserARN         string    `json:"userArn"`
	UserID          string    `json:"userId"`
}

type httpInfo struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// Request builds the format 2.0 event for r. It reads at most maxBody bytes
// of the body (MaxPayload when maxBody <= 0) and fails with ErrTooLarge
// beyond that. now stamps requestContext.time and timeEpoch.
func Request(r *http.Request, route Route, caller Caller, now time.Time, maxBody int64) ([]byte, error) {
	if maxBody <= 0 {
		maxBody = MaxPayload
	}
	body, err := readBody(r, maxBody)
	if err != nil {
		return nil, err
	}
	key := orDefault(route.Key)
	stage := orDefault(route.Stage)
	path := route.Path
	if path != "" && path[0] != '/' {
		path = "/" + path
	}
	if stage != Default {
		path = "/" + stage + path
	}
	if path == "" {
		path = "/"
	}
	domain := route.DomainName
	if domain == "" {
		domain = r.Host
	}
	sourceIP := caller.SourceIP
	if sourceIP == "" {
		sourceIP = remoteHost(r.RemoteAddr)
	}
	requestID := caller.RequestID
	if requestID == "" {
		requestID = uuid.New()
	}
	headers, cookies := eventHeaders(r, sourceIP)
	rawQuery := stripPresign(r.URL.RawQuery)

	ev := event{
		Version:               "2.0",
		RouteKey:              key,
		RawPath:               path,
		RawQueryString:        rawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: queryParams(rawQuery),
		RequestContext: requestContext{
			AccountID:    route.AccountID,
			APIID:        route.APIID,
			DomainName:   domain,
			DomainPrefix: domainPrefix(domain),
			HTTP: httpInfo{
				Method:    r.Method,
				Path:      path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.Header.Get("User-Agent"),
			},
			RequestID: requestID,
			RouteKey:  key,
			Stage:     stage,
			Time:      now.UTC().Format(timeLayout),
			TimeEpoch: now.UnixMilli(),
		},
		PathParameters: nonEmpty(route.Params),
		StageVariables: nonEmpty(route.StageVariables),
	}
	if id := caller.IAM; id != nil {
		info := iamInfo{AccessKey: id.AccessKey, AccountID: id.AccountID, CallerID: id.CallerID, UserARN: id.UserARN, UserID: id.UserID}
		if id.PrincipalOrgID != "" {
			info.PrincipalOrgID = &id.PrincipalOrgID
		}
		ev.RequestContext.Authorizer = &authorizer{IAM: info}
	}
	if len(body) > 0 {
		if isText(r.Header) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" stays "<", as AWS sends it
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("httpevent: encode event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// RawPath returns r's path exactly as the client sent it, still
// percent-encoded. It is Route.Path for a function URL.
func RawPath(r *http.Request) string {
	if u := r.RequestURI; strings.HasPrefix(u, "/") {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > max {
		return nil, ErrTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("httpevent: read body: %w", err)
	}
	if int64(len(b)) > max {
		return nil, ErrTooLarge
	}
	return b, nil
}

// hopByHop are the headers that describe one connection, not the request
// (RFC 9110 section 7.6.1), plus the legacy ones proxies also drop.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "te": true,
	"trailer": true, "transfer-encoding": true, "upgrade": true,
	"proxy-authenticate": true, "proxy-authorization": true,
}

// credentialHeaders carry ember's authentication of the request; they are
// for ember, not for the function.
var credentialHeaders = map[string]bool{
	"x-amz-date": true, "x-amz-security-token": true, "x-amz-content-sha256": true,
}

func eventHeaders(r *http.Request, sourceIP string) (map[string]string, []string) {
	drop := map[string]bool{}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			drop[strings.ToLower(strings.TrimSpace(tok))] = true
		}
	}
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	slices.Sort(names) // names differing only in case merge in a fixed order

	headers := make(map[string]string, len(names)+4)
	var cookies []string
	for _, name := range names {
		vals := r.Header[name]
		lower := strings.ToLower(name)
		switch {
		case hopByHop[lower], drop[lower], credentialHeaders[lower], strings.HasPrefix(lower, "x-ember-"):
			continue
		case lower == "authorization" && isSigV4(vals):
			continue
		case lower == "cookie":
			for _, v := range vals {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		if len(vals) == 0 {
			continue
		}
		v := strings.Join(vals, ",")
		if old, ok := headers[lower]; ok {
			v = old + "," + v
		}
		headers[lower] = v
	}
	if r.Host != "" {
		headers["host"] = r.Host
	}
	if sourceIP != "" {
		if xff := headers["x-forwarded-for"]; xff != "" {
			headers["x-forwarded-for"] = xff + ", " + sourceIP
		} else {
			headers["x-forwarded-for"] = sourceIP
		}
	}
	// Behind a TLS-terminating proxy these arrive set; keep them then.
	if _, ok := headers["x-forwarded-proto"]; !ok {
		headers["x-forwarded-proto"] = scheme(r)
	}
	if _, ok := headers["x-forwarded-port"]; !ok {
		headers["x-forwarded-port"] = port(r)
	}
	return headers, cookies
}

func isSigV4(vals []string) bool {
	for _, v := range vals {
		if strings.HasPrefix(strings.TrimSpace(v), "AWS4-") {
			return true
		}
	}
	return false
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func port(r *http.Request) string {
	if _, p, err := net.SplitHostPort(r.Host); err == nil && p != "" {
		return p
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// isText reports whether API Gateway would hand the body over as a string.
func isText(h http.Header) bool {
	if ce := strings.TrimSpace(h.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	mt, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch mt {
	case "application/json", "application/xml", "application/javascript":
		return true
	}
	return strings.HasPrefix(mt, "text/")
}

// presignParams are the query parameters of a SigV4 presigned URL.
var presignParams = map[string]bool{
	"X-Amz-Algorithm": true, "X-Amz-Credential": true, "X-Amz-Date": true, "X-Amz-Expires": true,
	"X-Amz-SignedHeaders": true, "X-Amz-Signature": true, "X-Amz-Security-Token": true,
}

// stripPresign removes the SigV4 parameters from a presigned query and
// leaves every other byte of it as sent.
func stripPresign(raw string) string {
	if !strings.Contains(raw, "X-Amz-Signature=") {
		return raw
	}
	pairs := strings.Split(raw, "&")
	kept := pairs[:0]
	for _, p := range pairs {
		k, _, _ := strings.Cut(p, "=")
		if !presignParams[unescapeQuery(k)] {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "&")
}

// queryParams decodes a query the way API Gateway does: '&'-separated
// pairs, '+' is a space, repeated keys joined with ",". Unlike
// net/url.ParseQuery it keeps ';' and pairs with bad escapes.
func queryParams(raw string) map[string]string {
	if raw == "" {
		return nil
	}
	out := map[string]string{}
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		k, v = unescapeQuery(k), unescapeQuery(v)
		if k == "" {
			continue
		}
		if old, ok := out[k]; ok {
			v = old + "," + v
		}
		out[k] = v
	}
	return nonEmpty(out)
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func domainPrefix(domain string) string {
	host := domain
	if h, _, err := net.SplitHostPort(domain); err == nil {
		host = h
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return host
	}
	prefix, _, _ := strings.Cut(host, ".")
	return prefix
}

func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func orDefault(s string) string {
	if s == "" {
		return Default
	}
	return s
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
