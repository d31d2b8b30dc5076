package catalog

import (
	"context"
	"fmt"
	"maps"
	"math"
	"strconv"

	"github.com/ember-run/ember/internal/arn"
)

// AliasInput is a CreateAlias or UpdateAlias request. For updates, nil
// fields are unchanged; a non-nil empty Weights clears routing.
type AliasInput struct {
	Name            string
	FunctionVersion *string
	Description     *string
	Weights         *map[string]float64
	RevisionID      string
}

func (c *Catalog) checkAlias(f *Function, a *Alias) error {
	if a.FunctionVersion == "" {
		return invalidf("FunctionVersion is required.")
	}
	if a.FunctionVersion != Latest {
		n, err := strconv.Atoi(a.FunctionVersion)
		if err != nil || !arn.IsVersion(a.FunctionVersion) || !f.HasVersion(n) {
			return fmt.Errorf("%w: Function not found: %s", ErrNotFound, c.ARN(f.Account, f.Name, a.FunctionVersion))
		}
	}
	if len(a.Description) > 256 {
		return invalidf("Description must be at most 256 characters.")
	}
	if len(a.AdditionalVersionWeights) > 1 {
		return invalidf("Number of items in AdditionalVersionWeights cannot be greater than 1")
	}
	for v, w := range a.AdditionalVersionWeights {
		if a.FunctionVersion == Latest {
			return invalidf("$LATEST is not supported for an alias pointing to more than 1 version")
		}
		if v == Latest {
			return invalidf("$LATEST is not supported for an alias pointing to more than 1 version")
		}
		n, err := strconv.Atoi(v)
		if err != nil || !arn.IsVersion(v) || !f.HasVersion(n) {
			return invalidf("Version %s in AdditionalVersionWeights does not exist; routing needs published versions", v)
		}
		if v == a.FunctionVersion {
			return invalidf("Invalid function version %s. Function version %s is already included in the routing configuration.", v, v)
		}
		if math.IsNaN(w) || w < 0 || w > 1 {
			return invalidf("1 validation error detected: Value '%v' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]", w)
		}
	}
	return nil
}

// CreateAlias adds an alias.
func (c *Catalog) CreateAlias(ctx context.Context, account, name string, in AliasInput) (*Alias, error) {
	if !arn.ValidAliasName(in.Name) || in.Name == Latest {
		return nil, invalidf("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)", in.Name)
	}
	var out *Alias
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		if _, ok := f.Aliases[in.Name]; ok {
			return fmt.Errorf("%w: Alias already exists: %s", ErrExists, c.ARN(account, name, in.Name))
		}
		a := &Alias{Name: in.Name, RevisionID: newRevision()}
		set(&a.FunctionVersion, in.FunctionVersion)
		set(&a.Description, in.Description)
		if in.Weights != nil && len(*in.Weights) > 0 {
			a.AdditionalVersionWeights = maps.Clone(*in.Weights)
		}
		if err := c.checkAlias(f, a); err != nil {
			return err
		}
		if f.Aliases == nil {
			f.Aliases = map[string]*Alias{}
		}
		f.Aliases[in.Name] = a
		out = a
		return nil
	})
	return out, err
}

// UpdateAlias changes an alias.
func (c *Catalog) UpdateAlias(ctx context.Context, account, name string, in AliasInput) (*Alias, error) {
	var out *Alias
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		old, ok := f.Aliases[in.Name]
		if !ok {
			return fmt.Errorf("%w: Alias not found: %s", ErrNotFound, c.ARN(account, name, in.Name))
		}
		if err := checkRevision(in.RevisionID, old.RevisionID); err != nil {
			return err
		}
		a := *old
		a.AdditionalVersionWeights = maps.Clone(old.AdditionalVersionWeights)
		set(&a.FunctionVersion, in.FunctionVersion)
		set(&a.Description, in.Description)
		if in.Weights != nil {
			a.AdditionalVersionWeights = maps.Clone(*in.Weights)
			if len(a.AdditionalVersionWeights) == 0 {
				a.AdditionalVersionWeights = nil
			}
		}
		if err := c.checkAlias(f, &a); err != nil {
			return err
		}
		a.RevisionID = newRevision()
		f.Aliases[in.Name] = &a
		out = &a
		return nil
	})
	return out, err
}

// DeleteAlias removes an alias and the permissions scoped to it.
func (c *Catalog) DeleteAlias(ctx context.Context, account, name, alias string) error {
	_, err := c.mutate(ctx, account, name, func(f *Function) error {
		if _, ok := f.Aliases[alias]; !ok {
			return errUnchanged // deleting a missing alias succeeds, as in Lambda
		}
		delete(f.Aliases, alias)
		delete(f.Policies, alias)
		delete(f.EventConfigs, alias)
		delete(f.Provisioned, alias)
		delete(f.URLs, alias) // its index record goes lazily (FunctionURLByID)
		return nil
	})
	if err == errUnchanged {
		return nil
	}
	return err
}
