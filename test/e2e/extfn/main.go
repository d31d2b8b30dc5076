// Command extfn is a Lambda external extension for the e2e tests
// (services_test.go). It registers for INVOKE and SHUTDOWN through the
// Extensions API, appends "INVOKE <request id>" to /tmp/extfn.events (which
// svcfn reads back) and prints every event to stdout. On SHUTDOWN it also
// records the reason in the function's key-value store under
// extfn/shutdown/<sandbox id>, through the platform channel, since the
// sandbox and its /tmp are about to go.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const base = "/2020-01-01/extension/"

type event struct {
	EventType      string `json:"eventType"`
	RequestID      string `json:"requestId"`
	ShutdownReason string `json:"shutdownReason"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "extfn:", err)
		os.Exit(1)
	}
}

func run() error {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + base
	// Lambda names an external extension after its file.
	name := filepath.Base(os.Args[0])
	req, err := http.NewRequest("POST", api+"register", strings.NewReader(`{"events":["INVOKE","SHUTDOWN"]}`))
	if err != nil {
		return err
	}
	req.Header.Set("Lambda-Extension-Name", name)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("Lambda-Extension-Identifier")
	if resp.StatusCode != http.StatusOK || id == "" {
		return fmt.Errorf("register: %d %s", resp.StatusCode, b)
	}
	fmt.Println("extfn registered")
	for {
		req, err := http.NewRequest("GET", api+"event/next", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("event/next: %d %s", resp.StatusCode, b)
		}
		var ev event
		if err := json.Unmarshal(b, &ev); err != nil {
			return fmt.Errorf("event/next: %v: %s", err, b)
		}
		switch ev.EventType {
		case "INVOKE":
			fmt.Println("extfn INVOKE", ev.RequestID)
			f, err := os.OpenFile("/tmp/extfn.events", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			fmt.Fprintln(f, "INVOKE", ev.RequestID)
			f.Close()
		case "SHUTDOWN":
			fmt.Println("SHUTDOWN", ev.ShutdownReason)
			recordShutdown(ev.ShutdownReason)
			return nil
		default:
			fmt.Println("extfn unexpected event", string(b))
		}
	}
}

// recordShutdown stores the reason through the platform channel, where a
// later invocation (in another sandbox) can read it.
func recordShutdown(reason string) {
	stream := os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME")
	sandbox := stream[strings.LastIndexByte(stream, ']')+1:]
	u := "http://" + os.Getenv("EMBER_SERVICES_API") + "/2026-01-01/kv/" + url.PathEscape("extfn/shutdown/"+sandbox)
	req, err := http.NewRequest("PUT", u, bytes.NewReader([]byte(reason)))
	if err != nil {
		fmt.Println("extfn: recording SHUTDOWN:", err)
		return
	}
	resp, err := (&http.Client{Timeout: time.Second}).Do(req)
	if err != nil {
		fmt.Println("extfn: recording SHUTDOWN:", err)
		return
	}
	resp.Body.Close()
	fmt.Println("extfn: recorded SHUTDOWN:", resp.StatusCode)
}
