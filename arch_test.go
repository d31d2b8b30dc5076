// Package ember_test guards the shape of the code base: every package says
// what it is for, and the import graph keeps the layering of DESIGN.md.
package ember_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ember-run/ember/"

type pkg struct {
	dir     string
	doc     bool
	imports map[string]bool
}

func loadPackages(t *testing.T) map[string]*pkg {
	t.Helper()
	pkgs := map[string]*pkg{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		p := pkgs[dir]
		if p == nil {
			p = &pkg{dir: dir, imports: map[string]bool{}}
			pkgs[dir] = p
		}
		if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
			p.doc = true
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(ip, module) {
				p.imports[strings.TrimPrefix(ip, module)] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("found only %d packages; is the test running at the module root?", len(pkgs))
	}
	return pkgs
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for dir, p := range loadPackages(t) {
		if !p.doc {
			t.Errorf("package %s has no package doc comment", dir)
		}
	}
}

func TestImportLayering(t *testing.T) {
	rules := []struct {
		from, to, why string
	}{
		{"internal/api", "internal/sandbox", "the API layer never touches a sandbox driver"},
		{"internal/api", "internal/server", "the wiring point imports the API, not the reverse"},
		{"internal/catalog", "internal/api", "services do not know about HTTP"},
		{"internal/account", "internal/api", "services do not know about HTTP"},
		{"internal/store", "internal/", "storage is the bottom layer"},
	}
	pkgs := loadPackages(t)
	for dir, p := range pkgs {
		for imp := range p.imports {
			for _, r := range rules {
				if strings.HasPrefix(dir, r.from) && strings.HasPrefix(imp, r.to) && imp != dir {
					t.Errorf("%s imports %s: %s", dir, imp, r.why)
				}
			}
		}
		// Only the wiring point and the command line assemble the system.
		if p.imports["internal/server"] && dir != "internal/cli" && dir != "cmd/ember" {
			t.Errorf("%s imports internal/server; only internal/cli may", dir)
		}
	}
}
