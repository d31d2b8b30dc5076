//go:build linux

package linux

import (
	"fmt"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// The Landlock rights the sandbox handles: those of ABI 1 to 5 that the
// kernel knows (best effort: none where it has no Landlock).
const (
	llRead  = ll.AccessFSExecute | ll.AccessFSReadFile | ll.AccessFSReadDir
	llWrite = ll.AccessFSWriteFile | ll.AccessFSRemoveDir | ll.AccessFSRemoveFile | ll.AccessFSMakeChar |
		ll.AccessFSMakeDir | ll.AccessFSMakeReg | ll.AccessFSMakeSock | ll.AccessFSMakeFifo |
		ll.AccessFSMakeBlock | ll.AccessFSMakeSym | ll.AccessFSTruncate
	llFile = ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSTruncate | ll.AccessFSReadFile
)

// llHandled is what ABI abi can restrict, up to ABI 5 (ioctl on devices).
func llHandled(abi int) uint64 {
	h := uint64(llRead | llWrite | ll.AccessFSRefer | ll.AccessFSIoctlDev)
	if abi < 5 {
		h &^= ll.AccessFSIoctlDev
	}
	if abi < 3 {
		h &^= ll.AccessFSTruncate
	}
	if abi < 2 {
		h &^= ll.AccessFSRefer
	}
	return h
}

// landlockRuleset is the ruleset the runtime will run under, built while
// the sandbox is generic (-1: the kernel has no Landlock). Its rules hold
// the sandbox's own /, /tmp, /dev/shm and device nodes, which stay the
// same mounts through specialisation, so at a cold start only the
// restriction itself remains to do (lockDown).
var landlockRuleset = -1

// prepareLandlock builds landlockRuleset: read and execute everywhere,
// write only in the scratch places and to the usual devices. The code and
// runtime mounted later under /var/task and /opt/ember fall under "/".
func prepareLandlock() error {
	abi, err := ll.LandlockGetABIVersion()
	if err != nil || abi < 1 {
		return nil // no Landlock: the read-only mounts already say the same
	}
	handled := llHandled(abi)
	attr := ll.RulesetAttr{HandledAccessFS: handled}
	fd, err := ll.LandlockCreateRuleset(&attr, 0)
	if err != nil {
		return fmt.Errorf("landlock_create_ruleset: %w", err)
	}
	rules := []struct {
		access uint64
		paths  []string
	}{
		{llRead, []string{"/"}},
		{llRead | llWrite, []string{"/tmp", "/dev/shm"}},
		{llFile | ll.AccessFSIoctlDev, []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}},
	}
	for _, r := range rules {
		for _, p := range r.paths {
			if err := addPathRule(fd, p, r.access&handled); err != nil {
				unix.Close(fd)
				return err
			}
		}
	}
	landlockRuleset = fd
	return nil
}

func addPathRule(ruleset int, path string, access uint64) error {
	f, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("landlock rule for %s: %w", path, err)
	}
	defer unix.Close(f)
	if err := ll.LandlockAddPathBeneathRule(ruleset, &ll.PathBeneathAttr{AllowedAccess: access, ParentFd: f}, 0); err != nil {
		return fmt.Errorf("landlock rule for %s: %w", path, err)
	}
	return nil
}

// restrictLandlock puts the calling thread — the one that forks the
// runtime, which inherits it — under landlockRuleset (no_new_privs must be
// set already).
func restrictLandlock() error {
	if landlockRuleset < 0 {
		return nil
	}
	err := ll.LandlockRestrictSelf(landlockRuleset, 0)
	unix.Close(landlockRuleset)
	landlockRuleset = -1
	if err != nil {
		return fmt.Errorf("landlock_restrict_self: %w", err)
	}
	return nil
}
