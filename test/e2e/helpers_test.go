// Package e2e drives a real ember server process with real clients: aws-sdk-go-v2,
// the AWS CLI (Debian's awscli) and raw SigV4-signed HTTP. It builds cmd/ember once per
// test binary run, starts one shared server in TestMain for tests that use their own
// accounts, and starts private servers for tests that must stop and restart one.
package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ember-run/ember/internal/testenv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

const (
	testRole   = "arn:aws:iam::123456789012:role/lambda-role"
	testRegion = "local"
	// lastModifiedLayout is how Lambda formats LastModified.
	lastModifiedLayout = "2006-01-02T15:04:05.000-0700"
)

var (
	// emberBin is the binary built once in TestMain.
	emberBin string
	// shared is the server started in TestMain for tests that need no server of their own.
	shared *server

	accountIDRe = regexp.MustCompile(`^[0-9]{12}$`)
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "ember-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	emberBin = filepath.Join(tmp, "ember")
	build := exec.Command("go", "build", "-o", emberBin, "./cmd/ember")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/ember failed: %v\n%s", err, out)
		return 1
	}

	dataDir := filepath.Join(tmp, "shared-data")
	shared, err = launch(dataDir, filepath.Join(tmp, "shared-server.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting shared server:", err)
		if shared != nil {
			fmt.Fprintf(os.Stderr, "---- server log ----\n%s\n", shared.logTail(64<<10))
		}
		return 1
	}
	code := m.Run()
	stopErr := shared.terminate()
	if stopErr != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping shared server:", stopErr)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "---- shared server log (tail) ----\n%s\n---- end of server log ----\n", shared.logTail(256<<10))
	}
	return code
}

// creds is an account's access key as printed by `ember account create` / `key create`
// and stored in admin-credentials.json.
type creds struct {
	Name            string `json:"Name,omitempty"`
	AccountId       string `json:"AccountId"`
	AccessKeyId     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// server is one running `ember server` process.
type server struct {
	dir      string
	logPath  string
	flags    []string // added to every start
	addr     string
	endpoint string
	admin    creds

	mu     sync.Mutex
	cmd    *exec.Cmd
	logf   *os.File
	exited chan struct{}
	err    error // result of Wait, valid once exited is closed
}

// pid is the server process's id (0 when it is not running).
func (s *server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// startServer starts a private server in a fresh data directory, with
// flags added to `ember server`; it is stopped (and its log printed if the
// test failed) when the test ends.
func startServer(t testing.TB, flags ...string) *server {
	t.Helper()
	dir := t.TempDir()
	s, err := launch(filepath.Join(dir, "data"), filepath.Join(dir, "server.log"), flags...)
	if s != nil {
		t.Cleanup(func() {
			s.terminate()
			if t.Failed() {
				t.Logf("---- server log (tail) ----\n%s\n---- end of server log ----", s.logTail(128<<10))
			}
		})
	}
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	return s
}

// launch starts ember on a free port with dataDir and waits for /health and for the
// admin credentials file.
func launch(dataDir, logPath string, flags ...string) (*server, error) {
	s := &server{dir: dataDir, logPath: logPath, flags: flags}
	if err := s.start(); err != nil {
		return s, err
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "admin-credentials.json"))
	if err != nil {
		return s, fmt.Errorf("admin credentials: %w", err)
	}
	if err := json.Unmarshal(b, &s.admin); err != nil {
		return s, fmt.Errorf("admin-credentials.json is not JSON: %v: %q", err, b)
	}
	if !accountIDRe.MatchString(s.admin.AccountId) || s.admin.AccessKeyId == "" || s.admin.SecretAccessKey == "" {
		return s, fmt.Errorf("admin-credentials.json has bad fields: %q", b)
	}
	return s, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *server) start() error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "==== e2e: starting ember server --data %s --listen %s at %s ====\n", s.dir, addr, time.Now().Format(time.RFC3339Nano))
	args := []string{"server", "--data", s.dir, "--listen", addr, "--region", testRegion}
	// EMBER_E2E_SERVER_ARGS adds flags, e.g. "--debug-listen 127.0.0.1:6061"
	// to profile the server while a benchmark runs.
	args = append(args, s.flags...)
	args = append(args, strings.Fields(os.Getenv("EMBER_E2E_SERVER_ARGS"))...)
	cmd := exec.Command(emberBin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = cleanEnv()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	s.mu.Lock()
	s.addr = addr
	s.endpoint = "http://" + addr
	s.cmd = cmd
	s.logf = logf
	s.exited = make(chan struct{})
	exited := s.exited
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(exited)
	}()

	deadline := time.Now().Add(30 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-exited:
			return fmt.Errorf("server exited before becoming ready: %v", s.waitErr())
		default:
		}
		resp, err := hc.Get(s.endpoint + "/health")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("server not ready on %s/health within 30s (last error %v)", s.endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) waitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// terminate sends SIGTERM and waits up to 10s; it reports a non-zero exit or a hang.
