//go:build linux

package linux

import (
	"fmt"
	"slices"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// allowed are the system calls a runtime (python3, node, Go binaries,
// /bin/sh and the usual tools) gets without conditions. Everything else is
// refused with EPERM. Deliberately absent: io_uring_*, userfaultfd, bpf,
// perf_event_open, keyctl/add_key/request_key, unshare, setns, the mount
// family (mount, umount2, pivot_root, open_tree, move_mount, fsopen,
// fsmount, fsconfig, fspick, mount_setattr), chroot, ptrace,
// process_vm_readv/writev, process_madvise, pidfd_getfd, kcmp, kexec_*,
// the module calls, reboot, swapon/off, acct, settimeofday, clock_settime,
// clock_adjtime, adjtimex, syslog, quotactl, lookup_dcookie, ioperm, iopl,
// modify_ldt, open_by_handle_at, name_to_handle_at, fanotify_init,
// vhangup, the AIO calls, memfd_secret, statmount/listmount,
// move_pages/migrate_pages and get_robust_list.
var allowed = []string{
	// files and directories
	"read", "write", "open", "openat", "openat2", "creat", "close", "close_range",
	"pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2",
	"lseek", "dup", "dup2", "dup3", "fcntl", "flock", "fsync", "fdatasync", "sync",
	"syncfs", "sync_file_range", "fadvise64", "fallocate", "ftruncate", "truncate", "readahead",
	"stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64",
	"mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
	"link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2",
	"chown", "fchown", "lchown", "fchownat", "umask", "utime", "utimes", "utimensat", "futimesat",
	"chdir", "fchdir", "getcwd", "mknod", "mknodat", "pipe", "pipe2",
	"sendfile", "splice", "tee", "vmsplice", "copy_file_range", "cachestat",
	"getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
	"setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
	"getxattrat", "setxattrat", "listxattrat", "removexattrat",
	"inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	"memfd_create",
	// memory
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore",
	"mlock", "mlock2", "munlock", "mlockall", "munlockall", "mbind", "get_mempolicy",
	"set_mempolicy", "set_mempolicy_home_node", "pkey_alloc", "pkey_free", "pkey_mprotect",
	"membarrier", "mseal", "map_shadow_stack",
	// processes and threads (clone is filtered below)
	"execve", "execveat", "exit", "exit_group", "wait4", "waitid", "fork", "vfork",
	"getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
	"getresuid", "getresgid", "setuid", "setgid", "setreuid", "setregid", "setresuid",
	"setresgid", "setfsuid", "setfsgid", "setgroups", "capget", "capset",
	"setsid", "setpgid", "getpgid", "getpgrp", "getsid",
	"getrlimit", "setrlimit", "prlimit64", "getrusage", "times",
	"arch_prctl", "prctl", "set_tid_address", "set_robust_list", "rseq",
	"futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
	"sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
	"sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max",
	"sched_get_priority_min", "sched_rr_get_interval", "sched_getattr", "sched_setattr",
	"getpriority", "setpriority", "ioprio_get", "ioprio_set", "getcpu",
	"seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
	"pidfd_open", "pidfd_send_signal",
	// signals
	"kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
	"rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend", "rt_sigqueueinfo",
	"rt_tgsigqueueinfo", "sigaltstack", "pause", "restart_syscall",
	"signalfd", "signalfd4",
	// time
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"alarm", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
	"timer_getoverrun", "timer_delete", "timerfd_create", "timerfd_settime", "timerfd_gettime",
	// polling
	"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
	// sockets (socket and socketpair are filtered below)
	"bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
	"setsockopt", "getsockopt",
	// System V and POSIX IPC (the ipc namespace is the sandbox's own)
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
	"msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
	"mq_timedreceive", "mq_notify", "mq_getsetattr",
	// system information
	"uname", "sysinfo", "getrandom",
}

// strictDenied are the calls the strict profile takes away from allowed:
// serving sockets, System V and POSIX IPC, fileless execution
// (memfd_create, execveat), device nodes, memory locking and NUMA policy,
// scheduling and I/O priority changes,
// pidfds, page splicing from user memory (vmsplice) and whole-filesystem
// syncs. Ordinary runtimes (python, node, Go) run without them; code that
// listens, forks servers or tunes the scheduler does not. (Identity calls
// stay: the init drops to the tenant's uid after the filter is loaded,
// and without capabilities they can change nothing anyway.)
var strictDenied = []string{
	"bind", "listen", "accept", "accept4",
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
	"msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
	"mq_timedreceive", "mq_notify", "mq_getsetattr",
	"memfd_create", "execveat", "mknod", "mknodat",
	"mlock", "mlock2", "munlock", "mlockall", "munlockall", "mbind", "set_mempolicy",
	"set_mempolicy_home_node", "migrate_pages",
	"sched_setaffinity", "sched_setparam", "sched_setscheduler", "sched_setattr",
	"setpriority", "ioprio_set",
	"pidfd_open", "pidfd_send_signal", "vmsplice", "sync", "syncfs",
}

// nsFlags are the clone flags that would make new namespaces.
const nsFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// errnoENOSYS makes clone3 look unimplemented, so libc falls back to clone,
// whose flags (in a register, unlike clone3's struct) can be checked.
const errnoENOSYS = seccomp.ActionErrno | seccomp.Action(unix.ENOSYS)

func seccompPolicy(strict bool) seccomp.Policy {
	cond := func(name string, cs ...seccomp.Condition) seccomp.NameWithConditions {
		return seccomp.NameWithConditions{Name: name, Conditions: cs}
	}
	eq := func(arg uint32, v uint64) seccomp.Condition {
		return seccomp.Condition{Argument: arg, Operation: seccomp.Equal, Value: v}
	}
	var filtered []seccomp.NameWithConditions
	filtered = append(filtered,
		cond("clone", seccomp.Condition{Argument: 0, Operation: seccomp.BitsNotSet, Value: nsFlags}),
		// ioctl's request is 32 bits to the kernel: insist the upper half
		// is clear so TIOCSTI cannot hide behind it.
		cond("ioctl",
			seccomp.Condition{Argument: 1, Operation: seccomp.LessOrEqual, Value: 0xffffffff},
			seccomp.Condition{Argument: 1, Operation: seccomp.NotEqual, Value: unix.TIOCSTI},
			seccomp.Condition{Argument: 1, Operation: seccomp.NotEqual, Value: unix.TIOCLINUX},
		),
	)
	for _, af := range []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6} {
		filtered = append(filtered, cond("socket", eq(0, af)))
	}
	filtered = append(filtered, cond("socketpair", eq(0, unix.AF_UNIX)))
	// personality: query, Linux, and the flags glibc and setarch use harmlessly.
	personas := []uint64{0, 0x0008, 0x20000, 0x20008, 0xffffffff}
	names := allowed
	if strict {
		personas = []uint64{0xffffffff} // query only
		names = slices.DeleteFunc(slices.Clone(allowed), func(n string) bool { return slices.Contains(strictDenied, n) })
	}
	for _, p := range personas {
		filtered = append(filtered, cond("personality", eq(0, p)))
	}
	return seccomp.Policy{
		DefaultAction: seccomp.ActionErrno, // EPERM
		Syscalls: []seccomp.SyscallGroup{
			{Names: []string{"clone3"}, Action: errnoENOSYS},
			{Names: names, NamesWithCondtions: filtered, Action: seccomp.ActionAllow},
		},
	}
}

