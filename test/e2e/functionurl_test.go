package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Function URLs end to end: httpfn (an unmodified API Gateway v2
// aws-lambda-go handler) behind a URL made with aws-sdk-go-v2 and the AWS
// CLI, called with plain net/http and with SigV4.

// httpfnEcho is httpfn's echo of the request it was given.
type httpfnEcho struct {
	Method          string            `json:"method"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	RouteKey        string            `json:"routeKey"`
	Query           map[string]string `json:"query"`
	Headers         map[string]string `json:"headers"`
	Cookies         []string          `json:"cookies"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	AccountID       string            `json:"accountId"`
	APIID           string            `json:"apiId"`
	Stage           string            `json:"stage"`
	DomainName      string            `json:"domainName"`
	CallerAccount   string            `json:"callerAccount"`
	FunctionARN     string            `json:"functionArn"`
}

// urlRequest sends a plain (unsigned) request with headers.
func urlRequest(t *testing.T, method, u string, header http.Header, body []byte) rawResult {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return doRaw(t, req)
}

func echoOf(t *testing.T, r rawResult, what string) httpfnEcho {
	t.Helper()
	var e httpfnEcho
	if r.status != 200 || json.Unmarshal(r.body, &e) != nil {
		t.Fatalf("%s: HTTP %d %s, want httpfn's echo", what, r.status, r.body)
	}
	return e
}

// wantURLError checks a function URL's own error: status and {"Message": msg}.
func wantURLError(t *testing.T, r rawResult, status int, msg, what string) {
	t.Helper()
	var m map[string]any
	if r.status != status || json.Unmarshal(r.body, &m) != nil || m["Message"] != msg {
		t.Errorf("%s: HTTP %d %s, want %d {\"Message\":%q}", what, r.status, r.body, status, msg)
	}
}

func TestFunctionURL(t *testing.T) {
	requireExecution(t)
	t.Parallel()
	a := newAccount(t, shared, "url-owner")
	b := newAccount(t, shared, "url-other")
	cl := lambdaClient(shared, a)
	ctx := ctxT(t)
	createFn(t, cl, "web", "provided.al2023", "bootstrap",
		makeZip(t, zipEntry{name: "bootstrap", body: string(buildStatic(t, "httpfn")), mode: 0o755}), nil, 10, 128)
	fnARN := "arn:aws:lambda:local:" + a.AccountId + ":function:web"

	created, err := cl.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{
		FunctionName: aws.String("web"), AuthType: types.FunctionUrlAuthTypeNone,
		Cors: &types.Cors{
			AllowOrigins: []string{"https://app.example"}, AllowMethods: []string{"GET", "POST"},
			AllowHeaders: []string{"content-type", "x-custom"}, ExposeHeaders: []string{"x-httpfn"}, MaxAge: aws.Int32(300),
		},
	})
	if err != nil {
		t.Fatalf("CreateFunctionUrlConfig: %v", err)
	}
	wantStatus(t, created.ResultMetadata, 201, "CreateFunctionUrlConfig")
	base := aws.ToString(created.FunctionUrl)
	prefix := shared.endpoint + "/lambda-url/"
	id := strings.TrimSuffix(strings.TrimPrefix(base, prefix), "/")
	if !strings.HasPrefix(base, prefix) || !strings.HasSuffix(base, "/") || len(id) != 32 || strings.ToLower(id) != id {
		t.Fatalf("FunctionUrl %q, want %s{32 lowercase characters}/", base, prefix)
	}
	if aws.ToString(created.FunctionArn) != fnARN || created.AuthType != types.FunctionUrlAuthTypeNone ||
		created.InvokeMode != types.InvokeModeBuffered || created.Cors == nil || aws.ToInt32(created.Cors.MaxAge) != 300 {
		t.Errorf("CreateFunctionUrlConfig output: %+v", created)
	}
	_, err = cl.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("web"), AuthType: types.FunctionUrlAuthTypeNone})
	wantErr(t, err, "ResourceConflictException", 409, "second CreateFunctionUrlConfig")
	_, err = cl.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("web"), Qualifier: aws.String("$LATEST"), AuthType: types.FunctionUrlAuthTypeNone})
	wantErr(t, err, "InvalidParameterValueException", 400, "CreateFunctionUrlConfig for $LATEST")
	_, err = lambdaClient(shared, b).CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String(fnARN), Qualifier: aws.String("x"), AuthType: types.FunctionUrlAuthTypeNone})
	wantErrOneOf(t, err, "CreateFunctionUrlConfig by another account", "ResourceNotFoundException", "AccessDeniedException")

	got, err := cl.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String("web")})
	if err != nil || aws.ToString(got.FunctionUrl) != base || aws.ToString(got.LastModifiedTime) == "" {
		t.Fatalf("GetFunctionUrlConfig: %+v %v", got, err)
	}
	list, err := cl.ListFunctionUrlConfigs(ctx, &lambda.ListFunctionUrlConfigsInput{FunctionName: aws.String("web")})
	if err != nil || len(list.FunctionUrlConfigs) != 1 || aws.ToString(list.FunctionUrlConfigs[0].FunctionUrl) != base {
		t.Fatalf("ListFunctionUrlConfigs: %+v %v", list, err)
	}

	t.Run("request", func(t *testing.T) {
		h := http.Header{"X-Test": {"one"}, "Cookie": {"c1=v1; c2=v2"}}
		r := urlRequest(t, "GET", base+"hello/world?x=1&y=a%20b", h, nil)
		e := echoOf(t, r, "GET")
		if e.Method != "GET" || e.RawPath != "/hello/world" || e.RawQueryString != "x=1&y=a%20b" || e.Query["y"] != "a b" ||
			e.RouteKey != "$default" || e.Stage != "$default" || e.APIID != id || e.AccountID != a.AccountId ||
			e.DomainName != shared.addr || e.Headers["x-test"] != "one" || strings.Join(e.Cookies, "; ") != "c1=v1; c2=v2" ||
			e.FunctionARN != fnARN || e.CallerAccount != "" {
			t.Errorf("echo: %+v", e)
		}
		if r.header.Get("X-Httpfn") != "1" || strings.Join(r.header.Values("Set-Cookie"), "|") != "seen=1; Path=/|flavor=ember" ||
			r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Amzn-Requestid") == "" {
			t.Errorf("response headers: %v", r.header)
		}

		e = echoOf(t, urlRequest(t, "POST", base+"items", http.Header{"Content-Type": {"application/json"}}, []byte(`{"k":"v"}`)), "POST JSON")
		if e.Method != "POST" || e.Body != `{"k":"v"}` || e.IsBase64Encoded {
			t.Errorf("JSON body: %+v", e)
		}
		bin := "\x00\x01binary\x7f"
		e = echoOf(t, urlRequest(t, "PUT", base+"blob", http.Header{"Content-Type": {"application/octet-stream"}}, []byte(bin)), "PUT binary")
		if e.Body != bin || !e.IsBase64Encoded {
			t.Errorf("binary body: %q base64 %v", e.Body, e.IsBase64Encoded)
		}
		// The URL without its trailing slash is the path "/".
		if e := echoOf(t, urlRequest(t, "GET", strings.TrimSuffix(base, "/"), nil, nil), "bare URL"); e.RawPath != "/" {
			t.Errorf("bare URL rawPath %q", e.RawPath)
		}

		r = urlRequest(t, "GET", base+"status/418", nil, nil)
		if r.status != 418 || string(r.body) != "status 418" || r.header.Get("Content-Type") != "text/plain" {
			t.Errorf("/status/418: %v", r)
		}
		r = urlRequest(t, "GET", base+"binary", nil, nil)
		if r.status != 200 || !bytes.Equal(r.body, []byte{0, 1, 0xfe, 0xff}) || r.header.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("/binary: %v", r)
		}
		r = urlRequest(t, "POST", base, nil, bytes.Repeat([]byte("x"), 6*1024*1024+1))
		wantURLError(t, r, 413, "Request Entity Too Large", "7 MB body")
	})

	t.Run("cors", func(t *testing.T) {
		pre := http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type,x-custom"}}
		r := urlRequest(t, "OPTIONS", base+"items", pre, nil)
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
			r.header.Get("Access-Control-Allow-Methods") != "GET,POST" || r.header.Get("Access-Control-Max-Age") != "300" ||
			!strings.Contains(strings.ToLower(r.header.Get("Access-Control-Allow-Headers")), "x-custom") || len(r.body) != 0 {
			t.Errorf("preflight: %v %v", r, r.header)
		}
		pre.Set("Origin", "https://evil.example")
		if r := urlRequest(t, "OPTIONS", base+"items", pre, nil); r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from another origin allowed: %v", r.header)
		}
		r = urlRequest(t, "GET", base+"page", http.Header{"Origin": {"https://app.example"}}, nil)
		echoOf(t, r, "GET with Origin")
		if r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.header.Get("Access-Control-Expose-Headers") != "x-httpfn" {
			t.Errorf("simple CORS response: %v", r.header)
		}
	})

	t.Run("AWS_IAM", func(t *testing.T) {
		// An alias with a URL of its own, which takes signatures.
		v, err := cl.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("web")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("web"), Name: aws.String("live"), FunctionVersion: v.Version}); err != nil {
			t.Fatal(err)
		}
		iam, err := cl.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{
			FunctionName: aws.String("web"), Qualifier: aws.String("live"), AuthType: types.FunctionUrlAuthTypeAwsIam})
		if err != nil {
			t.Fatal(err)
		}
		u := aws.ToString(iam.FunctionUrl)
		if u == base || aws.ToString(iam.FunctionArn) != fnARN+":live" {
			t.Fatalf("alias URL: %+v", iam)
		}
		path := strings.TrimPrefix(u, shared.endpoint) + "whoami?n=1"
		body := []byte(`{"from":"iam"}`)

		wantURLError(t, unsignedRequest(t, shared, "POST", path, body), 403, "Forbidden", "unsigned")
		e := echoOf(t, signedRequest(t, shared, a, "POST", path, body, testRegion, time.Time{}), "signed by the owner")
		if e.CallerAccount != a.AccountId || e.FunctionARN != fnARN+":live" || e.Body != string(body) || e.RawPath != "/whoami" || e.Headers["authorization"] != "" {
			t.Errorf("owner's signed call: %+v", e)
		}
		wantURLError(t, signedRequest(t, shared, b, "POST", path, body, testRegion, time.Time{}), 403, "Forbidden", "signed by another account")
		if _, err := cl.AddPermission(ctx, &lambda.AddPermissionInput{
			FunctionName: aws.String("web"), Qualifier: aws.String("live"), StatementId: aws.String("other-url"),
			Action: aws.String("lambda:InvokeFunctionUrl"), Principal: aws.String(b.AccountId), FunctionUrlAuthType: types.FunctionUrlAuthTypeAwsIam,
		}); err != nil {
			t.Fatal(err)
		}
		e = echoOf(t, signedRequest(t, shared, b, "POST", path, body, testRegion, time.Time{}), "signed by the grantee")
		if e.CallerAccount != b.AccountId || e.AccountID != a.AccountId {
			t.Errorf("grantee's call: caller %s owner %s", e.CallerAccount, e.AccountID)
		}

		// Deleting the alias takes its URL with it.
		if _, err := cl.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: aws.String("web"), Name: aws.String("live")}); err != nil {
			t.Fatal(err)
		}
		wantURLError(t, signedRequest(t, shared, a, "POST", path, body, testRegion, time.Time{}), 404, "Not Found", "URL of a deleted alias")
	})

	t.Run("AWS CLI", func(t *testing.T) {
		requireAWSCLI(t)
		awsJSON(t, shared, a, "lambda", "create-function", "--function-name", "cliweb", "--runtime", "provided.al2023",
			"--handler", "bootstrap", "--role", testRole, "--timeout", "10",
			"--zip-file", "fileb://"+writeTemp(t, "web.zip", makeZip(t, zipEntry{name: "bootstrap", body: string(buildStatic(t, "httpfn")), mode: 0o755})))
		cu := awsJSON(t, shared, a, "lambda", "create-function-url-config", "--function-name", "cliweb", "--auth-type", "AWS_IAM",
			"--cors", `{"AllowOrigins":["https://cli.example"],"AllowMethods":["*"]}`)
		u, _ := cu["FunctionUrl"].(string)
		wantField(t, cu, "create-function-url-config", "AuthType", "AWS_IAM")
		wantField(t, cu, "create-function-url-config", "FunctionArn", "arn:aws:lambda:local:"+a.AccountId+":function:cliweb")
		gu := awsJSON(t, shared, a, "lambda", "get-function-url-config", "--function-name", "cliweb")
		wantField(t, gu, "get-function-url-config", "FunctionUrl", u)
		if !strings.HasPrefix(u, shared.endpoint+"/lambda-url/") {
			t.Fatalf("FunctionUrl %q", u)
		}
		path := strings.TrimPrefix(u, shared.endpoint) + "cli"
		wantURLError(t, unsignedRequest(t, shared, "GET", path, nil), 403, "Forbidden", "unsigned call to the CLI's AWS_IAM URL")
		if e := echoOf(t, signedRequest(t, shared, a, "GET", path, nil, testRegion, time.Time{}), "signed call"); e.CallerAccount != a.AccountId {
			t.Errorf("callerAccount %q", e.CallerAccount)
		}
		up := awsJSON(t, shared, a, "lambda", "update-function-url-config", "--function-name", "cliweb", "--auth-type", "NONE")
		wantField(t, up, "update-function-url-config", "AuthType", "NONE")
		wantField(t, up, "update-function-url-config", "FunctionUrl", u)
		echoOf(t, unsignedRequest(t, shared, "GET", path, nil), "unsigned call after update to NONE")
		if out, errOut, code := awsCLI(t, shared, a, "lambda", "delete-function-url-config", "--function-name", "cliweb"); code != 0 {
			t.Fatalf("delete-function-url-config: exit %d\n%s%s", code, out, errOut)
		}
		wantURLError(t, unsignedRequest(t, shared, "GET", path, nil), 404, "Not Found", "URL after delete-function-url-config")
		_, errOut, code := awsCLI(t, shared, a, "lambda", "get-function-url-config", "--function-name", "cliweb")
		if code != 254 || !strings.Contains(errOut, "ResourceNotFoundException") {
			t.Errorf("get-function-url-config after delete: exit %d %s", code, errOut)
		}
	})

	t.Run("function error", func(t *testing.T) {
		createFn(t, cl, "broken", "python3.12", "app.main",
			makeZip(t, zipEntry{name: "app.py", body: "def main(event, context):\n    raise RuntimeError('secret detail')\n"}), nil, 5, 128)
		out, err := cl.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("broken"), AuthType: types.FunctionUrlAuthTypeNone})
		if err != nil {
			t.Fatal(err)
		}
		r := urlRequest(t, "GET", aws.ToString(out.FunctionUrl), nil, nil)
		wantURLError(t, r, 502, "Internal Server Error", "function error")
		if strings.Contains(string(r.body), "secret detail") {
			t.Errorf("the error reached the caller: %s", r.body)
		}
		// Deleting the function deletes its URL.
		if _, err := cl.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("broken")}); err != nil {
			t.Fatal(err)
		}
		wantURLError(t, urlRequest(t, "GET", aws.ToString(out.FunctionUrl), nil, nil), 404, "Not Found", "URL of a deleted function")
	})

	t.Run("ember url", func(t *testing.T) {
		out, errOut, code := emberCLI(t, a, nil, "url", "web", "--endpoint", shared.endpoint)
		if code != 0 || strings.TrimSpace(out) != base {
			t.Errorf("ember url web: exit %d %q %s, want %s", code, out, errOut, base)
		}
		createFn(t, cl, "web2", "provided.al2023", "bootstrap",
			makeZip(t, zipEntry{name: "bootstrap", body: string(buildStatic(t, "httpfn")), mode: 0o755}), nil, 10, 128)
		if _, errOut, code := emberCLI(t, a, nil, "url", "web2", "--endpoint", shared.endpoint); code != 254 || !strings.Contains(errOut, "ResourceNotFoundException") {
			t.Errorf("ember url without a URL: exit %d %s", code, errOut)
		}
		out, errOut, code = emberCLI(t, a, nil, "url", "web2", "--create", "--endpoint", shared.endpoint)
		u := strings.TrimSpace(out)
		if code != 0 || !strings.HasPrefix(u, shared.endpoint+"/lambda-url/") || u == base {
			t.Fatalf("ember url --create: exit %d %q %s", code, out, errOut)
		}
		if e := echoOf(t, urlRequest(t, "GET", u+"cli", nil, nil), "URL made by ember url"); e.RawPath != "/cli" {
			t.Errorf("rawPath %q", e.RawPath)
		}
	})

	del, err := cl.DeleteFunctionUrlConfig(ctx, &lambda.DeleteFunctionUrlConfigInput{FunctionName: aws.String("web")})
	if err != nil {
		t.Fatalf("DeleteFunctionUrlConfig: %v", err)
	}
	wantStatus(t, del.ResultMetadata, 204, "DeleteFunctionUrlConfig")
	wantURLError(t, urlRequest(t, "GET", base, nil, nil), 404, "Not Found", "URL after DeleteFunctionUrlConfig")
	_, err = cl.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String("web")})
	wantErr(t, err, "ResourceNotFoundException", 404, "GetFunctionUrlConfig after delete")
}
