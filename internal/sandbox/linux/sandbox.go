//go:build linux

package linux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ember-run/ember/internal/sandbox"
)

// Defaults for zero Spec fields.
const (
	defaultMemoryMB = 128
	defaultTmpMB    = 512
	defaultPids     = 1024
	defaultNoFile   = 1024
)

// Sandbox is one Linux sandbox.
type Sandbox struct {
	d     *Driver
	id    string
	dir   string
	cg    *cgroup
	cmd   *exec.Cmd
	ctl   *ctlConn
	netns int // the sandbox's network namespace, for Listen

	stdoutR, stderrR *os.File // the runtime's output, copied to the Spec's writers
	copiersList      []*copier
	copiers          sync.WaitGroup

	replies chan message  // ready / started / error from the init
	readEnd chan struct{} // closed when the control socket is at EOF
	done    chan struct{}

	mu      sync.Mutex
	started bool
	closed  bool
	runExit *message // the init's report of the runtime's end
	exit    sandbox.Exit
	extExit func(path string, exit sandbox.Exit) // Spec.ExtensionExited

	closeOnce sync.Once
	closeErr  error
}

var _ sandbox.Sandbox = (*Sandbox)(nil)

func (d *Driver) create(ctx context.Context) (_ *Sandbox, err error) {
	s := &Sandbox{
		d:       d,
		id:      newID(),
		netns:   -1,
		replies: make(chan message, 4),
		readEnd: make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.dir = filepath.Join(d.opts.StateDir, s.id)
	if err := os.Mkdir(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("linux sandbox: %w", err)
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	root := filepath.Join(s.dir, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		return nil, fmt.Errorf("linux sandbox: %w", err)
	}
	if s.cg, err = d.cg.create(s.id); err != nil {
		return nil, fmt.Errorf("linux sandbox: create cgroup: %w", err)
	}

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("linux sandbox: control socket: %w", err)
	}
	hostCtl, childCtl := os.NewFile(uintptr(pair[0]), "ctl"), os.NewFile(uintptr(pair[1]), "ctl")
	defer childCtl.Close()
	if s.ctl, err = newCtlConn(hostCtl); err != nil {
		return nil, fmt.Errorf("linux sandbox: control socket: %w", err)
	}
	var outW, errW *os.File
	if s.stdoutR, outW, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("linux sandbox: %w", err)
	}
	defer outW.Close()
	if s.stderrR, errW, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("linux sandbox: %w", err)
	}
	defer errW.Close()
	// The init's own stderr (a Go panic, say) goes to a file beside the
	// root, never into the tenant's output.
	logf, err := os.OpenFile(filepath.Join(s.dir, "init.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("linux sandbox: %w", err)
	}
	defer logf.Close()

	args := d.opts.InitArgs
	s.cmd = &exec.Cmd{
		Path:       args[0],
		Args:       args,
		Env:        initEnv(),
		Dir:        "/",
		Stderr:     logf,
		ExtraFiles: []*os.File{childCtl, outW, errW}, // fds 3, 4, 5
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC |
				unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if d.cg.v2 {
		// Born in its cgroup: clone3(CLONE_INTO_CGROUP).
		cgf, err := s.cg.openDir()
		if err != nil {
			return nil, fmt.Errorf("linux sandbox: %w", err)
		}
		defer cgf.Close()
		s.cmd.SysProcAttr.UseCgroupFD = true
		s.cmd.SysProcAttr.CgroupFD = int(cgf.Fd())
	}
	if err := s.d.start(s.cmd); err != nil {
		s.cmd = nil
		return nil, fmt.Errorf("linux sandbox: start init: %w", err)
	}
	pid := s.cmd.Process.Pid
	// The init is our unreaped child until wait runs, so its pid is its own.
	s.netns, err = unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	go s.readLoop()
	go s.wait()
	if err != nil {
		return nil, fmt.Errorf("linux sandbox: %w", err)
	}
	if !d.cg.v2 {
		// The init waits for msgSetup before doing anything, so it is in
		// every hierarchy before it runs anything of its own.
		if err := s.cg.addProc(pid); err != nil {
			return nil, fmt.Errorf("linux sandbox: join cgroup: %w", err)
		}
	}
	if err := s.ctl.send(message{Type: msgSetup, Root: root}); err != nil {
		return nil, fmt.Errorf("linux sandbox: %w", err)
	}
	if _, err := s.await(ctx, msgReady); err != nil {
		return nil, fmt.Errorf("linux sandbox: create: %w", err)
	}
	return s, nil
}

// initEnv is the init's whole environment: nothing of the host's leaks in.
func initEnv() []string {
	return []string{"PATH=/usr/local/bin:/usr/bin:/bin", "GOMAXPROCS=1", "GOGC=50"}
}

// readLoop owns reading the control socket.
func (s *Sandbox) readLoop() {
	defer close(s.readEnd)
	for {
		m, fds, err := s.ctl.recv()
		closeAll(fds)
		if err != nil {
			return
		}
		if m.Type == msgExit {
			s.mu.Lock()
			s.runExit = &m
			s.mu.Unlock()
			continue
		}
		if m.Type == msgExtExit {
			s.mu.Lock()
			f := s.extExit
			s.mu.Unlock()
			if f != nil {
				f(m.Path, exitOf(&m))
			}
			continue
		}
		select {
		case s.replies <- m:
		default:
		}
	}
}

// wait reaps the init. Its exit empties the pid namespace, so once the
// output pipes are at EOF too nothing of the sandbox runs any more.
func (s *Sandbox) wait() {
	werr := s.cmd.Wait()
	<-s.readEnd
	s.copiers.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.runExit != nil:
		s.exit = exitOf(s.runExit)
	default:
		s.exit = sandbox.Exit{Code: -1, Signal: "killed"}
		if st, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && werr != nil {
			if st.Signaled() {
				s.exit.Signal = st.Signal().String()
			} else {
				s.exit = sandbox.Exit{Code: st.ExitStatus()}
			}
		}
	}
	if s.cg != nil {
		s.exit.OOMKilled = s.cg.oomKilled()
	}
	close(s.done)
}

