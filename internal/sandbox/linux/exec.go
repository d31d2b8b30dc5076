//go:build linux

package linux

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
	"golang.org/x/sys/unix"
)

// execMain is the exec stage: it starts as the tenant's uid with no
// capabilities, locks itself down and becomes the runtime. It never returns.
func execMain() {
	status := os.NewFile(execStatusFD, "status")
	fail := func(format string, args ...any) {
		fmt.Fprintf(status, format, args...)
		os.Exit(127)
	}
	var cfg execConfig
	f := os.NewFile(execConfigFD, "config")
	if err := json.NewDecoder(f).Decode(&cfg); err != nil {
		fail("read exec config: %v", err)
	}
	f.Close()
	// The status pipe closes itself on a successful execve.
	if _, err := unix.FcntlInt(execStatusFD, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		fail("status fd: %v", err)
	}
	if err := lockDown(cfg.NoFile); err != nil {
		fail("%v", err)
	}
	// Every fd above 2 (the Go runtime's own, the status pipe) closes on
	// exec; the runtime starts with stdin, stdout and stderr only.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fail("close_range: %v", err)
	}
	if err := unix.Chdir("/var/task"); err != nil {
		fail("chdir /var/task: %v", err)
	}
	err := syscall.Exec(cfg.Argv[0], cfg.Argv, cfg.Env)
	fail("exec %s: %v", cfg.Argv[0], err)
}

// lockDown applies, in order, rlimits, an empty capability set,
// no_new_privs, Landlock (best effort) and the seccomp filter.
func lockDown(noFile int) error {
	// syscall.Setrlimit, not unix: it also stops the Go runtime from
	// restoring its original NOFILE limit on exec.
	if err := syscall.Setrlimit(unix.RLIMIT_NOFILE, &syscall.Rlimit{Cur: uint64(noFile), Max: uint64(noFile)}); err != nil {
		return fmt.Errorf("rlimit nofile: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("rlimit core: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	if err := unix.Capset(&hdr, &none[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	// Read and execute everywhere, write only to the scratch places. On
	// kernels without Landlock this does nothing: the read-only mounts
	// already say the same.
	err := landlock.V5.BestEffort().RestrictPaths(
		landlock.RODirs("/"),
		landlock.RWDirs("/tmp", "/dev/shm"),
		landlock.RWFiles("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom").WithIoctlDev(),
	)
	if err != nil {
		return fmt.Errorf("landlock: %w", err)
	}
	if err := loadSeccomp(); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}
