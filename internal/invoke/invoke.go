// Package invoke is the invocation pipeline: it resolves what to run
// (version, alias weights), finds a warm sandbox for exactly that function
// version, configuration and account — or makes one — hands the event to
// the runtime through the Runtime API, enforces the deadline, and writes the
// START/END/REPORT log lines. A sandbox is reused only for the same
// (account, function incarnation, version, configuration revision), so an
// update never serves old code and accounts never share one.
package invoke

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/ember-run/ember/internal/uuid"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-run/ember/internal/bundle"
	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/channel"
	"github.com/ember-run/ember/internal/egress"
	"github.com/ember-run/ember/internal/logs"
	"github.com/ember-run/ember/internal/metering"
	"github.com/ember-run/ember/internal/policy"
	"github.com/ember-run/ember/internal/runtimes"
	"github.com/ember-run/ember/internal/sandbox"
)

// Sentinel errors, mapped to Lambda types at the API edge.
var (
	ErrUnavailable = errors.New("invoke: execution unavailable") // no sandbox driver on this host
	ErrThrottled   = errors.New("invoke: too many requests")     // no sandbox can be had now
	ErrRuntime     = errors.New("invoke: invalid runtime")       // the function's runtime cannot be started
	ErrTooLarge    = errors.New("invoke: request too large")
	ErrBadPayload  = errors.New("invoke: invalid request content")
	ErrClosed      = errors.New("invoke: shutting down")
)

// UIDs gives each account its own sandbox uid.
type UIDs interface {
	UID(ctx context.Context, account string) (int, error)
}

// Options configure the pipeline.
type Options struct {
	Driver  sandbox.Driver // nil: invocations fail with ErrUnavailable(Reason)
	Reason  string         // why there is no driver, for the error message
	Catalog *catalog.Catalog
	UIDs    UIDs
	Logs    *logs.Store
	// DataDir holds extracted code (DataDir/code) and the runtime clients
	// (DataDir/runtime).
	DataDir string
	Region  string
	// IdleTTL is how long a warm sandbox waits for its next invocation,
	// unless its function has a keep-alive tag (catalog.KeepAliveTag).
	IdleTTL time.Duration
	// MinAvailableMB: when the host's MemAvailable falls below it, idle
	// sandboxes are evicted (least recently used first) and cold starts
	// that find nothing to evict are refused with 429. 0 turns it off.
	MinAvailableMB int
	// MemAvailable reports the host's available memory in bytes; nil reads
	// /proc/meminfo. Tests replace it.
	MemAvailable func() (uint64, error)
	// MaxSandboxes bounds live sandboxes on this node.
	MaxSandboxes int
	// MaxStarting bounds cold starts in progress at once on this node (0:
	// two per CPU). Starts are CPU-bound; beyond a few per core they only
	// slow each other down, and every request queued on them with them.
	MaxStarting int
	// InitTimeout bounds a runtime's initialisation (Lambda: 10 s).
	InitTimeout time.Duration
	// MaxLogBytes caps what one invocation's output keeps.
	MaxLogBytes int
	// WarmPool is how many generic sandboxes ("stem cells": namespaces,
	// cgroup and root filesystem made, nothing tenant-specific inside) are
	// kept ready, so a cold start only specialises one. 0 disables it.
	WarmPool int
	// Resolver resolves names for the egress proxies of networked
	// sandboxes; nil is the host's resolver.
	Resolver egress.Resolver
	// Secrets and KV back the platform channel's services; nil refuses
	// them. Meter records every execution; nil records nothing.
	Secrets channel.Secrets
	KV      channel.KV
	Meter   *metering.Meter
	Logger  *slog.Logger
}