// exitOf is the Exit an exit or extexit message reports.
func exitOf(m *message) sandbox.Exit {
	if m.Signal != 0 {
		return sandbox.Exit{Code: -1, Signal: syscall.Signal(m.Signal).String()}
	}
	return sandbox.Exit{Code: m.Code}
}

// await waits for a reply of type want from the init.
func (s *Sandbox) await(ctx context.Context, want string) (message, error) {
	reply := func(m message) (message, error) {
		switch m.Type {
		case want:
			return m, nil
		case msgError:
			return m, errors.New(m.Error)
		default:
			return m, fmt.Errorf("unexpected %q from the init", m.Type)
		}
	}
	select {
	case m := <-s.replies:
		return reply(m)
	case <-ctx.Done():
		s.Kill()
		return message{}, ctx.Err()
	case <-s.done:
		// The init sent everything it did before done closed, and a
		// runtime that exits at once can end the init right after its
		// reply: select may pick either, so the reply still counts.
		select {
		case m := <-s.replies:
			return reply(m)
		default:
		}
		return message{}, fmt.Errorf("sandbox init exited (%s)", s.initLog())
	}
}

// initLog is the tail of the init's own stderr, for error messages.
func (s *Sandbox) initLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "init.log"))
	msg := strings.TrimSpace(string(b))
	if len(msg) > 512 {
		msg = msg[len(msg)-512:]
	}
	if msg == "" {
		return "no diagnostics"
	}
	return msg
}

// ID identifies the sandbox (also its cgroup and state directory name).
func (s *Sandbox) ID() string { return s.id }

