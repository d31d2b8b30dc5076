// Package bundle validates uploaded function code bundles (.zip files) and
// extracts them safely.
//
// Validate treats the zip as hostile: it decompresses every entry to check
// sizes and checksums instead of trusting the headers, rejects paths and
// symlinks that could reach outside the bundle, and rejects special files.
// Extract re-validates and then writes the bundle without following any
// symlink, so what Validate accepted is exactly what lands on disk.
//
// Backslashes in entry names and symlink targets are treated as path
// separators, because zips made on Windows use them that way.
package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

var (
	// ErrInvalid reports a bundle whose content is unacceptable; the
	// wrapping error says which entry and why.
	ErrInvalid = errors.New("bundle: invalid")
	// ErrTooLarge reports a zip larger than Limits.MaxZipped.
	ErrTooLarge = errors.New("bundle: too large")
)

const (
	maxSymlinkTarget = 4096 // bytes; Linux PATH_MAX
	maxNameLen       = 4096 // bytes of a cleaned entry name; Linux PATH_MAX
	maxElemLen       = 255  // bytes of one path element; Linux NAME_MAX
	maxSymlinkHops   = 40   // Linux MAXSYMLINKS
	// maxResolveWork bounds the bytes of path built while resolving
	// symlinks, so that many long, chained links cannot burn CPU.
	maxResolveWork = 1 << 26
)

// Limits bounds what Validate accepts. A zero or negative field takes its
// value from DefaultLimits.
type Limits struct {
	MaxZipped   int64 // bytes of the zip itself
	MaxUnzipped int64 // total bytes of all entries once decompressed
	MaxEntries  int   // entries in the zip, directories included
}

