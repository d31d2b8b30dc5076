package metering

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-run/ember/internal/store"
	"github.com/ember-run/ember/internal/uuid"
)

// Stream is the JetStream stream holding usage records.
const Stream = "EMBER_USAGE"

// Sentinel errors; callers test with errors.Is.
var (
	ErrInvalid  = errors.New("metering: invalid query")
	ErrNotSaved = errors.New("metering: records not stored")
)

// Outcomes of an execution.
const (
	Success       = "success"
	FunctionError = "function_error"
	Timeout       = "timeout"
	Throttled     = "throttled" // refused, not executed: counted apart from invocations
	Failed        = "error"     // the platform failed the invocation
)

// Record is one execution (or one throttled attempt, Outcome Throttled).
type Record struct {
	Time      time.Time // when the invocation started; now when zero
	RequestID string
	Payer     string // the invoking, billed account; differs from Owner for cross-account aliases and published APIs
	Owner     string // the account owning the function's code
	Function  string // the owner's function name
	Version   string
	Alias     string // the payer's alias name when invoked through a (possibly cross-account) alias
	API       string // published API id and route key, e.g. "a1b2c3/GET /users/{id}"
	Duration  time.Duration
	BilledMs  int64   // derived from Duration when zero (Billed)
	MemoryMB  int     // configured memory size
	GBSeconds float64 // ignored on Record: always derived from MemoryMB and BilledMs
	Cold      bool
	Outcome   string // Success, FunctionError, Timeout, Throttled or Failed; Success when empty
}

