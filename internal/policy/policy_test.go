package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// example is the document from the package's design, every field given.
const example = `{
  "network": {
    "mode": "allowlist",
    "allow": ["api.example.com:443", "*.example.org", "203.0.113.0/24:*", "[2001:db8::1]:8443"],
    "maxConnections": 64,
    "maxBytes": 104857600
  },
  "filesystem": {"tmpMB": 512, "tmpPersists": true},
  "syscalls": "strict",
  "limits": {"pids": 1024, "openFiles": 1024, "outputBytes": 1048576},
  "isolation": "fresh"
}`

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return p
}

func TestParseAccepts(t *testing.T) {
	for _, doc := range []string{
		example,
		`{}`,
		` {} `,
		`{"network": null, "limits": {"pids": null}}`,
		`{"network": {"mode": "none"}}`,
		`{"network": {"mode": "none", "allow": []}}`,
		`{"network": {"maxConnections": 1, "maxBytes": 1024}}`,
		`{"network": {"mode": "allowlist", "allow": ["a.example:*"], "maxConnections": 1024, "maxBytes": 10737418240}}`,
		`{"filesystem": {"tmpMB": 1}, "limits": {"pids": 16, "openFiles": 64, "outputBytes": 1024}}`,
		`{"filesystem": {"tmpMB": 10240, "tmpPersists": false}, "limits": {"pids": 4096, "openFiles": 65536, "outputBytes": 1073741824}}`,
		`{"syscalls": "default", "isolation": "reuse"}`,
		`{"n\u0065twork": {}}`, // escapes in keys are still the key
	} {
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("Parse(%s): %v", doc, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	allow := func(n int) string {
		entries := make([]string, n)
		for i := range entries {
			entries[i] = fmt.Sprintf("%q", fmt.Sprintf("h%d.example:443", i))
		}
		return `{"network": {"mode": "allowlist", "allow": [` + strings.Join(entries, ",") + `]}}`
	}
	for _, tc := range []struct{ doc, want string }{
		// JSON-level strictness.
		{``, "empty document"},
		{`   `, "empty document"},
		{`null`, "the document must be a JSON object"},
		{`[]`, "the document must be a JSON object"},
		{`"none"`, "the document must be a JSON object"},
		{`{`, "malformed JSON: unexpected end of document"},
		{`{"network": }`, "malformed JSON near byte 12: invalid character '}'"},
		{`{} {}`, "data after the document"},
		{`{} x`, "data after the document"},
		{`{"netwrk": {}}`, "netwrk: unknown field"},
		{`{"Network": {}}`, `Network: unknown field (did you mean "network"?)`},
		{`{"network": {"maxconnections": 5}}`, `network.maxconnections: unknown field (did you mean "maxConnections"?)`},
		{`{"limits": {"cpu": 5}}`, "limits.cpu: unknown field"},
		{`{"syscalls": "strict", "syscalls": "default"}`, "syscalls: given more than once"},
		{`{"network": {"mode": "none", "mode": "allowlist"}}`, "network.mode: given more than once"},
		{`{"network": 5}`, "network: must be an object, not number"},
		{`{"network": []}`, "network: must be an object, not array"},
		{`{"network": {"mode": 1}}`, "network.mode: must be a string, not number"},
		{`{"network": {"mode": "allowlist", "allow": "a.example"}}`, "network.allow: must be an array of strings, not string"},
		{`{"network": {"mode": "allowlist", "allow": ["a.example", 5]}}`, "network.allow[1]: must be a string"},
		{`{"network": {"mode": "allowlist", "allow": [["a.example"]]}}`, "network.allow[0]: must be a string"},
		{`{"network": {"maxConnections": 1.5}}`, "network.maxConnections: must be an integer, not number 1.5"},
		{`{"network": {"maxBytes": "1024"}}`, "network.maxBytes: must be an integer, not string"},
		{`{"network": {"maxBytes": 1e30}}`, "network.maxBytes: must be an integer, not number 1e30"},
		{`{"filesystem": {"tmpPersists": "yes"}}`, "filesystem.tmpPersists: must be true or false, not string"},
		{`{"limits": {"pids": {}}}`, "limits.pids: must be an integer, not object"},
		{`{"syscalls": ["strict"]}`, "syscalls: must be a string, not array"},
		{"{\"network\": {}}" + strings.Repeat(" ", MaxDocument), "document is 65551 bytes, at most 65536 allowed"},

		// Validation.
		{`{"network": {"mode": "open"}}`, `network.mode "open": must be "none" or "allowlist"`},
		{`{"network": {"mode": ""}}`, `network.mode "": must be "none" or "allowlist"`},
		{`{"network": {"mode": "Allowlist", "allow": ["a.example"]}}`, `network.mode "Allowlist": must be`},
		{`{"network": {"allow": ["a.example"]}}`, `network.allow: only allowed when network.mode is "allowlist"`},
		{`{"network": {"mode": "none", "allow": ["a.example"]}}`, `network.allow: only allowed when network.mode is "allowlist"`},
		{`{"network": {"mode": "allowlist"}}`, `network.allow: mode "allowlist" needs at least one entry`},
		{`{"network": {"mode": "allowlist", "allow": []}}`, `network.allow: mode "allowlist" needs at least one entry`},
		{allow(257), "network.allow: 257 entries, at most 256 allowed"},
		{`{"network": {"mode": "allowlist", "allow": ["a.example", "b.example:443", "10.0.0.0/33"]}}`, `network.allow[2] "10.0.0.0/33": bad prefix`},
		{`{"network": {"mode": "allowlist", "allow": [""]}}`, `network.allow[0] "": empty`},
		{`{"network": {"mode": "allowlist", "allow": ["a.example:0"]}}`, `network.allow[0] "a.example:0": bad port "0"`},
		{`{"network": {"mode": "allowlist", "allow": ["*"]}}`, `network.allow[0] "*": a wildcard may only be a leading "*."`},
		{`{"network": {"maxConnections": 0}}`, "network.maxConnections: must be between 1 and 1024"},
		{`{"network": {"maxConnections": 1025}}`, "network.maxConnections: must be between 1 and 1024"},
		{`{"network": {"maxBytes": 1023}}`, "network.maxBytes: must be between 1024 and 10737418240"},
		{`{"network": {"maxBytes": 10737418241}}`, "network.maxBytes: must be between 1024 and 10737418240"},
		{`{"filesystem": {"tmpMB": 0}}`, "filesystem.tmpMB: must be between 1 and 10240"},
		{`{"filesystem": {"tmpMB": 10241}}`, "filesystem.tmpMB: must be between 1 and 10240"},
		{`{"filesystem": {"tmpMB": -1}}`, "filesystem.tmpMB: must be between 1 and 10240"},
		{`{"syscalls": "lax"}`, `syscalls "lax": must be "default" or "strict"`},
		{`{"limits": {"pids": 15}}`, "limits.pids: must be between 16 and 4096"},
		{`{"limits": {"pids": 4097}}`, "limits.pids: must be between 16 and 4096"},
		{`{"limits": {"openFiles": 63}}`, "limits.openFiles: must be between 64 and 65536"},
		{`{"limits": {"openFiles": 65537}}`, "limits.openFiles: must be between 64 and 65536"},
		{`{"limits": {"outputBytes": 1023}}`, "limits.outputBytes: must be between 1024 and 1073741824"},
		{`{"limits": {"outputBytes": 1073741825}}`, "limits.outputBytes: must be between 1024 and 1073741824"},
		{`{"isolation": "shared"}`, `isolation "shared": must be "reuse" or "fresh"`},
	} {
		p, err := Parse([]byte(tc.doc))
		if err == nil {
			t.Errorf("Parse(%.60s) = %+v, want error %q", tc.doc, p, tc.want)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "policy: invalid: "+tc.want) {
			t.Errorf("Parse(%.60s): error %q, want %q", tc.doc, err, "policy: invalid: "+tc.want)
		}
	}
}

func TestValidateNil(t *testing.T) {
	if err := (*Policy)(nil).Validate(); err != nil {
		t.Errorf("nil policy: %v", err)
	}
}

// TestObjectKeysMatchTags guards against adding a field to a struct and
// forgetting objectKeys, which would make Parse refuse the new field.
func TestObjectKeysMatchTags(t *testing.T) {
	full := Resolve(mustParse(t, example), Defaults{}).Document()
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		got := slices.Sorted(maps.Keys(obj))
		// Keys a full document may leave out: portions are not part of
		// an Effective, and empty service lists are omitted.
		optional := map[string][]string{"": {"portions", "services"}, "services": {"secrets", "functions", "portions"}}[path]
		want := slices.Sorted(slices.Values(slices.DeleteFunc(slices.Clone(objectKeys(path)), func(k string) bool {
			return slices.Contains(optional, k) && !slices.Contains(got, k)
		})))
		if !slices.Equal(got, want) {
			t.Errorf("object %q: marshals keys %q, objectKeys says %q", path, got, want)
		}
		for k, v := range obj {
			walk(join(path, k), v)
		}
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	walk("", doc)
}

func TestMarshalOmitsAbsent(t *testing.T) {
	for _, doc := range []string{
		`{}`,
		`{"network":{"maxConnections":5}}`,
		`{"filesystem":{"tmpPersists":false},"limits":{"pids":16}}`,
		`{"syscalls":"strict","isolation":"fresh"}`,
	} {
		b, err := json.Marshal(mustParse(t, doc))
		if err != nil || string(b) != doc {
			t.Errorf("Marshal(Parse(%s)) = %s, %v", doc, b, err)
		}
	}
}
