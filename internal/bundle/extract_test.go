package bundle

import (
	"archive/zip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExtractGood(t *testing.T) {
	dst := t.TempDir()
	if err := Extract(context.Background(), goodBundle(t), dst, DefaultLimits()); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	tests := []struct {
		path string
		mode fs.FileMode // full mode including type
		body string      // file content or symlink target
	}{
		{path: "bootstrap", mode: 0o755, body: "#!/bin/sh\necho hi\n"},
		{path: "lib", mode: fs.ModeDir | 0o755},
		{path: "lib/util", mode: fs.ModeDir | 0o755},
		{path: "lib/util/strings.js", mode: 0o644, body: "module.exports = {}\n"},
		{path: "lib/current", mode: fs.ModeSymlink, body: "util/strings.js"},
		{path: "lib/up", mode: fs.ModeSymlink, body: "../bootstrap"},
		{path: "suid", mode: 0o755, body: "x"},
		{path: "win/style.txt", mode: 0o644, body: "backslashes"},
		{path: "dot", mode: fs.ModeDir | 0o755},
		{path: "dot/file", mode: 0o644, body: "dot"},
	}
	for _, tt := range tests {
		p := filepath.Join(dst, filepath.FromSlash(tt.path))
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", tt.path, err)
			continue
		}
		got := fi.Mode()
		if got.Type() == fs.ModeSymlink {
			got = fs.ModeSymlink // link permissions are not meaningful on Linux
		}
		if got != tt.mode {
			t.Errorf("%s: mode %v, want %v", tt.path, got, tt.mode)
		}
		switch {
		case tt.mode.Type() == fs.ModeSymlink:
			target, err := os.Readlink(p)
			if err != nil || target != tt.body {
				t.Errorf("%s: link to %q (%v), want %q", tt.path, target, err, tt.body)
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: link does not resolve: %v", tt.path, err)
			}
		case tt.mode.IsRegular():
			b, err := os.ReadFile(p)
			if err != nil || string(b) != tt.body {
				t.Errorf("%s: content %q (%v), want %q", tt.path, b, err, tt.body)
			}
		}
	}
	var n int
	filepath.WalkDir(dst, func(string, fs.DirEntry, error) error { n++; return nil })
	if want := len(tests) + 2; n != want { // + dst itself, + "win"
		t.Errorf("extracted %d paths, want %d", n, want)
	}
}

func TestExtractRejects(t *testing.T) {
	tests := []struct {
		name    string
		zip     []byte
		wantErr error
	}{
		{name: "zip slip", zip: buildZip(t, file("../../etc/passwd", "x")), wantErr: ErrInvalid},
		{name: "symlink then write through it", zip: buildZip(t, symlink("l", "."), file("l/x", "x")), wantErr: ErrInvalid},
		{name: "absolute symlink", zip: buildZip(t, symlink("l", "/etc/passwd")), wantErr: ErrInvalid},
		{name: "fifo", zip: buildZip(t, special("p", fs.ModeNamedPipe)), wantErr: ErrInvalid},
		{name: "too large", zip: goodBundle(t), wantErr: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "task")
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			lim := DefaultLimits()
			if tt.wantErr == ErrTooLarge {
				lim.MaxZipped = 10
			}
			err := Extract(context.Background(), tt.zip, dst, lim)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Extract = %v, want %v", err, tt.wantErr)
			}
			// Validation fails before anything is written.
			for _, d := range []string{parent, dst} {
				names, _ := os.ReadDir(d)
				if d == dst && len(names) != 0 || d == parent && len(names) != 1 {
					t.Errorf("%s holds %v after a rejected bundle", d, names)
				}
			}
		})
	}
}

func TestExtractNotEmpty(t *testing.T) {
	dst := t.TempDir()
	if err := os.WriteFile(filepath.Join(dst, "old"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Extract(context.Background(), goodBundle(t), dst, DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Extract into non-empty dir = %v, want not-empty error", err)
	}
}

func TestExtractMissingDir(t *testing.T) {
	err := Extract(context.Background(), goodBundle(t), filepath.Join(t.TempDir(), "nope"), DefaultLimits())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Extract into missing dir = %v, want fs.ErrNotExist", err)
	}
}

func TestExtractCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := t.TempDir()
	if err := Extract(ctx, goodBundle(t), dst, DefaultLimits()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Extract with canceled ctx = %v, want context.Canceled", err)
	}
}

// TestExtractRefusesSymlinkParent exercises the extractor's own guard,
// which Validate normally makes unreachable.
func TestExtractRefusesSymlinkParent(t *testing.T) {
	b := buildZip(t, symlink("l", "."), file("l/x", "x"))
	zr, err := zip.NewReader(strings.NewReader(string(b)), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	x := extractor{ctx: context.Background(), root: root, dirs: map[string]bool{".": true}, links: map[string]bool{}, budget: 1 << 20, limit: 1 << 20}
	if err := x.entry(entry{f: zr.File[0], name: "l", kind: kindSymlink, target: "."}); err != nil {
		t.Fatalf("symlink: %v", err)
	}
	err = x.entry(entry{f: zr.File[1], name: "l/x", kind: kindFile})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("write through symlink = %v, want ErrInvalid", err)
	}
	// Even without the bookkeeping, O_EXCL refuses to reuse the link.
	delete(x.links, "l")
	err = x.entry(entry{f: zr.File[1], name: "l", kind: kindFile})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("overwrite symlink = %v, want ErrInvalid", err)
	}
	if fi, err := root.Lstat("l"); err != nil || fi.Mode().Type() != fs.ModeSymlink {
		t.Fatalf("l is no longer the symlink: %v %v", fi, err)
	}
}
