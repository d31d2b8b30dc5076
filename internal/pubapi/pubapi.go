package pubapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/httpevent"
	"github.com/ember-run/ember/internal/store"
)

// Sentinel errors. Messages after the prefix are meant for the API caller.
var (
	ErrNotFound  = errors.New("pubapi: not found")
	ErrForbidden = errors.New("pubapi: access denied")
	ErrInvalid   = errors.New("pubapi: invalid parameter")
	ErrExists    = errors.New("pubapi: already exists")
	ErrConflict  = errors.New("pubapi: conflict")
)

// Buckets.
const (
	Bucket      = "ember-pubapi"
	UsageBucket = "ember-pubapi-usage"
)

// Limits.
const (
	MaxAPIsPerAccount = 100
	MaxRoutes         = 300
	MaxStages         = 10
	MaxAccounts       = 100 // accounts one API may be shared with
	MaxTimeout        = 900 // seconds, Lambda's longest
	MaxNameLen        = 128
	MaxDescriptionLen = 1024
	IDLen             = 10
)

// Visibility modes.
const (
	Private  = "private"  // the owner only
	Accounts = "accounts" // the owner and the listed accounts
	Public   = "public"   // every account
)

// casAttempts bounds retries of a compare-and-set that keeps losing.
const casAttempts = 20

// API is one published API: its draft routes, who may see it and the plan
// a new subscription gets.
type API struct {
	ID          string
	Owner       string
	Name        string
	Description string `json:",omitempty"`
	// Routes are the draft: edits change them, and only a deploy copies
	// them into a stage that callers reach.
	Routes      []Route
	Visibility  Visibility
	DefaultPlan Plan
	Created     time.Time
	Modified    time.Time

	rev uint64
}

// Route sends the requests matching Key to the owner's function Target.
type Route struct {
	// Key is "METHOD /path" with {param} and a final {param+} segments,
	// or "$default"; METHOD is ANY, GET, POST, PUT, PATCH, DELETE, HEAD or
	// OPTIONS.
	Key string
	// Target is the owner's function: a name or ARN, optionally qualified
	// with a version or alias.
	Target string
	// Timeout bounds a call in seconds; 0 means the function's own.
	Timeout int `json:",omitempty"`
}

// Visibility says who may see, subscribe to and call an API.
type Visibility struct {
	Mode     string   // Private, Accounts or Public
	Accounts []string `json:",omitempty"` // Mode Accounts: who, besides the owner
}

// VisibleTo reports whether account may see the API.
func (a *API) VisibleTo(account string) bool {
	switch {
	case account == a.Owner:
		return true
	case a.Visibility.Mode == Public:
		return true
	case a.Visibility.Mode == Accounts:
		return slices.Contains(a.Visibility.Accounts, account)
	}
	return false
}

// Options configure the store.
type Options struct {
	// Now is the clock of quotas, rate limits and timestamps; time.Now
	// when nil.
	Now func() time.Time
	// FlushInterval is how often call counts are added to the stored
	// daily counters; 1s when zero.
	FlushInterval time.Duration
	Logger        *slog.Logger
}

// Store keeps published APIs and their subscriptions.
type Store struct {
	kv      *store.KV
	now     func() time.Time
	log     *slog.Logger
	flush   time.Duration
	mirror  *mirror
	limits  *Limiter
	counts  *counters
	stop    context.CancelFunc
	done    chan struct{}
	follows chan struct{}
	once    sync.Once
}

// Open opens (creating if needed) the buckets and loads the mirror.
func Open(ctx context.Context, st *store.Store, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	kv, err := st.KV(ctx, Bucket)
	if err != nil {
		return nil, err
	}
	usage, err := st.KV(ctx, UsageBucket)
	if err != nil {
		return nil, err
	}
	s := &Store{
		kv: kv, now: opts.Now, log: opts.Logger, flush: opts.FlushInterval,
		mirror: newMirror(), limits: NewLimiter(opts.Now), counts: newCounters(usage, opts.Now),
		done: make(chan struct{}), follows: make(chan struct{}),
	}
	// Watch before listing: a change made in between is then seen by the
	// watch, and the mirror keeps whichever revision is newer.
	bg, cancel := context.WithCancel(context.Background())
	changes, err := kv.Watch(bg, ">")
	if err != nil {
		cancel()
		return nil, err
	}
	s.stop = cancel
	go s.follow(changes)
	entries, err := kv.List(ctx, ">")
	if err != nil {
		cancel()
		<-s.follows
		return nil, err
	}
	for _, e := range entries {
		s.apply(e.Key, e.Value, e.Revision)
	}
	go s.loop(bg)
	return s, nil
}

