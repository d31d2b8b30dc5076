package invoke

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/keyring"
	"github.com/ember-run/ember/internal/logs"
	"github.com/ember-run/ember/internal/sandbox"
	"github.com/ember-run/ember/internal/store"
	"github.com/ember-run/ember/internal/testenv"
)

// hostDriver runs runtimes as plain host processes. It isolates nothing:
// it exists only so these tests can exercise the pipeline (pooling,
// deadlines, crashes, log capture) on any machine. The real driver's
// isolation is tested in internal/sandbox/linux and test/e2e.
type hostDriver struct {
	mu      sync.Mutex
	created int
	// bound makes every sandbox report itself stalled at its memory limit.
	bound atomic.Bool
}

func (d *hostDriver) Create(ctx context.Context) (sandbox.Sandbox, error) {
	d.mu.Lock()
	d.created++
	d.mu.Unlock()
	return &hostSandbox{done: make(chan struct{}), bound: &d.bound}, nil
}

func (d *hostDriver) Close() error { return nil }

type hostSandbox struct {
	bound *atomic.Bool
	addr  string
	cmd   *exec.Cmd
	done  chan struct{}
	exit  sandbox.Exit
	once  sync.Once

	out     *os.File // read end of the runtime's output pipe
	copied  chan struct{}
	flushes chan chan struct{}
}

func (s *hostSandbox) MemoryBound() bool { return s.bound.Load() }

// ResetScratch: the host sandbox has no /tmp of its own.
func (s *hostSandbox) ResetScratch() error { return nil }

// Flush drains the output pipe the way the linux driver does: a read
// deadline in the past ends the copier's read at the end of what is there.
func (s *hostSandbox) Flush() {
	if s.out == nil {
		return
	}
	ack := make(chan struct{})
	s.flushes <- ack
	s.out.SetReadDeadline(time.Now())
	select {
	case <-ack:
	case <-s.copied:
	case <-time.After(time.Second):
	}
}

func (s *hostSandbox) copyOut(w io.Writer) {
	defer close(s.copied)
	buf := make([]byte, 4096)
	for {
		n, err := s.out.Read(buf)
		w.Write(buf[:n])
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			select {
			case ack := <-s.flushes:
				close(ack)
			default:
			}
			s.out.SetReadDeadline(time.Time{})
		default:
			return
		}
	}
}

func (s *hostSandbox) ID() string { return "host" }

func (s *hostSandbox) Listen(network, addr string) (net.Listener, error) {
	l, err := net.Listen(network, "127.0.0.1:0")
	if err == nil && addr == runtimeAPIAddr {
		s.addr = l.Addr().String() // the runtime's environment is rewritten to it
	}
	return l, err
}

func (s *hostSandbox) Start(ctx context.Context, spec sandbox.Spec) error {
	fix := func(v string) string {
		v = strings.ReplaceAll(v, "/var/task", spec.CodeDir)
		v = strings.ReplaceAll(v, "/opt/ember", spec.RuntimeDir)
		return strings.ReplaceAll(v, runtimeAPIAddr, s.addr)
	}
	argv := make([]string, len(spec.Argv))
	for i, a := range spec.Argv {
		argv[i] = fix(a)
	}
	env := []string{"PATH=/usr/bin:/bin"}
	for _, e := range spec.Env {
		env = append(env, fix(e))
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	s.out, s.copied, s.flushes = r, make(chan struct{}), make(chan chan struct{}, 1)
	go s.copyOut(spec.Stdout)
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Env, s.cmd.Dir = env, spec.CodeDir
	s.cmd.Stdout, s.cmd.Stderr = w, w
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	w.Close()
	go func() {
		err := s.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			s.exit.Code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				s.exit.Signal = ws.Signal().String()
			}
		}
		close(s.done)
	}()
	return nil
}

func (s *hostSandbox) Done() <-chan struct{} { return s.done }
func (s *hostSandbox) Exit() sandbox.Exit    { return s.exit }
func (s *hostSandbox) Stats() (sandbox.Stats, error) {
	return sandbox.Stats{MemoryPeakBytes: 10 << 20}, nil
}
func (s *hostSandbox) Kill() error {
	if s.cmd != nil && s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
	return nil
}
func (s *hostSandbox) Close() error {
	s.once.Do(func() {
		s.Kill()
		if s.cmd != nil {
			<-s.done
		}
	})
	return nil
}

type fixedUIDs struct{}

func (fixedUIDs) UID(context.Context, string) (int, error) { return os.Getuid(), nil }

const acct = "111111111111"

type env struct {
	svc    *Service
	cat    *catalog.Catalog
	driver *hostDriver
	logs   *logs.Store
}

