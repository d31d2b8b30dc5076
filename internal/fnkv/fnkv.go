// Package fnkv is a small key-value store per function, on a JetStream KV
// bucket, that a function reaches through the platform channel (package
// channel). Every operation is scoped by (account, function): one
// function never sees another's keys.
//
// Keys are 1 to 512 bytes of printable UTF-8, values at most 256 KiB, and a
// function holds at most 10,000 keys. Writes may be conditional on the
// revision the caller read (optimistic concurrency) or on the key being
// absent (create-only).
//
// Storage, in bucket "ember-fnkv":
//
//	k.<account>.<function>.<hex of the key>   the value, raw
//	n.<account>.<function>                    the key count, decimal
//
// Hex keeps any key inside NATS's key alphabet and one subject token, and
// preserves byte order, so sorted tokens are sorted keys. The count is kept
// with compare-and-set on key creation and deletion; a crash between the
// two writes can leave it off by one, so when it says the function is full
// and has not changed for 30 seconds, it is recounted from the keys before
// a Put is refused.
package fnkv

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/store"
)

// Sentinel errors. Messages after the prefix are meant for the caller.
var (
	ErrNotFound = errors.New("fnkv: not found")
	ErrInvalid  = errors.New("fnkv: invalid parameter")
	ErrConflict = errors.New("fnkv: revision conflict")
	ErrQuota    = errors.New("fnkv: key quota exceeded")
	// ErrTooLarge is a value over MaxValueBytes. It is also ErrInvalid.
	ErrTooLarge = fmt.Errorf("%w: value too large", ErrInvalid)
)

// Bucket is the KV bucket holding every function's keys.
const Bucket = "ember-fnkv"

// Limits.
const (
	MaxKeyBytes      = 512
	MaxValueBytes    = 256 << 10
	MaxKeys          = 10_000
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

const (
	// casAttempts bounds retries of a compare-and-set that keeps losing.
	casAttempts = 100
	// recountAfter is how long a full count must have stood still before
	// it is checked against the keys stored.
	recountAfter = 30 * time.Second
)

// Item is one key with its value.
type Item struct {
	Key      string
	Value    []byte
	Revision uint64
	Modified time.Time
}

// Condition makes a write conditional. The zero value is unconditional.
type Condition struct {
	// Revision, when non-zero, requires the key to exist at this revision.
	Revision uint64
	// Absent requires the key not to exist (create-only). Put only.
	Absent bool
}

// ListQuery selects keys.
type ListQuery struct {
	Prefix string
	// After, when set, starts the list after this key (the Next of the
	// previous page).
	After string
	// Limit is the most keys returned: DefaultListLimit when zero, at
	// most MaxListLimit.
	Limit int
}

// Page is one page of keys, in byte order.
type Page struct {
	Keys []string
	// Next is set when more keys follow: pass it as ListQuery.After.
	Next string
}

// Store is every function's key-value store.
type Store struct {
	kv *store.KV
	// keys lists keys without reading values (store.KV.List reads them,
	// and a function may hold 2.5 GB of values).
	keys jetstream.KeyValue
	// maxKeys is MaxKeys; tests lower it.
	maxKeys int
	now     func() time.Time
}

// New opens (creating if needed) the bucket.
func New(ctx context.Context, st *store.Store) (*Store, error) {
	kv, err := st.KV(ctx, Bucket)
	if err != nil {
		return nil, err
	}
	raw, err := st.JetStream().KeyValue(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("fnkv: bucket %s: %w", Bucket, err)
	}
	return &Store{kv: kv, keys: raw, maxKeys: MaxKeys, now: time.Now}, nil
}

// ValidKey reports whether key is 1 to MaxKeyBytes bytes of printable UTF-8
// (letters, marks, numbers, punctuation, symbols and ASCII space).
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyBytes || !utf8.ValidString(key) {
		return false
	}
	for _, r := range key {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func checkOwner(account, function string) error {
	if !arn.ValidAccountID(account) {
		return fmt.Errorf("%w: account ID %q must be 12 digits", ErrInvalid, account)
	}
	if !arn.ValidFunctionName(function) {
		return fmt.Errorf("%w: function name %q must be 1 to 64 letters, digits, hyphens or underscores", ErrInvalid, function)
	}
	return nil
}

func check(account, function, key string) error {
	if err := checkOwner(account, function); err != nil {
		return err
	}
	if !ValidKey(key) {
		return fmt.Errorf("%w: a key is 1 to %d bytes of printable UTF-8", ErrInvalid, MaxKeyBytes)
	}
	return nil
}

func itemPrefix(account, function string) string { return "k." + account + "." + function + "." }
func itemKey(account, function, key string) string {
	return itemPrefix(account, function) + hex.EncodeToString([]byte(key))
}
func countKey(account, function string) string { return "n." + account + "." + function }

// mapErr turns store errors into this package's, naming the user's key
// rather than the encoded one.
func mapErr(err error, key string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: key %q", ErrNotFound, key)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: key %q changed", ErrConflict, key)
	}
	return err
}

