// Package async is ember's durable queue for asynchronous invocations
// (InvocationType Event). An accepted event is stored in a JetStream
// work-queue stream before the caller gets its 202, so a crash or restart
// loses none; workers pull events and run them through the ordinary
// invocation pipeline. A function error is retried (twice by default, about
// one then two minutes apart, as Lambda does); a throttle or system error is
// retried with backoff until the event is too old. Delivery is at least
// once: an event whose worker died mid-run is delivered again, and every
// attempt is counted.
package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-run/ember/internal/arn"
	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/invoke"
	"github.com/ember-run/ember/internal/policy"
	"github.com/ember-run/ember/internal/store"
)

// Stream and consumer names.
const (
	Stream   = "EMBER_EVENTS"
	consumer = "ember-workers"
)

// MaxEventSize is Lambda's asynchronous payload limit.
const MaxEventSize = 256 * 1024

// Invoker runs one invocation synchronously (invoke.Service).
type Invoker interface {
	Invoke(ctx context.Context, req invoke.Request) (invoke.Response, error)
}

// Functions reads function records: their event invoke configuration,
// destinations and dead-letter target (catalog.Catalog).
type Functions interface {
	Get(ctx context.Context, account, name string) (*catalog.Function, error)
	Resolve(ctx context.Context, f *catalog.Function, qualifier string) (catalog.Config, error)
	ARN(account, name, qualifier string) string
}

// Options configure the queue.
type Options struct {
	Invoker Invoker
	// Functions, when set, supplies per-function retry and age limits,
	// destinations and dead-letter targets.
	Functions Functions
	// Workers is how many events run at once on this node.
	Workers int
	// RetryDelays are the waits before each retry of a function error; its
	// length is the number of retries (Lambda: 2, about 1 and 2 minutes).
	RetryDelays []time.Duration
	// MaxEventAge drops events that could not run for this long.
	MaxEventAge time.Duration
	// AckWait is how long a delivered event may run before it is delivered
	// again; it must exceed the longest function timeout.
	AckWait time.Duration
	Logger  *slog.Logger
}

