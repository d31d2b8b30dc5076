//go:build linux

package linux_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ember-run/ember/internal/sandbox"
)

// extensionsCodeDir makes a code directory with executables under
// extensions/.
func extensionsCodeDir(t *testing.T, exts map[string]string) string {
	t.Helper()
	dir := codeDir(t, map[string]string{"hello.txt": "hello\n"})
	ext := filepath.Join(dir, "extensions")
	if err := os.Mkdir(ext, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, script := range exts {
		if err := os.WriteFile(filepath.Join(ext, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type extExit struct {
	path string
	exit sandbox.Exit
}

// Extensions run beside the runtime as the tenant, in the sandbox's cgroup;
// one exiting does not end the sandbox, and none survives Close.
func TestExtensionsRunBesideRuntime(t *testing.T) {
	d, _ := newDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sb, err := d.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()

	spec := baseSpec(t, "/bin/sh", "-c", `echo "runtime up"; exec sleep 1000`)
	spec.CodeDir = extensionsCodeDir(t, map[string]string{
		"long":  "#!/bin/sh\necho \"long up uid=$(id -u) lang=$LANG\"\nexec sleep 1001\n",
		"quick": "#!/bin/sh\necho quick up >&2\nexit 3\n",
	})
	spec.Extensions = []string{"/var/task/extensions/quick", "/var/task/extensions/long"}
	exits := make(chan extExit, 4)
	spec.ExtensionExited = func(path string, e sandbox.Exit) { exits <- extExit{path, e} }
	var out, errb lockedBuffer
	spec.Stdout, spec.Stderr = &out, &errb
	if err := sb.Start(ctx, spec); err != nil {
		t.Fatalf("Start: %v", err)
	}

	select {
	case e := <-exits:
		if e.path != "/var/task/extensions/quick" || e.exit != (sandbox.Exit{Code: 3}) {
			t.Errorf("ExtensionExited(%q, %+v)", e.path, e.exit)
		}
	case <-ctx.Done():
		t.Fatal("the quick extension's exit was not reported")
	}

	// Find the long-running extension from the host, in the cgroup.
	var extPid int
	var pids []int
	for range 200 {
		pids = cgroupProcs(t, sb.ID())
		for _, p := range pids {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
			if bytes.Equal(cmd, []byte("sleep\x001001\x00")) {
				extPid = p
			}
		}
		// The output is copied from the pipes in the background: wait
		// for every process's line, not just for the processes.
		if extPid != 0 && strings.Contains(out.String(), "runtime up") && strings.Contains(out.String(), "long up") &&
			strings.Contains(errb.String(), "quick up") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if extPid == 0 {
		t.Fatalf("no extension process in the cgroup %v; stdout %q stderr %q", pids, out.String(), errb.String())
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", extPid))
	if !strings.Contains(string(status), "\nUid:\t1000\t1000\t1000\t1000\n") {
		t.Errorf("extension credentials:\n%s", status)
	}
	for _, want := range []string{"long up uid=1000 lang=C.UTF-8", "runtime up"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout %q lacks %q", out.String(), want)
		}
	}
	if !strings.Contains(errb.String(), "quick up") {
		t.Errorf("stderr %q", errb.String())
	}
	select {
	case <-sb.Done():
		t.Fatalf("the sandbox ended when an extension exited: %+v", sb.Exit())
	default:
	}

	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, pids)
}

// The runtime's exit still ends the sandbox, taking the extensions along.
func TestExtensionsEndWithRuntime(t *testing.T) {
	d, _ := newDriver(t)
	spec := baseSpec(t, "/bin/sh", "-c", `sleep 0.2; exit 4`)
	spec.CodeDir = extensionsCodeDir(t, map[string]string{"ext": "#!/bin/sh\nexec sleep 1002\n"})
	spec.Extensions = []string{"/var/task/extensions/ext"}
	r := runSpec(t, d, spec)
	if r.exit != (sandbox.Exit{Code: 4}) {
		t.Errorf("exit %+v, want the runtime's code 4", r.exit)
	}
}

func TestExtensionStartErrors(t *testing.T) {
	d, _ := newDriver(t)
	ctx := context.Background()
	for _, tc := range []struct {
		ext, want string
	}{
		{"/var/task/extensions/missing", "exec extension /var/task/extensions/missing: no such file"},
		{"extensions/relative", "not an absolute path"},
	} {
		sb, err := d.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		spec := baseSpec(t, "/bin/sleep", "1000")
		spec.CodeDir = extensionsCodeDir(t, nil)
		spec.Extensions = []string{tc.ext}
		if err := sb.Start(ctx, spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start with extension %q: %v, want %q", tc.ext, err, tc.want)
		}
		sb.Close()
	}
}
