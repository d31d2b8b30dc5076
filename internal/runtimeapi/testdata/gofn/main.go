// Command gofn is a tiny aws-lambda-go function used by runtimeapi's
// compatibility tests: it runs unmodified lambda.Start against ember's
// Runtime API and reports what the library handed it.
package main

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func handler(ctx context.Context, ev map[string]any) (map[string]any, error) {
	if msg, ok := ev["fail"].(string); ok {
		return nil, errors.New(msg)
	}
	if n, ok := ev["big"].(float64); ok {
		return map[string]any{"big": strings.Repeat("x", int(n))}, nil
	}
	if _, ok := ev["echo"]; ok {
		return ev, nil
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	return map[string]any{
		"event":             ev,
		"requestId":         lc.AwsRequestID,
		"functionArn":       lc.InvokedFunctionArn,
		"deadlineMs":        deadline.UnixMilli(),
		"traceId":           os.Getenv("_X_AMZN_TRACE_ID"),
		"clientCustom":      lc.ClientContext.Custom,
		"cognitoIdentityId": lc.Identity.CognitoIdentityID,
	}, nil
}

func main() { lambda.Start(handler) }
