package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/bundle"
	"github.com/ember-run/ember/internal/store"
)

// CreateInput is a CreateFunction request.
type CreateInput struct {
	Name    string
	Config  Config // caller-settable fields; the rest is computed
	Zip     []byte
	Publish bool
	Tags    map[string]string
}

// ConfigPatch holds the fields UpdateFunctionConfiguration may change; nil
// means unchanged.
type ConfigPatch struct {
	Runtime, Role, Handler, Description      *string
	Timeout, MemorySize, EphemeralStorage    *int
	Environment                              *map[string]string
	TracingMode, DeadLetterTarget, KMSKeyArn *string
	RevisionID                               string
}

// CodeInput is an UpdateFunctionCode request.
type CodeInput struct {
	Zip           []byte
	Publish       bool
	DryRun        bool
	RevisionID    string
	Architectures []string
}

// PublishInput is a PublishVersion request.
type PublishInput struct {
	CodeSha256  string
	Description string
	RevisionID  string
}

func objectName(account string, info bundle.Info) string {
	return account + "/" + hex.EncodeToString(info.SHA256[:])
}

// storeCode validates a bundle and writes it to the object store.
func (c *Catalog) storeCode(ctx context.Context, account string, zip []byte) (bundle.Info, string, error) {
	info, err := c.validateBundle(ctx, zip)
	if err != nil {
		return info, "", err
	}
	name := objectName(account, info)
	if _, err := c.blobs.Stat(ctx, name); err == nil {
		return info, name, nil
	}
	if err := c.blobs.Put(ctx, name, zip); err != nil {
		return info, "", err
	}
	return info, name, nil
}

// validateBundle runs bundle validation under the upload semaphore.
func (c *Catalog) validateBundle(ctx context.Context, zip []byte) (bundle.Info, error) {
	select {
	case c.uploads <- struct{}{}:
	case <-ctx.Done():
		return bundle.Info{}, ctx.Err()
	}
	defer func() { <-c.uploads }()
	info, err := bundle.Validate(zip, c.cfg.Bundle)
	switch {
	case errors.Is(err, bundle.ErrTooLarge):
		return info, fmt.Errorf("%w: Zipped size must be smaller than %d bytes", ErrTooLarge, c.cfg.Bundle.MaxZipped)
	case errors.Is(err, bundle.ErrInvalid):
		return info, fmt.Errorf("%w: Could not unzip uploaded file. %s", ErrInvalid, strings.TrimPrefix(err.Error(), bundle.ErrInvalid.Error()+": "))
	}
	return info, err
}

// ensureCode re-stores a bundle that a concurrent garbage collection removed
// between its upload and the record that references it.
func (c *Catalog) ensureCode(ctx context.Context, name string, zip []byte) error {
	if _, err := c.blobs.Stat(ctx, name); errors.Is(err, store.ErrNotFound) {
		return c.blobs.Put(ctx, name, zip)
	}
	return nil
}

// Code returns a function's bundle by object name.
func (c *Catalog) Code(ctx context.Context, object string) ([]byte, error) {
	return c.blobs.Get(ctx, object)
}

