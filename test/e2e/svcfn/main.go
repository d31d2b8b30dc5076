// Command svcfn is an aws-lambda-go function for the platform-channel e2e
// tests (services_test.go). Each event names an op; the function performs
// it — mostly one HTTP call to EMBER_SERVICES_API — and answers with the
// call's status and body beside what identifies its sandbox, so the test
// can tell one sandbox (and pid namespace) from another. The same binary
// serves every portion of a split-trust function: the portion's handler
// is in _HANDLER.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Op      string          `json:"op"`
	Name    string          `json:"name"`    // secret name, kv key, function or portion
	Value   string          `json:"value"`   // kv value, file content, HMAC input
	Path    string          `json:"path"`    // file path
	Payload json.RawMessage `json:"payload"` // for call and portion
}

type result struct {
	Status        int    `json:"status"`
	Body          string `json:"body"`
	FunctionError string `json:"functionError,omitempty"`
	Err           string `json:"err,omitempty"`

	// What this sandbox is.
	Handler   string `json:"handler"`
	Function  string `json:"function"`
	Sandbox   string `json:"sandbox"` // the sandbox id, from the log stream name
	PidNS     string `json:"pidns"`
	Pid       int    `json:"pid"`
	RequestID string `json:"requestId"`
}

// extEvents is where extfn records the events it gets.
const extEvents = "/tmp/extfn.events"

var client = &http.Client{Timeout: 20 * time.Second}

// channel makes one call to the platform channel.
func channel(r *result, method, path string, body []byte) {
	req, err := http.NewRequest(method, "http://"+os.Getenv("EMBER_SERVICES_API")+"/2026-01-01/"+path, bytes.NewReader(body))
	if err != nil {
		r.Err = err.Error()
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		r.Err = err.Error()
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r.Status, r.Body, r.FunctionError = resp.StatusCode, string(b), resp.Header.Get("Ember-Function-Error")
}

// processes lists the processes this sandbox can see: pid, command line
// and, when readable, the _HANDLER of each.
func processes() string {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	sort.Strings(dirs)
	var lines []string
	for _, d := range dirs {
		cmd, err := os.ReadFile(d + "/cmdline")
		if err != nil {
			continue
		}
		handler := "?"
		if env, err := os.ReadFile(d + "/environ"); err == nil {
			handler = ""
			for kv := range strings.SplitSeq(string(env), "\x00") {
				if h, ok := strings.CutPrefix(kv, "_HANDLER="); ok {
					handler = h
				}
			}
		}
		lines = append(lines, fmt.Sprintf("%s %q handler=%s", filepath.Base(d), strings.ReplaceAll(string(cmd), "\x00", " "), handler))
	}
	return strings.Join(lines, "\n")
}

// waitExtEvents returns extfn's record once it holds this invocation's
// request id (the extension gets INVOKE as the runtime gets the event, so
// it may still be writing).
func waitExtEvents(reqID string) (string, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, err := os.ReadFile(extEvents)
		if err == nil && strings.Contains(string(b), "INVOKE "+reqID) || time.Now().After(deadline) {
			return string(b), err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func handle(ctx context.Context, ev event) (result, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	r := result{Handler: os.Getenv("_HANDLER"), Function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), Pid: os.Getpid()}
	if lc != nil {
		r.RequestID = lc.AwsRequestID
	}
	if s := os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME"); strings.Contains(s, "]") {
		r.Sandbox = s[strings.LastIndexByte(s, ']')+1:]
	}
	r.PidNS, _ = os.Readlink("/proc/self/ns/pid")

	switch ev.Op {
	case "whoami":
		channel(&r, "GET", "whoami", nil)
	case "secret":
		channel(&r, "GET", "secrets/"+url.PathEscape(ev.Name), nil)
	case "kvput":
		channel(&r, "PUT", "kv/"+url.PathEscape(ev.Name), []byte(ev.Value))
	case "kvget":
		channel(&r, "GET", "kv/"+url.PathEscape(ev.Name), nil)
	case "call":
		channel(&r, "POST", "functions/"+url.PathEscape(ev.Name)+"/invocations", ev.Payload)
	case "portion":
		channel(&r, "POST", "portions/"+url.PathEscape(ev.Name)+"/invocations", ev.Payload)
	case "sign":
		// HMAC-SHA256 of the input with the secret signing-key. A copy of
		// the key goes to /tmp so a test can check nobody else can read it.
		channel(&r, "GET", "secrets/signing-key", nil)
		if r.Status != http.StatusOK {
			return r, nil
		}
		key := []byte(r.Body)
		if err := os.WriteFile("/tmp/signing-key", key, 0o600); err != nil {
			r.Err = err.Error()
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(ev.Value))
		r.Body = hex.EncodeToString(m.Sum(nil))
	case "env":
		r.Status, r.Body = http.StatusOK, strings.Join(os.Environ(), "\n")
	case "proc":
		r.Status, r.Body = http.StatusOK, processes()
	case "readfile":
		b, err := os.ReadFile(ev.Path)
		if err != nil {
			r.Err = err.Error()
		} else {
			r.Status, r.Body = http.StatusOK, string(b)
		}
	case "extevents":
		b, err := waitExtEvents(r.RequestID)
		if err != nil {
			r.Err = err.Error()
		} else {
			r.Status, r.Body = http.StatusOK, b
		}
	case "id":
		r.Status = http.StatusOK
	default:
		return r, fmt.Errorf("unknown op %q", ev.Op)
	}
	return r, nil
}

func main() { lambda.Start(handle) }