func (o *Options) defaults() {
	if o.IdleTTL == 0 {
		o.IdleTTL = 10 * time.Minute
	}
	if o.MaxSandboxes == 0 {
		o.MaxSandboxes = 64
	}
	if o.MaxStarting <= 0 {
		o.MaxStarting = max(2, 2*runtime.NumCPU())
	}
	if o.InitTimeout == 0 {
		o.InitTimeout = 10 * time.Second
	}
	if o.MaxLogBytes == 0 {
		o.MaxLogBytes = 256 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MemAvailable == nil {
		o.MemAvailable = memAvailable
	}
}

// maxStartHold is the longest one cold start counts against MaxStarting.
const maxStartHold = 500 * time.Millisecond

// MaxPayload is Lambda's synchronous request and response limit.
const MaxPayload = 6 * 1024 * 1024

// Request is one invocation.
type Request struct {
	Account   string // owner of the function
	Function  string
	Qualifier string
	Payload   []byte
	// ClientContext is the decoded X-Amz-Client-Context JSON.
	ClientContext string
	// InvokedARN is the ARN the caller used (Lambda-Runtime-Invoked-Function-Arn).
	InvokedARN string
	LogTail    bool
	// Policy is a request-time fragment (X-Ember-Policy) that may only
	// tighten the function's own security policy.
	Policy *policy.Policy
	// Portion runs one portion of a split-trust function instead of its
	// entry (only the platform channel asks for this).
	Portion string
	// Payer is the account billed and whose account concurrency the call
	// uses; empty means the function's owner.
	Payer string
	// API names the published API route the call came through, as
	// "apiId/METHOD /path" (metering only).
	API string
	// Delegation is set when the call comes through a cross-account alias.
	Delegation *Delegation
}

// Delegation describes a call through another account's alias of this
// function: the alias's owner (Request.Payer) pays, its customizations
// are injected, and its calls run in sandboxes of their own.
type Delegation struct {
	// Account and Alias name the alias in its account's namespace; the
	// executions' logs are stored under them. The alias's account pays
	// unless the call already has a payer (an API subscriber's call).
	Account string
	Alias   string
	// Env is added to the function's environment (the alias's own
	// credentials); the alias owner's values win over the function's.
	Env map[string]string
	// MemoryMB and Timeout lower the function's (0: the function's own).
	MemoryMB int
	Timeout  int
	// Revision changes whenever the alias's customizations change; it is
	// part of the pool key, so an edit never serves the old values.
	Revision string
}

// Response is what the caller gets back.
type Response struct {
	Payload         []byte
	FunctionError   string // "" or "Unhandled"
	ExecutedVersion string
	LogTail         []byte // last 4 KB of this invocation's log, when asked
	RequestID       string
	Cold            bool
	Duration        time.Duration // the runtime's time on the event (REPORT's Duration)
	TimedOut        bool
}

// Service runs invocations.
type Service struct {
	opts    Options
	codeDir string
	rtDir   string

	mu       sync.Mutex
	idle     map[string][]*instance // pool key → idle warm sandboxes
	demand   map[string]*demand     // pool key → starts, busy sandboxes, queue (queue.go)
	coldEWMA atomic.Int64           // recent init time, ns (queue.go)
	live     int
	closed   bool
	codeMu   sync.Mutex
	codeOnce map[string]*sync.Mutex

	stop chan struct{}
	done chan struct{}

	limits  *limiter
	metrics counters

	// Provisioned concurrency: targets by account/function/qualifier, and
	// live provisioned sandboxes by pool key (under mu).
	provMu   sync.Mutex
	targets  map[string]provTarget
	provLive map[string]int
	provKick chan struct{}
	provDone chan struct{}

	starts   chan struct{} // one token per cold start in progress (MaxStarting)
	turnsMu  sync.Mutex
	turns    map[string]chan struct{} // account → its start tokens (startTurn)
	stems    chan sandbox.Sandbox     // ready generic sandboxes
	stemWant atomic.Int64             // unix ns of the last cold start (or of New)

	keys      sync.Map     // poolKeyOf's memo: revision and portion → pool key
	nkeys     atomic.Int64 // entries stored in keys since it was last cleared
	refill    chan struct{}
	stemsDone chan struct{}
}

// New prepares the pipeline: the runtime clients are installed under the
// data directory and a janitor reclaims idle sandboxes.
func New(opts Options) (*Service, error) {
	opts.defaults()
	s := &Service{
		opts: opts, codeDir: filepath.Join(opts.DataDir, "code"), rtDir: filepath.Join(opts.DataDir, "runtime"),
		idle: map[string][]*instance{}, demand: map[string]*demand{}, codeOnce: map[string]*sync.Mutex{}, limits: newLimiter(opts.Catalog),
		targets: map[string]provTarget{}, provLive: map[string]int{}, provKick: make(chan struct{}, 1), provDone: make(chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{}), starts: make(chan struct{}, opts.MaxStarting),
	}
	if err := os.MkdirAll(s.codeDir, 0o711); err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	if err := os.RemoveAll(s.rtDir); err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	if err := runtimes.Install(s.rtDir); err != nil {
		return nil, fmt.Errorf("invoke: install runtimes: %w", err)
	}
	os.Chmod(opts.DataDir, 0o711) // sandboxes' uids must traverse it to their code
	// Everything the background tasks read is made before they start.
	s.stemWant.Store(time.Now().UnixNano())
	s.stems = make(chan sandbox.Sandbox, max(opts.WarmPool, 1))
	s.refill = make(chan struct{}, 1)
	s.stemsDone = make(chan struct{})
	go s.janitor()
	if opts.Driver != nil {
		go s.provisioner()
	} else {
		close(s.provDone)
	}
	if opts.Driver != nil && opts.WarmPool > 0 {
		go s.grow()
		s.refill <- struct{}{}
	} else {
		close(s.stemsDone)
	}
	return s, nil
}

// grow keeps the warming pool full. It makes one stem cell at a time, in
// the background, whenever one was taken.
func (s *Service) grow() {
	defer close(s.stemsDone)
	for {
		select {
		case <-s.stop:
			return
		case <-s.refill:
		}
		for len(s.stems) < s.opts.WarmPool && !s.stemsUnwanted() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			sb, err := s.opts.Driver.Create(ctx)
			cancel()
			if err != nil {
				s.opts.Logger.Warn("invoke: warming pool: cannot create a sandbox", "err", err)
				select {
				case <-s.stop:
					return
				case <-time.After(time.Second):
				}
				continue
			}
			select {
			case s.stems <- sb:
			case <-s.stop:
				sb.Close()
				return
			}
		}
	}
}