// Create adds a function. It returns the stored record and the configuration
// to report ($LATEST, or the new version when Publish is set).
func (c *Catalog) Create(ctx context.Context, account string, in CreateInput) (*Function, Config, error) {
	if !arn.ValidFunctionName(in.Name) {
		return nil, Config{}, invalidf("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ and have length at most 64", in.Name)
	}
	cfg := in.Config
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, Config{}, err
	}
	if err := validateTags(in.Tags, 0); err != nil {
		return nil, Config{}, err
	}
	if len(in.Zip) == 0 {
		return nil, Config{}, invalidf("Code.ZipFile is required: ember accepts code as a .zip uploaded in the request (S3 locations and images are not supported).")
	}
	if _, err := c.Get(ctx, account, in.Name); err == nil {
		return nil, Config{}, fmt.Errorf("%w: Function already exist: %s", ErrExists, in.Name)
	}
	if _, err := c.CrossAlias(ctx, account, in.Name); err == nil {
		return nil, Config{}, fmt.Errorf("%w: %s is the name of one of your cross-account aliases", ErrExists, in.Name)
	}
	info, object, err := c.storeCode(ctx, account, in.Zip)
	if err != nil {
		return nil, Config{}, err
	}
	now := c.now().UTC()
	cfg.Version = Latest
	cfg.CodeSha256, cfg.CodeSize, cfg.CodeObject = info.CodeSha256, info.Size, object
	cfg.LastModified, cfg.RevisionID = now, newRevision()
	f := &Function{
		Account: account, Name: in.Name, ID: newID(), Created: now, Latest: cfg,
		Aliases: map[string]*Alias{}, Policies: map[string]*Policy{}, Tags: maps.Clone(in.Tags),
	}
	data, err := c.encodeFunction(f)
	if err != nil {
		return nil, Config{}, err
	}
	rev, err := c.kv.Create(ctx, fnKey(account, in.Name), data)
	if errors.Is(err, store.ErrConflict) {
		return nil, Config{}, fmt.Errorf("%w: Function already exist: %s", ErrExists, in.Name)
	}
	if err != nil {
		return nil, Config{}, err
	}
	f.rev = rev
	if cached, err := c.decodeFunction(store.Entry{Key: fnKey(account, in.Name), Value: data, Revision: rev}); err == nil {
		c.cache.putFunction(fnKey(account, in.Name), cached)
	}
	if err := c.ensureCode(ctx, object, in.Zip); err != nil {
		return nil, Config{}, err
	}
	if in.Publish {
		v, err := c.Publish(ctx, account, in.Name, PublishInput{})
		if err != nil {
			return nil, Config{}, err
		}
		return f, v, nil
	}
	return f, cfg, nil
}

func checkRevision(want, have string) error {
	if want != "" && want != have {
		return fmt.Errorf("%w: The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id", ErrPrecondition)
	}
	return nil
}

