package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/channel"
	"github.com/ember-run/ember/internal/egress"
	"github.com/ember-run/ember/internal/logs"
	"github.com/ember-run/ember/internal/policy"
	"github.com/ember-run/ember/internal/runtimeapi"
	"github.com/ember-run/ember/internal/sandbox"
)

// instance is one sandbox running one function version's runtime.
type instance struct {
	sb       sandbox.Sandbox
	rapi     *runtimeapi.Server
	key      string
	account  string
	function string
	memoryMB int
	lastUsed time.Time
	busy     bool      // counted busy in its key's demand (Service.mu)
	since    time.Time // when its current call began (Service.mu)
	// keepAlive is the function's own idle keep-alive (0: the server's).
	keepAlive time.Duration

	initDuration time.Duration
	fresh        bool // no invocation has run yet (the next one reports Init Duration)
	stem         bool // specialised from a warming-pool stem cell
	provisioned  bool // kept ready for provisioned concurrency (under Service.mu)

	logs *capture // the sandbox's stdout and stderr
	// store and version: where output after the last invocation (e.g. an
	// extension's on SHUTDOWN) goes when the sandbox closes.
	store   *logs.Store
	version string
	// logAccount and logFunction own the sandbox's logs: the function's
	// owner, or for a cross-account alias the alias's account and name.
	logAccount, logFunction string

	policy  policy.Effective // what the sandbox was built under
	proxy   *egress.Proxy    // the egress proxy, when the policy has a network
	channel *channel.Server  // the platform channel
	// extensions: the bundle has external extensions (Extensions API).
	extensions bool
	flooded    atomic.Bool // the runtime wrote past the policy's output limit

	closeOnce sync.Once

	peakMu   sync.Mutex
	peakMB   int
	peakRead time.Time
}

func newInstance(s *Service, sb sandbox.Sandbox, f *catalog.Function, cfg catalog.Config, eff policy.Effective, key string, req Request, exts []string) (*instance, error) {
	in := &instance{
		sb: sb, key: key, account: f.Account, function: f.Name, memoryMB: cfg.MemorySize,
		fresh: true, policy: eff, keepAlive: f.KeepAlive(), extensions: len(exts) > 0,
		store: s.opts.Logs, version: cfg.Version, logAccount: f.Account, logFunction: f.Name,
		rapi: runtimeapi.New(runtimeapi.Options{
			MaxResponseBytes: MaxPayload, Logger: s.opts.Logger,
			Extensions: exts, FunctionName: f.Name, FunctionVersion: cfg.Version, Handler: cfg.Handler, AccountID: f.Account,
		}),
	}
	if d := req.Delegation; d != nil {
		in.logAccount, in.logFunction = d.Account, d.Alias
	}
	in.logs = &capture{max: s.opts.MaxLogBytes, limit: eff.OutputBytes, onFlood: func() {
		// Past the limit the runtime is flooding: stop it rather than
		// spend the node's CPU copying output nobody keeps.
		if in.flooded.CompareAndSwap(false, true) {
			in.kill()
		}
	}}
	l, err := sb.Listen("tcp", runtimeAPIAddr)
	if err != nil {
		return nil, fmt.Errorf("invoke: runtime API listener: %w", err)
	}
	go in.rapi.Serve(l)
	if err := in.startChannel(s, f, cfg, req); err != nil {
		in.rapi.Close()
		return nil, err
	}
	if eff.Networked() {
		if err := in.startProxy(s); err != nil {
			in.rapi.Close()
			return nil, err
		}
	}
	return in, nil
}

