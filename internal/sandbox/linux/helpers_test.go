//go:build linux

package linux_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/sandbox"
	"github.com/ember-run/ember/internal/sandbox/linux"
	"github.com/ember-run/ember/internal/testenv"
)

func TestMain(m *testing.M) {
	if linux.IsInit() {
		linux.RunInit()
	}
	os.Exit(m.Run())
}

// newDriver makes a driver whose state lives in a temp dir; it skips
// without root.
func newDriver(t testing.TB) (*linux.Driver, string) {
	t.Helper()
	testenv.RequireRoot(t)
	state := filepath.Join(t.TempDir(), "sandboxes")
	opts := linux.Options{StateDir: state, CgroupParent: "ember-test"}
	// EMBER_SANDBOX_INIT names another binary to re-execute as the init
	// (e.g. a built ember), to measure its start-up cost.
	if bin := os.Getenv("EMBER_SANDBOX_INIT"); bin != "" {
		opts.InitArgs = []string{bin, linux.InitCommand}
	}
	d, err := linux.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d, state
}

// codeDir makes a world-readable code directory holding files.
func codeDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// lockedBuffer is an io.Writer safe for the driver's copier goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func baseSpec(t testing.TB, argv ...string) sandbox.Spec {
	return sandbox.Spec{
		CodeDir:  codeDir(t, map[string]string{"hello.txt": "hello from the code dir\n"}),
		Argv:     argv,
		Env:      []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"},
		UID:      1000,
		GID:      1000,
		MemoryMB: 256,
		TmpMB:    16,
		Pids:     128,
		NoFile:   256,
	}
}

type result struct {
	stdout, stderr string
	exit           sandbox.Exit
	stats          sandbox.Stats
}

// runSpec creates a sandbox, starts spec in it and waits for it to end.
func runSpec(t testing.TB, d *linux.Driver, spec sandbox.Spec) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sb, err := d.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer sb.Close()
	var out, errb lockedBuffer
	spec.Stdout, spec.Stderr = &out, &errb
	if err := sb.Start(ctx, spec); err != nil {
		t.Fatalf("Start: %v (stderr %q)", err, errb.String())
	}
	select {
	case <-sb.Done():
	case <-ctx.Done():
		t.Fatalf("sandbox did not finish; stdout %q stderr %q", out.String(), errb.String())
	}
	st, _ := sb.Stats()
	if err := sb.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	return result{stdout: out.String(), stderr: errb.String(), exit: sb.Exit(), stats: st}
}

// sh runs a /bin/sh script in a fresh sandbox.
func sh(t testing.TB, d *linux.Driver, script string, mods ...func(*sandbox.Spec)) result {
	t.Helper()
	spec := baseSpec(t, "/bin/sh", "-c", script)
	for _, m := range mods {
		m(&spec)
	}
	return runSpec(t, d, spec)
}

// py runs a python3 program in a fresh sandbox.
func py(t testing.TB, d *linux.Driver, prog string, mods ...func(*sandbox.Spec)) result {
	t.Helper()
	spec := baseSpec(t, "/usr/bin/python3", "-c", prog)
	for _, m := range mods {
		m(&spec)
	}
	return runSpec(t, d, spec)
}
