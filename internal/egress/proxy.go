package egress

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ember-run/ember/internal/policy"
)

// Sentinel errors.
var (
	ErrClosed    = errors.New("egress: proxy closed")
	ErrByteLimit = errors.New("egress: byte limit reached")
	ErrOptions   = errors.New("egress: bad options")

	// errDialRefused comes from the dialer's last-moment check; seeing it
	// means an earlier check was bypassed.
	errDialRefused = errors.New("egress: dial refused")
)

// Defaults for zero Options fields.
const (
	DefaultMaxConns    = 64
	DefaultMaxBytes    = 1 << 30
	DefaultDialTimeout = 10 * time.Second
	DefaultIdleTimeout = 5 * time.Minute
)

const (
	maxHeaderBytes    = 64 << 10
	readHeaderTimeout = 10 * time.Second
	// connsPerSlot bounds client connections (mostly idle keep-alives) at
	// this many per MaxConns slot: each costs the host a goroutine.
	connsPerSlot = 4
	// maxDialAttempts bounds how many of a name's addresses are tried.
	maxDialAttempts = 4
	connectOK       = "HTTP/1.1 200 Connection established\r\n\r\n"
)

// Resolver looks up a name's addresses. *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Options configure a Proxy. Zero fields take the defaults.
type Options struct {
	// Rules is the allow-list; an empty list denies everything.
	Rules []policy.Rule
	// MaxConns caps requests and tunnels in progress at once; more get 503.
	MaxConns int
	// MaxBytes caps the bytes carried between the sandbox and the proxy,
	// both ways, since New or the last ResetBudget. Past it every
	// connection is cut and new ones are refused until the next reset.
	MaxBytes int64
	// Resolver resolves names; default net.DefaultResolver (the host's DNS).
	Resolver Resolver
	// Log receives every decision, on the goroutine that made it: a refusal
	// at once, an allowed request or tunnel when it ends. It must return
	// quickly.
	Log func(Decision)
	// DialTimeout bounds a name lookup and each connection attempt.
	DialTimeout time.Duration
	// IdleTimeout ends a tunnel that carried nothing either way for this
	// long, and bounds the wait for an upstream's response headers and for
	// a client's next request.
	IdleTimeout time.Duration
}

// Validate reports whether the options are usable.
func (o Options) Validate() error {
	if o.MaxConns < 0 || o.MaxBytes < 0 || o.DialTimeout < 0 || o.IdleTimeout < 0 {
		return fmt.Errorf("%w: negative limit", ErrOptions)
	}
	for _, r := range o.Rules {
		if (r.Host == "") == !r.Prefix.IsValid() || r.PortLo == 0 || r.PortLo > r.PortHi {
			return fmt.Errorf("%w: malformed rule %+v", ErrOptions, r)
		}
	}
	return nil
}

// Decision is one allow-or-deny decision, as given to Options.Log.
type Decision struct {
	Time    time.Time  // when the request arrived
	Method  string     // "CONNECT", "GET", ...
	Host    string     // as requested: lower case, or raw if it did not parse
	Port    uint16     // the port asked for
	Addr    netip.Addr // the address connected to, or the one refused; zero if none
	Allowed bool       // the allow-list let it through
	Status  int        // what the client got: 200 for a tunnel, the upstream's status when forwarded
	Reason  string     // the rule that allowed it, or why it was refused
	Err     string     // what cut an allowed request or tunnel short, if anything
	Bytes   int64      // payload carried both ways: tunnel data, or request plus response body
}

// Stats are counters since New.
type Stats struct {
	Active  int    // requests and tunnels in progress
	Conns   int    // open client connections
	Allowed uint64 // decisions that allowed
	Denied  uint64 // decisions that refused (403, 400, 503, failed lookups)
	Bytes   int64  // bytes between the sandbox and the proxy, both ways, in the current budget
}

