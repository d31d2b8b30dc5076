package invoke

import (
	"context"
	"time"

	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/policy"
)

// Provisioned concurrency keeps N sandboxes of a version or alias created,
// specialised and initialised ahead of any invocation. Such sandboxes are
// never reclaimed when idle nor evicted for others; invocations of that
// version use them like any warm sandbox. A background loop keeps the count
// up (a provisioned sandbox that dies is replaced) and gives surplus ones
// back to the ordinary pool when a target shrinks or goes away.

type provTarget struct {
	account, function, qualifier string
	n                            int
}

func targetKey(account, function, qualifier string) string {
	return account + "/" + function + "/" + qualifier
}

// Provision sets (n > 0) or clears (n = 0) a provisioned concurrency target.
func (s *Service) Provision(account, function, qualifier string, n int) {
	s.provMu.Lock()
	if n > 0 {
		s.targets[targetKey(account, function, qualifier)] = provTarget{account, function, qualifier, n}
	} else {
		delete(s.targets, targetKey(account, function, qualifier))
	}
	s.provMu.Unlock()
	s.kickProvisioner()
}

// ProvisionedReady reports how many provisioned sandboxes are ready for a
// qualifier (0 when it has none or cannot be resolved).
func (s *Service) ProvisionedReady(ctx context.Context, account, function, qualifier string) int {
	f, err := s.opts.Catalog.Get(ctx, account, function)
	if err != nil {
		return 0
	}
	cfg, err := s.opts.Catalog.Resolve(ctx, f, qualifier)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	eff, err := catalog.EffectivePolicy(cfg)
	if err != nil {
		return 0
	}
	return s.provLive[poolKey(f, cfg, eff)]
}

func (s *Service) kickProvisioner() {
	select {
	case s.provKick <- struct{}{}:
	default:
	}
}

// unprovisionLocked forgets a provisioned sandbox that is going away.
func (s *Service) unprovisionLocked(in *instance) {
	if in.provisioned {
		in.provisioned = false
		s.provLive[in.key]--
		if s.provLive[in.key] <= 0 {
			delete(s.provLive, in.key)
		}
	}
}

func (s *Service) provisioner() {
	defer close(s.provDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	if ts, err := s.opts.Catalog.ProvisionedTargets(ctx); err == nil {
		s.provMu.Lock()
		for _, t := range ts {
			s.targets[targetKey(t.Account, t.Function, t.Qualifier)] = provTarget{t.Account, t.Function, t.Qualifier, t.Requested}
		}
		s.provMu.Unlock()
	} else {
		s.opts.Logger.Warn("invoke: cannot read provisioned concurrency targets", "err", err)
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		s.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.provKick:
		}
	}
}

// reconcile brings every target's provisioned sandboxes to its count.
func (s *Service) reconcile(ctx context.Context) {
	s.provMu.Lock()
	targets := make([]provTarget, 0, len(s.targets))
	for _, t := range s.targets {
		targets = append(targets, t)
	}
	s.provMu.Unlock()
	want := map[string]int{}
	for _, t := range targets {
		f, err := s.opts.Catalog.Get(ctx, t.account, t.function)
		if err != nil {
			continue
		}
		cfg, err := s.opts.Catalog.Resolve(ctx, f, t.qualifier)
		if err != nil {
			continue
		}
		eff, err := catalog.EffectivePolicy(cfg)
		if err != nil || eff.Isolation == policy.IsolationFresh {
			continue // a fresh sandbox per call: nothing to keep ready
		}
		key := poolKey(f, cfg, eff)
		want[key] += t.n
		for ctx.Err() == nil {
			s.mu.Lock()
			have := s.provLive[key]
			s.mu.Unlock()
			if have >= want[key] {
				break
			}
			if !s.provisionOne(ctx, f, cfg, eff, key) {
				break
			}
		}
	}
	// Give surplus provisioned sandboxes back to the ordinary pool.
	s.mu.Lock()
	for key, list := range s.idle {
		for _, in := range list {
			if in.provisioned && s.provLive[key] > want[key] {
				s.unprovisionLocked(in)
			}
		}
	}
	s.mu.Unlock()
}

// provisionOne makes one initialised sandbox for key and parks it idle.
func (s *Service) provisionOne(ctx context.Context, f *catalog.Function, cfg catalog.Config, eff policy.Effective, key string) bool {
	if err := s.reserveSlot(); err != nil {
		return false
	}
	in, _, err := s.coldStart(ctx, f, cfg, eff, key, newRequestID(), Request{Account: f.Account, Function: f.Name})
	s.replenish()
	if err != nil || in == nil {
		s.opts.Logger.Warn("invoke: provisioned sandbox failed to initialise", "function", f.Name, "version", cfg.Version, "err", err)
		return false
	}
	in.fresh = false // its init is not any invocation's
	in.provisioned = true
	in.lastUsed = time.Now()
	s.mu.Lock()
	s.provLive[key]++
	closed := s.closed
	if !closed {
		s.parkLocked(in)
	}
	s.mu.Unlock()
	if closed {
		s.destroy(in)
		return false
	}
	return true
}
