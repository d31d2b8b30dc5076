// Command hostile is an aws-lambda-go function that attacks the sandbox it
// runs in. The e2e adversarial suite builds it as `bootstrap`; an event
// {"attack":"NAME", ...} picks one attack, and the function answers with a
// report of what the kernel said to each step ("ok" or an errno name such as
// "EPERM"), so the test can hold every outcome against docs/SECURITY.md.
// Attacks report errors instead of failing, except those that are crashes
// by nature (memory-bomb, kill-group, spin).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"golang.org/x/sys/unix"
)

type event struct {
	Attack string   `json:"attack"`
	Path   string   `json:"path,omitempty"`   // write, fill
	TCP    []string `json:"tcp,omitempty"`    // net: host:port to connect to
	UDP    []string `json:"udp,omitempty"`    // net: host:port to send to
	Unix   string   `json:"unix,omitempty"`   // net: abstract socket name
	DNS    string   `json:"dns,omitempty"`    // net: name to resolve
	Secret string   `json:"secret,omitempty"` // plant
	MB     int      `json:"mb,omitempty"`     // fill, stdout-flood
	MS     int      `json:"ms,omitempty"`     // sleep, hold
	N      int      `json:"n,omitempty"`      // rapi-headers
	Value  string   `json:"value,omitempty"`  // echo
}

type report struct {
	Attack string            `json:"attack"`
	UID    int               `json:"uid"`
	Count  int               `json:"count"` // invocations this sandbox served
	Steps  map[string]string `json:"steps,omitempty"`
	N      int64             `json:"n,omitempty"`
	Text   string            `json:"text,omitempty"`
}

func (r *report) step(name string, err error) { r.Steps[name] = errStr(err) }

// errStr is "ok", an errno name ("EPERM") or the error's text.
func errStr(err error) string {
	if err == nil {
		return "ok"
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		if n := unix.ErrnoName(en); n != "" {
			return n
		}
		if en == 0 {
			return "ok"
		}
	}
	return err.Error()
}