// sandbox takes a stem cell from the warming pool, or makes a sandbox now.
// It reports whether the pool served it.
func (s *Service) sandbox(ctx context.Context) (sandbox.Sandbox, bool, error) {
	s.stemWant.Store(time.Now().UnixNano())
	select {
	case sb := <-s.stems:
		return sb, true, nil
	default:
	}
	sb, err := s.opts.Driver.Create(ctx)
	return sb, false, err
}

// stemsUnwanted says the warming pool has served no cold start for an idle
// TTL: its stem cells are then closed rather than kept, and the next cold
// start (which makes its own sandbox) fills the pool again.
func (s *Service) stemsUnwanted() bool {
	return time.Since(time.Unix(0, s.stemWant.Load())) > s.opts.IdleTTL
}

// shrinkStems closes the warming pool's stem cells once they are unwanted.
func (s *Service) shrinkStems() {
	for s.stemsUnwanted() {
		select {
		case sb := <-s.stems:
			s.opts.Logger.Debug("invoke: warming pool idle; closing a stem cell", "sandbox", sb.ID())
			sb.Close()
		default:
			return
		}
	}
}

// replenish asks the warming pool to refill. A cold start calls it once
// its first invocation has answered (or once it failed), so the refill's
// process start-up competes for the CPU with neither its runtime's init
// nor that first call.
func (s *Service) replenish() {
	select {
	case s.refill <- struct{}{}:
	default:
	}
}

// Close stops the janitor and tears down every idle sandbox; sandboxes in
// use are torn down when their invocation finishes.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.wakeWaitersLocked()
	var all []*instance
	for k, list := range s.idle {
		all = append(all, list...)
		delete(s.idle, k)
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	<-s.stemsDone
	<-s.provDone
	for _, in := range all {
		s.destroy(in)
	}
	for {
		select {
		case sb := <-s.stems:
			sb.Close()
		default:
			return nil
		}
	}
}

func (s *Service) janitor() {
	defer close(s.done)
	// Once a second at most: keep-alive tags may be as short as that, and
	// memory pressure wants a prompt answer. A tick is one scan of the idle
	// lists and one read of /proc/meminfo.
	t := time.NewTicker(min(s.opts.IdleTTL/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			var old []*instance
			s.mu.Lock()
			for k, list := range s.idle {
				keep := list[:0]
				for _, in := range list {
					if !in.provisioned && now.Sub(in.lastUsed) > s.idleFor(in) {
						old = append(old, in)
					} else {
						keep = append(keep, in)
					}
				}
				if len(keep) == 0 {
					delete(s.idle, k)
				} else {
					s.idle[k] = keep
				}
			}
			for k, d := range s.demand {
				s.tidyLocked(k, d) // keys whose idle sandboxes went
			}
			s.mu.Unlock()
			for _, in := range old {
				s.opts.Logger.Debug("invoke: reclaiming idle sandbox", "sandbox", in.sb.ID(), "function", in.function)
				s.destroy(in)
			}
			s.shrinkStems()
			if short := s.lowMemory(); short > 0 {
				s.relieve(short)
			}
		}
	}
}

