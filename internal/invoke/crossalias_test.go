package invoke

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ember-run/ember/internal/catalog"
)

func TestMergeParameters(t *testing.T) {
	params := json.RawMessage(`{"region":"eu","limit":5,"nested":{"a":1}}`)
	for _, c := range []struct{ event, want string }{
		{`{}`, `{"limit":5,"nested":{"a":1},"region":"eu"}`},
		{`{"limit":9,"q":"x"}`, `{"limit":9,"nested":{"a":1},"q":"x","region":"eu"}`},
		{`{"region":null}`, `{"limit":5,"nested":{"a":1},"region":null}`}, // set, even to null: the call's
		{`[1,2]`, `[1,2]`},
		{`"text"`, `"text"`},
		{`null`, `null`},
	} {
		got, err := mergeParameters([]byte(c.event), params)
		if err != nil || string(got) != c.want {
			t.Errorf("merge %s = %s %v, want %s", c.event, got, err, c.want)
		}
	}
	if got, _ := mergeParameters([]byte(`{"a":1}`), nil); string(got) != `{"a":1}` {
		t.Errorf("no parameters changed the event: %s", got)
	}
	big := json.RawMessage(`{"pad":"` + strings.Repeat("x", MaxPayload) + `"}`)
	if _, err := mergeParameters([]byte(`{}`), big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over 6 MB after merging: %v", err)
	}
}

func TestDelegationLowersOnly(t *testing.T) {
	cfg := catalog.Config{MemorySize: 256, Timeout: 10}
	(&Delegation{MemoryMB: 512, Timeout: 5}).apply(&cfg)
	if cfg.MemorySize != 256 || cfg.Timeout != 5 {
		t.Fatalf("apply: %+v", cfg)
	}
	var none *Delegation
	none.apply(&cfg)
	if none.key() != "" || none.alias() != "" || len(none.env()) != 0 {
		t.Fatal("nil delegation")
	}
	a, b := (&Delegation{Account: "222222222222", Alias: "x", Revision: "1"}).key(), (&Delegation{Account: "222222222222", Alias: "x", Revision: "2"}).key()
	if a == b || a == (&Delegation{Account: "333333333333", Alias: "x", Revision: "1"}).key() {
		t.Fatalf("pool keys must differ by payer and revision: %s %s", a, b)
	}
}
