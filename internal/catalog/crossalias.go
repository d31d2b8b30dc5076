package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/store"
)

// CrossAlias is an alias, in one account's namespace, of a function owned
// by another account that granted it. Its customizations belong to the
// alias's account: parameters merged into every event and variables (its
// own credentials) injected into the execution. The target's owner never
// reads them; the alias's account never reads the target's code or
// configuration.
type CrossAlias struct {
	Account string // the alias's account, which pays for its calls
	Name    string
	// Target is the function: its owner, name and the qualifier (version
	// or alias; "" for $LATEST) every call runs.
	TargetAccount   string
	TargetFunction  string
	TargetQualifier string
	Description     string
	// Parameters is a JSON object whose fields are added to each event
	// that does not set them itself.
	Parameters json.RawMessage `json:",omitempty"`
	// Environment is sealed at rest (EnvSealed); in memory it is plain.
	Environment map[string]string `json:"-"`
	EnvSealed   []byte            `json:",omitempty"`
	// MemorySize and Timeout lower the target's (0: the target's own).
	MemorySize int `json:",omitempty"`
	Timeout    int `json:",omitempty"`
	Created    time.Time
	Modified   time.Time
	RevisionID string

	rev uint64
}

// CrossAliasInput creates or replaces a cross-account alias.
type CrossAliasInput struct {
	Name        string
	Target      string // the target function's ARN, optionally qualified
	Description string
	Parameters  json.RawMessage
	Environment map[string]string
	MemorySize  int
	Timeout     int
}

// Actions that let another account alias a function (either suffices).
const (
	ActionInvoke    = "lambda:InvokeFunction"
	ActionCrossLink = "ember:CreateCrossAccountAlias"
)

// Limits of a cross-account alias's customizations.
const (
	maxAliasParameters = 64 << 10
	maxAliasEnv        = 4 << 10 // as Lambda's environment: 4 KB in all
)

func crossKey(account, name string) string { return "xal." + account + "." + name }

func crossAAD(account, name string) []byte { return []byte("xal/" + account + "/" + name) }

// TargetARN is the ARN of the function the alias runs.
func (c *Catalog) TargetARN(a *CrossAlias) string {
	return c.ARN(a.TargetAccount, a.TargetFunction, a.TargetQualifier)
}

// Grants reports whether f's owner lets account alias or invoke f at
// qualifier: a statement on the qualifier, or on the whole function.
func (f *Function) Grants(account, qualifier string) bool {
	for _, q := range []string{qualifier, ""} {
		if f.Allows(account, q, ActionInvoke) || f.Allows(account, q, ActionCrossLink) {
			return true
		}
		if q == "" {
			break
		}
	}
	return false
}

// PutCrossAlias creates or replaces account's cross-account alias. The
// target must exist, belong to another account and grant account; the
// name must not be one of account's functions.
func (c *Catalog) PutCrossAlias(ctx context.Context, account string, in CrossAliasInput) (*CrossAlias, error) {
	if !arn.ValidFunctionName(in.Name) || strings.Contains(in.Name, ":") {
		return nil, invalidf("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ and have length at most 64", in.Name)
	}
	ref, err := arn.ParseFunctionARN(in.Target)
	if err != nil {
		return nil, invalidf("Target: %v (give the full ARN of the other account's function, e.g. arn:aws:lambda:%s:111122223333:function:NAME:QUALIFIER)", err, c.cfg.Region)
	}
	if ref.Account == account {
		return nil, invalidf("Target %s is in your own account: use CreateAlias for aliases of your own functions.", in.Target)
	}
	if ref.Qualifier == Latest {
		ref.Qualifier = ""
	}
	if err := validateCustomizations(in); err != nil {
		return nil, err
	}
	if _, err := c.Get(ctx, account, in.Name); err == nil {
		return nil, fmt.Errorf("%w: %s is already a function of yours; a cross-account alias needs a name of its own", ErrExists, in.Name)
	}
	target, err := c.Get(ctx, ref.Account, ref.Name)
	if err != nil || !target.Visible(account) {
		return nil, fmt.Errorf("%w: Function not found: %s", ErrNotFound, in.Target)
	}
	if !target.Grants(account, ref.Qualifier) {
		return nil, fmt.Errorf("%w: account %s has not granted %s or %s on %s to account %s", ErrForbidden, ref.Account, ActionInvoke, ActionCrossLink, in.Target, account)
	}
	if ref.Qualifier != "" {
		if err := c.checkQualifierExists(target, ref.Qualifier); err != nil {
			return nil, err
		}
	}
	now := c.now().UTC()
	a := &CrossAlias{
		Account: account, Name: in.Name, TargetAccount: ref.Account, TargetFunction: ref.Name,
		TargetQualifier: ref.Qualifier, Description: in.Description, Parameters: compactJSON(in.Parameters),
		Environment: maps.Clone(in.Environment), MemorySize: in.MemorySize, Timeout: in.Timeout,
		Created: now, Modified: now, RevisionID: newRevision(),
	}
	key := crossKey(account, in.Name)
	if old, err := c.loadCrossAlias(ctx, account, in.Name); err == nil {
		a.Created = old.Created
	}
	data, err := c.encodeCrossAlias(a)
	if err != nil {
		return nil, err
	}
	rev, err := c.kv.Put(ctx, key, data)
	if err != nil {
		return nil, err
	}
	a.rev = rev
	c.cache.putCross(key, a)
	return a, nil
}