// startChannel serves the platform channel inside the sandbox's network
// namespace. Its grant is fixed here, from the sandbox's own policy: the
// listener exists in this sandbox only, so whoever connects to it is this
// function (or portion) and nothing else.
func (in *instance) startChannel(s *Service, f *catalog.Function, cfg catalog.Config, req Request) error {
	payer := req.Payer
	if payer == "" {
		payer = f.Account
	}
	g := channel.Grant{
		Account: f.Account, Function: f.Name, Version: cfg.Version, Portion: req.Portion,
		Secrets: in.policy.Secrets, KV: in.policy.KV, Functions: in.policy.Functions, Portions: in.policy.Portions,
	}
	srv := channel.New(g, channel.Backends{
		Secrets: s.opts.Secrets, KV: s.opts.KV,
		Invoke: func(ctx context.Context, call channel.Call) (channel.Result, error) {
			return s.brokered(ctx, call, payer)
		},
	}, channel.Options{
		Logger: s.opts.Logger,
		Log: func(a channel.Access) {
			line := fmt.Sprintf("[ember channel] %s %s %s: %d", a.Service, a.Op, a.Target, a.Status)
			if a.ErrorType != "" {
				line += " " + a.ErrorType
			}
			in.logs.write(line + "\n")
		},
	})
	l, err := in.sb.Listen("tcp", channelAddr)
	if err != nil {
		return fmt.Errorf("invoke: platform channel listener: %w", err)
	}
	in.channel = srv
	go srv.Serve(l)
	return nil
}

// startProxy serves the egress proxy inside the sandbox's network
// namespace; it is the only way out. Every decision goes into the
// function's log, so the owner sees what was allowed and refused.
func (in *instance) startProxy(s *Service) error {
	p, err := egress.New(egress.Options{
		Rules: in.policy.Allow, MaxConns: in.policy.MaxConnections, MaxBytes: in.policy.MaxBytes,
		Resolver: s.opts.Resolver,
		Log: func(d egress.Decision) {
			verdict := "allow"
			if !d.Allowed {
				verdict = "deny"
			}
			line := fmt.Sprintf("[ember egress] %s %s %s:%d", verdict, d.Method, d.Host, d.Port)
			if d.Addr.IsValid() {
				line += " (" + d.Addr.String() + ")"
			}
			line += ": " + d.Reason
			if d.Err != "" {
				line += "; " + d.Err
			}
			if d.Bytes > 0 {
				line += fmt.Sprintf("; %d bytes", d.Bytes)
			}
			in.logs.write(line + "\n")
		},
	})
	if err != nil {
		return fmt.Errorf("invoke: egress proxy: %w", err)
	}
	l, err := in.sb.Listen("tcp", egressAddr)
	if err != nil {
		return fmt.Errorf("invoke: egress proxy listener: %w", err)
	}
	in.proxy = p
	go p.Serve(l)
	return nil
}

// watch reports the sandbox's end to the Runtime API so waiters return.
func (in *instance) watch() {
	go func() {
		<-in.sb.Done()
		in.rapi.Fail(fmt.Errorf("sandbox %s ended: %+v", in.sb.ID(), in.sb.Exit()))
	}()
}

func (in *instance) kill() { in.sb.Kill() }

// alive reports whether the sandbox's runtime is still running.
func (in *instance) alive() bool {
	select {
	case <-in.sb.Done():
		return false
	default:
		return true
	}
}

func (in *instance) close() {
	in.closeOnce.Do(func() {
		if in.extensions && in.alive() {
			// Extensions get SHUTDOWN and a grace to flush, as on Lambda.
			ctx, cancel := context.WithTimeout(context.Background(), runtimeapi.DefaultShutdownGrace)
			in.rapi.Shutdown(ctx, runtimeapi.ShutdownSpindown)
			cancel()
		}
		in.rapi.Close()
		if in.channel != nil {
			in.channel.Close()
		}
		if in.proxy != nil {
			in.proxy.Close()
		}
		in.sb.Close()
		// Output after the last invocation ended (extensions on SHUTDOWN,
		// a runtime's goodbye) is not lost with the sandbox.
		if text, dropped := in.logs.cut(); text != "" && in.store != nil {
			if dropped > 0 {
				text += fmt.Sprintf("[ember: %d bytes of output dropped: over the log limit]\n", dropped)
			}
			in.store.Append(in.logAccount, in.logFunction, logs.Record{Time: time.Now(), Version: in.version, Text: text})
		}
	})
}