// DefaultLimits returns Lambda's limits for a directly uploaded zip: 50 MiB
// zipped, 250 MiB unzipped, and 8192 entries.
func DefaultLimits() Limits {
	return Limits{MaxZipped: 50 << 20, MaxUnzipped: 250 << 20, MaxEntries: 8192}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxZipped <= 0 {
		l.MaxZipped = d.MaxZipped
	}
	if l.MaxUnzipped <= 0 {
		l.MaxUnzipped = d.MaxUnzipped
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	return l
}

// Info describes a valid bundle.
type Info struct {
	SHA256       [32]byte // of the zip bytes
	CodeSha256   string   // base64 (standard encoding) of SHA256, as Lambda reports it
	Size         int64    // bytes of the zip
	UnzippedSize int64    // total bytes of all entries, decompressed
	Entries      int      // entries in the zip
}

type kind int

const (
	kindFile kind = iota
	kindDir
	kindSymlink
)

// entry is a validated zip entry.
type entry struct {
	f      *zip.File
	name   string // cleaned, slash-separated, relative; "." for the root
	kind   kind
	exec   bool   // regular file with any execute bit
	target string // symlink target, slash-separated
}

// Validate checks that zip is an acceptable code bundle under lim and
// describes it. A zip larger than lim.MaxZipped yields ErrTooLarge; any
// other problem yields an error wrapping ErrInvalid that names the entry.
func Validate(zip []byte, lim Limits) (Info, error) {
	info, _, err := validate(zip, lim.withDefaults())
	return info, err
}

func validate(b []byte, lim Limits) (Info, []entry, error) {
	if int64(len(b)) > lim.MaxZipped {
		return Info{}, nil, fmt.Errorf("%w: zipped size must be at most %d bytes, got %d", ErrTooLarge, lim.MaxZipped, len(b))
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	// ErrInsecurePath (only with GODEBUG=zipinsecurepath=0) comes with a
	// usable reader; the checks below are stricter anyway.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return Info{}, nil, invalid("not a valid zip file: %v", err)
	}
	if len(zr.File) == 0 {
		return Info{}, nil, invalid("zip file has no entries")
	}
	if len(zr.File) > lim.MaxEntries {
		return Info{}, nil, invalid("zip file has %d entries, more than the limit of %d", len(zr.File), lim.MaxEntries)
	}

	entries := make([]entry, 0, len(zr.File))
	byName := make(map[string]kind, len(zr.File))
	var total int64
	for _, f := range zr.File {
		e, err := checkHeader(f)
		if err != nil {
			return Info{}, nil, err
		}
		if _, dup := byName[e.name]; dup {
			return Info{}, nil, invalid("entry %q: duplicate path %q", short(f.Name), e.name)
		}
		byName[e.name] = e.kind

		n, err := readEntry(&e, lim.MaxUnzipped-total)
		if errors.Is(err, errBudget) {
			return Info{}, nil, unzippedTooLarge(lim.MaxUnzipped)
		}
		if err != nil {
			return Info{}, nil, err
		}
		total += n
		entries = append(entries, e)
	}
	if err := checkTree(entries, byName); err != nil {
		return Info{}, nil, err
	}

	sum := sha256.Sum256(b)
	return Info{
		SHA256:       sum,
		CodeSha256:   base64.StdEncoding.EncodeToString(sum[:]),
		Size:         int64(len(b)),
		UnzippedSize: total,
		Entries:      len(entries),
	}, entries, nil
}

// checkHeader validates what the central directory says about f.
func checkHeader(f *zip.File) (entry, error) {
	name, err := cleanName(f.Name)
	if err != nil {
		return entry{}, invalid("entry %q: %v", short(f.Name), err)
	}
	e := entry{f: f, name: name}
	// Mode reads the Unix mode when the creator is Unix and MS-DOS
	// attributes otherwise, and marks names ending in "/" as directories.
	mode := f.Mode()
	switch mode.Type() {
	case 0:
		e.kind = kindFile
		e.exec = mode.Perm()&0o111 != 0
	case fs.ModeDir:
		e.kind = kindDir
	case fs.ModeSymlink:
		e.kind = kindSymlink
	default:
		return entry{}, invalid("entry %q: unsupported file type %v; only regular files, directories and symlinks are allowed", short(f.Name), mode.Type())
	}
	if name == "." && e.kind != kindDir {
		return entry{}, invalid("entry %q: names the bundle root but is not a directory", short(f.Name))
	}
	return e, nil
}

// cleanName turns a zip entry name into a relative slash-separated path,
// or says why it cannot be one.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("empty name")
	case strings.IndexByte(name, 0) >= 0:
		return "", errors.New("name contains a NUL byte")
	}
	s := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(s, "/") || hasDrive(s) {
		return "", errors.New("absolute path")
	}
	for elem := range strings.SplitSeq(s, "/") {
		if elem == ".." {
			return "", errors.New(`path contains ".."`)
		}
		if len(elem) > maxElemLen {
			return "", fmt.Errorf("path element longer than %d bytes", maxElemLen)
		}
	}
	s = path.Clean(s)
	if len(s) > maxNameLen {
		return "", fmt.Errorf("path longer than %d bytes", maxNameLen)
	}
	return s, nil
}