// It is idempotent.
func (s *server) terminate() error {
	s.mu.Lock()
	cmd, exited, logf := s.cmd, s.exited, s.logf
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	defer logf.Close()
	select {
	case <-exited:
		return fmt.Errorf("server had already exited: %v", s.waitErr())
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-exited:
		if err := s.waitErr(); err != nil {
			return fmt.Errorf("server exited with %v after SIGTERM, want exit status 0", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
		return errors.New("server did not exit within 10s of SIGTERM")
	}
}

// stop stops the server with SIGTERM and fails the test unless it exits 0 within 10s.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.terminate(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// restart stops the server and starts it again on the same data directory (on a new port).
func (s *server) restart(t *testing.T) {
	t.Helper()
	s.stop(t)
	if err := s.start(); err != nil {
		t.Fatalf("restart: %v", err)
	}
}

func (s *server) logTail(n int64) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read server log: %v)", err)
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

// cleanEnv is the test process's environment without AWS_* and EMBER_* variables, so
// nothing from the host leaks into the clients.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "EMBER_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// emberCLI runs the ember binary's client subcommands authenticated with c.
func emberCLI(t testing.TB, c creds, extraEnv []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, emberBin, args...)
	cmd.Env = append(cleanEnv(),
		"AWS_ACCESS_KEY_ID="+c.AccessKeyId,
		"AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = exitCode(t, err)
	return o.String(), e.String(), code
}

func exitCode(t testing.TB, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	t.Fatalf("running command: %v", err)
	return -1
}

// newAccount creates an account through `ember account create` as the server's admin.
func newAccount(t testing.TB, s *server, name string) creds {
	t.Helper()
	out, errOut, code := emberCLI(t, s.admin, nil, "account", "create", name, "--endpoint", s.endpoint)
	if code != 0 {
		t.Fatalf("ember account create %s: exit %d\nstdout: %s\nstderr: %s", name, code, out, errOut)
	}
	var c creds
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("ember account create %s: stdout is not JSON: %v\n%s", name, err, out)
	}
	if c.Name != name || !accountIDRe.MatchString(c.AccountId) || c.AccessKeyId == "" || c.SecretAccessKey == "" {
		t.Fatalf("ember account create %s: bad output %s", name, out)
	}
	return c
}

// lambdaClient is an aws-sdk-go-v2 Lambda client for the shared-server endpoint of s,
// region "local", without retries.
func lambdaClient(s *server, c creds) *lambda.Client {
	return lambdaClientRegion(s, c, testRegion)
}

func lambdaClientRegion(s *server, c creds, region string) *lambda.Client {
	s.mu.Lock()
	ep := s.endpoint
	s.mu.Unlock()
	return lambda.New(lambda.Options{
		Region:       region,
		BaseEndpoint: aws.String(ep),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey, Source: "e2e"}, nil
		}),
		Retryer:    aws.NopRetryer{},
		HTTPClient: &http.Client{Timeout: 60 * time.Second},
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// ---- AWS CLI ----

var (
	awsOnce   sync.Once
	awsPath   string
	awsIsV2   bool
	awsSkipMs string
)

