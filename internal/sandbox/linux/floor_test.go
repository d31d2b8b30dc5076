//go:build linux

package linux_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ember-run/ember/internal/sandbox"
)

func mustContain(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q\nstdout:\n%s\nstderr:\n%s", w, r.stdout, r.stderr)
		}
	}
}

func mustNotContain(t *testing.T, r result, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(r.stdout, b) {
			t.Errorf("stdout has %q\nstdout:\n%s\nstderr:\n%s", b, r.stdout, r.stderr)
		}
	}
}

func TestRunAndExitCode(t *testing.T) {
	d, _ := newDriver(t)
	r := sh(t, d, `echo out; echo err >&2; cat /var/task/hello.txt; exit 3`)
	if r.stdout != "out\nhello from the code dir\n" || r.stderr != "err\n" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if r.exit != (sandbox.Exit{Code: 3}) {
		t.Errorf("exit %+v, want code 3", r.exit)
	}
	if r.stats.MemoryPeakBytes == 0 || r.stats.CPUTime == 0 {
		t.Errorf("stats %+v", r.stats)
	}
}

func TestReadOnlyRootAndTmp(t *testing.T) {
	d, _ := newDriver(t)
	r := sh(t, d, `
for p in /x /usr/x /etc/x /etc/passwd /var/task/x /var/task/hello.txt /opt/ember/x /dev/x /bin/x /proc/x /sys/x; do
  if (echo x >> $p) 2>/dev/null; then echo "WRITABLE $p"; fi
done
echo tmp-ok > /tmp/f && cat /tmp/f
echo shm-ok > /dev/shm/f && cat /dev/shm/f
echo x > /dev/null && echo devnull-ok
echo stdout-ok > /dev/stdout
head -c 4 /dev/urandom | wc -c
stat -c '%a' /tmp
dd if=/dev/zero of=/tmp/big bs=1M count=17 2>&1 | grep -o 'No space left on device' || echo "TMP UNCAPPED"
`, func(s *sandbox.Spec) { s.TmpMB = 16 })
	mustContain(t, r, "tmp-ok", "shm-ok", "devnull-ok", "stdout-ok", "4\n", "1777", "No space left on device")
	mustNotContain(t, r, "WRITABLE", "TMP UNCAPPED")
}

func TestProcMasked(t *testing.T) {
	d, _ := newDriver(t)
	r := sh(t, d, `
echo kcore=$(cat /proc/kcore 2>/dev/null | wc -c) keys=$(wc -c < /proc/keys) timer=$(wc -c < /proc/timer_list)
if (echo b > /proc/sysrq-trigger) 2>/dev/null; then echo SYSRQ-WRITABLE; fi
if (echo 1 > /proc/sys/kernel/sysrq) 2>/dev/null; then echo PROCSYS-WRITABLE; fi
echo acpi=$(ls -A /proc/acpi 2>/dev/null | wc -l) sys=$(ls -A /sys | wc -l)
echo dev=$(ls /dev | tr '\n' ' ')
echo pids=$(ls /proc | grep -c '^[0-9]')
cat /proc/self/cgroup
`)
	mustContain(t, r, "kcore=0 keys=0 timer=0", "acpi=0 sys=0", "dev=fd full null random shm stderr stdin stdout urandom zero\n")
	mustNotContain(t, r, "WRITABLE", "ember-test")
	// sh, its subshell children, and the init: a handful at most.
	for _, line := range strings.Split(r.stdout, "\n") {
		if n, ok := strings.CutPrefix(line, "pids="); ok {
			if c, _ := strconv.Atoi(n); c == 0 || c > 5 {
				t.Errorf("sandbox sees %d processes", c)
			}
		}
	}
}

