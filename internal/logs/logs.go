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

// Store writes and reads function logs.
type Store struct {
	js  jetstream.JetStream
	log *slog.Logger
}

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
	return &Store{js: js, log: opts.Logger}, nil
}

func subject(account, function string) string { return "logs." + account + "." + function }

// Append stores a record without waiting for the acknowledgement.
func (s *Store) Append(account, function string, rec Record) {
	data, _ := json.Marshal(rec)
	if _, err := s.js.PublishAsync(subject(account, function), data); err != nil {
		s.log.Warn("logs: dropped a record", "account", account, "function", function, "err", err)
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
		var rec Record
		if json.Unmarshal(msg.Data(), &rec) == nil {
			if err := fn(rec); err != nil {
				return err
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
	select {
	case <-s.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