// Proxy is the egress proxy of one sandbox. Its methods are safe for
// concurrent use.
type Proxy struct {
	rules       []policy.Rule
	maxConns    int
	maxBytes    int64
	resolver    Resolver
	log         func(Decision)
	dialTimeout time.Duration
	idleTimeout time.Duration

	srv       *http.Server
	transport *http.Transport
	dialer    net.Dialer
	errLog    *log.Logger
	ctx       context.Context // cancelled by Close: lookups, dials, forwarded requests
	cancel    context.CancelFunc
	onDial    func(netip.AddrPort) // tests: called before each connection attempt
	bufs      bufferPool

	mu     sync.Mutex
	closed bool
	spent  bool // MaxBytes reached
	conns  map[*clientConn]struct{}
	wg     sync.WaitGroup // handlers and tunnel copiers

	closeOnce sync.Once
	active    atomic.Int64
	bytes     atomic.Int64
	allowed   atomic.Uint64
	denied    atomic.Uint64
}

// New returns a Proxy; start it with Serve.
func New(opts Options) (*Proxy, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	p := &Proxy{
		rules:       append([]policy.Rule(nil), opts.Rules...),
		maxConns:    cmp.Or(opts.MaxConns, DefaultMaxConns),
		maxBytes:    cmp.Or(opts.MaxBytes, DefaultMaxBytes),
		resolver:    opts.Resolver,
		log:         opts.Log,
		dialTimeout: cmp.Or(opts.DialTimeout, DefaultDialTimeout),
		idleTimeout: cmp.Or(opts.IdleTimeout, DefaultIdleTimeout),
		errLog:      log.New(io.Discard, "", 0),
		conns:       make(map[*clientConn]struct{}),
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.dialer = net.Dialer{
		Timeout: p.dialTimeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %q is not an address", errDialRefused, address)
			}
			return p.dialAllowed(ap)
		},
	}
	var http1 http.Protocols
	http1.SetHTTP1(true)
	p.transport = &http.Transport{
		Proxy:                  nil, // never the host's HTTP_PROXY
		DialContext:            p.dialForward,
		DisableCompression:     true, // pass bodies through as they are
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        30 * time.Second,
		ResponseHeaderTimeout:  p.idleTimeout,
		MaxResponseHeaderBytes: 1 << 20,
		Protocols:              &http1,
	}
	p.srv = &http.Server{
		Handler:                      http.HandlerFunc(p.serveHTTP),
		ReadHeaderTimeout:            readHeaderTimeout,
		IdleTimeout:                  p.idleTimeout,
		MaxHeaderBytes:               maxHeaderBytes,
		ErrorLog:                     p.errLog,
		BaseContext:                  func(net.Listener) context.Context { return p.ctx },
		DisableGeneralOptionsHandler: true,
		Protocols:                    &http1,
	}
	return p, nil
}

// Serve answers the sandbox on l until Close (then it returns nil) or until
// l fails. It closes l.
func (p *Proxy) Serve(l net.Listener) error {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		l.Close()
		return ErrClosed
	}
	err := p.srv.Serve(&listener{Listener: l, p: p})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops Serve, cuts every request and tunnel, and returns once
// their goroutines have. It is idempotent.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		conns := p.snapshot()
		p.mu.Unlock()
		p.cancel()
		p.srv.Close()
		for _, c := range conns {
			c.Close()
		}
		p.transport.CloseIdleConnections()
		p.wg.Wait()
		// Connections handed back to the pool while draining; this also
		// makes the Transport close any that go idle later.
		p.transport.CloseIdleConnections()
	})
	return nil
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	n := len(p.conns)
	p.mu.Unlock()
	return Stats{
		Active:  int(p.active.Load()),
		Conns:   n,
		Allowed: p.allowed.Load(),
		Denied:  p.denied.Load(),
		Bytes:   p.bytes.Load(),
	}
}

