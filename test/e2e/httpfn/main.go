// Command httpfn is an unmodified aws-lambda-go handler written for API
// Gateway HTTP APIs (payload format 2.0). The e2e tests put it behind a
// Function URL, a published API route and a cross-account alias.
//
// Routes (by raw path suffix):
//
//	/status/{code}  answers with that status code
//	/binary         answers 4 bytes of binary data, base64-encoded
//	/env/{name}     answers the value of an environment variable
//	anything else   echoes the request it was given, as JSON
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// echo is what the handler saw.
type echo struct {
	Method          string            `json:"method"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	RouteKey        string            `json:"routeKey"`
	PathParameters  map[string]string `json:"pathParameters"`
	Query           map[string]string `json:"query"`
	Headers         map[string]string `json:"headers"`
	Cookies         []string          `json:"cookies"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	AccountID       string            `json:"accountId"`
	APIID           string            `json:"apiId"`
	Stage           string            `json:"stage"`
	DomainName      string            `json:"domainName"`
	SourceIP        string            `json:"sourceIp"`
	CallerAccount   string            `json:"callerAccount,omitempty"`
	FunctionARN     string            `json:"functionArn"`
}

func handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	path := req.RawPath
	switch {
	case strings.Contains(path, "/status/"):
		code, _ := strconv.Atoi(path[strings.LastIndex(path, "/")+1:])
		return events.APIGatewayV2HTTPResponse{StatusCode: code, Body: "status " + strconv.Itoa(code),
			Headers: map[string]string{"Content-Type": "text/plain"}}, nil
	case strings.HasSuffix(path, "/binary"):
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, IsBase64Encoded: true,
			Body:    base64.StdEncoding.EncodeToString([]byte{0, 1, 0xfe, 0xff}),
			Headers: map[string]string{"Content-Type": "application/octet-stream"}}, nil
	case strings.Contains(path, "/env/"):
		name := path[strings.LastIndex(path, "/")+1:]
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: os.Getenv(name),
			Headers: map[string]string{"Content-Type": "text/plain"}}, nil
	}
	body := req.Body
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		body = string(b)
	}
	e := echo{
		Method: req.RequestContext.HTTP.Method, RawPath: req.RawPath, RawQueryString: req.RawQueryString,
		RouteKey: req.RouteKey, PathParameters: req.PathParameters, Query: req.QueryStringParameters,
		Headers: req.Headers, Cookies: req.Cookies, Body: body, IsBase64Encoded: req.IsBase64Encoded,
		AccountID: req.RequestContext.AccountID, APIID: req.RequestContext.APIID, Stage: req.RequestContext.Stage,
		DomainName: req.RequestContext.DomainName, SourceIP: req.RequestContext.HTTP.SourceIP,
	}
	if iam := req.RequestContext.Authorizer; iam != nil && iam.IAM != nil {
		e.CallerAccount = iam.IAM.AccountID
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		e.FunctionARN = lc.InvokedFunctionArn
	}
	out, err := json.Marshal(e)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200, Body: string(out),
		Headers: map[string]string{"Content-Type": "application/json", "X-Httpfn": "1"},
		Cookies: []string{"seen=1; Path=/", "flavor=ember"},
	}, nil
}

func main() { lambda.Start(handle) }
