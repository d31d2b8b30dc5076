package runtimeapi

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors.
var (
	ErrInitFailed = errors.New("runtimeapi: init failed")                    // the runtime posted /init/error; see InitError
	ErrExited     = errors.New("runtimeapi: runtime exited")                 // Fail was called: the sandbox died
	ErrTimeout    = errors.New("runtimeapi: timed out")                      // the context's deadline passed first
	ErrBusy       = errors.New("runtimeapi: invocation already in progress") // Invoke is one at a time
	ErrClosed     = errors.New("runtimeapi: closed")
	ErrShutdown   = errors.New("runtimeapi: shut down") // Shutdown was called: no more invocations
)

// Error types this package gives to invocations the runtime did not finish
// properly (Result.ErrorType).
const (
	// ErrorTypeResponseTooLarge: the /response body exceeded MaxResponseBytes.
	ErrorTypeResponseTooLarge = "Function.ResponseSizeTooLarge"
	// ErrorTypeNoResponse: the runtime asked for the next event without
	// posting a response or an error for the current one.
	ErrorTypeNoResponse = "Runtime.NoResponse"
	// ErrorTypeUnhandled: an /error or /init/error named no type.
	ErrorTypeUnhandled = "Unhandled"
)

// DefaultMaxResponseBytes is Lambda's synchronous response limit (6 MB).
const DefaultMaxResponseBytes = 6 << 20

const (
	maxErrorBytes = 1 << 20 // /error and /init/error bodies
	// maxConns bounds connections from one sandbox (the runtime needs one
	// or two, each extension one more): with MaxHeaderBytes it bounds what
	// a sandbox can make the host buffer in headers.
	maxConns = 16
	// defaultDeadline is used when neither the Invocation nor the context
	// has a deadline: Lambda's maximum timeout.
	defaultDeadline = 15 * time.Minute
	// lambdaLimitText is the size Lambda's own error message names for its
	// 6 MB limit (it reports 100 bytes more than the limit it enforces).
	lambdaLimitText = DefaultMaxResponseBytes + 100
)

// Wire names.
const (
	pathPrefix          = "/2018-06-01/runtime/"
	hdrRequestID        = "Lambda-Runtime-Aws-Request-Id"
	hdrDeadline         = "Lambda-Runtime-Deadline-Ms"
	hdrFunctionARN      = "Lambda-Runtime-Invoked-Function-Arn"
	hdrTraceID          = "Lambda-Runtime-Trace-Id"
	hdrClientContext    = "Lambda-Runtime-Client-Context"
	hdrCognitoIdentity  = "Lambda-Runtime-Cognito-Identity"
	hdrErrorType        = "Lambda-Runtime-Function-Error-Type" // header on /error, trailer on /response
	hdrErrorBody        = "Lambda-Runtime-Function-Error-Body" // trailer on /response, base64
	hdrContentType      = "Content-Type"
	contentTypeJSON     = "application/json"
	errInvalidRequestID = "InvalidRequestID"
	errInvalidState     = "InvalidStateTransition"
	errTooLarge         = "RequestEntityTooLarge"
)

// Invocation is one event for the runtime.
type Invocation struct {
	RequestID       string
	Payload         []byte
	Deadline        time.Time // zero: the context's deadline, else 15 minutes from now
	FunctionARN     string    // Lambda-Runtime-Invoked-Function-Arn
	TraceID         string    // Lambda-Runtime-Trace-Id; generated when empty
	ClientContext   string    // JSON, sent as Lambda-Runtime-Client-Context when non-empty
	CognitoIdentity string    // JSON, sent as Lambda-Runtime-Cognito-Identity when non-empty
}

// Result is how the runtime finished an invocation (or its init).
type Result struct {
	// Payload is the response body, or the error document
	// ({errorMessage, errorType, stackTrace}) for a function error.
	Payload []byte
	// ErrorType is empty on success. For an error it is the
	// Lambda-Runtime-Function-Error-Type header, else the document's
	// errorType, else "Unhandled"; or one of the ErrorType constants.
	ErrorType string
}

// FunctionError reports whether the invocation ended in a function error.
func (r Result) FunctionError() bool { return r.ErrorType != "" }