// Idle reports the number of warm idle sandboxes (for tests and metrics).
func (s *Service) Idle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.idle {
		n += len(l)
	}
	return n
}

func newRequestID() string { return uuid.New() }

// pickVersion resolves a qualifier to the configuration to run, applying
// an alias's weighted routing.
func (s *Service) pickVersion(ctx context.Context, f *catalog.Function, qualifier string) (catalog.Config, error) {
	if a, ok := f.Aliases[qualifier]; ok {
		v := a.FunctionVersion
		for extra, w := range a.AdditionalVersionWeights {
			if randFloat() < w {
				v = extra
			}
		}
		return s.opts.Catalog.Resolve(ctx, f, v)
	}
	return s.opts.Catalog.Resolve(ctx, f, qualifier)
}

func randFloat() float64 {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<53))
	return float64(n.Int64()) / (1 << 53)
}

// Resolve checks that a function and qualifier exist without running it
// (DryRun, and before an Event is accepted) and that a request-time policy
// fragment, if any, only tightens the function's policy; it returns the
// version that would run.
func (s *Service) Resolve(ctx context.Context, account, function, qualifier string, fragment *policy.Policy) (string, error) {
	f, err := s.opts.Catalog.Get(ctx, account, function)
	if errors.Is(err, catalog.ErrNotFound) {
		req, _, ok, xerr := s.crossAlias(ctx, Request{Account: account, Function: function, Qualifier: qualifier}, nil)
		if ok {
			if xerr != nil {
				return "", xerr
			}
			account, function, qualifier = req.Account, req.Function, req.Qualifier
			f, err = s.opts.Catalog.Get(ctx, account, function)
		}
	}
	if err != nil {
		return "", err
	}
	cfg, err := s.opts.Catalog.Resolve(ctx, f, qualifier)
	if err != nil {
		return "", err
	}
	if _, err := effectivePolicy(&cfg, "", fragment); err != nil {
		return "", err
	}
	return cfg.Version, nil
}

// Invoke runs one synchronous invocation.
func (s *Service) Invoke(ctx context.Context, req Request) (Response, error) {
	if s.opts.Driver == nil {
		return Response{}, fmt.Errorf("%w: %s", ErrUnavailable, s.opts.Reason)
	}
	if len(req.Payload) > MaxPayload {
		return Response{}, fmt.Errorf("%w: Request must be smaller than %d bytes for the InvokeFunction operation", ErrTooLarge, MaxPayload)
	}
	payload, err := normalizePayload(req.Payload)
	if err != nil {
		return Response{}, err
	}
	f, err := s.opts.Catalog.Get(ctx, req.Account, req.Function)
	if errors.Is(err, catalog.ErrNotFound) {
		var ok bool
		var xerr error
		if req, payload, ok, xerr = s.crossAlias(ctx, req, payload); ok {
			if xerr != nil {
				return Response{}, xerr
			}
			f, err = s.opts.Catalog.Get(ctx, req.Account, req.Function)
		}
	}
	if err != nil {
		return Response{}, err
	}
	cfg, err := s.pickVersion(ctx, f, req.Qualifier)
	if err != nil {
		return Response{}, err
	}
	req.Delegation.apply(&cfg)
	done, err := s.limits.admit(ctx, f, req.Payer)
	if err != nil {
		s.count(Response{}, nil, err)
		return Response{}, err
	}
	defer done()
	if req.InvokedARN == "" {
		req.InvokedARN = s.opts.Catalog.ARN(f.Account, f.Name, req.Qualifier)
	}
	reqID := newRequestID()
	eff, err := effectivePolicy(&cfg, req.Portion, req.Policy)
	if err != nil {
		return Response{}, err
	}
	key := s.poolKeyOf(f, cfg, eff, req.Portion, req.Policy != nil) + portionKey(req.Portion) + req.Delegation.key()
	var in *instance
	if eff.Isolation == policy.IsolationFresh {
		err = s.reserveSlot() // never a sandbox anyone used before
	} else {
		in, err = s.acquire(ctx, key)
	}
	if err != nil {
		s.count(Response{}, nil, err)
		if errors.Is(err, ErrThrottled) {
			s.meter(req, f, cfg, Response{RequestID: reqID}, metering.Throttled)
		}
		return Response{}, err
	}
	resp := Response{ExecutedVersion: cfg.Version, RequestID: reqID}
	if in == nil {
		in, resp, err = s.coldStart(ctx, f, cfg, eff, key, reqID, req)
		if eff.Isolation != policy.IsolationFresh {
			s.started(key, in)
		}
		if in == nil || err != nil {
			s.retireStale(key)
			resp.Cold = true
			s.count(resp, nil, err)
			if err == nil {
				s.meter(req, f, cfg, resp, metering.FunctionError) // init failure
			}
			return resp, err
		}
		resp.Cold = true
	}
	out, healthy := in.invoke(ctx, s, cfg, reqID, req, payload)
	if resp.Cold {
		// Idle sandboxes of this version's older configuration can never
		// serve again, and the warming pool lost a stem cell. Tearing
		// down and refilling only now keeps both from competing with
		// this start and its first call for the CPU.
		s.retireStale(key)
		s.replenish()
	}
	switch {
	case !healthy:
	case eff.Isolation == policy.IsolationFresh:
		healthy = false // used once, then gone
	case !eff.TmpPersists:
		if err := in.sb.ResetScratch(); err != nil {
			s.opts.Logger.Warn("invoke: emptying /tmp failed; retiring the sandbox", "sandbox", in.sb.ID(), "err", err)
			healthy = false
		}
	}
	out.Cold = resp.Cold
	s.count(out, in, nil)
	s.meter(req, f, cfg, out, "")
	if in.extensions {
		// The caller has its answer; the sandbox serves again once every
		// extension has finished with this event (Lambda's lifecycle).
		go func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Timeout)*time.Second)
			defer cancel()
			s.release(in, in.rapi.Settle(sctx) == nil && healthy)
		}()
		return out, nil
	}
	s.release(in, healthy)
	return out, nil
}

