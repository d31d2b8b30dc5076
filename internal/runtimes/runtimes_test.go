package runtimes

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestCommand(t *testing.T) {
	tests := []struct {
		runtime, handler string
		want             []string
		err              error
	}{
		{"provided", "", []string{"/var/task/bootstrap"}, nil},
		{"provided.al2", "ignored", []string{"/var/task/bootstrap"}, nil},
		{"provided.al2023", "", []string{"/var/task/bootstrap"}, nil},
		{"python3.9", "app.handler", []string{"/usr/bin/python3", "-u", "/opt/ember/python/bootstrap.py"}, nil},
		{"python3.14", "app.handler", []string{"/usr/bin/python3", "-u", "/opt/ember/python/bootstrap.py"}, nil},
		{"nodejs18.x", "index.handler", []string{"/usr/bin/node", "/opt/ember/node/bootstrap.mjs"}, nil},
		{"nodejs24.x", "index.handler", []string{"/usr/bin/node", "/opt/ember/node/bootstrap.mjs"}, nil},
		{"python3.12", "", nil, ErrNoHandler},
		{"nodejs20.x", "", nil, ErrNoHandler},
		{"python2.7", "app.handler", nil, ErrUnknownRuntime},
		{"python3.", "app.handler", nil, ErrUnknownRuntime},
		{"java21", "a::b", nil, ErrUnknownRuntime},
		{"provided.al2024", "", nil, ErrUnknownRuntime},
		{"", "", nil, ErrUnknownRuntime},
	}
	for _, tt := range tests {
		got, err := Command(tt.runtime, tt.handler)
		if !errors.Is(err, tt.err) || !slices.Equal(got, tt.want) {
			t.Errorf("Command(%q, %q) = %q, %v; want %q, %v", tt.runtime, tt.handler, got, err, tt.want, tt.err)
		}
	}
}

func TestCommandCoversEveryClient(t *testing.T) {
	// Every client Command can name is in Files.
	for _, rt := range []string{"python3.12", "nodejs20.x"} {
		argv, err := Command(rt, "a.b")
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(argv[len(argv)-1], MountDir+"/")
		if _, err := fs.Stat(Files, name); err != nil {
			t.Errorf("%s: %s not embedded: %v", rt, name, err)
		}
	}
}

func TestEnv(t *testing.T) {
	has := func(env []string, kv string) bool { return slices.Contains(env, kv) }
	py := Env("python3.11")
	for _, kv := range []string{"PYTHONPATH=/var/task", "PYTHONDONTWRITEBYTECODE=1", "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "TZ=:UTC"} {
		if !has(py, kv) {
			t.Errorf("python env %q lacks %s", py, kv)
		}
	}
	node := Env("nodejs22.x")
	if !has(node, "NODE_PATH=/var/task/node_modules:/var/task") || has(node, "PYTHONPATH=/var/task") {
		t.Errorf("node env %q", node)
	}
	prov := Env("provided.al2023")
	if !has(prov, "TZ=:UTC") || len(prov) != 3 {
		t.Errorf("provided env %q", prov)
	}
	if env := Env("ruby3.3"); env != nil {
		t.Errorf("unknown runtime env %q, want nil", env)
	}
	for _, env := range [][]string{py, node, prov} {
		seen := map[string]bool{}
		for _, kv := range env {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || seen[k] {
				t.Errorf("bad or repeated entry %q in %q", kv, env)
			}
			seen[k] = true
		}
	}
}

func TestInstall(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "a", "runtime")
	for range 2 { // installing over an earlier install is fine
		if err := Install(dir); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	err := fs.WalkDir(Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Stat(filepath.Join(dir, path))
		if err != nil {
			return err
		}
		want := os.FileMode(0o644)
		if d.IsDir() {
			want = 0o755 | os.ModeDir
		} else {
			n++
			embedded, _ := Files.ReadFile(path)
			onDisk, _ := os.ReadFile(filepath.Join(dir, path))
			if string(embedded) != string(onDisk) {
				t.Errorf("%s differs from the embedded file", path)
			}
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Errorf("installed %d files, want the python and node clients", n)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*", ".install-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %q", leftovers)
	}
}
