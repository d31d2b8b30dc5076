package api

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ember-run/ember/internal/catalog"
)

type aliasRequest struct {
	Name            string
	FunctionVersion *string
	Description     *string
	RoutingConfig   *routingConfig
	RevisionId      string
}

func (r aliasRequest) input(name string) catalog.AliasInput {
	in := catalog.AliasInput{Name: name, FunctionVersion: r.FunctionVersion, Description: r.Description, RevisionID: r.RevisionId}
	if r.RoutingConfig != nil {
		w := r.RoutingConfig.AdditionalVersionWeights
		if w == nil {
			w = map[string]float64{}
		}
		in.Weights = &w
	}
	return in
}

func (s *Server) createAlias(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:CreateAlias", true)
	if err != nil {
		return 0, nil, err
	}
	var req aliasRequest
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	a, err := s.cat.CreateAlias(ctx, t.fn.Account, t.fn.Name, req.input(req.Name))
	if err != nil {
		return 0, nil, err
	}
	return 201, s.renderAlias(t.fn.Account, t.fn.Name, a), nil
}

func (s *Server) aliasOf(t target, name string) (*catalog.Alias, error) {
	a, ok := t.fn.Aliases[name]
	if !ok {
		return nil, fmt.Errorf("%w: Alias not found: %s", catalog.ErrNotFound, s.cat.ARN(t.fn.Account, t.fn.Name, name))
	}
	return a, nil
}

func (s *Server) getAlias(ctx context.Context, c *call) (int, any, error) {
	name := c.r.PathValue("alias")
	t, err := s.functionAt(ctx, c, "lambda:GetAlias", false, name)
	if err != nil {
		return 0, nil, err
	}
	a, err := s.aliasOf(t, name)
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderAlias(t.fn.Account, t.fn.Name, a), nil
}

func (s *Server) updateAlias(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:UpdateAlias", true)
	if err != nil {
		return 0, nil, err
	}
	var req aliasRequest
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	a, err := s.cat.UpdateAlias(ctx, t.fn.Account, t.fn.Name, req.input(c.r.PathValue("alias")))
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderAlias(t.fn.Account, t.fn.Name, a), nil
}

func (s *Server) deleteAlias(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:DeleteAlias", true)
	if err != nil {
		return 0, nil, err
	}
	if err := s.cat.DeleteAlias(ctx, t.fn.Account, t.fn.Name, c.r.PathValue("alias")); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (s *Server) listAliases(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:ListAliases", false)
	if err != nil {
		return 0, nil, err
	}
	version := c.r.URL.Query().Get("FunctionVersion")
	var names []string
	for name, a := range t.fn.Aliases {
		if version == "" || a.FunctionVersion == version {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	start, end, next, err := page(c.r.URL.Query(), len(names), func(i int) string { return names[i] }, 50)
	if err != nil {
		return 0, nil, err
	}
	out := make([]aliasConfiguration, 0, end-start)
	for _, n := range names[start:end] {
		out = append(out, s.renderAlias(t.fn.Account, t.fn.Name, t.fn.Aliases[n]))
	}
	resp := map[string]any{"Aliases": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	return 200, resp, nil
}

type permissionRequest struct {
	StatementId, Action, Principal, SourceArn, SourceAccount, PrincipalOrgID string
	FunctionUrlAuthType, EventSourceToken, RevisionId                        string
}

func (s *Server) addPermission(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:AddPermission", true)
	if err != nil {
		return 0, nil, err
	}
	var req permissionRequest
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	for field, v := range map[string]string{"StatementId": req.StatementId, "Action": req.Action, "Principal": req.Principal} {
		if v == "" {
			return 0, nil, fmt.Errorf("%w: %s is required.", errBadParameter, field)
		}
	}
	st, err := s.cat.AddPermission(ctx, t.fn.Account, t.fn.Name, catalog.PermissionInput{
		Qualifier: t.qualifier, StatementID: req.StatementId, Action: req.Action, Principal: req.Principal,
		SourceArn: req.SourceArn, SourceAccount: req.SourceAccount, PrincipalOrgID: req.PrincipalOrgID,
		FunctionURLAuthType: req.FunctionUrlAuthType, EventSourceToken: req.EventSourceToken, RevisionID: req.RevisionId,
	})
	if err != nil {
		return 0, nil, err
	}
	doc, err := jsonString(st)
	if err != nil {
		return 0, nil, err
	}
	return 201, map[string]string{"Statement": doc}, nil
}

func (s *Server) removePermission(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:RemovePermission", true)
	if err != nil {
		return 0, nil, err
	}
	err = s.cat.RemovePermission(ctx, t.fn.Account, t.fn.Name, t.qualifier, c.r.PathValue("sid"), c.r.URL.Query().Get("RevisionId"))
	if err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (s *Server) getPolicy(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:GetPolicy", false)
	if err != nil {
		return 0, nil, err
	}
	p, err := s.cat.Policy(t.fn, t.qualifier)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]string{"Policy": p.Document(t.fn.Account), "RevisionId": p.RevisionID}, nil
}

// Tags are addressed by the unqualified function ARN.
func (s *Server) tagTarget(ctx context.Context, c *call, action string, mutate bool) (target, error) {
	raw := c.r.PathValue("arn")
	if !strings.HasPrefix(raw, "arn:") {
		return target{}, fmt.Errorf("%w: Resource must be a function ARN: %s", errBadParameter, raw)
	}
	c.r.SetPathValue("name", raw)
	t, err := s.function(ctx, c, action, mutate)
	if err != nil {
		return target{}, err
	}
	if t.qualifier != "" {
		return target{}, fmt.Errorf("%w: Tags apply to functions, not to versions or aliases; use the unqualified function ARN.", errBadParameter)
	}
	return t, nil
}

func (s *Server) tagResource(ctx context.Context, c *call) (int, any, error) {
	t, err := s.tagTarget(ctx, c, "lambda:TagResource", true)
	if err != nil {
		return 0, nil, err
	}
	var req struct{ Tags map[string]string }
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	if err := s.cat.TagResource(ctx, t.fn.Account, t.fn.Name, req.Tags); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (s *Server) untagResource(ctx context.Context, c *call) (int, any, error) {
	t, err := s.tagTarget(ctx, c, "lambda:UntagResource", true)
	if err != nil {
		return 0, nil, err
	}
	if err := s.cat.UntagResource(ctx, t.fn.Account, t.fn.Name, c.r.URL.Query()["tagKeys"]); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (s *Server) listTags(ctx context.Context, c *call) (int, any, error) {
	t, err := s.tagTarget(ctx, c, "lambda:ListTags", false)
	if err != nil {
		return 0, nil, err
	}
	tags := t.fn.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return 200, map[string]any{"Tags": tags}, nil
}
