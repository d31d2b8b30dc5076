package egress

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/ember-run/ember/internal/policy"
)

// fakeResolver maps names to addresses and counts lookups.
type fakeResolver struct {
	m     map[string][]string
	calls chan string // buffered; nil to not record
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if r.calls != nil {
		select {
		case r.calls <- host:
		default:
		}
	}
	ss, ok := r.m[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func rules(t testing.TB, ss ...string) []policy.Rule {
	t.Helper()
	var out []policy.Rule
	for _, s := range ss {
		rs, err := policy.ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rs...)
	}
	return out
}

func newTestProxy(t testing.TB, opts Options) *Proxy {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestDecide(t *testing.T) {
	res := &fakeResolver{m: map[string][]string{
		"api.example.com":    {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"rebind.example.com": {"127.0.0.1"},
		"mapped.example.com": {"::ffff:169.254.169.254"},
		"mixed.example.com":  {"10.0.0.5", "93.184.215.15"},
		"metadata":           {"169.254.169.254"},
		"internal.corp":      {"10.1.2.3"},
		"nat64.example.com":  {"64:ff9b::a9fe:a9fe"},
		"empty.example.com":  {},
	}}
	p := newTestProxy(t, Options{
		Resolver: res,
		Rules: rules(t,
			"*.example.com",     // 80 and 443
			"metadata:*",        // a name rule never opens a special address
			"0.0.0.0/0:8443",    // "the internet" on 8443 does not include 10/8 or 169.254/16
			"[::/0]:8443",       //
			"10.1.0.0/16:5432",  // explicitly opens part of 10/8
			"198.51.100.7:1234", // a documentation address, named exactly
		),
	})

	tests := []struct {
		authority string
		status    int    // 0: allowed
		addrs     string // allowed addresses, space-separated
		reason    string // substring of the reason
	}{
		{"api.example.com:443", 0, "93.184.215.14 2606:2800:21f:cb07:6820:80da:af6b:8b2c", ""},
		{"API.Example.COM.:443", 0, "93.184.215.14 2606:2800:21f:cb07:6820:80da:af6b:8b2c", ""},
		{"api.example.com:22", 403, "", "port 22 is not on the allow-list"},
		{"example.com:443", 403, "", "not on the allow-list"}, // "*." is strictly below
		{"rebind.example.com:443", 403, "", "resolves to 127.0.0.1, which is loopback"},
		{"mapped.example.com:443", 403, "", "resolves to 169.254.169.254, which is link-local"},
		{"mixed.example.com:443", 0, "93.184.215.15", ""},
		{"metadata:80", 403, "", "169.254.169.254, which is link-local"},
		{"nat64.example.com:443", 403, "", "NAT64 form of a link-local"},
		{"empty.example.com:443", 502, "", "no addresses"},
		{"gone.example.com:443", 502, "", "cannot resolve"},
		{"internal.corp:5432", 0, "10.1.2.3", ""}, // by prefix rule, no name rule
		{"internal.corp:8443", 403, "", "10.1.2.3, which is private"},
		{"10.1.9.9:5432", 0, "10.1.9.9", ""},
		{"10.2.0.1:5432", 403, "", "10.2.0.1:5432 is private"},
		{"10.1.9.9:5433", 403, "", "10.1.9.9: port 5433 is not on the allow-list"},
		{"93.184.215.14:8443", 0, "93.184.215.14", ""},
		{"93.184.215.14:443", 403, "", "93.184.215.14: port 443 is not on the allow-list"},
		{"[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443", 0, "2606:2800:21f:cb07:6820:80da:af6b:8b2c", ""},
		{"198.51.100.7:1234", 0, "198.51.100.7", ""},
		{"198.51.100.8:1234", 403, "", "is reserved (documentation)"},

		{"169.254.169.254:8443", 403, "", "169.254.169.254:8443 is link-local"},
		{"127.0.0.1:8443", 403, "", "127.0.0.1:8443 is loopback"},
		{"0.0.0.0:8443", 403, "", "unspecified"},
		{"255.255.255.255:8443", 403, "", "broadcast"},
		{"100.64.0.1:8443", 403, "", "CGNAT"},
		{"224.0.0.1:8443", 403, "", "multicast"},
		{"[::1]:8443", 403, "", "loopback"},
		{"[::]:8443", 403, "", "unspecified"},
		{"[fe80::1]:8443", 403, "", "link-local"},
		{"[fd00::1]:8443", 403, "", "unique-local"},
		{"[ff02::1]:8443", 403, "", "multicast"},
		{"[::169.254.169.254]:8443", 403, "", "IPv4-compatible"},
		{"[64:ff9b::a9fe:a9fe]:8443", 403, "", "NAT64 form of a link-local"},
		{"[2002:a9fe:a9fe::1]:8443", 403, "", "6to4"},
		{"[2001:0:4136:e378:8000:63bf:56fe:56fe]:8443", 403, "", "Teredo"},

		// The metadata service in the encodings parsers disagree about.
		{"2852039166:8443", 403, "", "non-canonical"},
		{"0xa9fea9fe:8443", 403, "", "non-canonical"},
		{"0XA9FEA9FE:8443", 403, "", "non-canonical"},
		{"0251.0376.0251.0376:8443", 403, "", "non-canonical"},
		{"0xa9.0xfe.0xa9.0xfe:8443", 403, "", "non-canonical"},
		{"169.254.43518:8443", 403, "", "non-canonical"},
		{"169.16689662:8443", 403, "", "non-canonical"},
		{"169.254.169.254.:8443", 403, "", "non-canonical"},
		{"169.254.169.254..:8443", 400, "", "bad host"},
		{"0169.254.169.254:8443", 403, "", "non-canonical"},
		{"[::ffff:169.254.169.254]:8443", 403, "", "non-canonical"},
		{"[::ffff:a9fe:a9fe]:8443", 403, "", "non-canonical"},
		{"[fe80::1%eth0]:8443", 403, "", "non-canonical"},
		{"[fe80::1%25eth0]:8443", 403, "", "non-canonical"},
		{"[169.254.169.254]:8443", 403, "", "non-canonical"},
		{"::ffff:169.254.169.254:8443", 403, "", "non-canonical"},
		{"%31%36%39.254.169.254:8443", 403, "", "non-canonical"},
		{"169.254.169.254%00.example.com:443", 400, "", "bad host"},

		// Malformed authorities.
		{"", 400, "", "no host"},
		{":443", 400, "", "no host"},
		{"api.example.com", 400, "", "no port"},
		{"api.example.com:", 400, "", "bad port"},
		{"api.example.com:0", 400, "", "bad port"},
		{"api.example.com:65536", 400, "", "bad port"},
		{"api.example.com:+443", 400, "", "bad port"},
		{"api.example.com:0x1bb", 400, "", "bad port"},
		{"[::1:443", 400, "", "bad host"},
		{"a..example.com:443", 400, "", "bad host"},
		{"exa mple.com:443", 400, "", "bad host"},
		{"xn--bcher-kva.example.com:443", 0, "93.184.215.14", ""}, // resolved below
	}
	res.m["xn--bcher-kva.example.com"] = []string{"93.184.215.14"}
	for _, tt := range tests {
		t.Run(tt.authority, func(t *testing.T) {
			v := p.decide(t.Context(), tt.authority, 0)
			if v.status != tt.status {
				t.Fatalf("status %d (%s), want %d", v.status, v.reason, tt.status)
			}
			var got []string
			for _, a := range v.addrs {
				got = append(got, a.String())
			}
			if strings.Join(got, " ") != tt.addrs {
				t.Errorf("addrs %v, want %q", got, tt.addrs)
			}
			if tt.status == 0 && v.rule == "" {
				t.Error("allowed without naming a rule")
			}
			if !strings.Contains(v.reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", v.reason, tt.reason)
			}
		})
	}
}

// A name no rule could allow is never looked up: DNS queries for arbitrary
// names would be a way out of the sandbox.
func TestDecideNoLookupForUnlistedNames(t *testing.T) {
	res := &fakeResolver{m: map[string][]string{}, calls: make(chan string, 10)}
	p := newTestProxy(t, Options{Resolver: res, Rules: rules(t, "*.example.com:443")})
	for _, a := range []string{"secret-data.attacker.test:443", "api.example.com:80", "example.com:443"} {
		if v := p.decide(t.Context(), a, 0); v.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", a, v.status)
		}
	}
	if len(res.calls) != 0 {
		t.Errorf("%d lookups, want none: %s", len(res.calls), <-res.calls)
	}
}

func TestSpecial(t *testing.T) {
	for _, s := range []string{
		"0.1.2.3", "10.0.0.1", "100.127.255.255", "127.255.0.1", "169.254.169.254",
		"172.31.255.255", "192.168.1.1", "192.0.0.8", "198.18.0.1", "224.0.0.251",
		"239.255.255.250", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b:1::1", "100::1",
		"2001::1", "2001:db8::1", "2002:7f00:1::", "fc00::1", "fd12:3456::1",
		"fe80::1", "febf::1", "fec0::1", "ff02::1",
	} {
		if _, _, ok := special(netip.MustParseAddr(s)); !ok {
			t.Errorf("%s is not special", s)
		}
	}
	for _, s := range []string{
		"1.1.1.1", "8.8.8.8", "93.184.215.14", "100.128.0.1", "172.32.0.1",
		"192.169.0.1", "223.255.255.255", "2606:4700:4700::1111", "64:ff9b::808:808",
		"2a00:1450:4001::1",
	} {
		if kind, _, ok := special(netip.MustParseAddr(s)); ok {
			t.Errorf("%s is special (%s)", s, kind)
		}
	}
}

// The dialer's Control hook is the last line: even if a check upstream
// were bypassed, a special address is refused unless a prefix rule opens it.
func TestDialControl(t *testing.T) {
	closed := netip.MustParseAddrPort("127.0.0.1:1") // nothing listens on port 1
	p := newTestProxy(t, Options{Rules: rules(t, "localhost:*", "*.example.com:*")})
	for _, addr := range []string{"127.0.0.1:1", "[::1]:1", "169.254.169.254:80", "[::ffff:127.0.0.1]:1", "10.0.0.1:80"} {
		_, err := p.dialer.DialContext(t.Context(), "tcp", addr)
		if !errors.Is(err, errDialRefused) {
			t.Errorf("dial %s: %v, want errDialRefused", addr, err)
		}
	}
	// No decision in the context: the forward dialer refuses.
	if _, err := p.dialForward(t.Context(), "tcp", "api.example.com:80"); !errors.Is(err, errDialRefused) {
		t.Errorf("dialForward without a decision: %v", err)
	}

	open := newTestProxy(t, Options{Rules: rules(t, "127.0.0.0/8:*")})
	_, err := open.dialer.DialContext(t.Context(), "tcp", closed.String())
	if errors.Is(err, errDialRefused) || err == nil {
		t.Errorf("dial %s with 127.0.0.0/8 listed: %v, want connection refused", closed, err)
	}
}

func TestValidate(t *testing.T) {
	bad := []Options{
		{MaxConns: -1},
		{MaxBytes: -1},
		{DialTimeout: -1},
		{Rules: []policy.Rule{{}}},
		{Rules: []policy.Rule{{Host: "a.com", Prefix: netip.MustParsePrefix("1.2.3.4/32"), PortLo: 1, PortHi: 1}}},
		{Rules: []policy.Rule{{Host: "a.com", PortLo: 0, PortHi: 80}}},
		{Rules: []policy.Rule{{Host: "a.com", PortLo: 443, PortHi: 80}}},
	}
	for _, o := range bad {
		if _, err := New(o); !errors.Is(err, ErrOptions) {
			t.Errorf("New(%+v): %v, want ErrOptions", o, err)
		}
	}
	if err := (Options{Rules: rules(t, "a.com", "10.0.0.0/8:*")}).Validate(); err != nil {
		t.Error(err)
	}
}
