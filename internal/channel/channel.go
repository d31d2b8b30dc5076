package channel

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/fnkv"
	"github.com/ember-run/ember/internal/secrets"
)

// Errors Backends.Invoke may wrap so that the caller gets a telling status
// (404, 403, 429, 400); their messages, after the prefix, reach the caller.
// Any other error is a 502 CallFailed with a generic message.
var (
	ErrNotFound  = errors.New("channel: no such function")
	ErrForbidden = errors.New("channel: call refused")
	ErrThrottled = errors.New("channel: throttled")
	ErrInvalid   = errors.New("channel: invalid call")
)

// Grant is what one sandbox is and may use.
type Grant struct {
	Account, Function, Version string
	// Portion is "" for the function itself, else the portion's name
	// (split trust).
	Portion string
	// Secrets are names of the function's secrets this sandbox may read.
	Secrets []string
	// KV opens the function's key-value store.
	KV bool
	// Functions it may call: names in the same account, ACCOUNT:function:NAME
	// or ARNs, with or without a qualifier.
	Functions []string
	// Portions of its own function it may call (higher-trust ones only;
	// the policy checks that).
	Portions []string
}

func (g Grant) clone() Grant {
	g.Secrets = slices.Clone(g.Secrets)
	g.Functions = slices.Clone(g.Functions)
	g.Portions = slices.Clone(g.Portions)
	return g
}

// Secrets reads secret values (secrets.Store).
type Secrets interface {
	Get(ctx context.Context, account, function, name string) ([]byte, error)
}

// KV is the per-function key-value store (fnkv.Store).
type KV interface {
	Get(ctx context.Context, account, function, key string) (fnkv.Item, error)
	Put(ctx context.Context, account, function, key string, value []byte, c fnkv.Condition) (uint64, error)
	Delete(ctx context.Context, account, function, key string, c fnkv.Condition) error
	List(ctx context.Context, account, function string, q fnkv.ListQuery) (fnkv.Page, error)
}

var (
	_ Secrets = (*secrets.Store)(nil)
	_ KV      = (*fnkv.Store)(nil)
)

// Backends are the services behind the channel. A nil one answers 500 to a
// granted call.
type Backends struct {
	Secrets Secrets
	KV      KV
	// Invoke runs a call to another function or portion for the sandbox.
	// It must return when ctx ends (its deadline is Call.Deadline).
	Invoke func(ctx context.Context, call Call) (Result, error)
}

// Call is one call the host brokers.
type Call struct {
	// Grant is the caller's (a copy).
	Grant Grant
	// Target is the function as the caller named it (a name in
	// Grant.Account, ACCOUNT:function:NAME or an ARN, maybe qualified); ""
	// for a portion call.
	Target string
	// Portion is the portion of the caller's own function (at
	// Grant.Version) for a portion call, else "".
	Portion  string
	Payload  []byte
	Deadline time.Time
}

// Result is the callee's answer.
type Result struct {
	Payload []byte
	// FunctionError is the callee's error type when it failed (its Payload
	// is then the error document), else "".
	FunctionError string
}

// Access is one call through the channel, for an access log.
type Access struct {
	Time                                time.Time
	Account, Function, Version, Portion string
	// Service is "secrets", "kv", "function", "portion", "whoami", or ""
	// for a request that named none.
	Service string
	// Op is "get", "put", "delete", "list" or "invoke".
	Op string
	// Target is the secret name, key, function or portion.
	Target            string
	Status            int
	ErrorType         string
	FunctionError     string
	BytesIn, BytesOut int64
	Duration          time.Duration
}

// Options tune a Server. The zero value gives the defaults.
type Options struct {
	// MaxRequestBytes bounds secrets and kv request bodies (default 1 MiB).
	MaxRequestBytes int64
	// MaxInvokeBytes bounds invocation payloads, both ways (default 6 MiB).
	MaxInvokeBytes int64
	// MaxConcurrent bounds the calls in flight; more get 429 (default 16).
	MaxConcurrent int
	// CallTimeout is the deadline of a call without Ember-Deadline-Ms
	// (default 30 s); MaxCallTimeout caps every call (default 15 min).
	CallTimeout, MaxCallTimeout time.Duration
	// CallerDeadline, when set, returns the deadline of the sandbox's
	// current invocation (zero when unknown); no call outlives it.
	CallerDeadline func() time.Time
	// Logger receives records of backend failures. Default: discard.
	Logger *slog.Logger
	// Log, when set, is called once per request, after the answer. It
	// must be quick: it runs on the request's goroutine.
	Log func(Access)
}

