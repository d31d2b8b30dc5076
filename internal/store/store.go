// Package store is ember's persistence: NATS JetStream key-value buckets for
// metadata (with compare-and-set on revisions) and an object store for code
// bundles. By default it runs an embedded JetStream server with its files under
// the data directory and no network listener; given a URL it joins an external
// NATS cluster instead, so one node and many share one code path.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Sentinel errors; callers test with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: revision conflict")
	ErrClosed   = errors.New("store: closed")
)

// Config says where the data lives.
type Config struct {
	// DataDir holds the embedded server's JetStream files (DataDir/jetstream).
	DataDir string
	// URL, when set, connects to an external NATS server or cluster instead
	// of starting the embedded one.
	URL string
	// Replicas for buckets on an external cluster (1 when zero).
	Replicas int
	Logger   *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.DataDir == "" && c.URL == "" {
		return errors.New("store: either a data directory or a NATS URL is required")
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		return fmt.Errorf("store: replicas must be 1..5, got %d", c.Replicas)
	}
	return nil
}

// Store is an open connection to JetStream.
type Store struct {
	cfg  Config
	ns   *server.Server // nil when external
	nc   *nats.Conn
	js   jetstream.JetStream
	once sync.Once
}

// Open starts (or connects to) JetStream.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg}
	var err error
	if cfg.URL == "" {
		opts := &server.Options{
			ServerName: "ember",
			JetStream:  true,
			StoreDir:   filepath.Join(cfg.DataDir, "jetstream"),
			DontListen: true,
			NoSigs:     true,
			NoLog:      true,
		}
		s.ns, err = server.NewServer(opts)
		if err != nil {
			return nil, fmt.Errorf("store: embedded nats: %w", err)
		}
		go s.ns.Start()
		if !s.ns.ReadyForConnections(30 * time.Second) {
			s.ns.Shutdown()
			return nil, errors.New("store: embedded nats did not become ready")
		}
		s.nc, err = nats.Connect("", nats.InProcessServer(s.ns), nats.Name("ember"))
	} else {
		s.nc, err = nats.Connect(cfg.URL, nats.Name("ember"), nats.MaxReconnects(-1))
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	s.js, err = jetstream.New(s.nc)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: jetstream: %w", err)
	}
	return s, nil
}

// Close disconnects and stops the embedded server. It is idempotent.
func (s *Store) Close() error {
	s.once.Do(func() {
		if s.nc != nil {
			_ = s.nc.Drain()
			s.nc.Close()
		}
		if s.ns != nil {
			s.ns.Shutdown()
			s.ns.WaitForShutdown()
		}
	})
	return nil
}

// Healthy reports whether the connection to JetStream is up.
func (s *Store) Healthy() bool { return s.nc != nil && s.nc.IsConnected() }

// JetStream exposes the raw JetStream context for streams (queues) that the
// KV and object abstractions do not cover.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// KV opens (creating if needed) a key-value bucket.
func (s *Store) KV(ctx context.Context, bucket string) (*KV, error) {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   bucket,
		History:  1,
		Storage:  jetstream.FileStorage,
		Replicas: s.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("store: bucket %s: %w", bucket, err)
	}
	return &KV{kv: kv}, nil
}

// Blobs opens (creating if needed) an object store bucket.
func (s *Store) Blobs(ctx context.Context, bucket string) (*Blobs, error) {
	ob, err := s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:   bucket,
		Storage:  jetstream.FileStorage,
		Replicas: s.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("store: object bucket %s: %w", bucket, err)
	}
	return &Blobs{ob: ob}, nil
}

// Entry is one value with the revision it was read at.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
	Created  time.Time
}

// KV is a bucket of keys. Keys use NATS subject syntax: dot-separated tokens
// of [-/_=a-zA-Z0-9].
type KV struct{ kv jetstream.KeyValue }

func mapErr(op, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	case errors.Is(err, jetstream.ErrKeyExists):
		return fmt.Errorf("%w: %s %s", ErrConflict, op, key)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return fmt.Errorf("%w: %s %s: %v", ErrClosed, op, key, err)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return fmt.Errorf("%w: %s %s", ErrConflict, op, key)
	}
	return fmt.Errorf("store: %s %s: %w", op, key, err)
}

// Get reads a key.
func (k *KV) Get(ctx context.Context, key string) (Entry, error) {
	e, err := k.kv.Get(ctx, key)
	if err != nil {
		return Entry{}, mapErr("get", key, err)
	}
	return Entry{Key: e.Key(), Value: e.Value(), Revision: e.Revision(), Created: e.Created()}, nil
}