func newEnv(t *testing.T, opts Options) *env { return newEnvLimits(t, opts, 0) }

// newCatalog opens a store in dir and a catalog on it, both closed when
// the test ends.
func newCatalog(t *testing.T, dir string, accountLimit int) (*store.Store, *catalog.Catalog) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, _ := keyring.New(bytes.Repeat([]byte{4}, 32))
	cat, err := catalog.New(ctx, st, catalog.Options{Region: "local", Sealer: ring, AccountConcurrency: accountLimit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return st, cat
}

func newEnvLimits(t *testing.T, opts Options, accountLimit int) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, cat := newCatalog(t, dir, accountLimit)
	lg, err := logs.Open(ctx, st, logs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &hostDriver{}
	opts.Driver, opts.Catalog, opts.UIDs, opts.Logs, opts.DataDir, opts.Region = d, cat, fixedUIDs{}, lg, dir, "local"
	svc, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return &env{svc: svc, cat: cat, driver: d, logs: lg}
}

// shellRuntime is a provided bootstrap in sh+curl speaking the Runtime API:
// it answers {"n": <invocations served by this process>, "event": <event>}
// and obeys a few commands in the event.
const shellRuntime = `#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
n=0
while true; do
  H=$(mktemp)
  EVENT=$(curl -sS -D "$H" "$API/invocation/next") || exit 1
  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$H" | cut -d: -f2 | tr -d ' \r\n')
  rm -f "$H"
  n=$((n+1))
  case "$EVENT" in
    *sleep*) sleep 5 ;;
    *crash*) echo "crashing now"; exit 4 ;;
  esac
  echo "served $n"
  curl -sS -X POST "$API/invocation/$ID/response" -d "{\"n\":$n,\"event\":$EVENT}" >/dev/null
done
`

func zipOf(t *testing.T, name, body string) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate}
	h.SetMode(0o755)
	f, _ := w.CreateHeader(h)
	f.Write([]byte(body))
	w.Close()
	return buf.Bytes()
}

