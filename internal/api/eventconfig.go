package api

import (
	"context"
	"slices"

	"github.com/ember-run/ember/internal/catalog"
)

type destination struct {
	Destination string `json:"Destination,omitempty"`
}

type destinationConfig struct {
	OnSuccess *destination `json:"OnSuccess,omitempty"`
	OnFailure *destination `json:"OnFailure,omitempty"`
}

type eventInvokeConfig struct {
	LastModified             float64            `json:"LastModified"`
	FunctionArn              string             `json:"FunctionArn"`
	MaximumRetryAttempts     *int               `json:"MaximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int               `json:"MaximumEventAgeInSeconds,omitempty"`
	DestinationConfig        *destinationConfig `json:"DestinationConfig"`
}

func (s *Server) renderEventConfig(f *catalog.Function, qualifier string, ec catalog.EventConfig) eventInvokeConfig {
	if qualifier == "" {
		qualifier = catalog.Latest
	}
	out := eventInvokeConfig{
		LastModified: float64(ec.LastModified.UnixMilli()) / 1000, FunctionArn: s.cat.ARN(f.Account, f.Name, qualifier),
		MaximumRetryAttempts: ec.MaximumRetryAttempts, MaximumEventAgeInSeconds: ec.MaximumEventAgeInSeconds,
		DestinationConfig: &destinationConfig{OnSuccess: &destination{ec.OnSuccess}, OnFailure: &destination{ec.OnFailure}},
	}
	return out
}

type eventConfigRequest struct {
	MaximumRetryAttempts     *int
	MaximumEventAgeInSeconds *int
	DestinationConfig        *struct {
		OnSuccess *struct{ Destination string }
		OnFailure *struct{ Destination string }
	}
}

func (s *Server) putEventConfig(merge bool) handler {
	return func(ctx context.Context, c *call) (int, any, error) {
		t, err := s.function(ctx, c, "lambda:PutFunctionEventInvokeConfig", true)
		if err != nil {
			return 0, nil, err
		}
		var req eventConfigRequest
		if err := decode(c.body, &req); err != nil {
			return 0, nil, err
		}
		p := catalog.EventConfigPatch{MaximumRetryAttempts: req.MaximumRetryAttempts, MaximumEventAgeInSeconds: req.MaximumEventAgeInSeconds}
		if d := req.DestinationConfig; d != nil {
			if d.OnSuccess != nil {
				p.OnSuccess = &d.OnSuccess.Destination
			}
			if d.OnFailure != nil {
				p.OnFailure = &d.OnFailure.Destination
			}
		}
		ec, err := s.cat.PutEventConfig(ctx, t.fn.Account, t.fn.Name, t.qualifier, p, merge)
		if err != nil {
			return 0, nil, err
		}
		return 200, s.renderEventConfig(t.fn, t.qualifier, ec), nil
	}
}

func (s *Server) getEventConfig(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:GetFunctionEventInvokeConfig", true)
	if err != nil {
		return 0, nil, err
	}
	ec, ok := t.fn.EventConfigOf(t.qualifier)
	if !ok {
		return 0, nil, notFoundEventConfig(s, t)
	}
	return 200, s.renderEventConfig(t.fn, t.qualifier, *ec), nil
}

func (s *Server) deleteEventConfig(ctx context.Context, c *call) (int, any, error) {
	t, err := s.function(ctx, c, "lambda:DeleteFunctionEventInvokeConfig", true)
	if err != nil {
		return 0, nil, err
	}
	if err := s.cat.DeleteEventConfig(ctx, t.fn.Account, t.fn.Name, t.qualifier); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (s *Server) listEventConfigs(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "lambda:ListFunctionEventInvokeConfigs", true)
	if err != nil {
		return 0, nil, err
	}
	var quals []string
	for q := range t.fn.EventConfigs {
		quals = append(quals, q)
	}
	slices.Sort(quals)
	start, end, next, err := page(c.r.URL.Query(), len(quals), func(i int) string { return quals[i] }, 50)
	if err != nil {
		return 0, nil, err
	}
	out := make([]eventInvokeConfig, 0, end-start)
	for _, q := range quals[start:end] {
		out = append(out, s.renderEventConfig(t.fn, q, *t.fn.EventConfigs[q]))
	}
	resp := map[string]any{"FunctionEventInvokeConfigs": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	return 200, resp, nil
}

func notFoundEventConfig(s *Server, t target) error {
	return notFoundf("The function %s doesn't have an EventInvokeConfig", s.cat.ARN(t.fn.Account, t.fn.Name, t.qualifier))
}
