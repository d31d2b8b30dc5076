package egress

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ember-run/ember/internal/policy"
)

// target is an authorised destination: where to dial and what to call it.
type target struct {
	host  string       // lower case, no trailing dot; an IPv6 literal without brackets
	port  uint16       //
	key   string       // host:port as the Transport spells it; keys its connection pool
	addrs []netip.Addr // every address allowed for host:port, in the resolver's order
	rule  string       // the rule that allowed addrs[0]
}

// verdict is the outcome of checking a request target. status is 0 when
// the target is allowed.
type verdict struct {
	target
	status int
	reason string
	addr   netip.Addr // the address refused, when one was
}

func denyf(status int, format string, args ...any) verdict {
	return verdict{status: status, reason: fmt.Sprintf(format, args...)}
}

// decide checks a request target (an authority, "host[:port]") against the
// rules. It resolves a name only when some rule could allow it, so names
// nobody listed never reach DNS (which would otherwise be a side channel
// out of the sandbox). defaultPort is used when the authority has none; 0
// means a port is required.
func (p *Proxy) decide(ctx context.Context, authority string, defaultPort uint16) verdict {
	host, port, v, ok := splitAuthority(authority, defaultPort)
	if !ok {
		return v
	}
	if a, err := netip.ParseAddr(host); err == nil {
		v = p.decideAddr(host, a, port)
	} else if name := strings.TrimSuffix(host, "."); endsInNumber(name) {
		// 2852039166, 0xa9fea9fe, 0251.0376.0251.0376, 169.254.43518,
		// 169.254.169.254.: forms inet_aton and URL parsers read as IPv4.
		v = denyf(http.StatusForbidden, "%q is a non-canonical address", host)
	} else if err := checkName(name); err != nil {
		v = denyf(http.StatusBadRequest, "bad host %q: %v", host, err)
	} else {
		v = p.decideName(ctx, name, port)
	}
	if v.host == "" { // denied: name what was asked for
		v.host, v.port = host, port
	}
	return v
}

// decideAddr checks an IP literal: only a prefix rule allows one.
func (p *Proxy) decideAddr(host string, a netip.Addr, port uint16) verdict {
	if a.Zone() != "" || a.Is4In6() || (a.Is4() && a.String() != host) {
		return denyf(http.StatusForbidden, "%q is a non-canonical address", host)
	}
	hp := netip.AddrPortFrom(a, port).String()
	r, ok := p.prefixRule(a, port)
	if !ok {
		v := denyf(http.StatusForbidden, "%s is not on the allow-list", hp)
		if _, other := p.prefixRule(a, 0); other {
			v = denyf(http.StatusForbidden, "%s: port %d is not on the allow-list", a, port)
		} else if kind, _, sp := special(a); sp {
			v = denyf(http.StatusForbidden, "%s is %s", hp, kind)
		}
		v.addr = a
		return v
	}
	h := a.String()
	return verdict{target: target{
		host: h, port: port, key: net.JoinHostPort(h, strconv.Itoa(int(port))),
		addrs: []netip.Addr{a}, rule: r.String(),
	}}
}

// decideName checks a DNS name: a matching name rule allows the addresses
// it resolves to, except special ones (a listed name that resolves to
// 127.0.0.1 is DNS rebinding, not permission); a prefix rule allows the
// addresses it covers.
func (p *Proxy) decideName(ctx context.Context, name string, port uint16) verdict {
	hp := net.JoinHostPort(name, strconv.Itoa(int(port)))
	var byName *policy.Rule
	anyPrefix := false
	for i := range p.rules {
		r := &p.rules[i]
		if byName == nil && r.MatchHost(name, port) {
			byName = r
		}
		if r.Prefix.IsValid() && port >= r.PortLo && port <= r.PortHi {
			anyPrefix = true
		}
	}
	if byName == nil && !anyPrefix {
		for _, r := range p.rules {
			if r.MatchHost(name, anyPort(r)) {
				return denyf(http.StatusForbidden, "%s: port %d is not on the allow-list", name, port)
			}
		}
		return denyf(http.StatusForbidden, "%s is not on the allow-list", hp)
	}

	ctx, cancel := context.WithTimeout(ctx, p.dialTimeout)
	defer cancel()
	addrs, err := p.resolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return denyf(http.StatusBadGateway, "cannot resolve %s: %v", name, err)
	}
	v := verdict{target: target{host: name, port: port, key: hp}}
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsValid() || a.Zone() != "" || contains(v.addrs, a) {
			continue
		}
		if r, ok := p.prefixRule(a, port); ok {
			v.addrs = append(v.addrs, a)
			if v.rule == "" {
				v.rule = r.String()
			}
			continue
		}
		kind, _, sp := special(a)
		if byName != nil && !sp {
			v.addrs = append(v.addrs, a)
			if v.rule == "" {
				v.rule = byName.String()
			}
			continue
		}
		if v.reason == "" { // report the first address refused
			v.addr = a
			v.reason = fmt.Sprintf("%s resolves to %s, which is not on the allow-list", hp, a)
			if sp {
				v.reason = fmt.Sprintf("%s resolves to %s, which is %s", hp, a, kind)
			}
		}
	}
	switch {
	case len(v.addrs) > 0:
		v.reason, v.addr = "", netip.Addr{}
		return v
	case v.reason == "":
		return denyf(http.StatusBadGateway, "%s has no addresses", name)
	default:
		v.status = http.StatusForbidden
		return v
	}
}