// meter records one execution (or throttle) for billing and usage.
func (s *Service) meter(req Request, f *catalog.Function, cfg catalog.Config, r Response, outcome string) {
	if s.opts.Meter == nil {
		return
	}
	if outcome == "" {
		outcome = metering.Success
		switch {
		case r.TimedOut:
			outcome = metering.Timeout
		case r.FunctionError != "":
			outcome = metering.FunctionError
		}
	}
	payer := req.Payer
	if payer == "" {
		payer = f.Account
	}
	s.opts.Meter.Record(metering.Record{
		RequestID: r.RequestID, Payer: payer, Owner: f.Account, Function: f.Name, Version: cfg.Version,
		Duration: r.Duration, MemoryMB: cfg.MemorySize, Cold: r.Cold, Outcome: outcome, API: req.API,
		Alias: req.Delegation.alias(),
	})
}

// portionKey keeps the sandboxes of each portion apart in the pool.
func portionKey(portion string) string {
	if portion == "" {
		return ""
	}
	return "#" + portion
}

// poolKey identifies the sandboxes one invocation may use: the function's
// incarnation, version and configuration revision, and the effective
// security policy, so a request that tightened the policy (say, to no
// network) is only ever served by a sandbox built under exactly that.
// poolKeyOf is poolKey, remembered per configuration revision and portion
// when no request tightened the policy: hashing the effective policy is
// the costliest part of a warm call's bookkeeping.
func (s *Service) poolKeyOf(f *catalog.Function, cfg catalog.Config, eff policy.Effective, portion string, tightened bool) string {
	if tightened {
		return poolKey(f, cfg, eff)
	}
	memo := f.Account + "/" + f.ID + "/" + cfg.Version + "/" + cfg.RevisionID + "/" + portion
	if k, ok := s.keys.Load(memo); ok {
		return k.(string)
	}
	k := poolKey(f, cfg, eff)
	if s.nkeys.Add(1) > maxKeyMemo {
		s.keys.Clear() // revisions come and go; start over rather than grow
		s.nkeys.Store(1)
	}
	s.keys.Store(memo, k)
	return k
}

// maxKeyMemo bounds poolKeyOf's memory.
const maxKeyMemo = 16384

func poolKey(f *catalog.Function, cfg catalog.Config, eff policy.Effective) string {
	return f.Account + "/" + f.Name + "/" + f.ID + "/" + cfg.Version + "/" + cfg.RevisionID + "/" + eff.Key()
}

// effectivePolicy is the configuration's policy — or, for a portion of a
// split-trust function, that portion's, whose handler then replaces
// cfg's — tightened by a request's fragment when it carries one.
func effectivePolicy(cfg *catalog.Config, portion string, fragment *policy.Policy) (policy.Effective, error) {
	var eff policy.Effective
	var err error
	if portion != "" {
		cfg.Handler, eff, err = catalog.PortionPolicy(*cfg, portion)
	} else {
		eff, err = catalog.EffectivePolicy(*cfg)
	}
	if err != nil || fragment == nil {
		return eff, err
	}
	return policy.Tighten(eff, fragment)
}

