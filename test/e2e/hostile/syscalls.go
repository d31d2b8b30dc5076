package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// System calls the seccomp filter, the missing capabilities or the
// namespaces must refuse.

// inChild runs one system call in a forked, single-threaded child and
// reports its outcome: namespace and credential calls act on the calling
// thread (unshare(CLONE_NEWUSER) even refuses a multi-threaded caller), and
// a Go process has many threads.
func inChild(trap uintptr, a ...uintptr) string {
	var args [6]uintptr
	copy(args[:], a)
	pid, e := forkCall(trap, &args)
	if e != 0 {
		return "fork: " + errStr(e)
	}
	return reapChild(pid)
}

func reapChild(pid int) string {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	switch {
	case ws.Signaled():
		return "signal: " + ws.Signal().String()
	case ws.ExitStatus() == 0:
		return "ok"
	default:
		return errStr(syscall.Errno(ws.ExitStatus()))
	}
}

// forkCall forks; the child makes the system call and exits with its errno.
// The child runs only raw system calls: nothing of the Go runtime.
//
//go:nosplit
//go:norace
func forkCall(trap uintptr, a *[6]uintptr) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	if r == 0 {
		_, _, e := syscall.RawSyscall6(trap, a[0], a[1], a[2], a[3], a[4], a[5])
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, uintptr(e), 0, 0)
	}
	return int(r), 0
}

// cloneExit clones with flags; a child that is born exits at once.
//
//go:nosplit
//go:norace
func cloneExit(flags uintptr) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, flags|uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	if r == 0 {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
	return int(r), 0
}

// clone3Exit is cloneExit through clone3, whose flags travel in memory.
//
//go:nosplit
//go:norace
func clone3Exit(args *[11]uint64) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(args)), 88, 0)
	if e != 0 {
		return 0, e
	}
	if r == 0 {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
	return int(r), 0
}

// pinned keeps what raw system call arguments point to on the heap and
// alive: a uintptr is no reference, and a stack object may move.
var pinned []unsafe.Pointer

func pin(p unsafe.Pointer) uintptr {
	pinned = append(pinned, p)
	return uintptr(p)
}

func cstr(s string) uintptr {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	return pin(unsafe.Pointer(p))
}

func attackUnshare(_ context.Context, _ event, r *report) {
	for name, flag := range map[string]uintptr{
		"CLONE_NEWUSER": unix.CLONE_NEWUSER, "CLONE_NEWNS": unix.CLONE_NEWNS,
		"CLONE_NEWNET": unix.CLONE_NEWNET, "CLONE_NEWPID": unix.CLONE_NEWPID,
	} {
		r.Steps["unshare("+name+")"] = inChild(unix.SYS_UNSHARE, flag)
	}
}

func attackCloneNewUser(_ context.Context, _ event, r *report) {
	for name, flags := range map[string]uintptr{
		"clone(CLONE_NEWUSER)":             unix.CLONE_NEWUSER,
		"clone(CLONE_NEWUSER|CLONE_NEWNS)": unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		"clone(CLONE_NEWPID)":              unix.CLONE_NEWPID,
	} {
		pid, e := cloneExit(flags)
		if e != 0 {
			r.step(name, e)
			continue
		}
		r.Steps[name] = "ok, child " + reapChild(pid)
	}
	var args [11]uint64
	args[0], args[4] = unix.CLONE_NEWUSER, uint64(syscall.SIGCHLD) // flags, exit_signal
	pid, e := clone3Exit(&args)
	if e != 0 {
		r.step("clone3(CLONE_NEWUSER)", e)
	} else {
		r.Steps["clone3(CLONE_NEWUSER)"] = "ok, child " + reapChild(pid)
	}
}

func attackMount(_ context.Context, _ event, r *report) {
	r.Steps["mount tmpfs on /tmp"] = inChild(unix.SYS_MOUNT, cstr("tmpfs"), cstr("/tmp"), cstr("tmpfs"), 0, 0)
	r.Steps["mount proc on /tmp"] = inChild(unix.SYS_MOUNT, cstr("proc"), cstr("/tmp"), cstr("proc"), 0, 0)
	r.Steps["remount /var/task rw"] = inChild(unix.SYS_MOUNT, 0, cstr("/var/task"), 0, unix.MS_REMOUNT|unix.MS_BIND, 0)
	r.Steps["umount /var/task"] = inChild(unix.SYS_UMOUNT2, cstr("/var/task"), unix.MNT_DETACH)
	r.Steps["fsopen tmpfs"] = inChild(unix.SYS_FSOPEN, cstr("tmpfs"), 0)
	r.Steps["open_tree /"] = inChild(unix.SYS_OPEN_TREE, ^uintptr(99), cstr("/"), unix.OPEN_TREE_CLONE) // AT_FDCWD
}

