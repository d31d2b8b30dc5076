// Command gofn is an unmodified aws-lambda-go function used by the e2e
// tests: it is built as `bootstrap` and run by ember's provided runtime.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Mode  string `json:"mode"`
	Value string `json:"value"`
	MB    int    `json:"mb"`
}

type result struct {
	Echo         string `json:"echo"`
	RequestID    string `json:"requestId"`
	FunctionARN  string `json:"functionArn"`
	Version      string `json:"version"`
	Memory       string `json:"memory"`
	Env          string `json:"env"`
	Count        int    `json:"count"`
	RemainingMs  int64  `json:"remainingMs"`
	ClientCustom string `json:"clientCustom,omitempty"`
}

var hold [][]byte

func handle(ctx context.Context, ev event) (result, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	// A counter in /tmp shows whether this sandbox served before.
	n := 0
	if b, err := os.ReadFile("/tmp/count"); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	n++
	os.WriteFile("/tmp/count", []byte(strconv.Itoa(n)), 0o600)
	switch ev.Mode {
	case "error":
		return result{}, errors.New("boom: " + ev.Value)
	case "sleep":
		time.Sleep(time.Duration(ev.MB) * time.Second)
	case "oom":
		for {
			b := make([]byte, 8<<20)
			for i := range b {
				b[i] = 1
			}
			hold = append(hold, b)
		}
	case "crash":
		fmt.Println("about to crash")
		os.Exit(3)
	case "big":
		return result{Echo: strings.Repeat("x", 7<<20)}, nil
	case "print":
		fmt.Println("hello from the function:", ev.Value)
	}
	deadline, _ := ctx.Deadline()
	r := result{
		Echo: ev.Value, RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn,
		Version: lambdacontext.FunctionVersion, Memory: strconv.Itoa(lambdacontext.MemoryLimitInMB),
		Env: os.Getenv("GREETING"), Count: n, RemainingMs: time.Until(deadline).Milliseconds(),
	}
	if lc.ClientContext.Custom != nil {
		r.ClientCustom = lc.ClientContext.Custom["k"]
	}
	return r, nil
}

func main() { lambda.Start(handle) }
