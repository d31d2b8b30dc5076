package bundle

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash/crc32"
	"io/fs"
	"strconv"
	"strings"
	"testing"
)

// zent describes one entry of a zip built by a test.
type zent struct {
	name string
	mode fs.FileMode // 0 means a plain 0644 file (or 0755 dir for names ending in "/")
	body string
}

func file(name, body string) zent { return zent{name: name, mode: 0o644, body: body} }
func exe(name, body string) zent  { return zent{name: name, mode: 0o755, body: body} }
func dir(name string) zent        { return zent{name: name, mode: fs.ModeDir | 0o755} }
func symlink(name, target string) zent {
	return zent{name: name, mode: fs.ModeSymlink | 0o777, body: target}
}
func special(name string, m fs.FileMode) zent { return zent{name: name, mode: m | 0o644} }

func buildZip(t testing.TB, ents ...zent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawZip writes one deflated entry whose header claims the given sizes and
// checksum instead of the true ones.
func rawZip(t testing.TB, name string, data []byte, mutate func(h *zip.FileHeader)) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, err := flate.NewWriter(&comp, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	fw.Close()
	h := &zip.FileHeader{
		Name:               name,
		Method:             zip.Deflate,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(comp.Len()),
		UncompressedSize64: uint64(len(data)),
	}
	mutate(h)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func goodBundle(t testing.TB) []byte {
	return buildZip(t,
		exe("bootstrap", "#!/bin/sh\necho hi\n"),
		dir("lib/"),
		file("lib/util/strings.js", "module.exports = {}\n"),
		dir("lib/util/"),
		symlink("lib/current", "util/strings.js"),
		symlink("lib/up", "../bootstrap"),
		zent{name: "suid", mode: fs.ModeSetuid | fs.ModeSticky | 0o755, body: "x"},
		file(`win\style.txt`, "backslashes"),
		file("./dot/file", "dot"),
		zent{name: "./", mode: fs.ModeDir | 0o755},
	)
}

func TestValidateGood(t *testing.T) {
	b := goodBundle(t)
	info, err := Validate(b, DefaultLimits())
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	sum := sha256.Sum256(b)
	if info.SHA256 != sum {
		t.Errorf("SHA256 = %x, want %x", info.SHA256, sum)
	}
	if want := base64.StdEncoding.EncodeToString(sum[:]); info.CodeSha256 != want {
		t.Errorf("CodeSha256 = %q, want %q", info.CodeSha256, want)
	}
	if info.Size != int64(len(b)) {
		t.Errorf("Size = %d, want %d", info.Size, len(b))
	}
	wantUnzipped := int64(len("#!/bin/sh\necho hi\n") + len("module.exports = {}\n") +
		len("util/strings.js") + len("../bootstrap") + 1 + len("backslashes") + len("dot"))
	if info.UnzippedSize != wantUnzipped {
		t.Errorf("UnzippedSize = %d, want %d", info.UnzippedSize, wantUnzipped)
	}
	if info.Entries != 10 {
		t.Errorf("Entries = %d, want 10", info.Entries)
	}
}

func TestValidateRejects(t *testing.T) {
	small := Limits{MaxZipped: 1 << 20, MaxUnzipped: 1 << 20, MaxEntries: 16}
	tests := []struct {
		name    string
		zip     func(t *testing.T) []byte
		lim     Limits
		wantErr error
		reason  string // substring of the error
	}{
		{name: "not a zip", zip: func(*testing.T) []byte { return []byte("hello, world") }, reason: "not a valid zip file"},
		{name: "nil", zip: func(*testing.T) []byte { return nil }, reason: "not a valid zip file"},
		{name: "empty zip", zip: func(t *testing.T) []byte { return buildZip(t) }, reason: "no entries"},
		{name: "zip slip", zip: func(t *testing.T) []byte { return buildZip(t, file("../../etc/passwd", "x")) }, reason: `entry "../../etc/passwd": path contains ".."`},
		{name: "inner dotdot", zip: func(t *testing.T) []byte { return buildZip(t, file("a/../../x", "x")) }, reason: `".."`},
		{name: "harmless dotdot still rejected", zip: func(t *testing.T) []byte { return buildZip(t, file("a/../b", "x")) }, reason: `".."`},
		{name: "backslash dotdot", zip: func(t *testing.T) []byte { return buildZip(t, file(`a\..\..\x`, "x")) }, reason: `".."`},
		{name: "absolute", zip: func(t *testing.T) []byte { return buildZip(t, file("/etc/passwd", "x")) }, reason: "absolute path"},
		{name: "absolute backslash", zip: func(t *testing.T) []byte { return buildZip(t, file(`\windows\x`, "x")) }, reason: "absolute path"},
		{name: "drive letter", zip: func(t *testing.T) []byte { return buildZip(t, file(`C:\x`, "x")) }, reason: "absolute path"},
		{name: "drive letter relative", zip: func(t *testing.T) []byte { return buildZip(t, file(`c:x`, "x")) }, reason: "absolute path"},
		{name: "NUL", zip: func(t *testing.T) []byte { return buildZip(t, file("a\x00b", "x")) }, reason: "NUL"},
		{name: "empty name", zip: func(t *testing.T) []byte { return buildZip(t, file("", "x")) }, reason: "empty name"},
		{name: "long element", zip: func(t *testing.T) []byte { return buildZip(t, file(strings.Repeat("a", 256), "x")) }, reason: "longer than 255"},
		{name: "duplicate", zip: func(t *testing.T) []byte { return buildZip(t, file("a", "1"), file("a", "2")) }, reason: `duplicate path "a"`},
		{name: "duplicate after cleaning", zip: func(t *testing.T) []byte { return buildZip(t, file("a/b", "1"), file("a/./b", "2")) }, reason: `duplicate path "a/b"`},
		{name: "duplicate backslash", zip: func(t *testing.T) []byte { return buildZip(t, file("a/b", "1"), file(`a\b`, "2")) }, reason: "duplicate"},
		{name: "file and dir", zip: func(t *testing.T) []byte { return buildZip(t, dir("a/"), file("a", "2")) }, reason: "duplicate"},
		{name: "dir name with data", zip: func(t *testing.T) []byte { return rawZip(t, "./", []byte("x"), func(*zip.FileHeader) {}) }, reason: `entry "./": corrupt data`},
		{name: "fifo", zip: func(t *testing.T) []byte { return buildZip(t, special("p", fs.ModeNamedPipe)) }, reason: `entry "p": unsupported file type`},
		{name: "block device", zip: func(t *testing.T) []byte { return buildZip(t, special("sda", fs.ModeDevice)) }, reason: "unsupported file type"},
		{name: "char device", zip: func(t *testing.T) []byte { return buildZip(t, special("null", fs.ModeDevice|fs.ModeCharDevice)) }, reason: "unsupported file type"},
		{name: "socket", zip: func(t *testing.T) []byte { return buildZip(t, special("s", fs.ModeSocket)) }, reason: "unsupported file type"},
		{
			name: "symlink dir",
			zip: func(t *testing.T) []byte {
				return rawZip(t, "l/", []byte("x"), func(h *zip.FileHeader) { h.SetMode(fs.ModeSymlink | 0o777) })
			},
			reason: "unsupported file type",
		},
		{name: "dir with content", zip: func(t *testing.T) []byte { return buildZip(t, zent{name: "d", mode: fs.ModeDir | 0o755, body: "x"}) }, reason: "directory entry has content"},
		{name: "symlink absolute", zip: func(t *testing.T) []byte { return buildZip(t, symlink("passwd", "/etc/passwd")) }, reason: `symlink target "/etc/passwd": absolute target`},
		{name: "symlink drive", zip: func(t *testing.T) []byte { return buildZip(t, symlink("x", `C:\x`)) }, reason: "absolute target"},
		{name: "symlink escapes", zip: func(t *testing.T) []byte { return buildZip(t, symlink("x", "a/../../x")) }, reason: "resolves outside the bundle root"},
		{name: "nested symlink escapes", zip: func(t *testing.T) []byte { return buildZip(t, symlink("a/b/x", "../../../etc")) }, reason: "resolves outside"},
		{name: "symlink backslash escapes", zip: func(t *testing.T) []byte { return buildZip(t, symlink("x", `..\etc`)) }, reason: "resolves outside"},
		{
			// Lexically d/a/.. is d, but d/a is a link to the root.
			name: "symlink chain escapes",
			zip: func(t *testing.T) []byte {
				return buildZip(t, symlink("d/a", ".."), symlink("b", "d/a/.."))
			},
			reason: `entry "b": symlink target "d/a/..": resolves outside`,
		},
		{name: "symlink loop", zip: func(t *testing.T) []byte { return buildZip(t, symlink("a", "b"), symlink("b", "a")) }, reason: "too many levels"},
		{name: "symlink empty", zip: func(t *testing.T) []byte { return buildZip(t, symlink("a", "")) }, reason: "empty target"},
		{name: "symlink NUL", zip: func(t *testing.T) []byte { return buildZip(t, symlink("a", "b\x00")) }, reason: "NUL"},
		{name: "symlink too long", zip: func(t *testing.T) []byte { return buildZip(t, symlink("a", strings.Repeat("b/", 2049))) }, reason: "longer than 4096"},
		{name: "through symlink", zip: func(t *testing.T) []byte { return buildZip(t, dir("d/"), symlink("l", "d"), file("l/x", "x")) }, reason: `parent "l" is a symlink`},
		{name: "through file", zip: func(t *testing.T) []byte { return buildZip(t, file("f/x", "x"), file("f", "x")) }, reason: `parent "f" is a file`},
		{
			name: "too many entries",
			zip: func(t *testing.T) []byte {
				ents := make([]zent, 10000)
				for i := range ents {
					ents[i] = zent{name: "f" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strconv.Itoa(i)}
				}
				return buildZip(t, ents...)
			},
			reason: "10000 entries, more than the limit of 8192",
		},
		{
			name: "over zipped limit",
			zip:  func(t *testing.T) []byte { return buildZip(t, file("a", strings.Repeat("x", 100))) },
			lim:  Limits{MaxZipped: 50}, wantErr: ErrTooLarge, reason: "at most 50 bytes",
		},
		{
			name: "over unzipped limit across entries",
			zip: func(t *testing.T) []byte {
				return buildZip(t, file("a", strings.Repeat("x", 600<<10)), file("b", strings.Repeat("x", 600<<10)))
			},
			lim:    small,
			reason: "unzipped size must be smaller than 1048576 bytes",
		},
		{
			name: "header understates size",
			zip: func(t *testing.T) []byte {
				return rawZip(t, "lie", make([]byte, 2<<20), func(h *zip.FileHeader) { h.UncompressedSize64 = 10 })
			},
			lim:    small,
			reason: `entry "lie": corrupt data`,
		},
		{
			name: "header understates size, big limit",
			zip: func(t *testing.T) []byte {
				return rawZip(t, "lie", make([]byte, 1<<20), func(h *zip.FileHeader) { h.UncompressedSize64 = 10 })
			},
			reason: "corrupt data",
		},
		{
			name: "header overstates size",
			zip: func(t *testing.T) []byte {
				return rawZip(t, "lie", []byte("short"), func(h *zip.FileHeader) { h.UncompressedSize64 = 1000 })
			},
			reason: "corrupt data",
		},
		{
			name: "bad checksum",
			zip: func(t *testing.T) []byte {
				return rawZip(t, "crc", []byte("data"), func(h *zip.FileHeader) { h.CRC32++ })
			},
			reason: "checksum error",
		},
		{
			name: "unknown method",
			zip: func(t *testing.T) []byte {
				return rawZip(t, "m", []byte("data"), func(h *zip.FileHeader) { h.Method = 99 })
			},
			reason: "unsupported compression algorithm",
		},
		{
			name: "truncated",
			zip: func(t *testing.T) []byte {
				b := goodBundle(t)
				return b[:len(b)-30]
			},
			reason: "not a valid zip file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim
			if lim == (Limits{}) {
				lim = DefaultLimits()
			}
			info, err := Validate(tt.zip(t), lim)
			if err == nil {
				t.Fatalf("Validate = %+v, want error containing %q", info, tt.reason)
			}
			want := tt.wantErr
			if want == nil {
				want = ErrInvalid
			}
			if !errors.Is(err, want) {
				t.Errorf("error %v does not wrap %v", err, want)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not contain %q", err, tt.reason)
			}
			if info != (Info{}) {
				t.Errorf("non-zero Info %+v with error", info)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		zip  func(t *testing.T) []byte
	}{
		{name: "dangling symlink", zip: func(t *testing.T) []byte { return buildZip(t, symlink("a", "missing/file")) }},
		{name: "symlink to root", zip: func(t *testing.T) []byte { return buildZip(t, symlink("d/root", "..")) }},
		{name: "symlink through link stays inside", zip: func(t *testing.T) []byte {
			return buildZip(t, symlink("a/l", "../b"), dir("b/c/"), symlink("x", "a/l/c/.."))
		}},
		{name: "setuid file", zip: func(t *testing.T) []byte {
			return buildZip(t, zent{name: "s", mode: fs.ModeSetuid | fs.ModeSetgid | 0o4755, body: "x"})
		}},
		{name: "files only, no dir entries", zip: func(t *testing.T) []byte { return buildZip(t, file("a/b/c", "x"), file("a/d", "y")) }},
		{name: "stored entry", zip: func(t *testing.T) []byte {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: "s", Method: zip.Store})
			w.Write([]byte("stored"))
			zw.Close()
			return buf.Bytes()
		}},
		{name: "8192 entries", zip: func(t *testing.T) []byte {
			ents := make([]zent, 8192)
			for i := range ents {
				ents[i] = zent{name: "f" + strconv.Itoa(i)}
			}
			return buildZip(t, ents...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Validate(tt.zip(t), DefaultLimits()); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// TestValidateZipBomb builds a 300 MiB entry of zeros, which deflates to
// a few hundred KB, and checks that decompression stops at the limit.
func TestValidateZipBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 300 MiB deflate stream")
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bomb", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range 300 {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("bomb: %d bytes zipped", buf.Len())
	if buf.Len() > 2<<20 {
		t.Fatalf("bomb is %d bytes; expected it to compress well", buf.Len())
	}
	_, err = Validate(buf.Bytes(), DefaultLimits())
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unzipped size must be smaller than 262144000 bytes") {
		t.Fatalf("Validate(bomb) = %v, want unzipped size error", err)
	}
}

func TestDefaultLimits(t *testing.T) {
	want := Limits{MaxZipped: 52428800, MaxUnzipped: 262144000, MaxEntries: 8192}
	if got := DefaultLimits(); got != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", got, want)
	}
	if got := (Limits{}).withDefaults(); got != want {
		t.Errorf("zero Limits default to %+v, want %+v", got, want)
	}
}

func TestValidateLongNameMessage(t *testing.T) {
	_, err := Validate(buildZip(t, file(strings.Repeat("a/", 30000)+"f", "x")), DefaultLimits())
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "longer than 4096") {
		t.Fatalf("Validate = %v, want path-too-long error", err)
	}
	if len(err.Error()) > 400 {
		t.Errorf("error message is %d bytes; names should be truncated", len(err.Error()))
	}
}