// Close stops following the store and stores the counts not yet stored.
// It is idempotent.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.stop()
		<-s.follows
		<-s.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.counts.flush(ctx); err != nil {
			s.log.Warn("pubapi: storing call counts on close", "err", err)
		}
	})
	return nil
}

func (s *Store) follow(changes <-chan store.Change) {
	defer close(s.follows)
	for ch := range changes {
		if ch.Deleted {
			s.mirror.drop(ch.Key, ch.Revision, s.now())
			continue
		}
		s.apply(ch.Key, ch.Value, ch.Revision)
	}
}

// loop stores call counts and forgets idle rate buckets until ctx ends.
func (s *Store) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.flush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := s.counts.flush(fctx); err != nil && ctx.Err() == nil {
				s.log.Warn("pubapi: storing call counts", "err", err)
			}
			cancel()
			s.limits.prune()
			s.mirror.pruneTombs(s.now().Add(-10 * time.Minute))
		}
	}
}

// apply decodes a stored record into the mirror. A record that does not
// decode is logged and left out: it cannot be served.
func (s *Store) apply(key string, value []byte, rev uint64) {
	obj, err := decode(key, value, rev)
	if err != nil {
		s.log.Warn("pubapi: undecodable record", "key", key, "err", err)
		return
	}
	s.mirror.put(key, rev, obj)
}

func decode(key string, value []byte, rev uint64) (any, error) {
	kind, _, _ := strings.Cut(key, ".")
	switch kind {
	case "api":
		a := &API{}
		if err := json.Unmarshal(value, a); err != nil {
			return nil, err
		}
		a.rev = rev
		return a, nil
	case "stage":
		st := &Stage{}
		if err := json.Unmarshal(value, st); err != nil {
			return nil, err
		}
		st.rev = rev
		if err := st.compile(); err != nil {
			return nil, err
		}
		return st, nil
	case "sub":
		sub := &Subscription{}
		if err := json.Unmarshal(value, sub); err != nil {
			return nil, err
		}
		sub.rev = rev
		return sub, nil
	case "key":
		k := &keyIndex{}
		if err := json.Unmarshal(value, k); err != nil {
			return nil, err
		}
		return k, nil
	case "name":
		var id string
		if err := json.Unmarshal(value, &id); err != nil {
			return nil, err
		}
		return id, nil
	}
	return nil, fmt.Errorf("unknown record kind %q", kind)
}

func apiKey(id string) string          { return "api." + id }
func stageKey(id, stage string) string { return "stage." + id + "." + stage }
func subKey(id, account string) string { return "sub." + id + "." + account }
func keyIndexKey(hash string) string   { return "key." + hash }
func nameKey(owner, name string) string {
	return "name." + owner + "." + hex.EncodeToString([]byte(name))
}
func nameKeys(owner string) string { return "name." + owner + "." }
func stagePrefix(id string) string { return "stage." + id + "." }
func subPrefix(id string) string   { return "sub." + id + "." }
func mirrorGet[T any](m *mirror, key string) (T, bool) {
	obj, ok := m.get(key)
	if !ok {
		var zero T
		return zero, false
	}
	t, ok := obj.(T)
	return t, ok
}

// put writes a record and mirrors it at once (read your writes).
func (s *Store) put(ctx context.Context, key string, v any, rev uint64, create bool) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	var n uint64
	switch {
	case create:
		n, err = s.kv.Create(ctx, key, data)
	case rev > 0:
		n, err = s.kv.Update(ctx, key, data, rev)
	default:
		n, err = s.kv.Put(ctx, key, data)
	}
	if err != nil {
		return 0, err
	}
	s.apply(key, data, n)
	return n, nil
}

