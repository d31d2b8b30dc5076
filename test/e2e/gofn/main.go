// Command gofn is an unmodified aws-lambda-go function used by the e2e
// tests: it is built as `bootstrap` and run by ember's provided runtime.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
	Sandbox      string `json:"sandbox"`
	Proxy        string `json:"proxy,omitempty"`
}

// sandboxID tells one runtime process (so one sandbox) from another.
var sandboxID = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())

// fetch GETs url through the egress proxy named by HTTP_PROXY when there
// is one (also for loopback targets, which a test server on the host is),
// and never follows redirects.
func fetch(u string) string {
	tr := &http.Transport{Proxy: func(*http.Request) (*url.URL, error) {
		if p := os.Getenv("HTTP_PROXY"); p != "" {
			return url.Parse(p)
		}
		return nil, nil
	}}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
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
	case "fetch":
		ev.Value = fetch(ev.Value)
	case "listen":
		if l, err := net.Listen("tcp", "127.0.0.1:0"); err != nil {
			ev.Value = "error: " + err.Error()
		} else {
			l.Close()
			ev.Value = "listening"
		}
	case "flood":
		line := strings.Repeat("y", 1023) + "\n"
		for range ev.MB << 10 {
			os.Stdout.WriteString(line)
		}
	}
	deadline, _ := ctx.Deadline()
	r := result{
		Echo: ev.Value, RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn,
		Version: lambdacontext.FunctionVersion, Memory: strconv.Itoa(lambdacontext.MemoryLimitInMB),
		Env: os.Getenv("GREETING"), Count: n, RemainingMs: time.Until(deadline).Milliseconds(),
		Sandbox: sandboxID, Proxy: os.Getenv("HTTP_PROXY"),
	}
	if lc.ClientContext.Custom != nil {
		r.ClientCustom = lc.ClientContext.Custom["k"]
	}
	return r, nil
}

func main() { lambda.Start(handle) }
