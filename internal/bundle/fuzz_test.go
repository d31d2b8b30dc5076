package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

var fuzzLimits = Limits{MaxZipped: 1 << 20, MaxUnzipped: 1 << 20, MaxEntries: 64}

// addSeeds adds small zips: the engine's minimizer is quadratic in the
// input length, and large seeds leave little of a short run for fuzzing.
func addSeeds(f *testing.F) {
	f.Add(storedZip(f, exe("bootstrap", "#!"), dir("d/"), symlink("d/l", "../bootstrap")))
	f.Add(buildZip(f, file("a", "xxxxxxxx")))
	f.Add(buildZip(f))
	f.Add(storedZip(f, symlink("d/a", ".."), symlink("b", "d/a/..")))
	f.Add(storedZip(f, file("../x", "x"), special("p", fs.ModeNamedPipe)))
	f.Add(rawZip(f, "lie", make([]byte, 64), func(h *zip.FileHeader) { h.UncompressedSize64 = 10 }))
	f.Add([]byte("PK\x05\x06"))
}

// storedZip is buildZip without compression, which leaves more for the
// fuzzer's mutations to reach.
func storedZip(t testing.TB, ents ...zent) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Store}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzValidate checks that Validate neither panics nor exceeds its limits
// on arbitrary input.
func FuzzValidate(f *testing.F) {
	addSeeds(f)
	lim := fuzzLimits
	f.Fuzz(func(t *testing.T, b []byte) {
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
