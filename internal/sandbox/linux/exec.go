//go:build linux

package linux

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockDown applies to the init, before it forks the runtime, in order:
// rlimits, an empty inheritable and ambient capability set (the init keeps
// what it needs to change uid in the child; the uid change clears the
// rest), no_new_privs, Landlock (best effort, this thread: the one that
// forks the runtime) and the seccomp filter (all threads). Everything is
// inherited by the runtime.
func lockDown(noFile int, strict bool) error {
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
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	caps[0].Inheritable, caps[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &caps[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	// Read and execute everywhere, write only to the scratch places (the
	// ruleset was built while the sandbox was generic). On kernels without
	// Landlock this does nothing: the read-only mounts already say the same.
	if err := restrictLandlock(); err != nil {
		return fmt.Errorf("landlock: %w", err)
	}
	if err := loadSeccomp(strict); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}
