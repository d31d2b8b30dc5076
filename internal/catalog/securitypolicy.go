package catalog

import (
	"bytes"
	"context"
	"encoding/json"

	"fmt"

	"github.com/ember-run/ember/internal/policy"
)

// SetPolicy replaces the security policy of $LATEST with doc (nil removes
// it, so the defaults apply). The document is validated and stored
// compact; the configuration gets a new RevisionId, which retires every
// sandbox built under the old policy. revisionID, when set, must match.
func (c *Catalog) SetPolicy(ctx context.Context, account, name string, doc []byte, revisionID string) (*Function, error) {
	var stored json.RawMessage
	if doc != nil {
		p, err := policy.Parse(doc)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if stored, err = json.Marshal(p); err != nil {
			return nil, err
		}
		if bytes.Equal(stored, []byte("{}")) {
			stored = nil
		}
	}
	return c.mutate(ctx, account, name, func(f *Function) error {
		if err := checkRevision(revisionID, f.Latest.RevisionID); err != nil {
			return err
		}
		if bytes.Equal(f.Latest.Policy, stored) {
			return nil // unchanged: keep the revision and the warm sandboxes
		}
		f.Latest.Policy = stored
		f.Latest.LastModified, f.Latest.RevisionID = c.now().UTC(), newRevision()
		return nil
	})
}

// EffectivePolicy resolves a configuration's stored policy against its
// own defaults (the /tmp size comes from EphemeralStorage).
func EffectivePolicy(cfg Config) (policy.Effective, error) {
	var p *policy.Policy
	if len(cfg.Policy) > 0 {
		var err error
		if p, err = policy.Parse(cfg.Policy); err != nil {
			// Stored documents were validated; this one was not, or the
			// rules have changed since. Refuse rather than run unconfined.
			return policy.Effective{}, fmt.Errorf("%w: stored policy: %w", ErrInvalid, err)
		}
	}
	return policy.Resolve(p, policy.Defaults{TmpMB: cfg.EphemeralStorage}), nil
}

// PortionPolicy returns the handler and resolved policy of one portion of
// a split-trust function (ErrNotFound when the policy declares no such
// portion).
func PortionPolicy(cfg Config, name string) (string, policy.Effective, error) {
	var p *policy.Policy
	if len(cfg.Policy) > 0 {
		var err error
		if p, err = policy.Parse(cfg.Policy); err != nil {
			return "", policy.Effective{}, fmt.Errorf("%w: stored policy: %w", ErrInvalid, err)
		}
	}
	if p == nil || p.Portions[name] == nil {
		return "", policy.Effective{}, fmt.Errorf("%w: Function %s has no portion %q", ErrNotFound, cfg.Version, name)
	}
	q := p.Portions[name]
	return q.Handler, policy.Resolve(q.Policy, policy.Defaults{TmpMB: cfg.EphemeralStorage}), nil
}
