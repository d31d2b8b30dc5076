package e2e

// The adversarial suite runs test/e2e/hostile — an aws-lambda-go function
// that attacks its own sandbox — through the real server and holds every
// outcome against docs/SECURITY.md. For every case, a function of another
// account answers correctly while the attack runs, the attacking function
// answers a harmless invocation afterwards, and the server stays healthy.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

var (
	// advBystanderAccount is the account whose echo function answers
	// during every attack.
	advBystanderAccount string

	advOnce sync.Once
	advBin  []byte // the bootstrap
	advZip  []byte
	advErr  error
)

// advFunction builds test/e2e/hostile as a static, stripped `bootstrap` and
// zips it, once per test run.
func advFunction(t testing.TB) []byte {
	t.Helper()
	advOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ember-hostile-")
		if err != nil {
			advErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "bootstrap")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./hostile")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			advErr = fmt.Errorf("build hostile: %v\n%s", err, out)
			return
		}
		body, err := os.ReadFile(bin)
		if err != nil {
			advErr = err
			return
		}
		advBin = body
		advZip = makeZip(t, zipEntry{name: "bootstrap", body: string(body), mode: 0o755})
	})
	if advErr != nil {
		t.Fatal(advErr)
	}
	return advZip
}

// advReport is the hostile function's answer.
type advReport struct {
	Attack string            `json:"attack"`
	UID    int               `json:"uid"`
	Count  int               `json:"count"`
	Steps  map[string]string `json:"steps"`
	N      int64             `json:"n"`
	Text   string            `json:"text"`
}

type advResult struct {
	invokeOut
	rep advReport
}

// errorType is the errorType of a function error ("" if none).
func (r advResult) errorType() string {
	if r.fnErr == "" {
		return ""
	}
	s, _ := r.payload["errorType"].(string)
	return s
}

func (r advResult) String() string {
	return fmt.Sprintf("FunctionError=%q payload=%s", r.fnErr, r.raw)
}

// advAttack is one case's attacking function.
type advAttack struct {
	t  *testing.T
	c  creds
	cl *lambda.Client
	fn string
}

func (a *advAttack) invoke(event string) advResult {
	return a.invokeFn(a.fn, event)
}

func (a *advAttack) invokeFn(fn, event string) advResult {
	a.t.Helper()
	r := advResult{invokeOut: invokeFn(a.t, a.cl, fn, "", event)}
	if r.fnErr == "" {
		if err := json.Unmarshal([]byte(r.raw), &r.rep); err != nil {
			a.t.Fatalf("%s: answer is not a report: %v: %s", fn, err, r.raw)
		}
	}
	return r
}

// noop checks that the function answers a harmless invocation.
func (a *advAttack) noop(fn string) advResult {
	a.t.Helper()
	r := a.invokeFn(fn, `{"attack":"noop"}`)
	if r.fnErr != "" || r.rep.Attack != "noop" || r.rep.UID < 200000 {
		a.t.Fatalf("%s: a harmless invocation failed: %v", fn, r)
	}
	return r
}

// advInvokeAsync invokes fn without a testing.T (from another goroutine).
func advInvokeAsync(cl *lambda.Client, fn, event string) <-chan advResult {
	ch := make(chan advResult, 1)
	go func() {
		out, err := cl.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(event)})
		r := advResult{}
		if err != nil {
			r.fnErr = err.Error()
		} else {
			r.raw, r.fnErr = string(out.Payload), aws.ToString(out.FunctionError)
			json.Unmarshal(out.Payload, &r.rep)
		}
		ch <- r
	}()
	return ch
}

func advCreate(t *testing.T, cl *lambda.Client, name string, zip []byte, timeout, memory, ephemeral int32) {
	t.Helper()
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Runtime: types.RuntimeProvidedal2023, Role: aws.String(testRole),
		Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: zip},
		Timeout: aws.Int32(timeout), MemorySize: aws.Int32(memory),
		EphemeralStorage: &types.EphemeralStorage{Size: aws.Int32(ephemeral)},
	}
	if _, err := cl.CreateFunction(ctxT(t), in); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

// Outcomes, as docs/SECURITY.md describes them.
var (
	// Read-only mounts, Landlock and file modes refuse writes outside /tmp,
	// /dev/shm and the five devices.
	advReadOnly = []string{"EROFS", "EACCES", "EPERM"}
	// The seccomp filter answers EPERM to what it does not allow.
	advSeccomp = []string{"EPERM"}
	// The init (PID 1) runs as root under another uid: /proc/1 is closed.
	advOtherUID = []string{"EACCES", "EPERM"}
)

type advCase struct {
	name       string
	memory     int32 // MB, default 128
	timeout    int32 // s, default 3
	ephemeral  int32 // MB, default 512
	ownAccount bool  // needs an account (and so a uid) of its own
	// Single-invocation cases: the event, the accepted outcome of every
	// step the function reports (all must be listed), the error type of a
	// function error ("" for none), and any further checks.
	event   string
	want    map[string][]string
	wantErr string
	// orErr is another accepted outcome: the runtime died of the attack
	// with this error type (then there is no report to check).
	orErr string
	check func(t *testing.T, r advResult)
	// Multi-step cases replace all of the above.
	run func(t *testing.T, a *advAttack)
}

