package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Extract validates zip under lim and writes it into dir, which must exist
// and be empty. Directories get mode 0755; files 0755 if any execute bit
// was set and 0644 otherwise (setuid, setgid and sticky bits are dropped);
// symlinks are recreated as symlinks. Nothing is written through a symlink:
// every operation stays inside dir and files are created with O_EXCL and
// O_NOFOLLOW. ctx is checked between entries and while copying.
//
// On error dir may hold part of the bundle; the caller removes it.
func Extract(ctx context.Context, zip []byte, dir string, lim Limits) error {
	lim = lim.withDefaults()
	_, entries, err := validate(zip, lim)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("bundle: extract: %w", err)
	}
	defer root.Close()
	if err := checkEmpty(root); err != nil {
		return fmt.Errorf("bundle: extract into %s: %w", dir, err)
	}

	x := extractor{
		ctx:    ctx,
		root:   root,
		dirs:   map[string]bool{".": true},
		links:  make(map[string]bool),
		budget: lim.MaxUnzipped,
		limit:  lim.MaxUnzipped,
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := x.entry(e); err != nil {
			return err
		}
	}
	return nil
}

func checkEmpty(root *os.Root) error {
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if err != nil && err != io.EOF {
		return err
	}
	if len(names) > 0 {
		return errors.New("directory is not empty")
	}
	return nil
}

type extractor struct {
	ctx    context.Context
	root   *os.Root
	dirs   map[string]bool // directories created so far, by cleaned name
	links  map[string]bool // symlinks created so far
	budget int64           // unzipped bytes left
	limit  int64           // Limits.MaxUnzipped, for messages
}

func (x *extractor) entry(e entry) error {
	if e.name == "." {
		return nil
	}
	if err := x.mkdirAll(path.Dir(e.name), e); err != nil {
		return err
	}
	switch e.kind {
	case kindDir:
		return x.mkdir(e.name, e)
	case kindSymlink:
		target := strings.ReplaceAll(e.target, `\`, "/")
		if err := x.root.Symlink(target, e.name); err != nil {
			return fmt.Errorf("bundle: extract %q: %w", short(e.f.Name), err)
		}
		x.links[e.name] = true
		return nil
	default:
		return x.writeFile(e)
	}
}

// mkdirAll creates dir and its parents, refusing to go through anything
// but a directory this extraction created.
func (x *extractor) mkdirAll(dir string, e entry) error {
	if x.dirs[dir] {
		return nil
	}
	if err := x.mkdirAll(path.Dir(dir), e); err != nil {
		return err
	}
	return x.mkdir(dir, e)
}

func (x *extractor) mkdir(dir string, e entry) error {
	if x.dirs[dir] {
		return nil
	}
	if x.links[dir] {
		return invalid("entry %q: parent %q is a symlink", short(e.f.Name), dir)
	}
	if err := x.root.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return invalid("entry %q: %q is not a directory", short(e.f.Name), dir)
		}
		return fmt.Errorf("bundle: extract %q: %w", short(e.f.Name), err)
	}
	// Mkdir's mode is filtered by the umask; the bundle's is not.
	if err := x.root.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("bundle: extract %q: %w", short(e.f.Name), err)
	}
	x.dirs[dir] = true
	return nil
}

func (x *extractor) writeFile(e entry) error {
	perm := fs.FileMode(0o644)
	if e.exec {
		perm = 0o755
	}
	out, err := x.root.OpenFile(e.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return invalid("entry %q: %q already exists", short(e.f.Name), e.name)
		}
		return fmt.Errorf("bundle: extract %q: %w", short(e.f.Name), err)
	}
	err = x.copy(out, e, perm)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("bundle: extract %q: %w", short(e.f.Name), cerr)
	}
	return err
}

func (x *extractor) copy(out *os.File, e entry, perm fs.FileMode) error {
	// OpenFile's mode is filtered by the umask; the bundle's is not.
	if err := out.Chmod(perm); err != nil {
		return fmt.Errorf("bundle: extract %q: %w", short(e.f.Name), err)
	}
	rc, err := e.f.Open()
	if err != nil {
		return invalid("entry %q: %v", short(e.f.Name), err)
	}
	defer rc.Close()
	// Validate has read this data already; the limit only matters if the
	// caller changed zip since.
	lr := &io.LimitedReader{R: ctxReader{x.ctx, rc}, N: x.budget + 1}
	n, err := io.Copy(out, lr)
	x.budget -= n
	switch {
	case lr.N <= 0:
		return unzippedTooLarge(x.limit)
	case x.ctx.Err() != nil:
		return x.ctx.Err()
	case err != nil:
		return fmt.Errorf("bundle: extract %q: %w", short(e.f.Name), err)
	}
	return nil
}

// ctxReader stops reading once ctx is done, so a large entry does not
// delay cancellation until it is fully written.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
