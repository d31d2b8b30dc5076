// Package server is ember's one wiring point: it opens the store, the
// keyring, the account and catalog services, builds the API and serves it
// until its context ends.
package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ember-run/ember/internal/account"
	"github.com/ember-run/ember/internal/api"
	"github.com/ember-run/ember/internal/async"
	"github.com/ember-run/ember/internal/bundle"
	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/fnkv"
	"github.com/ember-run/ember/internal/invoke"
	"github.com/ember-run/ember/internal/keyring"
	"github.com/ember-run/ember/internal/logs"
	"github.com/ember-run/ember/internal/metering"
	"github.com/ember-run/ember/internal/pubapi"
	"github.com/ember-run/ember/internal/sandbox"
	"github.com/ember-run/ember/internal/sandbox/linux"
	"github.com/ember-run/ember/internal/secrets"
	"github.com/ember-run/ember/internal/store"
)

// Config is everything `ember server` can be told.
type Config struct {
	DataDir string
	Listen  string
	Region  string
	// NATSURL joins an external NATS cluster instead of the embedded server.
	NATSURL string
	// PublicURL is the base URL clients reach the API at, used in code
	// download links (default: the scheme and Host of each request).
	PublicURL          string
	AccountConcurrency int
	MaxBundleEntries   int
	// Driver selects the sandbox driver: "auto" (linux when the host allows
	// it, else none), "linux" (fail if unavailable) or "none" (control
	// plane only).
	Driver string
	// IdleTTL is how long a warm sandbox is kept without invocations.
	IdleTTL time.Duration
	// MinFreeMemoryMB: below this much available host memory, idle
	// sandboxes are evicted and cold starts refused (429). 0: off.
	MinFreeMemoryMB int
	// MaxSandboxes bounds live sandboxes on this node.
	MaxSandboxes int
	// WarmPool is how many generic sandboxes are kept ready for cold starts.
	WarmPool int
	// MaxStarting bounds cold starts in progress at once (0: two per CPU).
	MaxStarting int
	// DebugListen, when set, serves Go's pprof profiles on that address
	// (keep it on loopback).
	DebugListen   string
	ShutdownGrace time.Duration
	Logger        *slog.Logger
}

// Defaults returns the configuration of a plain `ember server`.
func Defaults() Config {
	return Config{
		DataDir:            "./ember-data",
		Listen:             "127.0.0.1:9000",
		Region:             "local",
		AccountConcurrency: 1000,
		MaxBundleEntries:   bundle.DefaultLimits().MaxEntries,
		Driver:             "auto",
		IdleTTL:            10 * time.Minute,
		MinFreeMemoryMB:    256,
		MaxSandboxes:       64,
		WarmPool:           2,
		// Long enough for the longest function (15 min) to finish: a
		// stop never cuts an accepted synchronous call.
		ShutdownGrace: 15*time.Minute + 30*time.Second,
	}
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("server: --data is required"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("server: --listen %q: %w", c.Listen, err))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("server: --region must not be empty"))
	}
	if c.AccountConcurrency < 1 {
		errs = append(errs, errors.New("server: account concurrency must be at least 1"))
	}
	switch c.Driver {
	case "auto", "linux", "none":
	default:
		errs = append(errs, fmt.Errorf("server: --driver must be auto, linux or none, got %q", c.Driver))
	}
	if c.WarmPool < 0 || c.WarmPool > 256 {
		errs = append(errs, errors.New("server: warm pool must be 0..256"))
	}
	if c.MaxSandboxes < 1 {
		errs = append(errs, errors.New("server: max sandboxes must be at least 1"))
	}
	if c.MinFreeMemoryMB < 0 {
		errs = append(errs, errors.New("server: --min-free-memory must not be negative"))
	}
	if c.MaxBundleEntries < 1 {
		errs = append(errs, errors.New("server: max bundle entries must be at least 1"))
	}
	return errors.Join(errs...)
}

// AdminCredentialsFile is where the first start leaves the admin's keys.
const AdminCredentialsFile = "admin-credentials.json"

