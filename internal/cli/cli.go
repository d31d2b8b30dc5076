// Package cli is ember's command line: `ember server` and the client
// commands that talk to a running server. Flags and environment variables
// are read here and nowhere else.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ember-run/ember/internal/sandbox/linux"
	"github.com/ember-run/ember/internal/server"
)

// Main runs the command line with explicit arguments and streams, and
// returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// A sandbox's init is ember itself, re-executed; it never returns.
	if linux.IsInit() {
		linux.RunInit()
	}
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "ember:", err)
		var ce *clientError
		if errors.As(err, &ce) {
			return 254
		}
		return 1
	}
	return 0
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "ember",
		Short:         "ember runs serverless functions on your own machines, speaking Lambda's APIs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	cf := &clientFlags{}
	root.AddCommand(serverCmd(stderr), accountCmd(cf, stdout), keyCmd(cf, stdout))
	fcf := &clientFlags{}
	for _, c := range functionCmds(fcf, stdout, stderr) {
		if c.HasSubCommands() {
			fcf.bind(c) // persistent: the subcommands take them
		} else {
			fcf.bindLocal(c)
		}
		root.AddCommand(c)
	}
	return root
}

func serverCmd(stderr io.Writer) *cobra.Command {
	cfg := server.Defaults()
	var level string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the ember server (embedded NATS JetStream by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lv slog.Level
			if err := lv.UnmarshalText([]byte(level)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return server.Run(ctx, cfg, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", envOr("EMBER_DATA", cfg.DataDir), "data directory (JetStream files, server key, admin credentials)")
	f.StringVar(&cfg.Listen, "listen", envOr("EMBER_LISTEN", cfg.Listen), "address of the HTTP API")
	f.StringVar(&cfg.Region, "region", envOr("EMBER_REGION", cfg.Region), "region name used in ARNs")
	f.StringVar(&cfg.PublicURL, "public-url", os.Getenv("EMBER_PUBLIC_URL"), "base URL clients use to reach ember, for links it hands out (default: from each request)")
	f.StringVar(&cfg.NATSURL, "nats-url", os.Getenv("EMBER_NATS_URL"), "join an external NATS JetStream cluster instead of the embedded server")
	f.IntVar(&cfg.AccountConcurrency, "account-concurrency", cfg.AccountConcurrency, "concurrent executions allowed per account")
	f.IntVar(&cfg.MaxBundleEntries, "max-bundle-entries", cfg.MaxBundleEntries, "most files a code bundle may contain")
	f.StringVar(&cfg.Driver, "driver", envOr("EMBER_DRIVER", cfg.Driver), "sandbox driver: auto, linux or none (control plane only)")
	f.DurationVar(&cfg.IdleTTL, "idle-ttl", cfg.IdleTTL, "how long a warm sandbox waits for its next invocation (a function's ember:keep-alive tag overrides it)")
	f.IntVar(&cfg.MinFreeMemoryMB, "min-free-memory", cfg.MinFreeMemoryMB, "MB of host memory to keep available: below it idle sandboxes are evicted and cold starts refused (0: off)")
	f.IntVar(&cfg.MaxSandboxes, "max-sandboxes", cfg.MaxSandboxes, "most sandboxes alive on this node")
	f.IntVar(&cfg.MaxStarting, "max-starting", cfg.MaxStarting, "most cold starts in progress at once; more wait their turn (0: two per CPU)")
	f.IntVar(&cfg.WarmPool, "warm-pool", cfg.WarmPool, "generic sandboxes kept ready so cold starts only specialise one (0 disables)")
	f.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", cfg.ShutdownGrace, "on SIGTERM, how long to let requests in flight (running invocations) finish")
	f.StringVar(&cfg.DebugListen, "debug-listen", os.Getenv("EMBER_DEBUG_LISTEN"), "serve Go pprof profiles on this address (e.g. 127.0.0.1:6060)")
	f.StringVar(&level, "log-level", envOr("EMBER_LOG_LEVEL", "info"), "debug, info, warn or error")
	return cmd
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func trimEndpoint(s string) string { return strings.TrimRight(s, "/") }
