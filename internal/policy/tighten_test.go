package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func allowlist(entries string) string {
	return `{"network": {"mode": "allowlist", "allow": [` + entries + `]}}`
}

func TestTighten(t *testing.T) {
	const wide = `{"network": {"mode": "allowlist", "allow": ["*.example.com:*", "api.other.example:443", "10.0.0.0/8:*", "[2001:db8::/32]:443", "ports.example:8000-9000"]}}`
	for _, tc := range []struct {
		name, base, fragment string
		want                 string // a document whose resolution the result must equal
	}{
		{"empty fragment", wide, `{}`, wide},
		{"no network", wide, `{"network": {"mode": "none"}}`, `{}`},
		{"numbers on no network", `{}`, `{"network": {"maxConnections": 5}}`, `{}`},
		{"same allow-list", wide, wide, wide},
		{"exact by exact", wide, allowlist(`"api.other.example:443"`), allowlist(`"api.other.example:443"`)},
		{"exact by wildcard", wide, allowlist(`"a.b.example.com:443"`), allowlist(`"a.b.example.com:443"`)},
		{"wildcard by parent wildcard", wide, allowlist(`"*.b.example.com:22"`), allowlist(`"*.b.example.com:22"`)},
		{"wildcard by equal wildcard", wide, allowlist(`"*.example.com:443"`), allowlist(`"*.example.com:443"`)},
		{"prefix in prefix", wide, allowlist(`"10.1.2.0/24:443", "10.9.9.9:80-90"`), allowlist(`"10.1.2.0/24:443", "10.9.9.9:80-90"`)},
		{"IPv6 prefix", wide, allowlist(`"[2001:db8::1]:443"`), allowlist(`"[2001:db8::1]:443"`)},
		{"mapped address", wide, allowlist(`"[::ffff:10.1.1.1]:443"`), allowlist(`"10.1.1.1:443"`)},
		{"port range within", wide, allowlist(`"ports.example:8080-8090"`), allowlist(`"ports.example:8080-8090"`)},
		{"port range merged in base", allowlist(`"a.example:1-100", "a.example:101-200"`), allowlist(`"a.example:50-150"`), allowlist(`"a.example:50-150"`)},
		{"bare host on bare host", allowlist(`"a.example"`), allowlist(`"a.example"`), allowlist(`"a.example"`)},
		{"numbers keep the allow-list", wide, `{"network": {"maxConnections": 8, "maxBytes": 2048}}`,
			`{"network": {"mode": "allowlist", "allow": ["*.example.com:*", "api.other.example:443", "10.0.0.0/8:*", "[2001:db8::/32]:443", "ports.example:8000-9000"], "maxConnections": 8, "maxBytes": 2048}}`},
		{"filesystem", `{}`, `{"filesystem": {"tmpMB": 10, "tmpPersists": false}}`, `{"filesystem": {"tmpMB": 10, "tmpPersists": false}}`},
		{"equal tmp", `{}`, `{"filesystem": {"tmpMB": 512}}`, `{}`},
		{"syscalls", `{}`, `{"syscalls": "strict"}`, `{"syscalls": "strict"}`},
		{"limits", `{}`, `{"limits": {"pids": 16, "openFiles": 64, "outputBytes": 1024}}`, `{"limits": {"pids": 16, "openFiles": 64, "outputBytes": 1024}}`},
		{"isolation", `{}`, `{"isolation": "fresh"}`, `{"isolation": "fresh"}`},
		{"restating the base", `{"syscalls": "strict", "isolation": "fresh"}`, `{"syscalls": "strict", "isolation": "fresh"}`, `{"syscalls": "strict", "isolation": "fresh"}`},
	} {
		got, err := Tighten(resolve(t, tc.base), mustParse(t, tc.fragment))
		if err != nil {
			t.Errorf("%s: Tighten: %v", tc.name, err)
			continue
		}
		if want := resolve(t, tc.want); got.Key() != want.Key() {
			t.Errorf("%s: Tighten = %+v\nwant %+v", tc.name, got, want)
		}
	}
}

