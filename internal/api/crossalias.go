package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ember-run/ember/internal/catalog"
)

// Cross-account aliases: PUT/GET/DELETE /ember/cross-account-aliases/{name}
// and GET /ember/cross-account-aliases. Only the alias's account sees them;
// the target's owner never does. Variable values are write-only: they are
// delivered to the executions, never returned.

type crossAliasIn struct {
	Target      string
	Description string
	Parameters  json.RawMessage
	Environment map[string]string
	MemorySize  int
	Timeout     int
}

type crossAliasOut struct {
	AliasArn    string
	Name        string
	Target      string
	Description string          `json:",omitempty"`
	Parameters  json.RawMessage `json:",omitempty"`
	// EnvironmentKeys names the injected variables; values are write-only.
	EnvironmentKeys []string `json:",omitempty"`
	MemorySize      int      `json:",omitempty"`
	Timeout         int      `json:",omitempty"`
	Created         string
	LastModified    string
	RevisionId      string
}

func (s *Server) renderCrossAlias(a *catalog.CrossAlias) crossAliasOut {
	keys := make([]string, 0, len(a.Environment))
	for k := range a.Environment {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return crossAliasOut{
		AliasArn: s.cat.ARN(a.Account, a.Name, ""), Name: a.Name, Target: s.cat.TargetARN(a),
		Description: a.Description, Parameters: a.Parameters, EnvironmentKeys: keys,
		MemorySize: a.MemorySize, Timeout: a.Timeout,
		Created: a.Created.Format(time.RFC3339), LastModified: a.Modified.Format(time.RFC3339),
		RevisionId: a.RevisionID,
	}
}

func (s *Server) putCrossAlias(ctx context.Context, c *call) (int, any, error) {
	var in crossAliasIn
	if err := decode(c.body, &in); err != nil {
		return 0, nil, err
	}
	if in.Target == "" {
		return 0, nil, fmt.Errorf("%w: Target is required: the ARN of the other account's function, optionally with a qualifier", errBadParameter)
	}
	a, err := s.cat.PutCrossAlias(ctx, c.caller.ID, catalog.CrossAliasInput{
		Name: c.r.PathValue("name"), Target: in.Target, Description: in.Description,
		Parameters: in.Parameters, Environment: in.Environment, MemorySize: in.MemorySize, Timeout: in.Timeout,
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderCrossAlias(a), nil
}

func (s *Server) getCrossAlias(ctx context.Context, c *call) (int, any, error) {
	a, err := s.cat.CrossAlias(ctx, c.caller.ID, c.r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return 200, s.renderCrossAlias(a), nil
}

func (s *Server) listCrossAliases(ctx context.Context, c *call) (int, any, error) {
	as, err := s.cat.CrossAliases(ctx, c.caller.ID)
	if err != nil {
		return 0, nil, err
	}
	out := struct{ CrossAccountAliases []crossAliasOut }{CrossAccountAliases: []crossAliasOut{}}
	for _, a := range as {
		out.CrossAccountAliases = append(out.CrossAccountAliases, s.renderCrossAlias(a))
	}
	return 200, out, nil
}

func (s *Server) deleteCrossAlias(ctx context.Context, c *call) (int, any, error) {
	if err := s.cat.DeleteCrossAlias(ctx, c.caller.ID, c.r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

// ownCrossAlias is the caller's cross-account alias the request's
// {name} names (by name or by the caller's own ARN), or nil.
func (s *Server) ownCrossAlias(ctx context.Context, c *call) *catalog.CrossAlias {
	ref, err := s.ref(c)
	if err != nil || ref.Account != c.caller.ID {
		return nil
	}
	a, err := s.cat.CrossAlias(ctx, ref.Account, ref.Name)
	if err != nil {
		return nil
	}
	return a
}

// crossAliasOpaque turns "not found" for the caller's own cross-account
// alias into a clear refusal: its code and configuration are the target
// owner's.
func (s *Server) crossAliasOpaque(ctx context.Context, c *call, notFound error) error {
	a := s.ownCrossAlias(ctx, c)
	if a == nil {
		return notFound
	}
	return fmt.Errorf("%w: %s is a cross-account alias of %s: the code and configuration of another account's function are not available to you (invoke it, read its logs, or GET /ember/cross-account-aliases/%s for your customizations)",
		errDenied, a.Name, s.cat.TargetARN(a), a.Name)
}
