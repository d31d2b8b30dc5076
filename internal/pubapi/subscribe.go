package pubapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/store"
)

// Refusals of a call, for the gateway to answer.
var (
	// ErrUnauthorized: no key, an unknown or revoked key, a caller with no
	// subscription, or one the API is no longer shared with.
	ErrUnauthorized = errors.New("pubapi: forbidden")
	// ErrRateLimited and ErrQuotaExceeded are wrapped by *LimitError.
	ErrRateLimited   = errors.New("pubapi: rate limit exceeded")
	ErrQuotaExceeded = errors.New("pubapi: daily quota exceeded")
)

// LimitError is a call refused by its usage plan.
type LimitError struct {
	Quota      bool          // the daily quota, not the rate, was exceeded
	RetryAfter time.Duration // when a call may succeed again
}

func (e *LimitError) Error() string {
	if e.Quota {
		return fmt.Sprintf("%v; it resets in %v", ErrQuotaExceeded, e.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("%v; retry in %v", ErrRateLimited, e.RetryAfter)
}

func (e *LimitError) Unwrap() error {
	if e.Quota {
		return ErrQuotaExceeded
	}
	return ErrRateLimited
}

// Plan limits one subscription's calls. The zero Plan is unlimited.
type Plan struct {
	RateLimit  float64 // steady requests per second; 0: unlimited
	Burst      int     // requests at once; 0 with a rate: the rate rounded up
	DailyQuota int64   // requests per UTC day; 0: unlimited
}

// Plan bounds.
const (
	MaxRate  = 10_000
	MaxBurst = 5_000
	MaxQuota = 1_000_000_000
)

// Subscription is an account's right to call an API with a key.
type Subscription struct {
	API       string
	Account   string
	KeyHash   string // hex SHA-256 of the key; the key itself is never stored
	KeyPrefix string // the key's first characters, to tell keys apart
	// Plan is the owner's plan for this subscriber; nil means the API's
	// default plan, whatever it is at the time of a call.
	Plan       *Plan `json:",omitempty"`
	Created    time.Time
	KeyCreated time.Time

	rev uint64
}

// Effective is the plan a call through sub runs under.
func (sub *Subscription) Effective(a *API) Plan {
	if sub.Plan != nil {
		return *sub.Plan
	}
	return a.DefaultPlan
}

// keyIndex leads from a key's hash to its subscription.
type keyIndex struct{ API, Account string }

// KeyLen is the length of a subscription key.
const KeyLen = 40

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// HashKey is how a key is stored and looked up.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func newKey() (key, hash string) {
	key = randomString(KeyLen, keyAlphabet)
	return key, HashKey(key)
}

// Subscription returns account's subscription to API id.
func (s *Store) Subscription(id, account string) (*Subscription, bool) {
	return mirrorGet[*Subscription](s.mirror, subKey(id, account))
}

// Subscribe subscribes caller to an API it may see and returns the new
// subscription's key, which is not kept and cannot be shown again.
func (s *Store) Subscribe(ctx context.Context, caller, ref string) (*Subscription, string, error) {
	a, err := s.Get(ctx, caller, ref)
	if err != nil {
		return nil, "", err
	}
	if _, ok := s.Subscription(a.ID, caller); ok {
		return nil, "", fmt.Errorf("%w: account %s is already subscribed to API %s; rotate its key or unsubscribe first", ErrExists, caller, a.ID)
	}
	key, hash := newKey()
	now := s.now().UTC().Truncate(time.Millisecond)
	sub := &Subscription{API: a.ID, Account: caller, KeyHash: hash, KeyPrefix: key[:4], Created: now, KeyCreated: now}
	if _, err := s.put(ctx, keyIndexKey(hash), keyIndex{API: a.ID, Account: caller}, 0, true); err != nil {
		return nil, "", err
	}
	rev, err := s.put(ctx, subKey(a.ID, caller), sub, 0, true)
	if err != nil {
		s.dropKey(ctx, hash)
		if errors.Is(err, store.ErrConflict) {
			return nil, "", fmt.Errorf("%w: account %s is already subscribed to API %s", ErrExists, caller, a.ID)
		}
		return nil, "", err
	}
	sub.rev = rev
	// The API may have been deleted meanwhile: then so is this.
	if _, ok := s.API(a.ID); !ok {
		s.removeSubscription(ctx, sub)
		return nil, "", notFound(ref)
	}
	return sub, key, nil
}

func (s *Store) dropKey(ctx context.Context, hash string) {
	if err := s.del(ctx, keyIndexKey(hash), 0); err != nil {
		s.log.Warn("pubapi: removing a key's index", "err", err)
	}
}

// mySubscription finds caller's subscription by API id, or by the name of
// caller's own API. It does not need the API to be visible: a subscriber
// may always let go.
func (s *Store) mySubscription(caller, ref string) (*Subscription, error) {
	if sub, ok := s.Subscription(ref, caller); ok {
		return sub, nil
	}
	if a, ok := s.lookup(caller, ref); ok {
		if sub, ok := s.Subscription(a.ID, caller); ok {
			return sub, nil
		}
	}
	return nil, fmt.Errorf("%w: account %s has no subscription to API %s", ErrNotFound, caller, ref)
}

// Unsubscribe ends caller's subscription: its key stops working at once.
func (s *Store) Unsubscribe(ctx context.Context, caller, ref string) error {
	sub, err := s.mySubscription(caller, ref)
	if err != nil {
		return err
	}
	return s.removeSubscription(ctx, sub)
}

func (s *Store) removeSubscription(ctx context.Context, sub *Subscription) error {
	// The subscription goes first: a key whose subscription is gone, or
	// names another hash, does not authenticate.
	if err := s.del(ctx, subKey(sub.API, sub.Account), 0); err != nil {
		return err
	}
	s.dropKey(ctx, sub.KeyHash)
	s.limits.Forget(sub.API + "/" + sub.Account)
	// Today's count stays: subscribing again does not reset a quota.
	if err := s.counts.deleteAll(ctx, sub.API, sub.Account); err != nil {
		s.log.Warn("pubapi: removing a subscription's old counters", "err", err)
	}
	return nil
}

// RotateKey gives caller's subscription a new key; the old one stops
// working at once.
func (s *Store) RotateKey(ctx context.Context, caller, ref string) (*Subscription, string, error) {
	cur, err := s.mySubscription(caller, ref)
	if err != nil {
		return nil, "", err
	}
	key, hash := newKey()
	if _, err := s.put(ctx, keyIndexKey(hash), keyIndex{API: cur.API, Account: caller}, 0, true); err != nil {
		return nil, "", err
	}
	sub, err := s.mutateSub(ctx, cur.API, caller, func(sub *Subscription) error {
		sub.KeyHash, sub.KeyPrefix, sub.KeyCreated = hash, key[:4], s.now().UTC().Truncate(time.Millisecond)
		return nil
	})
	if err != nil {
		s.dropKey(ctx, hash)
		return nil, "", err
	}
	if cur.KeyHash != hash {
		s.dropKey(ctx, cur.KeyHash)
	}
	return sub, key, nil
}

// mutateSub changes a subscription with compare-and-set.
func (s *Store) mutateSub(ctx context.Context, id, account string, fn func(*Subscription) error) (*Subscription, error) {
	k := subKey(id, account)
	for attempt := 0; attempt < casAttempts; attempt++ {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: account %s has no subscription to API %s", ErrNotFound, account, id)
		}
		if err != nil {
			return nil, err
		}
		obj, err := decode(k, e.Value, e.Revision)
		if err != nil {
			return nil, fmt.Errorf("pubapi: corrupt record %s: %w", k, err)
		}
		sub := obj.(*Subscription)
		old := sub.KeyHash
		if err := fn(sub); err != nil {
			return nil, err
		}
		rev, err := s.put(ctx, k, sub, e.Revision, false)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if old != sub.KeyHash {
			s.limits.Forget(id + "/" + account)
		}
		sub.rev = rev
		return sub, nil
	}
	return nil, fmt.Errorf("%w: the subscription of %s to API %s is being changed concurrently; retry", ErrConflict, account, id)
}

