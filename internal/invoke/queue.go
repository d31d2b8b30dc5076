package invoke

import (
	"context"
	"time"
)

// Cold-start coalescing.
//
// A request that finds no idle sandbox of its pool key would, alone, start
// one. Under a burst that is the wrong trade: a sandbox of the key that is
// starting, or busy with a short call, is usually free again long before a
// new one could be initialised, and every extra start competes with the
// others for the CPU, so cold starts slow down, more requests arrive during
// them, more sandboxes start: the pile-up `ember bench` showed (on 2 cores,
// 20 functions at 50 calls/s: 83% throttled, cold p50 8.75 s).
//
// So a request may instead queue for the next sandbox of its key to come
// free, handed over directly by release. It queues only when that is
// expected to be sooner than a start of its own:
//
//   - with the key's recent call time known (an average over its calls),
//     a request waits when the calls ahead of it, spread over the key's
//     busy and starting sandboxes, should be done within the estimated
//     cold start (an average of recent init times). A short function is
//     thus served warm from a queue of dozens; a long-running one scales
//     out at once.
//   - with it unknown (no call has finished yet), at most
//     coalescePerStart requests wait per starting sandbox, and a request
//     waits for a busy sandbox for at most the estimated cold start.
//
// Either way a key never has more starts in progress than the node runs
// at once (MaxStarting): a further one would only wait for its turn.
//
// Whatever it expected, a queued request gives up waiting after the
// estimated cold start — unless a start of its key is in progress, which
// will likely serve it sooner than one it began then (this also keeps
// scale-out under overload to one start per key at a time: starts are
// what an overloaded node can least afford). Requests are handed
// sandboxes in arrival order.

// coalescePerStart is how many requests may wait on each starting sandbox.
const coalescePerStart = 4

// Bounds and seed of the cold-start estimate.
const (
	minColdEstimate  = 10 * time.Millisecond
	maxColdEstimate  = time.Second
	initColdEstimate = 50 * time.Millisecond
)

// demand is what is going on for one pool key (guarded by Service.mu).
type demand struct {
	starting int              // cold starts in progress
	busy     int              // sandboxes serving a call
	waiters  []chan *instance // queued requests, oldest first; buffered (1)
	call     time.Duration    // average time a call keeps a sandbox; 0: none yet
}

func (s *Service) demandLocked(key string) *demand {
	d := s.demand[key]
	if d == nil {
		d = &demand{}
		s.demand[key] = d
	}
	return d
}

// tidyLocked forgets a key with nothing going on and no idle sandbox.
func (s *Service) tidyLocked(key string, d *demand) {
	if d.starting == 0 && d.busy == 0 && len(d.waiters) == 0 && len(s.idle[key]) == 0 {
		delete(s.demand, key)
	}
}

// busyLocked marks in as serving a call from now.
func busyLocked(d *demand, in *instance) {
	d.busy++
	in.busy = true
	in.since = time.Now()
}

// idleLocked ends in's call and folds its duration into the key's
// average (weight 1/8).
func idleLocked(d *demand, in *instance) {
	in.busy = false
	d.busy--
	took := time.Since(in.since)
	if d.call == 0 {
		d.call = took
	} else {
		d.call += (took - d.call) / 8
	}
}

// parkLocked gives an initialised, unused-by-anyone-now sandbox to the
// oldest request waiting for its key, or puts it in the idle list.
func (s *Service) parkLocked(in *instance) {
	if d := s.demand[in.key]; d != nil && len(d.waiters) > 0 {
		w := d.waiters[0]
		d.waiters = d.waiters[1:]
		busyLocked(d, in)
		s.metrics.handoffs.Add(1)
		w <- in
		return
	}
	s.idle[in.key] = append(s.idle[in.key], in)
}

// dequeueLocked removes w from key's queue; false if it was already
// served (its sandbox is then in w).
func (s *Service) dequeueLocked(key string, w chan *instance) bool {
	d := s.demand[key]
	if d == nil {
		return false
	}
	for i, x := range d.waiters {
		if x == w {
			d.waiters = append(d.waiters[:i], d.waiters[i+1:]...)
			s.tidyLocked(key, d)
			return true
		}
	}
	return false
}

// shouldWaitLocked says whether a request without an idle sandbox should
// queue rather than start one, a start costing about cold.
func (s *Service) shouldWaitLocked(d *demand, cold time.Duration) bool {
	servers := d.busy + d.starting
	switch {
	case servers == 0:
		return false
	case d.starting >= s.opts.MaxStarting:
		// The node starts no more than that many sandboxes at once: a
		// further start would itself wait, for a start token.
		return true
	case d.call > 0:
		// The calls ahead of it and its own, in rounds over the servers.
		rounds := (len(d.waiters) + servers) / servers
		return time.Duration(rounds)*d.call < cold
	case d.starting > 0:
		return len(d.waiters) < d.starting*coalescePerStart
	default:
		return true // for at most cold (wait's budget)
	}
}

