package api

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ember-run/ember/internal/catalog"
)

// securityPolicyOut is what GET and PUT security-policy return: the
// document as stored (empty when the function has none), the policy in
// force with every default filled in, and the configuration's revision.
type securityPolicyOut struct {
	FunctionArn string
	Version     string
	Policy      json.RawMessage `json:",omitempty"`
	Effective   any
	RevisionId  string
}

func (s *Server) renderSecurityPolicy(f *catalog.Function, cfg catalog.Config) (securityPolicyOut, error) {
	eff, err := catalog.EffectivePolicy(cfg)
	if err != nil {
		return securityPolicyOut{}, err
	}
	return securityPolicyOut{
		FunctionArn: s.cat.ARN(f.Account, f.Name, cfg.Version),
		Version:     cfg.Version, Policy: cfg.Policy,
		Effective: eff.Document(), RevisionId: cfg.RevisionID,
	}, nil
}

// putSecurityPolicy is PUT /ember/functions/{name}/security-policy: the
// body is the policy document; ?RevisionId= guards against lost updates.
// Only $LATEST takes a policy; PublishVersion freezes it.
func (s *Server) putSecurityPolicy(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "ember:PutSecurityPolicy", true)
	if err != nil {
		return 0, nil, err
	}
	if len(c.body) == 0 {
		return 0, nil, fmt.Errorf("%w: the request body must be a security policy document (JSON)", errBadParameter)
	}
	f, err := s.cat.SetPolicy(ctx, t.fn.Account, t.fn.Name, c.body, c.r.URL.Query().Get("RevisionId"))
	if err != nil {
		return 0, nil, err
	}
	out, err := s.renderSecurityPolicy(f, f.Latest)
	return 200, out, err
}

// getSecurityPolicy is GET /ember/functions/{name}/security-policy, with
// an optional qualifier (a version's frozen policy, or an alias's
// primary version's). Only the owner reads it.
func (s *Server) getSecurityPolicy(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "ember:GetSecurityPolicy", true)
	if err != nil {
		return 0, nil, err
	}
	cfg, err := s.cat.Resolve(ctx, t.fn, t.qualifier)
	if err != nil {
		return 0, nil, err
	}
	out, err := s.renderSecurityPolicy(t.fn, cfg)
	return 200, out, err
}

// deleteSecurityPolicy is DELETE /ember/functions/{name}/security-policy:
// $LATEST returns to the defaults.
func (s *Server) deleteSecurityPolicy(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "ember:DeleteSecurityPolicy", true)
	if err != nil {
		return 0, nil, err
	}
	if _, err := s.cat.SetPolicy(ctx, t.fn.Account, t.fn.Name, nil, c.r.URL.Query().Get("RevisionId")); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}