// UpdateConfig applies a configuration patch to $LATEST.
func (c *Catalog) UpdateConfig(ctx context.Context, account, name string, p ConfigPatch) (*Function, error) {
	return c.mutate(ctx, account, name, func(f *Function) error {
		if err := checkRevision(p.RevisionID, f.Latest.RevisionID); err != nil {
			return err
		}
		cfg := f.Latest
		cfg.Environment = maps.Clone(cfg.Environment)
		set(&cfg.Runtime, p.Runtime)
		set(&cfg.Role, p.Role)
		set(&cfg.Handler, p.Handler)
		set(&cfg.Description, p.Description)
		set(&cfg.Timeout, p.Timeout)
		set(&cfg.MemorySize, p.MemorySize)
		set(&cfg.EphemeralStorage, p.EphemeralStorage)
		set(&cfg.Environment, p.Environment)
		set(&cfg.TracingMode, p.TracingMode)
		set(&cfg.DeadLetterTarget, p.DeadLetterTarget)
		set(&cfg.KMSKeyArn, p.KMSKeyArn)
		cfg.applyDefaults()
		if err := cfg.validate(); err != nil {
			return err
		}
		cfg.LastModified, cfg.RevisionID = c.now().UTC(), newRevision()
		f.Latest = cfg
		return nil
	})
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// UpdateCode replaces the code of $LATEST, optionally publishing a version.
// It returns the configuration to report.
func (c *Catalog) UpdateCode(ctx context.Context, account, name string, in CodeInput) (*Function, Config, error) {
	f, err := c.Get(ctx, account, name)
	if err != nil {
		return nil, Config{}, err
	}
	if err := checkRevision(in.RevisionID, f.Latest.RevisionID); err != nil {
		return nil, Config{}, err
	}
	if len(in.Zip) == 0 {
		return nil, Config{}, invalidf("ZipFile is required: ember accepts code as a .zip uploaded in the request (S3 locations and images are not supported).")
	}
	if len(in.Architectures) > 0 {
		probe := f.Latest
		probe.Architectures = in.Architectures
		if err := probe.validate(); err != nil {
			return nil, Config{}, err
		}
	}
	if in.DryRun {
		info, err := c.validateBundle(ctx, in.Zip)
		if err != nil {
			return nil, Config{}, err
		}
		cfg := f.Latest
		cfg.CodeSha256, cfg.CodeSize = info.CodeSha256, info.Size
		return f, cfg, nil
	}
	info, object, err := c.storeCode(ctx, account, in.Zip)
	if err != nil {
		return nil, Config{}, err
	}
	old := f.Latest.CodeObject
	f, err = c.mutate(ctx, account, name, func(f *Function) error {
		if err := checkRevision(in.RevisionID, f.Latest.RevisionID); err != nil {
			return err
		}
		f.Latest.CodeSha256, f.Latest.CodeSize, f.Latest.CodeObject = info.CodeSha256, info.Size, object
		if len(in.Architectures) > 0 {
			f.Latest.Architectures = in.Architectures
		}
		f.Latest.LastModified, f.Latest.RevisionID = c.now().UTC(), newRevision()
		return nil
	})
	if err != nil {
		return nil, Config{}, err
	}
	if err := c.ensureCode(ctx, object, in.Zip); err != nil {
		return nil, Config{}, err
	}
	if old != object {
		c.collectCode(ctx, account, old)
	}
	if in.Publish {
		v, err := c.Publish(ctx, account, name, PublishInput{})
		return f, v, err
	}
	return f, f.Latest, nil
}

// publishHash fingerprints what a published version freezes.
func publishHash(cfg Config) string {
	cfg.Version, cfg.RevisionID, cfg.CodeObject, cfg.EnvSealed = "", "", "", nil
	cfg.LastModified = time.Time{}
	b, _ := json.Marshal(struct {
		Config
		Env map[string]string
	}{cfg, cfg.Environment})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

var errUnchanged = errors.New("catalog: unchanged")

// Publish freezes $LATEST as a new version, or returns the last version when
// nothing changed since it was published.
func (c *Catalog) Publish(ctx context.Context, account, name string, in PublishInput) (Config, error) {
	var published Config
	var existing int
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		if err := checkRevision(in.RevisionID, f.Latest.RevisionID); err != nil {
			return err
		}
		if in.CodeSha256 != "" && in.CodeSha256 != f.Latest.CodeSha256 {
			return invalidf("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", in.CodeSha256, f.Latest.CodeSha256)
		}
		h := publishHash(f.Latest)
		if h == f.PublishedHash && f.HasVersion(f.LastVersion) {
			existing = f.LastVersion
			return errUnchanged
		}
		n := f.LastVersion + 1
		v := f.Latest
		v.Version = strconv.Itoa(n)
		if in.Description != "" {
			v.Description = in.Description
		}
		v.LastModified, v.RevisionID = c.now().UTC(), newRevision()
		data, err := c.encodeVersion(f, v)
		if err != nil {
			return err
		}
		if _, err := c.kv.Put(ctx, verKey(f, n), data); err != nil {
			return err
		}
		f.LastVersion, f.PublishedHash = n, h
		f.Versions = append(f.Versions, n)
		published = v
		return nil
	})
	if errors.Is(err, errUnchanged) {
		f, err := c.Get(ctx, account, name)
		if err != nil {
			return Config{}, err
		}
		return c.Version(ctx, f, existing)
	}
	return published, err
}