// forwardable reports whether a method is forwarded. CONNECT is handled
// apart; anything else (TRACE, WebDAV, made-up tokens) is a bad request.
func forwardable(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Until the target is parsed, log only its authority: paths and
	// queries can carry secrets.
	host := r.Host
	if r.Method == http.MethodConnect {
		host = r.RequestURI
	} else if a, ok := absoluteHTTP(r.RequestURI); ok {
		host = a
	}
	d := &Decision{Time: time.Now(), Method: clip(r.Method), Host: clip(host)}
	if !p.enter() {
		p.refuse(w, d, http.StatusServiceUnavailable, "proxy closed")
		return
	}
	defer p.wg.Done()
	if p.active.Add(1) > int64(p.maxConns) {
		p.active.Add(-1)
		p.refuse(w, d, http.StatusServiceUnavailable,
			fmt.Sprintf("too many connections (limit %d)", p.maxConns))
		return
	}
	defer p.active.Add(-1)

	switch {
	case r.Method == http.MethodConnect:
		p.connect(w, r, d)
	case forwardable(r.Method):
		p.forward(w, r, d)
	default:
		p.refuse(w, d, http.StatusBadRequest, fmt.Sprintf("method %q is not supported", clip(r.Method)))
	}
}

// enter registers a handler with Close, unless Close has begun.
func (p *Proxy) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// connect opens a CONNECT tunnel. TLS passes through untouched.
func (p *Proxy) connect(w http.ResponseWriter, r *http.Request, d *Decision) {
	v := p.decide(r.Context(), r.RequestURI, 0)
	if !p.admit(w, d, v) {
		return
	}
	up, addr, err := p.dialAny(r.Context(), v.addrs, v.port)
	d.Addr = addr
	if err != nil {
		d.Addr = v.addrs[0]
		p.refuse(w, d, http.StatusBadGateway, "upstream: "+err.Error())
		return
	}
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		p.refuse(w, d, http.StatusInternalServerError, "cannot take over the connection: "+err.Error())
		return
	}
	d.Status = http.StatusOK
	// Bytes the client sent after CONNECT without waiting for the answer.
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ = brw.Reader.Peek(n)
	}
	d.Bytes, d.Err = p.tunnel(client, up, early)
	p.record(d)
}

// admit fills d from v and answers a refusal. It reports whether v allows.
func (p *Proxy) admit(w http.ResponseWriter, d *Decision, v verdict) bool {
	if v.host != "" {
		d.Host, d.Port = clip(v.host), v.port
	}
	d.Addr = v.addr
	if v.status != 0 {
		p.refuse(w, d, v.status, v.reason)
		return false
	}
	d.Allowed, d.Reason = true, "allowed by "+v.rule
	return true
}

// refuse answers with a short plain-text reason and records the decision.
func (p *Proxy) refuse(w http.ResponseWriter, d *Decision, status int, reason string) {
	d.Status = status
	prefix := "ember egress: "
	switch {
	case d.Allowed:
		d.Err = reason
	case status == http.StatusForbidden:
		prefix += "denied: "
		d.Reason = reason
	case status == http.StatusBadRequest:
		prefix += "bad request: "
		d.Reason = reason
	default:
		d.Reason = reason
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if d.Method == http.MethodConnect {
		h.Set("Connection", "close")
	}
	w.WriteHeader(status)
	io.WriteString(w, prefix+reason+"\n")
	p.record(d)
}

func (p *Proxy) record(d *Decision) {
	if d.Allowed {
		p.allowed.Add(1)
	} else {
		p.denied.Add(1)
	}
	if p.log != nil {
		p.log(*d)
	}
}

// dialAny connects to the first of addrs that answers. Every attempt goes
// through the dialer's Control check.
func (p *Proxy) dialAny(ctx context.Context, addrs []netip.Addr, port uint16) (net.Conn, netip.Addr, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(p.ctx, cancel)()
	err := errors.New("no address to dial")
	for i, a := range addrs {
		if i == maxDialAttempts || ctx.Err() != nil {
			break
		}
		ap := netip.AddrPortFrom(a, port)
		if p.onDial != nil {
			p.onDial(ap)
		}
		c, e := p.dialer.DialContext(ctx, "tcp", ap.String())
		if e == nil {
			return c, a, nil
		}
		if i == 0 {
			err = e
		}
	}
	return nil, netip.Addr{}, err
}

// targetKey carries a forwarded request's target to dialForward.
type targetKey struct{}

// dialForward is the Transport's dialer. The Transport keys its pool by
// the request's host:port; the addresses come from the decision made for
// the request that caused the dial (a dial's context keeps the request's
// values).
func (p *Proxy) dialForward(ctx context.Context, _, addr string) (net.Conn, error) {
	t, ok := ctx.Value(targetKey{}).(*target)
	if !ok || addr != t.key {
		return nil, fmt.Errorf("%w: no decision for %s", errDialRefused, addr)
	}
	c, _, err := p.dialAny(ctx, t.addrs, t.port)
	return c, err
}

// listener tracks the sandbox's connections so Close and the byte limit
// can cut them, including hijacked ones, and bounds their number.
type listener struct {
	net.Listener
	p *Proxy
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if cc := l.p.track(c); cc != nil {
			return cc, nil
		}
		c.Close() // closing, out of bytes, or too many connections
	}
}