func rawFD(name string, r *report, trap uintptr, a ...uintptr) {
	var args [6]uintptr
	copy(args[:], a)
	fd, _, e := syscall.Syscall6(trap, args[0], args[1], args[2], args[3], args[4], args[5])
	if e == 0 {
		unix.Close(int(fd))
	}
	r.step(name, errno(e))
}

func attackIOURing(_ context.Context, _ event, r *report) {
	params := pin(unsafe.Pointer(new([120]byte))) // struct io_uring_params
	rawFD("io_uring_setup", r, unix.SYS_IO_URING_SETUP, 8, params)
	rawFD("io_uring_register", r, unix.SYS_IO_URING_REGISTER, ^uintptr(0), 0, 0, 0)
	rawFD("userfaultfd", r, unix.SYS_USERFAULTFD, unix.O_CLOEXEC)
}

// startChild re-executes this binary in a role (see main) as a child.
func startChild(role string, extra ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Args[0] = "hostile-" + role
	cmd.Env = append(os.Environ(), "HOSTILE_ROLE="+role)
	cmd.Env = append(cmd.Env, extra...)
	return cmd, cmd.Start()
}

func attackPtrace(_ context.Context, _ event, r *report) {
	child, err := startChild("sleep")
	r.step("start sibling", err)
	if err != nil {
		return
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	pid := child.Process.Pid
	rawFD("ptrace(PTRACE_ATTACH)", r, unix.SYS_PTRACE, unix.PTRACE_ATTACH, uintptr(pid))
	rawFD("ptrace(PTRACE_SEIZE)", r, unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid))
	rawFD("ptrace(PTRACE_TRACEME)", r, unix.SYS_PTRACE, unix.PTRACE_TRACEME)
	buf := make([]byte, 16)
	_, err = unix.ProcessVMReadv(pid, []unix.Iovec{{Base: &buf[0], Len: 16}}, []unix.RemoteIovec{{Base: 0x400000, Len: 16}}, 0)
	r.step("process_vm_readv", err)
	if pfd, err := unix.PidfdOpen(pid, 0); err == nil {
		fd, err := unix.PidfdGetfd(pfd, 0, 0)
		if err == nil {
			unix.Close(fd)
		}
		r.step("pidfd_getfd", err)
		unix.Close(pfd)
	}
}

func attackKeyctl(_ context.Context, _ event, r *report) {
	sessionKeyring := ^uintptr(2) // KEY_SPEC_SESSION_KEYRING (-3)
	rawFD("keyctl(KEYCTL_GET_KEYRING_ID)", r, unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, sessionKeyring, 1)
	rawFD("keyctl(KEYCTL_JOIN_SESSION_KEYRING)", r, unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0)
	rawFD("add_key", r, unix.SYS_ADD_KEY, cstr("user"), cstr("k"), cstr("v"), 1, sessionKeyring)
	rawFD("request_key", r, unix.SYS_REQUEST_KEY, cstr("user"), cstr("k"), 0, sessionKeyring)
}

func attackBPF(_ context.Context, _ event, r *report) {
	// BPF_MAP_CREATE, array map: key 4, value 4, 1 entry.
	attr := new([18]uint32) // union bpf_attr, 72 bytes
	attr[0], attr[1], attr[2], attr[3] = 2, 4, 4, 1
	p := pin(unsafe.Pointer(attr))
	rawFD("bpf(BPF_MAP_CREATE)", r, unix.SYS_BPF, unix.BPF_MAP_CREATE, p, 72)
	rawFD("bpf(BPF_PROG_LOAD)", r, unix.SYS_BPF, unix.BPF_PROG_LOAD, p, 72)
}

func attackPerf(_ context.Context, _ event, r *report) {
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK}
	attr.Size = uint32(unsafe.Sizeof(attr))
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err == nil {
		unix.Close(fd)
	}
	r.step("perf_event_open(self)", err)
	fd, err = unix.PerfEventOpen(&attr, -1, 0, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err == nil {
		unix.Close(fd)
	}
	r.step("perf_event_open(all, cpu 0)", err)
}

func attackTIOCSTI(_ context.Context, _ event, r *report) {
	p := pin(unsafe.Pointer(&[]byte{'x'}[0]))
	for _, fd := range []uintptr{0, 1, 2} {
		_, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, unix.TIOCSTI, p)
		r.step(fmt.Sprintf("ioctl(%d, TIOCSTI)", fd), errno(e))
	}
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, 0, 1<<32|unix.TIOCSTI, p)
	r.step("ioctl(0, 1<<32|TIOCSTI)", errno(e))
	_, _, e = syscall.Syscall(syscall.SYS_IOCTL, 0, unix.TIOCLINUX, p)
	r.step("ioctl(0, TIOCLINUX)", errno(e))
	r.step("open /dev/tty", openWrite("/dev/tty"))
}

