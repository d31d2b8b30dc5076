package policy

import (
	"encoding/json"
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		example,
		`{}`,
		`{"network": {"mode": "none"}}`,
		`{"network": {"mode": "allowlist", "allow": ["a.example", "a.example:80", "*.example.org:1-100", "10.0.0.0/8:*", "[::ffff:10.0.0.0/104]:443", "2001:db8::/32"], "maxConnections": 1, "maxBytes": 1024}}`,
		`{"filesystem": {"tmpMB": 10240, "tmpPersists": false}, "limits": {"pids": 16, "openFiles": 65536, "outputBytes": 1024}}`,
		`{"syscalls": "strict", "isolation": "fresh"}`,
		`{"network": {"mode": "allowlist", "allow": ["10.0.0.0/33"]}}`,
		`{"Network": {}, "network": {}}`,
		`{"limits": {"pids": 1.5}}`,
		`{} {}`,
		`[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrInvalid", data, err)
			}
			if p != nil {
				t.Fatalf("Parse(%q): a policy with an error", data)
			}
			return
		}
		e := Resolve(p, Defaults{TmpMB: 512})
		if !Satisfies(e, e) {
			t.Fatalf("Parse(%q): %+v does not satisfy itself", data, e)
		}

		// The document of a resolved policy is complete: it parses, and
		// resolves to the same policy whatever the function's defaults.
		doc, err := json.Marshal(e.Document())
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(doc)
		if err != nil {
			t.Fatalf("Parse(%q): document %s does not parse: %v", data, doc, err)
		}
		if got := Resolve(back, Defaults{TmpMB: 1}); got.Key() != e.Key() {
			t.Fatalf("Parse(%q): document %s resolves to %+v, want %+v", data, doc, got, e)
		}

		// Marshalling the parsed policy keeps what it means.
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if q, err := Parse(again); err != nil || Resolve(q, Defaults{TmpMB: 512}).Key() != e.Key() {
			t.Fatalf("Parse(%q): marshalled as %s, which parses to %+v, %v", data, again, q, err)
		}

		// A policy used as a fragment on itself changes nothing.
		if got, err := Tighten(e, p); err != nil || got.Key() != e.Key() {
			t.Fatalf("Parse(%q): Tighten on itself = %+v, %v", data, got, err)
		}
	})
}