// Billed is the billed duration of an execution: d rounded up to the
// millisecond, as Lambda bills.
func Billed(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// GBSeconds is memoryMB/1024 × billedMs/1000.
func GBSeconds(memoryMB int, billedMs int64) float64 {
	return float64(int64(memoryMB)*billedMs) / (1024 * 1000)
}

// Options configure the stream and the buffer.
type Options struct {
	MaxAge        time.Duration // records kept this long; default 90 days
	MaxBytes      int64         // stream size cap, new records refused beyond it; default unlimited
	Replicas      int           // stream replicas on an external cluster; default 1
	MaxPending    int           // records buffered before Record drops; default 16384
	FlushInterval time.Duration // how often buffered records are published; default 1s
	Logger        *slog.Logger
}

// Validate reports options that cannot work (zero values take defaults).
func (o Options) Validate() error {
	switch {
	case o.MaxAge < 0:
		return fmt.Errorf("metering: MaxAge must not be negative, got %v", o.MaxAge)
	case o.MaxBytes < -1:
		return fmt.Errorf("metering: MaxBytes must be -1 (unlimited) or positive, got %d", o.MaxBytes)
	case o.Replicas < 0 || o.Replicas > 5:
		return fmt.Errorf("metering: Replicas must be 1..5, got %d", o.Replicas)
	case o.MaxPending < 0:
		return fmt.Errorf("metering: MaxPending must not be negative, got %d", o.MaxPending)
	case o.FlushInterval < 0:
		return fmt.Errorf("metering: FlushInterval must not be negative, got %v", o.FlushInterval)
	}
	return nil
}

func (o *Options) defaults() {
	if o.MaxAge == 0 {
		o.MaxAge = 90 * 24 * time.Hour
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = -1
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.MaxPending == 0 {
		o.MaxPending = 1 << 14
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

const (
	maxMessage = 512 << 10       // bytes of JSON per message (NATS payloads are ≤ 1 MB)
	maxKick    = 2048            // records that wake the flusher before its interval
	ackWait    = 5 * time.Second // for one batch's publish acknowledgement
	dupWindow  = 10 * time.Minute
)

// Stats count what happened to records.
type Stats struct {
	Recorded uint64 // accepted into the buffer
	Dropped  uint64 // refused: buffer full, closed, or payer/owner not a valid subject token
	Lost     uint64 // accepted but never stored (JetStream refused them until the retry buffer or Close gave up)
}

// Meter records usage and answers usage queries.
type Meter struct {
	js   jetstream.JetStream
	log  *slog.Logger
	opts Options

	mu     sync.Mutex
	buf    []Record
	kickAt int
	closed bool

	recorded, dropped, lost atomic.Uint64

	// owned by the flusher goroutine
	spare     []Record
	retry     []batch
	retryRecs int
	idPrefix  string
	seq       uint64
	warned    uint64 // drops already logged

	kick     chan struct{}
	flushReq chan chan error
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
	closeErr error
}

// batch is one message: records of one (payer, owner) pair.
type batch struct {
	subject string
	id      string // Nats-Msg-Id, kept across retries so a batch whose ack was lost is stored once
	data    []byte
	n       int
}

// New creates or updates the stream and starts the flusher. Close the Meter
// before the store.
func New(ctx context.Context, st *store.Store, opts Options) (*Meter, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.defaults()
	js := st.JetStream()
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     Stream,
		Subjects: []string{"usage.>"},
		Storage:  jetstream.FileStorage,
		Replicas: opts.Replicas,
		MaxAge:   opts.MaxAge,
		MaxBytes: opts.MaxBytes,
		// Usage is billing data: when a size cap is reached, refuse new
		// records (they are retried, then counted as lost, loudly) rather
		// than silently discarding old ones.
		Discard:    jetstream.DiscardNew,
		Retention:  jetstream.LimitsPolicy,
		Duplicates: dupWindow,
	})
	if err != nil {
		return nil, fmt.Errorf("metering: stream: %w", err)
	}
	m := &Meter{
		js: js, log: opts.Logger, opts: opts,
		kickAt:   max(1, min(maxKick, opts.MaxPending/2)),
		idPrefix: uuid.New() + "-",
		kick:     make(chan struct{}, 1),
		flushReq: make(chan chan error),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go m.flusher()
	return m, nil
}

// Record queues one record. It never blocks on I/O: when the buffer is full
// (JetStream slow or down) the record is dropped and counted.
func (m *Meter) Record(r Record) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	m.mu.Lock()
	if m.closed || len(m.buf) >= m.opts.MaxPending {
		m.mu.Unlock()
		m.dropped.Add(1)
		return
	}
	m.buf = append(m.buf, r)
	kick := len(m.buf) == m.kickAt
	m.mu.Unlock()
	m.recorded.Add(1)
	if kick {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
}

// Stats reports the counters since New.
func (m *Meter) Stats() Stats {
	return Stats{Recorded: m.recorded.Load(), Dropped: m.dropped.Load(), Lost: m.lost.Load()}
}

// Flush stores every record queued before the call. It returns an error
// wrapping ErrNotSaved when some could not be stored yet (they stay queued
// for retry), or ctx's error.
func (m *Meter) Flush(ctx context.Context) error {
	ack := make(chan error, 1)
	select {
	case m.flushReq <- ack:
	case <-m.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting records, stores what is queued and stops the
// flusher. It reports records that could not be stored. Idempotent.
func (m *Meter) Close() error {
	m.once.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		close(m.stop)
		<-m.done
	})
	return m.closeErr
}

func (m *Meter) flusher() {
	defer close(m.done)
	t := time.NewTicker(m.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			if err := m.cycle(); err != nil {
				n := m.retryRecs
				m.lost.Add(uint64(n))
				m.retry, m.retryRecs = nil, 0
				m.closeErr = fmt.Errorf("metering: close: %w", err)
				m.log.Error("metering: usage records lost at close", "records", n, "err", err)
			}
			return
		case <-t.C:
			m.cycle()
		case <-m.kick:
			m.cycle()
		case ack := <-m.flushReq:
			ack <- m.cycle()
		}
	}
}

// cycle publishes the buffered records and the batches awaiting retry, and
// waits for their acknowledgements. Failed batches are kept for the next
// cycle while the retry buffer has room.
func (m *Meter) cycle() error {
	m.mu.Lock()
	recs := m.buf
	m.buf = m.spare[:0]
	m.mu.Unlock()
	batches := append(m.retry, m.encode(recs)...)
	clear(recs) // let the strings go
	m.spare = recs[:0]
	m.retry, m.retryRecs = nil, 0
	if d := m.dropped.Load(); d > m.warned {
		m.log.Warn("metering: usage records dropped", "dropped", d-m.warned, "total", d)
		m.warned = d
	}
	if len(batches) == 0 {
		return nil
	}

	futures := make([]jetstream.PubAckFuture, len(batches))
	errs := make([]error, len(batches))
	for i, b := range batches {
		futures[i], errs[i] = m.js.PublishAsync(b.subject, b.data, jetstream.WithMsgID(b.id))
	}
	wait, cancel := context.WithTimeout(context.Background(), ackWait)
	defer cancel()
	var first error
	failed := 0
	for i, f := range futures {
		if errs[i] == nil {
			select {
			case <-f.Ok():
			case errs[i] = <-f.Err():
			case <-wait.Done():
				errs[i] = jetstream.ErrAsyncPublishTimeout
			}
		}
		if errs[i] == nil {
			continue
		}
		if first == nil {
			first = errs[i]
		}
		b := batches[i]
		failed += b.n
		if m.retryRecs+b.n > m.opts.MaxPending {
			m.lost.Add(uint64(b.n))
			m.log.Error("metering: usage records lost, retry buffer full", "subject", b.subject, "records", b.n, "err", errs[i])
			continue
		}
		m.retry = append(m.retry, b)
		m.retryRecs += b.n
	}
	if first != nil {
		m.log.Warn("metering: publishing usage failed, will retry", "records", failed, "err", first)
		return fmt.Errorf("%w: %d records: %w", ErrNotSaved, failed, first)
	}
	return nil
}

// wire is a record as stored; payer and owner are the subject's tokens.
type wire struct {
	Time      int64  `json:"t"` // Unix nanoseconds
	RequestID string `json:"r,omitempty"`
	Function  string `json:"f"`
	Version   string `json:"v,omitempty"`
	Alias     string `json:"a,omitempty"`
	API       string `json:"p,omitempty"`
	Duration  int64  `json:"d"` // nanoseconds
	BilledMs  int64  `json:"b"`
	MemoryMB  int    `json:"m"`
	Cold      bool   `json:"c,omitempty"`
	Outcome   string `json:"o"`
}

func subject(payer, owner string) string { return "usage." + payer + "." + owner }

// validToken reports whether s can be one token of a subject.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' || c == '*' || c == '>' || c <= ' ' || c == 0x7f:
			return false
		}
	}
	return true
}

