// Package catalog owns the function namespace of every account: functions
// ($LATEST), immutable published versions, aliases with weighted routing,
// resource policies, reserved concurrency and tags. Records live in a
// JetStream KV bucket; every change is a compare-and-set on the record's
// revision, so concurrent writers never lose an update. Code bundles live in
// the object store, content-addressed per account.
package catalog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ember-run/ember/internal/uuid"
	"log/slog"
	"sync"
	"time"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/bundle"
	"github.com/ember-run/ember/internal/store"
)

// Sentinel errors. Messages after the prefix are meant for the API caller.
var (
	ErrNotFound     = errors.New("catalog: not found")
	ErrExists       = errors.New("catalog: already exists")
	ErrInvalid      = errors.New("catalog: invalid parameter")
	ErrConflict     = errors.New("catalog: conflict")
	ErrPrecondition = errors.New("catalog: precondition failed")
	ErrTooLarge     = errors.New("catalog: too large")
	ErrPolicyLength = errors.New("catalog: policy too long")
	ErrForbidden    = errors.New("catalog: not granted")
)

// Buckets used by the catalog.
const (
	Bucket     = "ember-catalog"
	CodeBucket = "ember-code"
)

// Latest is the mutable version of every function.
const Latest = "$LATEST"

// Options holds the catalog's settings.
type Options struct {
	Region string
	// Bundle limits for uploaded code.
	Bundle bundle.Limits
	// AccountConcurrency is the per-account concurrent execution limit reported
	// by GetAccountSettings and enforced by the scheduler.
	AccountConcurrency int
	// Sealer encrypts environment variables at rest. Required.
	Sealer Sealer
	Logger *slog.Logger
}

// Sealer is authenticated encryption bound to associated data
// (keyring.Keyring implements it).
type Sealer interface {
	Seal(plain, aad []byte) []byte
	Open(sealed, aad []byte) ([]byte, error)
}

// Validate checks the configuration.
func (c Options) Validate() error {
	if c.Region == "" {
		return errors.New("catalog: region is required")
	}
	if c.AccountConcurrency < 1 {
		return errors.New("catalog: account concurrency must be at least 1")
	}
	if c.Sealer == nil {
		return errors.New("catalog: a sealer for environment variables is required")
	}
	return nil
}

// MinUnreserved is the concurrency that reserved concurrency must leave to
// the functions without a reservation (Lambda keeps 100 of 1000).
func (c Options) MinUnreserved() int { return max(1, min(100, c.AccountConcurrency/10)) }

// Catalog is the function registry.
type Catalog struct {
	cfg   Options
	kv    *store.KV
	blobs *store.Blobs
	log   *slog.Logger
	now   func() time.Time
	// uploads bounds concurrent bundle validations: each may hold a 50 MB
	// zip and its parsed central directory in memory.
	uploads chan struct{}

	cache      *cache
	stopFollow context.CancelFunc
	followDone chan struct{}
	closeOnce  sync.Once
}