// ListVersions returns $LATEST followed by the published versions.
func (c *Catalog) ListVersions(ctx context.Context, f *Function) ([]Config, error) {
	out := []Config{f.Latest}
	es, err := c.kv.List(ctx, fmt.Sprintf("ver.%s.%s.%s.*", f.Account, f.Name, f.ID))
	if err != nil {
		return nil, err
	}
	byN := map[int]Config{}
	for _, e := range es {
		cfg, err := c.decodeVersion(f, e)
		if err != nil {
			return nil, err
		}
		n, _ := strconv.Atoi(cfg.Version)
		byN[n] = cfg
	}
	for _, n := range f.Versions {
		if cfg, ok := byN[n]; ok {
			out = append(out, cfg)
		}
	}
	return out, nil
}

// Resolve returns the configuration a qualifier names: "" and $LATEST the
// latest, a number that version, an alias its primary version.
func (c *Catalog) Resolve(ctx context.Context, f *Function, qualifier string) (Config, error) {
	switch {
	case qualifier == "" || qualifier == Latest:
		return f.Latest, nil
	case arn.IsVersion(qualifier):
		n, err := strconv.Atoi(qualifier)
		if err != nil || !f.HasVersion(n) {
			return Config{}, c.notFound(f.Account, f.Name, qualifier)
		}
		return c.Version(ctx, f, n)
	default:
		a, ok := f.Aliases[qualifier]
		if !ok {
			return Config{}, c.notFound(f.Account, f.Name, qualifier)
		}
		return c.Resolve(ctx, f, a.FunctionVersion)
	}
}

// Delete removes a function with all its versions and aliases, or, with a
// version qualifier, that version only.
func (c *Catalog) Delete(ctx context.Context, account, name, qualifier string) error {
	if qualifier == "" {
		f, err := c.load(ctx, account, name)
		if err != nil {
			return err
		}
		if err := c.kv.Delete(ctx, fnKey(account, name), f.rev); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("%w: The function was modified while it was being deleted; retry", ErrConflict)
			}
			return err
		}
		c.cache.dropFunction(fnKey(account, name), 0)
		c.dropURLIndex(ctx, f)
		objects := []string{f.Latest.CodeObject}
		for _, n := range f.Versions {
			if v, err := c.Version(ctx, f, n); err == nil {
				objects = append(objects, v.CodeObject)
			}
			c.cache.dropVersion(verKey(f, n))
			if err := c.kv.Delete(ctx, verKey(f, n), 0); err != nil {
				c.log.Warn("catalog: leftover version record", "function", name, "version", n, "err", err)
			}
		}
		c.collectCode(ctx, account, objects...)
		return nil
	}
	switch {
	case qualifier == Latest:
		return invalidf("$LATEST version cannot be deleted without deleting the function.")
	case !arn.IsVersion(qualifier):
		return invalidf("Deletion of aliases is not supported by DeleteFunction; use DeleteAlias for %s.", qualifier)
	}
	n, _ := strconv.Atoi(qualifier)
	var victim *Function
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		if !f.HasVersion(n) {
			return c.notFound(account, name, qualifier)
		}
		var users []string
		for _, a := range f.Aliases {
			_, extra := a.AdditionalVersionWeights[qualifier]
			if a.FunctionVersion == qualifier || extra {
				users = append(users, c.ARN(account, name, a.Name))
			}
		}
		if len(users) > 0 {
			slices.Sort(users)
			return fmt.Errorf("%w: Unable to delete version because the following aliases reference it: [%s]", ErrConflict, strings.Join(users, ", "))
		}
		f.Versions = slices.DeleteFunc(slices.Clone(f.Versions), func(v int) bool { return v == n })
		delete(f.Policies, qualifier)
		delete(f.EventConfigs, qualifier)
		delete(f.Provisioned, qualifier)
		victim = f
		return nil
	})
	if err != nil {
		return err
	}
	v, verr := c.Version(ctx, victim, n)
	c.cache.dropVersion(verKey(victim, n))
	if err := c.kv.Delete(ctx, verKey(victim, n), 0); err != nil {
		return err
	}
	if verr == nil {
		c.collectCode(ctx, account, v.CodeObject)
	}
	return nil
}

