package runtimeapi

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Extension events and shutdown reasons, as they appear on the wire.
const (
	EventInvoke   = "INVOKE"
	EventShutdown = "SHUTDOWN"

	ShutdownSpindown = "spindown" // the sandbox is reclaimed
	ShutdownTimeout  = "timeout"  // an invocation ran out of time
	ShutdownFailure  = "failure"  // the runtime failed (crash, out of memory)
)

// MaxExtensions is Lambda's limit on extensions per function.
const MaxExtensions = 10

// DefaultShutdownGrace bounds Shutdown when its context has no deadline:
// what Lambda gives external extensions.
const DefaultShutdownGrace = 2 * time.Second

const maxRegisterBytes = 64 << 10

// Extensions API wire names. The error types are Lambda's own (every
// refusal is a 403 with one of them, as Lambda's runtime interface
// emulator renders it).
const (
	extPrefix           = "/2020-01-01/extension/"
	hdrExtName          = "Lambda-Extension-Name"
	hdrExtID            = "Lambda-Extension-Identifier"
	hdrExtAcceptFeature = "Lambda-Extension-Accept-Feature"
	hdrExtEventID       = "Lambda-Extension-Event-Identifier"
	hdrExtErrorType     = "Lambda-Extension-Function-Error-Type"
	featureAccountID    = "accountId"

	errExtInvalidName   = "Extension.InvalidExtensionName"
	errExtRegClosed     = "Extension.RegistrationClosed"
	errExtMissingID     = "Extension.MissingExtensionIdentifier"
	errExtInvalidID     = "Extension.InvalidExtensionIdentifier"
	errExtUnknownID     = "Extension.UnknownExtensionIdentifier"
	errExtInvalidState  = "Extension.InvalidExtensionState"
	errExtMissingHeader = "Extension.MissingHeader"
	errExtTooMany       = "Extension.TooManyExtensions"
	errExtInvalidEvent  = "Extension.InvalidEventType"
	errInvalidFormat    = "InvalidRequestFormat"
)

// ErrorTypeExtensionCrash is the init error (and Extension.ExitError) of an
// extension process that exited on its own.
const ErrorTypeExtensionCrash = "Extension.Crash"

// Extension describes one registered extension.
type Extension struct {
	Name      string   // Lambda-Extension-Name
	ID        string   // Lambda-Extension-Identifier
	Events    []string // the events it subscribed to
	InitError string   // the error type it posted to /init/error, if any
	ExitError string   // the error type it posted to /exit/error, if any
}

// extension is a registered extension; its fields are guarded by Server.mu.
type extension struct {
	Extension
	invoke, shutdown bool          // subscriptions
	started          bool          // it has asked for its first event
	holding          bool          // it took an event and has not asked for the next one
	pending          [][]byte      // events it has yet to take, oldest first
	sent, finished   uint64        // events queued for it; events it took and came back from
	waiter           chan struct{} // its parked /event/next, closed to wake it
	nextGen          uint64        // counts its /event/next calls; a newer one supersedes a parked one
	gone             bool          // it posted /init/error or /exit/error: no further call succeeds
}

// extState is the Extensions API side of a Server. Guarded by Server.mu,
// except active.
type extState struct {
	enabled  bool             // Options.ExtensionsAPI; immutable
	meta     registerResponse // function metadata, accountId aside; immutable
	account  string
	expected []string
	list     []*extension // registration order
	closed   bool         // registration is over: init ended, or Shutdown
	shutSent bool
	settleBy time.Time // deadline of the last INVOKE sent
	// changed is closed and replaced whenever an extension finishes an
	// event or goes away; Settle and Shutdown wait on it.
	changed chan struct{}
	// active: extensions registered. Set before ready is closed and never
	// changed after, so whoever has seen ready closed reads it unlocked.
	active bool
}