// prefixRule returns the first prefix rule that allows a on port (on any
// port when port is 0). A rule
// opens a special address only if the rule lies inside that address's
// special block: "10.1.0.0/16" and "169.254.169.254" name what they open,
// "0.0.0.0/0" means the public internet and does not reach the metadata
// service.
func (p *Proxy) prefixRule(a netip.Addr, port uint16) (policy.Rule, bool) {
	_, block, sp := special(a)
	for _, r := range p.rules {
		if !r.MatchAddr(a, cmp.Or(port, anyPort(r))) {
			continue
		}
		if sp && (r.Prefix.Bits() < block.Bits() || !block.Contains(r.Prefix.Addr())) {
			continue
		}
		return r, true
	}
	return policy.Rule{}, false
}

// dialAllowed is the last check, run by the dialer's Control hook on the
// address actually being connected to: whatever path led here, a special
// address needs a prefix rule.
func (p *Proxy) dialAllowed(ap netip.AddrPort) error {
	a := ap.Addr().Unmap()
	if kind, _, sp := special(a); sp {
		if _, ok := p.prefixRule(a, ap.Port()); !ok {
			return fmt.Errorf("%w: %s is %s", errDialRefused, ap, kind)
		}
	}
	return nil
}

// splitAuthority splits "host[:port]" or "[v6][:port]" strictly. It returns
// the host lower-cased and without brackets.
func splitAuthority(s string, defaultPort uint16) (host string, port uint16, v verdict, ok bool) {
	if s == "" {
		return "", 0, denyf(http.StatusBadRequest, "no host"), false
	}
	if len(s) > 300 {
		return "", 0, denyf(http.StatusBadRequest, "host too long"), false
	}
	var portStr string
	hasPort := false
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, denyf(http.StatusBadRequest, "bad host %q", s), false
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", 0, denyf(http.StatusBadRequest, "bad host %q", s), false
			}
			portStr, hasPort = rest[1:], true
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return "", 0, denyf(http.StatusForbidden, "%q is a non-canonical address", s), false
		}
	} else {
		switch strings.Count(s, ":") {
		case 0:
			host = s
		case 1:
			i := strings.IndexByte(s, ':')
			host, portStr, hasPort = s[:i], s[i+1:], true
		default:
			return "", 0, denyf(http.StatusForbidden, "%q is a non-canonical address", s), false
		}
	}
	if host == "" {
		return "", 0, denyf(http.StatusBadRequest, "no host in %q", s), false
	}
	switch {
	case !hasPort || portStr == "" && defaultPort != 0:
		if defaultPort == 0 {
			return "", 0, denyf(http.StatusBadRequest, "no port in %q", s), false
		}
		port = defaultPort
	default:
		n, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil || n == 0 {
			return "", 0, denyf(http.StatusBadRequest, "bad port in %q", s), false
		}
		port = uint16(n)
	}
	return strings.ToLower(host), port, verdict{}, true
}

// endsInNumber reports whether the last label of a host name is a number
// (decimal, or 0x hex), which is how the WHATWG URL standard decides that a
// host is an IPv4 address in one of its legacy encodings.
func endsInNumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if h, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(h, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// checkName accepts a lower-case DNS name of letters, digits, '-' and '_'.
func checkName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("bad length")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("empty or over-long label")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("character %q is not allowed", c)
			}
		}
	}
	return nil
}

func contains(as []netip.Addr, a netip.Addr) bool {
	for _, b := range as {
		if a == b {
			return true
		}
	}
	return false
}

// anyPort is a port r allows, for "wrong port" messages.
func anyPort(r policy.Rule) uint16 { return r.PortLo }