// New opens the catalog's buckets.
func New(ctx context.Context, st *store.Store, cfg Options) (*Catalog, error) {
	if cfg.Bundle == (bundle.Limits{}) {
		cfg.Bundle = bundle.DefaultLimits()
	}
	if cfg.AccountConcurrency == 0 {
		cfg.AccountConcurrency = 1000
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kv, err := st.KV(ctx, Bucket)
	if err != nil {
		return nil, err
	}
	blobs, err := st.Blobs(ctx, CodeBucket)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Catalog{cfg: cfg, kv: kv, blobs: blobs, log: log, now: time.Now, uploads: make(chan struct{}, 2),
		cache: newCache(), followDone: make(chan struct{})}
	fctx, cancel := context.WithCancel(context.Background())
	changes, err := kv.Watch(fctx, ">")
	if err != nil {
		cancel()
		return nil, err
	}
	c.stopFollow = cancel
	go c.follow(fctx, changes)
	return c, nil
}

// Close stops following the store. It is idempotent.
func (c *Catalog) Close() error {
	c.closeOnce.Do(func() {
		c.stopFollow()
		<-c.followDone
	})
	return nil
}

// Settings returns the catalog configuration (region, limits).
func (c *Catalog) Settings() Options { return c.cfg }

// ARN builds a function ARN in this catalog's region.
func (c *Catalog) ARN(account, name, qualifier string) string {
	return arn.FunctionARN(c.cfg.Region, account, name, qualifier)
}

// Function is the stored record of one function: its $LATEST configuration
// and everything that is not a published version.
type Function struct {
	Account string
	Name    string
	// ID distinguishes incarnations of a name, so a function deleted and
	// created again never sees the old one's versions.
	ID      string
	Created time.Time
	Latest  Config
	// LastVersion is the highest version number ever published.
	LastVersion int
	// Versions lists the live published version numbers, ascending.
	Versions []int
	// PublishedHash fingerprints the configuration of LastVersion, so a
	// publish with nothing changed returns that version.
	PublishedHash string
	Aliases       map[string]*Alias
	// Policies by qualifier ("" for the unqualified function).
	Policies map[string]*Policy
	Tags     map[string]string
	Reserved *int
	// EventConfigs by qualifier ("" for the unqualified function).
	EventConfigs map[string]*EventConfig `json:",omitempty"`
	// Provisioned concurrency by qualifier (versions and aliases only).
	Provisioned map[string]*Provisioned `json:",omitempty"`
	// URLs are the function URL configs by qualifier ("" or an alias).
	URLs map[string]*FunctionURL `json:",omitempty"`

	rev uint64
}

// Config is the stored configuration of $LATEST or of a version.
type Config struct {
	Version          string
	Runtime          string
	Role             string
	Handler          string
	Description      string
	Timeout          int
	MemorySize       int
	EphemeralStorage int
	// Environment is sealed at rest (EnvSealed); in memory it is plain.
	Environment      map[string]string `json:"-"`
	EnvSealed        []byte            `json:",omitempty"`
	Architectures    []string
	TracingMode      string
	DeadLetterTarget string
	KMSKeyArn        string
	CodeSha256       string
	CodeSize         int64
	// CodeObject names the bundle in the object store.
	CodeObject   string
	LastModified time.Time
	RevisionID   string
	// Policy is the function's security policy document (policy.Parse
	// accepts it), compact JSON; empty means the defaults. A published
	// version freezes it with the rest of the configuration.
	Policy json.RawMessage `json:",omitempty"`
}

// Alias points at a version, optionally splitting traffic with a second one.
type Alias struct {
	Name            string
	FunctionVersion string
	Description     string
	// AdditionalVersionWeights maps at most one other version to its share.
	AdditionalVersionWeights map[string]float64
	RevisionID               string
}

func newRevision() string { return uuid.New() }

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func fnKey(account, name string) string { return "fn." + account + "." + name }
func verKey(f *Function, n int) string {
	return fmt.Sprintf("ver.%s.%s.%s.%d", f.Account, f.Name, f.ID, n)
}

func (c *Catalog) notFound(account, name, qualifier string) error {
	return fmt.Errorf("%w: Function not found: %s", ErrNotFound, c.ARN(account, name, qualifier))
}

// Get returns a function record, from memory when it can. The record is
// shared: callers must not modify it.
func (c *Catalog) Get(ctx context.Context, account, name string) (*Function, error) {
	if !arn.ValidFunctionName(name) || !arn.ValidAccountID(account) {
		return nil, c.notFound(account, name, "")
	}
	if f, ok := c.cache.function(fnKey(account, name)); ok {
		return f, nil
	}
	return c.load(ctx, account, name)
}

// load reads a function record from the store (a private copy).
func (c *Catalog) load(ctx context.Context, account, name string) (*Function, error) {
	if !arn.ValidFunctionName(name) || !arn.ValidAccountID(account) {
		return nil, c.notFound(account, name, "")
	}
	e, err := c.kv.Get(ctx, fnKey(account, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, c.notFound(account, name, "")
	}
	if err != nil {
		return nil, err
	}
	f, err := c.decodeFunction(e)
	if err != nil {
		return nil, err
	}
	c.cache.putFunction(e.Key, f)
	// Hand out a private copy: the cached one is shared.
	return c.decodeFunction(e)
}

func envAAD(account, name string) []byte { return []byte("env/" + account + "/" + name) }

// encodeConfig seals the environment into cfg for storage.
func (c *Catalog) sealEnv(account, name string, cfg *Config) {
	cfg.EnvSealed = nil
	if len(cfg.Environment) > 0 {
		plain, _ := json.Marshal(cfg.Environment)
		cfg.EnvSealed = c.cfg.Sealer.Seal(plain, envAAD(account, name))
	}
}

func (c *Catalog) openEnv(account, name string, cfg *Config) error {
	cfg.Environment = nil
	if len(cfg.EnvSealed) == 0 {
		return nil
	}
	plain, err := c.cfg.Sealer.Open(cfg.EnvSealed, envAAD(account, name))
	if err != nil {
		return fmt.Errorf("catalog: environment of %s/%s: %w", account, name, err)
	}
	cfg.EnvSealed = nil
	return json.Unmarshal(plain, &cfg.Environment)
}

func (c *Catalog) encodeFunction(f *Function) ([]byte, error) {
	g := *f
	c.sealEnv(f.Account, f.Name, &g.Latest)
	return json.Marshal(&g)
}

func (c *Catalog) decodeFunction(e store.Entry) (*Function, error) {
	f := &Function{}
	if err := json.Unmarshal(e.Value, f); err != nil {
		return nil, fmt.Errorf("catalog: corrupt record %s: %w", e.Key, err)
	}
	if err := c.openEnv(f.Account, f.Name, &f.Latest); err != nil {
		return nil, err
	}
	f.rev = e.Revision
	return f, nil
}

func (c *Catalog) encodeVersion(f *Function, cfg Config) ([]byte, error) {
	c.sealEnv(f.Account, f.Name, &cfg)
	return json.Marshal(cfg)
}

func (c *Catalog) decodeVersion(f *Function, e store.Entry) (Config, error) {
	var cfg Config
	if err := json.Unmarshal(e.Value, &cfg); err != nil {
		return Config{}, fmt.Errorf("catalog: corrupt version %s: %w", e.Key, err)
	}
	return cfg, c.openEnv(f.Account, f.Name, &cfg)
}

// mutate applies fn to the current record and writes it back with
// compare-and-set, retrying on concurrent changes. fn must be repeatable.
func (c *Catalog) mutate(ctx context.Context, account, name string, fn func(f *Function) error) (*Function, error) {
	for attempt := 0; ; attempt++ {
		f, err := c.load(ctx, account, name)
		if err != nil {
			return nil, err
		}
		if err := fn(f); err != nil {
			return nil, err
		}
		data, err := c.encodeFunction(f)
		if err != nil {
			return nil, err
		}
		if len(data) > 900_000 {
			return nil, fmt.Errorf("%w: the function record would exceed the metadata size limit", ErrTooLarge)
		}
		rev, err := c.kv.Update(ctx, fnKey(account, name), data, f.rev)
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue
		}
		if err != nil {
			return nil, err
		}
		f.rev = rev
		if cached, err := c.decodeFunction(store.Entry{Key: fnKey(account, name), Value: data, Revision: rev}); err == nil {
			c.cache.putFunction(fnKey(account, name), cached)
		}
		return f, nil
	}
}

// Version reads a published version's configuration (immutable, so
// cached without expiry).
func (c *Catalog) Version(ctx context.Context, f *Function, n int) (Config, error) {
	key := verKey(f, n)
	if v, ok := c.cache.version(key); ok {
		return v, nil
	}
	e, err := c.kv.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return Config{}, c.notFound(f.Account, f.Name, fmt.Sprint(n))
	}
	if err != nil {
		return Config{}, err
	}
	v, err := c.decodeVersion(f, e)
	if err != nil {
		return Config{}, err
	}
	c.cache.putVersion(key, v)
	return v, nil
}

// HasVersion reports whether n is a live published version.
func (f *Function) HasVersion(n int) bool {
	for _, v := range f.Versions {
		if v == n {
			return true
		}
	}
	return false
}