func errorDoc(typ, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
	return b
}

// exitFailure describes a runtime that died, as Lambda reports it.
func (in *instance) exitFailure(reqID string) (typ, msg string) {
	select {
	case <-in.sb.Done():
	case <-time.After(2 * time.Second):
	}
	exit := in.sb.Exit()
	if in.flooded.Load() {
		return "Runtime.OutputLimitExceeded", fmt.Sprintf("RequestId: %s Error: Runtime wrote more than %d bytes of output in one invocation (the policy's limits.outputBytes) and was stopped", reqID, in.policy.OutputBytes)
	}
	how := fmt.Sprintf("exit status %d", exit.Code)
	if exit.Signal != "" {
		how = "signal: " + exit.Signal
	}
	if exit.OOMKilled {
		return "Runtime.OutOfMemory", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", reqID, how)
	}
	return "Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", reqID, how)
}

// memoryWatchEvery is how often a long invocation checks whether its
// sandbox stalled at the memory limit; two checks in a row stop it.
const memoryWatchEvery = 250 * time.Millisecond

// watchMemory stops an invocation (through cancel) once its sandbox has
// been stalled at the memory limit for two checks in a row, rather than
// letting it thrash until its timeout. Short invocations cost one timer.
// The returned func ends the watch and reports whether it fired.
func (in *instance) watchMemory(cancel context.CancelFunc) func() bool {
	if _, ok := in.sb.(sandbox.MemoryBound); !ok {
		return func() bool { return false }
	}
	var (
		mu      sync.Mutex
		t       *time.Timer
		done    bool
		fired   bool
		strikes int
	)
	var check func()
	check = func() {
		bound := in.memoryBound()
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		if bound {
			strikes++
		} else {
			strikes = 0
		}
		if strikes >= 2 {
			fired = true
			cancel()
			return
		}
		t = time.AfterFunc(memoryWatchEvery, check)
	}
	mu.Lock()
	t = time.AfterFunc(memoryWatchEvery, check)
	mu.Unlock()
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		done = true
		t.Stop()
		return fired
	}
}

// memoryBound reports whether the sandbox stalled at its memory limit.
func (in *instance) memoryBound() bool {
	mb, ok := in.sb.(sandbox.MemoryBound)
	return ok && mb.MemoryBound()
}

// memoryUsedMB is the sandbox's peak memory. Reading the cgroup costs tens
// of microseconds, so a warm sandbox reads it at most every peakEvery and
// otherwise reports the last figure (a peak only grows; a little staleness
// is the trade). Failures always read it fresh.
func (in *instance) memoryUsedMB(fresh bool) int {
	in.peakMu.Lock()
	defer in.peakMu.Unlock()
	if fresh || time.Since(in.peakRead) > peakEvery {
		if st, err := in.sb.Stats(); err == nil {
			in.peakMB = int((st.MemoryPeakBytes + (1<<20 - 1)) >> 20)
			in.peakRead = time.Now()
		}
	}
	return in.peakMB
}

// cachedMemoryMB is the last peak figure while it is recent enough to report.
func (in *instance) cachedMemoryMB() (int, bool) {
	in.peakMu.Lock()
	defer in.peakMu.Unlock()
	return in.peakMB, !in.peakRead.IsZero() && time.Since(in.peakRead) <= peakEvery
}

const peakEvery = time.Second