func TestAdversarial(t *testing.T) {
	requireExecution(t)
	zip := advFunction(t)
	by := newAccount(t, shared, "adv-bystander")
	advBystanderAccount = by.AccountId
	byCl := lambdaClient(shared, by)
	createFn(t, byCl, "echo", "provided.al2023", "bootstrap", goFunction(t), nil, 5, 128)
	if r := invokeFn(t, byCl, "echo", "", `{"value":"warm"}`); r.payload["echo"] != "warm" {
		t.Fatalf("bystander echo: %+v", r)
	}
	attacker := newAccount(t, shared, "adv-attacker")

	start := time.Now()
	t.Run("case", func(t *testing.T) {
		for _, c := range advCases() {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				acct := attacker
				if c.ownAccount {
					acct = newAccount(t, shared, "adv-"+c.name)
				}
				a := &advAttack{t: t, c: acct, cl: lambdaClient(shared, acct), fn: "adv-" + c.name}
				advCreate(t, a.cl, a.fn, zip, advOr(c.timeout, 3), advOr(c.memory, 128), advOr(c.ephemeral, 512))

				stop := advBystander(t, byCl)
				if c.run != nil {
					c.run(t, a)
				} else {
					advSingle(t, a, c)
				}
				stop()
				a.noop(a.fn)
				advHealthy(t)
			})
		}
	})
	t.Logf("adversarial cases took %v", time.Since(start).Round(time.Millisecond))
}