// wait queues for a sandbox of key. It returns the sandbox handed over,
// or nil when the caller should start one itself (with the start already
// counted), or ctx's error.
func (s *Service) wait(ctx context.Context, key string, d *demand) (*instance, error) {
	w := make(chan *instance, 1)
	d.waiters = append(d.waiters, w)
	s.mu.Unlock()
	s.metrics.queued.Add(1)
	budget := s.coldEstimate()
	t := time.NewTimer(budget)
	defer t.Stop()
	served := func(in *instance) (*instance, error) {
		if in == nil {
			return nil, ErrClosed // the service closed (wakeWaitersLocked)
		}
		if in.alive() {
			return in, nil
		}
		s.release(in, false) // it died while being handed over
		return s.startOrWait(ctx, key)
	}
	for {
		select {
		case in := <-w:
			return served(in)
		case <-ctx.Done():
			s.mu.Lock()
			queued := s.dequeueLocked(key, w)
			s.mu.Unlock()
			if !queued {
				if in := <-w; in != nil {
					s.release(in, true) // served as we gave up: pass it on
				}
			}
			return nil, ctx.Err()
		case <-t.C:
			s.mu.Lock()
			if d := s.demand[key]; d != nil && d.starting > 0 {
				// A start is under way: it will likely serve us sooner
				// than one we began now.
				s.mu.Unlock()
				t.Reset(budget)
				continue
			}
			if !s.dequeueLocked(key, w) {
				s.mu.Unlock()
				return served(<-w)
			}
			s.demandLocked(key).starting++
			s.mu.Unlock()
			return nil, nil
		}
	}
}

// startOrWait is acquire's decision after a handed-over sandbox was dead.
func (s *Service) startOrWait(ctx context.Context, key string) (*instance, error) {
	s.mu.Lock()
	return s.startOrWaitLocked(ctx, key)
}

// startOrWaitLocked, for a request with no idle sandbox of key, either
// queues (see wait) or counts a start the caller then makes (nil, nil).
// It is called with s.mu held and releases it.
func (s *Service) startOrWaitLocked(ctx context.Context, key string) (*instance, error) {
	d := s.demandLocked(key)
	if s.shouldWaitLocked(d, s.coldEstimate()) {
		return s.wait(ctx, key, d)
	}
	d.starting++
	s.mu.Unlock()
	return nil, nil
}

// started ends a cold start that acquire counted: the sandbox (if any)
// now serves its first call.
func (s *Service) started(key string, in *instance) {
	if in != nil {
		s.observeCold(in.initDuration)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.demandLocked(key)
	d.starting--
	if in != nil {
		busyLocked(d, in)
	}
	s.tidyLocked(key, d)
}

// coldEstimate is how long a cold start is expected to take now.
func (s *Service) coldEstimate() time.Duration {
	v := time.Duration(s.coldEWMA.Load())
	if v == 0 {
		return initColdEstimate
	}
	return min(max(v, minColdEstimate), maxColdEstimate)
}

// observeCold folds one init time into the estimate (weight 1/4).
func (s *Service) observeCold(d time.Duration) {
	for {
		old := s.coldEWMA.Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/4
		}
		if s.coldEWMA.CompareAndSwap(old, next) {
			return
		}
	}
}

// wakeWaitersLocked ends every queued request's wait with ErrClosed.
func (s *Service) wakeWaitersLocked() {
	for _, d := range s.demand {
		for _, w := range d.waiters {
			w <- nil
		}
		d.waiters = nil
	}
}

// startTurn waits for a turn to start a sandbox for account: one of the
// node's MaxStarting, of which one account holds at most MaxStarting-1 (when
// there are two or more), so another tenant's start never waits for a
// whole burst of this one's. done gives the turn back.
func (s *Service) startTurn(ctx context.Context, account string) (done func(), err error) {
	per := max(1, s.opts.MaxStarting-1)
	s.turnsMu.Lock()
	if s.turns == nil {
		s.turns = map[string]chan struct{}{}
	}
	mine := s.turns[account]
	if mine == nil {
		mine = make(chan struct{}, per)
		s.turns[account] = mine
	}
	s.turnsMu.Unlock()
	select {
	case mine <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case s.starts <- struct{}{}:
	case <-ctx.Done():
		<-mine
		return nil, ctx.Err()
	}
	// The account's channel stays in the map (one per account that ever
	// started a sandbox here): removing it while another goroutine holds
	// it would let the account open a second one.
	return func() {
		<-s.starts
		<-mine
	}, nil
}
