package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
)

// Effective is a policy with every field resolved: what a sandbox is built
// with. Allow is canonical (see Resolve), so two Effectives that mean the
// same thing share a Key.
type Effective struct {
	Network NetworkMode
	// Allow is empty unless Network is NetworkAllowlist.
	Allow []Rule
	// MaxConnections and MaxBytes are zero unless Network is
	// NetworkAllowlist: without a network they bound nothing, and keeping
	// them would split sandbox pools over values that make no difference.
	MaxConnections int
	MaxBytes       int64

	TmpMB       int
	TmpPersists bool
	Syscalls    Syscalls
	Pids        int
	OpenFiles   int
	OutputBytes int64
	Isolation   Isolation

	// Services the platform channel opens, sorted and without duplicates.
	Secrets   []string
	KV        bool
	Functions []string
	Portions  []string // portions of the same function it may call
}

// Granted reports whether the sandbox may use any auxiliary service.
func (e Effective) Granted() bool {
	return len(e.Secrets) > 0 || e.KV || len(e.Functions) > 0 || len(e.Portions) > 0
}

// Defaults are the values that come from the function's configuration
// rather than from ember's built-in defaults.
type Defaults struct {
	// TmpMB is the function's EphemeralStorage size; zero means Lambda's
	// default of 512. It is clamped into the range a document may give.
	TmpMB int
}

// Built-in defaults for what neither the document nor Defaults gives.
const (
	defaultMaxConnections = 64
	defaultMaxBytes       = gib
	defaultTmpMB          = 512
	defaultPids           = 1024
	defaultOpenFiles      = 1024
	defaultOutputBytes    = 100 * mib
)

// Resolve fills what p leaves out from d and the built-in defaults: no
// network, 64 connections and 1 GiB when there is one, d.TmpMB of /tmp
// that persists, the default syscall profile, 1024 pids and open files,
// 100 MiB of output per invocation, and sandbox reuse. p may be nil, and
// must otherwise have passed Validate: an allow-list entry that does not
// parse is dropped (which can only narrow the policy).
//
// The allow-list becomes canonical: port ranges of one destination are
// merged, rules another rule covers are dropped, and the rest are sorted.
func Resolve(p *Policy, d Defaults) Effective {
	e := Effective{
		Network:        NetworkNone,
		MaxConnections: defaultMaxConnections,
		MaxBytes:       defaultMaxBytes,
		TmpMB:          min(max(d.TmpMB, minTmpMB), maxTmpMB),
		TmpPersists:    true,
		Syscalls:       SyscallsDefault,
		Pids:           defaultPids,
		OpenFiles:      defaultOpenFiles,
		OutputBytes:    defaultOutputBytes,
		Isolation:      IsolationReuse,
	}
	if d.TmpMB == 0 {
		e.TmpMB = defaultTmpMB
	}
	e.apply(p)
	return e
}

// apply overwrites e's fields with those p has, and makes e canonical.
func (e *Effective) apply(p *Policy) {
	if p == nil {
		e.canonicalize()
		return
	}
	if n := p.Network; n != nil {
		if n.Mode != nil {
			e.Network = *n.Mode
			e.Allow = nil
			for _, s := range n.Allow {
				rules, _ := parseRule(s)
				e.Allow = append(e.Allow, rules...)
			}
		}
		set(&e.MaxConnections, n.MaxConnections)
		set(&e.MaxBytes, n.MaxBytes)
	}
	if f := p.Filesystem; f != nil {
		set(&e.TmpMB, f.TmpMB)
		set(&e.TmpPersists, f.TmpPersists)
	}
	set(&e.Syscalls, p.Syscalls)
	if l := p.Limits; l != nil {
		set(&e.Pids, l.Pids)
		set(&e.OpenFiles, l.OpenFiles)
		set(&e.OutputBytes, l.OutputBytes)
	}
	set(&e.Isolation, p.Isolation)
	if sv := p.Services; sv != nil {
		if sv.Secrets != nil {
			e.Secrets = slices.Clone(sv.Secrets)
		}
		set(&e.KV, sv.KV)
		if sv.Functions != nil {
			e.Functions = slices.Clone(sv.Functions)
		}
		if sv.Portions != nil {
			e.Portions = slices.Clone(sv.Portions)
		}
	}
	e.canonicalize()
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

func (e *Effective) canonicalize() {
	for _, l := range []*[]string{&e.Secrets, &e.Functions, &e.Portions} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
		if len(*l) == 0 {
			*l = nil
		}
	}
	if e.Network != NetworkAllowlist {
		e.Allow, e.MaxConnections, e.MaxBytes = nil, 0, 0
		return
	}
	e.Allow = canonicalRules(e.Allow)
}