func TestPrivilegesDropped(t *testing.T) {
	d, _ := newDriver(t)
	r := sh(t, d, `grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; echo uid=$(id -u) gid=$(id -g) groups=$(id -G); ulimit -n; ulimit -c; hostname; pwd`,
		func(s *sandbox.Spec) { s.UID, s.GID = 1234, 5678 })
	for _, c := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		mustContain(t, r, c+":\t0000000000000000")
	}
	mustContain(t, r, "Seccomp:\t2", "NoNewPrivs:\t1", "uid=1234 gid=5678 groups=5678\n", "256\n0\nsandbox\n/var/task\n")

	// /proc/self/comm is writable by its process as far as the mount goes;
	// only Landlock (read-only outside /tmp, /dev/shm and the devices)
	// refuses it.
	if abi, _, _ := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, 1); int(abi) <= 0 {
		t.Log("no Landlock on this kernel")
		return
	}
	r = sh(t, d, `if (printf x > /proc/self/comm) 2>/dev/null; then echo LANDLOCK-OFF; else echo landlock-on; fi`)
	mustContain(t, r, "landlock-on")
}

func TestSeccompOnEveryThread(t *testing.T) {
	d, _ := newDriver(t)
	r := py(t, d, `
import threading, glob
ev = threading.Event()
ts = [threading.Thread(target=ev.wait) for _ in range(4)]
for t in ts: t.start()
for f in sorted(glob.glob('/proc/self/task/*/status')):
    d = dict(l.split(':', 1) for l in open(f).read().splitlines() if ':' in l)
    print('thread', d['Seccomp'].strip(), d['NoNewPrivs'].strip(), d['CapEff'].strip())
ev.set()
`)
	lines := strings.Count(r.stdout, "thread ")
	if lines < 5 || strings.Count(r.stdout, "thread 2 1 0000000000000000") != lines {
		t.Errorf("want 5+ threads all in seccomp mode 2:\n%s\n%s", r.stdout, r.stderr)
	}
}

func TestDeniedSyscalls(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("syscall numbers below are x86_64's")
	}
	d, _ := newDriver(t)
	r := py(t, d, `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
calls = [
  ('unshare-user', 272, 0x10000000), ('unshare-mnt', 272, 0x00020000), ('unshare-net', 272, 0x40000000),
  ('setns', 308, 0, 0), ('mount', 165, 0, 0, 0, 0, 0), ('umount2', 166, 0, 0), ('pivot_root', 155, 0, 0),
  ('ptrace', 101, 16, 1, 0, 0), ('process_vm_readv', 310, 1, 0, 0, 0, 0, 0),
  ('bpf', 321, 0, 0, 0), ('io_uring_setup', 425, 1, 0), ('keyctl', 250, 0, 0), ('add_key', 248, 0, 0, 0, 0, 0),
  ('perf_event_open', 298, 0, 0, -1, -1, 0), ('userfaultfd', 323, 0), ('open_tree', 428, -100, 0, 0),
  ('fsopen', 430, 0, 0), ('kexec_load', 246, 0, 0, 0, 0), ('init_module', 175, 0, 0, 0),
  ('reboot', 169, 0, 0, 0, 0), ('swapoff', 168, 0), ('acct', 163, 0), ('settimeofday', 164, 0, 0),
  ('syslog', 103, 3, 0, 0), ('chroot', 161, 0),
  ('clone-newuser', 56, 0x10000000 | 17, 0, 0, 0, 0), ('clone-newns', 56, 0x00020000 | 17, 0, 0, 0, 0),
  ('socket-netlink', 41, 16, 3, 0), ('socket-packet', 41, 17, 3, 0),
  ('ioctl-tiocsti', 16, 0, 0x5412, 0), ('ioctl-tiocsti-hi', 16, 0, 0x100005412, 0),
  ('personality', 135, 0x0040000),
  ('clone3', 435, 0, 0),
]
for name, nr, *args in calls:
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    print(name, r, os.strerror(ctypes.get_errno()) if r < 0 else 'ALLOWED')
import socket
for fam in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
    socket.socket(fam, socket.SOCK_STREAM).close()
print('sockets-ok')
`)
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		name, rest, _ := strings.Cut(line, " ")
		want := "-1 Operation not permitted"
		switch name {
		case "clone3":
			want = "-1 Function not implemented"
		case "sockets-ok":
			continue
		}
		if rest != want {
			t.Errorf("%s: got %q, want %q", name, rest, want)
		}
	}
	mustContain(t, r, "clone3", "sockets-ok")
	r = sh(t, d, `unshare -U true; echo rc=$?; unshare -m true; echo rc=$?`)
	mustContain(t, r, "rc=1\nrc=1")
}