// acquire takes a warm sandbox for key, or reserves room for a new one
// (returning nil), or fails with ErrThrottled.
func (s *Service) acquire(ctx context.Context, key string) (*instance, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	for list := s.idle[key]; len(list) > 0; list = s.idle[key] {
		in := list[len(list)-1]
		s.idle[key] = list[:len(list)-1]
		if len(s.idle[key]) == 0 {
			delete(s.idle, key)
		}
		if in.alive() {
			busyLocked(s.demandLocked(key), in)
			s.mu.Unlock()
			return in, nil
		}
		// It died while idle (e.g. its runtime exited after answering):
		// never hand a dead sandbox to an invocation.
		s.live--
		s.unprovisionLocked(in)
		go in.close()
	}
	if in, err := s.startOrWaitLocked(ctx, key); in != nil || err != nil {
		return in, err
	}
	if err := s.reserveSlot(); err != nil {
		s.started(key, nil)
		return nil, err
	}
	return nil, nil
}

// reserveSlot counts a new sandbox against MaxSandboxes, evicting the least
// recently used idle one when the node is full, or refuses.
func (s *Service) reserveSlot() error {
	short := s.lowMemory()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	var victim *instance
	if short > 0 {
		// A new sandbox would push the host further into memory pressure:
		// only one that replaces an idle sandbox may start.
		victim = s.evictLocked()
		if victim == nil {
			s.mu.Unlock()
			return &ThrottleError{Reason: ReasonNodeCapacity, RetryAfter: time.Second,
				Message: fmt.Sprintf("Rate Exceeded. This node is low on memory (%d MB available, %d MB wanted free) and has no idle sandbox to give up.", (uint64(s.opts.MinAvailableMB)<<20-short)>>20, s.opts.MinAvailableMB)}
		}
		s.metrics.evictedForMemory.Add(1)
	} else if s.live >= s.opts.MaxSandboxes {
		victim = s.evictLocked()
		if victim == nil {
			s.mu.Unlock()
			return &ThrottleError{Reason: ReasonNodeCapacity, RetryAfter: time.Second,
				Message: fmt.Sprintf("Rate Exceeded. All %d sandboxes of this node are busy.", s.opts.MaxSandboxes)}
		}
	} else {
		s.live++
	}
	s.mu.Unlock()
	if victim != nil {
		// The victim's slot passes to the caller; tearing it down is not
		// the caller's wait.
		go victim.close()
	}
	return nil
}

// retireStale tears down idle sandboxes of the same function version made
// for an older configuration: after an update they can never serve again.
func (s *Service) retireStale(key string) {
	// account/name/id/version/ is shared by the sandboxes of one version;
	// among them those of another revision are stale, while those of the
	// same revision under another (request-tightened) policy are not.
	policyAt := strings.LastIndexByte(key, '/')
	revAt := strings.LastIndexByte(key[:policyAt], '/')
	prefix, revision := key[:revAt+1], key[revAt+1:policyAt+1]
	var stale []*instance
	s.mu.Lock()
	for k, list := range s.idle {
		if strings.HasPrefix(k, prefix) && !strings.HasPrefix(k[len(prefix):], revision) {
			stale = append(stale, list...)
			delete(s.idle, k)
		}
	}
	s.mu.Unlock()
	for _, in := range stale {
		go s.destroy(in)
	}
}

// evictLocked removes the least recently used idle sandbox of any key.
func (s *Service) evictLocked() *instance {
	var vk string
	var vi int
	var v *instance
	for k, list := range s.idle {
		for i, in := range list {
			if in.provisioned {
				continue
			}
			if v == nil || in.lastUsed.Before(v.lastUsed) {
				vk, vi, v = k, i, in
			}
		}
	}
	if v != nil {
		list := s.idle[vk]
		s.idle[vk] = append(list[:vi], list[vi+1:]...)
		if len(s.idle[vk]) == 0 {
			delete(s.idle, vk)
		}
	}
	return v
}

func (s *Service) release(in *instance, healthy bool) {
	s.mu.Lock()
	d := s.demand[in.key]
	if d != nil && in.busy {
		idleLocked(d, in)
	}
	park := healthy && !s.closed
	if park {
		in.lastUsed = time.Now()
		s.parkLocked(in)
	}
	if d != nil {
		s.tidyLocked(in.key, d)
	}
	s.mu.Unlock()
	if !park {
		s.retire(in)
	}
}

