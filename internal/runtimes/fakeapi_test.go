package runtimes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/testenv"
)

// maxResponse is the Runtime API's response limit (6 MB).
const maxResponse = 6 * 1024 * 1024

// fakeAPI is a Runtime API for one runtime process: invocations are queued
// by the test, handed out on invocation/next, and their outcome recorded.
type fakeAPI struct {
	srv     *httptest.Server
	queue   chan *call
	initErr chan result

	mu      sync.Mutex
	seq     int
	pending map[string]*call
}

type call struct {
	id      string
	event   []byte
	headers map[string]string
	done    chan result
	too413  int // responses refused as too large
}

// result is what the runtime posted for an invocation (or for init).
type result struct {
	kind      string // "response", "error" or "init"
	errorType string // the Lambda-Runtime-Function-Error-Type header
	body      []byte
	too413    int // responses refused as too large before this result
}

func newFakeAPI(t testing.TB) *fakeAPI {
	f := &fakeAPI{
		queue:   make(chan *call),
		initErr: make(chan result, 1),
		pending: map[string]*call{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", f.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", f.post("response"))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", f.post("error"))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.initErr <- result{kind: "init", errorType: r.Header.Get("Lambda-Runtime-Function-Error-Type"), body: body}
		w.WriteHeader(http.StatusAccepted)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeAPI) next(w http.ResponseWriter, r *http.Request) {
	var c *call
	select {
	case c = <-f.queue:
	case <-r.Context().Done():
		return
	}
	f.mu.Lock()
	f.pending[c.id] = c
	f.mu.Unlock()
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", c.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:local:111111111111:function:fn")
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
	for k, v := range c.headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	w.Write(c.event)
}

func (f *fakeAPI) post(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		c := f.pending[r.PathValue("id")]
		f.mu.Unlock()
		if c == nil {
			http.Error(w, `{"errorMessage":"unknown request id"}`, http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxResponse+1))
		if err != nil {
			return
		}
		if len(body) > maxResponse {
			io.Copy(io.Discard, r.Body)
			f.mu.Lock()
			c.too413++
			f.mu.Unlock()
			http.Error(w, `{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}`, http.StatusRequestEntityTooLarge)
			return
		}
		f.mu.Lock()
		delete(f.pending, c.id)
		too413 := c.too413
		f.mu.Unlock()
		c.done <- result{kind: kind, errorType: r.Header.Get("Lambda-Runtime-Function-Error-Type"), body: body, too413: too413}
		w.WriteHeader(http.StatusAccepted)
	}
}

// proc is one runtime client process talking to a fakeAPI.
type proc struct {
	api    *fakeAPI
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	exited chan struct{}
	err    error // from Wait; valid after exited is closed
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// installed returns a directory holding Files, as the host's runtime dir.
func installed(t testing.TB) string {
	dir := filepath.Join(t.TempDir(), "runtime")
	if err := Install(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// requireInterpreter skips (fails in CI) when the runtime's interpreter is
// not on this host.
func requireInterpreter(t testing.TB, runtime string) {
	t.Helper()
	argv, err := Command(runtime, "x.y")
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(argv[0])
	testenv.Require(t, err == nil, "needs "+argv[0]+" for "+runtime)
}

// start runs runtime's client from rtDir with the function code at root,
// as a sandbox would but with host paths in place of /opt/ember and /var/task.
func start(t testing.TB, runtime, rtDir, root, handler string) *proc {
	t.Helper()
	requireInterpreter(t, runtime)
	argv, err := Command(runtime, handler)
	if err != nil {
		t.Fatal(err)
	}
	if root, err = filepath.Abs(root); err != nil {
		t.Fatal(err)
	}
	subst := func(s string) string {
		s = strings.ReplaceAll(s, MountDir, rtDir)
		return strings.ReplaceAll(s, TaskRoot, root)
	}
	for i := range argv {
		argv[i] = subst(argv[i])
	}
	env := []string{}
	for _, kv := range Env(runtime) {
		env = append(env, subst(kv))
	}
	p := &proc{api: newFakeAPI(t), exited: make(chan struct{})}
	env = append(env,
		"AWS_LAMBDA_RUNTIME_API="+p.api.addr(),
		"_HANDLER="+handler,
		"LAMBDA_TASK_ROOT="+root,
		"AWS_LAMBDA_FUNCTION_NAME=fn",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/fn",
		"AWS_LAMBDA_LOG_STREAM_NAME=2024/01/02/[$LATEST]abc",
		"AWS_REGION=local",
	)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = env
	p.cmd.Dir = t.TempDir()
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	// Registered after the server's Close, so it runs first: the process
	// goes before the API it is blocked on.
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

const waitLimit = 20 * time.Second

// invoke queues one invocation and returns what the runtime posted for it.
func (p *proc) invoke(t testing.TB, event string, headers ...string) result {
	t.Helper()
	p.api.mu.Lock()
	p.api.seq++
	c := &call{
		id:      fmt.Sprintf("req-%04d-0000-4000-8000-000000000000", p.api.seq),
		event:   []byte(event),
		headers: map[string]string{},
		done:    make(chan result, 1),
	}
	p.api.mu.Unlock()
	for i := 0; i+1 < len(headers); i += 2 {
		c.headers[headers[i]] = headers[i+1]
	}
	select {
	case p.api.queue <- c:
	case r := <-p.api.initErr:
		t.Fatalf("init failed: %s %s", r.errorType, r.body)
	case <-p.exited:
		t.Fatalf("runtime exited before taking the invocation: %v", p.err)
	case <-time.After(waitLimit):
		t.Fatal("runtime never asked for the next invocation")
	}
	select {
	case r := <-c.done:
		return r
	case <-p.exited:
		t.Fatalf("runtime exited during the invocation: %v", p.err)
	case <-time.After(waitLimit):
		t.Fatal("no result for the invocation")
	}
	return result{}
}

// lastID is the request id of the latest invocation.
func (p *proc) lastID() string {
	p.api.mu.Lock()
	defer p.api.mu.Unlock()
	return fmt.Sprintf("req-%04d-0000-4000-8000-000000000000", p.api.seq)
}

// initError waits for the runtime to report an init error and exit non-zero.
func (p *proc) initError(t testing.TB) result {
	t.Helper()
	var r result
	select {
	case r = <-p.api.initErr:
	case <-p.exited:
		t.Fatalf("runtime exited (%v) without reporting an init error", p.err)
	case <-time.After(waitLimit):
		t.Fatal("no init error")
	}
	if code := p.wait(t); code == 0 {
		t.Errorf("runtime exited 0 after an init error")
	}
	return r
}

// wait waits for the process to end and returns its exit code.
func (p *proc) wait(t testing.TB) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(waitLimit):
		t.Fatal("runtime did not exit")
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// terminate sends SIGTERM while the runtime waits for work and returns the
// exit code.
func (p *proc) terminate(t testing.TB) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return p.wait(t)
}

// deadlineIn is a Lambda-Runtime-Deadline-Ms value ms from now.
func deadlineIn(ms int64) string {
	return strconv.FormatInt(time.Now().UnixMilli()+ms, 10)
}

// waitStdout waits until the runtime's stdout matches re: the process writes
// its log before posting a result, but the copy to the test's buffer is
// asynchronous.
func (p *proc) waitStdout(t testing.TB, re *regexp.Regexp) bool {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if re.MatchString(p.stdout.String()) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
