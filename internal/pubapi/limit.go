package pubapi

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ember-run/ember/internal/store"
)

// Limiter is a set of token buckets, one per subscription, in this node's
// memory. A bucket holds up to burst tokens and gains rate tokens a
// second; a call takes one.
type Limiter struct {
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	full   time.Time // from then on the bucket is full: it can be forgotten
}

// NewLimiter makes an empty limiter reading the clock now.
func NewLimiter(now func() time.Time) *Limiter {
	return &Limiter{now: now, buckets: map[string]*bucket{}}
}

// Take spends a token of key's bucket. Without one it reports how long
// until there is one. The rate and burst are given on every call, so a
// changed plan applies at once (a lowered burst caps what is saved).
func (l *Limiter) Take(key string, rate float64, burst int) (bool, time.Duration) {
	if rate <= 0 {
		return true, 0
	}
	burst = max(burst, 1)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(burst), last: now}
		l.buckets[key] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens += d.Seconds() * rate
		b.last = now
	}
	b.tokens = min(b.tokens, float64(burst))
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) / rate * float64(time.Second))
		return false, max(wait, time.Millisecond)
	}
	b.tokens--
	b.full = now.Add(time.Duration((float64(burst) - b.tokens) / rate * float64(time.Second)))
	return true, 0
}

// Forget drops key's bucket (its subscription ended or changed key).
func (l *Limiter) Forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

// prune forgets the buckets that have filled up again: a new bucket is
// full too, so nothing changes but the memory held.
func (l *Limiter) prune() {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		if now.After(b.full) {
			delete(l.buckets, k)
		}
	}
}

// counters count calls per subscription and UTC day: in memory at once,
// in the usage bucket when flushed. A stored counter is only ever added
// to (compare-and-set), so nodes sharing a bucket add up.
type counters struct {
	kv  *store.KV
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*counter
}

type counter struct {
	id, account, day string
	mu               sync.Mutex
	loaded           bool
	stored           int64 // the stored total when last read or written
	pending          int64 // counted here, not yet stored
}

func newCounters(kv *store.KV, now func() time.Time) *counters {
	return &counters{kv: kv, now: now, m: map[string]*counter{}}
}

func dayOf(t time.Time) string { return t.UTC().Format("20060102") }

func counterKey(id, account, day string) string { return "q." + id + "." + account + "." + day }

func (c *counters) get(id, account, day string) *counter {
	k := counterKey(id, account, day)
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, ok := c.m[k]
	if !ok {
		ct = &counter{id: id, account: account, day: day}
		c.m[k] = ct
	}
	return ct
}

// take counts a call unless limit (> 0) calls were counted today already.
func (c *counters) take(ctx context.Context, id, account string, limit int64) (bool, error) {
	ct := c.get(id, account, dayOf(c.now()))
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if !ct.loaded {
		n, err := c.read(ctx, counterKey(id, account, ct.day))
		if err != nil {
			return false, err
		}
		ct.stored, ct.loaded = n, true
	}
	if limit > 0 && ct.stored+ct.pending >= limit {
		return false, nil
	}
	ct.pending++
	return true, nil
}

// today is the count of today's calls.
func (c *counters) today(ctx context.Context, id, account string) (int64, error) {
	day := dayOf(c.now())
	k := counterKey(id, account, day)
	c.mu.Lock()
	ct, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		ct.mu.Lock()
		defer ct.mu.Unlock()
		if ct.loaded {
			return ct.stored + ct.pending, nil
		}
	}
	return c.read(ctx, k)
}

func (c *counters) read(ctx context.Context, key string) (int64, error) {
	e, err := c.kv.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, _ := strconv.ParseInt(string(e.Value), 10, 64)
	return n, nil
}

// flush adds what was counted here to the stored counters, and forgets
// past days' counters once they are stored.
func (c *counters) flush(ctx context.Context) error {
	today := dayOf(c.now())
	c.mu.Lock()
	keys := slices.Collect(maps.Keys(c.m))
	all := make(map[string]*counter, len(c.m))
	for k, ct := range c.m {
		all[k] = ct
	}
	c.mu.Unlock()
	// Past days first: storing a new day's first count deletes the day
	// before, which must hold everything counted on it by then.
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(all[a].day, all[b].day) })
	var errs []error
	for _, k := range keys {
		ct := all[k]
		ct.mu.Lock()
		delta := ct.pending
		ct.mu.Unlock()
		if delta > 0 {
			total, created, err := c.add(ctx, k, delta)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ct.mu.Lock()
			ct.stored, ct.pending, ct.loaded = total, ct.pending-delta, true
			ct.mu.Unlock()
			if created {
				// A new day: yesterday's counter is of no more use.
				if t, err := time.Parse("20060102", ct.day); err == nil {
					c.kv.Delete(ctx, counterKey(ct.id, ct.account, dayOf(t.AddDate(0, 0, -1))), 0)
				}
			}
		}
		if ct.day != today {
			c.mu.Lock()
			ct.mu.Lock()
			if ct.pending == 0 {
				delete(c.m, k)
			}
			ct.mu.Unlock()
			c.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// add adds delta to a stored counter and returns the new total.
func (c *counters) add(ctx context.Context, key string, delta int64) (total int64, created bool, err error) {
	for attempt := 0; attempt < 100; attempt++ {
		e, err := c.kv.Get(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = c.kv.Create(ctx, key, []byte(strconv.FormatInt(delta, 10)))
			if err == nil {
				return delta, true, nil
			}
		case err == nil:
			n, _ := strconv.ParseInt(string(e.Value), 10, 64)
			_, err = c.kv.Update(ctx, key, []byte(strconv.FormatInt(n+delta, 10)), e.Revision)
			if err == nil {
				return n + delta, false, nil
			}
		}
		if !errors.Is(err, store.ErrConflict) {
			return 0, false, err
		}
	}
	return 0, false, errors.New("pubapi: a call counter keeps changing under us")
}

// deleteAll removes stored counters of API id, of one account when given
// (then today's stays, so that subscribing again does not reset a quota),
// else of every account (and the in-memory ones too).
func (c *counters) deleteAll(ctx context.Context, id, account string) error {
	filter := "q." + id + ".>"
	if account != "" {
		filter = "q." + id + "." + account + ".*"
	}
	today := dayOf(c.now())
	if account == "" {
		c.mu.Lock()
		for k := range c.m {
			if strings.HasPrefix(k, "q."+id+".") {
				delete(c.m, k)
			}
		}
		c.mu.Unlock()
	}
	es, err := c.kv.List(ctx, filter)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range es {
		if account != "" && strings.HasSuffix(e.Key, "."+today) {
			continue
		}
		errs = append(errs, c.kv.Delete(ctx, e.Key, 0))
	}
	return errors.Join(errs...)
}