// Subscriptions lists caller's subscriptions, by API id.
func (s *Store) Subscriptions(_ context.Context, caller string) []*Subscription {
	var out []*Subscription
	for _, obj := range s.mirror.scan("sub.") {
		if sub := obj.(*Subscription); sub.Account == caller {
			out = append(out, sub)
		}
	}
	return out
}

func (s *Store) subscribers(id string) []*Subscription {
	var out []*Subscription
	for _, obj := range s.mirror.scan(subPrefix(id)) {
		out = append(out, obj.(*Subscription))
	}
	return out
}

// Subscriber is one subscription as its API's owner sees it: no key.
type Subscriber struct {
	Account    string
	Created    time.Time
	Plan       Plan // in force
	CustomPlan bool // the owner set Plan for this subscriber
	CallsToday int64
}

// Subscribers lists who subscribed to the caller's API, with their plans
// and today's (UTC) calls.
func (s *Store) Subscribers(ctx context.Context, caller, ref string) ([]Subscriber, error) {
	a, err := s.owned(ctx, caller, ref, "list its subscribers")
	if err != nil {
		return nil, err
	}
	var out []Subscriber
	for _, sub := range s.subscribers(a.ID) {
		n, err := s.counts.today(ctx, a.ID, sub.Account)
		if err != nil {
			return nil, err
		}
		out = append(out, Subscriber{Account: sub.Account, Created: sub.Created, Plan: sub.Effective(a), CustomPlan: sub.Plan != nil, CallsToday: n})
	}
	return out, nil
}

// CallsToday is how many calls account made to API id today (UTC).
func (s *Store) CallsToday(ctx context.Context, id, account string) (int64, error) {
	return s.counts.today(ctx, id, account)
}