// Options configure a Server.
type Options struct {
	// MaxResponseBytes caps a /response body; larger ones get 413 and end
	// the invocation with ErrorTypeResponseTooLarge. Default 6 MB.
	MaxResponseBytes int64
	// Logger receives debug records about runtime misbehaviour. Default: discard.
	Logger *slog.Logger

	// ExtensionsAPI serves the Extensions API (/2020-01-01/extension/...)
	// beside the Runtime API. Off (and Extensions empty), its paths are
	// unknown paths (404) and Invoke does no extension work.
	ExtensionsAPI bool
	// Extensions names the external extensions the sandbox starts (their
	// file names, which they register under); non-empty implies
	// ExtensionsAPI. Init is not complete until each of them has
	// registered and asked for its first event, so a runtime quicker than
	// an extension cannot close registration under it. One that never
	// registers holds WaitReady until its context ends.
	Extensions []string
	// FunctionName, FunctionVersion and Handler answer an extension's
	// register call; AccountID too when the extension asks for it
	// (Lambda-Extension-Accept-Feature: accountId).
	FunctionName, FunctionVersion, Handler, AccountID string
}

// Stats are counters since New.
type Stats struct {
	Invocations uint64 // events handed to the runtime
	Errors      uint64 // invocations that ended in a function error
}

// Server is the Runtime API of one sandbox. Its methods are safe for
// concurrent use.
type Server struct {
	maxResponse int64
	log         *slog.Logger
	http        *http.Server

	// handoff carries an invocation from Invoke to a parked /next. It is
	// unbuffered: an event is never queued where no runtime can see it.
	handoff chan *call
	busy    atomic.Bool

	ready      chan struct{} // closed when init completes (maybeInitDoneLocked)
	initFailed chan struct{} // closed by /init/error
	dead       chan struct{} // closed by Fail
	closed     chan struct{} // closed by Close
	failOnce   sync.Once
	closeOnce  sync.Once
	deadErr    error // set before dead is closed

	mu           sync.Mutex
	runtimeReady bool   // the runtime's first /next has arrived
	initDone     bool   // ready is closed
	initRes      Result // valid once initFailed is closed
	isFailed     bool
	cur          *call    // handed to the runtime and not yet superseded by a /next
	ext          extState // the Extensions API (extensions.go)
	shut         atomic.Bool

	initReading atomic.Bool // an /init/error body is being read

	invocations atomic.Uint64
	fnErrors    atomic.Uint64
}

// call is one invocation in flight.
type call struct {
	inv      Invocation
	headers  [6][]string // values for the /next headers, built once by Invoke
	done     chan Result // buffered: the runtime never waits for Invoke
	finished bool        // guarded by Server.mu
	// claim is held while a /response or /error for it is being read.
	// Only one body per invocation is read at a time, so a runtime cannot
	// make the host buffer many copies of a 6 MB body; a second result
	// waits its turn (unread, in the kernel's buffers) rather than being
	// refused, since the first may yet break off.
	claim chan struct{}
}

// New returns a Server; start it with Serve.
func New(opts Options) *Server {
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		maxResponse: opts.MaxResponseBytes,
		log:         opts.Logger,
		handoff:     make(chan *call),
		ready:       make(chan struct{}),
		initFailed:  make(chan struct{}),
		dead:        make(chan struct{}),
		closed:      make(chan struct{}),
	}
	s.ext = newExtState(opts)
	s.http = &http.Server{
		Handler: http.HandlerFunc(s.serveHTTP),
		// The runtime is tenant code: bound how slowly it may send headers.
		// No other timeouts: /next legitimately waits for as long as the
		// sandbox stays warm.
		ReadHeaderTimeout: 10 * time.Second,
		// aws-lambda-go sends an X-Ray cause header of up to 1 MB on /error.
		MaxHeaderBytes: 1<<20 + 64<<10,
		ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	return s
}

// Serve answers the runtime on l until Close (then it returns nil) or until
// l fails. It closes l.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(newLimitListener(l, maxConns))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server: a parked /next is cut off without an event and
// every waiter returns ErrClosed. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.http.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}

// Fail records that the sandbox died: WaitReady and Invoke return
// ErrExited, wrapping err when it is not nil.
func (s *Server) Fail(err error) {
	s.failOnce.Do(func() {
		s.deadErr = err
		close(s.dead)
	})
}

func (s *Server) exitErr() error {
	if s.deadErr != nil {
		return fmt.Errorf("%w: %w", ErrExited, s.deadErr)
	}
	return ErrExited
}

