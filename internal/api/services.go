package api

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ember-run/ember/internal/metering"
)

// secretIn is the body of PUT .../secrets/{secret}.
type secretIn struct {
	Value string
}

type secretOut struct {
	Name         string
	Size         int
	LastModified string
}

// putSecret is PUT /ember/functions/{name}/secrets/{secret}: values are
// write-only; the function reads them through its platform channel when
// its policy names them.
func (s *Server) putSecret(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "ember:PutSecret", true)
	if err != nil {
		return 0, nil, err
	}
	if s.secrets == nil {
		return 0, nil, fmt.Errorf("%w: secrets are not available on this server", errUnknownRoute)
	}
	var in secretIn
	if err := json.Unmarshal(c.body, &in); err != nil {
		return 0, nil, fmt.Errorf("%w: the body must be {\"Value\": \"...\"}", errBadRequest)
	}
	m, err := s.secrets.Put(ctx, t.fn.Account, t.fn.Name, c.r.PathValue("secret"), []byte(in.Value))
	if err != nil {
		return 0, nil, err
	}
	return 200, secretOut{Name: m.Name, Size: m.Size, LastModified: m.LastModified.UTC().Format(time.RFC3339)}, nil
}

// listSecrets is GET /ember/functions/{name}/secrets: names and sizes,
// never values.
func (s *Server) listSecrets(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "ember:ListSecrets", true)
	if err != nil {
		return 0, nil, err
	}
	if s.secrets == nil {
		return 0, nil, fmt.Errorf("%w: secrets are not available on this server", errUnknownRoute)
	}
	ms, err := s.secrets.List(ctx, t.fn.Account, t.fn.Name)
	if err != nil {
		return 0, nil, err
	}
	out := make([]secretOut, 0, len(ms))
	for _, m := range ms {
		out = append(out, secretOut{Name: m.Name, Size: m.Size, LastModified: m.LastModified.UTC().Format(time.RFC3339)})
	}
	return 200, map[string]any{"Secrets": out}, nil
}

// deleteSecret is DELETE /ember/functions/{name}/secrets/{secret}.
func (s *Server) deleteSecret(ctx context.Context, c *call) (int, any, error) {
	t, err := s.functionOnly(ctx, c, "ember:DeleteSecret", true)
	if err != nil {
		return 0, nil, err
	}
	if s.secrets == nil {
		return 0, nil, fmt.Errorf("%w: secrets are not available on this server", errUnknownRoute)
	}
	if err := s.secrets.Delete(ctx, t.fn.Account, t.fn.Name, c.r.PathValue("secret")); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

// deleteFunctionData removes a deleted function's secrets and store.
func (s *Server) deleteFunctionData(ctx context.Context, account, function string) {
	if s.secrets != nil {
		if err := s.secrets.DeleteFunction(ctx, account, function); err != nil {
			s.log.Warn("api: deleting a function's secrets", "function", function, "err", err)
		}
	}
	if s.kv != nil {
		if err := s.kv.DeleteFunction(ctx, account, function); err != nil {
			s.log.Warn("api: deleting a function's kv store", "function", function, "err", err)
		}
	}
}

// usageRow is one line of GET /ember/usage.
type usageRow struct {
	Key                                        string
	Invocations, Errors, Throttles, ColdStarts int64
	DurationMs                                 float64
	BilledMs                                   int64
	GBSeconds                                  float64
}

// usage is GET /ember/usage?since=&until=&by=&role=payer|owner[&all=true]:
// what the caller's account paid for (role payer, the default), or how
// much others used its functions (role owner: counts per function only).
// The admin may ask for every account with all=true.
func (s *Server) usage(ctx context.Context, c *call) (int, any, error) {
	if s.meter == nil {
		return 0, nil, fmt.Errorf("%w: metering is not available on this server", errUnknownRoute)
	}
	q := c.r.URL.Query()
	mq := metering.Query{Account: c.caller.ID, By: q.Get("by")}
	switch q.Get("role") {
	case "", "payer":
	case "owner":
		mq.Role = metering.Owner
	default:
		return 0, nil, fmt.Errorf("%w: role must be payer or owner", errBadParameter)
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &mq.Since}, {"until", &mq.Until}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		if d, err := time.ParseDuration(v); err == nil {
			*p.dst = s.now().Add(-d)
		} else if ts, err := time.Parse(time.RFC3339, v); err == nil {
			*p.dst = ts
		} else {
			return 0, nil, fmt.Errorf("%w: %s must be a duration (24h) or an RFC 3339 time", errBadParameter, p.name)
		}
	}
	if err := s.meter.Flush(ctx); err != nil {
		s.log.Warn("api: flushing usage records", "err", err)
	}
	var rows []metering.Row
	var err error
	if q.Get("all") == "true" {
		if err := requireAdmin(c); err != nil {
			return 0, nil, err
		}
		rows, err = s.meter.All(ctx, mq)
	} else {
		rows, err = s.meter.Usage(ctx, mq)
	}
	if err != nil {
		return 0, nil, err
	}
	out := make([]usageRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, usageRow{Key: r.Key, Invocations: r.Invocations, Errors: r.Errors, Throttles: r.Throttles,
			ColdStarts: r.Cold, DurationMs: float64(r.Duration.Microseconds()) / 1000, BilledMs: r.BilledMs, GBSeconds: r.GBSeconds})
	}
	return 200, map[string]any{"Usage": out}, nil
}