func findAWS() {
	for _, p := range []string{"/usr/bin/aws"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			awsPath = p
			break
		}
	}
	if awsPath == "" {
		if p, err := exec.LookPath("aws"); err == nil {
			awsPath = p
		}
	}
	if awsPath == "" {
		awsSkipMs = "SKIP-AWSCLI: no AWS CLI at /usr/bin/aws or on PATH (install Debian's awscli)"
		return
	}
	out, err := exec.Command(awsPath, "--version").CombinedOutput()
	if err != nil {
		awsSkipMs = fmt.Sprintf("SKIP-AWSCLI: %s --version failed: %v: %s", awsPath, err, out)
		awsPath = ""
		return
	}
	awsIsV2 = strings.HasPrefix(strings.TrimSpace(string(out)), "aws-cli/2")
}

// requireAWSCLI skips the test, visibly, when no AWS CLI is installed.
func requireAWSCLI(t *testing.T) {
	t.Helper()
	awsOnce.Do(findAWS)
	if awsPath == "" {
		t.Log(awsSkipMs)
		fmt.Fprintln(os.Stderr, awsSkipMs, "("+t.Name()+")")
		testenv.Require(t, false, awsSkipMs)
	}
}

// awsCLI runs `aws ARGS --endpoint-url EP --output json --no-cli-pager` as c.
func awsCLI(t *testing.T, s *server, c creds, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	requireAWSCLI(t)
	s.mu.Lock()
	ep := s.endpoint
	s.mu.Unlock()
	full := append([]string{}, args...)
	full = append(full, "--endpoint-url", ep, "--output", "json")
	if awsIsV2 {
		full = append(full, "--no-cli-pager")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, awsPath, full...)
	cmd.Env = append(cleanEnv(),
		"AWS_ACCESS_KEY_ID="+c.AccessKeyId,
		"AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
		"AWS_DEFAULT_REGION="+testRegion,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
	)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return o.String(), e.String(), exitCode(t, err)
}