// WaitReady returns nil once init is complete: the runtime's first GET
// /next has arrived, and every registered extension (and every one named
// in Options.Extensions) has asked for its first event. An /init/error from
// the runtime or an extension makes it return ErrInitFailed.
func (s *Server) WaitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	default:
	}
	select {
	case <-s.ready:
		return nil
	case <-s.initFailed:
	case <-s.dead:
	case <-s.closed:
	case <-ctx.Done():
		return ctxErr(ctx)
	}
	return s.stopped()
}

func (s *Server) initErr() error {
	return fmt.Errorf("%w: %s", ErrInitFailed, s.initRes.ErrorType)
}

// InitError returns the error document the runtime (or an extension)
// posted to /init/error, and whether one was posted.
func (s *Server) InitError() (Result, bool) {
	select {
	case <-s.initFailed:
		return s.initRes, true
	default:
		return Result{}, false
	}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Invocations: s.invocations.Load(), Errors: s.fnErrors.Load()}
}

// Invoke hands inv to the runtime's pending (or next) GET /next and waits
// for its /response or /error. A function error is a Result with ErrorType
// set, not an error. When ctx's deadline passes first it returns ErrTimeout
// and the caller is expected to kill the sandbox: the runtime may still be
// running the event. Only one Invoke may run at a time (ErrBusy).
//
// Invoke waits for init to complete first. With extensions registered it
// also sends them the INVOKE event as the runtime gets it, and it returns
// as soon as the runtime has answered, while the extensions may still be
// working on the event: the next Invoke first waits for them (see Settle).
func (s *Server) Invoke(ctx context.Context, inv Invocation) (Result, error) {
	if inv.RequestID == "" {
		return Result{}, errors.New("runtimeapi: invocation has no request id")
	}
	if !s.busy.CompareAndSwap(false, true) {
		return Result{}, ErrBusy
	}
	defer s.busy.Store(false)
	if err := s.stopped(); err != nil {
		return Result{}, err
	}
	if s.shut.Load() {
		return Result{}, ErrShutdown
	}
	if err := s.WaitReady(ctx); err != nil {
		return Result{}, err
	}
	// ext.active is frozen once init is complete (WaitReady saw it).
	if s.ext.active {
		if err := s.Settle(ctx); err != nil {
			return Result{}, err
		}
	}

	c := newCall(ctx, inv)
	select {
	case s.handoff <- c:
	case <-ctx.Done():
		return Result{}, ctxErr(ctx)
	case <-s.initFailed:
		return Result{}, s.stopped()
	case <-s.dead:
		return Result{}, s.stopped()
	case <-s.closed:
		return Result{}, s.stopped()
	}
	if s.ext.active {
		s.sendInvoke(c)
	}

	var err error
	select {
	case r := <-c.done:
		return r, nil
	case <-ctx.Done():
		err = ctxErr(ctx)
	case <-s.dead:
		err = s.exitErr()
	case <-s.closed:
		err = ErrClosed
	}
	// A result that arrived together with the failure still counts.
	select {
	case r := <-c.done:
		return r, nil
	default:
		return Result{}, err
	}
}

// stopped returns why no invocation can start, if so. When several reasons
// hold, the most telling wins: a runtime that posted /init/error usually
// exits next, and the host closes the server after that.
func (s *Server) stopped() error {
	select {
	case <-s.initFailed:
		return s.initErr()
	default:
	}
	select {
	case <-s.dead:
		return s.exitErr()
	default:
	}
	select {
	case <-s.closed:
		return ErrClosed
	default:
		return nil
	}
}

func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

func newCall(ctx context.Context, inv Invocation) *call {
	deadline := inv.Deadline
	if deadline.IsZero() {
		var ok bool
		if deadline, ok = ctx.Deadline(); !ok {
			deadline = time.Now().Add(defaultDeadline)
		}
	}
	if inv.TraceID == "" {
		inv.TraceID = newTraceID(time.Now())
	}
	c := &call{inv: inv, done: make(chan Result, 1), claim: make(chan struct{}, 1)}
	c.headers[0] = []string{inv.RequestID}
	c.headers[1] = []string{strconv.FormatInt(deadline.UnixMilli(), 10)}
	c.headers[2] = []string{inv.FunctionARN}
	c.headers[3] = []string{inv.TraceID}
	if inv.ClientContext != "" {
		c.headers[4] = []string{inv.ClientContext}
	}
	if inv.CognitoIdentity != "" {
		c.headers[5] = []string{inv.CognitoIdentity}
	}
	return c
}