func newExtState(opts Options) extState {
	return extState{
		enabled: opts.ExtensionsAPI || len(opts.Extensions) > 0,
		meta: registerResponse{
			FunctionName:    opts.FunctionName,
			FunctionVersion: opts.FunctionVersion,
			Handler:         opts.Handler,
		},
		account:  opts.AccountID,
		expected: slices.Clone(opts.Extensions),
		changed:  make(chan struct{}),
	}
}

type registerResponse struct {
	FunctionName    string `json:"functionName"`
	FunctionVersion string `json:"functionVersion"`
	Handler         string `json:"handler"`
	AccountID       string `json:"accountId,omitempty"`
}

type invokeEvent struct {
	EventType          string  `json:"eventType"`
	DeadlineMs         int64   `json:"deadlineMs"`
	RequestID          string  `json:"requestId"`
	InvokedFunctionArn string  `json:"invokedFunctionArn"`
	Tracing            tracing `json:"tracing"`
}

type tracing struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type shutdownEvent struct {
	EventType      string `json:"eventType"`
	ShutdownReason string `json:"shutdownReason"`
	DeadlineMs     int64  `json:"deadlineMs"`
}

// Extensions describes the registered extensions, in registration order.
func (s *Server) Extensions() []Extension {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Extension, len(s.ext.list))
	for i, e := range s.ext.list {
		out[i] = e.Extension
		out[i].Events = slices.Clone(e.Events)
	}
	return out
}

// Settle returns once every extension has asked for its next event after
// each event sent to it before the call, i.e. once the last invocation is
// over for the extensions too (Lambda's Invoke phase ends there). It
// returns at once without extensions. It is bounded by ctx and by the
// deadline of the last invocation: when that passes first it returns
// ErrTimeout, and the sandbox is expected to be reclaimed.
//
// Invoke calls it before handing over a new event, so calling it is only
// needed to learn when an invocation is fully over (for its duration, or
// before the sandbox goes back to a pool).
func (s *Server) Settle(ctx context.Context) error {
	select {
	case <-s.ready:
	default:
		return nil // no invocation before init
	}
	if !s.ext.active {
		return nil
	}
	s.mu.Lock()
	by := s.ext.settleBy
	s.mu.Unlock()
	return s.waitExtensions(ctx, by, false)
}

// Shutdown sends SHUTDOWN with reason (ShutdownSpindown, ShutdownTimeout or
// ShutdownFailure) to the extensions subscribed to it and waits until each
// is done, i.e. has asked for its next event or exited (ExtensionExited),
// or until ctx's deadline (DefaultShutdownGrace when it has none), which
// the event announces; then it returns ErrTimeout. Later Invokes return ErrShutdown and registration closes.
// Calling it again sends nothing more and waits again.
func (s *Server) Shutdown(ctx context.Context, reason string) error {
	switch reason {
	case ShutdownSpindown, ShutdownTimeout, ShutdownFailure:
	default:
		return fmt.Errorf("runtimeapi: unknown shutdown reason %q", reason)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultShutdownGrace)
	}
	s.shut.Store(true)
	s.mu.Lock()
	s.ext.closed = true
	if !s.ext.shutSent {
		s.ext.shutSent = true
		body, _ := json.Marshal(shutdownEvent{EventType: EventShutdown, ShutdownReason: reason, DeadlineMs: deadline.UnixMilli()})
		for _, e := range s.ext.list {
			if e.shutdown && !e.gone {
				queueLocked(e, body)
			}
		}
	}
	s.mu.Unlock()
	return s.waitExtensions(ctx, deadline, true)
}

