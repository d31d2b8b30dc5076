package loadgen

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// LambdaInvoker calls functions through the Lambda Invoke API. Give it a
// client without retries: a retried throttle would hide the throttle and
// count its wait as latency.
type LambdaInvoker struct {
	Client *lambda.Client
}

var _ Invoker = (*LambdaInvoker)(nil)

// Invoke calls function with RequestResponse and LogType Tail; the log
// tail's REPORT line says whether the call was cold and how long it ran.
func (l *LambdaInvoker) Invoke(ctx context.Context, function string, payload []byte) (Result, error) {
	out, err := l.Client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(function),
		Payload:      payload,
		LogType:      types.LogTypeTail,
	})
	if err != nil {
		if throttled(err) {
			return Result{Throttled: true}, nil
		}
		var ae smithy.APIError
		if errors.As(err, &ae) {
			// The code and message repeat across calls; the SDK's full
			// text carries a request id and would not.
			return Result{}, &apiError{code: ae.ErrorCode(), msg: ae.ErrorMessage(), err: err}
		}
		return Result{}, err
	}
	res := Result{FunctionError: aws.ToString(out.FunctionError)}
	if tail, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult)); err == nil {
		res.Cold, res.Duration = parseReport(string(tail))
	}
	return res, nil
}

func throttled(err error) bool {
	var tm *types.TooManyRequestsException
	if errors.As(err, &tm) {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusTooManyRequests
}

type apiError struct {
	code, msg string
	err       error
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }
func (e *apiError) Unwrap() error { return e.err }

// parseReport reads the last REPORT line of a log tail, whose fields are
// tab-separated "Name: value unit": Init Duration appears only on a cold
// start, and Duration is the function's run time.
func parseReport(tail string) (cold bool, dur time.Duration) {
	i := strings.LastIndex(tail, "REPORT RequestId:")
	if i < 0 {
		return false, 0
	}
	line, _, _ := strings.Cut(tail[i:], "\n")
	for field := range strings.SplitSeq(line, "\t") {
		name, value, ok := strings.Cut(strings.TrimSpace(field), ": ")
		if !ok {
			continue
		}
		switch name {
		case "Init Duration":
			cold = true
		case "Duration":
			if ms, err := strconv.ParseFloat(strings.TrimSuffix(value, " ms"), 64); err == nil {
				dur = time.Duration(ms * float64(time.Millisecond))
			}
		}
	}
	return cold, dur
}