// Listen opens a listener inside the sandbox's network namespace. The
// socket is made by a host thread that joins the namespace for the call.
func (s *Sandbox) Listen(network, addr string) (net.Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock() // Close waits: the netns fd stays open meanwhile
	if s.closed {
		return nil, sandbox.ErrClosed
	}
	s.d.mu.RLock() // and the host's netns fd too
	defer s.d.mu.RUnlock()
	if s.d.closed {
		return nil, sandbox.ErrClosed
	}
	runtime.LockOSThread()
	if err := unix.Setns(s.netns, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("linux sandbox: enter network namespace: %w", err)
	}
	ln, err := net.Listen(network, addr)
	if rerr := unix.Setns(s.d.hostNet, unix.CLONE_NEWNET); rerr != nil {
		// This thread is stuck in the sandbox's namespace: keep it locked
		// so that it exits with this goroutine instead of serving others.
		if ln != nil {
			ln.Close()
		}
		return nil, fmt.Errorf("linux sandbox: leave network namespace: %w", rerr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("linux sandbox: %w", err)
	}
	return ln, nil
}

// Start specialises the sandbox and executes the runtime. It returns once
// the runtime's execve succeeded (or with why it did not).
func (s *Sandbox) Start(ctx context.Context, spec sandbox.Spec) error {
	if err := normalize(&spec); err != nil {
		return err
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return sandbox.ErrClosed
	case s.started:
		s.mu.Unlock()
		return sandbox.ErrStarted
	}
	s.started = true
	s.mu.Unlock()
	select {
	case <-s.done:
		return fmt.Errorf("linux sandbox: start: %w", sandbox.ErrClosed)
	default:
	}
	if err := s.start(ctx, spec); err != nil {
		s.Kill()
		return fmt.Errorf("linux sandbox: start: %w", err)
	}
	return nil
}

func (s *Sandbox) start(ctx context.Context, spec sandbox.Spec) error {
	if err := s.cg.limits(spec.MemoryMB, spec.Pids, s.d.opts.HardCPULimit); err != nil {
		return fmt.Errorf("cgroup limits: %w", err)
	}
	// The code travels as a detached mount made here, so the host resolves
	// the path and the sandbox never sees the host's tree.
	var fds []int
	defer func() { closeAll(fds) }()
	for _, dir := range []string{spec.CodeDir, spec.RuntimeDir} {
		if dir == "" {
			continue
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return fmt.Errorf("open_tree %s: %w", dir, err)
		}
		fds = append(fds, fd)
	}
	s.copy(spec.Stdout, s.stdoutR)
	s.copy(spec.Stderr, s.stderrR)
	s.mu.Lock()
	s.extExit = spec.ExtensionExited
	s.mu.Unlock()
	m := message{Type: msgStart, Start: &startSpec{
		HasRuntime: spec.RuntimeDir != "",
		Argv:       spec.Argv,
		Extensions: slices.Sorted(slices.Values(spec.Extensions)),
		Env:        spec.Env,
		UID:        spec.UID,
		GID:        spec.GID,
		TmpMB:      spec.TmpMB,
		NoFile:     spec.NoFile,
		Strict:     spec.StrictSyscalls,
	}}
	if err := s.ctl.send(m, fds...); err != nil {
		return err
	}
	_, err := s.await(ctx, msgStarted)
	return err
}

func (s *Sandbox) copy(w io.Writer, r *os.File) {
	if w == nil {
		w = io.Discard
	}
	rc, err := r.SyscallConn()
	if err != nil { // an *os.File from os.Pipe always has one
		panic(err)
	}
	c := &copier{rc: rc, w: w, buf: make([]byte, 32<<10), done: make(chan struct{})}
	s.mu.Lock()
	s.copiersList = append(s.copiersList, c)
	s.mu.Unlock()
	s.copiers.Add(1)
	go func() {
		defer s.copiers.Done()
		c.run()
	}()
}

// ResetScratch empties /tmp and /dev/shm inside the sandbox. It works
// through the init's root (/proc/PID/root) with os.Root, so a symlink the
// function planted cannot point the removal at the host.
func (s *Sandbox) ResetScratch() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return sandbox.ErrClosed
	}
	// Pin the init's root first, then prove the init is still the process
	// that pid names: Signal goes through a pidfd and fails once the init
	// is reaped, so a recycled pid cannot point this at a host process.
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/root", s.cmd.Process.Pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%w: %w", sandbox.ErrClosed, err)
	}
	defer unix.Close(fd)
	if err := s.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		return fmt.Errorf("%w: %w", sandbox.ErrClosed, err)
	}
	for _, dir := range []string{"tmp", "dev/shm"} {
		root, err := os.OpenRoot(fmt.Sprintf("/proc/self/fd/%d/%s", fd, dir))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("linux sandbox: reset %s: %w", dir, err)
		}
		err = emptyRoot(root)
		root.Close()
		if err != nil {
			return fmt.Errorf("linux sandbox: reset %s: %w", dir, err)
		}
	}
	return nil
}

func emptyRoot(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := root.RemoveAll(n); err != nil {
			return err
		}
	}
	return nil
}

// Flush delivers everything the runtime wrote so far to the Spec's writers.
func (s *Sandbox) Flush() {
	s.mu.Lock()
	cs := append([]*copier(nil), s.copiersList...)
	s.mu.Unlock()
	for _, c := range cs {
		c.flush()
	}
}

