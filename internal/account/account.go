// Package account manages tenants: 12-digit accounts and their access keys.
// Secret keys are stored sealed by the server's keyring; lookups used by
// request authentication are served from a short-lived in-memory cache.
package account

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sync"
	"time"

	"github.com/ember-run/ember/internal/keyring"
	"github.com/ember-run/ember/internal/store"
)

// Sentinel errors.
var (
	ErrNotFound   = errors.New("account: not found")
	ErrExists     = errors.New("account: already exists")
	ErrInvalid    = errors.New("account: invalid")
	ErrUnknownKey = errors.New("account: unknown access key")
	ErrForbidden  = errors.New("account: forbidden")
)

// Bucket is the KV bucket holding accounts and keys.
const Bucket = "ember-accounts"

// MaxKeysPerAccount bounds access keys per account, as IAM does per user (2);
// ember allows a few more for rotation across several clients.
const MaxKeysPerAccount = 10

// Account is a tenant.
type Account struct {
	ID      string    `json:"AccountId"`
	Name    string    `json:"Name"`
	Admin   bool      `json:"Admin,omitempty"`
	Created time.Time `json:"Created"`
}

// Key describes an access key without its secret.
type Key struct {
	AccessKeyID string    `json:"AccessKeyId"`
	AccountID   string    `json:"AccountId"`
	Created     time.Time `json:"Created"`
}