// newTraceID makes an X-Ray trace id: Root=1-<epoch seconds, 8 hex>-<96
// random bits, 24 hex>;Sampled=0.
func newTraceID(now time.Time) string {
	const head, tail = "Root=1-", ";Sampled=0"
	var raw [16]byte
	binary.BigEndian.PutUint32(raw[0:4], uint32(now.Unix()))
	binary.BigEndian.PutUint64(raw[4:12], rand.Uint64())
	binary.BigEndian.PutUint32(raw[12:16], rand.Uint32())
	var b [len(head) + 8 + 1 + 24 + len(tail)]byte
	n := copy(b[:], head)
	n += hex.Encode(b[n:], raw[0:4])
	b[n] = '-'
	n++
	n += hex.Encode(b[n:], raw[4:16])
	copy(b[n:], tail)
	return string(b[:])
}

// finish delivers the result of c once; it reports false if c already had one.
func (s *Server) finish(c *call, r Result) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finishLocked(c, r)
}

func (s *Server) finishLocked(c *call, r Result) bool {
	if c.finished {
		return false
	}
	c.finished = true
	if r.FunctionError() {
		s.fnErrors.Add(1)
	}
	c.done <- r
	return true
}

// lookup finds the in-flight invocation named by id and claims it for
// reading a result (release with unclaim), waiting while another result
// for it is being read; or it answers the runtime with 400 and returns nil.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, id string) *call {
	c, ok := s.current(w, id)
	if !ok {
		return nil
	}
	select {
	case c.claim <- struct{}{}:
	default:
		s.log.Debug("runtime sent a second result while the first is being read; it waits", "request_id", id)
		select {
		case c.claim <- struct{}{}:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		case <-s.closed:
			panic(http.ErrAbortHandler)
		}
	}
	if _, ok := s.current(w, id); !ok {
		<-c.claim
		return nil
	}
	return c
}

// current finds the unfinished in-flight invocation named by id, or
// answers the runtime with 400.
func (s *Server) current(w http.ResponseWriter, id string) (*call, bool) {
	s.mu.Lock()
	c := s.cur
	known := c != nil && c.inv.RequestID == id
	finished := known && c.finished
	s.mu.Unlock()
	switch {
	case !known:
		s.log.Debug("runtime named an unknown request id", "request_id", id)
		writeError(w, http.StatusBadRequest, errInvalidRequestID, "Invalid request ID: "+strconv.Quote(id))
		return nil, false
	case finished:
		s.log.Debug("runtime finished a request twice", "request_id", id)
		writeError(w, http.StatusBadRequest, errInvalidState, "Invocation "+strconv.Quote(id)+" already has a result")
		return nil, false
	}
	return c, true
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, pathPrefix)
	if !ok {
		if rest, ok := strings.CutPrefix(r.URL.Path, extPrefix); ok && s.ext.enabled {
			s.serveExtension(w, r, rest)
			return
		}
		writeError(w, http.StatusNotFound, "NotFound", "Unknown path "+strconv.Quote(r.URL.Path))
		return
	}
	switch {
	case rest == "invocation/next":
		if method(w, r, http.MethodGet) {
			s.next(w, r)
		}
	case rest == "init/error":
		if method(w, r, http.MethodPost) {
			s.initError(w, r)
		}
	default:
		id, action, _ := strings.Cut(strings.TrimPrefix(rest, "invocation/"), "/")
		switch {
		case !strings.HasPrefix(rest, "invocation/") || id == "":
		case action == "response":
			if method(w, r, http.MethodPost) {
				s.response(w, r, id)
			}
			return
		case action == "error":
			if method(w, r, http.MethodPost) {
				s.invocationError(w, r, id)
			}
			return
		}
		writeError(w, http.StatusNotFound, "NotFound", "Unknown path "+strconv.Quote(r.URL.Path))
	}
}

func method(w http.ResponseWriter, r *http.Request, want string) bool {
	if r.Method == want {
		return true
	}
	w.Header().Set("Allow", want)
	writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "Use "+want)
	return false
}

