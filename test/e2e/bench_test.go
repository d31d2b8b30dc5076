package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Invocation benchmarks against the real server, each beside its baseline
// in the same run (these machines are noisy):
//
//	go test -run '^$' -bench 'Invoke|BareEcho' -benchtime 1000x ./test/e2e/
//
// They report p50 and p99 latencies in µs besides ns/op.

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	p := func(q float64) float64 {
		return float64(lat[int(q*float64(len(lat)-1))].Microseconds())
	}
	b.ReportMetric(p(0.50), "p50-µs")
	b.ReportMetric(p(0.99), "p99-µs")
}

// BenchmarkBareEcho is the baseline: a bare Go HTTP server echoing the
// request body, called over loopback with net/http.
func BenchmarkBareEcho(b *testing.B) {
	url := echoServer(b) + "/2015-03-31/functions/echo/invocations"
	payload := []byte(`{"value":"bench"}`)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		resp, err := http.Post(url, "application/json", bytes.NewReader(payload))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}

// echoServer starts a bare Go HTTP server that echoes the request body,
// until b ends, and returns its base URL.
func echoServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// BenchmarkBareEchoSDK is the baseline for the client's own cost: the same
// aws-sdk-go-v2 Invoke (signing, middleware, response parsing) against a
// bare Go HTTP server that echoes the body.
func BenchmarkBareEchoSDK(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		w.Write(body)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	cl := lambdaClient(&server{endpoint: "http://" + ln.Addr().String()}, creds{AccessKeyId: "AKIDBENCH", SecretAccessKey: "secret"})
	in := &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"value":"bench"}`)}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if _, err := cl.Invoke(ctxT(b), in); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}

// BenchmarkInvokeWarmRaw: the warm invoke without the SDK: a request signed
// with SigV4 once (the server accepts a signature for 15 minutes and does
// not cache it), sent again and again over one keep-alive connection, so
// the time is the server's and the function's, not the client library's.
func BenchmarkInvokeWarmRaw(b *testing.B) {
	cl := trivialSetup(b, "warmraw")
	c := benchCreds["warmraw"]
	payload := []byte(`{"value":"bench"}`)
	if _, err := cl.Invoke(ctxT(b), &lambda.InvokeInput{FunctionName: aws.String("warmraw"), Payload: payload}); err != nil {
		b.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, shared.endpoint+"/2015-03-31/functions/warmraw/invocations", nil)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	if err := v4.NewSigner().SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "lambda", testRegion, time.Now()); err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		r := req.Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(payload))
		r.ContentLength = int64(len(payload))
		resp, err := hc.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "" {
			b.Fatalf("invoke: HTTP %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}

// benchCreds remembers each benchmark account's keys, for raw requests.
var benchCreds = map[string]creds{}

// benchSetup creates gofn as function name in a new account.
func benchSetup(b *testing.B, name string) *lambda.Client {
	return benchFunction(b, name, goFunction)
}

// trivialSetup creates the trivial function (echofn) as name.
func trivialSetup(b *testing.B, name string) *lambda.Client {
	return benchFunction(b, name, echoFunction)
}

// echoFunction is echofn as a provided.al2023 bundle.
func echoFunction(t testing.TB) []byte {
	return makeZip(t, zipEntry{name: "bootstrap", body: string(buildStatic(t, "echofn")), mode: 0o755})
}

// benchFunction creates a provided.al2023 function name from code's
// bundle in a new account (its keys in benchCreds[name]).
func benchFunction(b *testing.B, name string, code func(testing.TB) []byte) *lambda.Client {
	if testing.Short() {
		b.Skip("short")
	}
	c := newAccount(b, shared, "bench-"+name)
	benchCreds[name] = c
	cl := lambdaClient(shared, c)
	_, err := cl.CreateFunction(ctxT(b), &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Runtime: types.RuntimeProvidedal2023, Role: aws.String(testRole),
		Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: code(b)},
	})
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// BenchmarkInvokeWarm: a trivial aws-lambda-go function invoked through
// aws-sdk-go-v2 on loopback, always served by its warm sandbox.
func BenchmarkInvokeWarm(b *testing.B) {
	cl := trivialSetup(b, "warm")
	in := &lambda.InvokeInput{FunctionName: aws.String("warm"), Payload: []byte(`{"value":"bench"}`)}
	if _, err := cl.Invoke(ctxT(b), in); err != nil { // the cold start
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		out, err := cl.Invoke(ctxT(b), in)
		if err != nil || out.FunctionError != nil {
			b.Fatalf("invoke: %v %v", err, out)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}

// BenchmarkInvokeCold: every measured invocation needs a new sandbox (the
// configuration is changed, untimed, before each one), so it pays for
// specialising a sandbox, starting the runtime and its init. Between
// iterations the server is given 150 ms (untimed) to refill its warming
// pool, as it would have between cold starts that are not back to back;
// pool-% is the share of calls whose REPORT line says the pool served them.
func BenchmarkInvokeCold(b *testing.B) {
	coldLoop(b, trivialSetup(b, "cold"), "cold")
}

// BenchmarkInvokeColdMiss is BenchmarkInvokeCold on a server without a
// warming pool (--warm-pool 0): every cold start builds its sandbox.
func BenchmarkInvokeColdMiss(b *testing.B) {
	if testing.Short() {
		b.Skip("short")
	}
	srv := startServer(b, "--warm-pool", "0")
	cl := lambdaClient(srv, newAccount(b, srv, "bench-coldmiss"))
	if _, err := cl.CreateFunction(ctxT(b), &lambda.CreateFunctionInput{
		FunctionName: aws.String("coldmiss"), Runtime: types.RuntimeProvidedal2023, Role: aws.String(testRole),
		Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: echoFunction(b)},
	}); err != nil {
		b.Fatal(err)
	}
	coldLoop(b, cl, "coldmiss")
}

// coldLoop times invocations of name that each need a new sandbox.
func coldLoop(b *testing.B, cl *lambda.Client, name string) {
	in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"value":"bench"}`), LogType: types.LogTypeTail}
	lat := make([]time.Duration, 0, b.N)
	fromPool := 0
	b.ResetTimer()
	i := 0
	for b.Loop() {
		b.StopTimer()
		time.Sleep(150 * time.Millisecond)
		i++
		if _, err := cl.UpdateFunctionConfiguration(ctxT(b), &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(name), Description: aws.String(fmt.Sprint("rev ", i)),
		}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		out, err := cl.Invoke(ctxT(b), in)
		if err != nil || out.FunctionError != nil {
			b.Fatalf("invoke: %v %v", err, out)
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		report, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
		if err != nil {
			b.Fatal(err)
		}
		if bytes.Contains(report, []byte("Start: warming pool")) {
			fromPool++
		} else if !bytes.Contains(report, []byte("Start: new sandbox")) {
			b.Fatalf("not a cold start: %s", report)
		}
		b.StartTimer()
	}
	reportPercentiles(b, lat)
	b.ReportMetric(float64(100*fromPool)/float64(len(lat)), "pool-%")
}