// Create writes a key that must not exist; ErrConflict if it does.
func (k *KV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := k.kv.Create(ctx, key, value)
	return rev, mapErr("create", key, err)
}

// Update writes a key last written at rev; ErrConflict if it moved on.
func (k *KV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	n, err := k.kv.Update(ctx, key, value, rev)
	return n, mapErr("update", key, err)
}

// Put writes a key unconditionally.
func (k *KV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	n, err := k.kv.Put(ctx, key, value)
	return n, mapErr("put", key, err)
}

// Delete removes a key; with rev > 0 only if it is still at rev.
func (k *KV) Delete(ctx context.Context, key string, rev uint64) error {
	var opts []jetstream.KVDeleteOpt
	if rev > 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	err := mapErr("delete", key, k.kv.Purge(ctx, key, opts...))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// List returns the current entries whose keys match filter (a subject
// pattern such as "fn.123456789012.*" or "acct.>"), in key order.
func (k *KV) List(ctx context.Context, filter string) ([]Entry, error) {
	w, err := k.kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, mapErr("list", filter, err)
	}
	defer w.Stop()
	var out []Entry
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("store: list %s: watcher closed", filter)
			}
			if e == nil { // end of the initial values
				sortEntries(out)
				return out, nil
			}
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			out = append(out, Entry{Key: e.Key(), Value: e.Value(), Revision: e.Revision(), Created: e.Created()})
		}
	}
}

func sortEntries(es []Entry) {
	// insertion order from a watcher is by stream sequence; callers want keys
	slices.SortFunc(es, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
}

// Change is one update seen by Watch.
type Change struct {
	Key      string
	Value    []byte
	Revision uint64
	Deleted  bool
}

// Watch streams changes to keys matching filter made after the call, until
// ctx ends (then the channel closes). Consumers must keep up: the channel
// is buffered, and a slow consumer delays the watcher, not the writers.
func (k *KV) Watch(ctx context.Context, filter string) (<-chan Change, error) {
	w, err := k.kv.Watch(ctx, filter, jetstream.UpdatesOnly())
	if err != nil {
		return nil, mapErr("watch", filter, err)
	}
	out := make(chan Change, 256)
	go func() {
		defer close(out)
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				c := Change{Key: e.Key(), Revision: e.Revision(), Deleted: e.Operation() != jetstream.KeyValuePut}
				if !c.Deleted {
					c.Value = e.Value()
				}
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Blobs is an object store bucket.
type Blobs struct{ ob jetstream.ObjectStore }

// BlobInfo describes a stored object.
type BlobInfo struct {
	Name     string
	Size     uint64
	Modified time.Time
}

// Put stores data under name, replacing any previous object.
func (b *Blobs) Put(ctx context.Context, name string, data []byte) error {
	_, err := b.ob.PutBytes(ctx, name, data)
	if err != nil {
		return fmt.Errorf("store: put object %s: %w", name, err)
	}
	return nil
}

// blobTimeout bounds reading an object when ctx has no deadline of its own.
// Without one the client allows 5 s for the whole transfer, which a 50 MB
// code bundle on a busy disk, or a machine loaded by its sandboxes, can
// exceed.
const blobTimeout = 2 * time.Minute

// Get reads a whole object.
func (b *Blobs) Get(ctx context.Context, name string) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, blobTimeout)
		defer cancel()
	}
	data, err := b.ob.GetBytes(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("%w: object %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get object %s: %w", name, err)
	}
	return data, nil
}

// Stat reports whether name exists and its size.
func (b *Blobs) Stat(ctx context.Context, name string) (BlobInfo, error) {
	info, err := b.ob.GetInfo(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return BlobInfo{}, fmt.Errorf("%w: object %s", ErrNotFound, name)
	}
	if err != nil {
		return BlobInfo{}, fmt.Errorf("store: stat object %s: %w", name, err)
	}
	return BlobInfo{Name: info.Name, Size: info.Size, Modified: info.ModTime}, nil
}

// Delete removes an object; a missing object is not an error.
func (b *Blobs) Delete(ctx context.Context, name string) error {
	err := b.ob.Delete(ctx, name)
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("store: delete object %s: %w", name, err)
	}
	return nil
}

// List returns the objects whose names start with prefix.
func (b *Blobs) List(ctx context.Context, prefix string) ([]BlobInfo, error) {
	infos, err := b.ob.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list objects: %w", err)
	}
	var out []BlobInfo
	for _, i := range infos {
		if strings.HasPrefix(i.Name, prefix) && !i.Deleted {
			out = append(out, BlobInfo{Name: i.Name, Size: i.Size, Modified: i.ModTime})
		}
	}
	return out, nil
}