// next is GET invocation/next: it ends the runtime's init (the first time),
// completes the previous invocation and parks until Invoke hands over an
// event.
func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.isFailed {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, errInvalidState, "Init failed")
		return
	}
	if !s.runtimeReady {
		s.runtimeReady = true
		s.maybeInitDoneLocked()
	}
	if c := s.cur; c != nil {
		if !c.finished {
			s.log.Debug("runtime asked for the next event without finishing the current one", "request_id", c.inv.RequestID)
			s.finishLocked(c, errorResult(
				[]byte("Runtime asked for the next event without posting a response for "+c.inv.RequestID),
				ErrorTypeNoResponse))
		}
		s.cur = nil
	}
	s.mu.Unlock()

	var c *call
	select {
	case c = <-s.handoff:
	case <-r.Context().Done():
		// The runtime went away. Abort rather than return: returning would
		// make net/http answer an empty 200, which looks like an event.
		panic(http.ErrAbortHandler)
	case <-s.closed:
		panic(http.ErrAbortHandler)
	}
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	s.invocations.Add(1)

	h := w.Header()
	h[hdrRequestID] = c.headers[0]
	h[hdrDeadline] = c.headers[1]
	h[hdrFunctionARN] = c.headers[2]
	h[hdrTraceID] = c.headers[3]
	if c.headers[4] != nil {
		h[hdrClientContext] = c.headers[4]
	}
	if c.headers[5] != nil {
		h[hdrCognitoIdentity] = c.headers[5]
	}
	h[hdrContentType] = []string{contentTypeJSON}
	h["Content-Length"] = []string{strconv.Itoa(len(c.inv.Payload))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(c.inv.Payload) // a runtime that went away is noticed through Fail or the deadline
}

// unclaim ends lookup's claim, so a retry of a broken-off result can be read.
func (s *Server) unclaim(c *call) { <-c.claim }

// response is POST invocation/{id}/response, buffered or streamed.
func (s *Server) response(w http.ResponseWriter, r *http.Request, id string) {
	c := s.lookup(w, r, id)
	if c == nil {
		return
	}
	defer s.unclaim(c)
	body, tooBig, err := readBody(r.Body, r.ContentLength, s.maxResponse)
	if err != nil {
		// The runtime broke off the request; it will not see an answer
		// either. The invocation stays open for a retry, Fail or the deadline.
		s.log.Debug("reading a response failed", "request_id", id, "err", err)
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Reading the body failed")
		return
	}
	if tooBig {
		s.log.Debug("response too large", "request_id", id, "limit", s.maxResponse)
		s.finish(c, tooLargeResult(s.maxResponse))
		writeError(w, http.StatusRequestEntityTooLarge, errTooLarge,
			"Exceeded maximum allowed payload size ("+strconv.FormatInt(s.maxResponse, 10)+" bytes).")
		return
	}
	res := Result{Payload: body}
	// Trailers are complete now that the body has been read to its end.
	if typ := r.Trailer.Get(hdrErrorType); typ != "" {
		doc := []byte(r.Trailer.Get(hdrErrorBody))
		if dec, err := base64.StdEncoding.AppendDecode(nil, doc); err == nil {
			doc = dec
		}
		res = errorResult(doc, typ)
	}
	if !s.finish(c, res) {
		writeError(w, http.StatusBadRequest, errInvalidState, "Invocation "+strconv.Quote(id)+" already has a result")
		return
	}
	writeAccepted(w)
}

// invocationError is POST invocation/{id}/error.
func (s *Server) invocationError(w http.ResponseWriter, r *http.Request, id string) {
	c := s.lookup(w, r, id)
	if c == nil {
		return
	}
	defer s.unclaim(c)
	typ := r.Header.Get(hdrErrorType)
	body, tooBig, err := readBody(r.Body, r.ContentLength, maxErrorBytes)
	if err != nil {
		s.log.Debug("reading an error failed", "request_id", id, "err", err)
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Reading the body failed")
		return
	}
	if tooBig {
		s.finish(c, errorResult([]byte("The function's error document exceeded "+strconv.Itoa(maxErrorBytes)+" bytes"), typ))
		writeError(w, http.StatusRequestEntityTooLarge, errTooLarge,
			"Exceeded maximum allowed payload size ("+strconv.Itoa(maxErrorBytes)+" bytes).")
		return
	}
	if !s.finish(c, errorResult(body, typ)) {
		writeError(w, http.StatusBadRequest, errInvalidState, "Invocation "+strconv.Quote(id)+" already has a result")
		return
	}
	writeAccepted(w)
}