// serveLoopback serves h on a loopback port until the benchmark ends and
// returns its address.
func serveLoopback(b *testing.B, h http.Handler) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// writeBenchEvent answers a GET /next of the bare Runtime APIs with the
// benchmarks' event as invocation id.
func writeBenchEvent(w http.ResponseWriter, id string) {
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", id)
	h.Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:local:000000000000:function:native")
	h.Set("Content-Type", "application/json")
	w.Write([]byte(`{"value":"bench"}`))
}

// BenchmarkNativeStart is the cold start's baseline: the same bootstrap
// started directly on the host (no sandbox, no ember) against a bare
// in-process Runtime API, timed from the start of the process to its
// answer to one event — the part of a cold start that is the function's
// own. next-p50-µs is the time to its first request (its start alone).
func BenchmarkNativeStart(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "bootstrap")
	if err := os.WriteFile(bin, buildStatic(b, "echofn"), 0o755); err != nil {
		b.Fatal(err)
	}
	nexts, answers := make(chan time.Time, 1), make(chan time.Time, 1)
	mux := http.NewServeMux()
	var mu sync.Mutex
	served := false // whether this process had its event
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		again := served
		served = true
		mu.Unlock()
		nexts <- time.Now()
		if again { // one event per process
			<-r.Context().Done()
			return
		}
		writeBenchEvent(w, "req-1")
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		answers <- time.Now()
	})
	addr := serveLoopback(b, mux)
	lat := make([]time.Duration, 0, b.N)
	next := make([]time.Duration, 0, b.N)
	for b.Loop() {
		mu.Lock()
		served = false
		mu.Unlock()
		cmd := exec.Command(bin)
		cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + addr, "_HANDLER=bootstrap"}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		var first time.Time
		select {
		case first = <-nexts:
		case <-time.After(10 * time.Second):
			b.Fatal("no GET /next from the bootstrap")
		}
		select {
		case done := <-answers:
			lat = append(lat, done.Sub(start))
			next = append(next, first.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("no answer from the bootstrap")
		}
		<-nexts // its second GET /next: the answer is complete
		cmd.Process.Kill()
		cmd.Wait()
	}
	reportPercentiles(b, lat)
	slices.Sort(next)
	b.ReportMetric(float64(next[len(next)/2].Microseconds()), "next-p50-µs")
}