// List returns an account's functions in name order.
func (c *Catalog) List(ctx context.Context, account string) ([]*Function, error) {
	if !arn.ValidAccountID(account) {
		return nil, nil
	}
	es, err := c.kv.List(ctx, "fn."+account+".*")
	if err != nil {
		return nil, err
	}
	out := make([]*Function, 0, len(es))
	for _, e := range es {
		f, err := c.decodeFunction(e)
		if err != nil {
			c.log.Error("catalog: unreadable record", "key", e.Key, "err", err)
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

// collectCode deletes code objects no longer referenced by any function or
// version of the account. Failures only leave garbage behind, so they are
// logged rather than returned.
func (c *Catalog) collectCode(ctx context.Context, account string, objects ...string) {
	if len(objects) == 0 {
		return
	}
	used := map[string]bool{}
	fns, err := c.List(ctx, account)
	if err != nil {
		c.log.Warn("catalog: code collection skipped", "err", err)
		return
	}
	for _, f := range fns {
		used[f.Latest.CodeObject] = true
	}
	vers, err := c.kv.List(ctx, "ver."+account+".>")
	if err != nil {
		c.log.Warn("catalog: code collection skipped", "err", err)
		return
	}
	for _, e := range vers {
		var cfg Config
		if json.Unmarshal(e.Value, &cfg) == nil {
			used[cfg.CodeObject] = true
		}
	}
	for _, o := range objects {
		if o != "" && !used[o] {
			if err := c.blobs.Delete(ctx, o); err != nil {
				c.log.Warn("catalog: code collection", "object", o, "err", err)
			}
		}
	}
}

// DeleteAccount removes every function of an account (used when the
// account itself is deleted).
func (c *Catalog) DeleteAccount(ctx context.Context, account string) error {
	fns, err := c.List(ctx, account)
	if err != nil {
		return err
	}
	for _, f := range fns {
		if err := c.Delete(ctx, account, f.Name, ""); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	xs, err := c.CrossAliases(ctx, account)
	if err != nil {
		return err
	}
	for _, a := range xs {
		if err := c.DeleteCrossAlias(ctx, account, a.Name); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// Usage is an account's footprint for GetAccountSettings.
type Usage struct {
	FunctionCount int64
	TotalCodeSize int64
	Reserved      int
}

// ReservedTotal is the sum of the reserved concurrency of account's
// functions, and the generation (see ReservedGeneration) it was read at.
func (c *Catalog) ReservedTotal(ctx context.Context, account string) (int, uint64, error) {
	gen := c.cache.generation(account)
	fns, err := c.List(ctx, account)
	if err != nil {
		return 0, 0, err
	}
	sum := 0
	for _, f := range fns {
		if f.Reserved != nil {
			sum += *f.Reserved
		}
	}
	return sum, gen, nil
}

// ReservedGeneration changes whenever this node writes or sees (through
// its watch on the store) a change to one of account's function records
// that may move the account's ReservedTotal, so that the sum can be
// re-read only when it may be stale.
func (c *Catalog) ReservedGeneration(account string) uint64 { return c.cache.generation(account) }

// AccountUsage sums an account's functions, code and reservations.
func (c *Catalog) AccountUsage(ctx context.Context, account string) (Usage, error) {
	var u Usage
	fns, err := c.List(ctx, account)
	if err != nil {
		return u, err
	}
	live := map[string]bool{}
	for _, f := range fns {
		u.FunctionCount++
		u.TotalCodeSize += f.Latest.CodeSize
		if f.Reserved != nil {
			u.Reserved += *f.Reserved
		}
		live[f.ID] = true
	}
	vers, err := c.kv.List(ctx, "ver."+account+".>")
	if err != nil {
		return u, err
	}
	for _, e := range vers {
		parts := strings.Split(e.Key, ".")
		var cfg Config
		if len(parts) == 5 && live[parts[3]] && json.Unmarshal(e.Value, &cfg) == nil {
			u.TotalCodeSize += cfg.CodeSize
		}
	}
	return u, nil
}
