package api

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ember-run/ember/internal/catalog"
)

// Provisioner keeps provisioned sandboxes (invoke.Service implements it).
type Provisioner interface {
	Provision(account, function, qualifier string, n int)
	ProvisionedReady(ctx context.Context, account, function, qualifier string) int
}

var errProvisionedNotFound = errors.New("api: provisioned concurrency config not found")

type provisionedConfig struct {
	FunctionArn                              string `json:"FunctionArn,omitempty"`
	RequestedProvisionedConcurrentExecutions int    `json:"RequestedProvisionedConcurrentExecutions"`
	AvailableProvisionedConcurrentExecutions int    `json:"AvailableProvisionedConcurrentExecutions"`
	AllocatedProvisionedConcurrentExecutions int    `json:"AllocatedProvisionedConcurrentExecutions"`
	Status                                   string `json:"Status"`
	StatusReason                             string `json:"StatusReason,omitempty"`
	LastModified                             string `json:"LastModified"`
}

func (s *Server) renderProvisioned(ctx context.Context, f *catalog.Function, q string, p *catalog.Provisioned, withARN bool) provisionedConfig {
	ready := 0
	if s.provisioner != nil {
		ready = min(s.provisioner.ProvisionedReady(ctx, f.Account, f.Name, q), p.Requested)
	}
	out := provisionedConfig{
		RequestedProvisionedConcurrentExecutions: p.Requested, AvailableProvisionedConcurrentExecutions: ready,
		AllocatedProvisionedConcurrentExecutions: ready, Status: "IN_PROGRESS", LastModified: formatTime(p.LastModified),
	}
	if ready >= p.Requested {
		out.Status = "READY"
	}
	if withARN {
		out.FunctionArn = s.cat.ARN(f.Account, f.Name, q)
	}
	return out
}

func (s *Server) putProvisioned(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:PutProvisionedConcurrencyConfig", true)
	if err != nil {
		return 0, nil, err
	}
	if s.provisioner == nil {
		return 0, nil, fmt.Errorf("%w: this server runs no sandbox driver", errBadParameter)
	}
	var req struct{ ProvisionedConcurrentExecutions int }
	if err := decode(c.body, &req); err != nil {
		return 0, nil, err
	}
	p, err := s.cat.PutProvisioned(ctx, t.fn.Account, t.fn.Name, t.qualifier, req.ProvisionedConcurrentExecutions)
	if err != nil {
		return 0, nil, err
	}
	s.provisioner.Provision(t.fn.Account, t.fn.Name, t.qualifier, p.Requested)
	return 202, s.renderProvisioned(ctx, t.fn, t.qualifier, &p, false), nil
}

func (s *Server) getProvisioned(ctx context.Context, c *call) (int, any, error) {
	if c.r.URL.Query().Get("List") == "ALL" {
		return s.listProvisioned(ctx, c)
	}
	t, err := s.function(ctx, c, "lambda:GetProvisionedConcurrencyConfig", true)
	if err != nil {
		return 0, nil, err
	}
	p, ok := t.fn.Provisioned[t.qualifier]
	if !ok {
		return 0, nil, fmt.Errorf("%w: No Provisioned Concurrency Config found for this function", errProvisionedNotFound)
	}
	return 200, s.renderProvisioned(ctx, t.fn, t.qualifier, p, false), nil
}

func (s *Server) deleteProvisioned(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:DeleteProvisionedConcurrencyConfig", true)
	if err != nil {
		return 0, nil, err
	}
	if err := s.cat.DeleteProvisioned(ctx, t.fn.Account, t.fn.Name, t.qualifier); err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			return 0, nil, fmt.Errorf("%w: No Provisioned Concurrency Config found for this function", errProvisionedNotFound)
		}
		return 0, nil, err
	}
	if s.provisioner != nil {
		s.provisioner.Provision(t.fn.Account, t.fn.Name, t.qualifier, 0)
	}
	return 204, nil, nil
}

func (s *Server) listProvisioned(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:ListProvisionedConcurrencyConfigs", true)
	if err != nil {
		return 0, nil, err
	}
	var quals []string
	for q := range t.fn.Provisioned {
		quals = append(quals, q)
	}
	slices.Sort(quals)
	start, end, next, err := page(c.r.URL.Query(), len(quals), func(i int) string { return quals[i] }, 50)
	if err != nil {
		return 0, nil, err
	}
	out := make([]provisionedConfig, 0, end-start)
	for _, q := range quals[start:end] {
		out = append(out, s.renderProvisioned(ctx, t.fn, q, t.fn.Provisioned[q], true))
	}
	resp := map[string]any{"ProvisionedConcurrencyConfigs": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	return 200, resp, nil
}
