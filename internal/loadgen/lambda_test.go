package loadgen

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

const (
	warmTail = "START RequestId: r1 Version: $LATEST\nhello\nEND RequestId: r1\n" +
		"REPORT RequestId: r1\tDuration: 1.25 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\t\n"
	coldTail = "START RequestId: r2 Version: $LATEST\nEND RequestId: r2\n" +
		"REPORT RequestId: r2\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tInit Duration: 80.00 ms\tStart: new sandbox\t\n"
	// A function that prints something like a cold REPORT line does not make the call cold.
	sneakyTail = "START RequestId: r3 Version: $LATEST\nREPORT RequestId: x\tInit Duration: 1 ms\nEND RequestId: r3\n" +
		"REPORT RequestId: r3\tDuration: 3.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\t\n"
)

// fakeLambda answers Invoke the way ember does, by function name.
func fakeLambda(t *testing.T) *lambda.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/")
		name, ok2 := strings.CutSuffix(name, "/invocations")
		if !ok || !ok2 || r.Method != http.MethodPost {
			http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		if r.Header.Get("X-Amz-Log-Type") != "Tail" {
			http.Error(w, "no X-Amz-Log-Type: Tail", http.StatusBadRequest)
			return
		}
		fail := func(status int, typ, msg string) {
			w.Header().Set("X-Amzn-ErrorType", typ)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(`{"Type":"User","message":"` + msg + `"}`))
		}
		tail := func(s string) { w.Header().Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString([]byte(s))) }
		switch name {
		case "warm":
			tail(warmTail)
		case "cold":
			tail(coldTail)
		case "sneaky":
			tail(sneakyTail)
		case "fails":
			tail(coldTail)
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
		case "throttled":
			fail(http.StatusTooManyRequests, "TooManyRequestsException", "Rate Exceeded.")
			return
		case "missing":
			fail(http.StatusNotFound, "ResourceNotFoundException", "Function not found: missing")
			return
		}
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return lambda.New(lambda.Options{
		Region:       "local",
		BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
		}),
		Retryer: aws.NopRetryer{},
	})
}

func TestLambdaInvoker(t *testing.T) {
	inv := &LambdaInvoker{Client: fakeLambda(t)}
	for _, tc := range []struct {
		function string
		want     Result
		err      string
	}{
		{"warm", Result{Duration: 1250 * time.Microsecond}, ""},
		{"cold", Result{Cold: true, Duration: 12500 * time.Microsecond}, ""},
		{"sneaky", Result{Duration: 3 * time.Millisecond}, ""},
		{"fails", Result{Cold: true, Duration: 12500 * time.Microsecond, FunctionError: "Unhandled"}, ""},
		{"throttled", Result{Throttled: true}, ""},
		{"missing", Result{}, "ResourceNotFoundException: Function not found: missing"},
	} {
		t.Run(tc.function, func(t *testing.T) {
			got, err := inv.Invoke(t.Context(), tc.function, []byte(`{}`))
			if got != tc.want {
				t.Errorf("Result = %+v, want %+v", got, tc.want)
			}
			errText := ""
			if err != nil {
				errText = err.Error()
			}
			if errText != tc.err {
				t.Errorf("error %q, want %q", errText, tc.err)
			}
		})
	}
}