func TestTightenWidens(t *testing.T) {
	for _, tc := range []struct {
		name, base, fragment, want string
	}{
		{"network", `{}`, allowlist(`"a.example:443"`), `network.mode: "allowlist" is wider than "none"`},
		{"unknown name", allowlist(`"api.example.com:443"`), allowlist(`"evil.example:443"`), `network.allow: "evil.example:443" is not covered`},
		{"exact does not cover wildcard", allowlist(`"a.example.com:443"`), allowlist(`"*.example.com:443"`), `"*.example.com:443" is not covered`},
		{"wildcard does not cover apex", allowlist(`"*.example.com:443"`), allowlist(`"example.com:443"`), `"example.com:443" is not covered`},
		{"wildcard does not cover parent", allowlist(`"*.a.example.com:443"`), allowlist(`"*.example.com:443"`), `"*.example.com:443" is not covered`},
		{"suffix is by label", allowlist(`"*.example.com:443"`), allowlist(`"evilexample.com:443"`), `"evilexample.com:443" is not covered`},
		{"wildcard suffix is by label", allowlist(`"*.example.com:443"`), allowlist(`"*.evilexample.com:443"`), `"*.evilexample.com:443" is not covered`},
		{"wider prefix", allowlist(`"10.1.0.0/16:443"`), allowlist(`"10.0.0.0/8:443"`), `"10.0.0.0/8:443" is not covered`},
		{"overlapping prefix", allowlist(`"10.1.0.0/16:443"`), allowlist(`"10.1.0.0/16:443", "10.2.0.0/16:443"`), `"10.2.0.0/16:443" is not covered`},
		{"names never cover prefixes", allowlist(`"*.example.com:*"`), allowlist(`"10.0.0.1:443"`), `"10.0.0.1:443" is not covered`},
		{"prefixes never cover names", allowlist(`"0.0.0.0/0:*"`), allowlist(`"a.example:443"`), `"a.example:443" is not covered`},
		{"IPv4 does not cover IPv6", allowlist(`"0.0.0.0/0:*"`), allowlist(`"[::1]:443"`), `"[::1]:443" is not covered`},
		{"port range beyond", allowlist(`"a.example:443"`), allowlist(`"a.example:443-444"`), `"a.example:443-444" is not covered`},
		{"bare host adds port 80", allowlist(`"a.example:443"`), allowlist(`"a.example"`), `"a.example:80" is not covered`},
		{"maxConnections", allowlist(`"a.example"`), `{"network": {"maxConnections": 65}}`, "network.maxConnections: 65 is more than 64"},
		{"maxBytes", allowlist(`"a.example"`), `{"network": {"maxBytes": 1073741825}}`, "network.maxBytes: 1073741825 is more than 1073741824"},
		{"tmpMB", `{}`, `{"filesystem": {"tmpMB": 513}}`, "filesystem.tmpMB: 513 is more than 512"},
		{"tmpPersists", `{"filesystem": {"tmpPersists": false}}`, `{"filesystem": {"tmpPersists": true}}`, "filesystem.tmpPersists: true is wider than false"},
		{"syscalls", `{"syscalls": "strict"}`, `{"syscalls": "default"}`, `syscalls: "default" is wider than "strict"`},
		{"pids", `{}`, `{"limits": {"pids": 1025}}`, "limits.pids: 1025 is more than 1024"},
		{"openFiles", `{}`, `{"limits": {"openFiles": 1025}}`, "limits.openFiles: 1025 is more than 1024"},
		{"outputBytes", `{}`, `{"limits": {"outputBytes": 104857601}}`, "limits.outputBytes: 104857601 is more than 104857600"},
		{"isolation", `{"isolation": "fresh"}`, `{"isolation": "reuse"}`, `isolation: "reuse" is wider than "fresh"`},
	} {
		got, err := Tighten(resolve(t, tc.base), mustParse(t, tc.fragment))
		if err == nil {
			t.Errorf("%s: Tighten = %+v, want an error", tc.name, got)
			continue
		}
		if !errors.Is(err, ErrWidens) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want ErrWidens saying %q", tc.name, err, tc.want)
		}
	}
}

