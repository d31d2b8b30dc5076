// Package secrets keeps per-function secret values, sealed at rest with the
// server's keyring, in a JetStream KV bucket.
//
// Values are write-only from the outside: the control API may set, list
// (names, sizes and times, never values) and delete them, and only the
// host reads a value back (Get), to hand it to a sandbox whose grant names
// it through the platform channel (package channel).
//
// Storage: one record per secret in bucket "ember-secrets", under the key
//
//	s.<account>.<function>.<name>
//
// where the name's dots are written as '=' (a name never holds '=', and a
// NATS key token may not hold '.'). The record is JSON with the name, size,
// modification time and the value sealed with associated data naming the
// record, so a sealed value moved to another record does not open.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/store"
)

// Sentinel errors. Messages after the prefix are meant for the API caller.
var (
	ErrNotFound = errors.New("secrets: not found")
	ErrInvalid  = errors.New("secrets: invalid parameter")
)

// Bucket is the KV bucket holding every secret.
const Bucket = "ember-secrets"

// Limits.
const (
	MaxNameLen    = 128
	MaxValueBytes = 64 << 10
	MaxPerFunc    = 100
)

// Sealer is authenticated encryption bound to associated data
// (keyring.Keyring implements it).
type Sealer interface {
	Seal(plain, aad []byte) []byte
	Open(sealed, aad []byte) ([]byte, error)
}

// Meta describes a secret without its value.
type Meta struct {
	Name         string
	Size         int
	LastModified time.Time
}

// Store holds the secrets of every function.
type Store struct {
	kv     *store.KV
	sealer Sealer
	now    func() time.Time
}

// New opens (creating if needed) the secrets bucket.
func New(ctx context.Context, st *store.Store, sealer Sealer) (*Store, error) {
	if sealer == nil {
		return nil, errors.New("secrets: a sealer is required")
	}
	kv, err := st.KV(ctx, Bucket)
	if err != nil {
		return nil, err
	}
	return &Store{kv: kv, sealer: sealer, now: time.Now}, nil
}

// record is the stored form of one secret.
type record struct {
	Name     string    `json:"name"`
	Size     int       `json:"size"`
	Modified time.Time `json:"modified"`
	Sealed   []byte    `json:"sealed"`
}

func (r record) meta() Meta { return Meta{Name: r.Name, Size: r.Size, LastModified: r.Modified} }

// ValidName reports whether name is a secret name: 1 to 128 of
// A-Z a-z 0-9 _ . - (the names a security policy may grant).
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
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

func check(account, function, name string) error {
	if err := checkOwner(account, function); err != nil {
		return err
	}
	if !ValidName(name) {
		return fmt.Errorf("%w: secret name %q must be 1 to %d of A-Z a-z 0-9 _ . -", ErrInvalid, name, MaxNameLen)
	}
	return nil
}

func prefix(account, function string) string { return "s." + account + "." + function + "." }

func key(account, function, name string) string {
	return prefix(account, function) + strings.ReplaceAll(name, ".", "=")
}

func aad(account, function, name string) []byte {
	return []byte("secret/" + account + "/" + function + "/" + name)
}

// Put sets a secret, creating or replacing it. A function holds at most
// MaxPerFunc secrets of at most MaxValueBytes each.
func (s *Store) Put(ctx context.Context, account, function, name string, value []byte) (Meta, error) {
	if err := check(account, function, name); err != nil {
		return Meta{}, err
	}
	if len(value) > MaxValueBytes {
		return Meta{}, fmt.Errorf("%w: secret %s is %d bytes, at most %d allowed", ErrInvalid, name, len(value), MaxValueBytes)
	}
	k := key(account, function, name)
	rec := record{
		Name:     name,
		Size:     len(value),
		Modified: s.now().UTC().Truncate(time.Millisecond),
		Sealed:   s.sealer.Seal(value, aad(account, function, name)),
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return Meta{}, err
	}
	for attempt := 0; ; attempt++ {
		e, err := s.kv.Get(ctx, k)
		switch {
		case err == nil:
			_, err = s.kv.Update(ctx, k, data, e.Revision)
		case errors.Is(err, store.ErrNotFound):
			err = s.create(ctx, account, function, name, k, data)
		}
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue // a concurrent writer of the same name: go again
		}
		if err != nil {
			return Meta{}, err
		}
		return rec.meta(), nil
	}
}

