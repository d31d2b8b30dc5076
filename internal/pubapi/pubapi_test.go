package pubapi

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/httpevent"
	"github.com/ember-run/ember/internal/store"
)

const (
	owner = "111111111111"
	subB  = "222222222222"
	subC  = "333333333333"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func open(t *testing.T, st *store.Store, clk *clock) *Store {
	t.Helper()
	opts := Options{FlushInterval: time.Hour} // tests flush by closing
	if clk != nil {
		opts.Now = clk.Now
	}
	s, err := Open(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newAPI(t *testing.T, s *Store, name string, vis *Visibility) *API {
	t.Helper()
	a, err := s.Create(context.Background(), owner, CreateInput{Name: name, Visibility: vis})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func wantErr(t *testing.T, err, want error, field string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	if field != "" && !strings.Contains(err.Error(), field+":") {
		t.Fatalf("error %q does not name the field %s", err, field)
	}
}

func TestCreateAndNames(t *testing.T) {
	ctx := context.Background()
	s := open(t, openStore(t), nil)
	a := newAPI(t, s, "items", nil)
	if !ValidID(a.ID) || a.Owner != owner || a.Visibility.Mode != Private {
		t.Fatalf("created %+v", a)
	}
	_, err := s.Create(ctx, owner, CreateInput{Name: "items"})
	wantErr(t, err, ErrExists, "")
	// Another account may use the name.
	if _, err := s.Create(ctx, subB, CreateInput{Name: "items"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Create(ctx, owner, CreateInput{Name: ""})
	wantErr(t, err, ErrInvalid, "Name")
	_, err = s.Create(ctx, owner, CreateInput{Name: "x", DefaultPlan: &Plan{Burst: 3}})
	wantErr(t, err, ErrInvalid, "Burst")
	_, err = s.Create(ctx, owner, CreateInput{Name: "y", Visibility: &Visibility{Mode: Accounts, Accounts: []string{"12"}}})
	wantErr(t, err, ErrInvalid, "Accounts")

	// The owner may name its API by name; others may not.
	if got, err := s.Get(ctx, owner, "items"); err != nil || got.ID != a.ID {
		t.Fatalf("get by name: %v %v", got, err)
	}
	if _, err := s.Get(ctx, subC, "items"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another account's name lookup: %v", err)
	}
	// Renaming frees the old name.
	n := "goods"
	if _, err := s.Update(ctx, owner, a.ID, UpdateInput{Name: &n}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, owner, CreateInput{Name: "items"}); err != nil {
		t.Fatalf("old name not freed: %v", err)
	}
	if got, _ := s.Get(ctx, owner, "goods"); got == nil || got.ID != a.ID {
		t.Fatalf("new name: %v", got)
	}
	if got := s.Owned(ctx, owner); len(got) != 2 || got[0].Name != "goods" || got[1].Name != "items" {
		t.Fatalf("owned: %v", got)
	}
}

func TestRoutes(t *testing.T) {
	ctx := context.Background()
	s := open(t, openStore(t), nil)
	a := newAPI(t, s, "r", &Visibility{Mode: Public})
	a, err := s.PutRoute(ctx, owner, a.ID, Route{Key: "get /items/{id}", Target: "fn", Timeout: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Routes) != 1 || a.Routes[0].Key != "GET /items/{id}" {
		t.Fatalf("routes: %+v", a.Routes)
	}
	// The same key replaces the route.
	if a, err = s.PutRoute(ctx, owner, a.ID, Route{Key: "GET /items/{id}", Target: "fn:live"}); err != nil || len(a.Routes) != 1 || a.Routes[0].Target != "fn:live" {
		t.Fatalf("replace: %+v %v", a, err)
	}
	for _, tc := range []struct {
		name  string
		r     Route
		want  error
		field string
	}{
		{"clash", Route{Key: "GET /items/{name}", Target: "fn"}, ErrInvalid, "RouteKey"},
		{"no method", Route{Key: "/items", Target: "fn"}, ErrInvalid, "RouteKey"},
		{"bad method", Route{Key: "FETCH /items", Target: "fn"}, ErrInvalid, "RouteKey"},
		{"greedy not last", Route{Key: "GET /{p+}/x", Target: "fn"}, ErrInvalid, "RouteKey"},
		{"other account", Route{Key: "GET /x", Target: "arn:aws:lambda:local:" + subB + ":function:fn"}, ErrInvalid, "Target"},
		{"bad target", Route{Key: "GET /x", Target: "no spaces"}, ErrInvalid, "Target"},
		{"timeout", Route{Key: "GET /x", Target: "fn", Timeout: 901}, ErrInvalid, "TimeoutSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PutRoute(ctx, owner, a.ID, tc.r)
			wantErr(t, err, tc.want, tc.field)
		})
	}
	// Only the owner changes routes, even of a public API.
	_, err = s.PutRoute(ctx, subB, a.ID, Route{Key: "GET /x", Target: "fn"})
	wantErr(t, err, ErrForbidden, "")
	_, err = s.DeleteRoute(ctx, owner, a.ID, "GET /nope")
	wantErr(t, err, ErrNotFound, "")
	if a, err = s.DeleteRoute(ctx, owner, a.ID, "get /items/{id}"); err != nil || len(a.Routes) != 0 {
		t.Fatalf("delete: %+v %v", a, err)
	}
	_, err = s.PutRoute(ctx, owner, "zzzzzzzzzz", Route{Key: "GET /x", Target: "fn"})
	wantErr(t, err, ErrNotFound, "")
}

func TestStagesAreFrozenUntilRedeployed(t *testing.T) {
	ctx := context.Background()
	s := open(t, openStore(t), nil)
	a := newAPI(t, s, "st", nil)
	_, err := s.Deploy(ctx, owner, a.ID, "prod", "")
	wantErr(t, err, ErrInvalid, "Routes")
	s.PutRoute(ctx, owner, a.ID, Route{Key: "GET /items/{id}", Target: "v1"})
	s.PutRoute(ctx, owner, a.ID, Route{Key: "ANY /files/{proxy+}", Target: "files"})
	if _, err := s.Deploy(ctx, owner, a.ID, "prod", "first"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Deploy(ctx, owner, a.ID, "bad stage", "")
	wantErr(t, err, ErrInvalid, "StageName")

	// Edits after the deploy: the stage does not change.
	s.PutRoute(ctx, owner, a.ID, Route{Key: "GET /items/{id}", Target: "v2"})
	s.DeleteRoute(ctx, owner, a.ID, "ANY /files/{proxy+}")
	s.PutRoute(ctx, owner, a.ID, Route{Key: "GET /new", Target: "new"})

	st, ok := s.Stage(a.ID, "prod")
	if !ok {
		t.Fatal("no stage")
	}
	r, m, err := st.Match("GET", "/items/42")
	if err != nil || r.Target != "v1" || m.Key != "GET /items/{id}" || m.Params["id"] != "42" {
		t.Fatalf("prod before redeploy: %+v %+v %v", r, m, err)
	}
	if r, m, err := st.Match("DELETE", "/files/a/b%20c"); err != nil || r.Target != "files" || m.Params["proxy"] != "a/b c" {
		t.Fatalf("greedy: %+v %+v %v", r, m, err)
	}
	if _, _, err := st.Match("GET", "/new"); !errors.Is(err, httpevent.ErrNoRoute) {
		t.Fatalf("an undeployed route is served: %v", err)
	}

	if _, err := s.Deploy(ctx, owner, a.ID, "prod", "second"); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Stage(a.ID, "prod")
	if r, _, err := st.Match("GET", "/items/1"); err != nil || r.Target != "v2" {
		t.Fatalf("after redeploy: %+v %v", r, err)
	}
	if _, _, err := st.Match("GET", "/new"); err != nil {
		t.Fatalf("new route after redeploy: %v", err)
	}
	if _, _, err := st.Match("GET", "/files/x"); !errors.Is(err, httpevent.ErrNoRoute) {
		t.Fatalf("removed route still served: %v", err)
	}
	// Another stage is independent.
	if _, err := s.Deploy(ctx, owner, a.ID, "v1", ""); err != nil {
		t.Fatal(err)
	}
	if sts, _ := s.Stages(ctx, owner, a.ID); len(sts) != 2 || sts[0].Name != "prod" || sts[1].Name != "v1" {
		t.Fatalf("stages: %v", sts)
	}
	if err := s.DeleteStage(ctx, owner, a.ID, "v1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Stage(a.ID, "v1"); ok {
		t.Fatal("deleted stage still served")
	}
}

func TestVisibility(t *testing.T) {
	ctx := context.Background()
	s := open(t, openStore(t), nil)
	a := newAPI(t, s, "vis", nil)

	_, err := s.Get(ctx, subB, a.ID)
	wantErr(t, err, ErrForbidden, "")
	_, _, err = s.Subscribe(ctx, subB, a.ID)
	wantErr(t, err, ErrForbidden, "")

	if _, err := s.SetVisibility(ctx, owner, a.ID, Visibility{Mode: Accounts, Accounts: []string{subB, subB, owner}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, owner, a.ID); len(got.Visibility.Accounts) != 1 || got.Visibility.Accounts[0] != subB {
		t.Fatalf("accounts not normalized: %+v", got.Visibility)
	}
	_, keyB, err := s.Subscribe(ctx, subB, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Subscribe(ctx, subC, a.ID)
	wantErr(t, err, ErrForbidden, "")
	if got := s.Shared(ctx, subB); len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("shared with B: %v", got)
	}
	if got := s.Shared(ctx, subC); len(got) != 0 {
		t.Fatalf("shared with C: %v", got)
	}

	s.SetVisibility(ctx, owner, a.ID, Visibility{Mode: Public})
	if _, _, err := s.Subscribe(ctx, subC, a.ID); err != nil {
		t.Fatalf("public: %v", err)
	}
	// Made private again: subscribers can no longer call, but may still
	// let go of their subscription.
	a, _ = s.SetVisibility(ctx, owner, a.ID, Visibility{Mode: Private})
	_, err = s.Authenticate(a, keyB)
	wantErr(t, err, ErrUnauthorized, "")
	_, err = s.Subscriber(a, subB)
	wantErr(t, err, ErrUnauthorized, "")
	if sub, err := s.Subscriber(a, owner); err != nil || sub != nil {
		t.Fatalf("the owner needs no subscription: %v %v", sub, err)
	}
	if err := s.Unsubscribe(ctx, subB, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.SetVisibility(ctx, owner, a.ID, Visibility{Mode: "friends"})
	wantErr(t, err, ErrInvalid, "Visibility")
}

func TestKeysAreStoredHashed(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	s := open(t, st, nil)
	a := newAPI(t, s, "keys", &Visibility{Mode: Public})
	other := newAPI(t, s, "other", &Visibility{Mode: Public})
	sub, key, err := s.Subscribe(ctx, subB, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != KeyLen || sub.KeyHash != HashKey(key) || sub.KeyPrefix != key[:4] {
		t.Fatalf("key %q, subscription %+v", key, sub)
	}
	_, _, err = s.Subscribe(ctx, subB, a.ID)
	wantErr(t, err, ErrExists, "")

	// Nothing stored holds the key itself.
	kv, _ := st.KV(ctx, Bucket)
	es, err := kv.List(ctx, ">")
	if err != nil {
		t.Fatal(err)
	}
	sawHash := false
	for _, e := range es {
		if strings.Contains(string(e.Value), key) || strings.Contains(e.Key, key) {
			t.Fatalf("record %s holds the key", e.Key)
		}
		sawHash = sawHash || strings.Contains(e.Key, HashKey(key))
	}
	if !sawHash {
		t.Fatal("no index by the key's hash")
	}

	if got, err := s.Authenticate(a, key); err != nil || got.Account != subB {
		t.Fatalf("authenticate: %v %v", got, err)
	}
	for name, k := range map[string]string{
		"empty": "", "wrong": strings.Repeat("A", KeyLen), "short": key[:10], "case": strings.ToLower(key),
	} {
		if _, err := s.Authenticate(a, k); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s key: %v", name, err)
		}
	}
	if _, err := s.Authenticate(other, key); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("a key of another API: %v", err)
	}

	_, newKey, err := s.RotateKey(ctx, subB, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(a, key); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("rotated-out key still works: %v", err)
	}
	if _, err := s.Authenticate(a, newKey); err != nil {
		t.Errorf("new key: %v", err)
	}
	if err := s.Unsubscribe(ctx, subB, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(a, newKey); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("key of an ended subscription: %v", err)
	}
	wantErr(t, s.Unsubscribe(ctx, subB, a.ID), ErrNotFound, "")
}

func TestSubscribersAndPlans(t *testing.T) {
	ctx := context.Background()
	s := open(t, openStore(t), nil)
	a := newAPI(t, s, "plans", &Visibility{Mode: Public})
	def := Plan{RateLimit: 10, DailyQuota: 1000}
	if _, err := s.Update(ctx, owner, a.ID, UpdateInput{DefaultPlan: &def}); err != nil {
		t.Fatal(err)
	}
	sub, _, _ := s.Subscribe(ctx, subB, a.ID)
	s.Subscribe(ctx, subC, a.ID)
	a, _ = s.Get(ctx, owner, a.ID)
	if p := sub.Effective(a); p.RateLimit != 10 || p.Burst != 10 || p.DailyQuota != 1000 {
		t.Fatalf("default plan, burst filled in: %+v", p)
	}
	if _, err := s.SetPlan(ctx, owner, a.ID, subB, &Plan{RateLimit: 2, Burst: 2}); err != nil {
		t.Fatal(err)
	}
	_, err := s.SetPlan(ctx, subB, a.ID, subB, &Plan{})
	wantErr(t, err, ErrForbidden, "")
	_, err = s.SetPlan(ctx, owner, a.ID, "444444444444", &Plan{})
	wantErr(t, err, ErrNotFound, "")
	_, err = s.SetPlan(ctx, owner, a.ID, subB, &Plan{RateLimit: -1})
	wantErr(t, err, ErrInvalid, "RateLimit")
	_, err = s.SetPlan(ctx, owner, a.ID, subB, &Plan{DailyQuota: -1})
	wantErr(t, err, ErrInvalid, "DailyQuota")

	subB2, _ := s.Subscription(a.ID, subB)
	if sub := subB2; sub.Effective(a) != (Plan{RateLimit: 2, Burst: 2}) {
		t.Fatalf("custom plan: %+v", sub.Effective(a))
	}
	if err := s.Admit(ctx, a, subB2); err != nil {
		t.Fatal(err)
	}
	list, err := s.Subscribers(ctx, owner, a.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("subscribers: %v %v", list, err)
	}
	if list[0].Account != subB || !list[0].CustomPlan || list[0].CallsToday != 1 || list[1].CustomPlan || list[1].Plan.DailyQuota != 1000 {
		t.Fatalf("subscribers: %+v", list)
	}
	_, err = s.Subscribers(ctx, subB, a.ID)
	wantErr(t, err, ErrForbidden, "")

	// Back to the default plan; then the owner revokes.
	if sub, err := s.SetPlan(ctx, owner, a.ID, subB, nil); err != nil || sub.Plan != nil {
		t.Fatalf("reset: %+v %v", sub, err)
	}
	if err := s.Revoke(ctx, owner, a.ID, subC); err != nil {
		t.Fatal(err)
	}
	if got := s.Subscriptions(ctx, subC); len(got) != 0 {
		t.Fatalf("revoked subscription still listed: %v", got)
	}
	if got := s.Subscriptions(ctx, subB); len(got) != 1 || got[0].API != a.ID {
		t.Fatalf("B's subscriptions: %v", got)
	}

	// Deleting the API ends every subscription and its key.
	if err := s.Delete(ctx, owner, a.ID); err != nil {
		t.Fatal(err)
	}
	if got := s.Subscriptions(ctx, subB); len(got) != 0 {
		t.Fatalf("subscriptions of a deleted API: %v", got)
	}
	if _, ok := s.API(a.ID); ok {
		t.Fatal("deleted API still found")
	}
	if _, err := s.Create(ctx, owner, CreateInput{Name: "plans"}); err != nil {
		t.Fatalf("name of a deleted API not freed: %v", err)
	}
}

func TestTokenBucket(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	l := NewLimiter(clk.Now)
	take := func() (bool, time.Duration) { return l.Take("k", 2, 2) }
	for i := range 2 {
		if ok, _ := take(); !ok {
			t.Fatalf("burst call %d refused", i)
		}
	}
	ok, wait := take()
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("third call: %v, wait %v (want refused, 500ms)", ok, wait)
	}
	clk.Advance(250 * time.Millisecond)
	if ok, wait := take(); ok || wait != 250*time.Millisecond {
		t.Fatalf("half a token: %v %v", ok, wait)
	}
	clk.Advance(250 * time.Millisecond)
	if ok, _ := take(); !ok {
		t.Fatal("refill after 500ms")
	}
	// A long pause refills no more than the burst.
	clk.Advance(time.Hour)
	for i := range 3 {
		ok, _ := take()
		if ok != (i < 2) {
			t.Fatalf("after a pause, call %d: %v", i, ok)
		}
	}
	// A lowered burst caps what was saved.
	clk.Advance(time.Hour)
	if ok, _ := l.Take("k", 1, 1); !ok {
		t.Fatal("lowered plan: first")
	}
	if ok, _ := l.Take("k", 1, 1); ok {
		t.Fatal("lowered plan: burst not capped")
	}
	// Full buckets are forgotten.
	clk.Advance(time.Hour)
	l.prune()
	if len(l.buckets) != 0 {
		t.Fatalf("%d buckets kept", len(l.buckets))
	}
	if ok, _ := l.Take("free", 0, 0); !ok {
		t.Fatal("no rate limit refused a call")
	}
}

func TestRateLimitThroughAdmit(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := open(t, openStore(t), clk)
	a := newAPI(t, s, "rate", &Visibility{Mode: Public})
	sub, _, _ := s.Subscribe(ctx, subB, a.ID)
	sub, _ = s.SetPlan(ctx, owner, a.ID, subB, &Plan{RateLimit: 2, Burst: 2})
	a, _ = s.Get(ctx, owner, a.ID)
	s.Admit(ctx, a, sub)
	s.Admit(ctx, a, sub)
	err := s.Admit(ctx, a, sub)
	var le *LimitError
	if !errors.As(err, &le) || le.Quota || !errors.Is(err, ErrRateLimited) || le.RetryAfter != 500*time.Millisecond {
		t.Fatalf("third call: %v", err)
	}
	// Refused calls do not count against the quota.
	if n, _ := s.CallsToday(ctx, a.ID, subB); n != 2 {
		t.Fatalf("counted %d calls, want 2", n)
	}
}

func TestDailyQuotaSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 5, 1, 22, 0, 0, 0, time.UTC)}
	st := openStore(t)
	s := open(t, st, clk)
	a := newAPI(t, s, "quota", &Visibility{Mode: Public})
	s.Subscribe(ctx, subB, a.ID)
	sub, err := s.SetPlan(ctx, owner, a.ID, subB, &Plan{DailyQuota: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Admit(ctx, a, sub); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	s.Close() // stores the counts

	s = open(t, st, clk)
	a, _ = s.Get(ctx, owner, a.ID)
	sub, _ = s.Subscription(a.ID, subB)
	for i := range 2 {
		if err := s.Admit(ctx, a, sub); err != nil {
			t.Fatalf("call %d after restart: %v", i+3, err)
		}
	}
	err = s.Admit(ctx, a, sub)
	var le *LimitError
	if !errors.As(err, &le) || !le.Quota || !errors.Is(err, ErrQuotaExceeded) || le.RetryAfter != 2*time.Hour {
		t.Fatalf("sixth call: %v", err)
	}
	// Unsubscribing and subscribing again does not reset the quota.
	s.Unsubscribe(ctx, subB, a.ID)
	s.Subscribe(ctx, subB, a.ID)
	sub, _ = s.SetPlan(ctx, owner, a.ID, subB, &Plan{DailyQuota: 5})
	if err := s.Admit(ctx, a, sub); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("resubscribed: %v", err)
	}
	// A new UTC day starts a new count; the old day's counter goes.
	clk.Advance(2 * time.Hour)
	if err := s.Admit(ctx, a, sub); err != nil {
		t.Fatalf("next day: %v", err)
	}
	if err := s.counts.flush(ctx); err != nil {
		t.Fatal(err)
	}
	usage, _ := st.KV(ctx, UsageBucket)
	es, _ := usage.List(ctx, ">")
	if len(es) != 1 || !strings.HasSuffix(es[0].Key, ".20260502") || string(es[0].Value) != "1" {
		t.Fatalf("counters: %+v", es)
	}
}

// Two stores on one JetStream are two nodes: each sees the other's
// writes through its watch.
func TestMirrorFollowsOtherNodes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	n1, n2 := open(t, st, nil), open(t, st, nil)
	a := newAPI(t, n1, "shared", &Visibility{Mode: Public})
	n1.PutRoute(ctx, owner, a.ID, Route{Key: "GET /x", Target: "fn"})
	n1.Deploy(ctx, owner, a.ID, "prod", "")
	_, key, err := n1.Subscribe(ctx, subB, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		a2, ok := n2.API(a.ID)
		if !ok {
			return false
		}
		_, ok = n2.Stage(a.ID, "prod")
		_, err := n2.Authenticate(a2, key)
		return ok && err == nil
	})
	if err := n2.Unsubscribe(ctx, subB, a.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		a1, _ := n1.API(a.ID)
		_, err := n1.Authenticate(a1, key)
		return errors.Is(err, ErrUnauthorized)
	})
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeleteAccount(t *testing.T) {
	ctx := context.Background()
	s := open(t, openStore(t), nil)
	a := newAPI(t, s, "gone", &Visibility{Mode: Public})
	other, _ := s.Create(ctx, subC, CreateInput{Name: "c", Visibility: &Visibility{Mode: Public}})
	s.Subscribe(ctx, subB, a.ID)
	s.Subscribe(ctx, owner, other.ID)
	if err := s.DeleteAccount(ctx, owner); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.API(a.ID); ok || len(s.Subscriptions(ctx, subB)) != 0 || len(s.Subscriptions(ctx, owner)) != 0 {
		t.Fatal("an account's APIs or subscriptions outlived it")
	}
	if _, ok := s.API(other.ID); !ok {
		t.Fatal("another account's API was deleted")
	}
}
