//go:build linux

package linux

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RunInit runs the sandbox init and never returns. Call
// it first thing in main when IsInit reports true.
func RunInit() {
	// Namespace, capability and fork operations below act on the calling
	// thread; keep them all on one.
	runtime.LockOSThread()
	if !IsInit() {
		fmt.Fprintln(os.Stderr, errNotInit)
		os.Exit(2)
	}
	os.Exit(initMain())
}

// initMain is PID 1 of a sandbox.
func initMain() int {
	ctl, err := newCtlConn(os.NewFile(initCtlFD, "ctl"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox init:", err)
		return 1
	}
	fail := func(err error) int {
		ctl.send(message{Type: msgError, Error: err.Error()})
		return 1
	}
	// Wait until the host has put us in the cgroup.
	m, fds, err := ctl.recv()
	closeAll(fds)
	if err != nil {
		return 1
	}
	if m.Type != msgSetup {
		return fail(fmt.Errorf("expected %q, got %q", msgSetup, m.Type))
	}
	if err := setup(m.Root); err != nil {
		return fail(err)
	}
	if err := prepareSeccomp(); err != nil {
		return fail(err)
	}
	if err := prepareLandlock(); err != nil {
		return fail(err)
	}
	if err := ctl.send(message{Type: msgReady}); err != nil {
		return 1
	}

	m, fds, err = ctl.recv()
	if err != nil {
		return 1
	}
	if m.Type != msgStart || m.Start == nil {
		closeAll(fds)
		return fail(fmt.Errorf("expected %q, got %q", msgStart, m.Type))
	}
	exts := make(map[int]string) // pid → path of the extensions started
	child, err := specialise(m.Start, fds, exts)
	closeAll(fds)
	if err != nil {
		return fail(err)
	}
	if err := ctl.send(message{Type: msgStarted}); err != nil {
		return 1
	}
	ws := reap(child, func(pid int, ws unix.WaitStatus) {
		if path, ok := exts[pid]; ok {
			ctl.send(exitMessage(msgExtExit, path, ws))
		}
	})
	ctl.send(exitMessage(msgExit, "", ws))
	// Returning ends PID 1, and the kernel kills whatever is left in the
	// pid namespace.
	return 0
}

func exitMessage(typ, path string, ws unix.WaitStatus) message {
	m := message{Type: typ, Path: path}
	if ws.Signaled() {
		m.Signal = int(ws.Signal())
	} else {
		m.Code = ws.ExitStatus()
	}
	return m
}

// setup turns the freshly cloned init into a generic sandbox.
func setup(root string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	// The init joined its cgroup after the clone; root the cgroup namespace
	// there so /proc/self/cgroup shows nothing of the host.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("unshare cgroup namespace: %w", err)
	}
	if err := unix.Sethostname([]byte("sandbox")); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	if err := buildRoot(root); err != nil {
		return err
	}
	// The function's /tmp, sized when the sandbox is specialised.
	if err := unix.Mount("tmpfs", "/tmp", "tmpfs", msSafe, "size=512m,mode=1777"); err != nil {
		return fmt.Errorf("mount /tmp: %w", err)
	}
	return nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// specialise mounts the tenant's directories, drops the bounding set and
// starts the extensions (recorded in exts) and the runtime; it returns the
// runtime's pid once its execve succeeded.
func specialise(st *startSpec, fds []int, exts map[int]string) (int, error) {
	want := 1
	if st.HasRuntime {
		want = 2
	}
	if len(fds) != want {
		return 0, fmt.Errorf("start: got %d mount fds, want %d", len(fds), want)
	}
	if err := attach(fds[0], "/var/task"); err != nil {
		return 0, err
	}
	if st.HasRuntime {
		if err := attach(fds[1], "/opt/ember"); err != nil {
			return 0, err
		}
	}
	// /tmp was mounted while generic (its Landlock rule names it): size it.
	if err := unix.Mount("", "/tmp", "", unix.MS_REMOUNT|msSafe, fmt.Sprintf("size=%dm", st.TmpMB)); err != nil {
		return 0, fmt.Errorf("size /tmp: %w", err)
	}
	if err := writeUsers(st.UID, st.GID); err != nil {
		return 0, err
	}
	// The output pipes were made by root with mode 0600: hand them to the
	// tenant so that reopening /dev/stdout (/proc/self/fd/1) works.
	for _, fd := range []int{initStdoutFD, initStderrFD} {
		if err := unix.Fchown(fd, st.UID, st.GID); err != nil {
			return 0, fmt.Errorf("chown output pipe: %w", err)
		}
	}
	if err := dropBoundingSet(); err != nil {
		return 0, err
	}
	return spawn(st, exts)
}

func writeUsers(uid, gid int) error {
	if err := remountRoot(false); err != nil {
		return err
	}
	if err := os.WriteFile("/etc/passwd", []byte(passwd(uid, gid)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile("/etc/group", []byte(group(gid)), 0o644); err != nil {
		return err
	}
	return remountRoot(true)
}

// dropBoundingSet empties this thread's capability bounding set, so nothing
// it starts can ever regain a capability (the runtime is forked from
// this same, locked, thread).
func dropBoundingSet() error {
	last := 63
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	return nil
}

// spawn locks the init down — rlimits, no_new_privs, an empty inheritable
// set, Landlock and the seccomp filter, all inherited by what it forks — and
// starts the runtime directly as the tenant's uid. The kernel clears every
// capability at the uid change and the empty bounding set with
// no_new_privs keeps exec from granting any back. No second Go process
// starts on this path: a cold start pays one runtime exec, not two.
// Extensions are started the same way just before the runtime; their pids
// go to exts.
func spawn(st *startSpec, exts map[int]string) (int, error) {
	devNull, err := os.Open("/dev/null")
	if err != nil {
		return 0, err
	}
	defer devNull.Close()
	if err := lockDown(st.NoFile, st.Strict); err != nil {
		return 0, err
	}
	// Nothing of the init's (control socket, host handles) may reach the
	// runtime: mark every fd above 2 close-on-exec.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return 0, fmt.Errorf("close_range: %w", err)
	}
	attr := &syscall.ProcAttr{
		Dir:   "/var/task",
		Env:   st.Env,
		Files: []uintptr{devNull.Fd(), initStdoutFD, initStderrFD},
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(st.UID), Gid: uint32(st.GID), Groups: []uint32{}},
			Setsid:     true,
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	for _, path := range st.Extensions {
		pid, err := forkExec(path, []string{path}, attr)
		if err != nil {
			return 0, fmt.Errorf("exec extension %s: %w", path, err)
		}
		exts[pid] = path
	}
	pid, err := forkExec(st.Argv[0], st.Argv, attr)
	if err != nil {
		return 0, fmt.Errorf("exec %s: %w", st.Argv[0], err)
	}
	// Only the runtime holds the output pipes from now on.
	unix.Close(initStdoutFD)
	unix.Close(initStderrFD)
	return pid, nil
}

func forkExec(argv0 string, argv []string, attr *syscall.ProcAttr) (int, error) {
	pid, err := syscall.ForkExec(argv0, argv, attr)
	// ETXTBSY: a freshly extracted bootstrap can still be open for writing
	// in a process the host forked at that instant (a fork copies every fd
	// until its exec closes them). The window is short: retry.
	for i := 0; errors.Is(err, syscall.ETXTBSY) && i < 50; i++ {
		time.Sleep(2 * time.Millisecond)
		pid, err = syscall.ForkExec(argv0, argv, attr)
	}
	return pid, err
}

// reap waits for children until the runtime exits, reaping the orphans
// that the pid namespace hands to PID 1 and passing every other child's
// end to other.
func reap(child int, other func(pid int, ws unix.WaitStatus)) unix.WaitStatus {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return unix.WaitStatus(0x7f00) // ECHILD: cannot happen while the runtime lives
		}
		if pid == child {
			return ws
		}
		other(pid, ws)
	}
}