// Get reads a key.
func (s *Store) Get(ctx context.Context, account, function, key string) (Item, error) {
	if err := check(account, function, key); err != nil {
		return Item{}, err
	}
	e, err := s.kv.Get(ctx, itemKey(account, function, key))
	if err != nil {
		return Item{}, mapErr(err, key)
	}
	return Item{Key: key, Value: e.Value, Revision: e.Revision, Modified: e.Created}, nil
}

// Put writes a key and returns its new revision. With c.Revision it
// succeeds only if the key is still at that revision, with c.Absent only if
// the key does not exist; otherwise ErrConflict. Creating a key when the
// function already holds MaxKeys is ErrQuota.
func (s *Store) Put(ctx context.Context, account, function, key string, value []byte, c Condition) (uint64, error) {
	if err := check(account, function, key); err != nil {
		return 0, err
	}
	if len(value) > MaxValueBytes {
		return 0, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrTooLarge, len(value), MaxValueBytes)
	}
	if c.Absent && c.Revision != 0 {
		return 0, fmt.Errorf("%w: a write cannot require both a revision and absence", ErrInvalid)
	}
	k := itemKey(account, function, key)
	if c.Revision != 0 {
		rev, err := s.kv.Update(ctx, k, value, c.Revision)
		return rev, mapErr(err, key)
	}
	for attempt := 0; attempt < casAttempts; attempt++ {
		e, err := s.kv.Get(ctx, k)
		switch {
		case err == nil && c.Absent:
			return 0, fmt.Errorf("%w: key %q exists", ErrConflict, key)
		case err == nil:
			rev, err := s.kv.Update(ctx, k, value, e.Revision)
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return rev, mapErr(err, key)
		case !errors.Is(err, store.ErrNotFound):
			return 0, err
		}
		// Creating: reserve a place in the count first, so the quota
		// holds however many create at once.
		if err := s.adjust(ctx, account, function, +1); err != nil {
			return 0, err
		}
		rev, err := s.kv.Create(ctx, k, value)
		if err == nil {
			return rev, nil
		}
		if uerr := s.adjust(context.WithoutCancel(ctx), account, function, -1); uerr != nil {
			return 0, errors.Join(mapErr(err, key), uerr)
		}
		if errors.Is(err, store.ErrConflict) && !c.Absent {
			continue // created meanwhile: now it is an update
		}
		return 0, mapErr(err, key)
	}
	return 0, fmt.Errorf("%w: key %q keeps changing", ErrConflict, key)
}

// Delete removes a key. Without c.Revision a missing key is not an error;
// with it the key must be at that revision (ErrConflict otherwise).
func (s *Store) Delete(ctx context.Context, account, function, key string, c Condition) error {
	if err := check(account, function, key); err != nil {
		return err
	}
	if c.Absent {
		return fmt.Errorf("%w: a delete cannot require absence", ErrInvalid)
	}
	k := itemKey(account, function, key)
	for attempt := 0; attempt < casAttempts; attempt++ {
		// Read first: only the delete that removes a live key may count
		// it out, and a purge alone does not say whether there was one.
		e, err := s.kv.Get(ctx, k)
		switch {
		case errors.Is(err, store.ErrNotFound) && c.Revision != 0:
			return fmt.Errorf("%w: key %q does not exist", ErrConflict, key)
		case errors.Is(err, store.ErrNotFound):
			return nil
		case err != nil:
			return err
		case c.Revision != 0 && e.Revision != c.Revision:
			return fmt.Errorf("%w: key %q is at revision %d", ErrConflict, key, e.Revision)
		}
		err = s.kv.Delete(ctx, k, e.Revision)
		if errors.Is(err, store.ErrConflict) {
			if c.Revision != 0 {
				return mapErr(err, key)
			}
			continue
		}
		if err != nil {
			return err
		}
		return s.adjust(context.WithoutCancel(ctx), account, function, -1)
	}
	return fmt.Errorf("%w: key %q keeps changing", ErrConflict, key)
}

