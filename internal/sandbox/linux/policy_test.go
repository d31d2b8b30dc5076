//go:build linux

package linux_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/sandbox"
)

// TestStrictSyscalls: the strict profile refuses what it takes away (a
// listening socket, System V IPC, memfd_create, affinity changes) while
// the default profile allows them, and python still runs under it.
func TestStrictSyscalls(t *testing.T) {
	d, _ := newDriver(t)
	prog := `
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def try_(name, f):
    try:
        r = f()
        print(name, 'ALLOWED' if r is None or r >= 0 else os.strerror(ctypes.get_errno()))
    except OSError as e:
        print(name, e.strerror)
def listen():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); s.close()
try_('listen', listen)
try_('shmget', lambda: libc.shmget(0, 4096, 0o1600))
try_('memfd', lambda: libc.memfd_create(b'x', 0))
try_('sched', lambda: libc.sched_setaffinity(0, 8, ctypes.byref(ctypes.c_ulong(1))))
socket.socket().close()
print('python-ok')
`
	def := py(t, d, prog)
	strict := py(t, d, prog, func(s *sandbox.Spec) { s.StrictSyscalls = true })
	for _, name := range []string{"listen", "shmget", "memfd", "sched"} {
		if !strings.Contains(def.stdout, name+" ALLOWED") {
			t.Errorf("default profile: %s should be allowed; output %q", name, def.stdout)
		}
		if !strings.Contains(strict.stdout, name+" Operation not permitted") {
			t.Errorf("strict profile: %s should be refused with EPERM; output %q stderr %q", name, strict.stdout, strict.stderr)
		}
	}
	if !strings.Contains(strict.stdout, "python-ok") {
		t.Errorf("python under the strict profile: %q %q", strict.stdout, strict.stderr)
	}
}

// TestResetScratch: /tmp and /dev/shm are emptied in a running sandbox,
// and a symlink planted there to a host path removes only the link.
func TestResetScratch(t *testing.T) {
	d, _ := newDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hostDir := t.TempDir()
	victim := filepath.Join(hostDir, "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	sb, err := d.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	var out lockedBuffer
	spec := baseSpec(t, "/bin/sh", "-c", `
mkdir -p /tmp/a/b && echo secret > /tmp/a/b/f && echo s > /dev/shm/seg && ln -s `+hostDir+` /tmp/link && ln -s / /tmp/rootlink
echo ready
while [ ! -e /var/task/never ]; do
  if [ -z "$(ls -A /tmp)" ] && [ -z "$(ls -A /dev/shm)" ]; then echo emptied; exit 0; fi
  sleep 0.05
done`)
	spec.Stdout, spec.Stderr = &out, &out
	if err := sb.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(out.String(), "ready") {
		if ctx.Err() != nil {
			t.Fatalf("never ready: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := sb.ResetScratch(); err != nil {
		t.Fatalf("ResetScratch: %v", err)
	}
	select {
	case <-sb.Done():
	case <-ctx.Done():
		t.Fatalf("sandbox never saw empty scratch dirs: %q", out.String())
	}
	if !strings.Contains(out.String(), "emptied") {
		t.Errorf("output %q", out.String())
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
		t.Errorf("host file behind a planted symlink: %q %v", b, err)
	}
	sb.Close()
	if err := sb.ResetScratch(); err == nil {
		t.Error("ResetScratch on a closed sandbox succeeded")
	}
}