// BenchmarkInvokeThroughput: a trivial aws-lambda-go function invoked by
// C concurrent callers through aws-sdk-go-v2; reports invocations/s once C
// warm sandboxes exist, and where the CPU went per invocation: the SDK
// clients, the server, and the rest (the function's runtime and the
// kernel's loopback traffic). BenchmarkNativeThroughput is its baseline.
func BenchmarkInvokeThroughput(b *testing.B) {
	cl := trivialSetup(b, "tput")
	in := &lambda.InvokeInput{FunctionName: aws.String("tput"), Payload: []byte(`{"value":"bench"}`)}
	for _, conc := range []int{1, 4, 16, 64} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			// Warm up: C sandboxes, made by C simultaneous calls.
			run := func(n int) {
				var wg sync.WaitGroup
				per := (n + conc - 1) / conc
				for range conc {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range per {
							if out, err := cl.Invoke(ctxT(b), in); err != nil || out.FunctionError != nil {
								b.Errorf("invoke: %v", err)
								return
							}
						}
					}()
				}
				wg.Wait()
			}
			run(conc)
			b.ResetTimer()
			start, cpu := time.Now(), takeCPU(shared.pid())
			run(b.N)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "invokes/s")
			reportCPU(b, cpu, takeCPU(shared.pid()), b.N)
		})
	}
}

// BenchmarkNativeThroughput is the throughput ceiling of the function
// itself on this machine: the same bootstrap, started natively (no
// sandbox, no ember) as C processes, each fed events back to back by a
// bare in-process Runtime API (an event per GET /next, 202 per response).
// It reports invocations/s, the runtimes' own CPU per invocation (the
// part of BenchmarkInvokeThroughput's "other" that is the function's) and
// the bare Runtime API's (this process).
func BenchmarkNativeThroughput(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "bootstrap")
	if err := os.WriteFile(bin, buildStatic(b, "echofn"), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			var mu sync.Mutex
			left, seq := b.N, 0
			done := make(chan struct{})
			mux := http.NewServeMux()
			mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				if left == 0 {
					mu.Unlock()
					<-r.Context().Done() // no more events: wait, as Lambda's does
					return
				}
				left--
				seq++
				id := fmt.Sprintf("req-%d", seq)
				mu.Unlock()
				writeBenchEvent(w, id)
			})
			var answered int
			mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusAccepted)
				mu.Lock()
				answered++
				if answered == b.N {
					close(done)
				}
				mu.Unlock()
			})
			addr := serveLoopback(b, mux)
			b.ResetTimer()
			start, self := time.Now(), takeCPU(0).self
			cmds := make([]*exec.Cmd, conc)
			for i := range cmds {
				cmds[i] = exec.Command(bin)
				cmds[i].Env = []string{"AWS_LAMBDA_RUNTIME_API=" + addr, "_HANDLER=bootstrap",
					"AWS_LAMBDA_FUNCTION_NAME=native", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128"}
				if err := cmds[i].Start(); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatal("the runtimes did not answer every event")
			}
			elapsed, api := time.Since(start), takeCPU(0).self-self
			b.StopTimer()
			var cpu time.Duration
			for _, c := range cmds {
				c.Process.Kill()
				c.Wait()
				cpu += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "invokes/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "runtime-cpu-µs/op")
			b.ReportMetric(float64(api.Microseconds())/float64(b.N), "api-cpu-µs/op")
		})
	}
}