// initError is POST init/error: init has failed and the runtime will exit.
func (s *Server) initError(w http.ResponseWriter, r *http.Request) {
	if !s.initReading.CompareAndSwap(false, true) {
		writeError(w, http.StatusBadRequest, errInvalidState, "An init error is already being received")
		return
	}
	defer s.initReading.Store(false)
	typ := r.Header.Get(hdrErrorType)
	body, tooBig, err := readBody(r.Body, r.ContentLength, maxErrorBytes)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "Reading the body failed")
		return
	}
	if tooBig {
		body = []byte("The runtime's init error document exceeded " + strconv.Itoa(maxErrorBytes) + " bytes")
	}
	res := errorResult(body, typ)
	s.mu.Lock()
	if s.runtimeReady || s.isFailed {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, errInvalidState, "Init has already ended")
		return
	}
	s.isFailed = true
	s.initRes = res
	close(s.initFailed)
	s.mu.Unlock()
	s.log.Debug("runtime init failed", "error_type", res.ErrorType)
	if tooBig {
		writeError(w, http.StatusRequestEntityTooLarge, errTooLarge,
			"Exceeded maximum allowed payload size ("+strconv.Itoa(maxErrorBytes)+" bytes).")
		return
	}
	writeAccepted(w)
}

// errorDoc is Lambda's function error document.
type errorDoc struct {
	ErrorMessage string   `json:"errorMessage"`
	ErrorType    string   `json:"errorType"`
	StackTrace   []string `json:"stackTrace,omitempty"`
}

// errorResult makes the Result for an error body posted by the runtime. A
// JSON object is kept as it is; anything else becomes the errorMessage of
// a document. The type is typ, else the document's errorType, else
// "Unhandled".
func errorResult(body []byte, typ string) Result {
	if isObject(body) {
		var doc struct {
			ErrorType string `json:"errorType"`
		}
		if json.Unmarshal(body, &doc) == nil {
			if typ == "" {
				typ = doc.ErrorType
			}
			if typ == "" {
				typ = ErrorTypeUnhandled
			}
			return Result{Payload: body, ErrorType: typ}
		}
	}
	if typ == "" {
		typ = ErrorTypeUnhandled
	}
	doc, _ := json.Marshal(errorDoc{ErrorMessage: string(body), ErrorType: typ})
	return Result{Payload: doc, ErrorType: typ}
}

func isObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

func tooLargeResult(limit int64) Result {
	n := limit
	if n == DefaultMaxResponseBytes {
		n = lambdaLimitText
	}
	doc, _ := json.Marshal(errorDoc{
		ErrorMessage: "Response payload size exceeded maximum allowed payload size (" + strconv.FormatInt(n, 10) + " bytes).",
		ErrorType:    ErrorTypeResponseTooLarge,
	})
	return Result{Payload: doc, ErrorType: ErrorTypeResponseTooLarge}
}

// readBody reads r to its end if it holds at most limit bytes; tooBig
// reports that it holds more (at most limit+1 bytes are read to find out).
// contentLength (-1 when unknown) sizes the buffer.
func readBody(r io.Reader, contentLength, limit int64) (body []byte, tooBig bool, err error) {
	if contentLength > limit {
		return nil, true, nil
	}
	// Room to see EOF without growing, but never more than a small
	// buffer up front: a declared length is a claim, not bytes received.
	size := int64(512)
	if contentLength >= 0 {
		size = min(contentLength+1, 64<<10)
	}
	buf := make([]byte, 0, size)
	lr := io.LimitedReader{R: r, N: limit + 1}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, err
		}
	}
	if int64(len(buf)) > limit {
		return nil, true, nil
	}
	return buf, false, nil
}

const acceptedBody = `{"status":"OK"}`

func writeAccepted(w http.ResponseWriter) {
	h := w.Header()
	h[hdrContentType] = []string{contentTypeJSON}
	h["Content-Length"] = []string{strconv.Itoa(len(acceptedBody))}
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, acceptedBody)
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(errorDoc{ErrorMessage: msg, ErrorType: typ})
	h := w.Header()
	h[hdrContentType] = []string{contentTypeJSON}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
