// Package logs keeps function logs — the platform's START/END/REPORT lines
// and everything a function writes to stdout and stderr — in a JetStream
// stream, one subject per function, bounded by age and size. Writes are
// asynchronous so logging never sits on an invocation's critical path.
package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ember-run/ember/internal/store"
)

// Stream is the JetStream stream holding all function logs.
const Stream = "EMBER_LOGS"

// Options bound what is kept.
type Options struct {
	MaxAge   time.Duration // default 7 days
	MaxBytes int64         // default 1 GiB
	Logger   *slog.Logger
}

// Store writes and reads function logs. Appended records are batched per
// function and published every flushEvery (or sooner when a batch grows),
// one JetStream message per batch, so a busy function costs one publish per
// interval rather than one per invocation.
type Store struct {
	js  jetstream.JetStream
	log *slog.Logger

	mu      sync.Mutex
	pending map[string][]Record
	size    int
	kick    chan struct{}
	flushed chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

const (
	flushEvery = 100 * time.Millisecond
	maxBatch   = 512 << 10 // bytes of text per message (NATS payloads are ≤ 1 MB)
)

// Record is one chunk of a function's log: usually one invocation's lines.
type Record struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId,omitempty"`
	Version   string    `json:"version,omitempty"`
	Text      string    `json:"text"`
}

// Open creates or updates the stream.
func Open(ctx context.Context, st *store.Store, opts Options) (*Store, error) {
	if opts.MaxAge == 0 {
		opts.MaxAge = 7 * 24 * time.Hour
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	js := st.JetStream()
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      Stream,
		Subjects:  []string{"logs.>"},
		Storage:   jetstream.FileStorage,
		MaxAge:    opts.MaxAge,
		MaxBytes:  opts.MaxBytes,
		Discard:   jetstream.DiscardOld,
		Retention: jetstream.LimitsPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("logs: stream: %w", err)
	}
	ls := &Store{
		js: js, log: opts.Logger, pending: map[string][]Record{},
		kick: make(chan struct{}, 1), flushed: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go ls.flusher()
	return ls, nil
}

func (s *Store) flusher() {
	defer close(s.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.publish()
			return
		case <-t.C:
			s.publish()
		case <-s.kick:
			s.publish()
		case ack := <-s.flushed:
			s.publish()
			close(ack)
		}
	}
}

// publish sends every pending batch.
func (s *Store) publish() {
	s.mu.Lock()
	pending := s.pending
	s.pending, s.size = map[string][]Record{}, 0
	s.mu.Unlock()
	for subj, recs := range pending {
		for len(recs) > 0 {
			n, size := 0, 0
			for n < len(recs) && (n == 0 || size+len(recs[n].Text) <= maxBatch) {
				size += len(recs[n].Text)
				n++
			}
			data, _ := json.Marshal(recs[:n])
			if _, err := s.js.PublishAsync(subj, data); err != nil {
				s.log.Warn("logs: dropped a batch", "subject", subj, "records", n, "err", err)
			}
			recs = recs[n:]
		}
	}
}

// Close publishes what is pending and stops the flusher. Idempotent.
func (s *Store) Close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
	})
	return nil
}

func subject(account, function string) string { return "logs." + account + "." + function }

// Append queues a record; it is stored within flushEvery.
func (s *Store) Append(account, function string, rec Record) {
	if len(rec.Text) > maxBatch {
		rec.Text = rec.Text[len(rec.Text)-maxBatch:]
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	subj := subject(account, function)
	s.mu.Lock()
	s.pending[subj] = append(s.pending[subj], rec)
	s.size += len(rec.Text)
	full := s.size > maxBatch
	s.mu.Unlock()
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Read calls fn for each record of a function since the given time, in
// order. With follow it keeps waiting for new records until ctx ends;
// otherwise it returns once it has caught up.
func (s *Store) Read(ctx context.Context, account, function string, since time.Time, follow bool, fn func(Record) error) error {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject(account, function)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if !since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	}
	cons, err := s.js.OrderedConsumer(ctx, Stream, cfg)
	if err != nil {
		return fmt.Errorf("logs: consumer: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("logs: consumer info: %w", err)
	}
	if info.NumPending == 0 && !follow {
		return nil
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("logs: read: %w", err)
	}
	defer it.Stop()
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return fmt.Errorf("logs: read: %w", err)
		}
		var batch []Record
		if json.Unmarshal(msg.Data(), &batch) == nil {
			for _, rec := range batch {
				if !since.IsZero() && rec.Time.Before(since) {
					continue
				}
				if err := fn(rec); err != nil {
					return err
				}
			}
		}
		if !follow {
			if meta, err := msg.Metadata(); err == nil && meta.NumPending == 0 {
				return nil
			}
		}
	}
}

// Flush waits until every appended record is stored (bounded by ctx).
func (s *Store) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case s.flushed <- ack:
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	<-ack
	select {
	case <-s.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
