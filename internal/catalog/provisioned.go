package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ember-run/ember/internal/arn"
)

// Provisioned is a request to keep N initialised sandboxes ready for a
// version or alias.
type Provisioned struct {
	Requested    int
	LastModified time.Time
}

// PutProvisioned sets provisioned concurrency on a version or alias.
func (c *Catalog) PutProvisioned(ctx context.Context, account, name, qualifier string, n int) (Provisioned, error) {
	if qualifier == "" || qualifier == Latest {
		return Provisioned{}, invalidf("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
	}
	if n < 1 || n > c.cfg.AccountConcurrency-c.cfg.MinUnreserved() {
		return Provisioned{}, invalidf("1 validation error detected: Value '%d' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value between 1 and %d", n, c.cfg.AccountConcurrency-c.cfg.MinUnreserved())
	}
	var out Provisioned
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		if err := c.checkQualifierExists(f, qualifier); err != nil {
			return err
		}
		if f.Reserved != nil && n > *f.Reserved {
			return invalidf("Requested Provisioned Concurrency (%d) exceeds the function's reserved concurrency (%d).", n, *f.Reserved)
		}
		if f.Provisioned == nil {
			f.Provisioned = map[string]*Provisioned{}
		}
		out = Provisioned{Requested: n, LastModified: c.now().UTC()}
		f.Provisioned[qualifier] = &out
		return nil
	})
	return out, err
}

// DeleteProvisioned removes a qualifier's provisioned concurrency.
func (c *Catalog) DeleteProvisioned(ctx context.Context, account, name, qualifier string) error {
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		if _, ok := f.Provisioned[qualifier]; !ok {
			return fmt.Errorf("%w: No Provisioned Concurrency Config found for this function", ErrNotFound)
		}
		delete(f.Provisioned, qualifier)
		return nil
	})
	return err
}

// ProvisionedTarget is one qualifier that wants ready sandboxes.
type ProvisionedTarget struct {
	Account, Function, Qualifier string
	Requested                    int
}

// ProvisionedTargets lists every provisioned concurrency request of every
// account (read once at start; changes arrive through the API).
func (c *Catalog) ProvisionedTargets(ctx context.Context) ([]ProvisionedTarget, error) {
	es, err := c.kv.List(ctx, "fn.*.*")
	if err != nil {
		return nil, err
	}
	var out []ProvisionedTarget
	for _, e := range es {
		var f struct {
			Account, Name string
			Provisioned   map[string]*Provisioned
		}
		if json.Unmarshal(e.Value, &f) != nil {
			continue
		}
		for q, p := range f.Provisioned {
			if arn.ValidQualifier(q) {
				out = append(out, ProvisionedTarget{Account: f.Account, Function: f.Name, Qualifier: q, Requested: p.Requested})
			}
		}
	}
	return out, nil
}