// waitExtensions waits until every extension (only those subscribed to
// SHUTDOWN, with onlyShutdown) has finished the events sent to it so far:
// events sent later, by a concurrent Invoke, do not hold it up.
func (s *Server) waitExtensions(ctx context.Context, by time.Time, onlyShutdown bool) error {
	s.mu.Lock()
	targets := make([]uint64, len(s.ext.list)) // the list only grows
	for i, e := range s.ext.list {
		targets[i] = e.sent
	}
	s.mu.Unlock()
	var timeout <-chan time.Time
	if !by.IsZero() {
		t := time.NewTimer(time.Until(by))
		defer t.Stop()
		timeout = t.C
	}
	for {
		s.mu.Lock()
		busy := ""
		for i, target := range targets {
			e := s.ext.list[i]
			if !e.gone && e.finished < target && (!onlyShutdown || e.shutdown) {
				busy = e.Name
				break
			}
		}
		changed := s.ext.changed
		s.mu.Unlock()
		if busy == "" {
			return nil
		}
		select {
		case <-changed:
		case <-timeout:
			return fmt.Errorf("%w: extension %q did not finish by the deadline", ErrTimeout, busy)
		case <-ctx.Done():
			return ctxErr(ctx)
		case <-s.dead:
			return s.exitErr()
		case <-s.closed:
			return ErrClosed
		}
	}
}

func (s *Server) extChangedLocked() {
	close(s.ext.changed)
	s.ext.changed = make(chan struct{})
}

// maybeInitDoneLocked completes init once the runtime and every extension
// have asked for their first event, and closes registration.
func (s *Server) maybeInitDoneLocked() {
	if s.initDone || s.isFailed || !s.runtimeReady {
		return
	}
	for _, name := range s.ext.expected {
		if !slices.ContainsFunc(s.ext.list, func(e *extension) bool { return e.Name == name }) {
			return
		}
	}
	for _, e := range s.ext.list {
		if !e.started && !e.gone {
			return
		}
	}
	s.initDone = true
	s.ext.closed = true
	s.ext.active = len(s.ext.list) > 0
	close(s.ready)
}

// failInitLocked ends init with an error posted by an extension.
func (s *Server) failInitLocked(res Result) {
	s.isFailed = true
	s.initRes = res
	s.ext.closed = true
	close(s.initFailed)
}