func TestForkBombStopsAtPidsLimit(t *testing.T) {
	d, _ := newDriver(t)
	r := py(t, d, `
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    print('forks', n, e.errno)
`, func(s *sandbox.Spec) { s.Pids = 32 })
	var n, errno int
	if _, err := fmt.Sscanf(r.stdout, "forks %d %d", &n, &errno); err != nil || n >= 32 || errno != 11 {
		t.Fatalf("fork loop: %q %q", r.stdout, r.stderr)
	}

	// A shell fork bomb that never ends: the sandbox stays manageable and
	// Close removes all of it.
	ctx := context.Background()
	sb, err := d.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec := baseSpec(t, "/bin/sh", "-c", `bomb() { bomb | bomb & }; bomb; while :; do sleep 1; done`)
	spec.Pids = 64
	if err := sb.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	pids := cgroupProcs(t, sb.ID())
	if len(pids) == 0 || len(pids) > 64+10 {
		t.Errorf("%d processes in the cgroup", len(pids))
	}
	if _, err := sb.Stats(); err != nil {
		t.Errorf("Stats: %v", err)
	}
	start := time.Now()
	if err := sb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("closed a fork bomb of %d processes in %v", len(pids), time.Since(start))
	assertGone(t, pids)
}

func TestMemoryBombOOMKilled(t *testing.T) {
	d, _ := newDriver(t)
	r := py(t, d, `
b = []
for i in range(128):
    b.append(b'x' * (1 << 20))
print('SURVIVED')
`, func(s *sandbox.Spec) { s.MemoryMB = 64 })
	if !r.exit.OOMKilled || r.exit.Signal != "killed" || strings.Contains(r.stdout, "SURVIVED") {
		t.Errorf("exit %+v stdout %q stderr %q", r.exit, r.stdout, r.stderr)
	}
	if r.stats.MemoryPeakBytes > 64<<20+1<<20 {
		t.Errorf("peak %d above the limit", r.stats.MemoryPeakBytes)
	}
}

func hostIPv4(t *testing.T) string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return "192.0.2.1"
}

func TestLoopbackOnly(t *testing.T) {
	d, _ := newDriver(t)
	r := py(t, d, `
import socket, sys
print('ifaces', sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]))
for host in (sys.argv[1], '1.1.1.1', '169.254.169.254'):
    try:
        socket.create_connection((host, 80), timeout=2)
        print('CONNECTED', host)
    except OSError as e:
        print('refused', host, e.errno)
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen()
c = socket.create_connection(srv.getsockname()); s, _ = srv.accept(); c.sendall(b'ping'); print('loopback', s.recv(4).decode())
`, func(s *sandbox.Spec) { s.Argv = append(s.Argv, hostIPv4(t)) })
	mustContain(t, r, "ifaces ['lo']", "loopback ping")
	mustNotContain(t, r, "CONNECTED")
}

func TestListenInsideSandbox(t *testing.T) {
	d, _ := newDriver(t)
	ctx := context.Background()
	sb, err := d.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ln, err := sb.Listen("tcp", "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from the host")
			c.Close()
		}
	}()
	// The same address on the host is a different socket (or none).
	if c, err := net.DialTimeout("tcp", "127.0.0.1:9001", time.Second); err == nil {
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		c.Close()
		if strings.Contains(string(buf[:n]), "hello from the host") {
			t.Error("the sandbox's listener is reachable from the host's namespace")
		}
	}
	var out lockedBuffer
	spec := baseSpec(t, "/usr/bin/python3", "-c", `
import urllib.request, socket
s = socket.create_connection(('127.0.0.1', 9001)); print(s.recv(64).decode())`)
	spec.Stdout, spec.Stderr = &out, &out
	if err := sb.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	<-sb.Done()
	if !strings.Contains(out.String(), "hello from the host") {
		t.Errorf("output %q", out.String())
	}
}

