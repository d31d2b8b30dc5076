// Command extension is a Lambda external extension for the runtimeapi
// tests, written the way extension authors write them against the public
// Extensions API: it registers under its file name for INVOKE and SHUTDOWN,
// prints one line per event, works EXT_WORK_MS on each INVOKE, and exits
// on SHUTDOWN.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "extension:", err)
		os.Exit(1)
	}
}

func run() error {
	base := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2020-01-01/extension/"
	work, _ := strconv.Atoi(os.Getenv("EXT_WORK_MS"))
	client := &http.Client{} // no timeout: event/next long-polls

	body, _ := json.Marshal(map[string][]string{"events": {"INVOKE", "SHUTDOWN"}})
	req, _ := http.NewRequest(http.MethodPost, base+"register", bytes.NewReader(body))
	req.Header.Set("Lambda-Extension-Name", filepath.Base(os.Args[0]))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	var reg struct {
		FunctionName    string `json:"functionName"`
		FunctionVersion string `json:"functionVersion"`
		Handler         string `json:"handler"`
	}
	err = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		return fmt.Errorf("register: %s %v", resp.Status, err)
	}
	id := resp.Header.Get("Lambda-Extension-Identifier")
	fmt.Printf("registered %s %s %s\n", reg.FunctionName, reg.FunctionVersion, reg.Handler)

	for {
		req, _ := http.NewRequest(http.MethodGet, base+"event/next", nil)
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		var ev struct {
			EventType      string `json:"eventType"`
			DeadlineMs     int64  `json:"deadlineMs"`
			RequestID      string `json:"requestId"`
			ShutdownReason string `json:"shutdownReason"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return fmt.Errorf("event/next: %s %v", resp.Status, err)
		}
		switch ev.EventType {
		case "INVOKE":
			time.Sleep(time.Duration(work) * time.Millisecond)
			fmt.Printf("INVOKE %s %d\n", ev.RequestID, ev.DeadlineMs)
		case "SHUTDOWN":
			fmt.Printf("SHUTDOWN %s\n", ev.ShutdownReason)
			return nil
		default:
			return fmt.Errorf("unknown event %q", ev.EventType)
		}
	}
}
