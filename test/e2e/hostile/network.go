package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// The network: the host, other addresses, DNS, and the Runtime API (served
// by the ember process) as a target.

func attackNet(ctx context.Context, ev event, r *report) {
	for _, a := range ev.TCP {
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err == nil {
			c.Write([]byte("hello from a sandbox\n"))
			c.Close()
		}
		r.step("tcp "+a, err)
	}
	for _, a := range ev.UDP {
		c, err := net.Dial("udp", a)
		if err == nil {
			_, err = c.Write([]byte("hello from a sandbox\n"))
			c.Close()
		}
		r.step("udp "+a, err)
	}
	if ev.Unix != "" {
		c, err := net.DialTimeout("unix", "@"+ev.Unix, time.Second)
		if err == nil {
			c.Write([]byte("hello from a sandbox\n"))
			c.Close()
		}
		r.step("unix @"+ev.Unix, err)
	}
	if ev.DNS != "" {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		addrs, err := net.DefaultResolver.LookupHost(lctx, ev.DNS)
		cancel()
		r.step("dns "+ev.DNS, err)
		r.Text = strings.Join(addrs, ",")
	}
}

// attackListeners lists the listening TCP sockets of the sandbox's network
// namespace (/proc/net/tcp{,6} show the reader's namespace).
func attackListeners(_ context.Context, _ event, r *report) {
	var ls []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		r.step("read "+f, err)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 4 || fs[3] != "0A" { // TCP_LISTEN
				continue
			}
			ls = append(ls, decodeAddr(fs[1]))
		}
	}
	r.Text = strings.Join(ls, " ")
}

// decodeAddr turns /proc/net/tcp's "0100007F:2329" into "127.0.0.1:9001".
func decodeAddr(s string) string {
	h, p, _ := strings.Cut(s, ":")
	port, _ := strconv.ParseUint(p, 16, 16)
	raw := make([]byte, len(h)/2)
	for i := range raw {
		v, _ := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		raw[i] = byte(v)
	}
	// The kernel prints each 32-bit word in host (little-endian) order.
	for i := 0; i+4 <= len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	return net.JoinHostPort(net.IP(raw).String(), strconv.FormatUint(port, 10))
}

// attackRAPIHeaders opens ev.N connections to the Runtime API (a server in
// the ember process; or the one whose address is in the variable ev.Path), sends each an unfinished header of ev.MB KiB and
// holds them for ev.MS: whatever the server buffers for them is memory
// outside the sandbox's limit.
func attackRAPIHeaders(_ context.Context, ev event, r *report) {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if ev.Path != "" { // another server the host runs in the sandbox
		api = os.Getenv(ev.Path)
	}
	pad := bytes.Repeat([]byte{'a'}, ev.MB<<10)
	var conns []net.Conn
	var err error
	for range ev.N {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", api, time.Second); err != nil {
			break
		}
		conns = append(conns, c)
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s\r\nX-Pad: ", api)
		if _, err = c.Write(pad); err != nil {
			break
		}
	}
	r.N = int64(len(conns))
	r.step("send", err)
	time.Sleep(time.Duration(ev.MS) * time.Millisecond)
	for _, c := range conns {
		c.Close()
	}
}

// attackRAPIBodies posts ev.N responses of ev.MB KiB each for the current
// invocation at once, all but one byte of each, and holds them for ev.MS.
func attackRAPIBodies(ctx context.Context, ev event, r *report) {
	lc, _ := lambdacontext.FromContext(ctx)
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	pad := bytes.Repeat([]byte{'a'}, ev.MB<<10)
	var conns []net.Conn
	var err error
	for range ev.N {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", api, time.Second); err != nil {
			break
		}
		conns = append(conns, c)
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", lc.AwsRequestID, api, len(pad)+1)
		if _, err = c.Write(pad); err != nil {
			break
		}
	}
	r.N = int64(len(conns))
	r.step("send", err)
	time.Sleep(time.Duration(ev.MS) * time.Millisecond)
	for _, c := range conns {
		c.Close()
	}
}

// attackChannel asks the platform channel (EMBER_SERVICES_API) for what
// the default policy grants nothing of: a secret, the key-value store, and
// a call to the function ev.Value (another account's ARN).
func attackChannel(ctx context.Context, ev event, r *report) {
	api := os.Getenv("EMBER_SERVICES_API")
	if api == "" {
		r.Steps["channel"] = "absent"
		return
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	do := func(step, method, path, body string) {
		req, err := http.NewRequestWithContext(ctx, method, "http://"+api+"/2026-01-01/"+path, strings.NewReader(body))
		if err != nil {
			r.step(step, err)
			return
		}
		resp, err := hc.Do(req)
		if err != nil {
			r.step(step, err)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		r.Steps[step] = strconv.Itoa(resp.StatusCode)
		if step == "whoami" {
			r.Text = string(b)
		}
	}
	do("whoami", "GET", "whoami", "")
	do("secret", "GET", "secrets/db-password", "")
	do("kv", "GET", "kv/x", "")
	do("kv put", "PUT", "kv/x", "v")
	do("invoke another account", "POST", "functions/"+url.PathEscape(ev.Value)+"/invocations", `{"value":"from a hostile sandbox"}`)
}