// encode groups records by subject into messages of at most maxMessage
// bytes, in the order subjects were first seen.
func (m *Meter) encode(recs []Record) []batch {
	if len(recs) == 0 {
		return nil
	}
	type pair struct{ payer, owner string }
	type open struct {
		subject string
		buf     []byte
		n       int
	}
	var order []pair
	groups := map[pair]*open{}
	var out []batch
	seal := func(g *open) {
		g.buf = append(g.buf, ']')
		m.seq++
		out = append(out, batch{subject: g.subject, id: m.idPrefix + strconv.FormatUint(m.seq, 10), data: g.buf, n: g.n})
		g.buf, g.n = nil, 0
	}
	for i := range recs {
		r := &recs[i]
		if !validToken(r.Payer) || !validToken(r.Owner) {
			m.dropped.Add(1)
			m.log.Warn("metering: record dropped: payer and owner must be subject tokens", "payer", r.Payer, "owner", r.Owner, "requestId", r.RequestID)
			continue
		}
		w := wire{
			Time: r.Time.UnixNano(), RequestID: r.RequestID,
			Function: r.Function, Version: r.Version, Alias: r.Alias, API: r.API,
			Duration: int64(r.Duration), BilledMs: r.BilledMs, MemoryMB: r.MemoryMB,
			Cold: r.Cold, Outcome: r.Outcome,
		}
		if w.BilledMs == 0 {
			w.BilledMs = Billed(r.Duration)
		}
		if w.Outcome == "" {
			w.Outcome = Success
		}
		data, err := json.Marshal(w)
		if err != nil { // cannot happen for these field types
			m.dropped.Add(1)
			continue
		}
		k := pair{r.Payer, r.Owner}
		g := groups[k]
		if g == nil {
			g = &open{subject: subject(r.Payer, r.Owner)}
			groups[k] = g
			order = append(order, k)
		}
		if g.n > 0 && len(g.buf)+len(data)+2 > maxMessage {
			seal(g)
		}
		if g.n == 0 {
			g.buf = append(make([]byte, 0, 4096), '[')
		} else {
			g.buf = append(g.buf, ',')
		}
		g.buf = append(g.buf, data...)
		g.n++
	}
	for _, k := range order {
		if g := groups[k]; g.n > 0 {
			seal(g)
		}
	}
	return out
}

// tokens splits usage.<payer>.<owner>.
func tokens(subj string) (payer, owner string, ok bool) {
	rest, ok := strings.CutPrefix(subj, "usage.")
	if !ok {
		return "", "", false
	}
	payer, owner, ok = strings.Cut(rest, ".")
	return payer, owner, ok && payer != "" && owner != ""
}