// attackKillAll sends SIGKILL to every process it may signal. Linux spares
// the caller, so the function answers; its own children die.
func attackKillAll(_ context.Context, _ event, r *report) {
	var kids []*exec.Cmd
	for range 2 {
		if c, err := startChild("sleep"); err == nil {
			kids = append(kids, c)
		}
	}
	_, _, e := syscall.RawSyscall(syscall.SYS_KILL, ^uintptr(0), uintptr(syscall.SIGKILL), 0)
	r.step("kill(-1, SIGKILL)", errno(e))
	for i, c := range kids {
		err := c.Wait()
		r.Steps[fmt.Sprintf("child %d", i)] = errStr(err)
	}
}

// attackKillGroup kills its own process group: the runtime dies.
func attackKillGroup(context.Context, event, *report) {
	syscall.Kill(0, syscall.SIGKILL)
	time.Sleep(time.Second)
}

func attackSetuid(_ context.Context, _ event, r *report) {
	r.Steps["setuid(0)"] = inChild(unix.SYS_SETUID, 0)
	r.Steps["setresuid(0,0,0)"] = inChild(unix.SYS_SETRESUID, 0, 0, 0)
	r.Steps["setgid(0)"] = inChild(unix.SYS_SETGID, 0)
	r.Steps["setgroups([0])"] = inChild(unix.SYS_SETGROUPS, 1, pin(unsafe.Pointer(new(uint32))))
	// Full capability sets for this process.
	hdr := &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := &[2]unix.CapUserData{{Effective: ^uint32(0), Permitted: ^uint32(0)}, {Effective: ^uint32(0), Permitted: ^uint32(0)}}
	r.Steps["capset(all)"] = inChild(unix.SYS_CAPSET, pin(unsafe.Pointer(hdr)), pin(unsafe.Pointer(data)))
}

func attackChroot(_ context.Context, _ event, r *report) {
	r.Steps["chroot(/tmp)"] = inChild(unix.SYS_CHROOT, cstr("/tmp"))
}

func attackRawSocket(_ context.Context, _ event, r *report) {
	for _, s := range []struct {
		name           string
		domain, typ, p int
	}{
		{"AF_INET SOCK_RAW", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP},
		{"AF_INET6 SOCK_RAW", unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6},
		{"AF_INET SOCK_RAW IPPROTO_RAW", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW},
		{"AF_PACKET", unix.AF_PACKET, unix.SOCK_RAW, 0x0300}, // htons(ETH_P_ALL)
		{"AF_NETLINK", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE},
		{"AF_INET ping (ICMP datagram)", unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP},
	} {
		fd, err := unix.Socket(s.domain, s.typ|unix.SOCK_CLOEXEC, s.p)
		if err == nil {
			unix.Close(fd)
		}
		r.step(s.name, err)
	}
}

// attackIA32 makes calls through the 32-bit (int 0x80) and x32 system call
// ABIs, whose numbers differ from x86_64's: a filter that did not check
// the architecture would let i386 clone (120 = x86_64 getresgid) through.
// Kernels without IA32 emulation answer int 0x80 with a fault.
func attackIA32(_ context.Context, _ event, r *report) {
	if runtime.GOARCH != "amd64" {
		return
	}
	int32call := func(name string, trap, a1, a2 uintptr, childExit bool) (ret int32) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if recover() != nil {
				r.Steps[name] = "SIGSEGV"
				ret = 0
			}
		}()
		ret = int32(int80(trap, a1, a2, 0, childExit))
		if ret < 0 {
			r.step(name, syscall.Errno(-ret))
		} else {
			r.Steps[name] = "ok"
		}
		return ret
	}
	int32call("int80 getpid", 20, 0, 0, false)
	if pid := int32call("int80 clone(CLONE_NEWUSER)", 120, unix.CLONE_NEWUSER|uintptr(syscall.SIGCHLD), 0, true); pid > 0 {
		syscall.Wait4(int(pid), nil, 0, nil)
	}
	int32call("int80 keyctl(GET_KEYRING_ID)", 288, unix.KEYCTL_GET_KEYRING_ID, ^uintptr(2), false)
	_, _, e := syscall.RawSyscall(0x40000000|syscall.SYS_GETPID, 0, 0, 0)
	r.step("x32 getpid", errno(e))
}
