//go:build linux

package linux

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"

	"github.com/ember-run/ember/internal/sandbox"
)

// Options configures the driver.
type Options struct {
	// StateDir holds one directory per sandbox (the mount point of its
	// root, the init's diagnostics). Created 0700. Default: a directory
	// under os.TempDir().
	StateDir string
	// CgroupParent is the cgroup, relative to each hierarchy's root, under
	// which sandbox cgroups are made. Default "ember".
	CgroupParent string
	// Reclaim, when set, tears down at start whatever an earlier process
	// left under CgroupParent and in StateDir (after a crash or SIGKILL).
	// Set it only when CgroupParent and StateDir belong to this process
	// alone (ember's server derives them from its locked data directory).
	Reclaim bool
	// InitArgs re-executes ember as a sandbox init. Default
	// {"/proc/self/exe", InitCommand}; the binary must call RunInit when
	// IsInit is true.
	InitArgs []string
	// HardCPULimit also caps CPU time with a CFS quota proportional to
	// memory (1769 MB = one core, as on Lambda, floored at 10% of a core).
	// Without it CPU is only shared proportionally to memory.
	HardCPULimit bool
	// Logger receives teardown diagnostics. Default: discard.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.StateDir == "" {
		o.StateDir = filepath.Join(os.TempDir(), "ember-sandboxes")
	}
	if o.CgroupParent == "" {
		o.CgroupParent = "ember"
	}
	if len(o.InitArgs) == 0 {
		o.InitArgs = []string{"/proc/self/exe", InitCommand}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Driver makes Linux sandboxes.
type Driver struct {
	opts    Options
	cg      *cgroupHost
	hostNet int // the host's network namespace, to return to after Listen

	// Inits are forked by one locked thread that lives as long as the
	// driver: Pdeathsig fires when the forking *thread* exits, and Go ends
	// any thread whose goroutine exits while locked to it.
	spawns chan spawnReq

	mu     sync.RWMutex // guards closed and sends on spawns
	closed bool
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func (d *Driver) spawner() {
	runtime.LockOSThread() // never unlocked: the thread ends with the driver
	for req := range d.spawns {
		req.err <- req.cmd.Start()
	}
}

// start starts an init from the spawner thread.
func (d *Driver) start(cmd *exec.Cmd) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return sandbox.ErrClosed
	}
	errc := make(chan error, 1)
	d.spawns <- spawnReq{cmd: cmd, err: errc}
	return <-errc
}

var _ sandbox.Driver = (*Driver)(nil)

// New checks that the host can run sandboxes and prepares the cgroup parent.
// Anything missing is reported as an error wrapping sandbox.ErrUnavailable
// that names it.
func New(opts Options) (*Driver, error) {
	opts.defaults()
	var missing []string
	if !hasCapSysAdmin() {
		missing = append(missing, "root or CAP_SYS_ADMIN")
	}
	for _, ns := range []string{"mnt", "pid", "ipc", "uts", "net", "cgroup"} {
		if _, err := os.Stat("/proc/self/ns/" + ns); err != nil {
			missing = append(missing, ns+" namespaces")
		}
	}
	if !seccomp.Supported() {
		missing = append(missing, "seccomp filters")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: needs %s", sandbox.ErrUnavailable, strings.Join(missing, ", "))
	}
	cg, err := detectCgroups(opts.CgroupParent)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", sandbox.ErrUnavailable, err)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("linux sandbox: state dir: %w", err)
	}
	if err := os.Chmod(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("linux sandbox: state dir: %w", err)
	}
	if opts.Reclaim {
		reclaim(cg, opts.StateDir, opts.Logger)
	}
	runtime.LockOSThread()
	hostNet, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("%w: cannot open the host network namespace: %v", sandbox.ErrUnavailable, err)
	}
	d := &Driver{opts: opts, cg: cg, hostNet: hostNet, spawns: make(chan spawnReq)}
	go d.spawner()
	return d, nil
}

func hasCapSysAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return os.Geteuid() == 0
	}
	return data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0
}

// Create makes a generic sandbox and returns once its init is ready.
func (d *Driver) Create(ctx context.Context) (sandbox.Sandbox, error) {
	d.mu.RLock()
	closed := d.closed
	d.mu.RUnlock()
	if closed {
		return nil, sandbox.ErrClosed
	}
	s, err := d.create(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Close releases the driver. Sandboxes must be closed first: the inits of
// any still open die with the spawner thread.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	close(d.spawns)
	return unix.Close(d.hostNet)
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// IsInit reports whether this process was started as a sandbox init and
// must call RunInit.
func IsInit() bool {
	return len(os.Args) > 1 && os.Args[1] == InitCommand
}

var errNotInit = errors.New("linux sandbox: RunInit called outside a sandbox")

// reclaim kills and removes sandboxes an earlier, crashed process left.
func reclaim(h *cgroupHost, stateDir string, log *slog.Logger) {
	ids := h.leftovers()
	for _, id := range ids {
		cg := h.open(id)
		cg.kill()
		if err := cg.remove(); err != nil && log != nil {
			log.Warn("linux sandbox: leftover cgroup not removed", "id", id, "err", err)
		}
	}
	ents, _ := os.ReadDir(stateDir)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(stateDir, e.Name()))
	}
	if log != nil && (len(ids) > 0 || len(ents) > 0) {
		log.Info("linux sandbox: reclaimed what an earlier run left", "cgroups", len(ids), "state_dirs", len(ents))
	}
}
