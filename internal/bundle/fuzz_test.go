package bundle

import (
	"runtime"
	"time"
	"archive/zip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

var fuzzLimits = Limits{MaxZipped: 1 << 20, MaxUnzipped: 1 << 20, MaxEntries: 64}

func addSeeds(f *testing.F) {
	f.Add(goodBundle(f))
	f.Add(buildZip(f, file("a", "x")))
	f.Add(buildZip(f))
	f.Add(buildZip(f, symlink("d/a", ".."), symlink("b", "d/a/..")))
	f.Add(buildZip(f, file("../x", "x"), special("p", fs.ModeNamedPipe)))
	f.Add(rawZip(f, "lie", make([]byte, 4096), func(h *zip.FileHeader) { h.UncompressedSize64 = 10 }))
	f.Add([]byte("PK\x05\x06"))
}

// FuzzValidate checks that Validate neither panics nor exceeds its limits
// on arbitrary input.
func FuzzValidate(f *testing.F) {
	addSeeds(f)
	lim := fuzzLimits
	f.Fuzz(func(t *testing.T, b []byte) {
		tm := time.AfterFunc(2*time.Second, func() {
			os.WriteFile("/tmp/slow.bin", b, 0o644)
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			os.WriteFile("/tmp/slow.stack", buf[:n], 0o644)
		})
		defer tm.Stop()
		st := time.Now()
		defer func() { if d := time.Since(st); d > 100*time.Millisecond { os.WriteFile("/tmp/slow2.bin", b, 0o644) } }()
		info, err := Validate(b, lim)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps neither ErrInvalid nor ErrTooLarge", err)
			}
			return
		}
		if info.Size != int64(len(b)) || info.Entries < 1 || info.Entries > lim.MaxEntries ||
			info.UnzippedSize < 0 || info.UnzippedSize > lim.MaxUnzipped {
			t.Fatalf("implausible Info %+v for %d bytes", info, len(b))
		}
	})
}

// FuzzExtract checks that whatever Validate accepts extracts, and only
// inside the target directory. It is separate from FuzzValidate because
// touching the file system makes each run far slower.
func FuzzExtract(f *testing.F) {
	addSeeds(f)
	lim := fuzzLimits
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Validate(b, lim)
		if err != nil {
			return
		}
		parent := t.TempDir()
		dst := filepath.Join(parent, "task")
		if err := os.Mkdir(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		if dst, err = filepath.EvalSymlinks(dst); err != nil {
			t.Fatal(err)
		}
		if err := Extract(context.Background(), b, dst, lim); err != nil {
			t.Fatalf("Validate accepted but Extract failed: %v", err)
		}
		if names, _ := os.ReadDir(parent); len(names) != 1 {
			t.Fatalf("extraction wrote outside dst: %v", names)
		}
		var total int64
		filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := d.Info()
			if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
				t.Fatalf("%s: mode %v keeps special bits", p, fi.Mode())
			}
			switch fi.Mode().Type() {
			case 0:
				total += fi.Size()
			case fs.ModeSymlink:
				// A link must not lead outside dst, even through others.
				if real, err := filepath.EvalSymlinks(p); err == nil {
					rel, err := filepath.Rel(dst, real)
					if err != nil || !filepath.IsLocal(rel) && rel != "." {
						t.Fatalf("%s resolves to %s, outside %s", p, real, dst)
					}
				}
			case fs.ModeDir:
			default:
				t.Fatalf("%s: unexpected type %v", p, fi.Mode().Type())
			}
			return nil
		})
		if total > info.UnzippedSize {
			t.Fatalf("extracted %d bytes of files, Validate counted %d", total, info.UnzippedSize)
		}
	})
}
