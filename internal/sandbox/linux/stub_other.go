//go:build !linux

package linux

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ember-run/ember/internal/sandbox"
)

// InitCommand is the hidden argv[1] that makes ember act as a sandbox init.
const InitCommand = "__ember-sandbox-init"

// Options configures the driver.
type Options struct {
	StateDir     string
	CgroupParent string
	InitArgs     []string
	HardCPULimit bool
	Reclaim      bool
	Logger       *slog.Logger
}

// Driver is unavailable outside Linux.
type Driver struct{}

var _ sandbox.Driver = (*Driver)(nil)

// New always fails outside Linux.
func New(Options) (*Driver, error) {
	return nil, fmt.Errorf("%w: the linux driver needs Linux", sandbox.ErrUnavailable)
}

// Create never succeeds.
func (*Driver) Create(context.Context) (sandbox.Sandbox, error) { return nil, sandbox.ErrUnavailable }

// Close does nothing.
func (*Driver) Close() error { return nil }

// IsInit is always false outside Linux.
func IsInit() bool { return false }

// RunInit never returns.
func RunInit() { panic("linux sandbox init on a non-Linux system") }