func TestIsolationBetweenSandboxes(t *testing.T) {
	d, state := newDriver(t)
	t.Setenv("EMBER_HOST_SECRET", "s3cret")
	script := `ls /var/task; ls /root 2>&1 | head -1; ls ` + state + ` 2>&1 | head -1; cat /proc/1/environ 2>&1 | head -c 60; echo; env | sort`
	type out struct {
		r   result
		err error
	}
	outs := make(chan out, 2)
	for _, f := range []string{"a.txt", "b.txt"} {
		spec := baseSpec(t, "/bin/sh", "-c", script)
		spec.CodeDir = codeDir(t, map[string]string{f: f})
		go func() {
			defer func() {
				if p := recover(); p != nil {
					outs <- out{err: fmt.Errorf("%v", p)}
				}
			}()
			outs <- out{r: runSpec(t, d, spec)}
		}()
	}
	seen := map[string]bool{}
	for range 2 {
		o := <-outs
		if o.err != nil {
			t.Fatal(o.err)
		}
		r := o.r
		first, _, _ := strings.Cut(r.stdout, "\n")
		seen[first] = true
		mustContain(t, r, "ls: cannot access '/root': No such file", "No such file", "Permission denied",
			"HOME=/tmp\nLANG=C.UTF-8\nPATH=/usr/local/bin:/usr/bin:/bin\nPWD=/var/task\n")
		mustNotContain(t, r, "s3cret", "a.txt\nb.txt")
	}
	if !seen["a.txt"] || !seen["b.txt"] {
		t.Errorf("each sandbox should see only its own code: %v", seen)
	}
}

func TestRuntimes(t *testing.T) {
	d, _ := newDriver(t)
	t.Run("python3", func(t *testing.T) {
		r := py(t, d, `
import ssl, json, hashlib, subprocess, multiprocessing, tempfile, os
ctx = ssl.create_default_context(); print('certs', ctx.cert_store_stats()['x509_ca'] > 0)
print(subprocess.run(['/bin/echo', 'sub'], capture_output=True, text=True).stdout.strip())
with multiprocessing.Pool(2) as p: print('pool', sum(p.map(abs, [-1, -2, -3])))
with tempfile.NamedTemporaryFile() as f: f.write(b'x'); print('tmpfile', os.path.getsize(f.name) >= 0)
print('uid', os.getuid(), __import__('pwd').getpwuid(os.getuid()).pw_name)
`)
		mustContain(t, r, "certs True", "sub\n", "pool 6", "tmpfile True", "uid 1000 sbx")
	})
	t.Run("node", func(t *testing.T) {
		if _, err := os.Stat("/usr/bin/node"); err != nil {
			t.Skip("no /usr/bin/node")
		}
		spec := baseSpec(t, "/usr/bin/node", "-e", `
const fs = require('fs'), cp = require('child_process'), crypto = require('crypto'), http = require('http');
fs.writeFileSync('/tmp/n', 'x');
console.log('exec', cp.execSync('echo hi').toString().trim());
console.log('hash', crypto.createHash('sha256').update('x').digest('hex').slice(0, 8));
const srv = http.createServer((q, s) => s.end('node-http')).listen(0, '127.0.0.1', () => {
  http.get({port: srv.address().port, host: '127.0.0.1'}, r => { r.on('data', d => { console.log(String(d)); srv.close(); }); });
});
setTimeout(() => console.log('timer'), 10);
new Worker !== undefined;`)
		spec.Argv[2] = strings.TrimSuffix(spec.Argv[2], "new Worker !== undefined;")
		r := runSpec(t, d, spec)
		mustContain(t, r, "exec hi", "hash 2d711642", "node-http", "timer")
		if r.exit.Code != 0 {
			t.Errorf("exit %+v stderr %s", r.exit, r.stderr)
		}
	})
	t.Run("go-static", func(t *testing.T) {
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			t.Skip("no go toolchain")
		}
		src := t.TempDir()
		os.WriteFile(filepath.Join(src, "go.mod"), []byte("module hello\ngo 1.22\n"), 0o644)
		os.WriteFile(filepath.Join(src, "main.go"), []byte(`package main
import ("fmt"; "net"; "net/http"; "os"; "os/exec"; "sync"; "io")
func main() {
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ { wg.Add(1); go func() { defer wg.Done(); _ = make([]byte, 1<<20) }() }
	wg.Wait()
	ln, err := net.Listen("tcp", "127.0.0.1:0"); if err != nil { panic(err) }
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "go-http") }))
	resp, err := http.Get("http://" + ln.Addr().String()); if err != nil { panic(err) }
	b, _ := io.ReadAll(resp.Body)
	out, err := exec.Command("/bin/echo", "go-exec").Output(); if err != nil { panic(err) }
	fmt.Printf("%s %s", b, out)
	os.WriteFile("/tmp/x", []byte("x"), 0o600)
}
`), 0o644)
		code := codeDir(t, nil)
		cmd := exec.Command(goBin, "build", "-o", filepath.Join(code, "bootstrap"), ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
		spec := baseSpec(t, "/var/task/bootstrap")
		spec.CodeDir = code
		r := runSpec(t, d, spec)
		mustContain(t, r, "go-http go-exec")
		if r.exit.Code != 0 {
			t.Errorf("exit %+v stderr %s", r.exit, r.stderr)
		}
	})
}