// seccompPrograms are the filters (default and strict), assembled once per
// init while the sandbox is still generic (in the warming pool), so Start
// only loads one. The init is a process of its own: this is its state,
// not the server's.
var seccompPrograms [2][]unix.SockFilter

// prepareSeccomp assembles both filters ahead of Start.
func prepareSeccomp() error {
	for i, strict := range []bool{false, true} {
		policy := seccompPolicy(strict)
		insts, err := policy.Assemble()
		if err != nil {
			return fmt.Errorf("assemble policy: %w", err)
		}
		raw, err := bpf.Assemble(insts)
		if err != nil {
			return fmt.Errorf("assemble BPF: %w", err)
		}
		prog := make([]unix.SockFilter, len(raw))
		for j, r := range raw {
			prog[j] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
		}
		seccompPrograms[i] = prog
	}
	return nil
}

// loadSeccomp installs the default or strict filter on every thread (TSYNC).
func loadSeccomp(strict bool) error {
	if seccompPrograms[0] == nil {
		if err := prepareSeccomp(); err != nil {
			return err
		}
	}
	program := seccompPrograms[0]
	if strict {
		program = seccompPrograms[1]
	}
	prog := unix.SockFprog{Len: uint16(len(program)), Filter: &program[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return fmt.Errorf("load filter: %w", errno)
	}
	if r != 0 {
		return fmt.Errorf("load filter: thread %d could not be synchronised", r)
	}
	return nil
}