func (p *Proxy) track(c net.Conn) *clientConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.spent || len(p.conns) >= p.maxConns*connsPerSlot {
		return nil
	}
	cc := &clientConn{Conn: c, p: p}
	p.conns[cc] = struct{}{}
	return cc
}

// snapshot lists the tracked connections; p.mu must be held.
func (p *Proxy) snapshot() []*clientConn {
	out := make([]*clientConn, 0, len(p.conns))
	for c := range p.conns {
		out = append(out, c)
	}
	return out
}

// ResetBudget starts a new MaxBytes budget: ember calls it at the start of
// every invocation, so the cap is per invocation, not per sandbox life.
// Connections already cut stay cut.
func (p *Proxy) ResetBudget() {
	p.mu.Lock()
	p.bytes.Store(0)
	p.spent = false
	p.mu.Unlock()
}

// cutAll closes every client connection once MaxBytes is reached.
func (p *Proxy) cutAll() {
	p.mu.Lock()
	if p.spent {
		p.mu.Unlock()
		return
	}
	p.spent = true
	conns := p.snapshot()
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// budget trims b to what is left of MaxBytes.
func (p *Proxy) budget(b []byte) ([]byte, error) {
	left := p.maxBytes - p.bytes.Load()
	if left <= 0 {
		p.cutAll()
		return nil, ErrByteLimit
	}
	if int64(len(b)) > left {
		b = b[:left]
	}
	return b, nil
}

func (p *Proxy) spend(n int) {
	if n > 0 && p.bytes.Add(int64(n)) >= p.maxBytes {
		p.cutAll()
	}
}

// cutReason says why the proxy is cutting connections, if it is: then any
// failure a request or tunnel saw is put down to that.
func (p *Proxy) cutReason() string {
	switch {
	case p.ctx.Err() != nil:
		return ErrClosed.Error()
	case p.bytes.Load() >= p.maxBytes:
		return ErrByteLimit.Error()
	}
	return ""
}

// clientConn is a connection from the sandbox. It counts bytes against
// MaxBytes: each read or write is trimmed to what is left when it starts,
// so one stream stops exactly at the cap and concurrent ones overshoot it
// by at most one buffer each (reserving instead would let a blocked read
// hold budget that others need).
type clientConn struct {
	net.Conn
	p    *Proxy
	once sync.Once
}

func (c *clientConn) Read(b []byte) (int, error) {
	b, err := c.p.budget(b)
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	c.p.spend(n)
	return n, err
}

func (c *clientConn) Write(b []byte) (int, error) {
	lim, err := c.p.budget(b)
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(lim)
	c.p.spend(n)
	if err == nil && n < len(b) {
		err = ErrByteLimit
	}
	return n, err
}

func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	})
	return err
}

// CloseWrite half-closes, so a tunnel can pass on the client's EOF.
func (c *clientConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// clip bounds a client-supplied string before it goes into a log or an
// answer.
func clip(s string) string {
	const max = 256
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