func advOr(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

func advSingle(t *testing.T, a *advAttack, c advCase) {
	r := a.invoke(c.event)
	if got := r.errorType(); c.orErr != "" && got == c.orErr {
		t.Logf("the runtime died of the attack: %v", r)
		return
	}
	if got := r.errorType(); got != c.wantErr {
		t.Fatalf("function error %q, want %q: %v", got, c.wantErr, r)
	}
	if c.want != nil {
		for step, got := range r.rep.Steps {
			want, ok := c.want[step]
			if !ok {
				t.Errorf("unexpected step %q: %s", step, got)
			} else if !slices.Contains(want, got) {
				t.Errorf("%s: %s, want one of %v", step, got, want)
			}
		}
		for step := range c.want {
			if _, ok := r.rep.Steps[step]; !ok {
				t.Errorf("step %q missing from the report: %v", step, r)
			}
		}
	}
	if c.check != nil {
		c.check(t, r)
	}
	if t.Failed() {
		t.Logf("report: %v\nlog:\n%s", r, advCut(r.log))
	}
}

// advBystander invokes the other account's echo function in a loop until
// stop is called (it answers at least once), and fails the test if it ever
// answers wrongly. A case that ends early stops it at cleanup.
func advBystander(t *testing.T, cl *lambda.Client) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	var (
		n       int
		failure string
		slowest time.Duration
	)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			v := fmt.Sprintf("%s-%d", t.Name(), i)
			began := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			out, err := cl.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"value":"` + v + `"}`)})
			cancel()
			slowest = max(slowest, time.Since(began))
			if err != nil {
				failure = fmt.Sprintf("bystander invoke %d: %v", i, err)
				return
			}
			var m map[string]any
			json.Unmarshal(out.Payload, &m)
			if out.FunctionError != nil || m["echo"] != v {
				failure = fmt.Sprintf("bystander invoke %d answered %s (FunctionError %q)", i, out.Payload, aws.ToString(out.FunctionError))
				return
			}
			n++
			select {
			case <-quit:
				return
			case <-time.After(150 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(quit)
			<-done // n, failure and slowest are ours from here
			if failure != "" {
				t.Errorf("another account's function failed during the attack: %s", failure)
			} else if n == 0 {
				t.Errorf("the bystander never answered")
			}
			t.Logf("bystander answered %d times, slowest %v", n, slowest.Round(time.Millisecond))
		})
	}
	t.Cleanup(stop)
	return stop
}

// advHealthy checks that the server process lives and answers /health.
func advHealthy(t *testing.T) {
	t.Helper()
	shared.mu.Lock()
	exited, ep := shared.exited, shared.endpoint
	shared.mu.Unlock()
	select {
	case <-exited:
		t.Fatalf("the server exited: %v", shared.waitErr())
	default:
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(ep + "/health")
	if err != nil {
		t.Fatalf("server health: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("server health: HTTP %d", resp.StatusCode)
	}
}

func advCut(s string) string {
	if len(s) > 2048 {
		return "…" + s[len(s)-2048:]
	}
	return s
}

// ---- the host's view ----

type advProc struct {
	pid   int
	argv0 string
	nspid string // the innermost NSpid: the pid inside the sandbox
}

// advHostProcs lists the host's processes whose real uid is uid and that
// descend from the shared server (other servers of the e2e run hand out
// the same uids to their own accounts).
func advHostProcs(uid int) []advProc {
	shared.mu.Lock()
	server := shared.cmd.Process.Pid
	shared.mu.Unlock()
	ents, _ := os.ReadDir("/proc")
	var out []advProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		p := advProc{pid: pid}
		match := false
		sc := bufio.NewScanner(strings.NewReader(string(st)))
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			f := strings.Fields(v)
			switch {
			case k == "Uid" && len(f) > 0:
				match = f[0] == strconv.Itoa(uid)
			case k == "NSpid" && len(f) > 0:
				p.nspid = f[len(f)-1]
			case k == "State" && len(f) > 0 && f[0] == "Z":
				match = false
			}
		}
		if !match || !advDescends(pid, server) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		p.argv0, _, _ = strings.Cut(string(cmdline), "\x00")
		out = append(out, p)
	}
	return out
}

// advDescends reports whether pid is a descendant of ancestor.
func advDescends(pid, ancestor int) bool {
	for range 64 {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return false
		}
		_, rest, _ := strings.Cut(string(st), "\nPPid:")
		ppid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]))
		if err != nil || ppid <= 1 {
			return false
		}
		if ppid == ancestor {
			return true
		}
		pid = ppid
	}
	return false
}

// advWantNoProcs fails unless, within a second, no process of uid is left
// on the host.
func advWantNoProcs(t *testing.T, uid int, after string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		left := advHostProcs(uid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, processes of the account's uid %d survive on the host: %+v", after, uid, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func advSecret() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "secret-" + hex.EncodeToString(b)
}

// ---- the cases ----

func advWrite(name, path string, also ...string) advCase {
	return advCase{
		name:  name,
		event: `{"attack":"write","path":"` + path + `"}`,
		want:  map[string][]string{path: append(slices.Clone(advReadOnly), also...)},
	}
}

func advDenied(name string, outcomes []string, steps ...string) advCase {
	want := map[string][]string{}
	for _, s := range steps {
		want[s] = outcomes
	}
	return advCase{name: name, event: `{"attack":"` + name + `"}`, want: want}
}

func advCases() []advCase {
	cases := []advCase{
		// Read-only root, code and /proc.
		advWrite("write-etc-passwd", "/etc/passwd"),
		advWrite("write-usr-bin", "/usr/bin/x"),
		advWrite("write-var-task", "/var/task/x"),
		advWrite("write-var-task-bootstrap", "/var/task/bootstrap", "ETXTBSY"),
		advWrite("write-proc-hostname", "/proc/sys/kernel/hostname"),
		advWrite("write-proc-core-pattern", "/proc/sys/kernel/core_pattern"),
		// ENOENT where the kernel has no magic SysRq.
		advWrite("write-sysrq-trigger", "/proc/sysrq-trigger", "ENOENT"),
		{
			name: "open-exe", event: `{"attack":"open-exe"}`,
			want: map[string][]string{
				"/proc/self/exe":       append(slices.Clone(advReadOnly), "ETXTBSY"),
				"/proc/1/exe":          advOtherUID,
				"readlink /proc/1/exe": advOtherUID,
			},
		},
		{
			name: "init-environ", event: `{"attack":"init-environ"}`,
			want: map[string][]string{"/proc/1/environ": append(slices.Clone(advOtherUID), "ok")},
			check: func(t *testing.T, r advResult) {
				// Denied, or (were it readable) only the init's clean environment.
				for _, kv := range strings.Fields(r.rep.Text) {
					k, _, _ := strings.Cut(kv, "=")
					if k != "PATH" && k != "GOMAXPROCS" && k != "GOGC" {
						t.Errorf("the init's environment shows %q", kv)
					}
				}
			},
		},
		{
			name: "proc-init", event: `{"attack":"proc-init"}`,
			want: map[string][]string{
				"ls /proc/1/root": advOtherUID, "ls /proc/1/cwd": advOtherUID, "ls /proc/1/fd": advOtherUID,
				"open /proc/1/ns/mnt": advOtherUID, "setns /proc/self/ns/net": advSeccomp,
			},
		},
		{name: "fds", event: `{"attack":"fds"}`, check: advCheckFDs},
		{name: "platform-channel", run: advChannel},
		{
			name: "listeners", event: `{"attack":"listeners"}`,
			want: map[string][]string{"read /proc/net/tcp": {"ok"}, "read /proc/net/tcp6": {"ok"}},
			check: func(t *testing.T, r advResult) {
				// Only what the host serves there listens in the sandbox's
				// namespace: the Runtime API and the platform channel.
				ls := strings.Fields(r.rep.Text)
				if !slices.Contains(ls, "127.0.0.1:9001") || slices.ContainsFunc(ls, func(l string) bool { return l != "127.0.0.1:9001" && l != "127.0.0.1:9002" }) {
					t.Errorf("listening in the sandbox: %q, want the Runtime API 127.0.0.1:9001 and the platform channel 127.0.0.1:9002 only", r.rep.Text)
				}
			},
		},

		// The kernel surface behind the seccomp filter.
		advDenied("unshare-user", advSeccomp, "unshare(CLONE_NEWUSER)", "unshare(CLONE_NEWNS)", "unshare(CLONE_NEWNET)", "unshare(CLONE_NEWPID)"),
		{
			name: "clone-newuser", event: `{"attack":"clone-newuser"}`,
			want: map[string][]string{
				"clone(CLONE_NEWUSER)": advSeccomp, "clone(CLONE_NEWUSER|CLONE_NEWNS)": advSeccomp,
				"clone(CLONE_NEWPID)": advSeccomp, "clone3(CLONE_NEWUSER)": {"ENOSYS"},
			},
		},
		advDenied("mount-tmpfs", advSeccomp, "mount tmpfs on /tmp", "mount proc on /tmp", "remount /var/task rw", "umount /var/task", "fsopen tmpfs", "open_tree /"),
		advDenied("io-uring", advSeccomp, "io_uring_setup", "io_uring_register", "userfaultfd"),
		{
			name: "ptrace-sibling", event: `{"attack":"ptrace-sibling"}`,
			want: map[string][]string{
				"start sibling": {"ok"}, "ptrace(PTRACE_ATTACH)": advSeccomp, "ptrace(PTRACE_SEIZE)": advSeccomp,
				"ptrace(PTRACE_TRACEME)": advSeccomp, "process_vm_readv": advSeccomp, "pidfd_getfd": advSeccomp,
			},
		},
		advDenied("keyctl", advSeccomp, "keyctl(KEYCTL_GET_KEYRING_ID)", "keyctl(KEYCTL_JOIN_SESSION_KEYRING)", "add_key", "request_key"),
		advDenied("bpf", advSeccomp, "bpf(BPF_MAP_CREATE)", "bpf(BPF_PROG_LOAD)"),
		advDenied("perf-event-open", advSeccomp, "perf_event_open(self)", "perf_event_open(all, cpu 0)"),
		{
			name: "tiocsti", event: `{"attack":"tiocsti"}`,
			want: map[string][]string{
				"ioctl(0, TIOCSTI)": advSeccomp, "ioctl(1, TIOCSTI)": advSeccomp, "ioctl(2, TIOCSTI)": advSeccomp,
				"ioctl(0, 1<<32|TIOCSTI)": advSeccomp, "ioctl(0, TIOCLINUX)": advSeccomp,
				"open /dev/tty": {"ENOENT"}, // no terminal in the sandbox's /dev
			},
		},
		advDenied("setuid-root", advSeccomp, "setuid(0)", "setresuid(0,0,0)", "setgid(0)", "setgroups([0])", "capset(all)"),
		advDenied("chroot", advSeccomp, "chroot(/tmp)"),
		{
			name: "raw-socket", event: `{"attack":"raw-socket"}`,
			want: map[string][]string{
				"AF_INET SOCK_RAW": advSeccomp, "AF_INET6 SOCK_RAW": advSeccomp, "AF_INET SOCK_RAW IPPROTO_RAW": advSeccomp,
				"AF_PACKET": advSeccomp, "AF_NETLINK": advSeccomp, "AF_INET ping (ICMP datagram)": {"EACCES", "EPERM"},
			},
		},
		{name: "kill-all", ownAccount: true, timeout: 5, run: advKillAll},
		{
			name: "kill-group", event: `{"attack":"kill-group"}`, wantErr: "Runtime.ExitError",
			check: func(t *testing.T, r advResult) {
				if msg, _ := r.payload["errorMessage"].(string); !strings.Contains(msg, "signal: killed") {
					t.Errorf("kill(0, SIGKILL): %v", r)
				}
			},
		},
		{name: "release-agent", event: `{"attack":"release-agent"}`, check: advCheckCgroups},

		// Floods.
		{
			// Enough memory that the pids limit, not the memory limit, stops
			// it (each fork of a Go process costs about 100 KB), and time:
			// a thousand such forks take a second or more on a busy host.
			name: "fork-bomb", memory: 512, timeout: 10, event: `{"attack":"fork-bomb"}`,
			want: map[string][]string{"fork": {"EAGAIN"}},
			// At the pids limit the Go runtime itself may fail to start a
			// thread and exit ("failed to create new OS thread"): that is
			// the limit working too; the next invocation must still work.
			orErr: "Runtime.ExitError",
			check: func(t *testing.T, r advResult) {
				if r.rep.N < 500 || r.rep.N > 1024 {
					t.Errorf("forked %d processes before EAGAIN, want the pids limit (1024 with the runtime's threads)", r.rep.N)
				}
				t.Logf("forked %d processes in %s", r.rep.N, r.rep.Text)
			},
		},
		{name: "pids-budget", run: advPidsBudget},
		{name: "memory-bomb", timeout: 10, event: `{"attack":"memory-bomb"}`, wantErr: "Runtime.OutOfMemory"},
		{
			name: "fd-exhaustion", event: `{"attack":"fd-exhaustion"}`,
			want: map[string][]string{"open": {"EMFILE"}, "raise RLIMIT_NOFILE": {"EPERM"}},
			check: func(t *testing.T, r advResult) {
				if r.rep.N < 1000 || r.rep.N > 1024 || r.rep.Text != "1024/1024" {
					t.Errorf("opened %d files, limit %s: want RLIMIT_NOFILE 1024/1024", r.rep.N, r.rep.Text)
				}
			},
		},
		{
			// Memory above EphemeralStorage, so /tmp's own cap is what stops it.
			name: "tmp-fill", memory: 1024, ephemeral: 512, timeout: 10, event: `{"attack":"fill","path":"/tmp","mb":600}`,
			want: map[string][]string{"write": {"ENOSPC"}},
			check: func(t *testing.T, r advResult) {
				if r.rep.N < 500<<20 || r.rep.N > 512<<20 {
					t.Errorf("wrote %d MiB to /tmp, want ENOSPC at EphemeralStorage (512 MiB)", r.rep.N>>20)
				}
			},
		},
		{
			name: "shm-fill", timeout: 10, event: `{"attack":"fill","path":"/dev/shm","mb":100}`,
			want: map[string][]string{"write": {"ENOSPC"}},
			check: func(t *testing.T, r advResult) {
				if r.rep.N < 60<<20 || r.rep.N > 64<<20 {
					t.Errorf("wrote %d MiB to /dev/shm, want ENOSPC at 64 MiB", r.rep.N>>20)
				}
			},
		},
		{
			// /tmp is memory: filling it past MemorySize is an out-of-memory
			// death, not a way around the memory limit.
			name: "tmp-fill-over-memory", memory: 128, ephemeral: 512, timeout: 10, event: `{"attack":"fill","path":"/tmp","mb":600}`,
			wantErr: "Runtime.OutOfMemory",
		},
		{name: "stdout-flood", timeout: 10, run: advStdoutFlood},
		// The Runtime API is served by the ember process: what a sandbox
		// makes it buffer is memory outside the sandbox's limit.
		{name: "rapi-header-flood", run: advRAPIFlood(`{"attack":"rapi-headers","n":63,"mb":2040,"ms":3000}`)},
		{name: "rapi-body-flood", run: advRAPIFlood(`{"attack":"rapi-bodies","n":63,"mb":6140,"ms":3000}`)},
		{name: "spin-timeout", ownAccount: true, run: advSpin},
		{name: "daemon", ownAccount: true, run: advDaemon},

		// Network: only the sandbox's own loopback.
		{name: "net-host-loopback", run: advNetLoopback},
		{
			name: "net-metadata", event: `{"attack":"net","tcp":["169.254.169.254:80"],"udp":["169.254.169.254:53"]}`,
			want: map[string][]string{"tcp 169.254.169.254:80": {"ENETUNREACH"}, "udp 169.254.169.254:53": {"ENETUNREACH"}},
		},
		{
			name: "net-internet", event: `{"attack":"net","tcp":["8.8.8.8:53","[2001:4860:4860::8888]:53"],"udp":["8.8.8.8:53"]}`,
			want: map[string][]string{
				"tcp 8.8.8.8:53": {"ENETUNREACH"}, "udp 8.8.8.8:53": {"ENETUNREACH"},
				"tcp [2001:4860:4860::8888]:53": {"ENETUNREACH", "EADDRNOTAVAIL"},
			},
		},
		{
			name: "net-dns", event: `{"attack":"net","dns":"example.com"}`,
			check: func(t *testing.T, r advResult) {
				if got := r.rep.Steps["dns example.com"]; got == "ok" || got == "" || r.rep.Text != "" {
					t.Errorf("DNS lookup of example.com: %q, addresses %q; want a failure", got, r.rep.Text)
				}
			},
		},

		// What one tenant leaves behind.
		{name: "leftovers", ownAccount: true, run: advLeftovers},
		{name: "scratch-trap", timeout: 5, run: advScratchTrap},
	}
	if runtime.GOARCH == "amd64" {
		cases = append(cases, advCase{
			// The filter refuses other ABIs (EPERM; a fault where the kernel
			// has no IA32 emulation) and x32 numbers (ENOSYS).
			name: "ia32", event: `{"attack":"ia32"}`,
			want: map[string][]string{
				"int80 getpid": {"EPERM", "SIGSEGV"}, "int80 clone(CLONE_NEWUSER)": {"EPERM", "SIGSEGV"},
				"int80 keyctl(GET_KEYRING_ID)": {"EPERM", "SIGSEGV"}, "x32 getpid": {"ENOSYS"},
			},
		})
	}
	return cases
}

// advCheckFDs: the runtime holds its stdio, its own sockets, pipes and
// pollers, nothing of the host; it runs in /var/task without privileges.
func advCheckFDs(t *testing.T, r advResult) {
	s := r.rep.Steps
	if s["fd 0"] != "/dev/null" || !strings.HasPrefix(s["fd 1"], "pipe:") || !strings.HasPrefix(s["fd 2"], "pipe:") {
		t.Errorf("stdio: 0=%q 1=%q 2=%q, want /dev/null and the two output pipes", s["fd 0"], s["fd 1"], s["fd 2"])
	}
	for k, v := range s {
		n, ok := strings.CutPrefix(k, "fd ")
		if !ok || n == "0" {
			continue
		}
		switch {
		case strings.HasPrefix(v, "socket:"), strings.HasPrefix(v, "pipe:"), strings.HasPrefix(v, "anon_inode:"):
		case v == "ENOENT": // the listing's own descriptor, closed since
		default:
			t.Errorf("fd %s -> %q: not the runtime's own", n, v)
		}
	}
	if s["cwd"] != "/var/task" {
		t.Errorf("cwd %q, want /var/task", s["cwd"])
	}
	for _, c := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if s[c] != "0000000000000000" {
			t.Errorf("%s = %q, want none", c, s[c])
		}
	}
	if s["Seccomp"] != "2" || s["NoNewPrivs"] != "1" || s["Groups"] != "" {
		t.Errorf("Seccomp %q NoNewPrivs %q Groups %q (uid %d)", s["Seccomp"], s["NoNewPrivs"], s["Groups"], r.rep.UID)
	}
}

// advCheckCgroups: no cgroup file system to reach a release_agent through,
// and none can be mounted.
func advCheckCgroups(t *testing.T, r advResult) {
	for step, got := range r.rep.Steps {
		var want []string
		switch {
		case strings.HasPrefix(step, "write "), strings.HasPrefix(step, "mkdir "):
			want = []string{"ENOENT", "EROFS", "EACCES"}
		case strings.HasPrefix(step, "mount "):
			want = advSeccomp
		case step == "read /proc/self/cgroup":
			want = []string{"ok"}
		}
		if !slices.Contains(want, got) {
			t.Errorf("%s: %s, want one of %v", step, got, want)
		}
	}
	if len(r.rep.Steps) != 8 {
		t.Errorf("steps: %v", r.rep.Steps)
	}
	if r.rep.N != 0 {
		t.Errorf("%d cgroup mounts visible in the sandbox", r.rep.N)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.rep.Text), "\n") {
		if !strings.HasSuffix(line, ":/") {
			t.Errorf("/proc/self/cgroup shows a path: %q", line)
		}
	}
}

// advChannel: the platform channel grants a function without a policy
// nothing: no secret, no key-value store, no call into another account.
func advChannel(t *testing.T, a *advAttack) {
	by := "arn:aws:lambda:" + testRegion + ":" + advBystanderAccount + ":function:echo"
	r := a.invoke(`{"attack":"channel","value":"` + by + `"}`)
	if r.fnErr != "" {
		t.Fatalf("channel: %v", r)
	}
	if r.rep.Steps["channel"] == "absent" {
		t.Logf("no platform channel in this build")
		return
	}
	want := map[string]string{"whoami": "200", "secret": "403", "kv": "403", "kv put": "403", "invoke another account": "403"}
	for step, w := range want {
		if got := r.rep.Steps[step]; got != w {
			t.Errorf("channel %s: %s, want %s", step, got, w)
		}
	}
	if strings.Contains(r.rep.Text, advBystanderAccount) {
		t.Errorf("whoami names another account: %s", r.rep.Text)
	}
}

// advKillAll: kill(-1, SIGKILL) reaches only the sandbox's own processes.
// Outside it, a host process and another sandbox of the same account —
// both under the same uid — survive.
func advKillAll(t *testing.T, a *advAttack) {
	uid := a.noop(a.fn).rep.UID
	host := exec.Command("/bin/sleep", "60")
	host.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}, Setsid: true}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	hostExit := make(chan error, 1)
	go func() { hostExit <- host.Wait() }()
	defer host.Process.Kill()

	victim := a.fn + "-victim"
	advCreate(t, a.cl, victim, advFunction(t), 10, 128, 512)
	victimOut := advInvokeAsync(a.cl, victim, `{"attack":"sleep","ms":2500}`)
	// Attack once the victim's child runs.
	deadline := time.Now().Add(10 * time.Second)
	for !slices.ContainsFunc(advHostProcs(uid), func(p advProc) bool { return p.argv0 == "hostile-sleep" }) {
		if time.Now().After(deadline) {
			t.Fatal("the victim sandbox never started its child")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := a.invoke(`{"attack":"kill-all"}`)
	if r.fnErr != "" || r.rep.Steps["kill(-1, SIGKILL)"] != "ok" || r.rep.Steps["child 0"] != "signal: killed" || r.rep.Steps["child 1"] != "signal: killed" {
		t.Errorf("kill(-1, SIGKILL) in the sandbox: want its own children killed and the caller spared: %v", r)
	}
	v := <-victimOut
	if v.fnErr != "" || v.rep.Steps["child"] != "alive" {
		t.Errorf("another sandbox of the same account was hit: %v", v)
	}
	select {
	case err := <-hostExit:
		t.Errorf("a host process of the account's uid %d died: %v", uid, err)
	default:
	}
}

// advPidsBudget: every sandbox may fork up to its pids limit, and one
// account may run many sandboxes at once (64 × 1024 by default), so the
// sandboxes' common parent cgroup must hold them all below what the host
// can run, or a tenant's fork bombs in parallel use up the host's pids and
// ember itself can no longer start a thread.
func advPidsBudget(t *testing.T, a *advAttack) {
	uid := a.noop(a.fn).rep.UID
	hostMax := int64(1 << 22)
	for _, f := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
		b, _ := os.ReadFile(f)
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			hostMax = min(hostMax, n)
		}
	}
	for _, p := range advHostProcs(uid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.pid))
		if err != nil {
			continue // gone meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.SplitN(line, ":", 3)
			var dir string
			switch {
			case len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "pids"):
				dir = filepath.Join("/sys/fs/cgroup/pids", filepath.Dir(f[2]))
			case len(f) == 3 && f[0] == "0" && f[1] == "" && !strings.Contains(string(b), ":pids:"):
				dir = filepath.Join("/sys/fs/cgroup", filepath.Dir(f[2]))
			default:
				continue
			}
			v, err := os.ReadFile(filepath.Join(dir, "pids.max"))
			if err != nil {
				t.Fatalf("sandboxes' parent cgroup %s: %v", dir, err)
			}
			n, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
			if err != nil || n > hostMax/2 {
				t.Fatalf("the sandboxes' parent cgroup %s allows %s processes; the host runs at most %d: sandboxes together could use up its pids", dir, strings.TrimSpace(string(v)), hostMax)
			}
			t.Logf("all sandboxes together: at most %d processes (the host: %d)", n, hostMax)
			return
		}
	}
	t.Fatalf("no process of uid %d found on the host", uid)
}

// advStdoutFlood: 1 GiB on stdout. The invocation still answers, the log
// keeps its cap, and the server does not buffer the flood.
func advStdoutFlood(t *testing.T, a *advAttack) {
	r := a.invoke(`{"attack":"stdout-flood","mb":1024}`)
	switch {
	case r.errorType() == "Runtime.OutputLimitExceeded":
		// The default policy's limits.outputBytes stops the runtime.
		t.Logf("stopped by the output limit: %s", r.payload["errorMessage"])
	case r.fnErr == "" && r.rep.N == 1<<30 && r.rep.Steps["write"] == "ok":
		t.Logf("the function wrote 1 GiB in %s", r.rep.Text)
		if !strings.Contains(r.log, "bytes of output dropped: over the per-invocation log limit") {
			t.Errorf("log tail does not show the cap:\n%s", advCut(r.log))
		}
	default:
		t.Fatalf("1 GiB to stdout: %v", r)
	}
	if !strings.Contains(r.log, "REPORT RequestId") {
		t.Errorf("log tail has no REPORT:\n%s", advCut(r.log))
	}
	// The record is stored in the background: wait for it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		logs, _, code := emberCLI(t, a.c, nil, "logs", a.fn, "--endpoint", shared.endpoint)
		if code == 0 && len(logs) <= 1<<20 && strings.Contains(logs, "bytes of output dropped") {
			break
		}
		if code != 0 || len(logs) > 1<<20 || time.Now().After(deadline) {
			t.Errorf("stored log: exit %d, %d bytes, want the capped record", code, len(logs))
			break
		}
	}
	if rss := advServerRSS(t, shared); rss > 768<<20 {
		t.Errorf("server RSS %d MiB after a 1 GiB flood", rss>>20)
	}
}

// advRAPIFlood runs event — many Runtime API requests held open from one
// 128 MB sandbox — against a private server (so that its memory is the
// attack's alone) and bounds what the server holds for them. A tenant may
// run --max-sandboxes (64) such sandboxes at once: at 360 MiB each (what
// 63 bodies of 6 MB cost before this bound held) that is 23 GiB, and the
// server is OOM-killed with every tenant's invocations.
func advRAPIFlood(event string) func(t *testing.T, a *advAttack) {
	return func(t *testing.T, a *advAttack) {
		s := startServer(t)
		c := newAccount(t, s, "adv-rapi")
		cl := lambdaClient(s, c)
		advCreate(t, cl, "flood", advFunction(t), 10, 128, 512)
		p := &advAttack{t: t, c: c, cl: cl, fn: "flood"}
		p.noop("flood")
		before := advServerRSS(t, s)
		done := advInvokeAsync(cl, "flood", event)
		peak := before
		var r advResult
	wait:
		for {
			select {
			case r = <-done:
				break wait
			case <-time.After(100 * time.Millisecond):
				peak = max(peak, advServerRSS(t, s))
			}
		}
		t.Logf("%s: %d requests held; server RSS %d MiB before, %d MiB at the peak", r.rep.Attack, r.rep.N, before>>20, peak>>20)
		if r.fnErr != "" || r.rep.N == 0 {
			t.Errorf("flood: %v", r)
		}
		if grew := peak - before; grew > 64<<20 {
			t.Errorf("one 128 MB sandbox made the server hold %d MiB more (bound: 64 MiB): Runtime API buffers are outside every sandbox's memory limit", grew>>20)
		}
		p.noop("flood")
		select {
		case <-s.exited:
			t.Fatalf("the server exited: %v", s.waitErr())
		default:
		}
	}
}

func advServerRSS(t *testing.T, s *server) int64 {
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func advWantTimeout(t *testing.T, r advResult, secs string) {
	t.Helper()
	msg, _ := r.payload["errorMessage"].(string)
	want := "Task timed out after " + secs + " seconds"
	if r.errorType() != "Sandbox.Timedout" || !strings.HasSuffix(msg, want) || !strings.Contains(r.log, want) {
		t.Fatalf("want %q: %v\nlog:\n%s", want, r, advCut(r.log))
	}
}

// advSpin: a function that ignores SIGTERM and spins is killed at its
// timeout, with all of its sandbox, and the next call gets a fresh one.
func advSpin(t *testing.T, a *advAttack) {
	uid := a.noop(a.fn).rep.UID
	advWantTimeout(t, a.invoke(`{"attack":"spin"}`), "3.00")
	advWantNoProcs(t, uid, "the timeout")
	if r := a.noop(a.fn); r.rep.Count != 1 {
		t.Errorf("after a timeout the sandbox was reused (count %d)", r.rep.Count)
	}
}

// advDaemon: a double-forked daemon in its own session, deaf to SIGTERM
// and SIGHUP, lives while its sandbox is warm and dies with it.
func advDaemon(t *testing.T, a *advAttack) {
	r := a.invoke(`{"attack":"daemon"}`)
	if r.fnErr != "" || r.rep.Steps["marker"] != "ok" || r.rep.Text == "" {
		t.Fatalf("daemon did not start: %v", r)
	}
	uid := r.rep.UID
	procs := advHostProcs(uid)
	if !slices.ContainsFunc(procs, func(p advProc) bool { return p.argv0 == "hostile-daemon" && p.nspid == r.rep.Text }) {
		t.Fatalf("the daemon (pid %s in the sandbox) is not among the host's processes of uid %d: %+v", r.rep.Text, uid, procs)
	}
	advWantTimeout(t, a.invoke(`{"attack":"spin"}`), "3.00")
	advWantNoProcs(t, uid, "a timeout tore the sandbox down")
}

// advNetLoopback: the sandbox's 127.0.0.1 is its own. Listeners of the test
// on the host's loopback, the ember API and an abstract unix socket of the
// host receive nothing.
func advNetLoopback(t *testing.T, a *advAttack) {
	var got atomic.Int32
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			got.Add(1)
			c.Close()
		}
	}()
	ul, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := ul.ReadFrom(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	abstract := "ember-adv-" + advSecret()
	xl, err := net.Listen("unix", "@"+abstract)
	if err != nil {
		t.Fatal(err)
	}
	defer xl.Close()
	go func() {
		for {
			c, err := xl.Accept()
			if err != nil {
				return
			}
			got.Add(1)
			c.Close()
		}
	}()
	tp := strconv.Itoa(tl.Addr().(*net.TCPAddr).Port)
	up := strconv.Itoa(ul.LocalAddr().(*net.UDPAddr).Port)
	tcp := []string{"127.0.0.1:" + tp, "localhost:" + tp, "[::ffff:127.0.0.1]:" + tp, "0.0.0.0:" + tp, "127.0.0.2:" + tp, shared.addr}
	want := map[string][]string{}
	for _, a := range tcp {
		want["tcp "+a] = []string{"ECONNREFUSED"}
	}
	want["tcp [::1]:"+tp] = []string{"ECONNREFUSED", "EADDRNOTAVAIL", "ENETUNREACH"}
	tcp = append(tcp, "[::1]:"+tp)
	// The host's own addresses on other interfaces: no route from inside.
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			if ip, ok := ad.(*net.IPNet); ok && ip.IP.To4() != nil && !ip.IP.IsLoopback() {
				h := net.JoinHostPort(ip.IP.String(), tp)
				tcp = append(tcp, h)
				want["tcp "+h] = []string{"ENETUNREACH"}
				break
			}
		}
	}
	udp := []string{"127.0.0.1:" + up}
	want["udp 127.0.0.1:"+up] = []string{"ok", "ECONNREFUSED"} // delivered to the sandbox's own lo
	want["unix @"+abstract] = []string{"ECONNREFUSED"}
	ev, _ := json.Marshal(map[string]any{"attack": "net", "tcp": tcp, "udp": udp, "unix": abstract})
	advSingle(t, a, advCase{event: string(ev), want: want})
	time.Sleep(200 * time.Millisecond)
	if n := got.Load(); n != 0 {
		t.Errorf("the host's listeners received %d connections or datagrams from a sandbox", n)
	}
}

// advLeftovers: /tmp, /dev/shm and SysV shared memory of one sandbox are
// seen by no other sandbox: not another account's, not another function's
// of the same account, not the same function's after a code update.
func advLeftovers(t *testing.T, a *advAttack) {
	secret := advSecret()
	r := a.invoke(`{"attack":"plant","secret":"` + secret + `"}`)
	for _, s := range []string{"/tmp/secret", "/dev/shm/secret", "shmget", "shmat"} {
		if r.rep.Steps[s] != "ok" {
			t.Fatalf("plant %s: %v", s, r)
		}
	}
	found := map[string][]string{"/tmp/secret": {"found: " + secret}, "/dev/shm/secret": {"found: " + secret}, "shmget": {"found: " + secret}}
	gone := map[string][]string{"/tmp/secret": {"ENOENT"}, "/dev/shm/secret": {"ENOENT"}, "shmget": {"ENOENT"}}
	peek := func(who string, cl *lambda.Client, fn string, want map[string][]string) advResult {
		t.Helper()
		r := (&advAttack{t: t, cl: cl}).invokeFn(fn, `{"attack":"peek"}`)
		for step, w := range want {
			if !slices.Contains(w, r.rep.Steps[step]) {
				t.Errorf("%s: %s = %q, want %v", who, step, r.rep.Steps[step], w)
			}
		}
		if want["shmget"][0] == "ENOENT" && strings.Contains(r.rep.Text, "secret") {
			t.Errorf("%s sees %s", who, r.rep.Text)
		}
		return r
	}
	// The same warm sandbox keeps them (so the plant worked).
	if r := peek("the same sandbox", a.cl, a.fn, found); r.rep.Count != 2 {
		t.Errorf("the same sandbox was not reused: count %d", r.rep.Count)
	}
	// Another account, while X's sandbox still holds them.
	y := newAccount(t, shared, "adv-leftovers-y")
	ycl := lambdaClient(shared, y)
	advCreate(t, ycl, a.fn, advFunction(t), 3, 128, 512)
	peek("another account", ycl, a.fn, gone)
	// Another function of the same account.
	advCreate(t, a.cl, a.fn+"-2", advFunction(t), 3, 128, 512)
	peek("another function of the account", a.cl, a.fn+"-2", gone)
	// The same function after a code update: a new sandbox.
	code := makeZip(t, zipEntry{name: "bootstrap", body: string(advBin), mode: 0o755}, zipEntry{name: "v2.txt", body: "v2"})
	if _, err := a.cl.UpdateFunctionCode(ctxT(t), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(a.fn), ZipFile: code}); err != nil {
		t.Fatal(err)
	}
	if r := peek("the function after a code update", a.cl, a.fn, gone); r.rep.Count != 1 {
		t.Errorf("the updated function ran in an old sandbox: count %d", r.rep.Count)
	}
}

// advScratchTrap: with filesystem.tmpPersists false the host empties the
// sandbox's /tmp and /dev/shm after every invocation, as root, through the
// init's root. Symlinks (absolute ones resolve against the host's root
// there) and a racer swapping directories for symlinks must not turn that
// into a removal on the host.
func advScratchTrap(t *testing.T, a *advAttack) {
	canary := filepath.Join(os.TempDir(), "ember-adv-canary-"+advSecret())
	if err := os.MkdirAll(filepath.Join(canary, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(canary)
	for _, f := range []string{"keep", "sub/keep", "f"} {
		if err := os.WriteFile(filepath.Join(canary, f), []byte("canary"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fragment := withHeader("X-Ember-Policy", `{"filesystem":{"tmpPersists":false}}`)
	for i := range 6 {
		out, err := a.cl.Invoke(ctxT(t), &lambda.InvokeInput{FunctionName: aws.String(a.fn), Payload: []byte(`{"attack":"scratch-trap","path":"` + canary + `"}`)}, fragment)
		if err != nil {
			t.Fatalf("invoke %d: %v", i, err)
		}
		var rep advReport
		json.Unmarshal(out.Payload, &rep)
		if out.FunctionError != nil || rep.Steps["symlink in /tmp"] != "ok" {
			t.Fatalf("invoke %d: %s", i, out.Payload)
		}
		if rep.Count != 1 {
			t.Errorf("invoke %d: /tmp was not emptied (count %d)", i, rep.Count)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, f := range []string{"keep", "sub/keep", "f"} {
		if b, err := os.ReadFile(filepath.Join(canary, f)); err != nil || string(b) != "canary" {
			t.Errorf("host file %s after emptying a sandbox's /tmp: %q, %v", filepath.Join(canary, f), b, err)
		}
	}
}