func (s *Store) owned(ctx context.Context, caller, ref, what string) (*API, error) {
	a, err := s.Get(ctx, caller, ref)
	if err != nil {
		return nil, err
	}
	if a.Owner != caller {
		return nil, fmt.Errorf("%w: only the owner of API %s may %s", ErrForbidden, a.ID, what)
	}
	return a, nil
}

// SetPlan sets the plan of one subscriber of the caller's API; nil returns
// it to the API's default plan.
func (s *Store) SetPlan(ctx context.Context, caller, ref, account string, p *Plan) (*Subscription, error) {
	if p != nil {
		if err := p.Check(); err != nil {
			return nil, err
		}
		n := p.normalized()
		p = &n
	}
	if !arn.ValidAccountID(account) {
		return nil, invalid("Account", "%q is not a 12-digit account id", account)
	}
	a, err := s.owned(ctx, caller, ref, "set its subscribers' plans")
	if err != nil {
		return nil, err
	}
	return s.mutateSub(ctx, a.ID, account, func(sub *Subscription) error {
		sub.Plan = p
		return nil
	})
}

// Revoke ends another account's subscription to the caller's API.
func (s *Store) Revoke(ctx context.Context, caller, ref, account string) error {
	if !arn.ValidAccountID(account) {
		return invalid("Account", "%q is not a 12-digit account id", account)
	}
	a, err := s.owned(ctx, caller, ref, "revoke its subscriptions")
	if err != nil {
		return err
	}
	sub, ok := s.Subscription(a.ID, account)
	if !ok {
		return fmt.Errorf("%w: account %s has no subscription to API %s", ErrNotFound, account, a.ID)
	}
	return s.removeSubscription(ctx, sub)
}

// ---- calls ----

// Authenticate finds the subscription of a key to API a. Every failure is
// ErrUnauthorized, with the reason in the message (for logs).
func (s *Store) Authenticate(a *API, key string) (*Subscription, error) {
	if key == "" {
		return nil, fmt.Errorf("%w: no API key", ErrUnauthorized)
	}
	if len(key) != KeyLen {
		return nil, fmt.Errorf("%w: malformed API key", ErrUnauthorized)
	}
	hash := HashKey(key)
	idx, ok := mirrorGet[*keyIndex](s.mirror, keyIndexKey(hash))
	if !ok || idx.API != a.ID {
		return nil, fmt.Errorf("%w: unknown API key", ErrUnauthorized)
	}
	sub, ok := s.Subscription(a.ID, idx.Account)
	if !ok || subtle.ConstantTimeCompare([]byte(sub.KeyHash), []byte(hash)) != 1 {
		return nil, fmt.Errorf("%w: revoked API key", ErrUnauthorized)
	}
	if !a.VisibleTo(sub.Account) {
		return nil, fmt.Errorf("%w: API %s is no longer shared with %s", ErrUnauthorized, a.ID, sub.Account)
	}
	return sub, nil
}

// Subscriber finds the subscription of a signed caller. The owner needs
// none: it gets (nil, nil).
func (s *Store) Subscriber(a *API, account string) (*Subscription, error) {
	if account == a.Owner {
		return nil, nil
	}
	sub, ok := s.Subscription(a.ID, account)
	if !ok {
		return nil, fmt.Errorf("%w: account %s is not subscribed to API %s", ErrUnauthorized, account, a.ID)
	}
	if !a.VisibleTo(account) {
		return nil, fmt.Errorf("%w: API %s is no longer shared with %s", ErrUnauthorized, a.ID, account)
	}
	return sub, nil
}

// Admit charges one call to sub's plan: a token of its rate, one of its
// daily quota. A refusal is a *LimitError. Calls are counted even without
// a quota, for the owner's subscriber list.
func (s *Store) Admit(ctx context.Context, a *API, sub *Subscription) error {
	p := sub.Effective(a)
	if p.RateLimit > 0 {
		if ok, wait := s.limits.Take(a.ID+"/"+sub.Account, p.RateLimit, p.Burst); !ok {
			return &LimitError{RetryAfter: wait}
		}
	}
	ok, err := s.counts.take(ctx, a.ID, sub.Account, p.DailyQuota)
	switch {
	case err != nil && p.DailyQuota > 0:
		return err
	case err != nil:
		s.log.Warn("pubapi: counting a call", "api", a.ID, "account", sub.Account, "err", err)
	case !ok:
		now := s.now().UTC()
		midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		return &LimitError{Quota: true, RetryAfter: midnight.Sub(now)}
	}
	return nil
}

// DeleteAccount removes the APIs an account owns and its subscriptions,
// for when the account itself is deleted.
func (s *Store) DeleteAccount(ctx context.Context, account string) error {
	for _, a := range s.Owned(ctx, account) {
		if err := s.Delete(ctx, account, a.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	for _, sub := range s.Subscriptions(ctx, account) {
		if err := s.removeSubscription(ctx, sub); err != nil {
			return err
		}
	}
	return nil
}