// create writes a new secret unless the function already has MaxPerFunc.
// The count is checked before and after: two creators racing past the
// limit both withdraw, so the limit holds at rest.
func (s *Store) create(ctx context.Context, account, function, name, k string, data []byte) error {
	tooMany := func() error {
		return fmt.Errorf("%w: function %s already has %d secrets, the most allowed", ErrInvalid, function, MaxPerFunc)
	}
	n, err := s.count(ctx, account, function)
	if err != nil {
		return err
	}
	if n >= MaxPerFunc {
		return tooMany()
	}
	rev, err := s.kv.Create(ctx, k, data)
	if err != nil {
		return err
	}
	if n, err = s.count(ctx, account, function); err == nil && n <= MaxPerFunc {
		return nil
	}
	// Withdraw: over the limit, or unsure whether we are.
	if derr := s.kv.Delete(ctx, k, rev); derr != nil && !errors.Is(derr, store.ErrConflict) {
		return fmt.Errorf("secrets: withdrawing %s after a failed count: %w", name, derr)
	}
	if err != nil {
		return err
	}
	return tooMany()
}

func (s *Store) count(ctx context.Context, account, function string) (int, error) {
	es, err := s.kv.List(ctx, prefix(account, function)+"*")
	return len(es), err
}

// Get returns a secret's value. It is for the host only: the control API
// never returns values.
func (s *Store) Get(ctx context.Context, account, function, name string) ([]byte, error) {
	if err := check(account, function, name); err != nil {
		return nil, err
	}
	e, err := s.kv.Get(ctx, key(account, function, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: secret %s of function %s", ErrNotFound, name, function)
	}
	if err != nil {
		return nil, err
	}
	rec, err := decode(e)
	if err != nil {
		return nil, err
	}
	plain, err := s.sealer.Open(rec.Sealed, aad(account, function, name))
	if err != nil {
		return nil, fmt.Errorf("secrets: secret %s of %s/%s: %w", name, account, function, err)
	}
	return plain, nil
}

func decode(e store.Entry) (record, error) {
	var rec record
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return record{}, fmt.Errorf("secrets: corrupt record %s: %w", e.Key, err)
	}
	return rec, nil
}

// List describes a function's secrets, by name. It never returns values.
func (s *Store) List(ctx context.Context, account, function string) ([]Meta, error) {
	if err := checkOwner(account, function); err != nil {
		return nil, err
	}
	es, err := s.kv.List(ctx, prefix(account, function)+"*")
	if err != nil {
		return nil, err
	}
	out := make([]Meta, 0, len(es))
	for _, e := range es {
		rec, err := decode(e)
		if err != nil {
			return nil, err
		}
		out = append(out, rec.meta())
	}
	// Keys sort with '=' for '.'; callers want names in order.
	slices.SortFunc(out, func(a, b Meta) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Delete removes a secret; ErrNotFound if it is not set.
func (s *Store) Delete(ctx context.Context, account, function, name string) error {
	if err := check(account, function, name); err != nil {
		return err
	}
	k := key(account, function, name)
	e, err := s.kv.Get(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: secret %s of function %s", ErrNotFound, name, function)
	}
	if err != nil {
		return err
	}
	// Unconditional: a concurrent Put of the same name loses to the delete.
	return s.kv.Delete(ctx, e.Key, 0)
}

// DeleteFunction removes every secret of a function (when the function is
// deleted). It is not an error if there are none.
func (s *Store) DeleteFunction(ctx context.Context, account, function string) error {
	if err := checkOwner(account, function); err != nil {
		return err
	}
	es, err := s.kv.List(ctx, prefix(account, function)+"*")
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := s.kv.Delete(ctx, e.Key, 0); err != nil {
			return err
		}
	}
	return nil
}