// Run serves until ctx is cancelled, then shuts down cleanly. ready, if not
// nil, receives the address being served once the API can answer.
func Run(ctx context.Context, cfg Config, ready func(addr string)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Sandboxes and their init resolve paths after chdir: make them absolute.
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("server: data directory: %w", err)
	}
	cfg.DataDir = abs
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("server: data directory: %w", err)
	}
	unlock, err := lockDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	keyPath := filepath.Join(cfg.DataDir, "server.key")
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) && cfg.NATSURL == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "jetstream")); err == nil {
			return fmt.Errorf("server: %s is missing but %s holds data: without the key the stored secrets cannot be read; restore server.key from your backup", keyPath, cfg.DataDir)
		}
	}
	ring, err := keyring.LoadOrCreate(keyPath)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Config{DataDir: cfg.DataDir, URL: cfg.NATSURL, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()

	accts, err := account.New(ctx, st, ring)
	if err != nil {
		return err
	}
	if err := bootstrapAdmin(ctx, accts, cfg.DataDir, log); err != nil {
		return err
	}
	limits := bundle.DefaultLimits()
	limits.MaxEntries = cfg.MaxBundleEntries
	cat, err := catalog.New(ctx, st, catalog.Options{
		Region: cfg.Region, Bundle: limits, AccountConcurrency: cfg.AccountConcurrency, Sealer: ring, Logger: log,
	})
	if err != nil {
		return err
	}
	defer cat.Close()

	logStore, err := logs.Open(ctx, st, logs.Options{Logger: log})
	if err != nil {
		return err
	}
	defer logStore.Close()
	secretStore, err := secrets.New(ctx, st, ring)
	if err != nil {
		return err
	}
	kvStore, err := fnkv.New(ctx, st)
	if err != nil {
		return err
	}
	meter, err := metering.New(ctx, st, metering.Options{Logger: log})
	if err != nil {
		return err
	}
	defer meter.Close()
	apis, err := pubapi.Open(ctx, st, pubapi.Options{Logger: log})
	if err != nil {
		return err
	}
	defer apis.Close()
	driver, reason, err := openDriver(cfg, log)
	if err != nil {
		return err
	}
	if driver != nil {
		defer driver.Close()
	}
	inv, err := invoke.New(invoke.Options{
		Driver: driver, Reason: reason, Catalog: cat, UIDs: accts, Logs: logStore,
		Secrets: secretStore, KV: kvStore, Meter: meter,
		DataDir: cfg.DataDir, Region: cfg.Region, IdleTTL: cfg.IdleTTL, MinAvailableMB: cfg.MinFreeMemoryMB, MaxSandboxes: cfg.MaxSandboxes, WarmPool: cfg.WarmPool, MaxStarting: cfg.MaxStarting, Logger: log,
	})
	if err != nil {
		return err
	}
	defer inv.Close()
	events, err := async.Open(ctx, st, async.Options{Invoker: inv, Functions: cat, Logger: log})
	if err != nil {
		return err
	}
	defer events.Close()

	var serving atomic.Bool
	handler := api.New(api.Deps{
		Catalog: cat, Accounts: accts, Keyring: ring, Logger: log, PublicURL: cfg.PublicURL,
		Invoker: inv, Logs: logStore, Events: events, Provisioner: provisioner(driver, inv),
		Secrets: secretStore, KV: kvStore, Meter: meter, APIs: apis,
		Ready: func() bool { return serving.Load() && st.Healthy() },
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("server: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // a 72 MB upload on a slow link, not a slowloris
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.DebugListen != "" {
		mux := debugMux()
		mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			inv.WriteMetrics(w)
			events.WriteMetrics(w)
		})
		dbg := &http.Server{Addr: cfg.DebugListen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := dbg.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("debug listener", "err", err)
			}
		}()
		defer dbg.Close()
		log.Info("pprof profiles served", "addr", cfg.DebugListen)
	}
	serving.Store(true)
	addr := ln.Addr().String()
	log.Info("ember listening", "addr", addr, "endpoint", "http://"+addr, "region", cfg.Region, "data", cfg.DataDir)
	if ready != nil {
		ready(addr)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	log.Info("ember shutting down")
	serving.Store(false)
	handler.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("server: shutdown", "err", err)
	}
	return nil
}

func bootstrapAdmin(ctx context.Context, accts *account.Service, dir string, log *slog.Logger) error {
	path := filepath.Join(dir, AdminCredentialsFile)
	creds, err := accts.Bootstrap(ctx)
	if err != nil {
		return err
	}
	if creds == nil {
		if _, err := os.Stat(path); err != nil {
			log.Warn("admin credentials file is missing; the admin account exists but its keys can only be recovered by an existing key", "path", path)
		}
		return nil
	}
	data, _ := json.MarshalIndent(struct {
		AccountId, AccessKeyId, SecretAccessKey string
	}{creds.AccountID, creds.AccessKeyID, creds.SecretAccessKey}, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("server: write admin credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("server: write admin credentials: %w", err)
	}
	log.Info("admin account created; credentials written", "path", path, "account", creds.AccountID)
	return nil
}

// lockDir makes sure only one server uses a data directory.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("server: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("server: data directory %s is in use by another ember server", dir)
	}
	return func() { f.Close() }, nil
}

// openDriver starts the sandbox driver the configuration asks for. With
// "auto" a host that cannot run sandboxes still serves the control plane;
// the reason is logged and returned for Invoke's error message.
func openDriver(cfg Config, log *slog.Logger) (sandbox.Driver, string, error) {
	if cfg.Driver == "none" {
		return nil, "the server was started with --driver none", nil
	}
	// The cgroup parent is derived from the (locked) data directory, so it
	// is this server's alone and what a crashed run left can be reclaimed.
	sum := sha256.Sum256([]byte(cfg.DataDir))
	d, err := linux.New(linux.Options{
		StateDir: filepath.Join(cfg.DataDir, "sandboxes"), CgroupParent: "ember/" + hex.EncodeToString(sum[:6]),
		Reclaim: true, Logger: log,
	})
	if err == nil {
		log.Info("sandbox driver ready", "driver", "linux")
		return d, "", nil
	}
	if cfg.Driver == "linux" {
		return nil, "", fmt.Errorf("server: the linux sandbox driver cannot start: %w", err)
	}
	log.Warn("no sandbox driver: functions cannot be invoked on this server (control plane only)", "reason", err)
	return nil, err.Error(), nil
}

func debugMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	return m
}

// provisioner is the invoke service when sandboxes can run, else nil (the
// provisioned concurrency API then refuses requests).
func provisioner(driver sandbox.Driver, inv *invoke.Service) api.Provisioner {
	if driver == nil {
		return nil
	}
	return inv
}
