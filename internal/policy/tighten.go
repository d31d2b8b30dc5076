package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Tighten applies a request-time fragment to the function's resolved
// policy: what the fragment gives replaces base's, what it leaves out is
// inherited. The fragment is validated as a document would be (errors wrap
// ErrInvalid), and the result must satisfy base in every dimension
// (errors wrap ErrWidens and name the field): a caller may narrow what
// the function's code can do, never widen it.
//
// An allowlist fragment replaces base's allow-list, so every destination
// it names must be covered by one of base's rules; it also needs base to
// be an allowlist, since none is tighter.
func Tighten(base Effective, fragment *Policy) (Effective, error) {
	if err := fragment.Validate(); err != nil {
		return Effective{}, err
	}
	if fragment != nil && len(fragment.Portions) > 0 {
		return Effective{}, invalidf("portions: only the function's own policy declares portions, not a request")
	}
	out := base
	out.apply(fragment)
	if field, why := widens(out, base); field != "" {
		return Effective{}, fmt.Errorf("%w: %s: %s", ErrWidens, field, why)
	}
	return out, nil
}

// Satisfies reports whether a sandbox built with have is at least as
// tight as want in every dimension: no network is tighter than an
// allow-list, an allow-list whose every rule one of want's covers is
// tighter than want's, smaller numbers are tighter, /tmp that does not
// persist, the strict syscall profile and fresh sandboxes are tighter.
// A value outside its enum satisfies nothing and is satisfied by nothing.
//
// Satisfies is about safety, not fit: a sandbox with no network satisfies
// a policy that allows one, but the function in it will fail to connect.
func Satisfies(have, want Effective) bool {
	field, _ := widens(have, want)
	return field == ""
}

// widens names the first field in which have is wider than want, and
// why; it returns "" when have satisfies want.
func widens(have, want Effective) (field, why string) {
	switch h, w := rankMode(have.Network), rankMode(want.Network); {
	case h < 0 || w < 0:
		return "network.mode", fmt.Sprintf("%q or %q is not a network mode", have.Network, want.Network)
	case h > w:
		return "network.mode", fmt.Sprintf("%q is wider than %q", have.Network, want.Network)
	}
	if have.Network == NetworkAllowlist {
		x := indexRules(want.Allow)
		for _, r := range have.Allow {
			if !x.covered(r, true) {
				return "network.allow", fmt.Sprintf("%q is not covered by the function's allow-list", r)
			}
		}
		if have.MaxConnections > want.MaxConnections {
			return "network.maxConnections", more(have.MaxConnections, want.MaxConnections)
		}
		if have.MaxBytes > want.MaxBytes {
			return "network.maxBytes", more(have.MaxBytes, want.MaxBytes)
		}
	}
	if have.TmpMB > want.TmpMB {
		return "filesystem.tmpMB", more(have.TmpMB, want.TmpMB)
	}
	if have.TmpPersists && !want.TmpPersists {
		return "filesystem.tmpPersists", "true is wider than false"
	}
	switch h, w := rankSyscalls(have.Syscalls), rankSyscalls(want.Syscalls); {
	case h < 0 || w < 0:
		return "syscalls", fmt.Sprintf("%q or %q is not a syscall profile", have.Syscalls, want.Syscalls)
	case h > w:
		return "syscalls", fmt.Sprintf("%q is wider than %q", have.Syscalls, want.Syscalls)
	}
	if have.Pids > want.Pids {
		return "limits.pids", more(have.Pids, want.Pids)
	}
	if have.OpenFiles > want.OpenFiles {
		return "limits.openFiles", more(have.OpenFiles, want.OpenFiles)
	}
	if have.OutputBytes > want.OutputBytes {
		return "limits.outputBytes", more(have.OutputBytes, want.OutputBytes)
	}
	switch h, w := rankIsolation(have.Isolation), rankIsolation(want.Isolation); {
	case h < 0 || w < 0:
		return "isolation", fmt.Sprintf("%q or %q is not an isolation level", have.Isolation, want.Isolation)
	case h > w:
		return "isolation", fmt.Sprintf("%q is wider than %q", have.Isolation, want.Isolation)
	}
	for _, l := range []struct {
		field      string
		have, want []string
	}{
		{"services.secrets", have.Secrets, want.Secrets},
		{"services.functions", have.Functions, want.Functions},
		{"services.portions", have.Portions, want.Portions},
	} {
		for _, n := range l.have {
			if !slices.Contains(l.want, n) {
				return l.field, fmt.Sprintf("%q is not granted by the function's policy", n)
			}
		}
	}
	if have.KV && !want.KV {
		return "services.kv", "true is wider than false"
	}
	return "", ""
}

func more[T int | int64](have, want T) string {
	return fmt.Sprintf("%d is more than %d", have, want)
}

// ruleIndex finds the rules that might cover a rule without trying them
// all: a policy may have hundreds, and fragments are checked per request.
type ruleIndex struct {
	names    map[string][]Rule
	prefixes map[netip.Prefix][]Rule
}

func indexRules(rules []Rule) ruleIndex {
	x := ruleIndex{names: map[string][]Rule{}, prefixes: map[netip.Prefix][]Rule{}}
	for _, r := range rules {
		if r.Host != "" {
			x.names[r.Host] = append(x.names[r.Host], r)
		} else {
			x.prefixes[r.Prefix] = append(x.prefixes[r.Prefix], r)
		}
	}
	return x
}

// covered reports whether a rule in the index other than r itself covers
// r, or when self is true, whether any does.
func (x ruleIndex) covered(r Rule, self bool) bool {
	try := func(candidates []Rule) bool {
		return slices.ContainsFunc(candidates, func(s Rule) bool { return (self || s != r) && covers(s, r) })
	}
	if r.Host != "" {
		// The same name, then "*." and every parent of the name.
		name := strings.TrimPrefix(r.Host, "*.")
		if try(x.names[r.Host]) {
			return true
		}
		for i := range len(name) {
			if name[i] == '.' && try(x.names["*."+name[i+1:]]) {
				return true
			}
		}
		return false
	}
	if !r.Prefix.IsValid() {
		return false
	}
	for bits := range r.Prefix.Bits() + 1 {
		if try(x.prefixes[netip.PrefixFrom(r.Prefix.Addr(), bits).Masked()]) {
			return true
		}
	}
	return false
}

// covers reports whether every destination r allows, s allows too. A name
// rule never covers a prefix rule or the other way round, because the
// proxy matches names and addresses separately.
func covers(s, r Rule) bool {
	if s.PortLo > r.PortLo || s.PortHi < r.PortHi {
		return false
	}
	switch {
	case r.Host != "" && s.Host != "":
		sSuffix, sWild := strings.CutPrefix(s.Host, "*.")
		if !sWild {
			return s.Host == r.Host // an exact name covers only itself
		}
		// "*.b" covers "x.b" and "*.x.b", and "*.b" itself.
		rName, rWild := strings.CutPrefix(r.Host, "*.")
		return rWild && rName == sSuffix || strings.HasSuffix(rName, "."+sSuffix)
	case r.Host == "" && s.Host == "":
		return r.Prefix.IsValid() && s.Prefix.IsValid() &&
			s.Prefix.Bits() <= r.Prefix.Bits() && s.Prefix.Contains(r.Prefix.Addr())
	}
	return false
}
