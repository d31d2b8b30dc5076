// Package testenv lets tests state what the machine must offer them (root,
// an external tool). Where it is missing a test skips with a clear message,
// except under CI (CI=true), where everything is installed and a skip would
// hide a test that never ran: there it fails instead.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips (or, in CI, fails) the test unless ok.
func Require(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("%s: CI must run this test", why)
	}
	t.Skipf("SKIP: %s", why)
}

// RequireRoot needs uid 0 (namespaces, cgroups).
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "needs root")
}

// LookPath finds one of the named programs, or skips (fails in CI).
func LookPath(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Require(t, false, "needs one of "+joined(names))
	return ""
}

func joined(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