// Credentials are an access key with its secret, shown once on creation.
type Credentials struct {
	Name            string `json:"Name,omitempty"`
	AccountID       string `json:"AccountId"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

type keyRecord struct {
	Key
	Sealed []byte `json:"Sealed"`
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

// Service is the account registry.
type Service struct {
	kv   *store.KV
	ring *keyring.Keyring
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]cached // access key id → secret
	uids  map[string]int    // account id → sandbox uid
	ttl   time.Duration
}

type cached struct {
	secret  string
	account Account
	expires time.Time
}

// New opens the registry.
func New(ctx context.Context, st *store.Store, ring *keyring.Keyring) (*Service, error) {
	kv, err := st.KV(ctx, Bucket)
	if err != nil {
		return nil, err
	}
	return &Service{kv: kv, ring: ring, now: time.Now, cache: map[string]cached{}, uids: map[string]int{}, ttl: 5 * time.Second}, nil
}

func accountKey(id string) string { return "acct." + id }
func nameKey(name string) string  { return "name." + name }
func keyKey(akid string) string   { return "key." + akid }

// Bootstrap makes sure an admin account exists. It returns the admin's
// credentials only when it created them (they cannot be read back later).
func (s *Service) Bootstrap(ctx context.Context) (*Credentials, error) {
	e, err := s.kv.Get(ctx, nameKey("admin"))
	if err == nil {
		_, err := s.Get(ctx, string(e.Value))
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		// A create that died half-way: take the name back.
		if err := s.kv.Delete(ctx, nameKey("admin"), 0); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	_, creds, err := s.create(ctx, "admin", true)
	if err != nil {
		return nil, err
	}
	return &creds, nil
}

// Create makes a new account with one access key.
func (s *Service) Create(ctx context.Context, name string) (Account, Credentials, error) {
	return s.create(ctx, name, false)
}

func (s *Service) create(ctx context.Context, name string, admin bool) (Account, Credentials, error) {
	if !nameRE.MatchString(name) {
		return Account{}, Credentials{}, fmt.Errorf("%w: account name must be 1-64 characters of letters, digits, '.', '_' and '-', starting with a letter or digit", ErrInvalid)
	}
	if _, err := s.kv.Create(ctx, nameKey(name), []byte{}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return Account{}, Credentials{}, fmt.Errorf("%w: an account named %q already exists", ErrExists, name)
		}
		return Account{}, Credentials{}, err
	}
	acct := Account{Name: name, Admin: admin, Created: s.now().UTC()}
	for range 10 {
		acct.ID = newAccountID()
		data, _ := json.Marshal(acct)
		_, err := s.kv.Create(ctx, accountKey(acct.ID), data)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrConflict) {
			_ = s.kv.Delete(ctx, nameKey(name), 0)
			return Account{}, Credentials{}, err
		}
		acct.ID = ""
	}
	if acct.ID == "" {
		_ = s.kv.Delete(ctx, nameKey(name), 0)
		return Account{}, Credentials{}, errors.New("account: could not allocate an account id")
	}
	if _, err := s.kv.Put(ctx, nameKey(name), []byte(acct.ID)); err != nil {
		return Account{}, Credentials{}, err
	}
	creds, err := s.CreateKey(ctx, acct.ID)
	if err != nil {
		return Account{}, Credentials{}, err
	}
	creds.Name = name
	return acct, creds, nil
}

// Get reads an account.
func (s *Service) Get(ctx context.Context, id string) (Account, error) {
	e, err := s.kv.Get(ctx, accountKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return Account{}, fmt.Errorf("%w: account %s", ErrNotFound, id)
	}
	if err != nil {
		return Account{}, err
	}
	var a Account
	if err := json.Unmarshal(e.Value, &a); err != nil {
		return Account{}, fmt.Errorf("account: corrupt record %s: %w", id, err)
	}
	return a, nil
}

// List returns every account, ordered by id.
func (s *Service) List(ctx context.Context) ([]Account, error) {
	es, err := s.kv.List(ctx, "acct.*")
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(es))
	for _, e := range es {
		var a Account
		if json.Unmarshal(e.Value, &a) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// Delete removes an account and its keys. The admin account cannot be
// deleted. Resources the account owns are the caller's to remove first.
func (s *Service) Delete(ctx context.Context, id string) error {
	a, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if a.Admin {
		return fmt.Errorf("%w: the admin account cannot be deleted", ErrForbidden)
	}
	keys, err := s.ListKeys(ctx, id)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.deleteKey(ctx, k.AccessKeyID); err != nil {
			return err
		}
	}
	if err := s.kv.Delete(ctx, accountKey(id), 0); err != nil {
		return err
	}
	return s.kv.Delete(ctx, nameKey(a.Name), 0)
}

// CreateKey adds an access key to an account.
func (s *Service) CreateKey(ctx context.Context, accountID string) (Credentials, error) {
	if _, err := s.Get(ctx, accountID); err != nil {
		return Credentials{}, err
	}
	keys, err := s.ListKeys(ctx, accountID)
	if err != nil {
		return Credentials{}, err
	}
	if len(keys) >= MaxKeysPerAccount {
		return Credentials{}, fmt.Errorf("%w: account %s already has %d access keys", ErrInvalid, accountID, len(keys))
	}
	secret := newSecret()
	for range 10 {
		rec := keyRecord{Key: Key{AccessKeyID: newAccessKeyID(), AccountID: accountID, Created: s.now().UTC()}}
		rec.Sealed = s.ring.Seal([]byte(secret), []byte(keyKey(rec.AccessKeyID)))
		data, _ := json.Marshal(rec)
		_, err := s.kv.Create(ctx, keyKey(rec.AccessKeyID), data)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return Credentials{}, err
		}
		return Credentials{AccountID: accountID, AccessKeyID: rec.AccessKeyID, SecretAccessKey: secret}, nil
	}
	return Credentials{}, errors.New("account: could not allocate an access key id")
}

// ListKeys lists an account's keys (without secrets).
func (s *Service) ListKeys(ctx context.Context, accountID string) ([]Key, error) {
	es, err := s.kv.List(ctx, "key.*")
	if err != nil {
		return nil, err
	}
	var out []Key
	for _, e := range es {
		var r keyRecord
		if json.Unmarshal(e.Value, &r) == nil && r.AccountID == accountID {
			out = append(out, r.Key)
		}
	}
	return out, nil
}

// DeleteKey removes one key of an account.
func (s *Service) DeleteKey(ctx context.Context, accountID, akid string) error {
	rec, err := s.readKey(ctx, akid)
	if err != nil || rec.AccountID != accountID {
		return fmt.Errorf("%w: access key %s in account %s", ErrNotFound, akid, accountID)
	}
	return s.deleteKey(ctx, akid)
}

func (s *Service) deleteKey(ctx context.Context, akid string) error {
	if err := s.kv.Delete(ctx, keyKey(akid), 0); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.cache, akid)
	s.mu.Unlock()
	return nil
}

func (s *Service) readKey(ctx context.Context, akid string) (keyRecord, error) {
	if !akidRE.MatchString(akid) {
		return keyRecord{}, fmt.Errorf("%w: %s", ErrUnknownKey, akid)
	}
	e, err := s.kv.Get(ctx, keyKey(akid))
	if errors.Is(err, store.ErrNotFound) {
		return keyRecord{}, fmt.Errorf("%w: %s", ErrUnknownKey, akid)
	}
	if err != nil {
		return keyRecord{}, err
	}
	var r keyRecord
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return keyRecord{}, fmt.Errorf("account: corrupt key record %s: %w", akid, err)
	}
	return r, nil
}

var akidRE = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)

// Lookup returns the secret and account of an access key, for request
// authentication. Results are cached briefly; a key deleted on this node
// stops working at once, on other nodes within the cache TTL.
func (s *Service) Lookup(ctx context.Context, akid string) (string, Account, error) {
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[akid]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.secret, c.account, nil
	}
	rec, err := s.readKey(ctx, akid)
	if err != nil {
		return "", Account{}, err
	}
	plain, err := s.ring.Open(rec.Sealed, []byte(keyKey(akid)))
	if err != nil {
		return "", Account{}, fmt.Errorf("account: key %s: %w", akid, err)
	}
	acct, err := s.Get(ctx, rec.AccountID)
	if errors.Is(err, ErrNotFound) {
		return "", Account{}, fmt.Errorf("%w: %s (account deleted)", ErrUnknownKey, akid)
	}
	if err != nil {
		return "", Account{}, err
	}
	s.mu.Lock()
	if len(s.cache) > 100_000 {
		clear(s.cache)
	}
	s.cache[akid] = cached{secret: string(plain), account: acct, expires: now.Add(s.ttl)}
	s.mu.Unlock()
	return string(plain), acct, nil
}

func newAccountID() string {
	// First digit non-zero so ids keep 12 digits in every representation.
	n, err := rand.Int(rand.Reader, big.NewInt(900_000_000_000))
	if err != nil {
		panic("account: no randomness: " + err.Error())
	}
	return fmt.Sprintf("%012d", n.Int64()+100_000_000_000)
}

func newAccessKeyID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "AKIA" + base32.StdEncoding.EncodeToString(b)[:16]
}

func newSecret() string {
	b := make([]byte, 30)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b) // 40 characters
}