func errno(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

var attacks = map[string]func(context.Context, event, *report){
	"noop":            func(context.Context, event, *report) {},
	"echo":            func(_ context.Context, ev event, r *report) { r.Text = ev.Value },
	"write":           attackWrite,
	"open-exe":        attackOpenExe,
	"init-environ":    attackInitEnviron,
	"proc-init":       attackProcInit,
	"fds":             attackFDs,
	"unshare-user":    attackUnshare,
	"clone-newuser":   attackCloneNewUser,
	"mount-tmpfs":     attackMount,
	"io-uring":        attackIOURing,
	"ptrace-sibling":  attackPtrace,
	"keyctl":          attackKeyctl,
	"bpf":             attackBPF,
	"perf-event-open": attackPerf,
	"tiocsti":         attackTIOCSTI,
	"kill-all":        attackKillAll,
	"kill-group":      attackKillGroup,
	"setuid-root":     attackSetuid,
	"chroot":          attackChroot,
	"raw-socket":      attackRawSocket,
	"ia32":            attackIA32,
	"fork-bomb":       attackForkBomb,
	"memory-bomb":     attackMemoryBomb,
	"fd-exhaustion":   attackFDExhaustion,
	"fill":            attackFill,
	"stdout-flood":    attackStdoutFlood,
	"spin":            attackSpin,
	"daemon":          attackDaemon,
	"sleep":           attackSleep,
	"net":             attackNet,
	"listeners":       attackListeners,
	"rapi-headers":    attackRAPIHeaders,
	"rapi-bodies":     attackRAPIBodies,
	"channel":         attackChannel,
	"scratch-trap":    attackScratchTrap,
	"plant":           attackPlant,
	"peek":            attackPeek,
	"release-agent":   attackReleaseAgent,
}

func handle(ctx context.Context, ev event) (report, error) {
	r := report{Attack: ev.Attack, UID: os.Getuid(), Steps: map[string]string{}}
	// A counter in /tmp tells a fresh sandbox from a reused one.
	if b, err := os.ReadFile("/tmp/count"); err == nil {
		r.Count, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	r.Count++
	os.WriteFile("/tmp/count", []byte(strconv.Itoa(r.Count)), 0o600)
	a, ok := attacks[ev.Attack]
	if !ok {
		return r, fmt.Errorf("unknown attack %q", ev.Attack)
	}
	a(ctx, ev, &r)
	return r, nil
}

// ---- files and /proc ----

func tryWrite(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("x")
	return err
}

func attackWrite(_ context.Context, ev event, r *report) { r.step(ev.Path, tryWrite(ev.Path)) }

func openWrite(path string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// attackOpenExe tries to open the binaries behind /proc/self/exe (the
// function's bootstrap) and /proc/1/exe (the sandbox init: ember's own
// binary on the host) for writing.
func attackOpenExe(_ context.Context, _ event, r *report) {
	r.step("/proc/self/exe", openWrite("/proc/self/exe"))
	r.step("/proc/1/exe", openWrite("/proc/1/exe"))
	_, err := os.Readlink("/proc/1/exe")
	r.step("readlink /proc/1/exe", err)
}

func attackInitEnviron(_ context.Context, _ event, r *report) {
	b, err := os.ReadFile("/proc/1/environ")
	r.step("/proc/1/environ", err)
	r.Text = string(bytes.ReplaceAll(b, []byte{0}, []byte{'\n'}))
}

// attackProcInit reaches for the init's root, working directory, file
// descriptors and namespaces through /proc/1.
func attackProcInit(_ context.Context, _ event, r *report) {
	for _, p := range []string{"/proc/1/root", "/proc/1/cwd", "/proc/1/fd"} {
		_, err := os.ReadDir(p)
		r.step("ls "+p, err)
	}
	fd, err := unix.Open("/proc/1/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	r.step("open /proc/1/ns/mnt", err)
	if err == nil {
		unix.Close(fd)
	}
	// setns into the sandbox's own namespace: refused by seccomp.
	if fd, err := unix.Open("/proc/self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		r.Steps["setns /proc/self/ns/net"] = inChild(unix.SYS_SETNS, uintptr(fd), 0)
		unix.Close(fd)
	}
}

// attackFDs lists what the runtime holds: nothing of the host may leak in.
func attackFDs(_ context.Context, _ event, r *report) {
	ents, err := os.ReadDir("/proc/self/fd")
	r.step("ls /proc/self/fd", err)
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			target = errStr(err)
		}
		r.Steps["fd "+e.Name()] = target
	}
	cwd, err := os.Getwd()
	if err != nil {
		cwd = errStr(err)
	}
	r.Steps["cwd"] = cwd
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":\t"); ok && (strings.HasPrefix(k, "Cap") || k == "Seccomp" || k == "NoNewPrivs" || k == "Groups") {
				r.Steps[k] = strings.TrimSpace(v)
			}
		}
	}
}

// ---- leftovers for the next tenant ----

const shmKey = 0x454d4252 // "EMBR"

func attackPlant(_ context.Context, ev event, r *report) {
	for _, p := range []string{"/tmp/secret", "/dev/shm/secret"} {
		r.step(p, os.WriteFile(p, []byte(ev.Secret), 0o644))
	}
	id, err := unix.SysvShmGet(shmKey, 4096, unix.IPC_CREAT|0o666)
	r.step("shmget", err)
	if err != nil {
		return
	}
	mem, err := unix.SysvShmAttach(id, 0, 0)
	r.step("shmat", err)
	if err == nil {
		copy(mem, ev.Secret)
		unix.SysvShmDetach(mem)
	}
}

func attackPeek(_ context.Context, _ event, r *report) {
	for _, p := range []string{"/tmp/secret", "/dev/shm/secret"} {
		if b, err := os.ReadFile(p); err == nil {
			r.Steps[p] = "found: " + string(b)
		} else {
			r.step(p, err)
		}
	}
	if id, err := unix.SysvShmGet(shmKey, 0, 0); err != nil {
		r.step("shmget", err)
	} else if mem, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY); err != nil {
		r.step("shmget", err)
	} else {
		r.Steps["shmget"] = "found: " + string(bytes.TrimRight(mem, "\x00"))
		unix.SysvShmDetach(mem)
	}
	var names []string
	for _, d := range []string{"/tmp", "/dev/shm"} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			names = append(names, d+"/"+e.Name())
		}
	}
	r.Text = strings.Join(names, " ")
}

