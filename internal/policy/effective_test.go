package policy

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func resolve(t testing.TB, doc string) Effective {
	t.Helper()
	return Resolve(mustParse(t, doc), Defaults{TmpMB: 512})
}

func ruleStringsOf(rules []Rule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.String())
	}
	return out
}

func TestResolve(t *testing.T) {
	builtin := Effective{
		Network:     NetworkNone,
		TmpMB:       512,
		TmpPersists: true,
		Syscalls:    SyscallsDefault,
		Pids:        1024,
		OpenFiles:   1024,
		OutputBytes: 100 << 20,
		Isolation:   IsolationReuse,
	}
	with := func(f func(*Effective)) Effective {
		e := builtin
		f(&e)
		return e
	}
	for _, tc := range []struct {
		name string
		p    *Policy
		d    Defaults
		want Effective
	}{
		{"nil", nil, Defaults{}, builtin},
		{"empty", &Policy{}, Defaults{}, builtin},
		{"function's tmp", nil, Defaults{TmpMB: 2048}, with(func(e *Effective) { e.TmpMB = 2048 })},
		{"function's tmp clamped", nil, Defaults{TmpMB: 1 << 20}, with(func(e *Effective) { e.TmpMB = 10240 })},
		{"negative tmp clamped", nil, Defaults{TmpMB: -5}, with(func(e *Effective) { e.TmpMB = 1 })},
		{"document's tmp wins", &Policy{Filesystem: &Filesystem{TmpMB: new(64)}}, Defaults{TmpMB: 2048},
			with(func(e *Effective) { e.TmpMB = 64 })},
		{"network numbers without a network", &Policy{Network: &Network{MaxConnections: new(5), MaxBytes: new(int64(2048))}}, Defaults{}, builtin},
		{"allowlist defaults", &Policy{Network: &Network{Mode: new(NetworkAllowlist), Allow: []string{"a.example:443"}}}, Defaults{},
			with(func(e *Effective) {
				e.Network = NetworkAllowlist
				e.Allow = []Rule{{Host: "a.example", PortLo: 443, PortHi: 443}}
				e.MaxConnections = 64
				e.MaxBytes = 1 << 30
			})},
		{"every field", mustParse(t, example), Defaults{TmpMB: 4096}, Effective{
			Network: NetworkAllowlist,
			Allow: []Rule{
				{Host: "*.example.org", PortLo: 80, PortHi: 80},
				{Host: "*.example.org", PortLo: 443, PortHi: 443},
				{Host: "api.example.com", PortLo: 443, PortHi: 443},
				{Prefix: netip.MustParsePrefix("203.0.113.0/24"), PortLo: 1, PortHi: 65535},
				{Prefix: netip.MustParsePrefix("2001:db8::1/128"), PortLo: 8443, PortHi: 8443},
			},
			MaxConnections: 64,
			MaxBytes:       104857600,
			TmpMB:          512,
			TmpPersists:    true,
			Syscalls:       SyscallsStrict,
			Pids:           1024,
			OpenFiles:      1024,
			OutputBytes:    1048576,
			Isolation:      IsolationFresh,
		}},
	} {
		if got := Resolve(tc.p, tc.d); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Resolve = %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestResolveCanonicalAllow(t *testing.T) {
	for _, tc := range []struct {
		allow []string
		want  []string
	}{
		{[]string{"b.example:443", "a.example:443", "b.example:443"}, []string{"a.example:443", "b.example:443"}},
		{[]string{"a.example:1-100", "a.example:101-200", "a.example:150-300"}, []string{"a.example:1-300"}},
		{[]string{"a.example:1-100", "a.example:102-200"}, []string{"a.example:1-100", "a.example:102-200"}},
		{[]string{"a.example:443", "a.example:*"}, []string{"a.example:*"}},
		{[]string{"api.x.example:443", "*.x.example:443", "*.a.x.example:443"}, []string{"*.x.example:443"}},
		{[]string{"x.example:443", "*.x.example:443"}, []string{"*.x.example:443", "x.example:443"}}, // a wildcard does not cover its apex
		{[]string{"10.1.2.3:443", "10.0.0.0/8:*", "10.1.0.0/16:80", "[2001:db8::1]:443"}, []string{"10.0.0.0/8:*", "[2001:db8::1]:443"}},
		{[]string{"[::ffff:10.1.2.3]:443", "10.1.2.3:443"}, []string{"10.1.2.3:443"}},
		{[]string{"10.0.0.0/8:443", "a.example:443"}, []string{"a.example:443", "10.0.0.0/8:443"}},
	} {
		e := Resolve(&Policy{Network: &Network{Mode: new(NetworkAllowlist), Allow: tc.allow}}, Defaults{})
		if got := ruleStringsOf(e.Allow); !slices.Equal(got, tc.want) {
			t.Errorf("allow %q resolves to %q, want %q", tc.allow, got, tc.want)
		}
	}
}

// TestCanonicalRulesKeepMeaning checks on random allow-lists that
// canonicalRules lets through exactly what the rules it was given do.
func TestCanonicalRulesKeepMeaning(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	hosts := []string{"a.x.example", "b.a.x.example", "*.x.example", "*.a.x.example", "*.b.a.x.example", "x.example"}
	prefixes := []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "11.0.0.0/8", "[2001:db8::/32]", "[2001:db8::1]"}
	probeHosts := []string{"a.x.example", "b.a.x.example", "c.b.a.x.example", "y.x.example", "x.example", "other.example"}
	probeAddrs := []string{"10.1.2.3", "10.1.9.9", "10.9.9.9", "11.1.1.1", "2001:db8::1", "2001:db8::2", "::1"}
	ports := func() string {
		lo := 1 + rng.IntN(10)
		switch rng.IntN(4) {
		case 0:
			return "*"
		case 1:
			return fmt.Sprint(lo)
		default:
			return fmt.Sprintf("%d-%d", lo, lo+rng.IntN(5))
		}
	}
	for range 2000 {
		var rules []Rule
		for range 1 + rng.IntN(8) {
			target := hosts[rng.IntN(len(hosts))]
			if rng.IntN(2) == 0 {
				target = prefixes[rng.IntN(len(prefixes))]
			}
			rs, err := ParseRule(target + ":" + ports())
			if err != nil {
				t.Fatal(err)
			}
			rules = append(rules, rs...)
		}
		canon := canonicalRules(rules)
		matchHost := func(rules []Rule, h string, port uint16) bool {
			return slices.ContainsFunc(rules, func(r Rule) bool { return r.MatchHost(h, port) })
		}
		matchAddr := func(rules []Rule, a netip.Addr, port uint16) bool {
			return slices.ContainsFunc(rules, func(r Rule) bool { return r.MatchAddr(a, port) })
		}
		for port := uint16(1); port <= 20; port++ {
			for _, h := range probeHosts {
				if matchHost(rules, h, port) != matchHost(canon, h, port) {
					t.Fatalf("%v canonical %v: %s:%d matches differently", rules, canon, h, port)
				}
			}
			for _, s := range probeAddrs {
				a := netip.MustParseAddr(s)
				if matchAddr(rules, a, port) != matchAddr(canon, a, port) {
					t.Fatalf("%v canonical %v: %s:%d matches differently", rules, canon, a, port)
				}
			}
		}
		// Canonical means the order and repetition of the input do not count.
		shuffled := append(slices.Clone(rules), rules[:rng.IntN(len(rules))]...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if again := canonicalRules(shuffled); !slices.Equal(again, canon) {
			t.Fatalf("%v canonical %v, shuffled %v canonical %v", rules, canon, shuffled, again)
		}
		if again := canonicalRules(canon); !slices.Equal(again, canon) {
			t.Fatalf("canonicalRules is not idempotent: %v then %v", canon, again)
		}
	}
}

func TestKey(t *testing.T) {
	same := []string{
		`{"network": {"mode": "allowlist", "allow": ["a.example:443", "10.0.0.0/8:*", "b.example"]}}`,
		`{"network": {"mode": "allowlist", "allow": ["b.example", "10.0.0.0/8:*", "a.example:443"]}}`,
		`{"network": {"mode": "allowlist", "allow": ["B.example.", "b.example:80", "10.0.0.0/8:*", "a.example:443", "a.example:443", "10.1.2.3:443"], "maxConnections": 64}}`,
		`{"network": {"mode": "allowlist", "allow": ["b.example:443", "10.0.0.0/8:1-100", "10.0.0.0/8:101-65535", "b.example:80", "a.example:443"]}, "limits": {"pids": 1024}}`,
	}
	want := resolve(t, same[0]).Key()
	if len(want) != 32 || strings.Trim(want, "0123456789abcdef") != "" {
		t.Errorf("Key() = %q, want 32 hex digits", want)
	}
	for _, doc := range same[1:] {
		if got := resolve(t, doc).Key(); got != want {
			t.Errorf("Key of %s = %s, want %s as for %s", doc, got, want, same[0])
		}
	}
	// Every dimension shows in the key.
	keys := map[string]string{}
	for _, doc := range []string{
		`{}`,
		`{"network": {"mode": "allowlist", "allow": ["a.example:443"]}}`,
		`{"network": {"mode": "allowlist", "allow": ["a.example:444"]}}`,
		`{"network": {"mode": "allowlist", "allow": ["a.example:443"], "maxConnections": 1}}`,
		`{"network": {"mode": "allowlist", "allow": ["a.example:443"], "maxBytes": 1024}}`,
		`{"filesystem": {"tmpMB": 1}}`,
		`{"filesystem": {"tmpPersists": false}}`,
		`{"syscalls": "strict"}`,
		`{"limits": {"pids": 16}}`,
		`{"limits": {"openFiles": 64}}`,
		`{"limits": {"outputBytes": 1024}}`,
		`{"isolation": "fresh"}`,
	} {
		k := resolve(t, doc).Key()
		if other, ok := keys[k]; ok {
			t.Errorf("%s and %s share key %s", doc, other, k)
		}
		keys[k] = doc
	}
	// Network numbers without a network make no difference.
	if a, b := resolve(t, `{}`).Key(), resolve(t, `{"network": {"maxConnections": 3}}`).Key(); a != b {
		t.Errorf("maxConnections without a network changed the key: %s, %s", a, b)
	}
}

func TestDocument(t *testing.T) {
	got, err := json.Marshal(Resolve(nil, Defaults{TmpMB: 1024}).Document())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"network":{"mode":"none"},"filesystem":{"tmpMB":1024,"tmpPersists":true},"syscalls":"default",` +
		`"limits":{"pids":1024,"openFiles":1024,"outputBytes":104857600},"isolation":"reuse"}`
	if string(got) != want {
		t.Errorf("default document:\n got %s\nwant %s", got, want)
	}

	e := resolve(t, `{"network": {"mode": "allowlist", "allow": ["b.example", "b.example:8080", "[2001:db8::1]", "10.0.0.0/8:80", "a.example:443"]}}`)
	wantAllow := []string{"a.example:443", "b.example", "b.example:8080", "10.0.0.0/8:80", "[2001:db8::1]"}
	if got := e.Document().Network.Allow; !slices.Equal(got, wantAllow) {
		t.Errorf("document allow = %q, want %q", got, wantAllow)
	}
}

// TestDocumentNeverGrows: bare hosts stand for two rules each, so without
// writing them back bare a full allow-list would not parse again.
func TestDocumentNeverGrows(t *testing.T) {
	allow := make([]string, maxAllow)
	for i := range allow {
		allow[i] = fmt.Sprintf("h%d.example", i)
	}
	allow[0] = "h1.example:80" // a duplicate of half of another entry
	p := &Policy{Network: &Network{Mode: new(NetworkAllowlist), Allow: allow}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	e := Resolve(p, Defaults{})
	doc := e.Document()
	if n := len(doc.Network.Allow); n != maxAllow-1 {
		t.Errorf("document of %d entries has %d", maxAllow, n)
	}
	b, _ := json.Marshal(doc)
	if back, err := Parse(b); err != nil || Resolve(back, Defaults{}).Key() != e.Key() {
		t.Errorf("document does not round-trip: %v", err)
	}
}