// copier moves a pipe's bytes to a writer. Every read happens under mu and
// drains the pipe until it would block, so a flush that takes mu and
// drains once more has delivered every byte written before it began:
// exact, and without waking the copier's goroutine (the invocation path
// pays one uncontended lock and one read that returns EAGAIN).
type copier struct {
	rc   syscall.RawConn
	w    io.Writer
	mu   sync.Mutex
	buf  []byte // guarded by mu
	eof  bool   // guarded by mu
	done chan struct{}
}

func (c *copier) run() {
	defer close(c.done)
	// Read calls drain whenever the pipe is readable and returns once drain
	// reports the end (or the file is closed under it).
	c.rc.Read(func(fd uintptr) bool { return c.drain(int(fd)) })
}

// drain reads fd until it would block (false) or is at its end (true).
func (c *copier) drain(fd int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.eof {
		n, err := unix.Read(fd, c.buf)
		if n > 0 {
			c.w.Write(c.buf[:n])
			continue
		}
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		c.eof = true // 0 bytes: every write end is closed; or a read error
	}
	return true
}

func (c *copier) flush() {
	c.rc.Control(func(fd uintptr) { c.drain(int(fd)) })
}

func normalize(spec *sandbox.Spec) error {
	if spec.UID <= 0 || spec.GID <= 0 {
		return errors.New("linux sandbox: spec: UID and GID must be positive")
	}
	if len(spec.Argv) == 0 || !filepath.IsAbs(spec.Argv[0]) {
		return errors.New("linux sandbox: spec: Argv[0] must be an absolute path")
	}
	if spec.CodeDir == "" {
		return errors.New("linux sandbox: spec: CodeDir is required")
	}
	for _, p := range spec.Extensions {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("linux sandbox: spec: extension %q is not an absolute path", p)
		}
	}
	for _, dir := range []string{spec.CodeDir, spec.RuntimeDir} {
		if dir == "" {
			continue
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("linux sandbox: spec: %q is not a directory", dir)
		}
	}
	if spec.MemoryMB <= 0 {
		spec.MemoryMB = defaultMemoryMB
	}
	if spec.TmpMB <= 0 {
		spec.TmpMB = defaultTmpMB
	}
	if spec.Pids <= 0 {
		spec.Pids = defaultPids
	}
	if spec.NoFile <= 0 {
		spec.NoFile = defaultNoFile
	}
	return nil
}

// Done is closed once the init, and with it everything in the sandbox, is gone.
func (s *Sandbox) Done() <-chan struct{} { return s.done }

// Exit describes how the runtime ended; valid after Done.
func (s *Sandbox) Exit() sandbox.Exit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exit
}

// Stats reads the cgroup's usage.
func (s *Sandbox) Stats() (sandbox.Stats, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return sandbox.Stats{}, sandbox.ErrClosed
	}
	peak, cur, cpu, err := s.cg.usage()
	if err != nil {
		return sandbox.Stats{}, fmt.Errorf("linux sandbox: stats: %w", err)
	}
	return sandbox.Stats{MemoryPeakBytes: peak, MemoryBytes: cur, CPUTime: cpu}, nil
}

// MemoryBound reports whether the sandbox's memory is exhausted by
// unreclaimable pages (see sandbox.MemoryBound).
func (s *Sandbox) MemoryBound() bool {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	return !closed && s.cg != nil && s.cg.memoryBound()
}

// Kill SIGKILLs the init (which takes the whole pid namespace with it) and
// every process in the cgroup.
func (s *Sandbox) Kill() error {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
	}
	if s.cg == nil {
		return nil
	}
	if err := s.cg.kill(); err != nil {
		return fmt.Errorf("linux sandbox: kill: %w", err)
	}
	return nil
}

// closeWait bounds how long Close waits for the init to be reaped.
const closeWait = 10 * time.Second

// Close kills the sandbox and removes its cgroup and state directory. Its
// root lived only in the init's mount namespace, so nothing stays mounted.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		var errs []error
		if err := s.Kill(); err != nil {
			errs = append(errs, err)
		}
		if s.cmd != nil {
			select {
			case <-s.done:
			case <-time.After(closeWait):
				errs = append(errs, fmt.Errorf("linux sandbox: init %d not reaped after %v", s.cmd.Process.Pid, closeWait))
			}
		}
		if s.ctl != nil {
			s.ctl.Close()
		}
		for _, f := range []*os.File{s.stdoutR, s.stderrR} {
			if f != nil {
				f.Close()
			}
		}
		if s.netns >= 0 {
			unix.Close(s.netns)
		}
		if s.cg != nil {
			if err := s.cg.remove(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("linux sandbox: %w", err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