// del removes a record last seen at rev (0: whatever is there) and drops
// it from the mirror.
func (s *Store) del(ctx context.Context, key string, rev uint64) error {
	if err := s.kv.Delete(ctx, key, rev); err != nil {
		return err
	}
	if rev == 0 {
		if e, ok := s.mirror.rev(key); ok {
			rev = e
		}
	}
	s.mirror.drop(key, rev, s.now())
	return nil
}

// ---- APIs ----

// CreateInput describes a new API.
type CreateInput struct {
	Name        string
	Description string
	Visibility  *Visibility // nil: private
	DefaultPlan *Plan       // nil: unlimited
}

// Create makes an API owned by owner. Names are unique per owner.
func (s *Store) Create(ctx context.Context, owner string, in CreateInput) (*API, error) {
	if !arn.ValidAccountID(owner) {
		return nil, invalid("Owner", "%q is not an account id", owner)
	}
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	if err := checkDescription(in.Description); err != nil {
		return nil, err
	}
	vis := Visibility{Mode: Private}
	if in.Visibility != nil {
		v, err := checkVisibility(owner, *in.Visibility)
		if err != nil {
			return nil, err
		}
		vis = v
	}
	var plan Plan
	if in.DefaultPlan != nil {
		if err := in.DefaultPlan.Check(); err != nil {
			return nil, err
		}
		plan = in.DefaultPlan.normalized()
	}
	if n := len(s.mirror.scan(nameKeys(owner))); n >= MaxAPIsPerAccount {
		return nil, invalid("Name", "account %s already has %d APIs, the most allowed", owner, n)
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	a := &API{Owner: owner, Name: in.Name, Description: in.Description, Routes: []Route{},
		Visibility: vis, DefaultPlan: plan, Created: now, Modified: now}
	for attempt := 0; ; attempt++ {
		a.ID = newID()
		if err := s.claimName(ctx, owner, in.Name, a.ID); err != nil {
			return nil, err
		}
		rev, err := s.put(ctx, apiKey(a.ID), a, 0, true)
		if errors.Is(err, store.ErrConflict) && attempt < casAttempts {
			s.releaseName(ctx, owner, in.Name, a.ID)
			continue // an id drawn twice
		}
		if err != nil {
			s.releaseName(ctx, owner, in.Name, a.ID)
			return nil, err
		}
		a.rev = rev
		return a, nil
	}
}

// claimName records that owner's API id is called name. A claim whose API
// is gone (a crash between writes) is taken over.
func (s *Store) claimName(ctx context.Context, owner, name, id string) error {
	k := nameKey(owner, name)
	for attempt := 0; attempt < casAttempts; attempt++ {
		_, err := s.put(ctx, k, id, 0, true)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		var other string
		json.Unmarshal(e.Value, &other)
		if _, err := s.kv.Get(ctx, apiKey(other)); !errors.Is(err, store.ErrNotFound) {
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: account %s already has an API named %q (%s)", ErrExists, owner, name, other)
		}
		if _, err := s.put(ctx, k, id, e.Revision, false); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("%w: the name %q is being changed concurrently; retry", ErrConflict, name)
}

// releaseName removes owner's claim on name if it still names id.
func (s *Store) releaseName(ctx context.Context, owner, name, id string) {
	k := nameKey(owner, name)
	e, err := s.kv.Get(ctx, k)
	if err != nil {
		return
	}
	var cur string
	if json.Unmarshal(e.Value, &cur) == nil && cur == id {
		if err := s.del(ctx, k, e.Revision); err != nil {
			s.log.Warn("pubapi: releasing an API name", "name", name, "err", err)
		}
	}
}

// lookup finds an API by id or, for its owner, by name.
func (s *Store) lookup(caller, ref string) (*API, bool) {
	if a, ok := mirrorGet[*API](s.mirror, apiKey(ref)); ok && ValidID(ref) {
		return a, true
	}
	if id, ok := mirrorGet[string](s.mirror, nameKey(caller, ref)); ok {
		if a, ok := mirrorGet[*API](s.mirror, apiKey(id)); ok && a.Owner == caller {
			return a, true
		}
	}
	return nil, false
}

func notFound(ref string) error {
	return fmt.Errorf("%w: API %s", ErrNotFound, ref)
}

// Get returns the API named by ref (an id, or the caller's own API's
// name) if caller may see it. The result is shared: do not modify it.
func (s *Store) Get(_ context.Context, caller, ref string) (*API, error) {
	a, ok := s.lookup(caller, ref)
	if !ok {
		return nil, notFound(ref)
	}
	if !a.VisibleTo(caller) {
		return nil, fmt.Errorf("%w: API %s is not shared with account %s", ErrForbidden, ref, caller)
	}
	return a, nil
}

// API returns an API by id, whoever asks (the gateway's lookup).
func (s *Store) API(id string) (*API, bool) {
	if !ValidID(id) {
		return nil, false
	}
	return mirrorGet[*API](s.mirror, apiKey(id))
}

// Owned lists owner's APIs by name.
func (s *Store) Owned(_ context.Context, owner string) []*API {
	var out []*API
	for _, obj := range s.mirror.scan(nameKeys(owner)) {
		if a, ok := mirrorGet[*API](s.mirror, apiKey(obj.(string))); ok && a.Owner == owner {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *API) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Shared lists the APIs of other accounts that account may see: public
// ones and those shared with it.
func (s *Store) Shared(_ context.Context, account string) []*API {
	var out []*API
	for _, obj := range s.mirror.scan("api.") {
		if a := obj.(*API); a.Owner != account && a.VisibleTo(account) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *API) int { return strings.Compare(a.Owner+a.Name, b.Owner+b.Name) })
	return out
}

// mutate applies fn to a fresh copy of the caller's API ref and stores it
// with compare-and-set, retrying on a concurrent change. Only the owner
// may change an API.
func (s *Store) mutate(ctx context.Context, caller, ref string, fn func(a *API) error) (*API, error) {
	cur, err := s.Get(ctx, caller, ref)
	if err != nil {
		return nil, err
	}
	if cur.Owner != caller {
		return nil, fmt.Errorf("%w: only the owner of API %s may change it", ErrForbidden, cur.ID)
	}
	for attempt := 0; attempt < casAttempts; attempt++ {
		e, err := s.kv.Get(ctx, apiKey(cur.ID))
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound(ref)
		}
		if err != nil {
			return nil, err
		}
		a := &API{}
		if err := json.Unmarshal(e.Value, a); err != nil {
			return nil, fmt.Errorf("pubapi: corrupt record %s: %w", e.Key, err)
		}
		if err := fn(a); err != nil {
			return nil, err
		}
		a.Modified = s.now().UTC().Truncate(time.Millisecond)
		rev, err := s.put(ctx, e.Key, a, e.Revision, false)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		a.rev = rev
		return a, nil
	}
	return nil, fmt.Errorf("%w: API %s is being changed concurrently; retry", ErrConflict, cur.ID)
}

// UpdateInput changes an API; nil fields stay as they are.
type UpdateInput struct {
	Name        *string
	Description *string
	Visibility  *Visibility
	DefaultPlan *Plan
}

// Update changes an API's name, description, visibility or default plan.
func (s *Store) Update(ctx context.Context, caller, ref string, in UpdateInput) (*API, error) {
	if in.Name != nil {
		if err := checkName(*in.Name); err != nil {
			return nil, err
		}
	}
	if in.Description != nil {
		if err := checkDescription(*in.Description); err != nil {
			return nil, err
		}
	}
	var vis Visibility
	if in.Visibility != nil {
		var err error
		if vis, err = checkVisibility(caller, *in.Visibility); err != nil {
			return nil, err
		}
	}
	if in.DefaultPlan != nil {
		if err := in.DefaultPlan.Check(); err != nil {
			return nil, err
		}
	}
	var oldName string
	if in.Name != nil {
		cur, err := s.Get(ctx, caller, ref)
		if err != nil {
			return nil, err
		}
		if cur.Owner != caller {
			return nil, fmt.Errorf("%w: only the owner of API %s may change it", ErrForbidden, cur.ID)
		}
		if oldName = cur.Name; oldName != *in.Name {
			if err := s.claimName(ctx, caller, *in.Name, cur.ID); err != nil {
				return nil, err
			}
		}
		ref = cur.ID
	}
	a, err := s.mutate(ctx, caller, ref, func(a *API) error {
		if in.Name != nil {
			a.Name = *in.Name
		}
		if in.Description != nil {
			a.Description = *in.Description
		}
		if in.Visibility != nil {
			a.Visibility = vis
		}
		if in.DefaultPlan != nil {
			a.DefaultPlan = in.DefaultPlan.normalized()
		}
		return nil
	})
	if in.Name != nil && oldName != *in.Name {
		switch {
		case err != nil:
			s.releaseName(ctx, caller, *in.Name, ref)
		default:
			s.releaseName(ctx, caller, oldName, ref)
		}
	}
	return a, err
}

// SetVisibility publishes an API (public, or to listed accounts) or makes
// it private again. Subscribers who can no longer see it cannot call it.
func (s *Store) SetVisibility(ctx context.Context, caller, ref string, v Visibility) (*API, error) {
	return s.Update(ctx, caller, ref, UpdateInput{Visibility: &v})
}

// PutRoute adds a route to the API's draft, or replaces the route with
// the same key. The target's existence is the caller's to check.
func (s *Store) PutRoute(ctx context.Context, caller, ref string, r Route) (*API, error) {
	key, err := NormalizeRouteKey(r.Key)
	if err != nil {
		return nil, err
	}
	r.Key = key
	if r.Timeout < 0 || r.Timeout > MaxTimeout {
		return nil, invalid("TimeoutSeconds", "must be 1 to %d seconds (0: the function's own timeout)", MaxTimeout)
	}
	return s.mutate(ctx, caller, ref, func(a *API) error {
		if _, err := ParseTarget(a.Owner, r.Target); err != nil {
			return err
		}
		routes := slices.DeleteFunc(slices.Clone(a.Routes), func(o Route) bool { return o.Key == r.Key })
		if len(routes) >= MaxRoutes {
			return invalid("RouteKey", "API %s already has %d routes, the most allowed", a.ID, MaxRoutes)
		}
		var rt httpevent.Router[struct{}]
		for _, o := range routes {
			rt.AddKey(o.Key, struct{}{})
		}
		if err := rt.AddKey(r.Key, struct{}{}); err != nil {
			return invalid("RouteKey", "%s", strings.TrimPrefix(err.Error(), httpevent.ErrBadRoute.Error()+": "))
		}
		routes = append(routes, r)
		slices.SortFunc(routes, func(a, b Route) int { return strings.Compare(a.Key, b.Key) })
		a.Routes = routes
		return nil
	})
}

// DeleteRoute removes a route from the API's draft.
func (s *Store) DeleteRoute(ctx context.Context, caller, ref, key string) (*API, error) {
	if k, err := NormalizeRouteKey(key); err == nil {
		key = k
	}
	return s.mutate(ctx, caller, ref, func(a *API) error {
		n := len(a.Routes)
		a.Routes = slices.DeleteFunc(a.Routes, func(o Route) bool { return o.Key == key })
		if len(a.Routes) == n {
			return fmt.Errorf("%w: API %s has no route %q", ErrNotFound, a.ID, key)
		}
		return nil
	})
}

// Delete removes an API with its stages, subscriptions (their keys stop
// working at once) and call counters.
func (s *Store) Delete(ctx context.Context, caller, ref string) error {
	a, err := s.Get(ctx, caller, ref)
	if err != nil {
		return err
	}
	if a.Owner != caller {
		return fmt.Errorf("%w: only the owner of API %s may delete it", ErrForbidden, a.ID)
	}
	// The record goes first: from then on nothing reaches the API, and a
	// crash part-way leaves only unreachable records (deleted again below
	// on a retry, or taken over by a new API of the same name).
	if err := s.del(ctx, apiKey(a.ID), 0); err != nil {
		return err
	}
	for _, sub := range s.subscribers(a.ID) {
		if err := s.removeSubscription(ctx, sub); err != nil {
			return err
		}
	}
	for key := range s.mirror.keys(stagePrefix(a.ID)) {
		if err := s.del(ctx, key, 0); err != nil {
			return err
		}
	}
	if err := s.counts.deleteAll(ctx, a.ID, ""); err != nil {
		return err
	}
	s.releaseName(ctx, a.Owner, a.Name, a.ID)
	return nil
}