func TestTightenInvalidFragment(t *testing.T) {
	bad := &Policy{Limits: &Limits{Pids: new(1)}}
	if _, err := Tighten(resolve(t, `{}`), bad); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "limits.pids") {
		t.Errorf("Tighten with an invalid fragment: %v, want ErrInvalid naming limits.pids", err)
	}
	if got, err := Tighten(resolve(t, example), nil); err != nil || got.Key() != resolve(t, example).Key() {
		t.Errorf("Tighten with no fragment = %+v, %v; want the base", got, err)
	}
}

// TestSatisfiesOrder checks that Satisfies is a preorder on a sample of
// policies, and that Tighten's results satisfy their base.
func TestSatisfiesOrder(t *testing.T) {
	docs := []string{
		`{}`,
		example,
		allowlist(`"*.example.com:*"`),
		allowlist(`"a.example.com:443"`),
		allowlist(`"a.example.com:443", "10.0.0.0/8:*"`),
		allowlist(`"10.1.0.0/16:443"`),
		`{"network": {"mode": "allowlist", "allow": ["a.example.com:443"], "maxConnections": 1}}`,
		`{"filesystem": {"tmpMB": 1, "tmpPersists": false}}`,
		`{"syscalls": "strict"}`,
		`{"syscalls": "strict", "isolation": "fresh"}`,
		`{"limits": {"pids": 16}}`,
		`{"limits": {"pids": 16, "openFiles": 64, "outputBytes": 1024}, "isolation": "fresh", "syscalls": "strict", "filesystem": {"tmpMB": 1, "tmpPersists": false}}`,
	}
	var es []Effective
	for _, doc := range docs {
		es = append(es, resolve(t, doc))
	}
	for i, a := range es {
		if !Satisfies(a, a) {
			t.Errorf("%s does not satisfy itself", docs[i])
		}
		for j, b := range es {
			if i != j && Satisfies(a, b) && Satisfies(b, a) && a.Key() != b.Key() {
				t.Errorf("%s and %s satisfy each other but differ", docs[i], docs[j])
			}
			for k, c := range es {
				if Satisfies(a, b) && Satisfies(b, c) && !Satisfies(a, c) {
					t.Errorf("not transitive: %s, %s, %s", docs[i], docs[j], docs[k])
				}
			}
			// What Tighten gives always satisfies the base, and Tighten
			// accepts exactly the fragments whose result does.
			if got, err := Tighten(a, b.Document()); err == nil {
				if !Satisfies(got, a) {
					t.Errorf("Tighten(%s, %s) = %+v, which does not satisfy its base", docs[i], docs[j], got)
				}
				if got.Key() != b.Key() {
					t.Errorf("Tighten(%s, a full document %s) = %+v, want the document", docs[i], docs[j], got)
				}
			} else if Satisfies(b, a) {
				t.Errorf("Tighten(%s, %s): %v, but %s satisfies %s", docs[i], docs[j], err, docs[j], docs[i])
			}
		}
	}

	none, open := resolve(t, `{}`), resolve(t, allowlist(`"a.example:443"`))
	if !Satisfies(none, open) || Satisfies(open, none) {
		t.Errorf("no network must satisfy an allow-list, and not the other way round")
	}
	if Satisfies(Effective{}, none) || Satisfies(none, Effective{}) {
		t.Errorf("the zero Effective must satisfy nothing and be satisfied by nothing")
	}
}

func TestTightenLeavesBaseAlone(t *testing.T) {
	base := resolve(t, allowlist(`"b.example:443", "a.example:443"`))
	before := ruleStringsOf(base.Allow)
	if _, err := Tighten(base, mustParse(t, allowlist(`"a.example:443"`))); err != nil {
		t.Fatal(err)
	}
	if _, err := Tighten(base, mustParse(t, `{"limits": {"pids": 16}}`)); err != nil {
		t.Fatal(err)
	}
	if after := ruleStringsOf(base.Allow); !slices.Equal(before, after) {
		t.Errorf("Tighten changed its base's allow-list from %q to %q", before, after)
	}
}