// Defaults.
const (
	DefaultMaxRequestBytes = 1 << 20
	DefaultMaxInvokeBytes  = 6 << 20
	DefaultMaxConcurrent   = 16
	DefaultCallTimeout     = 30 * time.Second
	DefaultMaxCallTimeout  = 15 * time.Minute
)

const (
	// bodyTimeout bounds reading one request body.
	bodyTimeout = 30 * time.Second
	// minConns is the fewest connections accepted at once; there are
	// always more than MaxConcurrent, so an excess call can hear its 429.
	minConns = 64
)

func (o *Options) defaults() {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if o.MaxInvokeBytes <= 0 {
		o.MaxInvokeBytes = DefaultMaxInvokeBytes
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.MaxCallTimeout <= 0 {
		o.MaxCallTimeout = DefaultMaxCallTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is the platform channel of one sandbox. Its methods are safe for
// concurrent use.
type Server struct {
	g         Grant
	secrets   map[string]bool
	functions []arn.FunctionRef
	portions  map[string]bool
	b         Backends
	opts      Options
	http      *http.Server
	slots     chan struct{}
	// bodyTimeout is the package's; tests shorten it.
	bodyTimeout time.Duration

	base   context.Context // parent of every request's context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	inflight  sync.WaitGroup // handlers running; Add only under mu while !closed
	closeOnce sync.Once
	closeErr  error
}

// New returns the channel for the sandbox that g describes; start it with
// Serve. g is copied.
func New(g Grant, b Backends, opts Options) *Server {
	opts.defaults()
	s := &Server{
		g:        g.clone(),
		secrets:  make(map[string]bool, len(g.Secrets)),
		portions: make(map[string]bool, len(g.Portions)),
		b:        b,
		opts:     opts,
		slots:    make(chan struct{}, opts.MaxConcurrent),

		bodyTimeout: bodyTimeout,
	}
	for _, n := range g.Secrets {
		s.secrets[n] = true
	}
	for _, p := range g.Portions {
		s.portions[p] = true
	}
	for _, f := range g.Functions {
		// An entry that does not parse can never match; the policy
		// validated it, so this is not expected.
		if ref, err := arn.ParseFunctionName(f); err == nil {
			if ref.Account == "" {
				ref.Account = g.Account
			}
			s.functions = append(s.functions, ref)
		}
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.http = &http.Server{
		Handler: http.HandlerFunc(s.serveHTTP),
		// The sandbox is tenant code: bound slow headers and idle
		// connections. Bodies are bounded per request (bodyTimeout); no
		// write timeout, since a brokered call may run for minutes.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	return s
}

// Serve answers the sandbox on l until Close (then it returns nil) or
// until l fails. It closes l.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(newLimitListener(l, max(minConns, 4*s.opts.MaxConcurrent)))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server: listeners and connections close, calls in flight
// are cancelled, and Close returns once their handlers have. It is
// idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.closeErr = s.http.Close()
		if errors.Is(s.closeErr, net.ErrClosed) {
			s.closeErr = nil
		}
		s.inflight.Wait()
	})
	return s.closeErr
}

// enter registers a handler, or reports false once Close has begun.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

// functionGranted reports whether target, parsed, is one of the grant's
// functions.
func (s *Server) functionGranted(t arn.FunctionRef) bool {
	if t.Account == "" {
		t.Account = s.g.Account
	}
	for _, f := range s.functions {
		if f.Account == t.Account && f.Name == t.Name &&
			(f.Qualifier == "" || f.Qualifier == t.Qualifier) &&
			(f.Region == "" || t.Region == "" || f.Region == t.Region) &&
			(f.Partition == "" || t.Partition == "" || f.Partition == t.Partition) {
			return true
		}
	}
	return false
}