// retire kills a sandbox and frees its slot at once, and finishes the
// teardown (reap, cgroup and state removal: milliseconds) in the
// background, so neither the caller's answer nor the next cold start waits
// for it. A killed sandbox runs nothing, so it need not count against the
// node's limit while its remains are cleared.
func (s *Service) retire(in *instance) {
	in.kill()
	s.mu.Lock()
	s.live--
	s.unprovisionLocked(in)
	s.mu.Unlock()
	s.kickProvisioner()
	go in.close()
}

// destroy tears a sandbox down and frees its slot.
func (s *Service) destroy(in *instance) {
	in.close()
	s.mu.Lock()
	s.live--
	s.unprovisionLocked(in)
	s.mu.Unlock()
	s.kickProvisioner()
}

// codePath extracts a bundle once per code object and returns its
// directory. Extraction goes to a temporary name and is renamed into place
// so a crash never leaves a half-extracted bundle that looks complete.
func (s *Service) codePath(ctx context.Context, cfg catalog.Config, uid int) (string, error) {
	dir := filepath.Join(s.codeDir, sanitize(cfg.CodeObject))
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	s.codeMu.Lock()
	m := s.codeOnce[dir]
	if m == nil {
		m = &sync.Mutex{}
		s.codeOnce[dir] = m
	}
	s.codeMu.Unlock()
	m.Lock()
	defer m.Unlock()
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	zip, err := s.opts.Catalog.Code(ctx, cfg.CodeObject)
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(s.codeDir, ".extract-")
	if err != nil {
		return "", err
	}
	if err := bundle.Extract(ctx, zip, tmp, s.opts.Catalog.Settings().Bundle); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	// Only the account's own uid (and root) may enter the directory: no
	// other account's sandbox, and no other local user, can read the code.
	if err := os.Chown(tmp, uid, uid); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Chmod(tmp, 0o500); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return dir, nil
}

func sanitize(object string) string {
	b := []byte(object)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			b[i] = '-'
		}
	}
	return string(b)
}

func (s *Service) env(f *catalog.Function, cfg catalog.Config, sandboxID string) []string {
	env := []string{
		"AWS_LAMBDA_RUNTIME_API=" + runtimeAPIAddr,
		"AWS_LAMBDA_FUNCTION_NAME=" + f.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=" + cfg.Version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(cfg.MemorySize),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + f.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + time.Now().UTC().Format("2006/01/02") + "/[" + cfg.Version + "]" + sandboxID,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + s.opts.Region,
		"AWS_DEFAULT_REGION=" + s.opts.Region,
		"AWS_EXECUTION_ENV=AWS_Lambda_" + cfg.Runtime,
		"_HANDLER=" + cfg.Handler,
		"LAMBDA_TASK_ROOT=/var/task",
		"LAMBDA_RUNTIME_DIR=/opt/ember",
		"HOME=/tmp",
	}
	env = append(env, runtimes.Env(cfg.Runtime)...)
	env = append(env, "GOMAXPROCS="+strconv.Itoa(goMaxProcs(cfg.MemorySize)))
	for k, v := range cfg.Environment {
		env = append(env, k+"="+v)
	}
	return dedupeEnv(env)
}

// goMaxProcs sizes a Go runtime's parallelism like Lambda sizes its CPU:
// one core per 1769 MB, rounded up, at most the host's. A Go function
// otherwise runs as many threads as the host has cores whatever its share,
// and on a small host their cross-thread wake-ups cost a warm call about a
// quarter of its time (measured: raw warm p50 1.00–1.12 ms → 0.76–0.78 ms on 2
// cores). The function's own GOMAXPROCS, if it sets one, wins.
func goMaxProcs(memoryMB int) int {
	return max(1, min(runtime.NumCPU(), (memoryMB+1768)/1769))
}

// dedupeEnv keeps the last value of each variable, in first-seen order.
func dedupeEnv(env []string) []string {
	last := map[string]int{}
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = i
	}
	out := env[:0:0]
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if last[k] == i {
			out = append(out, kv)
		}
	}
	return out
}

const (
	runtimeAPIAddr = "127.0.0.1:9001"
	// egressAddr is where a networked sandbox finds its egress proxy.
	egressAddr = "127.0.0.1:9080"
	// channelAddr is the platform channel (EMBER_SERVICES_API).
	channelAddr = "127.0.0.1:9002"
)