func (e *env) create(t *testing.T, name string, timeout int) {
	t.Helper()
	testenv.LookPath(t, "curl") // the runtime used here; skips, or fails in CI
	_, _, err := e.cat.Create(context.Background(), acct, catalog.CreateInput{
		Name: name, Zip: zipOf(t, "bootstrap", shellRuntime),
		Config: catalog.Config{Runtime: "provided.al2023", Role: "arn:aws:iam::123456789012:role/r", Timeout: timeout},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) invoke(t *testing.T, name, payload string) (Response, map[string]any) {
	t.Helper()
	resp, err := e.svc.Invoke(context.Background(), Request{Account: acct, Function: name, Payload: []byte(payload), LogTail: true})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	json.Unmarshal(resp.Payload, &out)
	return resp, out
}

func TestWarmReuseAndLogs(t *testing.T) {
	e := newEnv(t, Options{})
	e.create(t, "f", 3)
	r1, out := e.invoke(t, "f", `{"a":1}`)
	if !r1.Cold || out["n"] != float64(1) || r1.ExecutedVersion != "$LATEST" {
		t.Fatalf("first: %+v %v", r1, out)
	}
	log := string(r1.LogTail)
	for _, want := range []string{"START RequestId: " + r1.RequestID, "served 1", "END RequestId: ", "Init Duration: "} {
		if !strings.Contains(log, want) {
			t.Fatalf("log lacks %q:\n%s", want, log)
		}
	}
	// The function's own output lands before END: it was drained in time.
	if strings.Index(log, "served 1") > strings.Index(log, "END RequestId") {
		t.Fatalf("output after END:\n%s", log)
	}
	r2, out := e.invoke(t, "f", `{}`)
	if r2.Cold || out["n"] != float64(2) || strings.Contains(string(r2.LogTail), "Init Duration") {
		t.Fatalf("second not warm: %+v %v", r2, out)
	}
	if e.driver.created != 1 || e.svc.Idle() != 1 {
		t.Fatalf("created %d sandboxes, %d idle", e.driver.created, e.svc.Idle())
	}
	// Logs are stored per function.
	e.logs.Flush(context.Background())
	var stored strings.Builder
	e.logs.Read(context.Background(), acct, "f", time.Time{}, false, func(r logs.Record) error {
		stored.WriteString(r.Text)
		return nil
	})
	if strings.Count(stored.String(), "REPORT RequestId") != 2 {
		t.Fatalf("stored logs:\n%s", stored.String())
	}
}

func TestUpdateNeverServesOldSandbox(t *testing.T) {
	e := newEnv(t, Options{})
	e.create(t, "f", 3)
	e.invoke(t, "f", `{}`)
	desc := "changed"
	if _, err := e.cat.UpdateConfig(context.Background(), acct, "f", catalog.ConfigPatch{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	r, out := e.invoke(t, "f", `{}`)
	if !r.Cold || out["n"] != float64(1) {
		t.Fatalf("served by the old sandbox: %+v %v", r, out)
	}
}

func TestTimeoutAndCrashAreFunctionErrors(t *testing.T) {
	e := newEnv(t, Options{})
	e.create(t, "f", 1)
	r, out := e.invoke(t, "f", `{"cmd":"sleep"}`)
	if r.FunctionError != "Unhandled" || out["errorType"] != "Sandbox.Timedout" ||
		!strings.HasSuffix(out["errorMessage"].(string), "Task timed out after 1.00 seconds") {
		t.Fatalf("timeout: %+v %v", r, out)
	}
	if !strings.Contains(string(r.LogTail), "Status: timeout") {
		t.Fatalf("timeout log:\n%s", r.LogTail)
	}
	r, out = e.invoke(t, "f", `{"cmd":"crash"}`)
	if out["errorType"] != "Runtime.ExitError" || !strings.Contains(out["errorMessage"].(string), "exit status 4") ||
		!strings.Contains(string(r.LogTail), "crashing now") {
		t.Fatalf("crash: %+v %v\n%s", r, out, r.LogTail)
	}
	r, out = e.invoke(t, "f", `{}`)
	if r.FunctionError != "" || !r.Cold || out["n"] != float64(1) {
		t.Fatalf("after failures: %+v %v", r, out)
	}
	if e.svc.Idle() != 1 {
		t.Fatalf("broken sandboxes pooled: %d idle", e.svc.Idle())
	}
}

// A sandbox stalled at its memory limit is stopped and reported as out of
// memory long before its timeout, and the next call gets a new sandbox.
func TestMemoryStallIsOutOfMemory(t *testing.T) {
	e := newEnv(t, Options{})
	e.create(t, "f", 30)
	e.driver.bound.Store(true)
	start := time.Now()
	r, out := e.invoke(t, "f", `{"cmd":"sleep"}`)
	if r.FunctionError != "Unhandled" || out["errorType"] != "Runtime.OutOfMemory" {
		t.Fatalf("stall: %+v %v", r, out)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("a memory stall ran for %v: the watch did not stop it", took)
	}
	if !strings.Contains(string(r.LogTail), "Error Type: Runtime.OutOfMemory") {
		t.Fatalf("log:\n%s", r.LogTail)
	}
	e.driver.bound.Store(false)
	r, out = e.invoke(t, "f", `{}`)
	if r.FunctionError != "" || !r.Cold || out["n"] != float64(1) {
		t.Fatalf("after the stall: %+v %v", r, out)
	}
}

func TestThrottleEvictAndReclaim(t *testing.T) {
	e := newEnv(t, Options{MaxSandboxes: 1, IdleTTL: 300 * time.Millisecond})
	e.create(t, "a", 3)
	e.create(t, "b", 3)
	e.invoke(t, "a", `{}`)
	// b evicts a's idle sandbox instead of failing.
	if r, _ := e.invoke(t, "b", `{}`); !r.Cold {
		t.Fatal("b should cold start")
	}
	if e.svc.Idle() != 1 {
		t.Fatalf("idle %d", e.svc.Idle())
	}
	// With the only sandbox busy, another function is throttled.
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.svc.Invoke(context.Background(), Request{Account: acct, Function: "b", Payload: []byte(`{"cmd":"sleep"}`)})
	}()
	time.Sleep(300 * time.Millisecond)
	_, err := e.svc.Invoke(context.Background(), Request{Account: acct, Function: "a", Payload: []byte(`{}`)})
	if !errors.Is(err, ErrThrottled) {
		t.Fatalf("want ErrThrottled, got %v", err)
	}
	<-done
	// Idle sandboxes are reclaimed after the TTL.
	e.invoke(t, "a", `{}`)
	deadline := time.Now().Add(5 * time.Second)
	for e.svc.Idle() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle sandbox not reclaimed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBadPayloadAndMissingFunction(t *testing.T) {
	e := newEnv(t, Options{})
	e.create(t, "f", 3)
	if _, err := e.svc.Invoke(context.Background(), Request{Account: acct, Function: "f", Payload: []byte("{nope")}); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("bad payload: %v", err)
	}
	if _, err := e.svc.Invoke(context.Background(), Request{Account: acct, Function: "nope"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	big := make([]byte, MaxPayload+1)
	if _, err := e.svc.Invoke(context.Background(), Request{Account: acct, Function: "f", Payload: big}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("big: %v", err)
	}
}

func TestWarmingPoolServesColdStarts(t *testing.T) {
	e := newEnv(t, Options{WarmPool: 1})
	e.create(t, "a", 3)
	e.create(t, "b", 3)
	deadline := time.Now().Add(5 * time.Second)
	for len(e.svc.stems) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("warming pool never filled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r, _ := e.invoke(t, "a", `{}`)
	if !r.Cold || !strings.Contains(string(r.LogTail), "Start: warming pool") {
		t.Fatalf("cold start did not use the pool:\n%s", r.LogTail)
	}
	// The pool refills in the background for the next cold start.
	deadline = time.Now().Add(5 * time.Second)
	for len(e.svc.stems) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("warming pool not refilled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r, _ = e.invoke(t, "b", `{}`)
	if !strings.Contains(string(r.LogTail), "Start: warming pool") {
		t.Fatalf("second cold start:\n%s", r.LogTail)
	}
}

func TestConcurrencyLimits(t *testing.T) {
	e := newEnvLimits(t, Options{}, 2)
	e.create(t, "r", 3)
	e.create(t, "a", 3)
	e.create(t, "b", 3)
	ctx := context.Background()
	zero := 0
	if _, err := e.cat.PutConcurrency(ctx, acct, "r", &zero); err == nil {
		// With an account limit of 2 and a minimum of 1 unreserved, 0 is allowed.
	} else {
		t.Fatal(err)
	}
	_, err := e.svc.Invoke(ctx, Request{Account: acct, Function: "r"})
	var te *ThrottleError
	if !errors.As(err, &te) || te.Reason != ReasonReservedLimit {
		t.Fatalf("reserved 0 must throttle: %v", err)
	}
	// Unreserved functions share the account limit (2): a third concurrent
	// invocation is refused while two sleep.
	var wg sync.WaitGroup
	for _, fn := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.svc.Invoke(ctx, Request{Account: acct, Function: fn, Payload: []byte(`{"cmd":"sleep"}`)})
		}()
	}
	time.Sleep(500 * time.Millisecond)
	_, err = e.svc.Invoke(ctx, Request{Account: acct, Function: "a"})
	if !errors.As(err, &te) || te.Reason != ReasonAccountLimit {
		t.Fatalf("third concurrent invocation: %v", err)
	}
	wg.Wait()
	if _, out := e.invoke(t, "a", `{}`); out["n"] == nil {
		t.Fatalf("after the others finished: %v", out)
	}
}

func TestMetricsCountStartPaths(t *testing.T) {
	e := newEnv(t, Options{})
	e.create(t, "f", 3)
	e.invoke(t, "f", `{}`)
	e.invoke(t, "f", `{}`)
	e.invoke(t, "f", `{}`)
	var b strings.Builder
	e.svc.WriteMetrics(&b)
	for _, want := range []string{
		`ember_invocations_total{start="warm"} 2`,
		`ember_invocations_total{start="new_sandbox"} 1`,
		`ember_sandboxes{state="idle"} 1`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

func TestProvisionedConcurrency(t *testing.T) {
	e := newEnv(t, Options{IdleTTL: 200 * time.Millisecond})
	e.create(t, "f", 3)
	ctx := context.Background()
	if _, err := e.cat.Publish(ctx, acct, "f", catalog.PublishInput{}); err != nil {
		t.Fatal(err)
	}
	e.svc.Provision(acct, "f", "1", 2)
	waitUntil(t, "2 provisioned sandboxes", func() bool { return e.svc.ProvisionedReady(ctx, acct, "f", "1") == 2 })
	// Idle TTL does not reclaim them.
	time.Sleep(600 * time.Millisecond)
	if n := e.svc.ProvisionedReady(ctx, acct, "f", "1"); n != 2 {
		t.Fatalf("provisioned sandboxes reclaimed: %d left", n)
	}
	resp, err := e.svc.Invoke(ctx, Request{Account: acct, Function: "f", Qualifier: "1", LogTail: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Cold || strings.Contains(string(resp.LogTail), "Init Duration") {
		t.Fatalf("a provisioned invocation must be warm:\n%s", resp.LogTail)
	}
	// Lowering the target gives the surplus back; it then expires.
	e.svc.Provision(acct, "f", "1", 0)
	waitUntil(t, "no provisioned sandboxes", func() bool { return e.svc.ProvisionedReady(ctx, acct, "f", "1") == 0 })
	waitUntil(t, "idle reclaim of the former provisioned sandboxes", func() bool { return e.svc.Idle() == 0 })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
