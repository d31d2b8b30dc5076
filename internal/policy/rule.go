package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// Rule is one entry of a network allow-list: a destination a sandbox may
// reach through the egress proxy. Exactly one of Host or Prefix is set.
type Rule struct {
	// Host is a lower-case DNS name ("api.example.com") or a suffix pattern
	// ("*.example.com", matching any name strictly below example.com).
	Host string
	// Prefix is an address range; a bare IP literal is a /32 or /128.
	Prefix netip.Prefix
	// PortLo..PortHi is the inclusive port range; 1..65535 for "*".
	PortLo, PortHi uint16
}

// ErrRule is wrapped by every allow-list parse error.
var ErrRule = errors.New("policy: bad allow-list entry")

// ParseRule parses an allow-list entry: HOST[:PORTS] where HOST is a DNS
// name, a "*.suffix" pattern, an IP literal or a CIDR (IPv6 in brackets
// when a port follows: "[2001:db8::/32]:443"), and PORTS is "*", "N" or
// "N-M". Without PORTS the rule allows 80 and 443 only (two rules are
// returned in that case, so a caller appends all of them).
//
// An IPv4-mapped IPv6 literal or prefix becomes its IPv4 form, because
// MatchAddr unmaps the addresses it is given.
func ParseRule(s string) ([]Rule, error) {
	rules, why := parseRule(s)
	switch {
	case why == "":
		return rules, nil
	case strings.TrimSpace(s) == "":
		return nil, fmt.Errorf("%w: empty", ErrRule)
	default:
		return nil, fmt.Errorf("%w %q: %s", ErrRule, s, why)
	}
}

// parseRule is ParseRule with the reason for a refusal returned bare, so
// Validate can name the entry in its own words.
func parseRule(s string) (rules []Rule, why string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, "empty"
	}
	host, ports, hasPort, bracketed, why := splitHostPorts(s)
	if why != "" {
		return nil, why
	}
	if host == "" {
		return nil, "no host"
	}
	if bracketed && !strings.Contains(host, ":") {
		return nil, "brackets are only for IPv6"
	}
	var r Rule
	if p, err := netip.ParsePrefix(host); err == nil {
		r.Prefix = unmapPrefix(p.Masked())
	} else if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return nil, "zones are not allowed"
		}
		a = a.Unmap()
		r.Prefix = netip.PrefixFrom(a, a.BitLen())
	} else if strings.Contains(host, "/") {
		return nil, "bad prefix"
	} else if bracketed {
		return nil, "bad IPv6 address"
	} else {
		if err := checkHostPattern(host); err != nil {
			return nil, err.Error()
		}
		// Lower-cased only after the check: strings.ToLower folds some
		// non-ASCII letters (the Kelvin sign) into ASCII ones.
		r.Host = strings.ToLower(strings.TrimSuffix(host, "."))
	}
	if !hasPort {
		a, b := r, r
		a.PortLo, a.PortHi = 80, 80
		b.PortLo, b.PortHi = 443, 443
		return []Rule{a, b}, ""
	}
	lo, hi, err := parsePorts(ports)
	if err != nil {
		return nil, err.Error()
	}
	r.PortLo, r.PortHi = lo, hi
	return []Rule{r}, ""
}

// unmapPrefix turns an IPv4-mapped prefix (::ffff:10.0.0.0/104) into the
// IPv4 prefix it stands for (10.0.0.0/8).
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4In6() || p.Bits() < 96 {
		return p
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
}

// splitHostPorts separates "host:ports", "[v6]:ports", "[v6]" and bare
// IPv6 addresses or prefixes (which contain colons but no port).
func splitHostPorts(s string) (host, ports string, hasPort, bracketed bool, why string) {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		host, rest, ok := strings.Cut(rest, "]")
		switch {
		case !ok:
			return "", "", false, true, "missing \"]\""
		case rest == "":
			return host, "", false, true, ""
		case rest[0] != ':':
			return "", "", false, true, "only a port may follow \"]\""
		}
		return host, rest[1:], true, true, ""
	}
	if strings.Count(s, ":") > 1 { // a bare IPv6 literal or prefix
		return s, "", false, false, ""
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:], true, false, ""
	}
	return s, "", false, false, ""
}

