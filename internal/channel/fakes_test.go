package channel_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ember-run/ember/internal/channel"
	"github.com/ember-run/ember/internal/fnkv"
	"github.com/ember-run/ember/internal/secrets"
)

var fnkvNone = fnkv.Condition{}

// memSecrets is an in-memory secrets backend that records what it was
// asked.
type memSecrets struct {
	mu     sync.Mutex
	values map[string][]byte // account/function/name
	asked  []string
	err    error
}

func (m *memSecrets) set(account, function, name, value string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.values == nil {
		m.values = map[string][]byte{}
	}
	m.values[account+"/"+function+"/"+name] = []byte(value)
}

func (m *memSecrets) Get(_ context.Context, account, function, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := account + "/" + function + "/" + name
	m.asked = append(m.asked, k)
	if m.err != nil {
		return nil, m.err
	}
	v, ok := m.values[k]
	if !ok {
		return nil, fmt.Errorf("%w: %s", secrets.ErrNotFound, name)
	}
	return v, nil
}

func (m *memSecrets) calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.asked)
}

// memKV is an in-memory fnkv with the same conditions and errors.
type memKV struct {
	mu    sync.Mutex
	rev   uint64
	items map[string]fnkv.Item // account/function/key
}

var _ channel.KV = (*memKV)(nil)

func scoped(account, function, key string) string { return account + "/" + function + "/" + key }

func (m *memKV) Get(_ context.Context, account, function, key string) (fnkv.Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[scoped(account, function, key)]
	if !ok {
		return fnkv.Item{}, fmt.Errorf("%w: key %q", fnkv.ErrNotFound, key)
	}
	return it, nil
}

func (m *memKV) Put(_ context.Context, account, function, key string, value []byte, c fnkv.Condition) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(value) > fnkv.MaxValueBytes {
		return 0, fnkv.ErrTooLarge
	}
	if m.items == nil {
		m.items = map[string]fnkv.Item{}
	}
	k := scoped(account, function, key)
	cur, ok := m.items[k]
	switch {
	case c.Absent && ok:
		return 0, fmt.Errorf("%w: key %q exists", fnkv.ErrConflict, key)
	case c.Revision != 0 && (!ok || cur.Revision != c.Revision):
		return 0, fmt.Errorf("%w: key %q changed", fnkv.ErrConflict, key)
	}
	m.rev++
	m.items[k] = fnkv.Item{Key: key, Value: slices.Clone(value), Revision: m.rev}
	return m.rev, nil
}

func (m *memKV) Delete(_ context.Context, account, function, key string, c fnkv.Condition) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := scoped(account, function, key)
	cur, ok := m.items[k]
	if c.Revision != 0 && (!ok || cur.Revision != c.Revision) {
		return fmt.Errorf("%w: key %q changed", fnkv.ErrConflict, key)
	}
	delete(m.items, k)
	return nil
}

func (m *memKV) List(_ context.Context, account, function string, q fnkv.ListQuery) (fnkv.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if q.Limit == 0 {
		q.Limit = fnkv.DefaultListLimit
	}
	var keys []string
	for k, it := range m.items {
		if strings.HasPrefix(k, scoped(account, function, "")) && strings.HasPrefix(it.Key, q.Prefix) && it.Key > q.After {
			keys = append(keys, it.Key)
		}
	}
	slices.Sort(keys)
	var p fnkv.Page
	if len(keys) > q.Limit {
		keys = keys[:q.Limit]
		p.Next = keys[len(keys)-1]
	}
	p.Keys = keys
	return p, nil
}