// BenchmarkInvokeFresh: every invocation asks for isolation "fresh"
// (X-Ember-Policy), so each runs in a sandbox nobody used before and is
// torn down after: the cost of fresh isolation against BenchmarkInvokeWarm.
// Between iterations the warming pool gets 150 ms (untimed) to refill, as
// in BenchmarkInvokeCold.
func BenchmarkInvokeFresh(b *testing.B) {
	cl := trivialSetup(b, "fresh")
	in := &lambda.InvokeInput{FunctionName: aws.String("fresh"), Payload: []byte(`{"value":"bench"}`)}
	opt := withHeader("X-Ember-Policy", `{"isolation":"fresh"}`)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		time.Sleep(150 * time.Millisecond)
		b.StartTimer()
		start := time.Now()
		out, err := cl.Invoke(ctxT(b), in, opt)
		if err != nil || out.FunctionError != nil {
			b.Fatalf("invoke: %v %v", err, out)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}

// BenchmarkEgress: the function GETs a server on the host's loopback
// through its egress proxy (the policy lists 127.0.0.1:PORT), against
// the same GET made directly from here ("direct") and a warm invocation
// that fetches nothing ("nofetch"): proxy cost = egress − nofetch − direct.
func BenchmarkEgress(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })}
	go srv.Serve(ln)
	defer srv.Close()
	target := "http://" + ln.Addr().String() + "/"
	b.Run("direct", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			resp, err := http.Get(target)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(start))
		}
		reportPercentiles(b, lat)
	})
	cl := benchSetup(b, "egress")
	name := "egress"
	c := benchCreds[name]
	doc := fmt.Sprintf(`{"network":{"mode":"allowlist","allow":[%q]}}`, ln.Addr().String())
	if _, errOut, code := emberCLI(b, c, []string{"EMBER_ENDPOINT=" + shared.endpoint}, "policy", "put", name, "--file", writeTempB(b, doc)); code != 0 {
		b.Fatalf("policy put: %s", errOut)
	}
	for _, sub := range []struct{ name, payload string }{
		{"nofetch", `{"value":"bench"}`},
		{"through-proxy", fmt.Sprintf(`{"mode":"fetch","value":%q}`, target)},
	} {
		b.Run(sub.name, func(b *testing.B) {
			in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(sub.payload)}
			if _, err := cl.Invoke(ctxT(b), in); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				out, err := cl.Invoke(ctxT(b), in)
				if err != nil || out.FunctionError != nil {
					b.Fatalf("invoke: %v %v", err, out)
				}
				if sub.name == "through-proxy" && !bytes.Contains(out.Payload, []byte(`"200 pong"`)) {
					b.Fatalf("fetch through the proxy: %s", out.Payload)
				}
				lat = append(lat, time.Since(start))
			}
			reportPercentiles(b, lat)
		})
	}
}