// attackScratchTrap fills /tmp and /dev/shm with symlinks to ev.Path — a
// path that exists only on the host, so only a host-side walk that
// followed them would reach it — and starts a racer that keeps swapping
// directories for such symlinks, against the host emptying /tmp between
// invocations (filesystem.tmpPersists false).
func attackScratchTrap(_ context.Context, ev event, r *report) {
	for _, d := range []string{"/tmp", "/dev/shm"} {
		r.step("symlink in "+d, os.Symlink(ev.Path, d+"/link"))
		os.MkdirAll(d+"/deep/a/b", 0o755)
		r.step("nested symlink in "+d, os.Symlink(ev.Path, d+"/deep/a/b/link"))
		os.Symlink(ev.Path+"/keep", d+"/deep/a/file-link")
	}
	if os.Getenv("HOSTILE_RACER") == "" {
		os.Setenv("HOSTILE_RACER", "1") // one racer per sandbox
		_, err := startChild("racer", "HOSTILE_TARGET="+ev.Path)
		r.step("start racer", err)
	}
}

// ---- cgroups ----

func attackReleaseAgent(_ context.Context, _ event, r *report) {
	for _, p := range []string{"/sys/fs/cgroup/release_agent", "/sys/fs/cgroup/memory/release_agent", "/sys/fs/cgroup/cgroup.procs"} {
		r.step("write "+p, tryWrite(p))
	}
	r.step("mkdir /sys/fs/cgroup", os.MkdirAll("/sys/fs/cgroup/x", 0o755))
	r.Steps["mount cgroup (v1, memory)"] = inChild(unix.SYS_MOUNT, cstr("cgroup"), cstr("/tmp"), cstr("cgroup"), 0, cstr("memory"))
	r.Steps["mount cgroup (v1, release_agent)"] = inChild(unix.SYS_MOUNT, cstr("cgroup"), cstr("/tmp"), cstr("cgroup"), 0, cstr("rdma,release_agent=/tmp/x"))
	r.Steps["mount cgroup2"] = inChild(unix.SYS_MOUNT, cstr("cgroup2"), cstr("/tmp"), cstr("cgroup2"), 0, 0)
	b, err := os.ReadFile("/proc/self/cgroup")
	r.step("read /proc/self/cgroup", err)
	r.Text = string(b)
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	r.N = int64(strings.Count(string(mi), " - cgroup"))
}

// ---- roles of re-executed children ----

func runRole(role string) {
	switch role {
	case "sleep":
		time.Sleep(time.Minute)
	case "daemon-parent":
		// The first fork: start the daemon in its own session and go.
		if _, err := startChild("daemon"); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	case "racer":
		// Swap directories for symlinks to the host path, as fast as we can.
		target := os.Getenv("HOSTILE_TARGET")
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			for _, d := range []string{"/tmp/race", "/dev/shm/race"} {
				os.MkdirAll(d+"/dir/sub", 0o755)
				os.WriteFile(d+"/dir/sub/f", []byte("x"), 0o644)
				os.Rename(d+"/dir", d+"/old")
				os.Symlink(target, d+"/dir")
				os.Remove(d + "/dir")
				os.RemoveAll(d + "/old")
				if i%8 == 0 {
					os.Rename(d, d+"-moved")
					os.Symlink(target, d)
					os.Remove(d)
					os.RemoveAll(d + "-moved")
				}
			}
		}
	case "daemon":
		unix.Setsid()
		signal.Ignore(syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
		f, err := os.OpenFile("/tmp/daemon-marker", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			os.Exit(1)
		}
		fmt.Fprintf(f, "%d\n", os.Getpid())
		for {
			time.Sleep(200 * time.Millisecond)
			fmt.Fprintf(f, "alive %d\n", time.Now().Unix())
		}
	}
	os.Exit(0)
}

func main() {
	if role := os.Getenv("HOSTILE_ROLE"); role != "" {
		runRole(role)
	}
	lambda.Start(handle)
}
