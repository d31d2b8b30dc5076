package policy

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // the rules' String forms
	}{
		{"api.example.com:443", []string{"api.example.com:443"}},
		{" API.Example.COM.:443 ", []string{"api.example.com:443"}},
		{"api.example.com", []string{"api.example.com:80", "api.example.com:443"}},
		{"*.example.org", []string{"*.example.org:80", "*.example.org:443"}},
		{"*.Example.org:*", []string{"*.example.org:*"}},
		{"under_score.example:1-1", []string{"under_score.example:1"}},
		{"localhost:65535", []string{"localhost:65535"}},
		{"host:0443", []string{"host:443"}},
		{"host:1-65535", []string{"host:*"}},
		{"host:8000-9000", []string{"host:8000-9000"}},
		{"10.0.0.1.nip.io:80", []string{"10.0.0.1.nip.io:80"}},
		{"203.0.113.0/24:*", []string{"203.0.113.0/24:*"}},
		{"203.0.113.77/24:22", []string{"203.0.113.0/24:22"}}, // host bits masked
		{"203.0.113.9", []string{"203.0.113.9:80", "203.0.113.9:443"}},
		{"203.0.113.9/32:443", []string{"203.0.113.9:443"}},
		{"[2001:db8::1]:8443", []string{"[2001:db8::1]:8443"}},
		{"[2001:DB8::/32]:443", []string{"[2001:db8::/32]:443"}},
		{"[2001:db8::1]", []string{"[2001:db8::1]:80", "[2001:db8::1]:443"}},
		{"2001:db8::1", []string{"[2001:db8::1]:80", "[2001:db8::1]:443"}}, // bare: no port possible
		{"2001:db8::/32", []string{"[2001:db8::/32]:80", "[2001:db8::/32]:443"}},
		{"2001:db8::1:443", []string{"[2001:db8::1:443]:80", "[2001:db8::1:443]:443"}}, // an address, not a port
		{"::ffff:10.0.0.1", []string{"10.0.0.1:80", "10.0.0.1:443"}},
		{"[::ffff:10.0.0.0/104]:*", []string{"10.0.0.0/8:*"}},
	} {
		rules, err := ParseRule(tc.in)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tc.in, err)
			continue
		}
		var got []string
		for _, r := range rules {
			got = append(got, r.String())
			// What String writes, ParseRule reads back.
			if back, err := ParseRule(r.String()); err != nil || len(back) != 1 || back[0] != r {
				t.Errorf("ParseRule(%q) = %v, %v; want [%v]", r.String(), back, err, r)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ParseRule(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseRuleErrors(t *testing.T) {
	for _, tc := range []struct{ in, why string }{
		{"", "empty"},
		{"   ", "empty"},
		{":443", "no host"},
		{"[]:443", "no host"},
		{"host:", `bad port ""`},
		{"host:0", `bad port "0"`},
		{"host:65536", `bad port "65536"`},
		{"host:-5", `bad port ""`},
		{"host:5-", `bad port ""`},
		{"host:1-2-3", `bad port "2-3"`},
		{"host:*-5", `bad port "*"`},
		{"host:+5", `bad port "+5"`},
		{"host:443-80", "port range is reversed"},
		{"host:0-80", `bad port "0"`},
		{"10.0.0.0/33", "bad prefix"},
		{"10.0.0.0/33:443", "bad prefix"},
		{"10.0.0.0/-1", "bad prefix"},
		{"[2001:db8::/129]:443", "bad prefix"},
		{"[10.0.0.1]:443", "brackets are only for IPv6"},
		{"[example.com]:443", "brackets are only for IPv6"},
		{"[2001:db8::1", `missing "]"`},
		{"[2001:db8::1]443", `only a port may follow "]"`},
		{"[2001:db8::zz]:443", "bad IPv6 address"},
		{"fe80::1%eth0", "zones are not allowed"},
		{"[fe80::1%eth0]:443", "zones are not allowed"},
		{"exa mple.com", `character ' ' is not allowed`},
		{"exämple.com", `character 'ä' (U+00E4) is not allowed`},
		{"\u212aelvin.example", "(U+212A) is not allowed"}, // would lower-case to "kelvin"
		{"a:b:c", `character ':' is not allowed`},
		{"*", "a wildcard may only be a leading"},
		{"a.*.com", "a wildcard may only be a leading"},
		{"*.*.com", "a wildcard may only be a leading"},
		{"*.com", "a wildcard needs at least two labels"},
		{"a..com", "empty or over-long label"},
		{".com", "empty or over-long label"},
		{strings.Repeat("a", 64) + ".com", "empty or over-long label"},
		{strings.Repeat("a.", 127) + "com", "bad host name length"},
		{"10.0.0.256", "cannot end in a number"},
		{"10.01.0.1", "cannot end in a number"},
		{"0x7f.1", "cannot end in a number"},
		{"example.0x1F", "cannot end in a number"},
		{"1234", "cannot end in a number"},
	} {
		rules, err := ParseRule(tc.in)
		if err == nil {
			t.Errorf("ParseRule(%q) = %v, want error %q", tc.in, rules, tc.why)
			continue
		}
		if !errors.Is(err, ErrRule) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseRule(%q): error %q, want one wrapping ErrRule saying %q", tc.in, err, tc.why)
		}
	}
}

func TestRuleMatch(t *testing.T) {
	rule := func(s string) Rule {
		rules, err := ParseRule(s)
		if err != nil || len(rules) != 1 {
			t.Fatalf("ParseRule(%q) = %v, %v", s, rules, err)
		}
		return rules[0]
	}
	for _, tc := range []struct {
		rule, host string
		port       uint16
		want       bool
	}{
		{"api.example.com:443", "api.example.com", 443, true},
		{"api.example.com:443", "api.example.com", 80, false},
		{"api.example.com:443", "x.api.example.com", 443, false},
		{"*.example.com:*", "a.b.example.com", 1, true},
		{"*.example.com:*", "example.com", 443, false},
		{"*.example.com:*", "evilexample.com", 443, false},
		{"10.0.0.0/8:*", "10.0.0.1", 443, false}, // names never match prefixes
	} {
		if got := rule(tc.rule).MatchHost(tc.host, tc.port); got != tc.want {
			t.Errorf("%s.MatchHost(%s, %d) = %v", tc.rule, tc.host, tc.port, got)
		}
	}
	for _, tc := range []struct {
		rule, addr string
		port       uint16
		want       bool
	}{
		{"10.0.0.0/8:443", "10.1.2.3", 443, true},
		{"10.0.0.0/8:443", "::ffff:10.1.2.3", 443, true},
		{"[::ffff:10.0.0.0/104]:443", "10.1.2.3", 443, true},
		{"10.0.0.0/8:443", "11.0.0.1", 443, false},
		{"10.0.0.0/8:443", "10.0.0.1", 444, false},
		{"[2001:db8::/32]:*", "2001:db8::7", 9, true},
		{"0.0.0.0/0:*", "::1", 9, false},
		{"example.com:*", "10.0.0.1", 9, false},
	} {
		if got := rule(tc.rule).MatchAddr(netip.MustParseAddr(tc.addr), tc.port); got != tc.want {
			t.Errorf("%s.MatchAddr(%s, %d) = %v", tc.rule, tc.addr, tc.port, got)
		}
	}
}
