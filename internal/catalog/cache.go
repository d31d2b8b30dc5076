package catalog

import (
	"context"
	"strings"
	"sync"

	"github.com/ember-run/ember/internal/store"
)

// cache keeps decoded function records and published versions in memory so
// the invocation path reads no store. It is fed twice: by this node's own
// writes, at once, and by a watch on the bucket for other nodes' writes.
// A record only ever replaces an older revision of itself. Cached
// *Function values are shared and must be treated as read-only; writers
// read the store afresh (see mutate).
type cache struct {
	mu   sync.RWMutex
	fns  map[string]*Function   // fnKey → record
	vers map[string]Config      // verKey → version (immutable)
	xals map[string]*CrossAlias // crossKey → cross-account alias
	urls map[string]urlIndex    // function URL id → its function (immutable)
	gens map[string]uint64      // account → changes seen that may move its reserved concurrency
}

const maxCachedVersions = 50_000

func newCache() *cache {
	return &cache{fns: map[string]*Function{}, vers: map[string]Config{}, xals: map[string]*CrossAlias{}, urls: map[string]urlIndex{}, gens: map[string]uint64{}}
}

// reservationMayMove counts a change to the function record key that may
// change its account's sum of reserved concurrency (c.mu held).
func (c *cache) reservationMayMove(key string) {
	account, _, _ := strings.Cut(strings.TrimPrefix(key, "fn."), ".")
	c.gens[account]++
}

// generation counts the changes this node has written or seen to
// account's function records that may have moved its sum of reserved
// concurrency (a deletion, a record it had not cached, a different
// reservation); equal numbers mean the sum did not change in between.
func (c *cache) generation(account string) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gens[account]
}

func (c *cache) function(key string) (*Function, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	f, ok := c.fns[key]
	return f, ok
}

// putFunction records f unless a newer revision is already cached.
func (c *cache) putFunction(key string, f *Function) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.fns[key]
	if had && old.rev >= f.rev {
		return
	}
	c.fns[key] = f
	if !had || !sameReservation(old.Reserved, f.Reserved) {
		c.reservationMayMove(key)
	}
}

func sameReservation(a, b *int) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// dropFunction forgets key unless the cached record is newer than rev.
func (c *cache) dropFunction(key string, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.fns[key]; ok && rev != 0 && old.rev > rev {
		return
	}
	delete(c.fns, key)
	c.reservationMayMove(key)
}

func (c *cache) cross(key string) (*CrossAlias, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, ok := c.xals[key]
	return a, ok
}

func (c *cache) putCross(key string, a *CrossAlias) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.xals[key]; ok && old.rev >= a.rev {
		return
	}
	c.xals[key] = a
}

func (c *cache) dropCross(key string, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.xals[key]; ok && rev != 0 && old.rev > rev {
		return
	}
	delete(c.xals, key)
}

func (c *cache) urlIndex(id string) (urlIndex, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ix, ok := c.urls[id]
	return ix, ok
}

func (c *cache) putURLIndex(id string, ix urlIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.urls) >= maxCachedVersions {
		clear(c.urls)
	}
	c.urls[id] = ix
}

func (c *cache) dropURLIndex(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.urls, id)
}

func (c *cache) version(key string) (Config, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.vers[key]
	return v, ok
}

func (c *cache) putVersion(key string, v Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.vers) >= maxCachedVersions {
		clear(c.vers)
	}
	c.vers[key] = v
}

func (c *cache) dropVersion(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.vers, key)
}

// follow applies other writers' changes until ctx ends.
func (c *Catalog) follow(ctx context.Context, changes <-chan store.Change) {
	defer close(c.followDone)
	for ch := range changes {
		switch {
		case strings.HasPrefix(ch.Key, "fn."):
			if ch.Deleted {
				c.cache.dropFunction(ch.Key, ch.Revision)
				continue
			}
			f, err := c.decodeFunction(store.Entry{Key: ch.Key, Value: ch.Value, Revision: ch.Revision})
			if err == nil {
				c.cache.putFunction(ch.Key, f)
			}
		case strings.HasPrefix(ch.Key, "xal."):
			if ch.Deleted {
				c.cache.dropCross(ch.Key, ch.Revision)
				continue
			}
			if a, err := c.decodeCrossAlias(store.Entry{Key: ch.Key, Value: ch.Value, Revision: ch.Revision}); err == nil {
				c.cache.putCross(ch.Key, a)
			}
		case strings.HasPrefix(ch.Key, "ver.") && ch.Deleted:
			c.cache.dropVersion(ch.Key)
		}
	}
	_ = ctx
}