// canonicalRules returns a new slice holding the same destinations as
// rules in a form that depends only on the set of rules given: sorted by
// compareRules, the port ranges of each host or prefix merged where they
// overlap or touch, and every rule that another rule covers dropped.
func canonicalRules(rules []Rule) []Rule {
	rs := slices.Clone(rules)
	slices.SortFunc(rs, compareRules)
	var merged []Rule
	for _, r := range rs {
		if n := len(merged); n > 0 && sameTarget(merged[n-1], r) && int(r.PortLo) <= int(merged[n-1].PortHi)+1 {
			merged[n-1].PortHi = max(merged[n-1].PortHi, r.PortHi)
			continue
		}
		merged = append(merged, r)
	}
	// After merging no two rules are equal, so covers is a strict order
	// between distinct rules and the ones left are its maximal elements.
	x := indexRules(merged)
	out := merged[:0:0]
	for _, r := range merged {
		if !x.covered(r, false) {
			out = append(out, r)
		}
	}
	return out
}

func sameTarget(a, b Rule) bool { return a.Host == b.Host && a.Prefix == b.Prefix }

// compareRules orders names before prefixes, then by name or by address
// and length, then by ports.
func compareRules(a, b Rule) int {
	return cmp.Or(
		cmp.Compare(ruleKind(a), ruleKind(b)),
		cmp.Compare(a.Host, b.Host),
		comparePrefix(a.Prefix, b.Prefix),
		cmp.Compare(a.PortLo, b.PortLo),
		cmp.Compare(a.PortHi, b.PortHi),
	)
}

func ruleKind(r Rule) int {
	if r.Host != "" {
		return 0
	}
	return 1
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// Networked reports whether a sandbox with this policy needs a network
// (and the egress proxy) at all.
func (e Effective) Networked() bool {
	return e.Network == NetworkAllowlist && len(e.Allow) > 0
}

// Document renders e as a document with every field given, for reads of
// a function's policy. For an e from Resolve, Parse accepts the document
// marshalled and Resolve gives back an Effective with the same Key.
func (e Effective) Document() *Policy {
	p := &Policy{
		Filesystem: &Filesystem{TmpMB: new(e.TmpMB), TmpPersists: new(e.TmpPersists)},
		Syscalls:   new(e.Syscalls),
		Limits: &Limits{
			Pids:        new(e.Pids),
			OpenFiles:   new(e.OpenFiles),
			OutputBytes: new(e.OutputBytes),
		},
		Isolation: new(e.Isolation),
	}
	if e.Granted() {
		p.Services = &Services{Secrets: e.Secrets, KV: new(e.KV), Functions: e.Functions, Portions: e.Portions}
	}
	p.Network = &Network{Mode: new(e.Network)}
	if e.Network == NetworkAllowlist {
		p.Network.Allow = ruleStrings(e.Allow)
		p.Network.MaxConnections = new(e.MaxConnections)
		p.Network.MaxBytes = new(e.MaxBytes)
	}
	return p
}

// ruleStrings formats canonical rules as allow-list entries, writing the
// pair a bare host stands for (ports 80 and 443) as the bare host again,
// so that a document never has more entries than the one it came from.
func ruleStrings(rules []Rule) []string {
	out := make([]string, 0, len(rules))
	paired := make([]bool, len(rules)) // a 443 rule written with its 80
	for i, r := range rules {
		if paired[i] {
			continue
		}
		if r.PortLo == 80 && r.PortHi == 80 {
			// Sorted, so the rules of one destination are together.
			j := i + 1
			for j < len(rules) && sameTarget(rules[j], r) && rules[j].PortLo < 443 {
				j++
			}
			if j < len(rules) && sameTarget(rules[j], r) && rules[j].PortLo == 443 && rules[j].PortHi == 443 {
				paired[j] = true
				s := r.String()
				out = append(out, s[:strings.LastIndexByte(s, ':')])
				continue
			}
		}
		out = append(out, r.String())
	}
	return out
}

// Key is a short stable digest of e, equal for equal policies, for keying
// pools of sandboxes by the policy they were built with. It is 128 bits
// so that nobody can make two different policies share a key by trying
// many of them.
func (e Effective) Key() string {
	b, err := json.Marshal(e.Document())
	if err != nil {
		panic("policy: marshalling a document cannot fail: " + err.Error())
	}
	sum := sha256.Sum256(append([]byte("ember policy v1\n"), b...))
	return hex.EncodeToString(sum[:16])
}