// report writes END and REPORT and stores the invocation's log. The
// function's output is drained and cut into this invocation's segment at
// once, so the sandbox can serve again; reading the cgroup for the memory
// figure and storing the record happen off the caller's path unless the
// caller wants the log tail, which must hold the REPORT line.
func (in *instance) report(s *Service, reqID, version string, start time.Time, dur time.Duration, status string, wantTail bool) string {
	in.sb.Flush()
	text, dropped := in.logs.cut()
	fresh, initDur := in.fresh, in.initDuration
	in.fresh = false
	finish := func(memMB int) string {
		billed := (dur + time.Millisecond - 1) / time.Millisecond
		var b strings.Builder
		b.Grow(len(text) + 256)
		b.WriteString(text)
		if dropped > 0 {
			fmt.Fprintf(&b, "[ember: %d bytes of output dropped: over the per-invocation log limit]\n", dropped)
		}
		fmt.Fprintf(&b, "END RequestId: %s\nREPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t",
			reqID, reqID, float64(dur.Microseconds())/1000, billed, in.memoryMB, memMB)
		if fresh {
			fmt.Fprintf(&b, "Init Duration: %.2f ms\t", float64(initDur.Microseconds())/1000)
			if in.stem {
				b.WriteString("Start: warming pool\t")
			} else {
				b.WriteString("Start: new sandbox\t")
			}
		}
		b.WriteString(status)
		b.WriteByte('\n')
		out := b.String()
		if s.opts.Logs != nil {
			s.opts.Logs.Append(in.logAccount, in.logFunction, logs.Record{Time: start, RequestID: reqID, Version: version, Text: out})
		}
		return out
	}
	if wantTail || status != "" {
		// Failures are rare and their sandbox is about to go: read it now.
		return finish(in.memoryUsedMB(status != ""))
	}
	if mb, ok := in.cachedMemoryMB(); ok {
		finish(mb) // formatting and a queued append: cheaper than a goroutine
		return ""
	}
	go func() { finish(in.memoryUsedMB(false)) }()
	return ""
}

func tail(text string, want bool) []byte {
	if !want {
		return nil
	}
	if len(text) > 4096 {
		text = text[len(text)-4096:]
	}
	return []byte(text)
}