func (o *Options) defaults() {
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.RetryDelays == nil {
		o.RetryDelays = []time.Duration{time.Minute, 2 * time.Minute}
	}
	if o.MaxEventAge == 0 {
		o.MaxEventAge = 6 * time.Hour
	}
	if o.AckWait == 0 {
		o.AckWait = 16 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Event is what the stream stores.
type Event struct {
	RequestID     string `json:"requestId"`
	Account       string `json:"account"`
	Function      string `json:"function"`
	Qualifier     string `json:"qualifier,omitempty"`
	Payload       []byte `json:"payload"`
	InvokedARN    string `json:"invokedArn,omitempty"`
	ClientContext string `json:"clientContext,omitempty"`
	// Policy is the request's X-Ember-Policy fragment, applied to every
	// attempt.
	Policy   *policy.Policy `json:"policy,omitempty"`
	Accepted time.Time      `json:"accepted"`
}

// Stats counts what the workers did.
type Stats struct {
	Succeeded, FunctionErrors, Retried, Dropped, Redelivered uint64
}

// Queue accepts and runs events.
type Queue struct {
	opts Options
	js   jetstream.JetStream
	cons jetstream.Consumer

	succeeded, fnErrors, retried, dropped, redelivered atomic.Uint64

	// failures counts function errors per event, so throttles and
	// redeliveries do not use up its retries. It lives in memory: after a
	// restart an event may get its retries afresh (at least once, never
	// fewer).
	mu       sync.Mutex
	failures map[string]int

	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// Open creates the stream and consumer and starts the workers.
func Open(ctx context.Context, st *store.Store, opts Options) (*Queue, error) {
	opts.defaults()
	js := st.JetStream()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       Stream,
		Subjects:   []string{"events.>"},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.WorkQueuePolicy,
		MaxAge:     opts.MaxEventAge + time.Hour,
		MaxMsgSize: 2 * MaxEventSize,
	}); err != nil {
		return nil, fmt.Errorf("async: stream: %w", err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, Stream, jetstream.ConsumerConfig{
		Durable:       consumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 10_000,
	})
	if err != nil {
		return nil, fmt.Errorf("async: consumer: %w", err)
	}
	q := &Queue{opts: opts, js: js, cons: cons, failures: map[string]int{}}
	wctx, cancel := context.WithCancel(context.Background())
	q.stop = cancel
	if opts.Invoker != nil {
		for range opts.Workers {
			q.wg.Add(1)
			go q.work(wctx)
		}
	}
	return q, nil
}

// Close stops taking events and waits for running ones to finish; events
// not acknowledged are delivered again later (here or on another node).
func (q *Queue) Close() error {
	q.closed.Do(func() {
		q.stop()
		q.wg.Wait()
	})
	return nil
}

// Stats reports the workers' counters.
func (q *Queue) Stats() Stats {
	return Stats{Succeeded: q.succeeded.Load(), FunctionErrors: q.fnErrors.Load(), Retried: q.retried.Load(),
		Dropped: q.dropped.Load(), Redelivered: q.redelivered.Load()}
}

// Enqueue stores an event durably; it returns once JetStream has it.
func (q *Queue) Enqueue(ctx context.Context, ev Event) error {
	if len(ev.Payload) > MaxEventSize {
		return fmt.Errorf("%w: Request must be smaller than %d bytes for the InvokeFunction operation", invoke.ErrTooLarge, MaxEventSize)
	}
	if ev.Accepted.IsZero() {
		ev.Accepted = time.Now().UTC()
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if _, err := q.js.Publish(ctx, "events."+ev.Account+"."+ev.Function, data, jetstream.WithMsgID(ev.RequestID)); err != nil {
		return fmt.Errorf("async: enqueue: %w", err)
	}
	return nil
}

func (q *Queue) work(ctx context.Context) {
	defer q.wg.Done()
	for ctx.Err() == nil {
		batch, err := q.cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoMessages) {
				q.opts.Logger.Warn("async: fetch", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for msg := range batch.Messages() {
			q.handle(ctx, msg)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// backoff for throttles and system errors: 1 s doubling to 5 min.
func backoff(attempt uint64) time.Duration {
	d := time.Second << min(attempt, 9)
	return min(d, 5*time.Minute)
}

func (q *Queue) handle(ctx context.Context, msg jetstream.Msg) {
	var ev Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		q.opts.Logger.Error("async: dropping an unreadable event", "err", err)
		msg.Term()
		q.dropped.Add(1)
		return
	}
	meta, _ := msg.Metadata()
	attempt := uint64(1)
	if meta != nil {
		attempt = meta.NumDelivered
	}
	if attempt > 1 {
		// A retry, or a redelivery after a worker died (or the server
		// stopped) mid-run: a possible duplicate either way, counted.
		q.redelivered.Add(1)
	}
	log := q.opts.Logger.With("request_id", ev.RequestID, "function", ev.Function, "attempt", attempt)
	pol := q.policy(ctx, ev)
	if age := time.Since(ev.Accepted); age > pol.maxAge {
		log.Warn("async: dropping an event past its maximum age", "age", age)
		msg.Term()
		q.dropped.Add(1)
		q.forget(ev.RequestID)
		q.failed(ctx, ev, pol, "EventAgeExceeded", int(attempt), invoke.Response{})
		return
	}
	resp, err := q.opts.Invoker.Invoke(ctx, invoke.Request{
		Account: ev.Account, Function: ev.Function, Qualifier: ev.Qualifier, Payload: ev.Payload,
		InvokedARN: ev.InvokedARN, ClientContext: ev.ClientContext, Policy: ev.Policy,
	})
	switch {
	case ctx.Err() != nil:
		// Shutting down: leave it for redelivery.
		msg.Nak()
	case err != nil && (errors.Is(err, invoke.ErrThrottled) || errors.Is(err, invoke.ErrUnavailable) || errors.Is(err, invoke.ErrClosed)):
		log.Info("async: throttled or unavailable; retrying later", "err", err)
		q.retried.Add(1)
		msg.NakWithDelay(backoff(attempt))
	case err != nil:
		// The function or qualifier no longer exists, or the event is bad:
		// retrying cannot help.
		log.Warn("async: dropping an event that cannot run", "err", err)
		msg.Term()
		q.dropped.Add(1)
		q.forget(ev.RequestID)
	case resp.FunctionError != "":
		q.fnErrors.Add(1)
		// The event stays in the stream, unacknowledged, until its retry:
		// a restart in between loses nothing.
		q.mu.Lock()
		q.failures[ev.RequestID]++
		retry := q.failures[ev.RequestID]
		if retry > pol.retries {
			delete(q.failures, ev.RequestID)
		}
		q.mu.Unlock()
		if retry <= pol.retries {
			delay := q.opts.RetryDelays[min(retry, len(q.opts.RetryDelays))-1]
			log.Info("async: function error; retrying", "retry", retry, "in", delay)
			q.retried.Add(1)
			msg.NakWithDelay(delay)
			return
		}
		log.Warn("async: function error after all retries", "payload_bytes", len(ev.Payload))
		msg.Term()
		q.dropped.Add(1)
		q.failed(ctx, ev, pol, "RetriesExhausted", int(attempt), resp)
	default:
		msg.Ack()
		q.succeeded.Add(1)
		q.forget(ev.RequestID)
		if pol.onSuccess != "" {
			q.deliver(ctx, ev, pol.onSuccess, record(ev, "Success", int(attempt), resp, q.sourceARN(ev)))
		}
	}
}

func (q *Queue) forget(id string) {
	q.mu.Lock()
	delete(q.failures, id)
	q.mu.Unlock()
}

// delivery is what applies to one event: the function's event invoke
// configuration over the queue's defaults.
type delivery struct {
	retries              int
	maxAge               time.Duration
	onSuccess, onFailure string
	deadLetter           string
}

func (q *Queue) policy(ctx context.Context, ev Event) delivery {
	p := delivery{retries: len(q.opts.RetryDelays), maxAge: q.opts.MaxEventAge}
	if q.opts.Functions == nil {
		return p
	}
	f, err := q.opts.Functions.Get(ctx, ev.Account, ev.Function)
	if err != nil {
		return p
	}
	if ec, ok := f.EventConfigFor(ev.Qualifier); ok {
		if ec.MaximumRetryAttempts != nil {
			p.retries = min(*ec.MaximumRetryAttempts, len(q.opts.RetryDelays))
		}
		if ec.MaximumEventAgeInSeconds != nil {
			p.maxAge = time.Duration(*ec.MaximumEventAgeInSeconds) * time.Second
		}
		p.onSuccess, p.onFailure = ec.OnSuccess, ec.OnFailure
	}
	if cfg, err := q.opts.Functions.Resolve(ctx, f, ev.Qualifier); err == nil {
		p.deadLetter = cfg.DeadLetterTarget
	}
	return p
}

func (q *Queue) sourceARN(ev Event) string {
	qual := ev.Qualifier
	if qual == "" {
		qual = catalog.Latest
	}
	if q.opts.Functions == nil {
		return ""
	}
	return q.opts.Functions.ARN(ev.Account, ev.Function, qual)
}

// failed sends a failed event to its on-failure destination (a record of
// what happened) or, failing that, its dead-letter function (the original
// event).
func (q *Queue) failed(ctx context.Context, ev Event, p delivery, condition string, attempts int, resp invoke.Response) {
	switch {
	case p.onFailure != "":
		q.deliver(ctx, ev, p.onFailure, record(ev, condition, attempts, resp, q.sourceARN(ev)))
	case p.deadLetter != "":
		q.deliver(ctx, ev, p.deadLetter, ev.Payload)
	}
}

// deliver enqueues payload for a destination function (same account).
func (q *Queue) deliver(ctx context.Context, ev Event, target string, payload []byte) {
	ref, err := arn.ParseFunctionName(target)
	if err != nil || (ref.Account != "" && ref.Account != ev.Account) {
		q.opts.Logger.Warn("async: skipping an unusable destination", "destination", target)
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = q.Enqueue(dctx, Event{
		RequestID: ev.RequestID + "/" + ref.Name, Account: ev.Account, Function: ref.Name,
		Qualifier: ref.Qualifier, Payload: payload, InvokedARN: target,
	})
	if err != nil {
		q.opts.Logger.Warn("async: destination delivery failed", "destination", target, "err", err)
	}
}

// record is Lambda's destination document for an asynchronous invocation.
func record(ev Event, condition string, attempts int, resp invoke.Response, source string) []byte {
	rc := map[string]any{"statusCode": 200, "executedVersion": resp.ExecutedVersion}
	if resp.FunctionError != "" {
		rc["functionError"] = resp.FunctionError
	}
	doc := map[string]any{
		"version":   "1.0",
		"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"requestContext": map[string]any{
			"requestId": ev.RequestID, "functionArn": source, "condition": condition, "approximateInvokeCount": attempts,
		},
		"requestPayload":  rawOrString(ev.Payload),
		"responseContext": rc,
	}
	if resp.Payload != nil {
		doc["responsePayload"] = rawOrString(resp.Payload)
	}
	b, _ := json.Marshal(doc)
	return b
}

func rawOrString(b []byte) any {
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	return string(b)
}

// WriteMetrics writes the queue's counters in Prometheus' text format.
func (q *Queue) WriteMetrics(w io.Writer) {
	st := q.Stats()
	fmt.Fprintf(w, "# HELP ember_events_total Asynchronous events by outcome.\n# TYPE ember_events_total counter\n")
	fmt.Fprintf(w, "ember_events_total{outcome=\"succeeded\"} %d\n", st.Succeeded)
	fmt.Fprintf(w, "ember_events_total{outcome=\"function_error\"} %d\n", st.FunctionErrors)
	fmt.Fprintf(w, "ember_events_total{outcome=\"retried\"} %d\n", st.Retried)
	fmt.Fprintf(w, "ember_events_total{outcome=\"dropped\"} %d\n", st.Dropped)
	fmt.Fprintf(w, "ember_events_total{outcome=\"redelivered\"} %d\n", st.Redelivered)
}
