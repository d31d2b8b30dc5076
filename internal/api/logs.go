package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/ember-run/ember/internal/logs"
)

// LogReader reads function logs (logs.Store implements it).
type LogReader interface {
	Read(ctx context.Context, account, function string, since time.Time, follow bool, fn func(logs.Record) error) error
}

// streamed marks a response the handler already wrote.
type streamed struct{}

// functionLogs streams a function's log records as text, oldest first:
// GET /ember/functions/{name}/logs?since=RFC3339|duration&follow=true.
// Only the owner reads a function's logs.
func (s *Server) functionLogs(ctx context.Context, c *call) (int, any, error) {
	account, name := c.caller.ID, c.r.PathValue("name")
	if a := s.ownCrossAlias(ctx, c); a != nil {
		// A cross-account alias's executions log to the alias's account.
		account, name = a.Account, a.Name
	} else {
		t, err := s.functionOnly(ctx, c, "ember:GetLogs", true)
		if err != nil {
			return 0, nil, err
		}
		account, name = t.fn.Account, t.fn.Name
	}
	if s.logs == nil {
		return 0, nil, fmt.Errorf("%w: logs are not available on this server", errUnknownRoute)
	}
	q := c.r.URL.Query()
	var since time.Time
	if v := q.Get("since"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			since = s.now().Add(-d)
		} else if ts, err := time.Parse(time.RFC3339, v); err == nil {
			since = ts
		} else {
			return 0, nil, fmt.Errorf("%w: since must be a duration (10m) or an RFC 3339 time", errBadParameter)
		}
	}
	follow := q.Get("follow") == "true"
	if follow {
		// A follower would hold a graceful shutdown open: end it then.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-s.draining:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	w := c.w
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(200)
	flusher, _ := w.(http.Flusher)
	err := s.logs.Read(ctx, account, name, since, follow, func(r logs.Record) error {
		if _, err := w.Write([]byte(r.Text)); err != nil {
			return err
		}
		if follow && flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("api: reading logs", "function", name, "err", err)
	}
	return 0, streamed{}, nil
}