// sendInvoke gives c's INVOKE event to every extension subscribed to it.
func (s *Server) sendInvoke(c *call) {
	// The deadline as the runtime got it (kept out of call, which stays
	// small for the plain path).
	deadlineMs, _ := strconv.ParseInt(c.headers[1][0], 10, 64)
	body, _ := json.Marshal(invokeEvent{
		EventType:          EventInvoke,
		DeadlineMs:         deadlineMs,
		RequestID:          c.inv.RequestID,
		InvokedFunctionArn: c.inv.FunctionARN,
		Tracing:            tracing{Type: "X-Amzn-Trace-Id", Value: c.inv.TraceID},
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ext.settleBy = c.inv.Deadline // full precision: the ms on the wire may round down
	if s.ext.settleBy.IsZero() {
		s.ext.settleBy = time.UnixMilli(deadlineMs)
	}
	for _, e := range s.ext.list {
		if e.invoke && !e.gone {
			queueLocked(e, body)
		}
	}
}

func queueLocked(e *extension, body []byte) {
	e.pending = append(e.pending, body)
	e.sent++
	if e.waiter != nil {
		close(e.waiter)
		e.waiter = nil
	}
}

func (s *Server) serveExtension(w http.ResponseWriter, r *http.Request, rest string) {
	switch rest {
	case "register":
		if method(w, r, http.MethodPost) {
			s.extRegister(w, r)
		}
	case "event/next":
		if method(w, r, http.MethodGet) {
			s.extNext(w, r)
		}
	case "init/error":
		if method(w, r, http.MethodPost) {
			s.extError(w, r, true)
		}
	case "exit/error":
		if method(w, r, http.MethodPost) {
			s.extError(w, r, false)
		}
	default:
		writeError(w, http.StatusNotFound, "NotFound", "Unknown path "+strconv.Quote(r.URL.Path))
	}
}

// extRegister is POST register.
func (s *Server) extRegister(w http.ResponseWriter, r *http.Request) {
	name := r.Header.Get(hdrExtName)
	if name == "" {
		writeError(w, http.StatusForbidden, errExtInvalidName, "Empty extension name")
		return
	}
	body, tooBig, err := readBody(r.Body, r.ContentLength, maxRegisterBytes)
	if err != nil || tooBig {
		writeError(w, http.StatusForbidden, errInvalidFormat, "Unreadable register request")
		return
	}
	var req struct {
		Events []string `json:"events"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusForbidden, errInvalidFormat, err.Error())
		return
	}
	e := &extension{Extension: Extension{Name: name, ID: newUUID()}}
	for _, ev := range req.Events {
		switch ev {
		case EventInvoke:
			e.invoke = true
		case EventShutdown:
			e.shutdown = true
		default:
			s.log.Debug("extension registered for an unknown event", "extension", name, "event", ev)
			writeError(w, http.StatusForbidden, errExtInvalidEvent, ev+": unknown event type")
			return
		}
	}
	if e.invoke {
		e.Events = append(e.Events, EventInvoke)
	}
	if e.shutdown {
		e.Events = append(e.Events, EventShutdown)
	}
	resp := s.ext.meta // immutable after New
	if wantsFeature(r.Header.Values(hdrExtAcceptFeature), featureAccountID) {
		resp.AccountID = s.ext.account
	}
	out, _ := json.Marshal(resp)

	s.mu.Lock()
	var typ, msg string
	switch {
	case s.ext.closed || s.initDone || s.isFailed:
		typ, msg = errExtRegClosed, "Extension registration closed already"
	case slices.ContainsFunc(s.ext.list, func(x *extension) bool { return x.Name == name }):
		typ, msg = errExtInvalidState, "Extension with this name already registered"
	case len(s.ext.list) >= MaxExtensions:
		typ, msg = errExtTooMany, "Extension limit ("+strconv.Itoa(MaxExtensions)+") reached"
	default:
		s.ext.list = append(s.ext.list, e)
	}
	s.mu.Unlock()
	if typ != "" {
		s.log.Debug("extension registration refused", "extension", name, "error_type", typ)
		writeError(w, http.StatusForbidden, typ, msg)
		return
	}
	h := w.Header()
	h[hdrExtID] = []string{e.ID}
	h[hdrContentType] = []string{contentTypeJSON}
	h["Content-Length"] = []string{strconv.Itoa(len(out))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func wantsFeature(values []string, feature string) bool {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(f) == feature {
				return true
			}
		}
	}
	return false
}

// lookupExtLocked finds the extension named by the request's identifier;
// when there is none it returns the error to answer with.
func (s *Server) lookupExtLocked(r *http.Request) (e *extension, typ, msg string) {
	id := r.Header.Get(hdrExtID)
	switch {
	case id == "":
		return nil, errExtMissingID, "Missing " + hdrExtID + " header"
	case !isUUID(id):
		return nil, errExtInvalidID, "Invalid " + hdrExtID
	}
	for _, x := range s.ext.list {
		if x.ID == id {
			if x.gone {
				return nil, errExtInvalidState, "Extension " + id + " has reported an error and may make no further calls"
			}
			return x, "", ""
		}
	}
	return nil, errExtUnknownID, "Unknown extension " + id
}

// extNext is GET event/next: it ends the extension's previous event (or
// its init) and parks until the next event for it.
func (s *Server) extNext(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	e, typ, msg := s.lookupExtLocked(r)
	if e == nil {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, typ, msg)
		return
	}
	if e.holding {
		e.holding = false
		e.finished++
		s.extChangedLocked()
	}
	if !e.started {
		e.started = true
		s.maybeInitDoneLocked()
	}
	e.nextGen++
	gen := e.nextGen
	for {
		if e.gone {
			s.mu.Unlock()
			writeError(w, http.StatusForbidden, errExtInvalidState, "Extension "+e.ID+" has reported an error and may make no further calls")
			return
		}
		if len(e.pending) > 0 {
			body := e.pending[0]
			e.pending = e.pending[:copy(e.pending, e.pending[1:])]
			e.holding = true
			s.mu.Unlock()
			h := w.Header()
			h[hdrExtEventID] = []string{newUUID()}
			h[hdrContentType] = []string{contentTypeJSON}
			h["Content-Length"] = []string{strconv.Itoa(len(body))}
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
			return
		}
		wake := make(chan struct{})
		if e.waiter != nil {
			close(e.waiter) // an older /event/next is superseded by this one
		}
		e.waiter = wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-r.Context().Done():
			s.mu.Lock()
			if e.waiter == wake {
				e.waiter = nil
			}
			s.mu.Unlock()
			// As for the runtime: an empty 200 would look like an event.
			panic(http.ErrAbortHandler)
		case <-s.closed:
			panic(http.ErrAbortHandler)
		}
		s.mu.Lock()
		if e.nextGen != gen {
			// Superseded. Answer rather than abort: an HTTP client may
			// replay an aborted GET, which would supersede the newer one.
			s.mu.Unlock()
			writeError(w, http.StatusForbidden, errExtInvalidState, "Superseded by a newer event/next from extension "+e.ID)
			return
		}
	}
}

// ExtensionExited tells the server that the process of the extension
// registered (or expected, see Options.Extensions) under name has ended.
// After SHUTDOWN that is how an extension says it is done, so Shutdown
// stops waiting for it. Otherwise it crashed: during init, init fails with
// ErrorTypeExtensionCrash; afterwards the crash is recorded as its
// ExitError and Settle no longer waits for it. Unknown names are ignored.
func (s *Server) ExtensionExited(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.ext.list, func(e *extension) bool { return e.Name == name })
	if i < 0 {
		if !s.initDone && !s.isFailed && slices.Contains(s.ext.expected, name) {
			s.log.Debug("extension exited before registering", "extension", name)
			s.failInitLocked(errorResult([]byte("Extension "+name+" exited before registering"), ErrorTypeExtensionCrash))
		}
		return
	}
	e := s.ext.list[i]
	if e.gone {
		return
	}
	if !s.ext.shutSent || !e.shutdown {
		e.ExitError = ErrorTypeExtensionCrash
		s.log.Debug("extension exited", "extension", name)
	}
	s.retireLocked(e, []byte("Extension "+name+" exited during init"), ErrorTypeExtensionCrash)
}

// retireLocked records that e makes no further calls: a parked
// /event/next is answered with 403, nothing waits for e any more, and
// during init, init fails with errType.
func (s *Server) retireLocked(e *extension, doc []byte, errType string) {
	e.gone = true
	e.pending = nil
	if e.waiter != nil {
		close(e.waiter)
		e.waiter = nil
	}
	if !s.initDone && !s.isFailed {
		s.failInitLocked(errorResult(doc, errType))
	}
	s.extChangedLocked()
}

// extError is POST init/error (init true) and exit/error: the extension
// failed and makes no further calls. During init either one fails init
// with the extension's error type.
func (s *Server) extError(w http.ResponseWriter, r *http.Request, init bool) {
	s.mu.Lock()
	e, typ, msg := s.lookupExtLocked(r)
	s.mu.Unlock()
	if e == nil {
		writeError(w, http.StatusForbidden, typ, msg)
		return
	}
	errType := r.Header.Get(hdrExtErrorType)
	if errType == "" {
		writeError(w, http.StatusForbidden, errExtMissingHeader, hdrExtErrorType+" not found")
		return
	}
	body, tooBig, err := readBody(r.Body, r.ContentLength, maxErrorBytes)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Reading the body failed")
		return
	}
	if tooBig || len(body) == 0 {
		body = []byte("Extension " + e.Name + " reported " + errType)
	}

	s.mu.Lock()
	if e.gone || (init && s.initDone) {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, errExtInvalidState, "Extension "+e.ID+" cannot report this error now")
		return
	}
	if init {
		e.InitError = errType
	} else {
		e.ExitError = errType
	}
	s.retireLocked(e, body, errType)
	s.mu.Unlock()
	s.log.Debug("extension reported an error", "extension", e.Name, "init", init, "error_type", errType)
	writeAccepted(w)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
