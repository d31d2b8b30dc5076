package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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
	// Services names the auxiliary services the sandbox may reach through
	// the platform channel.
	Services *Services `json:"services,omitempty"`
	// Portions splits a function into parts of different trust (split
	// trust): each runs in its own sandbox under its own policy. Only a
	// function's document has them, not a portion's and not a fragment.
	Portions map[string]*Portion `json:"portions,omitempty"`
}

// Services is the "services" object of a Policy: what the platform
// channel (EMBER_SERVICES_API) lets the sandbox use.
type Services struct {
	// Secrets are names of the function's secrets the sandbox may read.
	Secrets []string `json:"secrets,omitempty"`
	// KV opens the function's key-value store.
	KV *bool `json:"kv,omitempty"`
	// Functions the sandbox may call: names in the same account or ARNs
	// (the callee's owner must grant the call, as for Invoke).
	Functions []string `json:"functions,omitempty"`
	// Portions of the same function, of higher trust, it may call.
	Portions []string `json:"portions,omitempty"`
}

// Portion is one part of a split-trust function: another handler in the
// same bundle, run in its own sandbox under its own policy.
type Portion struct {
	Handler string `json:"handler"`
	// Trust orders portions (1–100; the entry portion, the function
	// itself, is 0). A portion may only call portions of higher trust.
	Trust  int     `json:"trust"`
	Policy *Policy `json:"policy,omitempty"`
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
	if err := p.validateBody(); err != nil {
		return err
	}
	return p.validatePortions()
}

// validateBody checks everything but the portions and the references to
// them, so a portion's own policy can be checked with it.
func (p *Policy) validateBody() error {
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
	return p.Services.validate("services")
}

// Bounds of services and portions.
const (
	maxSecrets   = 100
	maxFunctions = 32
	maxPortions  = 8
	maxTrust     = 100
)

func (sv *Services) validate(field string) error {
	if sv == nil {
		return nil
	}
	if len(sv.Secrets) > maxSecrets {
		return invalidf("%s.secrets: %d entries, at most %d allowed", field, len(sv.Secrets), maxSecrets)
	}
	for i, n := range sv.Secrets {
		if !validName(n, 128, true) {
			return invalidf("%s.secrets[%d] %q: a secret name is 1–128 of A-Z a-z 0-9 _ . -", field, i, n)
		}
	}
	if len(sv.Functions) > maxFunctions {
		return invalidf("%s.functions: %d entries, at most %d allowed", field, len(sv.Functions), maxFunctions)
	}
	for i, f := range sv.Functions {
		if f == "" || len(f) > 256 || strings.ContainsAny(f, " \t\n/?#") {
			return invalidf("%s.functions[%d] %q: must be a function name or ARN", field, i, f)
		}
	}
	for i, n := range sv.Portions {
		if !validName(n, 32, false) {
			return invalidf("%s.portions[%d] %q: not a portion name", field, i, n)
		}
	}
	return nil
}

// validName: 1..max characters of [a-z0-9-], plus A-Z _ . when loose.
func validName(s string, max int, loose bool) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
		if loose {
			ok = ok || c >= 'A' && c <= 'Z' || c == '_' || c == '.'
		}
		if !ok {
			return false
		}
	}
	return true
}

// validatePortions checks the portions and that every call between them
// goes to a declared portion of higher trust.
func (p *Policy) validatePortions() error {
	if len(p.Portions) > maxPortions {
		return invalidf("portions: %d declared, at most %d allowed", len(p.Portions), maxPortions)
	}
	calls := func(field string, sv *Services, trust int) error {
		if sv == nil {
			return nil
		}
		for i, n := range sv.Portions {
			q, ok := p.Portions[n]
			switch {
			case !ok:
				return invalidf("%s.portions[%d] %q: no such portion", field, i, n)
			case q.Trust <= trust:
				return invalidf("%s.portions[%d] %q: trust %d is not above the caller's %d; calls go only to higher trust", field, i, n, q.Trust, trust)
			}
		}
		return nil
	}
	if err := calls("services", p.Services, 0); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(p.Portions)) {
		q, field := p.Portions[name], "portions."+name
		switch {
		case !validName(name, 32, false):
			return invalidf("%s: a portion name is 1–32 of a-z 0-9 -", field)
		case q == nil:
			return invalidf("%s: must be an object", field)
		case q.Handler == "" || len(q.Handler) > 128:
			return invalidf("%s.handler: required, at most 128 characters", field)
		case q.Trust < 1 || q.Trust > maxTrust:
			return invalidf("%s.trust: must be between 1 and %d (the function itself is 0)", field, maxTrust)
		}
		if q.Policy != nil {
			if len(q.Policy.Portions) > 0 {
				return invalidf("%s.policy.portions: a portion cannot have portions", field)
			}
			if err := q.Policy.validateBody(); err != nil {
				return fmt.Errorf("%w (in %s.policy)", err, field)
			}
			if err := calls(field+".policy.services", q.Policy.Services, q.Trust); err != nil {
				return err
			}
		}
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