// adjust moves the function's key count by delta with compare-and-set.
// Growing past MaxKeys is ErrQuota, after a recount in case the count has
// drifted up.
func (s *Store) adjust(ctx context.Context, account, function string, delta int) error {
	ck := countKey(account, function)
	recounted := false
	for attempt := 0; attempt < casAttempts; attempt++ {
		n, rev, written, err := s.readCount(ctx, ck)
		if err != nil {
			return err
		}
		next := max(n+delta, 0)
		if delta > 0 && next > s.maxKeys {
			// A recount cannot tell a reservation whose key is being
			// created right now from one a crash left behind, so it waits
			// until the count has been still for a while.
			if recounted || s.now().Sub(written) < recountAfter {
				return fmt.Errorf("%w: function %s holds %d keys, the most allowed", ErrQuota, function, s.maxKeys)
			}
			recounted = true
			if err := s.recount(ctx, account, function, rev); err != nil && !errors.Is(err, store.ErrConflict) {
				return err
			}
			continue
		}
		if err := s.writeCount(ctx, ck, next, rev); errors.Is(err, store.ErrConflict) {
			continue
		} else if err != nil {
			return err
		}
		return nil
	}
	return fmt.Errorf("fnkv: key count of %s/%s: too much contention", account, function)
}

// readCount returns a count, its revision (0 when there is none) and when
// it was written.
func (s *Store) readCount(ctx context.Context, ck string) (n int, rev uint64, written time.Time, err error) {
	e, err := s.kv.Get(ctx, ck)
	if errors.Is(err, store.ErrNotFound) {
		return 0, 0, time.Time{}, nil
	}
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	n, err = strconv.Atoi(string(e.Value))
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("fnkv: corrupt key count %s: %q", ck, e.Value)
	}
	return n, e.Revision, e.Created, nil
}

func (s *Store) writeCount(ctx context.Context, ck string, n int, rev uint64) error {
	v := []byte(strconv.Itoa(n))
	var err error
	if rev == 0 {
		_, err = s.kv.Create(ctx, ck, v)
	} else {
		_, err = s.kv.Update(ctx, ck, v, rev)
	}
	return err
}

// recount sets the count, last read at rev, to the number of keys stored.
func (s *Store) recount(ctx context.Context, account, function string, rev uint64) error {
	keys, err := s.rawKeys(ctx, itemPrefix(account, function)+"*")
	if err != nil {
		return err
	}
	return s.writeCount(ctx, countKey(account, function), len(keys), rev)
}

// Count returns the function's key count as kept (see the package comment).
func (s *Store) Count(ctx context.Context, account, function string) (int, error) {
	if err := checkOwner(account, function); err != nil {
		return 0, err
	}
	n, _, _, err := s.readCount(ctx, countKey(account, function))
	return n, err
}

// rawKeys lists the stored keys matching filter, without their values,
// sorted and without duplicates.
func (s *Store) rawKeys(ctx context.Context, filter string) ([]string, error) {
	// The lister's goroutine ends only when drained or cancelled.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kl, err := s.keys.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("fnkv: list %s: %w", filter, err)
	}
	defer kl.Stop()
	var out []string
	for k := range kl.Keys() {
		out = append(out, k)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// List returns a page of the function's keys that start with q.Prefix, in
// byte order.
func (s *Store) List(ctx context.Context, account, function string, q ListQuery) (Page, error) {
	if err := checkOwner(account, function); err != nil {
		return Page{}, err
	}
	switch {
	case q.Limit < 0:
		return Page{}, fmt.Errorf("%w: limit must not be negative", ErrInvalid)
	case q.Limit == 0:
		q.Limit = DefaultListLimit
	case q.Limit > MaxListLimit:
		q.Limit = MaxListLimit
	}
	if len(q.Prefix) > MaxKeyBytes || len(q.After) > MaxKeyBytes {
		return Page{}, fmt.Errorf("%w: prefix and start key are at most %d bytes", ErrInvalid, MaxKeyBytes)
	}
	ip := itemPrefix(account, function)
	raw, err := s.rawKeys(ctx, ip+"*")
	if err != nil {
		return Page{}, err
	}
	// Hex preserves byte order and prefixes, so the filtering happens on
	// the encoded tokens and only the page is decoded.
	hp := hex.EncodeToString([]byte(q.Prefix))
	ha := hex.EncodeToString([]byte(q.After))
	var p Page
	for _, rk := range raw {
		tok := strings.TrimPrefix(rk, ip)
		if !strings.HasPrefix(tok, hp) || (q.After != "" && tok <= ha) {
			continue
		}
		if len(p.Keys) == q.Limit {
			p.Next = p.Keys[len(p.Keys)-1]
			break
		}
		b, err := hex.DecodeString(tok)
		if err != nil {
			continue // not ours
		}
		p.Keys = append(p.Keys, string(b))
	}
	return p, nil
}

// DeleteFunction removes every key of a function (when the function is
// deleted). It is not an error if there are none.
func (s *Store) DeleteFunction(ctx context.Context, account, function string) error {
	if err := checkOwner(account, function); err != nil {
		return err
	}
	keys, err := s.rawKeys(ctx, itemPrefix(account, function)+"*")
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.kv.Delete(ctx, k, 0); err != nil {
			return err
		}
	}
	return s.kv.Delete(ctx, countKey(account, function), 0)
}
