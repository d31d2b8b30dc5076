// Package sandbox defines the seam between ember's scheduler and the
// isolation technology that runs function code. A Driver makes generic
// sandboxes (namespaces, cgroup, network namespace ready, nothing of any
// tenant inside); Start specialises one for a single function by mounting
// its code, applying its limits, dropping privileges and executing its
// runtime. Implementations live in subpackages (linux today; wasm, gVisor
// or Firecracker later) and are chosen only by the wiring point.
package sandbox

import (
	"context"
	"errors"
	"io"
	"net"
	"time"
)

// Sentinel errors.
var (
	ErrUnavailable = errors.New("sandbox: driver unavailable") // the host lacks what the driver needs; wrap with what is missing
	ErrClosed      = errors.New("sandbox: closed")
	ErrStarted     = errors.New("sandbox: already started")
)

// Driver creates sandboxes.
type Driver interface {
	// Create makes a generic sandbox: its namespaces, cgroup and loopback-only
	// network namespace exist and its init process waits for Start. Nothing
	// tenant-specific is inside yet, so it can be pooled.
	Create(ctx context.Context) (Sandbox, error)
	// Close releases driver-wide resources. Sandboxes must be closed first.
	Close() error
}

// Spec is everything that makes a generic sandbox one function's sandbox.
type Spec struct {
	// CodeDir is a host directory holding the extracted bundle; it is
	// mounted read-only at /var/task.
	CodeDir string
	// RuntimeDir, if set, is a host directory with ember's runtime clients;
	// it is mounted read-only at /opt/ember.
	RuntimeDir string
	// Argv is the command to execute inside (Argv[0] an absolute path).
	Argv []string
	// Env is the complete environment of the runtime ("K=V").
	Env []string
	// UID and GID run the runtime; never 0. Distinct per account.
	UID, GID int
	// MemoryMB caps memory (swap off); CPU share is proportional to it.
	MemoryMB int
	// TmpMB caps the /tmp tmpfs.
	TmpMB int
	// Pids caps the number of processes and threads.
	Pids int
	// NoFile is RLIMIT_NOFILE.
	NoFile int
	// StrictSyscalls selects the strict system-call profile, a subset of
	// the default one (see docs/SECURITY.md).
	StrictSyscalls bool
	// Stdout and Stderr receive the runtime's output. Writes may come from
	// separate goroutines.
	Stdout, Stderr io.Writer
	// Extensions are absolute paths (inside the sandbox) of Lambda external
	// extensions. They are started before the runtime, in lexical order,
	// with its environment, uid, limits and output writers. One that cannot
	// be executed fails Start; one that exits does not end the sandbox (the
	// runtime's exit does, and takes them with it).
	Extensions []string
	// ExtensionExited, if set, is called from a driver goroutine when an
	// extension's process ends while the runtime runs. It must not block.
	ExtensionExited func(path string, exit Exit)
}

// Exit says how a sandbox's runtime ended.
type Exit struct {
	Code      int    // exit status, -1 when killed by a signal
	Signal    string // e.g. "killed"; empty when it exited
	OOMKilled bool   // the memory cgroup killed a process
}

// MemoryBound is implemented by sandboxes that can tell whether their
// memory is exhausted by pages the kernel cannot reclaim (anonymous memory
// and tmpfs, with no swap). A process in that state may not be killed by
// the OOM killer for a long time: the kernel keeps evicting and refaulting
// the program's own code pages, and the function just stalls. The invoke
// path asks on a timeout, so that such a stall is reported as what it is.
type MemoryBound interface {
	MemoryBound() bool
}

// Stats is resource usage read from the sandbox's cgroup.
type Stats struct {
	MemoryPeakBytes uint64 // highest memory use so far
	MemoryBytes     uint64 // current memory use
	CPUTime         time.Duration
}

// Sandbox is one isolated execution environment. All methods are safe for
// concurrent use.
type Sandbox interface {
	ID() string
	// Listen opens a listener inside the sandbox's network namespace, e.g.
	// ("tcp", "127.0.0.1:9001") for the Runtime API. Call before Start.
	Listen(network, addr string) (net.Listener, error)
	// Start specialises the sandbox with spec and executes the runtime.
	Start(ctx context.Context, spec Spec) error
	// Done is closed once the runtime and everything it started are gone.
	Done() <-chan struct{}
	// Exit describes how it ended; valid after Done.
	Exit() Exit
	// Flush returns once everything the runtime wrote so far has been
	// handed to Spec.Stdout and Spec.Stderr, so an invocation's output can
	// be cut exactly at its end.
	Flush()
	// ResetScratch empties the sandbox's writable places (/tmp and
	// /dev/shm) between invocations, for functions whose policy says /tmp
	// does not persist.
	ResetScratch() error
	// Stats reads current usage.
	Stats() (Stats, error)
	// Kill stops every process in the sandbox at once.
	Kill() error
	// Close kills and tears everything down (cgroup, mounts, directories).
	// It is idempotent and leaves nothing of the sandbox behind.
	Close() error
}