// awsJSON runs the CLI, requires exit 0 and decodes stdout into a generic map.
func awsJSON(t *testing.T, s *server, c creds, args ...string) map[string]any {
	t.Helper()
	out, errOut, code := awsCLI(t, s, c, args...)
	if code != 0 {
		t.Fatalf("aws %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	if strings.TrimSpace(out) == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("aws %s: stdout is not a JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

// ---- zips ----

type zipEntry struct {
	name string
	body string
	mode os.FileMode
}

func makeZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		h.Modified = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pyZip is a small python3.12 bundle; tag makes its bytes (and CodeSha256) unique.
func pyZip(t testing.TB, tag string) []byte {
	return makeZip(t,
		zipEntry{name: "handler.py", body: "def main(event, context):\n    return {\"tag\": " + fmt.Sprintf("%q", tag) + "}\n"},
	)
}

// bootstrapZip is a small provided.al2023 bundle with an executable bootstrap.
func bootstrapZip(t testing.TB, tag string) []byte {
	return makeZip(t,
		zipEntry{name: "bootstrap", mode: 0o755, body: "#!/bin/sh\n# " + tag + "\nexit 0\n"},
		zipEntry{name: "lib/data.txt", body: tag},
	)
}

func sha256b64(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---- assertions ----

// apiErr returns the error code and HTTP status of an SDK error.
func apiErr(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// wantErr fails unless err is an API error with the given code and (if non-zero) status.
func wantErr(t *testing.T, err error, code string, status int, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want %s (%d)", what, code, status)
		return
	}
	gotCode, gotStatus := apiErr(err)
	if gotCode != code || (status != 0 && gotStatus != status) {
		t.Errorf("%s: got %s (HTTP %d), want %s (HTTP %d)\nerror: %v", what, gotCode, gotStatus, code, status, err)
	}
}

// wantErrOneOf fails unless err is an API error whose code is one of codes.
func wantErrOneOf(t *testing.T, err error, what string, codes ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want one of %v", what, codes)
		return
	}
	gotCode, gotStatus := apiErr(err)
	for _, c := range codes {
		if gotCode == c {
			return
		}
	}
	t.Errorf("%s: got %s (HTTP %d), want one of %v\nerror: %v", what, gotCode, gotStatus, codes, err)
}

// rawResponse is the HTTP response behind an SDK result.
func rawResponse(md middleware.Metadata) *http.Response {
	if r, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok {
		return r.Response
	}
	return nil
}

// wantStatus checks the HTTP status of a successful SDK call and its x-amzn-RequestId.
func wantStatus(t *testing.T, md middleware.Metadata, status int, what string) {
	t.Helper()
	r := rawResponse(md)
	if r == nil {
		t.Errorf("%s: no raw response in metadata", what)
		return
	}
	if r.StatusCode != status {
		t.Errorf("%s: HTTP %d, want %d", what, r.StatusCode, status)
	}
	if r.Header.Get("X-Amzn-Requestid") == "" {
		t.Errorf("%s: response has no x-amzn-RequestId header", what)
	}
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// ---- raw HTTP ----

type rawResult struct {
	status int
	header http.Header
	body   []byte
}

func (r rawResult) String() string {
	return fmt.Sprintf("HTTP %d X-Amzn-ErrorType=%q x-amzn-RequestId=%q body=%s", r.status, r.header.Get("X-Amzn-Errortype"), r.header.Get("X-Amzn-Requestid"), r.body)
}

// signedRequest sends a SigV4-signed request (service lambda) with c; signingTime zero
// means now.
func signedRequest(t testing.TB, s *server, c creds, method, path string, body []byte, region string, signingTime time.Time) rawResult {
	t.Helper()
	if signingTime.IsZero() {
		signingTime = time.Now()
	}
	req, err := http.NewRequest(method, s.endpoint+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "lambda", region, signingTime)
	if err != nil {
		t.Fatal(err)
	}
	return doRaw(t, req)
}

// usage is one row of GET /ember/usage.
type usage struct {
	Invocations int64
	GBSeconds   float64
}

// usageBy is GET /ember/usage?QUERY as c, by row key.
func usageBy(t *testing.T, c creds, query string) map[string]usage {
	t.Helper()
	r := signedRequest(t, shared, c, "GET", "/ember/usage?"+query, nil, testRegion, time.Time{})
	var out struct {
		Usage []struct {
			Key string
			usage
		}
	}
	if r.status != 200 || json.Unmarshal(r.body, &out) != nil {
		t.Fatalf("usage %s: %v", query, r)
	}
	m := map[string]usage{}
	for _, u := range out.Usage {
		m[u.Key] = u.usage
	}
	return m
}

func unsignedRequest(t *testing.T, s *server, method, path string, body []byte) rawResult {
	t.Helper()
	req, err := http.NewRequest(method, s.endpoint+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doRaw(t, req)
}

func doRaw(t testing.TB, req *http.Request) rawResult {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResult{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantJSONError checks the Lambda error shape: X-Amzn-ErrorType header, a JSON body with a
// message, and x-amzn-RequestId.
func wantJSONError(t *testing.T, r rawResult, status int, what string) string {
	t.Helper()
	if status != 0 && r.status != status {
		t.Errorf("%s: status %d, want %d; %v", what, r.status, status, r)
	}
	if r.status < 400 {
		t.Errorf("%s: status %d is not an error; %v", what, r.status, r)
	}
	et := r.header.Get("X-Amzn-Errortype")
	if et == "" {
		t.Errorf("%s: no X-Amzn-ErrorType header; %v", what, r)
	}
	if r.header.Get("X-Amzn-Requestid") == "" {
		t.Errorf("%s: no x-amzn-RequestId header; %v", what, r)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Errorf("%s: body is not a JSON object: %v; %v", what, err, r)
	} else if m["Message"] == nil && m["message"] == nil {
		t.Errorf("%s: JSON error body has no Message/message; %v", what, r)
	}
	if i := strings.IndexByte(et, ':'); i >= 0 {
		et = et[:i]
	}
	return et
}
