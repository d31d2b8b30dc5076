// Package runtimes provides ember's own Lambda runtime clients for the
// interpreted runtimes (python3.*, nodejs*) and says how to start each
// runtime inside a sandbox: the argv to execute and the runtime-specific
// environment. The clients are small programs written against the public
// Lambda Runtime API using only their language's standard library; they are
// embedded in the ember binary, written once to the host's data directory
// with Install, and mounted read-only at MountDir in every sandbox.
package runtimes

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Sentinel errors.
var (
	ErrUnknownRuntime = errors.New("runtimes: unknown runtime")
	ErrNoHandler      = errors.New("runtimes: handler required")
)

// Paths inside the sandbox.
const (
	// MountDir is where the directory written by Install is mounted.
	MountDir = "/opt/ember"
	// TaskRoot is where the function's code is mounted (LAMBDA_TASK_ROOT).
	TaskRoot = "/var/task"

	pythonBin = "/usr/bin/python3"
	nodeBin   = "/usr/bin/node"
)

// Files holds the runtime clients laid out as they appear under MountDir:
// python/bootstrap.py and node/bootstrap.mjs.
//
//go:embed python node
var Files embed.FS

// Install writes Files into dir, creating it if needed: directories 0755,
// files 0644, whatever the umask, so the unprivileged sandbox user can read
// them. Each file is written to a temporary name and renamed into place, so
// a runtime starting concurrently never reads a partly written client.
func Install(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("runtimes: install: %w", err)
	}
	err := fs.WalkDir(Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			return os.Chmod(dst, 0o755)
		}
		data, err := Files.ReadFile(path)
		if err != nil {
			return err
		}
		return writeFile(dst, data, 0o644)
	})
	if err != nil {
		return fmt.Errorf("runtimes: install: %w", err)
	}
	return nil
}

func writeFile(dst string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(dst), ".install-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// kind classifies a Lambda runtime identifier.
type kind int

const (
	unknown kind = iota
	provided
	python
	node
)

func classify(runtime string) kind {
	switch {
	case runtime == "provided" || runtime == "provided.al2" || runtime == "provided.al2023":
		return provided
	case strings.HasPrefix(runtime, "python3.") && len(runtime) > len("python3."):
		return python
	case strings.HasPrefix(runtime, "nodejs") && len(runtime) > len("nodejs"):
		return node
	}
	return unknown
}

// Command returns the argv that starts runtime inside a sandbox.
//
// The provided runtimes execute the bundle's own bootstrap. Every python3.*
// identifier runs the host's /usr/bin/python3 and every nodejs* identifier
// the host's /usr/bin/node, whatever minor version the function asked for:
// ember does not ship interpreters, so a function declaring python3.13 on a
// host with python 3.11 gets 3.11. The handler itself reaches the client
// through _HANDLER; it is checked here only for being present, since an
// interpreted runtime cannot start without one.
func Command(runtime, handler string) ([]string, error) {
	k := classify(runtime)
	if k == unknown {
		return nil, fmt.Errorf("%w: %q", ErrUnknownRuntime, runtime)
	}
	if k != provided && handler == "" {
		return nil, fmt.Errorf("%w for %s", ErrNoHandler, runtime)
	}
	switch k {
	case python:
		// -u: stdout and stderr unbuffered, so print() output reaches the
		// invocation's log before the response is posted.
		return []string{pythonBin, "-u", MountDir + "/python/bootstrap.py"}, nil
	case node:
		return []string{nodeBin, MountDir + "/node/bootstrap.mjs"}, nil
	}
	return []string{TaskRoot + "/bootstrap"}, nil
}

// Env returns the runtime-specific environment entries ("K=V") for
// runtime; nil for an unknown runtime. The host adds the Lambda variables
// (AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT, ...) and the
// function's own variables.
func Env(runtime string) []string {
	// Lambda runs every runtime in UTC with a UTF-8 locale.
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8",
		"TZ=:UTC",
	}
	switch classify(runtime) {
	case unknown:
		return nil
	case python:
		env = append(env,
			"LAMBDA_RUNTIME_DIR="+MountDir,
			"PYTHONPATH="+TaskRoot,
			// /var/task is read-only; do not even try to write __pycache__.
			"PYTHONDONTWRITEBYTECODE=1",
			"PYTHONUNBUFFERED=1",
		)
	case node:
		env = append(env,
			"LAMBDA_RUNTIME_DIR="+MountDir,
			"NODE_PATH="+TaskRoot+"/node_modules:"+TaskRoot,
		)
	}
	return env
}
