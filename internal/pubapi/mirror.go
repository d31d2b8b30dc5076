package pubapi

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// mirror is this node's copy of the records bucket, decoded. A record
// only ever replaces an older revision of itself, and a deletion leaves a
// tombstone so that an older write seen late cannot bring it back.
type mirror struct {
	mu      sync.RWMutex
	entries map[string]mirrored
	tombs   map[string]tomb
}

type mirrored struct {
	rev uint64
	obj any
}

type tomb struct {
	rev uint64
	at  time.Time
}

func newMirror() *mirror {
	return &mirror{entries: map[string]mirrored{}, tombs: map[string]tomb{}}
}

func (m *mirror) put(key string, rev uint64, obj any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.tombs[key]; ok && t.rev >= rev {
		return
	}
	if e, ok := m.entries[key]; ok && e.rev >= rev {
		return
	}
	m.entries[key] = mirrored{rev: rev, obj: obj}
}

// drop forgets key as of rev: a newer record stays.
func (m *mirror) drop(key string, rev uint64, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok && e.rev > rev {
		return
	}
	delete(m.entries, key)
	if t, ok := m.tombs[key]; !ok || t.rev < rev {
		m.tombs[key] = tomb{rev: rev, at: now}
	}
}

func (m *mirror) pruneTombs(before time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, t := range m.tombs {
		if t.at.Before(before) {
			delete(m.tombs, k)
		}
	}
}

func (m *mirror) get(key string) (any, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[key]
	return e.obj, ok
}

func (m *mirror) rev(key string) (uint64, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[key]
	return e.rev, ok
}

// scan returns the records whose keys start with prefix, in key order.
func (m *mirror) scan(prefix string) []any {
	keys := m.keys(prefix)
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]any, 0, len(keys))
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if e, ok := m.entries[k]; ok {
			out = append(out, e.obj)
		}
	}
	return out
}

func (m *mirror) keys(prefix string) map[string]struct{} {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := map[string]struct{}{}
	for k := range m.entries {
		if strings.HasPrefix(k, prefix) {
			out[k] = struct{}{}
		}
	}
	return out
}
