package invoke

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ember-run/ember/internal/catalog"
)

// crossAlias turns a call of a cross-account alias (req names one of the
// caller's cross-account aliases, not a function) into a call of the
// target on behalf of the alias's account: the target must still grant
// it, the alias's parameters are merged into the event and its
// customizations travel in req.Delegation. ok is false when req names no
// cross-account alias.
func (s *Service) crossAlias(ctx context.Context, req Request, payload []byte) (_ Request, _ []byte, ok bool, _ error) {
	if req.Delegation != nil {
		return req, payload, false, nil
	}
	a, err := s.opts.Catalog.CrossAlias(ctx, req.Account, req.Function)
	if err != nil {
		return req, payload, false, nil
	}
	if req.Qualifier != "" {
		return req, nil, true, fmt.Errorf("%w: %s is a cross-account alias: it runs %s and takes no qualifier", catalog.ErrInvalid, req.Function, s.opts.Catalog.TargetARN(a))
	}
	target, err := s.opts.Catalog.Get(ctx, a.TargetAccount, a.TargetFunction)
	if err != nil {
		return req, nil, true, fmt.Errorf("%w: the function behind cross-account alias %s no longer exists (%s)", catalog.ErrNotFound, req.Function, s.opts.Catalog.TargetARN(a))
	}
	if !target.Grants(a.Account, a.TargetQualifier) {
		return req, nil, true, fmt.Errorf("%w: account %s no longer grants account %s the use of %s: cross-account alias %s is revoked", catalog.ErrForbidden, a.TargetAccount, a.Account, s.opts.Catalog.TargetARN(a), req.Function)
	}
	if payload, err = mergeParameters(payload, a.Parameters); err != nil {
		return req, nil, true, err
	}
	if req.InvokedARN == "" {
		req.InvokedARN = s.opts.Catalog.ARN(a.Account, a.Name, "")
	}
	req.Account, req.Function, req.Qualifier = a.TargetAccount, a.TargetFunction, a.TargetQualifier
	if req.Payer == "" {
		req.Payer = a.Account
	}
	req.Delegation = &Delegation{Account: a.Account, Alias: a.Name, Env: a.Environment, MemoryMB: a.MemorySize, Timeout: a.Timeout, Revision: a.RevisionID}
	return req, payload, true, nil
}

// mergeParameters adds the alias's default parameters to an event that
// is a JSON object; the event's own fields win. Other events pass as they
// are.
func mergeParameters(payload []byte, params json.RawMessage) ([]byte, error) {
	if len(params) == 0 {
		return payload, nil
	}
	var event map[string]json.RawMessage
	if json.Unmarshal(payload, &event) != nil || event == nil {
		return payload, nil
	}
	var defaults map[string]json.RawMessage
	if err := json.Unmarshal(params, &defaults); err != nil {
		return nil, fmt.Errorf("invoke: cross-account alias parameters: %w", err)
	}
	changed := false
	for k, v := range defaults {
		if _, set := event[k]; !set {
			event[k] = v
			changed = true
		}
	}
	if !changed {
		return payload, nil
	}
	out, err := json.Marshal(event)
	if err == nil && len(out) > MaxPayload {
		err = fmt.Errorf("%w: the event with the alias's parameters is larger than %d bytes", ErrTooLarge, MaxPayload)
	}
	return out, err
}

// apply applies a delegation's lower limits to cfg.
func (d *Delegation) apply(cfg *catalog.Config) {
	if d == nil {
		return
	}
	if d.MemoryMB > 0 && d.MemoryMB < cfg.MemorySize {
		cfg.MemorySize = d.MemoryMB
	}
	if d.Timeout > 0 && d.Timeout < cfg.Timeout {
		cfg.Timeout = d.Timeout
	}
}

// key keeps a delegation's sandboxes apart from the owner's and from every
// other alias's, and from its own older customizations.
func (d *Delegation) key() string {
	if d == nil {
		return ""
	}
	return "@" + d.Account + "/" + d.Alias + "/" + d.Revision
}

// env is the delegation's variables, after the function's.
func (d *Delegation) env() []string {
	if d == nil {
		return nil
	}
	out := make([]string, 0, len(d.Env))
	for k, v := range d.Env {
		out = append(out, k+"="+v)
	}
	return out
}

// alias is the delegation's alias name, "" without one.
func (d *Delegation) alias() string {
	if d == nil {
		return ""
	}
	return d.Alias
}
