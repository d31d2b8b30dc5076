package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/sandbox/linux"
)

// TestMain lets this binary serve as a sandbox init should a test ever
// start the linux driver in-process.
func TestMain(m *testing.M) {
	if linux.IsInit() {
		linux.RunInit()
	}
	os.Exit(m.Run())
}

func start(t *testing.T, cfg Config) (addr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, func(a string) { ready <- a }) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start in 30s")
	}
	return addr, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("server did not stop")
			return nil
		}
	}
}

func TestRunServesLocksAndStops(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Driver = "none" // wiring only; execution is tested in invoke, sandbox/linux and e2e
	addr, stop := start(t, cfg)
	resp, err := http.Get("http://" + addr + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: %v %v", resp, err)
	}
	creds, err := os.Stat(filepath.Join(cfg.DataDir, AdminCredentialsFile))
	if err != nil || creds.Mode().Perm() != 0o600 {
		t.Fatalf("admin credentials: %v %v", creds, err)
	}
	// A second server on the same directory is refused.
	if err := Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second server on the same dir: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// The directory is free again after a clean stop.
	_, stop = start(t, cfg)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestRefusesDataWithoutItsKey(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Driver = "none" // wiring only; execution is tested in invoke, sandbox/linux and e2e
	_, stop := start(t, cfg)
	stop()
	os.Remove(filepath.Join(cfg.DataDir, "server.key"))
	err := Run(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "server.key is missing") {
		t.Fatalf("started without its key: %v", err)
	}
}

func TestValidate(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.DataDir = "" },
		func(c *Config) { c.Listen = "nope" },
		func(c *Config) { c.Region = "" },
		func(c *Config) { c.AccountConcurrency = 0 },
		func(c *Config) { c.MaxBundleEntries = 0 },
	}
	for i, f := range bad {
		cfg := Defaults()
		f(&cfg)
		if cfg.Validate() == nil {
			t.Errorf("case %d: invalid config accepted", i)
		}
	}
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}