// proxyEnv points the usual clients (Go, python, node libraries, curl) at
// the egress proxy; the Runtime API on loopback stays direct.
var proxyEnv = []string{
	"HTTP_PROXY=http://" + egressAddr, "HTTPS_PROXY=http://" + egressAddr,
	"http_proxy=http://" + egressAddr, "https_proxy=http://" + egressAddr,
	"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
}

// coldStart makes a sandbox for cfg and initialises its runtime. An init
// failure is a function error for this invocation (as in Lambda), not an
// API error.
func (s *Service) coldStart(ctx context.Context, f *catalog.Function, cfg catalog.Config, eff policy.Effective, key, reqID string, req Request) (*instance, Response, error) {
	fail := func(err error) (*instance, Response, error) {
		s.replenish()
		s.mu.Lock()
		s.live--
		s.mu.Unlock()
		return nil, Response{}, err
	}
	argv, err := runtimes.Command(cfg.Runtime, cfg.Handler)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrRuntime, err))
	}
	uid, err := s.opts.UIDs.UID(ctx, f.Account)
	if err != nil {
		return fail(err)
	}
	code, err := s.codePath(ctx, cfg, uid)
	if err != nil {
		return fail(err)
	}
	turnDone, err := s.startTurn(ctx, f.Account)
	if err != nil {
		return fail(err)
	}
	// The turn is given back once the runtime is up, or after
	// maxStartHold: a function with a slow init of its own must not hold
	// up every other tenant's starts.
	var once sync.Once
	giveBack := func() { once.Do(turnDone) }
	hold := time.AfterFunc(maxStartHold, giveBack)
	defer func() { hold.Stop(); giveBack() }()
	started := time.Now()
	sb, stem, err := s.sandbox(ctx)
	if err != nil {
		return fail(err)
	}
	exts := extensionsIn(code)
	in, err := newInstance(s, sb, f, cfg, eff, key, req, exts)
	if err != nil {
		sb.Close()
		return fail(err)
	}
	env := s.env(f, cfg, sb.ID())
	env = dedupeEnv(append(env, req.Delegation.env()...))
	if eff.Networked() {
		env = dedupeEnv(append(env, proxyEnv...))
	}
	env = dedupeEnv(append(env, "EMBER_SERVICES_API="+channelAddr))
	spec := sandbox.Spec{
		CodeDir: code, RuntimeDir: s.rtDir, Argv: argv, Env: env,
		UID: uid, GID: uid, MemoryMB: cfg.MemorySize, TmpMB: eff.TmpMB,
		Pids: eff.Pids, NoFile: eff.OpenFiles, StrictSyscalls: eff.Syscalls == policy.SyscallsStrict,
		Stdout: in.logs, Stderr: in.logs,
	}
	for _, name := range exts {
		spec.Extensions = append(spec.Extensions, "/var/task/extensions/"+name)
	}
	if len(exts) > 0 {
		spec.ExtensionExited = func(path string, _ sandbox.Exit) { in.rapi.ExtensionExited(filepath.Base(path)) }
	}
	if err := sb.Start(ctx, spec); err != nil {
		in.close()
		if ctx.Err() == nil && strings.Contains(err.Error(), "exec ") {
			// The entry point is missing or not executable: as in Lambda, a
			// function error of this invocation, not a platform failure.
			s.opts.Logger.Info("invoke: runtime did not start", "function", f.Name, "err", err)
			_, resp, _ := fail(nil)
			resp = Response{ExecutedVersion: cfg.Version, RequestID: reqID, FunctionError: "Unhandled",
				Payload: errorDoc("Runtime.InvalidEntrypoint", fmt.Sprintf("RequestId: %s Error: Couldn't start the runtime: %s does not exist or is not executable", reqID, argv[0]))}
			return nil, resp, nil
		}
		return fail(err)
	}
	in.watch()
	in.stem = stem
	ictx, cancel := context.WithTimeout(ctx, s.opts.InitTimeout)
	err = in.rapi.WaitReady(ictx)
	cancel()
	in.initDuration = time.Since(started)
	if err == nil {
		return in, Response{}, nil // the caller replenishes once it is done
	}
	s.replenish()
	// The runtime did not come up: report it as Lambda does, as this
	// invocation's function error, and throw the sandbox away.
	resp := in.initFailure(s, cfg, reqID, req, err)
	s.destroy(in)
	return nil, resp, nil
}
