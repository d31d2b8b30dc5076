package policy

import (
	"errors"
	"fmt"
)

// Sentinel errors. Messages after the prefix are meant for the API caller.
var (
	ErrInvalid = errors.New("policy: invalid")
	ErrWidens  = errors.New("policy: request would widen the function's policy")
)

// NetworkMode says whether a sandbox has a network at all.
type NetworkMode string

// Network modes, tightest first.
const (
	// NetworkNone gives the sandbox no network interface but loopback.
	NetworkNone NetworkMode = "none"
	// NetworkAllowlist routes the sandbox's traffic through the egress
	// proxy, which lets through only the destinations in the allow-list.
	NetworkAllowlist NetworkMode = "allowlist"
)

// Syscalls names the seccomp profile of a sandbox.
type Syscalls string

// Syscall profiles, tightest first.
const (
	SyscallsStrict  Syscalls = "strict"
	SyscallsDefault Syscalls = "default"
)

// Isolation says whether a sandbox may serve more than one invocation.
type Isolation string

// Isolation levels, tightest first.
const (
	// IsolationFresh runs every invocation in a sandbox nobody used before.
	IsolationFresh Isolation = "fresh"
	// IsolationReuse lets a warm sandbox serve the function's next
	// invocation, as Lambda does.
	IsolationReuse Isolation = "reuse"
)

// Policy is a policy document as its owner writes it, or a request-time
// fragment of one. A nil pointer is a field the document leaves out, so a
// fragment can say "inherit" apart from any value; Resolve fills the
// gaps. Marshalled, a Policy omits what is absent.
type Policy struct {
	Network    *Network    `json:"network,omitempty"`
	Filesystem *Filesystem `json:"filesystem,omitempty"`
	Syscalls   *Syscalls   `json:"syscalls,omitempty"`
	Limits     *Limits     `json:"limits,omitempty"`
	Isolation  *Isolation  `json:"isolation,omitempty"`
}

// Network is the "network" object of a Policy.
type Network struct {
	Mode *NetworkMode `json:"mode,omitempty"`
	// Allow holds entries in ParseRule's syntax. Only an allowlist
	// document may have any, and it must have at least one.
	Allow []string `json:"allow,omitempty"`
	// MaxConnections caps the sandbox's concurrent proxied connections.
	MaxConnections *int `json:"maxConnections,omitempty"`
	// MaxBytes caps the bytes proxied in both directions per invocation.
	MaxBytes *int64 `json:"maxBytes,omitempty"`
}

// Filesystem is the "filesystem" object of a Policy.
type Filesystem struct {
	// TmpMB is the size of /tmp in MiB.
	TmpMB *int `json:"tmpMB,omitempty"`
	// TmpPersists keeps /tmp from one invocation to the next in a reused
	// sandbox; false wipes it after every invocation.
	TmpPersists *bool `json:"tmpPersists,omitempty"`
}

// Limits is the "limits" object of a Policy.
type Limits struct {
	Pids        *int   `json:"pids,omitempty"`
	OpenFiles   *int   `json:"openFiles,omitempty"`
	OutputBytes *int64 `json:"outputBytes,omitempty"`
}

// MaxDocument is the largest policy document, in bytes, Parse accepts.
const MaxDocument = 64 << 10

// Bounds of a valid document.
const (
	maxAllow     = 256
	kib, mib     = 1 << 10, 1 << 20
	gib          = 1 << 30
	minConns     = 1
	maxConns     = 1024
	minBytes     = kib
	maxBytes     = 10 * gib
	minTmpMB     = 1
	maxTmpMB     = 10240
	minPids      = 16
	maxPids      = 4096
	minOpenFiles = 64
	maxOpenFiles = 65536
	minOutput    = kib
	maxOutput    = gib
)

// Validate checks every field that is present and reports the first that
// is wrong, naming it by its path in the document. The error wraps
// ErrInvalid.
func (p *Policy) Validate() error {
	if p == nil {
		return nil
	}
	if n := p.Network; n != nil {
		if err := n.validate(); err != nil {
			return err
		}
	}
	if f := p.Filesystem; f != nil {
		if err := checkRange("filesystem.tmpMB", f.TmpMB, minTmpMB, maxTmpMB); err != nil {
			return err
		}
	}
	if p.Syscalls != nil && rankSyscalls(*p.Syscalls) < 0 {
		return invalidf("syscalls %q: must be %q or %q", *p.Syscalls, SyscallsDefault, SyscallsStrict)
	}
	if l := p.Limits; l != nil {
		if err := checkRange("limits.pids", l.Pids, minPids, maxPids); err != nil {
			return err
		}
		if err := checkRange("limits.openFiles", l.OpenFiles, minOpenFiles, maxOpenFiles); err != nil {
			return err
		}
		if err := checkRange("limits.outputBytes", l.OutputBytes, minOutput, maxOutput); err != nil {
			return err
		}
	}
	if p.Isolation != nil && rankIsolation(*p.Isolation) < 0 {
		return invalidf("isolation %q: must be %q or %q", *p.Isolation, IsolationReuse, IsolationFresh)
	}
	return nil
}

func (n *Network) validate() error {
	mode := NetworkNone
	if n.Mode != nil {
		mode = *n.Mode
		if rankMode(mode) < 0 {
			return invalidf("network.mode %q: must be %q or %q", mode, NetworkNone, NetworkAllowlist)
		}
	}
	switch {
	case mode != NetworkAllowlist && len(n.Allow) > 0:
		return invalidf("network.allow: only allowed when network.mode is %q", NetworkAllowlist)
	case mode == NetworkAllowlist && len(n.Allow) == 0:
		return invalidf("network.allow: mode %q needs at least one entry", NetworkAllowlist)
	case len(n.Allow) > maxAllow:
		return invalidf("network.allow: %d entries, at most %d allowed", len(n.Allow), maxAllow)
	}
	for i, s := range n.Allow {
		if _, why := parseRule(s); why != "" {
			return invalidf("network.allow[%d] %q: %s", i, s, why)
		}
	}
	if err := checkRange("network.maxConnections", n.MaxConnections, minConns, maxConns); err != nil {
		return err
	}
	return checkRange("network.maxBytes", n.MaxBytes, minBytes, maxBytes)
}

func checkRange[T int | int64](field string, v *T, lo, hi T) error {
	if v == nil || *v >= lo && *v <= hi {
		return nil
	}
	return invalidf("%s: must be between %d and %d", field, lo, hi)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// The rank functions order each enum from tightest (0) up, and return -1
// for a value that is not one of its constants.

func rankMode(m NetworkMode) int {
	switch m {
	case NetworkNone:
		return 0
	case NetworkAllowlist:
		return 1
	}
	return -1
}

func rankSyscalls(s Syscalls) int {
	switch s {
	case SyscallsStrict:
		return 0
	case SyscallsDefault:
		return 1
	}
	return -1
}

func rankIsolation(i Isolation) int {
	switch i {
	case IsolationFresh:
		return 0
	case IsolationReuse:
		return 1
	}
	return -1
}