func checkHostPattern(h string) error {
	h = strings.TrimSuffix(h, ".")
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return errors.New("a wildcard may only be a leading \"*.\"")
	}
	if name == "" || len(name) > 253 {
		return errors.New("bad host name length")
	}
	if h != name && !strings.Contains(name, ".") {
		return errors.New("a wildcard needs at least two labels after it")
	}
	labels := strings.Split(name, ".")
	for _, label := range labels {
		if label == "" || len(label) > 63 {
			return errors.New("empty or over-long label")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				if c > unicode.MaxASCII { // say which, as some look like ASCII
					return fmt.Errorf("character %q (%U) is not allowed in a host name", c, c)
				}
				return fmt.Errorf("character %q is not allowed in a host name", c)
			}
		}
	}
	if endsInNumber(labels[len(labels)-1]) {
		// "10.0.0.256" or "0x7f.1": a resolver may read it as an IPv4
		// address in a form netip refuses, so it is no name either.
		return errors.New("not a valid IP address, and a host name cannot end in a number")
	}
	return nil
}

// endsInNumber reports whether a last label is a number in any of the
// forms inet_aton (and the WHATWG URL parser) reads: decimal, octal, hex.
func endsInNumber(label string) bool {
	digits := "0123456789"
	if rest, ok := strings.CutPrefix(strings.ToLower(label), "0x"); ok {
		label, digits = rest, "0123456789abcdef"
	}
	for _, c := range label {
		if !strings.ContainsRune(digits, c) {
			return false
		}
	}
	return true
}

func parsePorts(s string) (lo, hi uint16, err error) {
	if s == "*" {
		return 1, 65535, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	l, err := parsePort(a)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return l, l, nil
	}
	h, err := parsePort(b)
	if err != nil {
		return 0, 0, err
	}
	if h < l {
		return 0, 0, errors.New("port range is reversed")
	}
	return l, h, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}

// MatchHost reports whether the rule allows the DNS name host on port.
// host must be lower case without a trailing dot. A name rule never
// matches an IP literal; a prefix rule never matches a name (the proxy
// checks the addresses a name resolves to against prefix rules itself).
func (r Rule) MatchHost(host string, port uint16) bool {
	if r.Host == "" || port < r.PortLo || port > r.PortHi {
		return false
	}
	if suffix, ok := strings.CutPrefix(r.Host, "*."); ok {
		return strings.HasSuffix(host, "."+suffix)
	}
	return host == r.Host
}

// MatchAddr reports whether the rule's prefix contains addr on port.
// addr is unmapped first, so ::ffff:10.0.0.1 is treated as 10.0.0.1.
func (r Rule) MatchAddr(addr netip.Addr, port uint16) bool {
	if !r.Prefix.IsValid() || port < r.PortLo || port > r.PortHi {
		return false
	}
	return r.Prefix.Contains(addr.Unmap())
}

// String formats the rule in ParseRule's syntax.
func (r Rule) String() string {
	host := r.Host
	if host == "" {
		host = r.Prefix.String()
		if r.Prefix.IsSingleIP() {
			host = r.Prefix.Addr().String()
		}
		if r.Prefix.Addr().Is6() {
			host = "[" + host + "]"
		}
	}
	switch {
	case r.PortLo == 1 && r.PortHi == 65535:
		return host + ":*"
	case r.PortLo == r.PortHi:
		return fmt.Sprintf("%s:%d", host, r.PortLo)
	default:
		return fmt.Sprintf("%s:%d-%d", host, r.PortLo, r.PortHi)
	}
}