func TestStartErrors(t *testing.T) {
	d, _ := newDriver(t)
	ctx := context.Background()
	sb, err := d.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	bad := baseSpec(t, "/bin/true")
	bad.UID = 0
	if err := sb.Start(ctx, bad); err == nil {
		t.Error("Start with uid 0 succeeded")
	}
	missing := baseSpec(t, "/var/task/nope")
	if err := sb.Start(ctx, missing); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Start of a missing binary: %v", err)
	}
	if err := sb.Start(ctx, baseSpec(t, "/bin/true")); !errors.Is(err, sandbox.ErrStarted) {
		t.Errorf("second Start: %v", err)
	}
	select {
	case <-sb.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a failed Start left the sandbox running")
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sb.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := sb.Listen("tcp", "127.0.0.1:0"); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("Listen after Close: %v", err)
	}
}

func TestCreateContextCanceled(t *testing.T) {
	d, state := newDriver(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Create(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Create with a canceled context: %v", err)
	}
	entries, _ := os.ReadDir(state)
	if len(entries) != 0 {
		t.Errorf("a failed Create left %d state dirs", len(entries))
	}
}

func TestKillAndTeardownLeaveNothing(t *testing.T) {
	d, state := newDriver(t)
	ctx := context.Background()
	sb, err := d.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A daemon that double-forks into its own session and ignores TERM and HUP.
	spec := baseSpec(t, "/bin/sh", "-c", `(setsid sh -c 'trap "" TERM HUP; sleep 1000' &); sleep 1000`)
	if err := sb.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for range 100 {
		if pids = cgroupProcs(t, sb.ID()); len(pids) >= 4 { // init, sh, sleep, sh, sleep
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(pids) < 4 {
		t.Fatalf("expected the daemon in the cgroup, got %v", pids)
	}
	if err := sb.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sb.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after Kill")
	}
	if e := sb.Exit(); e.Code != -1 || e.Signal != "killed" {
		t.Errorf("exit after Kill: %+v", e)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, pids)
	if dirs := cgroupDirs(sb.ID()); len(dirs) != 0 {
		t.Errorf("cgroups left: %v", dirs)
	}
	if _, err := os.Stat(filepath.Join(state, sb.ID())); !os.IsNotExist(err) {
		t.Errorf("state dir left: %v", err)
	}
	assertNoMountsUnder(t, state)
}

func assertGone(t *testing.T, pids []int) {
	t.Helper()
	for _, p := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
			t.Errorf("process %d (%q) survived", p, b)
		}
	}
}

func assertNoMountsUnder(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 4 && strings.HasPrefix(fs[4], dir) {
			t.Errorf("host mount left: %s", sc.Text())
		}
	}
}

// cgroupDirs lists the test cgroup directories of a sandbox on either
// cgroup version.
func cgroupDirs(id string) []string {
	var dirs []string
	for _, pat := range []string{"/sys/fs/cgroup/*/ember-test/" + id, "/sys/fs/cgroup/ember-test/" + id} {
		m, _ := filepath.Glob(pat)
		dirs = append(dirs, m...)
	}
	return dirs
}

func cgroupProcs(t *testing.T, id string) []int {
	t.Helper()
	seen := map[int]bool{}
	var pids []int
	for _, d := range cgroupDirs(id) {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil && !seen[p] {
				seen[p] = true
				pids = append(pids, p)
			}
		}
	}
	return pids
}