func writeTempB(b *testing.B, content string) string {
	p := filepath.Join(b.TempDir(), "policy.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}

// channelFn is a python function that makes one platform-channel call per
// invocation, chosen by the event, so BenchmarkChannel can price each
// kind against an invocation that makes none.
const channelFn = `import json, os, urllib.error, urllib.request
API = "http://" + os.environ["EMBER_SERVICES_API"] + "/2026-01-01"
def call(path, method="GET", data=None):
    with urllib.request.urlopen(urllib.request.Request(API + path, method=method, data=data)) as r:
        return r.read()
def main(event, context):
    op = event.get("op")
    if op == "secret":
        call("/secrets/token")
    elif op == "kv":
        try:
            call("/kv/k")
        except urllib.error.HTTPError:
            call("/kv/k", "PUT", b"v")
    elif op == "portion":
        call("/portions/helper/invocations", "POST", b"{}")
    return {"op": op}
def helper(event, context):
    return {"ok": True}
`

// BenchmarkChannel: warm invocations of a python function that makes no
// channel call ("plain") or one secret get, kv get or portion call; the
// difference to "plain" is the round trip through the platform channel.
func BenchmarkChannel(b *testing.B) {
	if testing.Short() {
		b.Skip("short")
	}
	c := newAccount(b, shared, "bench-channel")
	cl := lambdaClient(shared, c)
	if _, err := cl.CreateFunction(ctxT(b), &lambda.CreateFunctionInput{
		FunctionName: aws.String("chan"), Runtime: types.RuntimePython312, Role: aws.String(testRole),
		Handler: aws.String("app.main"), Code: &types.FunctionCode{ZipFile: makeZip(b, zipEntry{name: "app.py", body: channelFn})},
	}); err != nil {
		b.Fatal(err)
	}
	env := []string{"EMBER_ENDPOINT=" + shared.endpoint}
	doc := `{"services":{"secrets":["token"],"kv":true,"portions":["helper"]},"portions":{"helper":{"handler":"app.helper","trust":1}}}`
	if _, errOut, code := emberCLI(b, c, env, "policy", "put", "chan", "--file", writeTempB(b, doc)); code != 0 {
		b.Fatalf("policy put: %s", errOut)
	}
	if _, errOut, code := emberCLI(b, c, env, "secret", "put", "chan", "token", "--value", "s3cret"); code != 0 {
		b.Fatalf("secret put: %s", errOut)
	}
	for _, op := range []string{"plain", "secret", "kv", "portion"} {
		b.Run(op, func(b *testing.B) {
			in := &lambda.InvokeInput{FunctionName: aws.String("chan"), Payload: []byte(`{"op":"` + op + `"}`)}
			emberInvokeOnce(b, cl, in) // warm it (and the portion's sandbox)
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				emberInvokeOnce(b, cl, in)
				lat = append(lat, time.Since(start))
			}
			reportPercentiles(b, lat)
		})
	}
}

func emberInvokeOnce(b *testing.B, cl *lambda.Client, in *lambda.InvokeInput) {
	out, err := cl.Invoke(ctxT(b), in)
	if err != nil || out.FunctionError != nil {
		msg := ""
		if out != nil {
			msg = string(out.Payload)
		}
		b.Fatalf("invoke: %v %s", err, msg)
	}
}

// BenchmarkCrossAlias: the added cost of calling another account's
// function through a cross-account alias (grant check, parameter merge,
// the alias's own sandbox) against the owner invoking it directly, both
// warm, through aws-sdk-go-v2:
//
//	go test -run '^$' -bench CrossAlias -benchtime 1000x ./test/e2e/
func BenchmarkCrossAlias(b *testing.B) {
	owner := benchSetup(b, "xalias-target")
	consumer := newAccount(b, shared, "bench-xalias-consumer")
	ownerCreds := benchCreds["xalias-target"]
	if _, err := owner.AddPermission(ctxT(b), &lambda.AddPermissionInput{
		FunctionName: aws.String("xalias-target"), StatementId: aws.String("consumer"),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String(consumer.AccountId),
	}); err != nil {
		b.Fatal(err)
	}
	target := "arn:aws:lambda:" + testRegion + ":" + ownerCreds.AccountId + ":function:xalias-target"
	body := `{"Target":"` + target + `","Parameters":{"mode":"echo"},"Environment":{"TOKEN":"t"}}`
	if r := signedRequest(b, shared, consumer, "PUT", "/ember/cross-account-aliases/mine", []byte(body), testRegion, time.Time{}); r.status != 200 {
		b.Fatalf("create alias: %v", r)
	}
	for _, sub := range []struct {
		name string
		cl   *lambda.Client
		fn   string
	}{{"direct", owner, "xalias-target"}, {"cross-alias", lambdaClient(shared, consumer), "mine"}} {
		b.Run(sub.name, func(b *testing.B) {
			in := &lambda.InvokeInput{FunctionName: aws.String(sub.fn), Payload: []byte(`{"value":"bench"}`)}
			measure(b, func(b *testing.B) { emberInvokeOnce(b, sub.cl, in) })
		})
	}
}

// BenchmarkHTTPRoutes: httpfn (an API Gateway v2 handler) called with
// plain net/http through a function URL (AuthType NONE) and through a
// published API route with a subscriber's x-api-key, beside a direct
// aws-sdk-go-v2 Invoke of the same function with a format 2.0 event and a
// bare Go HTTP echo, all warm and in the same run:
//
//	go test -run '^$' -bench 'HTTPRoutes|CrossAlias' -benchtime 300x ./test/e2e/
func BenchmarkHTTPRoutes(b *testing.B) {
	const name = "httproutes"
	cl := benchFunction(b, name, httpfnZip)
	owner := benchCreds[name]
	subscriber := newAccount(b, shared, "bench-httproutes-subscriber")

	created, err := cl.CreateFunctionUrlConfig(ctxT(b), &lambda.CreateFunctionUrlConfigInput{
		FunctionName: aws.String(name), AuthType: types.FunctionUrlAuthTypeNone,
	})
	if err != nil {
		b.Fatal(err)
	}
	fnURL := aws.ToString(created.FunctionUrl) + "items"

	api, _ := signedJSON(b, owner, "POST", "/ember/apis", `{"Name":"bench"}`, 201)["ApiId"].(string)
	signedJSON(b, owner, "PUT", "/ember/apis/"+api+"/routes", `{"RouteKey":"POST /items","Target":"`+name+`"}`, 200)
	signedJSON(b, owner, "PUT", "/ember/apis/"+api+"/visibility", `{"Visibility":"accounts","Accounts":["`+subscriber.AccountId+`"]}`, 200)
	signedJSON(b, owner, "POST", "/ember/apis/"+api+"/stages/prod", `{}`, 201)
	key, _ := signedJSON(b, subscriber, "POST", "/ember/apis/"+api+"/subscription", "", 201)["Key"].(string)
	apiURL := shared.endpoint + "/apis/" + api + "/prod/items"
	withKey := http.Header{"X-Api-Key": {key}}

	echoURL := echoServer(b) + "/items"
	payload := []byte(`{"item":"bench"}`)
	event := []byte(`{"version":"2.0","rawPath":"/items","body":"{\"item\":\"bench\"}","requestContext":{"http":{"method":"POST"}}}`)
	fromHttpfn := func(b *testing.B, h http.Header) {
		if h.Get("X-Httpfn") != "1" {
			b.Fatalf("not httpfn's answer: %v", h)
		}
	}
	for _, sub := range []struct {
		name string
		call func(b *testing.B)
	}{
		{"bare-echo", func(b *testing.B) { post(b, echoURL, nil, payload) }},
		{"invoke", func(b *testing.B) {
			out, err := cl.Invoke(ctxT(b), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: event})
			if err != nil || out.FunctionError != nil || !bytes.Contains(out.Payload, []byte(`"statusCode":200`)) {
				b.Fatalf("invoke: %v %v", err, out)
			}
		}},
		{"function-url", func(b *testing.B) { fromHttpfn(b, post(b, fnURL, nil, payload)) }},
		{"api-route", func(b *testing.B) { fromHttpfn(b, post(b, apiURL, withKey, payload)) }},
	} {
		b.Run(sub.name, func(b *testing.B) { measure(b, sub.call) })
	}
}

// measure makes one call to warm up, then b.N timed ones, and reports
// their latency percentiles.
func measure(b *testing.B, call func(b *testing.B)) {
	call(b)
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		call(b)
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}

// post sends body to url with plain net/http, requires a 200 and returns
// the response's header.
func post(b *testing.B, url string, header http.Header, body []byte) http.Header {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("POST %s: HTTP %d", url, resp.StatusCode)
	}
	return resp.Header
}

// signedJSON sends a SigV4-signed control request as c, requires status
// want and decodes the JSON object it answers.
func signedJSON(b *testing.B, c creds, method, path, body string, want int) map[string]any {
	var data []byte
	if body != "" {
		data = []byte(body)
	}
	r := signedRequest(b, shared, c, method, path, data, testRegion, time.Time{})
	var m map[string]any
	if r.status != want || json.Unmarshal(r.body, &m) != nil {
		b.Fatalf("%s %s: %v, want %d and a JSON object", method, path, r, want)
	}
	return m
}