// invoke runs one invocation on a ready sandbox. It reports whether the
// sandbox may be reused.
func (in *instance) invoke(ctx context.Context, s *Service, cfg catalog.Config, reqID string, req Request, payload []byte) (Response, bool) {
	in.logs.begin(fmt.Sprintf("START RequestId: %s Version: %s\n", reqID, cfg.Version))
	if in.proxy != nil {
		in.proxy.ResetBudget() // network.maxBytes is per invocation
	}
	start := time.Now()
	timeout := time.Duration(cfg.Timeout) * time.Second
	ictx, cancel := context.WithDeadline(ctx, start.Add(timeout))
	stall := in.watchMemory(cancel)
	res, err := in.rapi.Invoke(ictx, runtimeapi.Invocation{
		RequestID: reqID, Payload: payload, Deadline: start.Add(timeout),
		FunctionARN: req.InvokedARN, ClientContext: req.ClientContext,
	})
	stalled := stall()
	cancel()
	dur := time.Since(start)
	resp := Response{ExecutedVersion: cfg.Version, RequestID: reqID, Duration: dur}
	status := ""
	healthy := false
	switch {
	case err == nil:
		resp.Payload = res.Payload
		if res.FunctionError() {
			resp.FunctionError = "Unhandled"
		}
		// A runtime that got a 413 for its response exits (aws-lambda-go
		// does): don't keep that sandbox.
		healthy = res.ErrorType != runtimeapi.ErrorTypeResponseTooLarge
	case err != nil && (stalled || errors.Is(err, runtimeapi.ErrTimeout) && in.memoryBound()):
		// Stalled at the memory limit: the kernel thrashes on the
		// runtime's code pages instead of killing it. Lambda's VM would
		// have OOM-killed it; report the same.
		in.kill()
		typ := "Runtime.OutOfMemory"
		in.logs.write(fmt.Sprintf("%s %s Runtime ran out of memory (%d MB) and was stopped\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), reqID, cfg.MemorySize))
		resp.Payload = errorDoc(typ, fmt.Sprintf("RequestId: %s Error: Runtime exited with error: signal: killed", reqID))
		resp.FunctionError = "Unhandled"
		status = "Status: error\tError Type: " + typ
	case errors.Is(err, runtimeapi.ErrTimeout):
		in.kill()
		secs := fmt.Sprintf("%.2f", timeout.Seconds())
		in.logs.write(fmt.Sprintf("%s %s Task timed out after %s seconds\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), reqID, secs))
		resp.Payload = errorDoc("Sandbox.Timedout", fmt.Sprintf("RequestId: %s Error: Task timed out after %s seconds", reqID, secs))
		resp.FunctionError = "Unhandled"
		status = "Status: timeout"
		resp.TimedOut = true
		if ctx.Err() != nil {
			status = "Status: cancelled"
		}
	case errors.Is(err, runtimeapi.ErrExited):
		typ, msg := in.exitFailure(reqID)
		resp.Payload = errorDoc(typ, msg)
		resp.FunctionError = "Unhandled"
		status = "Status: error\tError Type: " + typ
	default:
		in.kill()
		resp.Payload = errorDoc("Runtime.Unknown", fmt.Sprintf("RequestId: %s Error: %v", reqID, err))
		resp.FunctionError = "Unhandled"
		status = "Status: error\tError Type: Runtime.Unknown"
	}
	text := in.report(s, reqID, cfg.Version, start, dur, status, req.LogTail)
	resp.LogTail = tail(text, req.LogTail)
	return resp, healthy
}

// initFailure turns a runtime that never became ready into this
// invocation's function error.
func (in *instance) initFailure(s *Service, cfg catalog.Config, reqID string, req Request, err error) Response {
	in.logs.begin(fmt.Sprintf("START RequestId: %s Version: %s\n", reqID, cfg.Version))
	resp := Response{ExecutedVersion: cfg.Version, RequestID: reqID, FunctionError: "Unhandled"}
	var typ string
	switch {
	case errors.Is(err, runtimeapi.ErrInitFailed):
		doc, _ := in.rapi.InitError()
		resp.Payload, typ = doc.Payload, doc.ErrorType
		in.kill()
	case errors.Is(err, runtimeapi.ErrExited):
		var msg string
		typ, msg = in.exitFailure(reqID)
		resp.Payload = errorDoc(typ, msg)
	default:
		in.kill()
		typ = "Sandbox.Timedout"
		resp.Payload = errorDoc(typ, fmt.Sprintf("RequestId: %s Error: Runtime did not become ready within %.2f seconds", reqID, s.opts.InitTimeout.Seconds()))
	}
	if typ == "" {
		typ = "Runtime.Unknown"
	}
	text := in.report(s, reqID, cfg.Version, time.Now(), 0, "Status: error\tError Type: "+typ, req.LogTail)
	resp.LogTail = tail(text, req.LogTail)
	return resp
}

// capture collects a sandbox's output into the current invocation's
// segment, bounded. The sandbox's Flush makes sure output a function wrote
// before answering is in it when the segment is cut.
type capture struct {
	max     int    // bytes of one segment kept
	limit   int64  // bytes one invocation may write at all; 0: no limit
	onFlood func() // called (under mu) once a segment passes limit
	mu      sync.Mutex
	cur     strings.Builder
	drop    int
	written int64 // this segment's bytes, kept or not
}

// Write implements io.Writer for the sandbox's stdout and stderr.
func (c *capture) Write(p []byte) (int, error) {
	c.write(string(p))
	return len(p), nil
}

func (c *capture) write(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written += int64(len(s))
	if c.limit > 0 && c.written > c.limit && c.onFlood != nil {
		c.onFlood()
	}
	if room := c.max - c.cur.Len(); room < len(s) {
		if room > 0 {
			c.cur.WriteString(s[:room])
		}
		c.drop += len(s) - max(room, 0)
		return
	}
	c.cur.WriteString(s)
}

// begin starts an invocation's segment. Output that arrived between
// invocations (e.g. during init) stays at its head, as in Lambda.
func (c *capture) begin(start string) {
	c.mu.Lock()
	c.cur.WriteString(start)
	c.mu.Unlock()
}

// cut closes the segment: it returns the text and how many bytes were
// dropped over the cap, and starts a new empty segment.
func (c *capture) cut() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	text, dropped := c.cur.String(), c.drop
	c.cur.Reset()
	c.drop = 0
	c.written = 0
	return text, dropped
}