// hasDrive reports whether s starts with a Windows drive letter, "C:".
func hasDrive(s string) bool {
	return len(s) >= 2 && s[1] == ':' && (s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z')
}

// errBudget means an entry decompressed to more than its budget.
var errBudget = errors.New("over budget")

// readEntry decompresses e to the end, which makes archive/zip verify its
// size and CRC-32, and records a symlink's target. At most budget bytes may
// be decompressed; it returns how many were.
func readEntry(e *entry, budget int64) (int64, error) {
	rc, err := e.f.Open()
	if err != nil {
		return 0, invalid("entry %q: %v", short(e.f.Name), err)
	}
	defer rc.Close()

	// One byte past the budget is enough to know it is exceeded; the
	// headers' sizes are not trusted.
	lr := &io.LimitedReader{R: rc, N: budget + 1}
	var n int64
	switch e.kind {
	case kindSymlink:
		var buf bytes.Buffer
		n, err = io.Copy(&buf, io.LimitReader(lr, maxSymlinkTarget+1))
		if err == nil && n > maxSymlinkTarget {
			return n, invalid("entry %q: symlink target longer than %d bytes", short(e.f.Name), maxSymlinkTarget)
		}
		e.target = buf.String()
	default:
		n, err = io.Copy(io.Discard, lr)
	}
	if lr.N <= 0 {
		return n, errBudget
	}
	if err != nil {
		return n, invalid("entry %q: corrupt data: %v", short(e.f.Name), err)
	}
	if e.kind == kindDir && n != 0 {
		return n, invalid("entry %q: directory entry has content", short(e.f.Name))
	}
	return n, nil
}

// checkTree validates the entries against each other: no entry may sit
// below a file or a symlink, and no symlink may resolve outside the root.
func checkTree(entries []entry, byName map[string]kind) error {
	for _, e := range entries {
		for dir := path.Dir(e.name); dir != "."; dir = path.Dir(dir) {
			if k, ok := byName[dir]; ok && k != kindDir {
				what := "file"
				if k == kindSymlink {
					what = "symlink"
				}
				return invalid("entry %q: parent %q is a %s, not a directory", short(e.f.Name), dir, what)
			}
		}
	}
	r := resolver{links: make(map[string]string)}
	for _, e := range entries {
		if e.kind == kindSymlink {
			r.links[e.name] = e.target
		}
	}
	for _, e := range entries {
		if e.kind != kindSymlink {
			continue
		}
		if err := r.check(e.name); err != nil {
			return invalid("entry %q: symlink target %q: %v", short(e.f.Name), short(e.target), err)
		}
	}
	return nil
}

// checkTarget rejects symlink targets that are unusable on their own.
func checkTarget(t string) error {
	switch {
	case t == "":
		return errors.New("empty target")
	case strings.IndexByte(t, 0) >= 0:
		return errors.New("target contains a NUL byte")
	case strings.HasPrefix(t, "/") || strings.HasPrefix(t, `\`) || hasDrive(t):
		return errors.New("absolute target")
	}
	return nil
}

// resolver follows symlinks through the bundle's own tree, the way the
// kernel would once it is extracted into an empty directory. A purely
// lexical check of each link is not enough: with a -> "." and
// b -> "a/../..", b looks harmless lexically but escapes once a is a link.
type resolver struct {
	links map[string]string // cleaned link name -> slash-separated target
	work  int               // bytes of path built so far, bounded by maxResolveWork
}

var errEscapes = errors.New("resolves outside the bundle root")

// check resolves the symlink at name (cleaned) and reports whether it
// escapes the root.
func (r *resolver) check(name string) error {
	dir := path.Dir(name)
	if dir == "." {
		dir = ""
	}
	hops := 0
	_, err := r.walk(dir, r.links[name], &hops)
	return err
}

// walk resolves target relative to dir ("" for the root) and returns the
// resolved path.
func (r *resolver) walk(dir, target string, hops *int) (string, error) {
	if err := checkTarget(target); err != nil {
		return "", err
	}
	cur := dir
	for elem := range strings.SplitSeq(strings.ReplaceAll(target, `\`, "/"), "/") {
		switch elem {
		case "", ".":
			continue
		case "..":
			if cur == "" {
				return "", errEscapes
			}
			cur = cur[:max(strings.LastIndexByte(cur, '/'), 0)]
			continue
		}
		next := elem
		if cur != "" {
			next = cur + "/" + elem
		}
		if r.work += len(next); r.work > maxResolveWork {
			return "", errors.New("symlinks too complex to resolve")
		}
		t, isLink := r.links[next]
		if !isLink {
			cur = next
			continue
		}
		if *hops++; *hops > maxSymlinkHops {
			return "", errors.New("too many levels of symlinks")
		}
		var err error
		if cur, err = r.walk(cur, t, hops); err != nil {
			return "", err
		}
	}
	return cur, nil
}

func unzippedTooLarge(limit int64) error {
	// Lambda's wording; the limit itself is inclusive.
	return invalid("unzipped size must be smaller than %d bytes", limit)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// short truncates s for an error message; entry names can be 64 KiB.
func short(s string) string {
	const limit = 200
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