func validateCustomizations(in CrossAliasInput) error {
	if len(in.Description) > 256 {
		return invalidf("Description must be at most 256 characters.")
	}
	if p := strings.TrimSpace(string(in.Parameters)); p != "" && p != "null" {
		var obj map[string]json.RawMessage
		if len(p) > maxAliasParameters || json.Unmarshal(in.Parameters, &obj) != nil {
			return invalidf("Parameters must be a JSON object of at most %d bytes.", maxAliasParameters)
		}
	}
	size := 0
	for k, v := range in.Environment {
		if !envKeyRE.MatchString(k) {
			return invalidf("Environment variable name %q is invalid: it must start with a letter and contain only letters, digits and underscores.", k)
		}
		if slices.Contains(reservedEnv, k) || strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "EMBER_") || strings.HasPrefix(k, "LAMBDA_") || strings.HasPrefix(k, "_") {
			return invalidf("Environment variable %s is reserved by the runtime and cannot be set by an alias.", k)
		}
		size += len(k) + len(v)
	}
	if size > maxAliasEnv {
		return invalidf("The alias's environment variables exceed the 4 KB limit (%d bytes).", size)
	}
	if in.MemorySize != 0 && (in.MemorySize < 128 || in.MemorySize > 10240) {
		return invalidf("MemorySize must be between 128 and 10240 MB.")
	}
	if in.Timeout < 0 || in.Timeout > 900 {
		return invalidf("Timeout must be between 1 and 900 seconds.")
	}
	return nil
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	if p := strings.TrimSpace(string(raw)); p == "" || p == "null" {
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || len(obj) == 0 {
		return nil
	}
	out, _ := json.Marshal(obj)
	return out
}

// CrossAlias returns account's cross-account alias name. It reads the
// in-memory cache, fed by this node's writes and a watch on the store.
func (c *Catalog) CrossAlias(ctx context.Context, account, name string) (*CrossAlias, error) {
	if !arn.ValidFunctionName(name) || !arn.ValidAccountID(account) {
		return nil, c.crossNotFound(account, name)
	}
	if a, ok := c.cache.cross(crossKey(account, name)); ok {
		return a, nil
	}
	return c.loadCrossAlias(ctx, account, name)
}

func (c *Catalog) crossNotFound(account, name string) error {
	return fmt.Errorf("%w: Cross-account alias not found: %s", ErrNotFound, c.ARN(account, name, ""))
}

func (c *Catalog) loadCrossAlias(ctx context.Context, account, name string) (*CrossAlias, error) {
	e, err := c.kv.Get(ctx, crossKey(account, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, c.crossNotFound(account, name)
	}
	if err != nil {
		return nil, err
	}
	a, err := c.decodeCrossAlias(e)
	if err != nil {
		return nil, err
	}
	c.cache.putCross(e.Key, a)
	return a, nil
}

// CrossAliases lists account's cross-account aliases by name.
func (c *Catalog) CrossAliases(ctx context.Context, account string) ([]*CrossAlias, error) {
	es, err := c.kv.List(ctx, "xal."+account+".*")
	if err != nil {
		return nil, err
	}
	out := make([]*CrossAlias, 0, len(es))
	for _, e := range es {
		a, err := c.decodeCrossAlias(e)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *CrossAlias) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteCrossAlias removes account's cross-account alias name.
func (c *Catalog) DeleteCrossAlias(ctx context.Context, account, name string) error {
	if _, err := c.loadCrossAlias(ctx, account, name); err != nil {
		return err
	}
	if err := c.kv.Delete(ctx, crossKey(account, name), 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	c.cache.dropCross(crossKey(account, name), 0)
	return nil
}

func (c *Catalog) encodeCrossAlias(a *CrossAlias) ([]byte, error) {
	g := *a
	g.EnvSealed = nil
	if len(a.Environment) > 0 {
		plain, _ := json.Marshal(a.Environment)
		g.EnvSealed = c.cfg.Sealer.Seal(plain, crossAAD(a.Account, a.Name))
	}
	return json.Marshal(&g)
}

func (c *Catalog) decodeCrossAlias(e store.Entry) (*CrossAlias, error) {
	a := &CrossAlias{}
	if err := json.Unmarshal(e.Value, a); err != nil {
		return nil, fmt.Errorf("catalog: corrupt record %s: %w", e.Key, err)
	}
	if len(a.EnvSealed) > 0 {
		plain, err := c.cfg.Sealer.Open(a.EnvSealed, crossAAD(a.Account, a.Name))
		if err != nil {
			return nil, fmt.Errorf("catalog: environment of cross-account alias %s/%s: %w", a.Account, a.Name, err)
		}
		if err := json.Unmarshal(plain, &a.Environment); err != nil {
			return nil, err
		}
		a.EnvSealed = nil
	}
	a.rev = e.Revision
	return a, nil
}
