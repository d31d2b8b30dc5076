package policy

import (
	"errors"
	"strings"
	"testing"
)

const splitDoc = `{
  "network": {"mode": "none"},
  "syscalls": "strict",
  "services": {"kv": true, "portions": ["signer"]},
  "portions": {
    "signer": {
      "handler": "signer.handle",
      "trust": 10,
      "policy": {
        "network": {"mode": "allowlist", "allow": ["api.example.com:443"]},
        "services": {"secrets": ["api-key", "api-key"]}
      }
    }
  }
}`

func TestServicesAndPortionsParse(t *testing.T) {
	p := mustParse(t, splitDoc)
	e := Resolve(p, Defaults{})
	if !e.KV || len(e.Portions) != 1 || e.Portions[0] != "signer" || len(e.Secrets) != 0 || e.Networked() {
		t.Fatalf("entry portion: %+v", e)
	}
	q := p.Portions["signer"]
	pe := Resolve(q.Policy, Defaults{})
	if !pe.Networked() || len(pe.Secrets) != 1 || pe.Secrets[0] != "api-key" || pe.KV {
		t.Fatalf("signer portion: %+v", pe)
	}
	if e.Key() == pe.Key() {
		t.Fatal("portions share a key")
	}
	// Services survive the document round trip.
	doc := e.Document()
	if doc.Services == nil || doc.Services.KV == nil || !*doc.Services.KV {
		t.Fatalf("document lost services: %+v", doc.Services)
	}
}

func TestServicesAndPortionsInvalid(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{`{"services":{"secrets":["bad name"]}}`, "services.secrets[0]"},
		{`{"services":{"portions":["ghost"]}}`, `services.portions[0] "ghost": no such portion`},
		{`{"services":{"functions":["a/b"]}}`, "services.functions[0]"},
		{`{"services":{"kvv":true}}`, "services.kvv: unknown field"},
		{`{"portions":{"Bad":{"handler":"h","trust":1}}}`, "portions.Bad: a portion name"},
		{`{"portions":{"p":{"handler":"","trust":1}}}`, "portions.p.handler"},
		{`{"portions":{"p":{"handler":"h","trust":0}}}`, "portions.p.trust"},
		{`{"portions":{"p":{"handler":"h","trust":1,"extra":1}}}`, "portions.p.extra: unknown field"},
		{`{"portions":{"p":{"handler":"h","trust":1,"policy":{"portions":{}}}}}`, "portions.p.policy.portions: unknown field"},
		{`{"portions":{"p":{"handler":"h","trust":1,"policy":{"limits":{"pids":1}}}}}`, "limits.pids"},
		{`{"portions":{"p":{"handler":"h","trust":1,"policy":{"network":{"mode":"allowlist","allow":[1]}}}}}`, "must be a string"},
		// calls go only upward in trust
		{`{"portions":{"a":{"handler":"h","trust":5,"policy":{"services":{"portions":["b"]}}},"b":{"handler":"h","trust":5}}}`, "not above the caller's 5"},
	} {
		_, err := Parse([]byte(tt.doc))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v (want %q)", tt.doc, err, tt.want)
		}
	}
}

func TestTightenServices(t *testing.T) {
	base := Resolve(mustParse(t, `{"services":{"secrets":["a","b"],"kv":true,"functions":["f"]}}`), Defaults{})
	ok := []string{
		`{"services":{"secrets":["a"]}}`,
		`{"services":{"kv":false}}`,
		`{"services":{"functions":[]}}`,
	}
	for _, f := range ok {
		if _, err := Tighten(base, mustParse(t, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, f := range []string{
		`{"services":{"secrets":["c"]}}`,
		`{"services":{"functions":["g"]}}`,
	} {
		if _, err := Tighten(base, mustParse(t, f)); !errors.Is(err, ErrWidens) {
			t.Errorf("%s: %v, want ErrWidens", f, err)
		}
	}
	noKV := Resolve(nil, Defaults{})
	if _, err := Tighten(noKV, mustParse(t, `{"services":{"kv":true}}`)); !errors.Is(err, ErrWidens) {
		t.Errorf("kv widening: %v", err)
	}
	if _, err := Tighten(base, mustParse(t, `{"portions":{"p":{"handler":"h","trust":1}}}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("portions in a fragment: %v", err)
	}
}
